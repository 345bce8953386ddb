//! The LVS side of the model: virtual server groups, virtual servers, real servers and their
//! health checkers, with defaults inherited virtual server -> real server -> checker resolved,
//! and the identity keys reload and IPVS reconciliation use.

use super::script::Script;
use super::values::*;
use super::{block_lines, other_keyword, raw, run_as, script_value, RawStatement, RunAs};
use crate::diag::{Diagnostics, Location};
use crate::tree::Node;
use serde::Serialize;
use std::net::IpAddr;

/// Transport protocol of a virtual service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Protocol {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
    /// SCTP.
    Sctp,
}

impl Protocol {
    /// keepalived's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "TCP",
            Protocol::Udp => "UDP",
            Protocol::Sctp => "SCTP",
        }
    }
}

/// Address family of a fwmark service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Family {
    /// IPv4.
    Inet,
    /// IPv6.
    Inet6,
}

/// How a virtual server is addressed: its identity for reload and IPVS reconciliation.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum VirtualServerKey {
    /// `virtual_server IP PORT` with its protocol.
    Address {
        /// Virtual address.
        address: IpAddr,
        /// Port (0 = all ports, which forces persistence).
        port: u16,
        /// Protocol.
        protocol: Protocol,
    },
    /// `virtual_server fwmark N`.
    Fwmark {
        /// Firewall mark.
        mark: u32,
        /// Family (from `ip_family`, or the real servers).
        family: Family,
    },
    /// `virtual_server group NAME` with its protocol.
    Group {
        /// Group name.
        name: String,
        /// Protocol.
        protocol: Protocol,
    },
}

/// A real server's identity within its virtual server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct RealServerKey {
    /// Address.
    pub address: IpAddr,
    /// Port (the virtual server's port when not given).
    pub port: u16,
}

/// IPVS forwarding method.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Forwarding {
    /// Masquerading (NAT), the default.
    Nat,
    /// Direct routing.
    Dr,
    /// Tunnelling, with its encapsulation.
    Tun {
        /// `ipip` (default), `gue` or `gre`.
        kind: String,
        /// GUE destination port.
        port: Option<u16>,
        /// `nocsum`, `csum` or `remcsum`.
        checksum: Option<String>,
    },
}

/// One entry of a `virtual_server_group`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum GroupEntry {
    /// An address range (a single address has first == last) and a port.
    Range {
        /// First address.
        first: IpAddr,
        /// Last address (inclusive).
        last: IpAddr,
        /// Port (0 when not given).
        port: u16,
        /// Where it is.
        location: Location,
    },
    /// A firewall mark.
    Fwmark {
        /// The mark.
        mark: u32,
        /// Family, when given.
        family: Option<Family>,
        /// Where it is.
        location: Location,
    },
}

/// `virtual_server_group NAME { ... }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VirtualServerGroup {
    /// Its name.
    pub name: String,
    /// Its entries.
    pub entries: Vec<GroupEntry>,
    /// Where it is defined.
    pub location: Location,
}

/// Settings every checker has; after parsing, every field holds the inherited value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckerCommon {
    /// Address to connect to (the real server's by default).
    pub connect_ip: Option<IpAddr>,
    /// Port to connect to (the real server's by default).
    pub connect_port: Option<u16>,
    /// Source address.
    pub bindto: Option<IpAddr>,
    /// Source port.
    pub bind_port: Option<u16>,
    /// Source interface.
    pub bind_if: Option<String>,
    /// fwmark on the check's packets.
    pub fwmark: Option<u32>,
    /// Connect timeout, microseconds (5 s, inherited).
    pub connect_timeout_us: u64,
    /// Retries before declaring failure (per checker type, inherited).
    pub retry: u32,
    /// Delay between retries, microseconds (per checker type, inherited).
    pub delay_before_retry_us: u64,
    /// Maximum random delay before the first check, microseconds (= delay_loop).
    pub warmup_us: u64,
    /// Interval between checks, microseconds (inherited from the virtual server).
    pub delay_loop_us: u64,
    /// Start as failed until the first success.
    pub alpha: bool,
    /// Log every failure, not only state changes.
    pub log_all_failures: bool,
}

/// One `url { }` of an HTTP/SSL check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Url {
    /// Path requested.
    pub path: String,
    /// Expected MD5 of the body (lower-case hex).
    pub digest: Option<String>,
    /// Accepted status codes as inclusive ranges (200-299 when not given).
    pub status_codes: Vec<(u16, u16)>,
    /// Host header override.
    pub virtualhost: Option<String>,
    /// PCRE2 regex the body must match (or not, with `regex_no_match`).
    pub regex: Option<String>,
    /// The regex must not match.
    pub regex_no_match: bool,
    /// Other url keywords kept raw (regex options...).
    pub other: Vec<RawStatement>,
}

