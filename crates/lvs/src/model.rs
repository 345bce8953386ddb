//! The LVS configuration as the IPVS side needs it: each `virtual_server` resolved into the IPVS
//! services it stands for (a group becomes one service per address and fwmark), with its real
//! servers as destinations, its quorum settings and the names keepalived prints.
//!
//! Built once per (re)load from the typed configuration; the pool state machine and the
//! reconciler read only this.

use crate::table::{
    svc_flags, DestKey, DestSpec, Family, Forward, Protocol, ServiceKey, ServiceSpec,
    TunnelChecksum, TunnelKind,
};
use ka_config::model::lvs::{self as cfg, GroupEntry, VirtualServerKey};
use ka_config::model::script::Script;
use std::net::IpAddr;

/// How a virtual server is recognised across a reload (keepalived's rule).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum VsIdentity {
    /// Protocol, address and port.
    Addr(Protocol, IpAddr, u16),
    /// Family and mark.
    Fwmark(Family, u32),
    /// Group name and the ordinal among the virtual servers using that group.
    Group(String, usize),
}

/// One checker as the pool needs it: whether it starts down.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckerModel {
    /// The checker type's name (`TCP_CHECK`...), for matching at reload.
    pub kind: &'static str,
    /// `alpha`: starts down, the server stays out until it passes.
    pub alpha: bool,
    /// The configuration (the checker issue runs it).
    pub config: cfg::Checker,
}

/// A real server, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RsModel {
    /// The destination identity in IPVS.
    pub key: DestKey,
    /// keepalived's name for it: `[192.0.2.10]:tcp:80`.
    pub name: String,
    /// Configured weight.
    pub weight: i32,
    /// Forwarding method.
    pub forward: Forward,
    /// Upper connection threshold (0 = none).
    pub u_thresh: u32,
    /// Lower connection threshold (0 = none).
    pub l_thresh: u32,
    /// `inhibit_on_failure`: weight 0 instead of removal when down.
    pub inhibit: bool,
    /// `notify_up`.
    pub notify_up: Option<Script>,
    /// `notify_down`.
    pub notify_down: Option<Script>,
    /// Whether mail goes out for this server.
    pub smtp_alert: bool,
    /// `virtualhost` (HTTP `Host:` when the checker and url say nothing).
    pub virtualhost: Option<String>,
    /// Its checkers (none: always up).
    pub checkers: Vec<CheckerModel>,
}

/// The sorry server, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SorryModel {
    /// The destination identity.
    pub key: DestKey,
    /// keepalived's name for it.
    pub name: String,
    /// Forwarding method.
    pub forward: Forward,
    /// `sorry_server_inhibit`: kept at weight 0 while not in use.
    pub inhibit: bool,
}

/// A virtual server, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VsModel {
    /// keepalived's name: `[192.0.2.1]:tcp:80`, `FWM 7`, `[G]:0`.
    pub name: String,
    /// Identity across reloads.
    pub identity: VsIdentity,
    /// The IPVS services it stands for, each with its settings.
    pub services: Vec<(ServiceKey, ServiceSpec)>,
    /// Quorum (>= 1).
    pub quorum: u32,
    /// Hysteresis (< quorum).
    pub hysteresis: u32,
    /// `quorum_up` script.
    pub quorum_up: Option<Script>,
    /// `quorum_down` script.
    pub quorum_down: Option<Script>,
    /// Sorry server.
    pub sorry: Option<SorryModel>,
    /// `omega`: run down notifies at shutdown.
    pub omega: bool,
    /// `ha_suspend`: checkers sleep while the address is not local.
    pub ha_suspend: bool,
    /// Whether mail goes out for quorum changes.
    pub smtp_alert: bool,
    /// `virtualhost` (HTTP `Host:` and SNI when nothing closer says).
    pub virtualhost: Option<String>,
    /// Its real servers.
    pub real_servers: Vec<RsModel>,
}

/// The whole LVS side.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LvsModel {
    /// Virtual servers in configuration order.
    pub virtual_servers: Vec<VsModel>,
}

/// A remark made while resolving (e.g. a clamped quorum), for the log and `-t`.
pub type Warning = String;

fn forward_of(f: &cfg::Forwarding) -> Forward {
    // The form the kernel reads back, so desired and dumped destinations compare equal.
    crate::genl::codec::canonical_forward(forward_of_raw(f))
}

