//! The LVS side of the model: virtual server groups, virtual servers, real servers and their
//! health checkers, with defaults inherited virtual server -> real server -> checker resolved,
//! and the identity keys reload and IPVS reconciliation use.

use super::script::Script;
use super::values::*;
use super::{block_lines, other_keyword, raw, run_as, script_value, RawStatement, RunAs};
use crate::diag::{Diagnostics, Location};
use crate::keywords;
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
    /// Keywords kept raw.
    pub other: Vec<RawStatement>,
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
    /// Warnings keepalived gives only for a virtual server that survives validation (one with
    /// real servers and a defined group); reported by the validator.
    #[serde(skip)]
    pub deferred: Vec<(Location, String)>,
    /// Whether `protocol` was written (keepalived warns about it for fwmark-only groups).
    #[serde(skip)]
    pub protocol_given: bool,
}

/// The schedulers IPVS knows.
pub const SCHEDULERS: &[&str] = &[
    "rr", "wrr", "lc", "wlc", "lblc", "sh", "mh", "dh", "fo", "ovf", "lblcr", "sed", "nq", "twos",
];

/// Largest timer keepalived accepts for checker intervals, in microseconds.
const MAX_SECONDS_US: u64 = u64::MAX - 1;

/// Longest persistence keepalived accepts (31 days), seconds.
const MAX_PERSISTENCE: u64 = 2_678_400;

/// Whether keepalived 2.2.7 knows `name` in block `path` (the inventory is the source).
fn known(path: &str, name: &str) -> bool {
    keywords::keyword(path, name).is_some()
}

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
}

/// Which level an inheritable keyword is read at: checks differ (keepalived accepts
/// `retry 0` in a checker but not on a virtual or real server; virtual-server booleans take any
/// value).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Level {
    VirtualServer,
    RealServer,
    Checker,
}

impl Inherited {
    /// Reads an inheritable keyword; false when `kw` is not one.
    fn keyword(&mut self, kw: &Node, level: Level, d: &mut Diagnostics) -> bool {
        match kw.keyword.as_str() {
            "delay_loop" => {
                self.delay_loop_us = seconds(kw, 0, 1, MAX_SECONDS_US, d).or(self.delay_loop_us)
            }
            "connect_timeout" => {
                self.connect_timeout_us =
                    seconds(kw, 0, 1, 4_294_967_295, d).or(self.connect_timeout_us)
            }
            "retry" => {
                let min = if level == Level::Checker { 0 } else { 1 };
                self.retry = uint(kw, 0, min, u64::from(u32::MAX), d)
                    .map(|v| v as u32)
                    .or(self.retry)
            }
            "delay_before_retry" => {
                self.delay_before_retry_us =
                    seconds(kw, 0, 0, MAX_SECONDS_US, d).or(self.delay_before_retry_us)
            }
            "warmup" => self.warmup_us = seconds(kw, 0, 0, MAX_SECONDS_US, d).or(self.warmup_us),
            "alpha" => {
                self.alpha = if level == Level::VirtualServer {
                    Some(kw.arg(0).is_none_or(|a| parse_bool(&a.text) != Some(false)))
                } else {
                    flag(kw, d).or(self.alpha)
                }
            }
            "inhibit_on_failure" if level != Level::Checker => {
                self.inhibit_on_failure = if level == Level::VirtualServer {
                    Some(kw.arg(0).is_none_or(|a| parse_bool(&a.text) != Some(false)))
                } else {
                    flag(kw, d).or(self.inhibit_on_failure)
                }
            }
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
        }
    }
}

/// An address as keepalived reads it for servers: a `/32` or `/128` suffix is accepted.
fn parse_server_address(text: &str) -> Option<IpAddr> {
    let a = text.split_once('/').map_or(text, |(a, _)| a);
    a.parse().ok()
}