/// HTTP_GET / SSL_GET specifics.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HttpCheck {
    /// URLs checked.
    pub urls: Vec<Url>,
    /// `http_protocol` (1.0 by default).
    pub http_protocol: String,
    /// Check all URLs every loop.
    pub fast_recovery: bool,
    /// Host header for all URLs.
    pub virtualhost: Option<String>,
    /// SSL: send SNI.
    pub enable_sni: bool,
}

/// MISC_CHECK specifics.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MiscCheck {
    /// The script.
    pub script: Option<Script>,
    /// Kill the script after this long, microseconds (= delay_loop).
    pub timeout_us: Option<u64>,
    /// Exit codes 2..255 set the weight.
    pub dynamic: bool,
}

/// DNS_CHECK specifics.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DnsCheck {
    /// Query type (SOA).
    pub query_type: String,
    /// Name queried (`.`).
    pub name: String,
}

/// UDP_CHECK specifics.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UdpCheck {
    /// Payload sent (hex).
    pub payload: Option<String>,
    /// Expected reply pattern (hex, with X wildcards).
    pub require_reply: Option<String>,
    /// Minimum reply length.
    pub min_reply_length: u32,
    /// Maximum reply length.
    pub max_reply_length: u32,
}

/// What a checker does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum CheckerKind {
    /// TCP connect.
    Tcp,
    /// HTTP GET.
    Http(HttpCheck),
    /// HTTPS GET.
    Ssl(HttpCheck),
    /// SMTP greeting and HELO.
    Smtp {
        /// HELO name.
        helo_name: Option<String>,
    },
    /// A script.
    Misc(MiscCheck),
    /// A DNS query.
    Dns(DnsCheck),
    /// A UDP exchange.
    Udp(UdpCheck),
    /// ICMP echo.
    Ping,
    /// A tracked file's value.
    File {
        /// track_file name.
        track_file: Option<String>,
        /// Weight override.
        weight: Option<i64>,
        /// Reverse the weight.
        reverse: bool,
    },
    /// A BFD session (parsed only).
    Bfd {
        /// bfd_instance name.
        name: Option<String>,
    },
}

/// One checker of a real server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Checker {
    /// Its type and specifics.
    pub kind: CheckerKind,
    /// Common settings, inheritance resolved.
    pub common: CheckerCommon,
    /// Keywords kept raw.
    pub other: Vec<RawStatement>,
    /// Where it is.
    pub location: Location,
}

/// `real_server IP [PORT] { ... }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RealServer {
    /// Identity.
    pub key: RealServerKey,
    /// IPVS weight (1).
    pub weight: i32,
    /// Forwarding method (the virtual server's by default).
    pub forwarding: Forwarding,
    /// Run when the server comes up.
    pub notify_up: Option<Script>,
    /// Run when the server goes down.
    pub notify_down: Option<Script>,
    /// Upper connection threshold.
    pub uthreshold: Option<u32>,
    /// Lower connection threshold.
    pub lthreshold: Option<u32>,
    /// Weight 0 instead of removal on failure (inherited).
    pub inhibit_on_failure: bool,
    /// Email on state change.
    pub smtp_alert: Option<bool>,
    /// Host header for its HTTP checks.
    pub virtualhost: Option<String>,
    /// Its checkers (all must be up for the server to be alive).
    pub checkers: Vec<Checker>,
    /// Where it is.
    pub location: Location,
}

/// A sorry server: used while the quorum is lost.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SorryServer {
    /// Address.
    pub address: IpAddr,
    /// Port (the virtual server's when not given).
    pub port: u16,
    /// Keep it in the table with weight 0 until needed.
    pub inhibit: bool,
    /// Its forwarding method.
    pub forwarding: Option<Forwarding>,
}

/// `virtual_server ... { ... }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VirtualServer {
    /// Identity (address/port/protocol, fwmark or group).
    pub key: VirtualServerKey,
    /// Scheduler (`wlc` when not given).
    pub scheduler: String,
    /// Forwarding method (NAT when not given).
    pub forwarding: Forwarding,
    /// Interval between checks, microseconds (60 s).
    pub delay_loop_us: u64,
    /// Persistence timeout in seconds (None = no persistence).
    pub persistence_timeout: Option<u32>,
    /// Persistence netmask.
    pub persistence_granularity: Option<String>,
    /// Persistence engine (`sip`).
    pub persistence_engine: Option<String>,
    /// Minimum total weight of live servers (1).
    pub quorum: u32,
    /// Hysteresis around the quorum (0).
    pub hysteresis: u32,
    /// Run when the quorum is gained.
    pub quorum_up: Option<Script>,
    /// Run when the quorum is lost.
    pub quorum_down: Option<Script>,
    /// Fallback server.
    pub sorry_server: Option<SorryServer>,
    /// Real servers start failed until checked.
    pub alpha: bool,
    /// Run down notifies at shutdown.
    pub omega: bool,
    /// Weight 0 instead of removal on failure.
    pub inhibit_on_failure: bool,
    /// Suspend checks while the address is not local.
    pub ha_suspend: bool,
    /// Host header for HTTP checks.
    pub virtualhost: Option<String>,
    /// Scheduler flags and options (`flag-1`, `sh-port`, `ops`, `hashed`...).
    pub flags: Vec<String>,
    /// Email on state change.
    pub smtp_alert: Option<bool>,
    /// Real servers.
    pub real_servers: Vec<RealServer>,
    /// Keywords kept raw.
    pub other: Vec<RawStatement>,
    /// Where it is.
    pub location: Location,
}