fn forward_of_raw(f: &cfg::Forwarding) -> Forward {
    match f {
        cfg::Forwarding::Nat => Forward::Masq,
        cfg::Forwarding::Dr => Forward::Route,
        cfg::Forwarding::Tun {
            kind,
            port,
            checksum,
        } => Forward::Tunnel {
            kind: match kind.as_str() {
                "gue" => TunnelKind::Gue,
                "gre" => TunnelKind::Gre,
                _ => TunnelKind::Ipip,
            },
            port: port.unwrap_or(0),
            checksum: match checksum.as_deref() {
                Some("csum") => TunnelChecksum::Csum,
                Some("remcsum") => TunnelChecksum::RemCsum,
                _ => TunnelChecksum::NoCsum,
            },
        },
    }
}

fn protocol_of(p: cfg::Protocol) -> Protocol {
    match p {
        cfg::Protocol::Tcp => Protocol::Tcp,
        cfg::Protocol::Udp => Protocol::Udp,
        cfg::Protocol::Sctp => Protocol::Sctp,
    }
}

fn family_of(f: cfg::Family) -> Family {
    match f {
        cfg::Family::Inet => Family::Inet,
        cfg::Family::Inet6 => Family::Inet6,
    }
}

/// Persistence granularity: an IPv4 netmask or an IPv6 prefix length, as a prefix length.
fn granularity_prefix(text: &str) -> Option<u8> {
    if let Ok(mask) = text.parse::<std::net::Ipv4Addr>() {
        let bits = u32::from(mask);
        let ones = bits.leading_ones();
        return (bits.checked_shl(ones).unwrap_or(0) == 0).then_some(ones as u8);
    }
    text.parse::<u8>().ok().filter(|p| *p <= 128)
}

/// Every address of a group range, as keepalived walks it (IPv6: only the last 16 bits move).
pub fn range_addresses(first: IpAddr, last: IpAddr) -> Vec<IpAddr> {
    match (first, last) {
        (IpAddr::V4(a), IpAddr::V4(b)) => {
            let (a, b) = (u32::from(a), u32::from(b));
            if b < a {
                return vec![first];
            }
            (a..=b).map(|n| IpAddr::from(n.to_be_bytes())).collect()
        }
        (IpAddr::V6(a), IpAddr::V6(b)) => {
            let (a, b) = (u128::from(a), u128::from(b));
            let (lo, hi) = ((a & 0xffff) as u16, (b & 0xffff) as u16);
            if hi < lo {
                return vec![first];
            }
            let base = a & !0xffff;
            (lo..=hi)
                .map(|n| IpAddr::from((base | u128::from(n)).to_be_bytes()))
                .collect()
        }
        _ => vec![first],
    }
}

fn service_spec(vs: &cfg::VirtualServer, family: Family, port: u16) -> ServiceSpec {
    let scheduler = if vs.scheduler.is_empty() {
        "wlc"
    } else {
        vs.scheduler.as_str()
    };
    let mut spec = ServiceSpec::new(scheduler, family);
    for f in &vs.flags {
        spec.flags |= match f.as_str() {
            "flag-1" | "sh-fallback" | "mh-fallback" => svc_flags::SCHED1,
            "flag-2" | "sh-port" | "mh-port" => svc_flags::SCHED2,
            "flag-3" => svc_flags::SCHED3,
            "ops" => svc_flags::ONEPACKET,
            _ => 0,
        };
    }
    let timeout = match (vs.persistence_timeout, port) {
        (Some(t), _) => Some(t),
        // A port-0 service only works persistent.
        (None, 0) if !matches!(vs.key, VirtualServerKey::Fwmark { .. }) => Some(360),
        (None, _) => None,
    };
    if let Some(t) = timeout {
        spec.flags |= svc_flags::PERSISTENT;
        spec.timeout = t;
    }
    if let Some(p) = vs
        .persistence_granularity
        .as_deref()
        .and_then(granularity_prefix)
    {
        spec.netmask_prefix = p;
    }
    spec.pe_name = vs.persistence_engine.clone();
    spec
}