/// Reads `IP [PORT]` at arguments `n`, `n+1`; `what` names the server in messages.
fn address_port(
    node: &Node,
    n: usize,
    what: &str,
    d: &mut Diagnostics,
) -> Option<(IpAddr, Option<u16>)> {
    let Some(a) = node.arg(n) else {
        missing(node, d);
        return None;
    };
    let Some(addr) = parse_server_address(&a.text) else {
        d.error(
            Some(&a.location),
            format!("invalid {what} address '{}' - skipping", a.text),
        )
        .with_help("expected an IPv4 or IPv6 address (names are not resolved)");
        return None;
    };
    match node.arg(n + 1) {
        None => Some((addr, None)),
        Some(p) => match p.text.parse::<u16>() {
            Ok(port) => Some((addr, Some(port))),
            Err(_) => {
                d.error(
                    Some(&p.location),
                    format!("invalid {what} port '{}' - skipping", p.text),
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
            let mut checksum: Option<String> = None;
            let mut n = 1;
            while let Some(a) = node.arg(n) {
                match a.text.as_str() {
                    "type" => {
                        match node.arg(n + 1).map(|t| t.text.as_str()) {
                            Some(t @ ("ipip" | "gue" | "gre")) => kind = t.to_string(),
                            Some(other) => {
                                d.error(Some(&a.location), format!("unknown tunnel type {other}"))
                                    .with_help("expected ipip, gue or gre");
                            }
                            None => {
                                d.error(Some(&a.location), "missing tunnel type");
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
            if (kind == "gue") != port.is_some() {
                d.error(
                    Some(&node.location),
                    "gue tunnels require a port, other tunnels cannot have one",
                );
            }
            match (kind.as_str(), checksum.as_deref()) {
                ("ipip", Some(_)) => {
                    d.error(
                        Some(&node.location),
                        "ipip tunnels do not support a checksum option",
                    );
                }
                ("gre", Some("csum" | "remcsum")) if checksum.as_deref() == Some("remcsum") => {
                    d.error(
                        Some(&node.location),
                        "gre tunnels do not support the remote checksum option",
                    );
                }
                _ => {}
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
                format!("unknown [{other}] routing method"),
            )
            .with_help("expected NAT, DR or TUN (upper case)");
            None
        }
    }
}

/// `virtual_server_group NAME { ... }`.
pub(super) fn virtual_server_group(node: &Node, d: &mut Diagnostics) -> Option<VirtualServerGroup> {
    let Some(name) = node.arg(0).map(|a| a.text.to_string()) else {
        missing(node, d);
        return None;
    };
    let mut entries = Vec::new();
    for line in block_lines(node, d) {
        if line.keyword == "fwmark" {
            let Some(mark) = uint(line, 0, 0, u64::from(u32::MAX), d) else {
                continue;
            };
            let family = match line.arg(1).map(|a| a.text.as_str()) {
                Some("inet") => Some(Family::Inet),
                Some("inet6") => Some(Family::Inet6),
                None => None,
                Some(other) => {
                    d.error(
                        Some(line.arg_location(1)),
                        format!("({name}): fwmark '{mark}' family {other} unknown - ignoring"),
                    );
                    continue;
                }
            };
            entries.push(GroupEntry::Fwmark {
                mark: mark as u32,
                family,
                location: line.location.clone(),
            });
            continue;
        }
        let range = match parse_range(&line.keyword) {
            Ok(r) => r,
            Err(why) => {
                d.error(
                    Some(&line.location),
                    format!("virtual server group {name}: {why} - skipping"),
                )
                .with_help("expected IP, IP-LAST (10.0.0.1-10), IP-IP, IP/PREFIX or fwmark N");
                continue;
            }
        };
        let port = match line.arg(0) {
            Some(p) => match p.text.parse::<u16>() {
                Ok(v) => v,
                Err(_) => {
                    d.error(
                        Some(&p.location),
                        format!(
                            "invalid virtual server group {name} port '{}' - skipping",
                            p.text
                        ),
                    );
                    continue;
                }
            },
            None => 0,
        };
        entries.push(GroupEntry::Range {
            first: range.0,
            last: range.1,
            port,
            location: line.location.clone(),
        });
    }
    if entries.is_empty() {
        d.warning(
            Some(&node.location),
            format!("virtual server group {name} has no entries - removing"),
        );
        return None;
    }
    Some(VirtualServerGroup {
        name,
        entries,
        location: node.location.clone(),
    })
}

/// Parses a group entry: `IP`, `IP-LAST` (last octet, or last IPv6 group in hex), `IP-IP`,
/// or `IP/PREFIX` with the host bits clear, into an inclusive range.
pub fn parse_range(s: &str) -> Result<(IpAddr, IpAddr), String> {
    let bad = || format!("invalid address '{s}'");
    if let Some((a, len)) = s.split_once('/') {
        let addr: IpAddr = a.parse().map_err(|_| bad())?;
        let len: u32 = len.parse().map_err(|_| bad())?;
        return match addr {
            IpAddr::V4(v4) => {
                if len > 32 {
                    return Err(bad());
                }
                let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
                let base = u32::from(v4);
                if base & !mask != 0 {
                    return Err(format!("address mask bits not empty - {s}"));
                }
                Ok((
                    IpAddr::from(base.to_be_bytes()),
                    IpAddr::from((base | !mask).to_be_bytes()),
                ))
            }
            IpAddr::V6(v6) => {
                if len > 128 {
                    return Err(bad());
                }
                let mask = if len == 0 {
                    0
                } else {
                    u128::MAX << (128 - len)
                };
                let base = u128::from(v6);
                if base & !mask != 0 {
                    return Err(format!("address mask bits not empty - {s}"));
                }
                Ok((
                    IpAddr::from(base.to_be_bytes()),
                    IpAddr::from((base | !mask).to_be_bytes()),
                ))
            }
        };
    }
    if let Ok(a) = s.parse::<IpAddr>() {
        return Ok((a, a));
    }
    let (a, last) = s.rsplit_once('-').ok_or_else(bad)?;
    let first: IpAddr = a.parse().map_err(|_| bad())?;
    if let Ok(end) = last.parse::<IpAddr>() {
        if end.is_ipv4() != first.is_ipv4() || end <= first {
            return Err(format!(
                "address range end is not greater than address range start - {s}"
            ));
        }
        return Ok((first, end));
    }
    match first {
        IpAddr::V4(v4) => {
            let last: u32 = last.parse().map_err(|_| bad())?;
            let mut o = v4.octets();
            if last > 255 {
                return Err(format!("range '{s}' end '{last}' too large"));
            }
            if last as u8 <= o[3] {
                return Err(format!(
                    "address range end is not greater than address range start - {s}"
                ));
            }
            o[3] = last as u8;
            Ok((first, IpAddr::from(o)))
        }
        IpAddr::V6(v6) => {
            let last = u32::from_str_radix(last, 16).map_err(|_| bad())?;
            let mut seg = v6.segments();
            if last > 0xffff {
                return Err(format!("range '{s}' end '{last:x}' too large"));
            }
            if last as u16 <= seg[7] {
                return Err(format!(
                    "address range end is not greater than address range start - {s}"
                ));
            }
            seg[7] = last as u16;
            Ok((first, IpAddr::from(seg)))
        }
    }
}

/// A virtual server's name in messages, as keepalived prints it.
fn vs_name(key: &VirtualServerKey) -> String {
    match key {
        VirtualServerKey::Address {
            address,
            port,
            protocol,
        } => {
            format!(
                "[{address}]:{}:{port}",
                protocol.as_str().to_ascii_lowercase()
            )
        }
        VirtualServerKey::Fwmark { mark, .. } => format!("FWM {mark}"),
        VirtualServerKey::Group { name, .. } => format!("[{name}]"),
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
        Some("fwmark") => {
            // keepalived 2.2.7 crashes on a missing mark; we treat it as any missing value.
            Addressing::Fwmark(uint(node, 1, 1, u64::from(u32::MAX), d)? as u32)
        }
        Some("group") => Addressing::Group(word(node, 1, d)?),
        Some(_) => {
            let (a, p) = address_port(node, 0, "virtual server", d)?;
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
        deferred: vec![],
        protocol_given: false,
    };
    let mut protocol: Option<Protocol> = None;
    let mut protocol_given = false;
    let mut scheduler: Option<String> = None;
    let mut method: Option<Forwarding> = None;
    let mut family: Option<Family> = None;
    let mut sorry: Option<SorryServer> = None;
    let mut rs_nodes: Vec<&Node> = Vec::new();
    let mut granularity: Option<&Node> = None;
    for kw in block_lines(node, d) {
        let k = kw.keyword.as_str();
        if !known("virtual_server", k) {
            super::unknown_keyword("virtual_server", kw, d);
            continue;
        }
        if inherited.keyword(kw, Level::VirtualServer, d) {
            continue;
        }
        match k {
            "lb_algo" | "lvs_sched" => {
                if let Some(s) = word(kw, 0, d) {
                    if SCHEDULERS.contains(&s.as_str()) {
                        scheduler = Some(s);
                    } else {
                        d.error(
                            Some(kw.arg_location(0)),
                            format!("invalid lvs_scheduler '{s}' - ignoring"),
                        )
                        .with_help(format!("expected one of {}", SCHEDULERS.join(", ")));
                    }
                }
            }
            "lb_kind" | "lvs_method" => method = forwarding(kw, d).or(method),
            "protocol" => {
                protocol_given = true;
                match word(kw, 0, d).map(|p| p.to_ascii_uppercase()).as_deref() {
                    Some("TCP") => protocol = Some(Protocol::Tcp),
                    Some("UDP") => protocol = Some(Protocol::Udp),
                    Some("SCTP") => protocol = Some(Protocol::Sctp),
                    Some(_) => {
                        d.error(
                            Some(kw.arg_location(0)),
                            format!("unknown protocol {} - ignoring", kw.args[0].text),
                        )
                        .with_help("expected TCP, UDP or SCTP");
                    }
                    None => {}
                }
            }
            "persistence_timeout" => {
                vs.persistence_timeout = if kw.args.is_empty() {
                    Some(360)
                } else {
                    uint(kw, 0, 1, MAX_PERSISTENCE, d).map(|v| v as u32)
                }
            }
            "persistence_granularity" => {
                if word(kw, 0, d).is_some() {
                    granularity = Some(kw);
                }
            }
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
            "sorry_server" => {
                if let Some((address, port)) = address_port(kw, 0, "sorry server", d) {
                    sorry = Some(SorryServer {
                        address,
                        port: port.unwrap_or(0),
                        inhibit: false,
                        forwarding: None,
                    });
                }
            }
            "sorry_server_inhibit" => match &mut sorry {
                Some(s) => s.inhibit = true,
                None => {
                    d.error(
                        Some(&kw.location),
                        "ignoring sorry_server_inhibit used before or without sorry_server",
                    );
                }
            },
            "sorry_server_lvs_method" => {
                let f = forwarding(kw, d);
                match &mut sorry {
                    Some(s) => s.forwarding = f.or(s.forwarding.take()),
                    None => {
                        d.error(
                            Some(&kw.location),
                            "sorry_server forwarding used without sorry_server",
                        );
                    }
                }
            }
            "omega" => vs.omega = kw.arg(0).is_none_or(|a| parse_bool(&a.text) != Some(false)),
            "ha_suspend" => {
                vs.ha_suspend = kw.arg(0).is_none_or(|a| parse_bool(&a.text) != Some(false))
            }
            "ip_family" => match word(kw, 0, d).as_deref() {
                Some("inet") => family = Some(Family::Inet),
                Some("inet6") => family = Some(Family::Inet6),
                Some(other) => {
                    d.error(
                        Some(kw.arg_location(0)),
                        format!("unknown address family {other}"),
                    );
                }
                None => {}
            },
            "virtualhost" => match kw.arg(0) {
                Some(a) => vs.virtualhost = Some(a.text.to_string()),
                None => {
                    d.error(Some(&kw.location), "virtual server virtualhost missing");
                }
            },
            "smtp_alert" => vs.smtp_alert = flag(kw, d),
            f @ ("flag-1" | "flag-2" | "flag-3" | "sh-port" | "sh-fallback" | "mh-port"
            | "mh-fallback" | "ops" | "hashed") => vs.flags.push(f.to_string()),
            "real_server" => rs_nodes.push(kw),
            "snmp_name" => {
                if kw.args.len() != 1 {
                    d.error(Some(&kw.location), "snmp_name missing or extra parameters");
                }
                vs.other.push(raw("virtual_server", kw));
            }
            "weight" => {
                if let Some(a) = kw.arg(0) {
                    if !a
                        .text
                        .parse::<u64>()
                        .is_ok_and(|w| (1..=2_147_483_647).contains(&w))
                    {
                        d.error(
                            Some(&a.location),
                            format!(
                                "virtual server weight {} is outside range 1-2147483647",
                                a.text
                            ),
                        );
                    }
                } else {
                    missing(kw, d);
                }
                vs.other.push(raw("virtual_server", kw));
            }
            _ => other_keyword("virtual_server", kw, &mut vs.other, d),
        }
    }
    // Scheduler-specific flags.
    let sched = scheduler.clone().unwrap_or_else(|| "wlc".to_string());
    let mut kept_flags = Vec::new();
    for f in std::mem::take(&mut vs.flags) {
        let needs = match f.as_str() {
            "sh-port" | "sh-fallback" | "hashed" => Some("sh"),
            "mh-port" | "mh-fallback" => Some("mh"),
            _ => None,
        };
        match needs {
            Some(n) if n != sched => {
                d.error(
                    Some(&node.location),
                    format!("{f} only applies to the {n} scheduler - ignoring"),
                );
            }
            _ => kept_flags.push(f),
        }
    }
    vs.flags = kept_flags;
    vs.scheduler = sched;
    vs.protocol_given = protocol_given;
    vs.forwarding = method.clone().unwrap_or(Forwarding::Nat);
    vs.delay_loop_us = inherited.delay_loop_us.unwrap_or(60_000_000);
    vs.alpha = inherited.alpha.unwrap_or(false);
    vs.inhibit_on_failure = inherited.inhibit_on_failure.unwrap_or(false);

    let (vs_port, vs_family) = match &addressing {
        Addressing::Ip(a, p) => (
            *p,
            Some(if a.is_ipv4() {
                Family::Inet
            } else {
                Family::Inet6
            }),
        ),
        _ => (0, None),
    };
    if let (Some(Family::Inet6), Some(Family::Inet)) | (Some(Family::Inet), Some(Family::Inet6)) =
        (family, vs_family)
    {
        d.error(
            Some(&node.location),
            "virtual server specified family conflicts with server family",
        );
    }
    // The family real servers must have (not checked for groups).
    let want_family = match &addressing {
        Addressing::Ip(..) => vs_family,
        Addressing::Fwmark(_) => family,
        Addressing::Group(_) => None,
    };
    let mut fwmark_family = family;
    for rs in rs_nodes {
        let Some(r) = real_server(rs, &vs, vs_port, &inherited, d) else {
            continue;
        };
        let rs_family = if r.key.address.is_ipv4() {
            Family::Inet
        } else {
            Family::Inet6
        };
        let tunnel = matches!(r.forwarding, Forwarding::Tun { .. });
        let expected = want_family.or(fwmark_family);
        if let Some(f) = expected {
            if f != rs_family && !tunnel {
                d.error(Some(&r.location), format!("address family of virtual server and real server {} don't match - skipping real server", r.key.address));
                continue;
            }
        }
        if matches!(addressing, Addressing::Fwmark(_)) && fwmark_family.is_none() {
            fwmark_family = Some(rs_family);
        }
        vs.real_servers.push(r);
    }
    if let Some(mut s) = sorry.take() {
        let s_family = if s.address.is_ipv4() {
            Family::Inet
        } else {
            Family::Inet6
        };
        if want_family.or(fwmark_family).is_some_and(|f| f != s_family) {
            d.error(Some(&node.location), format!("address family of virtual server and sorry server {} don't match - skipping sorry server", s.address));
        } else {
            if s.port == 0 {
                s.port = vs_port;
            }
            vs.sorry_server = Some(s);
        }
    }
    if let Some(kw) = granularity {
        let text = kw
            .args
            .first()
            .map(|a| a.text.to_string())
            .unwrap_or_default();
        let v6 = vs_family == Some(Family::Inet6) || fwmark_family == Some(Family::Inet6);
        let ok = if v6 {
            text.parse::<u8>().is_ok_and(|l| (1..=128).contains(&l))
        } else {
            text.parse::<std::net::Ipv4Addr>().is_ok() || text.parse::<u32>().is_ok()
        };
        if ok {
            vs.persistence_granularity = Some(text);
        } else {
            d.error(
                Some(kw.arg_location(0)),
                format!(
                    "invalid {} persistence_granularity specified - {text}",
                    if v6 { "IPv6" } else { "IPv4" }
                ),
            );
        }
    }

    // What keepalived reports only for a surviving virtual server.
    let loc = node.location.clone();
    let defer = |vs: &mut VirtualServer, msg: String| vs.deferred.push((loc.clone(), msg));
    let is_fwmark = matches!(addressing, Addressing::Fwmark(_));
    if scheduler.is_none() {
        defer(&mut vs, "no scheduler set, setting default 'wlc'".into());
    }
    if method.is_none() {
        defer(
            &mut vs,
            "no forwarding method set, setting default NAT".into(),
        );
    }
    let protocol = match (protocol, &addressing) {
        (Some(p), Addressing::Fwmark(_)) => {
            defer(
                &mut vs,
                "protocol specified for fwmark - protocol will be ignored".into(),
            );
            p
        }
        (Some(p), _) => p,
        (None, Addressing::Fwmark(_)) => {
            if protocol_given {
                defer(
                    &mut vs,
                    "protocol specified for fwmark - protocol will be ignored".into(),
                );
            }
            Protocol::Udp
        }
        (None, Addressing::Group(_)) => {
            // Only warned when the group has address entries (see the validator).
            Protocol::Udp
        }
        (None, Addressing::Ip(..)) => {
            defer(&mut vs, "no protocol set - defaulting to UDP".into());
            Protocol::Udp
        }
    };
    if vs.flags.iter().any(|f| f == "ops") && protocol != Protocol::Udp && !is_fwmark {
        defer(
            &mut vs,
            "one packet scheduling requires UDP - resetting".into(),
        );
        vs.flags.retain(|f| f != "ops");
    }
    if matches!(addressing, Addressing::Ip(_, 0)) && vs.persistence_timeout.is_none() {
        defer(
            &mut vs,
            "zero port only valid for persistent services - setting".into(),
        );
        vs.persistence_timeout = Some(360);
    }
    // DR/TUN real servers must use the virtual server's port.
    if vs_port != 0 {
        let mut resets = Vec::new();
        for r in &mut vs.real_servers {
            if matches!(r.forwarding, Forwarding::Dr | Forwarding::Tun { .. })
                && r.key.port != vs_port
            {
                resets.push(format!(
                    "virtual server and real server [{}]:{} ports don't match - resetting",
                    r.key.address, r.key.port
                ));
                r.key.port = vs_port;
            }
        }
        if let Some(s) = &mut vs.sorry_server {
            let f = s.forwarding.as_ref().unwrap_or(&vs.forwarding);
            if matches!(f, Forwarding::Dr | Forwarding::Tun { .. }) && s.port != vs_port {
                resets.push("virtual server and sorry server ports don't match - resetting".into());
                s.port = vs_port;
            }
        }
        for m in resets {
            defer(&mut vs, m);
        }
    }
    if is_fwmark && vs.ha_suspend {
        defer(
            &mut vs,
            "cannot use ha_suspend with fwmarks - clearing ha_suspend".into(),
        );
        vs.ha_suspend = false;
    }
    if is_fwmark && matches!(vs.forwarding, Forwarding::Dr) {
        let mut clears = Vec::new();
        for r in &mut vs.real_servers {
            if r.key.port != 0 && matches!(r.forwarding, Forwarding::Dr) {
                clears.push(format!(
                    "fwmark virtual server, real server [{}] has port specified - clearing",
                    r.key.address
                ));
                r.key.port = 0;
            }
        }
        for m in clears {
            defer(&mut vs, m);
        }
    }
    // Duplicates are found after the port corrections, as keepalived does.
    let mut unique: Vec<RealServer> = Vec::new();
    for r in std::mem::take(&mut vs.real_servers) {
        if unique.iter().any(|o| o.key == r.key) {
            let msg = format!(
                "real server [{}]:{} is duplicated - removing second rs",
                r.key.address, r.key.port
            );
            defer(&mut vs, msg);
        } else {
            unique.push(r);
        }
    }
    vs.real_servers = unique;
    let total: u64 = vs
        .real_servers
        .iter()
        .map(|r| u64::from(r.weight.max(0) as u32))
        .sum();
    if !vs.real_servers.is_empty() && u64::from(vs.quorum) > total {
        let msg = format!(
            "quorum {} exceeds total weight of real servers {total}, reducing quorum to {total}",
            vs.quorum
        );
        defer(&mut vs, msg);
        vs.quorum = total as u32;
    }
    if !vs.real_servers.is_empty() && vs.hysteresis >= vs.quorum && vs.hysteresis != 0
        || (vs.quorum == 0 && !vs.real_servers.is_empty())
    {
        let msg = format!(
            "hysteresis {} >= quorum {}; resetting hysteresis",
            vs.hysteresis, vs.quorum
        );
        defer(&mut vs, msg);
        vs.hysteresis = 0;
    }
    vs.key = match addressing {
        Addressing::Ip(address, port) => VirtualServerKey::Address {
            address,
            port,
            protocol,
        },
        Addressing::Fwmark(mark) => VirtualServerKey::Fwmark {
            mark,
            family: fwmark_family.unwrap_or(Family::Inet),
        },
        Addressing::Group(name) => VirtualServerKey::Group { name, protocol },
    };
    let name = vs_name(&vs.key);
    for (_, m) in &mut vs.deferred {
        *m = format!("virtual server {name}: {m}");
    }
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
    let (address, port) = address_port(node, 0, "real server", d)?;
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
        other: vec![],
        location: node.location.clone(),
    };
    let mut checker_nodes: Vec<&Node> = Vec::new();
    for kw in block_lines(node, d) {
        let k = kw.keyword.as_str();
        if !known("real_server", k) {
            super::unknown_keyword("real_server", kw, d);
            continue;
        }
        if inh.keyword(kw, Level::RealServer, d) {
            continue;
        }
        match k {
            "weight" => {
                if let Some(w) = int(kw, 0, 0, 2_147_483_647, d) {
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
            "virtualhost" => match kw.arg(0) {
                Some(a) => rs.virtualhost = Some(a.text.to_string()),
                None => {
                    d.error(Some(&kw.location), "real server virtualhost missing");
                }
            },
            "snmp_name" => {
                if kw.args.len() != 1 {
                    d.error(Some(&kw.location), "snmp_name missing or extra parameters");
                }
                rs.other.push(raw("real_server", kw));
            }
            "TCP_CHECK" | "HTTP_GET" | "SSL_GET" | "SMTP_CHECK" | "MISC_CHECK" | "DNS_CHECK"
            | "UDP_CHECK" | "PING_CHECK" | "FILE_CHECK" | "BFD_CHECK" => checker_nodes.push(kw),
            _ => other_keyword("real_server", kw, &mut rs.other, d),
        }
    }
    let eff = vs_inh.under(&inh);
    rs.inhibit_on_failure = eff.inhibit_on_failure.unwrap_or(false);
    for c in checker_nodes {
        if let Some(ch) = checker(c, &eff, address, d) {
            rs.checkers.push(ch);
        }
    }
    // keepalived 2.2.7 copies the port into its checkers before defaulting it, so such a server
    // is checked on port 0 and removed; we check the port IPVS gets. Said, since it differs.
    let port_checked = rs.checkers.iter().any(|c| {
        c.common.connect_port.is_none()
            && matches!(
                c.kind,
                CheckerKind::Tcp
                    | CheckerKind::Http(_)
                    | CheckerKind::Ssl(_)
                    | CheckerKind::Smtp { .. }
                    | CheckerKind::Dns(_)
                    | CheckerKind::Udp(_)
            )
    });
    if port.is_none() && vs_port != 0 && port_checked {
        d.quiet_warning(
            Some(&node.location),
            format!(
                "real server {address} has no port: keepalived-rs checks it on the virtual server's port {vs_port}; keepalived 2.2.7 checks port 0 and takes it out of the pool"
            ),
        )
        .with_help("write the port (or connect_port) to behave the same under both");
    }
    Some(rs)
}

/// Whether a hex string is valid for UDP_CHECK (`X` wildcards allowed in replies).
fn valid_hex(s: &str, wildcards: bool) -> bool {
    let s = s.strip_prefix("0x").unwrap_or(s);
    !s.is_empty()
        && s.len() % 2 == 0
        && s.chars()
            .all(|c| c.is_ascii_hexdigit() || (wildcards && (c == 'X' || c == 'x')))
}

/// A checker block, with the real server's (already merged) inherited settings.
fn checker(
    node: &Node,
    outer: &Inherited,
    rs_address: IpAddr,
    d: &mut Diagnostics,
) -> Option<Checker> {
    let block_path = node.keyword.as_str();
    let url_path = "HTTP_GET.url";
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
    let mut misc_user_given = false;
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
    let mut file: (Option<String>, Option<i64>, bool) = (None, None, false);
    let mut bfd_names: Vec<String> = Vec::new();
    for kw in block_lines(node, d) {
        let k = kw.keyword.as_str();
        if !known(block_path, k) {
            super::unknown_keyword(block_path, kw, d);
            continue;
        }
        if k == "nb_get_retry" {
            d.warning(
                Some(&kw.location),
                "nb_get_retry is deprecated - please use 'retry'",
            );
            inh.retry = uint(kw, 0, 0, u64::from(u32::MAX), d)
                .map(|v| v as u32)
                .or(inh.retry);
            continue;
        }
        if inh.keyword(kw, Level::Checker, d) {
            continue;
        }
        match (block_path, k) {
            (_, "connect_ip") => common.connect_ip = ip(kw, 0, d),
            (_, "connect_port") => common.connect_port = uint(kw, 0, 1, 65535, d).map(|v| v as u16),
            (_, "bindto") => common.bindto = ip(kw, 0, d),
            (_, "bind_port") => common.bind_port = uint(kw, 0, 1, 65535, d).map(|v| v as u16),
            (_, "bind_if") => common.bind_if = word(kw, 0, d),
            (_, "fwmark") => {
                common.fwmark = uint(kw, 0, 0, u64::from(u32::MAX), d).map(|v| v as u32)
            }
            (_, "log_all_failures") => common.log_all_failures = flag(kw, d).unwrap_or(true),
            ("HTTP_GET" | "SSL_GET", "url") => {
                if let Some(u) = url(kw, url_path, d) {
                    http.urls.push(u);
                }
            }
            ("HTTP_GET" | "SSL_GET", "http_protocol") => match kw.arg(0) {
                Some(a) if matches!(a.text.as_str(), "1.0" | "1.0C" | "1.1") => {
                    http.http_protocol = a.text.to_string()
                }
                Some(a) => {
                    d.error(
                        Some(&a.location),
                        format!("invalid http_protocol version {}", a.text),
                    )
                    .with_help("expected 1.0, 1.0C or 1.1");
                }
                None => {
                    d.error(Some(&kw.location), "missing http_protocol version");
                }
            },
            ("HTTP_GET" | "SSL_GET", "fast_recovery") => {
                http.fast_recovery = flag(kw, d).unwrap_or(true)
            }
            ("HTTP_GET" | "SSL_GET", "virtualhost") => match kw.arg(0) {
                Some(a) => http.virtualhost = Some(a.text.to_string()),
                None => {
                    d.error(
                        Some(&kw.location),
                        format!("{block_path} virtualhost name missing"),
                    );
                }
            },
            ("HTTP_GET" | "SSL_GET", "enable_sni") => http.enable_sni = flag(kw, d).unwrap_or(true),
            ("SMTP_CHECK", "helo_name") => match kw.arg(0) {
                Some(a) => helo_name = Some(a.text.to_string()),
                None => {
                    d.error(Some(&kw.location), "SMTP_CHECK helo name missing");
                }
            },
            ("SMTP_CHECK", "host") => {
                for h in block_lines(kw, d) {
                    if !known("SMTP_CHECK.host", &h.keyword) {
                        super::unknown_keyword("SMTP_CHECK.host", h, d);
                    }
                }
                other.push(raw(block_path, kw));
            }
            ("MISC_CHECK", "misc_path") => {
                if kw.args.is_empty() {
                    d.error(
                        Some(&kw.location),
                        "no script path has been specified for MISC_CHECKER - skipping",
                    );
                } else {
                    misc.script = script_value(kw, d);
                }
            }
            ("MISC_CHECK", "misc_timeout") => {
                // Whole seconds (keepalived: "number '1.5' invalid", range [0, 4294]).
                misc.timeout_us =
                    uint(kw, 0, 0, u64::from(u32::MAX) / 1_000_000, d).map(|s| s * 1_000_000)
            }
            ("MISC_CHECK", "misc_dynamic") => misc.dynamic = true,
            ("MISC_CHECK", "user") => {
                misc_user_given = true;
                if kw.args.is_empty() {
                    d.error(
                        Some(&kw.location),
                        "no user specified for misc checker script",
                    );
                } else {
                    misc_user = run_as(kw, d);
                }
            }
            ("DNS_CHECK", "type") => {
                if let Some(t) = word(kw, 0, d) {
                    let t = t.to_ascii_uppercase();
                    if matches!(
                        t.as_str(),
                        "A" | "NS" | "CNAME" | "SOA" | "MX" | "TXT" | "AAAA" | "RRSIG" | "DNSKEY"
                    ) {
                        dns.query_type = t;
                    } else {
                        d.error(
                            Some(kw.arg_location(0)),
                            format!("unknown DNS check type {t} - ignoring"),
                        )
                        .with_help("expected A, NS, CNAME, SOA, MX, TXT, AAAA, RRSIG or DNSKEY");
                    }
                }
            }
            ("DNS_CHECK", "name") => {
                if let Some(n) = word(kw, 0, d) {
                    // keepalived's empty-label test: a leading dot (except "."), or a dot
                    // after the first character or after any dot ("a.b" fails too).
                    let b = n.as_bytes();
                    let invalid = (b.first() == Some(&b'.') && b.len() > 1)
                        || b.get(1) == Some(&b'.')
                        || n.contains("..");
                    if invalid {
                        d.error(
                            Some(kw.arg_location(0)),
                            format!("DNS_CHECK name '{n}' has empty label - ignoring"),
                        );
                    } else {
                        dns.name = n;
                    }
                }
            }
            ("UDP_CHECK", "payload") => match kw.arg(0) {
                Some(a) if valid_hex(&a.text, false) => udp.payload = Some(a.text.to_string()),
                Some(_) => {
                    d.error(
                        Some(&kw.location),
                        "invalid hex string for UDP_CHECK payload",
                    );
                }
                None => {
                    d.error(Some(&kw.location), "UDP_CHECK payload requires a payload");
                }
            },
            ("UDP_CHECK", "require_reply") => match kw.arg(0) {
                Some(a) if valid_hex(&a.text, true) => udp.require_reply = Some(a.text.to_string()),
                Some(_) => {
                    d.error(Some(&kw.location), "invalid hex string for UDP_CHECK reply");
                }
                None => udp.require_reply = Some(String::new()),
            },
            ("UDP_CHECK", "min_reply_length") => {
                if let Some(v) = uint(kw, 0, 0, 65535, d) {
                    udp.min_reply_length = v as u32;
                }
            }
            ("UDP_CHECK", "max_reply_length") => {
                if let Some(v) = uint(kw, 0, 0, 65535, d) {
                    udp.max_reply_length = v as u32;
                }
            }
            ("FILE_CHECK", "track_file") => file.0 = word(kw, 0, d),
            ("FILE_CHECK", "weight") => {
                if kw.args.is_empty() {
                    d.error(Some(&kw.location), "track file weight missing");
                } else {
                    file.1 = int(kw, 0, -2_147_483_647, 2_147_483_647, d);
                    file.2 = kw.arg(1).is_some_and(|a| a.text == "reverse");
                }
            }
            ("BFD_CHECK", "name") => {
                if kw.args.len() == 1 {
                    bfd_names.push(kw.args[0].text.to_string());
                } else {
                    d.error(
                        Some(&kw.location),
                        "BFD_CHECK - no or too many names specified - skipping checker",
                    );
                }
            }
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
    if let Some(IpAddr::V6(v6)) = common.connect_ip {
        if v6.is_unicast_link_local() && common.bind_if.is_none() {
            d.error(
                Some(&node.location),
                format!("checker link local address {v6} requires a bind_if"),
            );
        }
    }
    if let Some(b) = common.bindto {
        let target = common.connect_ip.unwrap_or(rs_address);
        if b.is_ipv4() != target.is_ipv4() {
            d.error(
                Some(&node.location),
                format!(
                    "bindto address {b} does not match address family of connect_ip - skipping"
                ),
            );
            common.bindto = None;
        }
    }
    if let (Some(s), Some(u)) = (&mut misc.script, misc_user) {
        s.user = Some(u.user);
        s.group = u.group;
    } else if misc_user_given {
        // Reported above; the script keeps the default user.
    }
    let kind = match block_path {
        "TCP_CHECK" => CheckerKind::Tcp,
        "HTTP_GET" | "SSL_GET" => {
            if http.urls.is_empty() {
                // keepalived 2.2.7 reports this and then crashes; we report it and drop the check.
                d.error(
                    Some(&node.location),
                    format!("{block_path} checker has no urls specified - ignoring"),
                )
                .with_help("add 'url { path / }'");
                return None;
            }
            if block_path == "HTTP_GET" {
                CheckerKind::Http(http)
            } else {
                CheckerKind::Ssl(http)
            }
        }
        "SMTP_CHECK" => CheckerKind::Smtp { helo_name },
        "MISC_CHECK" => {
            if misc.script.is_none() {
                d.error(
                    Some(&node.location),
                    "MISC_CHECK without a usable misc_path - skipping",
                );
                return None;
            }
            CheckerKind::Misc(misc)
        }
        "DNS_CHECK" => CheckerKind::Dns(dns),
        "UDP_CHECK" => {
            if udp.min_reply_length > udp.max_reply_length {
                d.error(
                    Some(&node.location),
                    format!(
                        "UDP_CHECK min_reply length {} > max_reply_length {} - will always fail",
                        udp.min_reply_length, udp.max_reply_length
                    ),
                );
            }
            CheckerKind::Udp(udp)
        }
        "PING_CHECK" => CheckerKind::Ping,
        "FILE_CHECK" => {
            if file.0.is_none() {
                d.error(
                    Some(&node.location),
                    "FILE_CHECK has no track_file specified - ignoring",
                );
                return None;
            }
            CheckerKind::File {
                track_file: file.0,
                weight: file.1,
                reverse: file.2,
            }
        }
        _ => {
            if bfd_names.len() != 1 {
                if bfd_names.is_empty() {
                    d.error(
                        Some(&node.location),
                        "no name has been specified for BFD_CHECKER - skipping",
                    );
                }
                return None;
            }
            CheckerKind::Bfd {
                name: bfd_names.pop(),
            }
        }
    };
    Some(Checker {
        kind,
        common,
        other,
        location: node.location.clone(),
    })
}

/// `url { path ; digest ; status_code ; virtualhost ; regex ... }`; None when it has no path.
fn url(node: &Node, path: &str, d: &mut Diagnostics) -> Option<Url> {
    let mut u = Url {
        path: String::new(),
        digest: None,
        status_codes: vec![],
        virtualhost: None,
        regex: None,
        regex_no_match: false,
        other: vec![],
    };
    let mut have_path = false;
    for kw in block_lines(node, d) {
        let k = kw.keyword.as_str();
        if !known(path, k) {
            super::unknown_keyword(path, kw, d);
            continue;
        }
        match k {
            "path" => {
                if let Some(p) = word(kw, 0, d) {
                    u.path = p;
                    have_path = true;
                }
            }
            "digest" => {
                if let Some(dg) = word(kw, 0, d) {
                    if u.digest.is_some() {
                        d.error(
                            Some(kw.arg_location(0)),
                            format!("digest '{dg}' is a duplicate"),
                        );
                    } else if dg.len() != 32 {
                        d.error(
                            Some(kw.arg_location(0)),
                            format!(
                                "digest '{dg}' character length should be 32 rather than {}",
                                dg.len()
                            ),
                        );
                    } else if !dg.chars().all(|c| c.is_ascii_hexdigit()) {
                        d.error(
                            Some(kw.arg_location(0)),
                            format!("unable to interpret hex digit in '{dg}'"),
                        );
                    } else {
                        u.digest = Some(dg.to_ascii_lowercase());
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
                                format!("invalid HTTP_GET status code '{}'", a.text),
                            )
                            .with_help("expected codes 100..599, or ranges like 200-299");
                        }
                    }
                }
            }
            "virtualhost" => match kw.arg(0) {
                Some(a) => u.virtualhost = Some(a.text.to_string()),
                None => {
                    d.error(Some(&kw.location), "missing HTTP_GET virtualhost name");
                }
            },
            "regex" => u.regex = kw.arg(0).map(|a| a.text.to_string()),
            "regex_no_match" => u.regex_no_match = true,
            _ => other_keyword(path, kw, &mut u.other, d),
        }
    }
    if u.status_codes.is_empty() {
        u.status_codes.push((200, 299));
    }
    if !have_path {
        d.error(
            Some(&node.location),
            "HTTP/SSL_GET checker url has no path - ignoring",
        )
        .with_help("add 'path /'");
        return None;
    }
    Some(u)
}

/// Keeps a raw copy of an `SSL` block, checking its keywords.
pub(super) fn ssl_block(node: &Node, d: &mut Diagnostics) -> RawStatement {
    for kw in block_lines(node, d) {
        if !known("SSL", &kw.keyword) {
            super::unknown_keyword("SSL", kw, d);
        } else if kw.args.is_empty() {
            d.error(Some(&kw.location), format!("SSL {} missing", kw.keyword));
        }
    }
    raw("root", node)
}