/// The schedulers IPVS knows.
pub const SCHEDULERS: &[&str] = &[
    "rr", "wrr", "lc", "wlc", "lblc", "sh", "mh", "dh", "fo", "ovf", "lblcr", "sed", "nq", "twos",
];

/// Settings a virtual server passes down to its real servers and checkers.
#[derive(Debug, Clone, Default)]
struct Inherited {
    delay_loop_us: Option<u64>,
    connect_timeout_us: Option<u64>,
    retry: Option<u32>,
    delay_before_retry_us: Option<u64>,
    warmup_us: Option<u64>,
    alpha: Option<bool>,
    inhibit_on_failure: Option<bool>,
    virtualhost: Option<String>,
}

impl Inherited {
    /// Reads an inheritable keyword; false when `kw` is not one.
    fn keyword(&mut self, kw: &Node, d: &mut Diagnostics) -> bool {
        match kw.keyword.as_str() {
            "delay_loop" => {
                self.delay_loop_us = seconds(kw, 0, 1, MAX_SECONDS_US, d).or(self.delay_loop_us)
            }
            "connect_timeout" => {
                self.connect_timeout_us =
                    seconds(kw, 0, 1, MAX_SECONDS_US, d).or(self.connect_timeout_us)
            }
            "retry" | "nb_get_retry" => {
                if kw.keyword == "nb_get_retry" {
                    d.quiet_warning(
                        Some(&kw.location),
                        "nb_get_retry is deprecated - please use 'retry'",
                    );
                }
                self.retry = uint(kw, 0, 0, u64::from(u32::MAX), d)
                    .map(|v| v as u32)
                    .or(self.retry)
            }
            "delay_before_retry" => {
                self.delay_before_retry_us =
                    seconds(kw, 0, 0, MAX_SECONDS_US, d).or(self.delay_before_retry_us)
            }
            "warmup" => self.warmup_us = seconds(kw, 0, 0, MAX_SECONDS_US, d).or(self.warmup_us),
            "alpha" => self.alpha = flag(kw, d).or(self.alpha),
            "inhibit_on_failure" => {
                self.inhibit_on_failure = flag(kw, d).or(self.inhibit_on_failure)
            }
            "virtualhost" => self.virtualhost = word(kw, 0, d).or(self.virtualhost.clone()),
            _ => return false,
        }
        true
    }

    /// These settings overridden by `inner` where it sets them.
    fn under(&self, inner: &Inherited) -> Inherited {
        Inherited {
            delay_loop_us: inner.delay_loop_us.or(self.delay_loop_us),
            connect_timeout_us: inner.connect_timeout_us.or(self.connect_timeout_us),
            retry: inner.retry.or(self.retry),
            delay_before_retry_us: inner.delay_before_retry_us.or(self.delay_before_retry_us),
            warmup_us: inner.warmup_us.or(self.warmup_us),
            alpha: inner.alpha.or(self.alpha),
            inhibit_on_failure: inner.inhibit_on_failure.or(self.inhibit_on_failure),
            virtualhost: inner.virtualhost.clone().or(self.virtualhost.clone()),
        }
    }
}

/// Largest timer keepalived accepts, in microseconds.
const MAX_SECONDS_US: u64 = 4_294_967_295_000_000 / 1000;

fn parse_port(text: &str) -> Option<u16> {
    text.parse::<u16>().ok()
}

/// Reads `IP [PORT]` at arguments `n`, `n+1`.
fn address_port(node: &Node, n: usize, d: &mut Diagnostics) -> Option<(IpAddr, Option<u16>)> {
    let addr = ip(node, n, d)?;
    match node.arg(n + 1) {
        None => Some((addr, None)),
        Some(p) => match parse_port(&p.text) {
            Some(port) => Some((addr, Some(port))),
            None => {
                d.error(
                    Some(&p.location),
                    format!("{}: invalid port '{}'", node.keyword, p.text),
                )
                .with_help("expected a port number 0..65535");
                None
            }
        },
    }
}