impl LvsModel {
    /// Resolves the configuration's virtual servers; remarks about clamped settings come back
    /// beside the model.
    pub fn from_config(config: &ka_config::model::Config) -> (LvsModel, Vec<Warning>) {
        let warnings = Vec::new();
        let mut group_ordinals: std::collections::HashMap<&str, usize> = Default::default();
        let mut out = Vec::new();
        for vs in &config.virtual_servers {
            let (name, identity, protocol_label, services) = match &vs.key {
                VirtualServerKey::Address {
                    address,
                    port,
                    protocol,
                } => {
                    let p = protocol_of(*protocol);
                    let key = ServiceKey::Addr {
                        protocol: p,
                        addr: *address,
                        port: *port,
                    };
                    (
                        format!("[{address}]:{}:{port}", p.lower()),
                        VsIdentity::Addr(p, *address, *port),
                        p.lower(),
                        vec![(key, service_spec(vs, Family::of(address), *port))],
                    )
                }
                VirtualServerKey::Fwmark { mark, family } => {
                    let f = family_of(*family);
                    (
                        format!("FWM {mark}"),
                        VsIdentity::Fwmark(f, *mark),
                        "none",
                        vec![(
                            ServiceKey::Fwmark {
                                family: f,
                                mark: *mark,
                            },
                            service_spec(vs, f, 1),
                        )],
                    )
                }
                VirtualServerKey::Group { name, protocol } => {
                    let ordinal = group_ordinals.entry(name.as_str()).or_insert(0);
                    let this = *ordinal;
                    *ordinal += 1;
                    let p = protocol_of(*protocol);
                    let mut services = Vec::new();
                    if let Some(g) = config
                        .virtual_server_groups
                        .iter()
                        .find(|g| &g.name == name)
                    {
                        for entry in &g.entries {
                            match entry {
                                GroupEntry::Range {
                                    first, last, port, ..
                                } => {
                                    for addr in range_addresses(*first, *last) {
                                        services.push((
                                            ServiceKey::Addr {
                                                protocol: p,
                                                addr,
                                                port: *port,
                                            },
                                            service_spec(vs, Family::of(&addr), *port),
                                        ));
                                    }
                                }
                                GroupEntry::Fwmark { mark, family, .. } => {
                                    let f = family.map(family_of).unwrap_or(Family::Inet);
                                    services.push((
                                        ServiceKey::Fwmark {
                                            family: f,
                                            mark: *mark,
                                        },
                                        service_spec(vs, f, 1),
                                    ));
                                }
                            }
                        }
                    }
                    (
                        format!("[{name}]:{this}"),
                        VsIdentity::Group(name.clone(), this),
                        p.lower(),
                        services,
                    )
                }
            };
            let real_servers: Vec<RsModel> = vs
                .real_servers
                .iter()
                .map(|rs| RsModel {
                    key: DestKey {
                        addr: rs.key.address,
                        port: rs.key.port,
                    },
                    name: format!("[{}]:{protocol_label}:{}", rs.key.address, rs.key.port),
                    weight: rs.weight,
                    forward: forward_of(&rs.forwarding),
                    u_thresh: rs.uthreshold.unwrap_or(0),
                    l_thresh: rs.lthreshold.unwrap_or(0),
                    inhibit: rs.inhibit_on_failure,
                    notify_up: rs.notify_up.clone(),
                    notify_down: rs.notify_down.clone(),
                    smtp_alert: rs.smtp_alert.or(config.global.smtp_alert).unwrap_or(true),
                    virtualhost: rs.virtualhost.clone(),
                    checkers: rs
                        .checkers
                        .iter()
                        .filter(|c| !matches!(c.kind, cfg::CheckerKind::Bfd { .. }))
                        .map(|c| CheckerModel {
                            kind: checker_kind_name(&c.kind),
                            alpha: c.common.alpha,
                            config: c.clone(),
                        })
                        .collect(),
                })
                .collect();
            // The configuration validator already clamped these as keepalived does; keep the
            // invariants the pool relies on even for a hand-built config.
            let quorum = vs.quorum.max(1);
            let hysteresis = if vs.hysteresis >= quorum {
                0
            } else {
                vs.hysteresis
            };
            let sorry = vs.sorry_server.as_ref().map(|s| SorryModel {
                key: DestKey {
                    addr: s.address,
                    port: s.port,
                },
                name: format!("[{}]:{protocol_label}:{}", s.address, s.port),
                forward: forward_of(s.forwarding.as_ref().unwrap_or(&vs.forwarding)),
                inhibit: s.inhibit,
            });
            out.push(VsModel {
                name,
                identity,
                services,
                quorum,
                hysteresis,
                quorum_up: vs.quorum_up.clone(),
                quorum_down: vs.quorum_down.clone(),
                sorry,
                omega: vs.omega,
                ha_suspend: vs.ha_suspend,
                smtp_alert: vs.smtp_alert.or(config.global.smtp_alert).unwrap_or(false),
                virtualhost: vs.virtualhost.clone(),
                real_servers,
            });
        }
        (
            LvsModel {
                virtual_servers: out,
            },
            warnings,
        )
    }
}