/// Reads `lb_kind`/`lvs_method` and its TUN options.
fn forwarding(node: &Node, d: &mut Diagnostics) -> Option<Forwarding> {
    let method = word(node, 0, d)?;
    match method.as_str() {
        "NAT" => Some(Forwarding::Nat),
        "DR" => Some(Forwarding::Dr),
        "TUN" => {
            let mut kind = "ipip".to_string();
            let mut port = None;
            let mut checksum = None;
            let mut n = 1;
            while let Some(a) = node.arg(n) {
                match a.text.as_str() {
                    "type" => {
                        match node.arg(n + 1).map(|t| t.text.as_str()) {
                            Some(t @ ("ipip" | "gue" | "gre")) => kind = t.to_string(),
                            other => {
                                d.error(
                                    Some(&a.location),
                                    format!(
                                        "{}: unknown tunnel type '{}'",
                                        node.keyword,
                                        other.unwrap_or("")
                                    ),
                                )
                                .with_help("expected ipip, gue or gre");
                            }
                        }
                        n += 2;
                    }
                    "port" => {
                        port = uint(node, n + 1, 1, 65535, d).map(|v| v as u16);
                        n += 2;
                    }
                    c @ ("nocsum" | "csum" | "remcsum") => {
                        checksum = Some(c.to_string());
                        n += 1;
                    }
                    other => {
                        d.error(
                            Some(&a.location),
                            format!("{}: unknown TUN option '{other}'", node.keyword),
                        );
                        n += 1;
                    }
                }
            }
            if kind == "gue" && port.is_none() {
                d.error(
                    Some(&node.location),
                    format!("{}: TUN type gue needs a port", node.keyword),
                );
            }
            Some(Forwarding::Tun {
                kind,
                port,
                checksum,
            })
        }
        other => {
            d.error(
                Some(node.arg_location(0)),
                format!("{}: unknown forwarding method '{other}'", node.keyword),
            )
            .with_help("expected NAT, DR or TUN");
            None
        }
    }
}

/// `virtual_server_group NAME { ... }`.
pub(super) fn virtual_server_group(node: &Node, d: &mut Diagnostics) -> Option<VirtualServerGroup> {
    let Some(name) = node.arg(0).map(|a| a.text.to_string()) else {
        d.error(Some(&node.location), "virtual_server_group: missing name");
        return None;
    };
    let mut entries = Vec::new();
    for line in block_lines(node, d) {
        if line.keyword == "fwmark" {
            let Some(mark) = uint(line, 0, 1, u64::from(u32::MAX), d) else {
                continue;
            };
            let family = match line.arg(1).map(|a| a.text.as_str()) {
                Some("inet") => Some(Family::Inet),
                Some("inet6") => Some(Family::Inet6),
                None => None,
                Some(other) => {
                    d.error(
                        Some(line.arg_location(1)),
                        format!("virtual_server_group {name}: unknown family '{other}'"),
                    );
                    None
                }
            };
            entries.push(GroupEntry::Fwmark {
                mark: mark as u32,
                family,
                location: line.location.clone(),
            });
            continue;
        }
        match parse_range(&line.keyword) {
            Some((first, last)) => {
                let port = match line.arg(0) {
                    Some(p) => match parse_port(&p.text) {
                        Some(v) => v,
                        None => {
                            d.error(
                                Some(&p.location),
                                format!("virtual_server_group {name}: invalid port '{}'", p.text),
                            );
                            continue;
                        }
                    },
                    None => 0,
                };
                entries.push(GroupEntry::Range {
                    first,
                    last,
                    port,
                    location: line.location.clone(),
                });
            }
            None => {
                d.error(
                    Some(&line.location),
                    format!(
                        "virtual_server_group {name}: invalid address or range '{}'",
                        line.keyword
                    ),
                )
                .with_help("expected IP, IP-LAST (e.g. 10.0.0.1-10), IP/PREFIX or fwmark N");
            }
        }
    }
    Some(VirtualServerGroup {
        name,
        entries,
        location: node.location.clone(),
    })
}

/// Parses `IP`, `IP-LASTOCTET` (or last IPv6 group), and `IP/PREFIX` into an inclusive range.
pub fn parse_range(s: &str) -> Option<(IpAddr, IpAddr)> {
    if let Some((a, len)) = s.split_once('/') {
        let addr: IpAddr = a.parse().ok()?;
        let len: u32 = len.parse().ok()?;
        return match addr {
            IpAddr::V4(v4) => {
                if len > 32 {
                    return None;
                }
                let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
                let base = u32::from(v4) & mask;
                Some((
                    IpAddr::from(base.to_be_bytes()),
                    IpAddr::from((base | !mask).to_be_bytes()),
                ))
            }
            IpAddr::V6(v6) => {
                if len > 128 {
                    return None;
                }
                let mask = if len == 0 {
                    0
                } else {
                    u128::MAX << (128 - len)
                };
                let base = u128::from(v6) & mask;
                Some((
                    IpAddr::from(base.to_be_bytes()),
                    IpAddr::from((base | !mask).to_be_bytes()),
                ))
            }
        };
    }
    if let Ok(a) = s.parse::<IpAddr>() {
        return Some((a, a));
    }
    let (a, last) = s.rsplit_once('-')?;
    let first: IpAddr = a.parse().ok()?;
    match first {
        IpAddr::V4(v4) => {
            let last: u8 = last.parse().ok()?;
            let mut o = v4.octets();
            if last < o[3] {
                return None;
            }
            o[3] = last;
            Some((first, IpAddr::from(o)))
        }
        IpAddr::V6(v6) => {
            let last = u16::from_str_radix(last, 16).ok()?;
            let mut seg = v6.segments();
            if last < seg[7] {
                return None;
            }
            seg[7] = last;
            Some((first, IpAddr::from(seg)))
        }
    }
}

/// `virtual_server ... { ... }`.
pub(super) fn virtual_server(node: &Node, d: &mut Diagnostics) -> Option<VirtualServer> {
    enum Addressing {
        Ip(IpAddr, u16),
        Fwmark(u32),
        Group(String),
    }
    let addressing = match node.arg(0).map(|a| a.text.as_str()) {
        None => {
            missing(node, d);
            return None;
        }
        Some("fwmark") => Addressing::Fwmark(uint(node, 1, 1, u64::from(u32::MAX), d)? as u32),
        Some("group") => Addressing::Group(word(node, 1, d)?),
        Some(_) => {
            let (a, p) = address_port(node, 0, d)?;
            Addressing::Ip(a, p.unwrap_or(0))
        }
    };
    let mut inherited = Inherited::default();
    let mut vs = VirtualServer {
        key: VirtualServerKey::Fwmark {
            mark: 0,
            family: Family::Inet,
        },
        scheduler: String::new(),
        forwarding: Forwarding::Nat,
        delay_loop_us: 60_000_000,
        persistence_timeout: None,
        persistence_granularity: None,
        persistence_engine: None,
        quorum: 1,
        hysteresis: 0,
        quorum_up: None,
        quorum_down: None,
        sorry_server: None,
        alpha: false,
        omega: false,
        inhibit_on_failure: false,
        ha_suspend: false,
        virtualhost: None,
        flags: vec![],
        smtp_alert: None,
        real_servers: vec![],
        other: vec![],
        location: node.location.clone(),
    };
    let mut protocol: Option<Protocol> = None;
    let mut scheduler: Option<String> = None;
    let mut method: Option<Forwarding> = None;
    let mut family: Option<Family> = None;
    let mut sorry: Option<(IpAddr, Option<u16>)> = None;
    let mut sorry_inhibit = false;
    let mut sorry_method: Option<Forwarding> = None;
    let mut rs_nodes: Vec<&Node> = Vec::new();
    for kw in block_lines(node, d) {
        if inherited.keyword(kw, d) {
            continue;
        }
        match kw.keyword.as_str() {
            "lb_algo" | "lvs_sched" => {
                if let Some(s) = word(kw, 0, d) {
                    if SCHEDULERS.contains(&s.as_str()) {
                        scheduler = Some(s);
                    } else {
                        d.error(
                            Some(kw.arg_location(0)),
                            format!("{}: unknown scheduler '{s}'", kw.keyword),
                        )
                        .with_help(format!("expected one of {}", SCHEDULERS.join(", ")));
                    }
                }
            }
            "lb_kind" | "lvs_method" => method = forwarding(kw, d).or(method),
            "protocol" => match word(kw, 0, d).as_deref() {
                Some("TCP") => protocol = Some(Protocol::Tcp),
                Some("UDP") => protocol = Some(Protocol::Udp),
                Some("SCTP") => protocol = Some(Protocol::Sctp),
                Some(other) => {
                    d.error(
                        Some(kw.arg_location(0)),
                        format!("unknown protocol '{other}'"),
                    )
                    .with_help("expected TCP, UDP or SCTP");
                }
                None => {}
            },
            "persistence_timeout" => {
                vs.persistence_timeout = if kw.args.is_empty() {
                    Some(360)
                } else {
                    uint(kw, 0, 1, u64::from(u32::MAX), d).map(|v| v as u32)
                }
            }
            "persistence_granularity" => vs.persistence_granularity = word(kw, 0, d),
            "persistence_engine" => vs.persistence_engine = word(kw, 0, d),
            "quorum" => {
                if let Some(q) = uint(kw, 0, 1, u64::from(u32::MAX), d) {
                    vs.quorum = q as u32;
                }
            }
            "hysteresis" => {
                if let Some(h) = uint(kw, 0, 0, u64::from(u32::MAX), d) {
                    vs.hysteresis = h as u32;
                }
            }
            "quorum_up" => vs.quorum_up = script_value(kw, d),
            "quorum_down" => vs.quorum_down = script_value(kw, d),
            "sorry_server" => sorry = address_port(kw, 0, d),
            "sorry_server_inhibit" => sorry_inhibit = flag(kw, d).unwrap_or(true),
            "sorry_server_lvs_method" => sorry_method = forwarding(kw, d),
            "omega" => vs.omega = flag(kw, d).unwrap_or(true),
            "ha_suspend" => vs.ha_suspend = flag(kw, d).unwrap_or(true),
            "ip_family" => match word(kw, 0, d).as_deref() {
                Some("inet") => family = Some(Family::Inet),
                Some("inet6") => family = Some(Family::Inet6),
                Some(other) => {
                    d.error(
                        Some(kw.arg_location(0)),
                        format!("ip_family: unknown family '{other}'"),
                    );
                }
                None => {}
            },
            "smtp_alert" => vs.smtp_alert = flag(kw, d),
            f @ ("flag-1" | "flag-2" | "flag-3" | "sh-port" | "sh-fallback" | "mh-port"
            | "mh-fallback" | "ops" | "hashed") => vs.flags.push(f.to_string()),
            "real_server" => rs_nodes.push(kw),
            _ => other_keyword("virtual_server", kw, &mut vs.other, d),
        }
    }
    let protocol = protocol.unwrap_or(Protocol::Tcp);
    vs.scheduler = scheduler.unwrap_or_else(|| "wlc".to_string());
    vs.forwarding = method.unwrap_or(Forwarding::Nat);
    vs.delay_loop_us = inherited.delay_loop_us.unwrap_or(60_000_000);
    vs.alpha = inherited.alpha.unwrap_or(false);
    vs.inhibit_on_failure = inherited.inhibit_on_failure.unwrap_or(false);
    vs.virtualhost = inherited.virtualhost.clone();
    let vs_port = match &addressing {
        Addressing::Ip(_, p) => *p,
        _ => 0,
    };
    for rs in rs_nodes {
        if let Some(r) = real_server(rs, &vs, vs_port, &inherited, d) {
            vs.real_servers.push(r);
        }
    }
    if let Some((address, port)) = sorry {
        vs.sorry_server = Some(SorryServer {
            address,
            port: port.unwrap_or(vs_port),
            inhibit: sorry_inhibit,
            forwarding: sorry_method,
        });
    }
    vs.key = match addressing {
        Addressing::Ip(address, port) => {
            if port == 0 && vs.persistence_timeout.is_none() {
                vs.persistence_timeout = Some(360);
            }
            VirtualServerKey::Address {
                address,
                port,
                protocol,
            }
        }
        Addressing::Fwmark(mark) => {
            let fam =
                family.unwrap_or_else(|| match vs.real_servers.first().map(|r| r.key.address) {
                    Some(IpAddr::V6(_)) => Family::Inet6,
                    _ => Family::Inet,
                });
            VirtualServerKey::Fwmark { mark, family: fam }
        }
        Addressing::Group(name) => VirtualServerKey::Group { name, protocol },
    };
    Some(vs)
}