/// keepalived's name of a checker type.
pub fn checker_kind_name(kind: &cfg::CheckerKind) -> &'static str {
    match kind {
        cfg::CheckerKind::Tcp => "TCP_CHECK",
        cfg::CheckerKind::Http(_) => "HTTP_GET",
        cfg::CheckerKind::Ssl(_) => "SSL_GET",
        cfg::CheckerKind::Smtp { .. } => "SMTP_CHECK",
        cfg::CheckerKind::Misc(_) => "MISC_CHECK",
        cfg::CheckerKind::Dns(_) => "DNS_CHECK",
        cfg::CheckerKind::Udp(_) => "UDP_CHECK",
        cfg::CheckerKind::Ping => "PING_CHECK",
        cfg::CheckerKind::File { .. } => "FILE_CHECK",
        cfg::CheckerKind::Bfd { .. } => "BFD_CHECK",
    }
}

/// A destination's settings for a given weight.
pub fn dest_spec(forward: Forward, weight: i64, u_thresh: u32, l_thresh: u32) -> DestSpec {
    DestSpec {
        forward,
        weight: weight.clamp(0, i64::from(i32::MAX)) as u32,
        u_thresh,
        l_thresh,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_walk_like_keepalived() {
        let v4 = range_addresses(
            "192.0.2.30".parse().expect("a"),
            "192.0.2.32".parse().expect("a"),
        );
        assert_eq!(v4.len(), 3);
        let v6 = range_addresses(
            "fd00::1:fffe".parse().expect("a"),
            "fd00::2:1".parse().expect("a"),
        );
        // Only the last 16 bits move: fffe..=0001 is empty, so just the first address.
        assert_eq!(v6, vec!["fd00::1:fffe".parse::<IpAddr>().expect("a")]);
        let v6 = range_addresses(
            "fd00::10".parse().expect("a"),
            "fd00::12".parse().expect("a"),
        );
        assert_eq!(v6.len(), 3);
    }

    #[test]
    fn granularity_is_a_mask_or_a_prefix() {
        assert_eq!(granularity_prefix("255.255.255.0"), Some(24));
        assert_eq!(granularity_prefix("255.0.255.0"), None);
        assert_eq!(granularity_prefix("64"), Some(64));
    }

    fn load(text: &str) -> (LvsModel, Vec<Warning>) {
        let loaded = ka_config::load_str(text);
        LvsModel::from_config(&loaded)
    }

    #[test]
    fn a_group_becomes_one_service_per_address_and_mark() {
        let (m, _) = load(
            "virtual_server_group G {\n 192.0.2.30-32 80\n fwmark 9\n}\n\
             virtual_server group G {\n lb_algo rr\n lb_kind DR\n protocol TCP\n\
             real_server 192.0.2.10 80 {\n weight 2\n }\n}\n",
        );
        let vs = &m.virtual_servers[0];
        assert_eq!(vs.name, "[G]:0");
        assert_eq!(vs.services.len(), 4);
        assert!(matches!(
            vs.services[3].0,
            ServiceKey::Fwmark { mark: 9, .. }
        ));
        assert_eq!(vs.real_servers[0].name, "[192.0.2.10]:tcp:80");
        assert_eq!(vs.services[0].1.scheduler, "rr");
    }

    #[test]
    fn quorum_above_the_total_weight_is_lowered() {
        let (m, w) = load(
            "virtual_server 192.0.2.1 80 {\n quorum 10\n hysteresis 3\n protocol TCP\n\
             real_server 192.0.2.10 80 {\n weight 2\n }\n real_server 192.0.2.11 80 {\n }\n}\n",
        );
        let vs = &m.virtual_servers[0];
        // Lowered by the configuration's validator, as keepalived does (hysteresis reset to 0).
        assert_eq!((vs.quorum, vs.hysteresis), (3, 0));
        assert!(w.is_empty());
        assert_eq!(vs.services[0].1.scheduler, "wlc");
    }
}