/// `real_server IP [PORT] { ... }`.
fn real_server(
    node: &Node,
    vs: &VirtualServer,
    vs_port: u16,
    vs_inh: &Inherited,
    d: &mut Diagnostics,
) -> Option<RealServer> {
    let (address, port) = address_port(node, 0, d)?;
    let mut inh = Inherited::default();
    let mut rs = RealServer {
        key: RealServerKey {
            address,
            port: port.unwrap_or(vs_port),
        },
        weight: 1,
        forwarding: vs.forwarding.clone(),
        notify_up: None,
        notify_down: None,
        uthreshold: None,
        lthreshold: None,
        inhibit_on_failure: false,
        smtp_alert: None,
        virtualhost: None,
        checkers: vec![],
        location: node.location.clone(),
    };
    let mut checker_nodes: Vec<&Node> = Vec::new();
    let mut other = Vec::new();
    for kw in block_lines(node, d) {
        if inh.keyword(kw, d) {
            continue;
        }
        match kw.keyword.as_str() {
            "weight" => {
                if let Some(w) = int(kw, 0, 0, 65535, d) {
                    rs.weight = w as i32;
                }
            }
            "lvs_method" => {
                if let Some(f) = forwarding(kw, d) {
                    rs.forwarding = f;
                }
            }
            "notify_up" => rs.notify_up = script_value(kw, d),
            "notify_down" => rs.notify_down = script_value(kw, d),
            "uthreshold" => {
                rs.uthreshold = uint(kw, 0, 0, u64::from(u32::MAX), d).map(|v| v as u32)
            }
            "lthreshold" => {
                rs.lthreshold = uint(kw, 0, 0, u64::from(u32::MAX), d).map(|v| v as u32)
            }
            "smtp_alert" => rs.smtp_alert = flag(kw, d),
            "TCP_CHECK" | "HTTP_GET" | "SSL_GET" | "SMTP_CHECK" | "MISC_CHECK" | "DNS_CHECK"
            | "UDP_CHECK" | "PING_CHECK" | "FILE_CHECK" | "BFD_CHECK" => checker_nodes.push(kw),
            _ => other_keyword("real_server", kw, &mut other, d),
        }
    }
    let eff = vs_inh.under(&inh);
    rs.inhibit_on_failure = eff.inhibit_on_failure.unwrap_or(false);
    rs.virtualhost = inh.virtualhost.clone();
    for c in checker_nodes {
        if let Some(ch) = checker(c, &eff, d) {
            rs.checkers.push(ch);
        }
    }
    Some(rs)
}

/// A checker block, with the real server's (already merged) inherited settings.
fn checker(node: &Node, outer: &Inherited, d: &mut Diagnostics) -> Option<Checker> {
    let block_path = node.keyword.as_str();
    let mut inh = Inherited::default();
    let mut common = CheckerCommon {
        connect_ip: None,
        connect_port: None,
        bindto: None,
        bind_port: None,
        bind_if: None,
        fwmark: None,
        connect_timeout_us: 0,
        retry: 0,
        delay_before_retry_us: 0,
        warmup_us: 0,
        delay_loop_us: 0,
        alpha: false,
        log_all_failures: false,
    };
    let mut other = Vec::new();
    let mut http = HttpCheck {
        urls: vec![],
        http_protocol: "1.0".into(),
        fast_recovery: false,
        virtualhost: None,
        enable_sni: false,
    };
    let mut helo_name = None;
    let mut misc = MiscCheck {
        script: None,
        timeout_us: None,
        dynamic: false,
    };
    let mut misc_user: Option<RunAs> = None;
    let mut dns = DnsCheck {
        query_type: "SOA".into(),
        name: ".".into(),
    };
    let mut udp = UdpCheck {
        payload: None,
        require_reply: None,
        min_reply_length: 0,
        max_reply_length: 255,
    };
    let mut file = (None, None, false);
    let mut bfd_name = None;
    for kw in block_lines(node, d) {
        // virtualhost belongs to the HTTP check itself.
        if kw.keyword != "virtualhost" && inh.keyword(kw, d) {
            continue;
        }
        let k = kw.keyword.as_str();
        match (block_path, k) {
            (_, "connect_ip") => common.connect_ip = ip(kw, 0, d),
            (_, "connect_port") => common.connect_port = uint(kw, 0, 1, 65535, d).map(|v| v as u16),
            (_, "bindto") => common.bindto = ip(kw, 0, d),
            (_, "bind_port") => common.bind_port = uint(kw, 0, 1, 65535, d).map(|v| v as u16),
            (_, "bind_if") => common.bind_if = word(kw, 0, d),
            (_, "fwmark") => {
                common.fwmark = uint(kw, 0, 1, u64::from(u32::MAX), d).map(|v| v as u32)
            }
            (_, "log_all_failures") => common.log_all_failures = flag(kw, d).unwrap_or(true),
            ("HTTP_GET" | "SSL_GET", "url") => {
                if let Some(u) = url(kw, d) {
                    http.urls.push(u);
                }
            }
            ("HTTP_GET" | "SSL_GET", "http_protocol") => {
                if let Some(p) = word(kw, 0, d) {
                    if matches!(p.as_str(), "1.0" | "1.0C" | "1.1" | "0") {
                        http.http_protocol = p;
                    } else {
                        d.error(
                            Some(kw.arg_location(0)),
                            format!("http_protocol: unknown version '{p}'"),
                        )
                        .with_help("expected 1.0, 1.0C or 1.1");
                    }
                }
            }
            ("HTTP_GET" | "SSL_GET", "fast_recovery") => {
                http.fast_recovery = flag(kw, d).unwrap_or(true)
            }
            ("HTTP_GET" | "SSL_GET", "virtualhost") => http.virtualhost = word(kw, 0, d),
            ("HTTP_GET" | "SSL_GET", "enable_sni") => http.enable_sni = flag(kw, d).unwrap_or(true),
            ("SMTP_CHECK", "helo_name") => helo_name = word(kw, 0, d),
            ("MISC_CHECK", "misc_path") => misc.script = script_value(kw, d),
            ("MISC_CHECK", "misc_timeout") => {
                misc.timeout_us = seconds(kw, 0, 1, MAX_SECONDS_US, d)
            }
            ("MISC_CHECK", "misc_dynamic") => misc.dynamic = flag(kw, d).unwrap_or(true),
            ("MISC_CHECK", "user") => misc_user = run_as(kw, d),
            ("DNS_CHECK", "type") => {
                if let Some(t) = word(kw, 0, d) {
                    if matches!(
                        t.as_str(),
                        "A" | "NS" | "CNAME" | "SOA" | "MX" | "TXT" | "AAAA"
                    ) {
                        dns.query_type = t;
                    } else {
                        d.error(
                            Some(kw.arg_location(0)),
                            format!("DNS_CHECK: unknown type '{t}'"),
                        )
                        .with_help("expected A, NS, CNAME, SOA, MX, TXT or AAAA");
                    }
                }
            }
            ("DNS_CHECK", "name") => {
                if let Some(n) = word(kw, 0, d) {
                    dns.name = n;
                }
            }
            ("UDP_CHECK", "payload") => udp.payload = word(kw, 0, d),
            ("UDP_CHECK", "require_reply") => udp.require_reply = word(kw, 0, d),
            ("UDP_CHECK", "min_reply_length") => {
                udp.min_reply_length = uint(kw, 0, 0, 65535, d).map(|v| v as u32).unwrap_or(0)
            }
            ("UDP_CHECK", "max_reply_length") => {
                udp.max_reply_length = uint(kw, 0, 0, 65535, d).map(|v| v as u32).unwrap_or(255)
            }
            ("FILE_CHECK", "track_file") => file.0 = word(kw, 0, d),
            ("FILE_CHECK", "weight") => {
                file.1 = int(kw, 0, -254, 254, d);
                file.2 = kw.arg(1).is_some_and(|a| a.text == "reverse");
            }
            ("BFD_CHECK", "name") => bfd_name = word(kw, 0, d),
            _ => other_keyword(block_path, kw, &mut other, d),
        }
    }
    let eff = outer.under(&inh);
    let delay_loop = eff.delay_loop_us.unwrap_or(60_000_000);
    let (default_retry, default_dbr) = match block_path {
        "HTTP_GET" | "SSL_GET" => (1, 3_000_000),
        "DNS_CHECK" => (3, delay_loop),
        "MISC_CHECK" => (0, 1_000_000),
        _ => (1, 1_000_000),
    };
    common.delay_loop_us = delay_loop;
    common.connect_timeout_us = eff.connect_timeout_us.unwrap_or(5_000_000);
    common.retry = eff.retry.unwrap_or(default_retry);
    common.delay_before_retry_us = eff.delay_before_retry_us.unwrap_or(default_dbr);
    common.warmup_us = eff.warmup_us.unwrap_or(delay_loop);
    common.alpha = eff.alpha.unwrap_or(false);
    if let (Some(s), Some(u)) = (&mut misc.script, misc_user) {
        if s.user.is_none() {
            s.user = Some(u.user);
            s.group = u.group;
        }
    }
    let kind = match block_path {
        "TCP_CHECK" => CheckerKind::Tcp,
        "HTTP_GET" => CheckerKind::Http(http),
        "SSL_GET" => CheckerKind::Ssl(http),
        "SMTP_CHECK" => CheckerKind::Smtp { helo_name },
        "MISC_CHECK" => CheckerKind::Misc(misc),
        "DNS_CHECK" => CheckerKind::Dns(dns),
        "UDP_CHECK" => CheckerKind::Udp(udp),
        "PING_CHECK" => CheckerKind::Ping,
        "FILE_CHECK" => CheckerKind::File {
            track_file: file.0,
            weight: file.1,
            reverse: file.2,
        },
        _ => CheckerKind::Bfd { name: bfd_name },
    };
    Some(Checker {
        kind,
        common,
        other,
        location: node.location.clone(),
    })
}

/// `url { path ; digest ; status_code ; virtualhost ; regex ... }`.
fn url(node: &Node, d: &mut Diagnostics) -> Option<Url> {
    let mut u = Url {
        path: String::new(),
        digest: None,
        status_codes: vec![],
        virtualhost: None,
        regex: None,
        regex_no_match: false,
        other: vec![],
    };
    for kw in block_lines(node, d) {
        match kw.keyword.as_str() {
            "path" => u.path = word(kw, 0, d).unwrap_or_default(),
            "digest" => {
                if let Some(dg) = word(kw, 0, d) {
                    if dg.len() == 32 && dg.chars().all(|c| c.is_ascii_hexdigit()) {
                        u.digest = Some(dg.to_ascii_lowercase());
                    } else {
                        d.error(
                            Some(kw.arg_location(0)),
                            format!("digest '{dg}' is not 32 hex digits (an MD5)"),
                        );
                    }
                }
            }
            "status_code" => {
                for a in &kw.args {
                    let range = match a.text.split_once('-') {
                        Some((lo, hi)) => lo.parse::<u16>().ok().zip(hi.parse::<u16>().ok()),
                        None => a.text.parse::<u16>().ok().map(|c| (c, c)),
                    };
                    match range {
                        Some((lo, hi)) if (100..=599).contains(&lo) && (lo..=599).contains(&hi) => {
                            u.status_codes.push((lo, hi))
                        }
                        _ => {
                            d.error(
                                Some(&a.location),
                                format!("status_code: invalid code or range '{}'", a.text),
                            )
                            .with_help("expected codes 100..599, or ranges like 200-299");
                        }
                    }
                }
                if kw.args.is_empty() {
                    missing(kw, d);
                }
            }
            "virtualhost" => u.virtualhost = word(kw, 0, d),
            "regex" => u.regex = word(kw, 0, d),
            "regex_no_match" => u.regex_no_match = flag(kw, d).unwrap_or(true),
            _ => {
                let mut other = std::mem::take(&mut u.other);
                other_keyword("HTTP_GET.url", kw, &mut other, d);
                u.other = other;
            }
        }
    }
    if u.status_codes.is_empty() {
        u.status_codes.push((200, 299));
    }
    if u.path.is_empty() {
        d.error(Some(&node.location), "url: no path given")
            .with_help("add 'path /'");
    }
    Some(u)
}

/// Keeps a raw copy of an `SSL` block (parsed only).
pub(super) fn ssl_block(node: &Node) -> RawStatement {
    raw("root", node)
}
