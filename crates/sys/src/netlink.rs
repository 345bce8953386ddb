//! rtnetlink edge: install and remove VIPs, virtual routes and rules; list links and
//! addresses; watch link and address changes.
//!
//! Synchronous on purpose. The daemon runs these calls on a worker thread and reports each
//! result back to the VRRP engine as an input (`AddressesApplied`, a failure means FAULT),
//! so blocking here never delays an advert, and no async runtime is needed.
//!
//! ```text
//!  engine thread ──requests──> netlink worker: Netlink (request/ACK socket)
//!        ^                               │ add_address / del_route / links() ...
//!        └──── inputs (applied, failed) ─┘
//!  engine thread <── Event::Link / AddressRemoved ... ── Watcher (multicast socket, polled)
//! ```
//!
//! Messages are built and parsed with `netlink-packet-route`; the socket is `netlink-sys`.
//! The public types ([`AddressSpec`], [`LinkInfo`]...) are our own, so the crates' churn
//! stays inside this module.

mod error;
mod socket;
mod types;
mod watcher;

use std::net::IpAddr;
use std::os::fd::{AsRawFd, RawFd};
use std::time::Duration;

use netlink_packet_core::{NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL, NLM_F_REQUEST};
use netlink_packet_route::address::{
    AddressAttribute, AddressFlags, AddressHeaderFlags, AddressMessage, AddressScope, CacheInfo,
};
use netlink_packet_route::link::{LinkAttribute, LinkMessage};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use netlink_packet_route::rule::{
    RuleAction as NlRuleAction, RuleAttribute, RuleFlags, RuleMessage,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};

pub use error::NetlinkError;
pub use types::{
    ipv4_broadcast, AddrFlags, AddrInfo, AddressSpec, Family, IpPrefix, LinkInfo, RouteKind,
    RouteSpec, RuleAction, RuleSpec, RTPROT_BOOT, RTPROT_KEEPALIVED, RT_TABLE_MAIN,
};
pub use watcher::{Event, Watcher};

use socket::{deadline_after, frames, RtSocket, NLMSG_DONE, NLMSG_ERROR};

/// How long a request waits for the kernel unless [`Netlink::set_timeout`] says otherwise.
/// The kernel answers in microseconds; a timeout means something is badly wrong, and the
/// worker must not hang forever.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// How often a dump is retried when concurrent changes interrupt it.
const DUMP_RETRIES: usize = 5;

/// Lifetime value meaning "forever" in IFA_CACHEINFO.
const INFINITY_LIFE_TIME: u32 = u32::MAX;
const IFNAMSIZ: usize = 16;

/// One NETLINK_ROUTE request socket: each call sends one request and blocks (up to the
/// timeout) for the kernel's ACK or dump.
///
/// Not `Sync`-shared on purpose: one worker thread owns it and serialises the requests,
/// which is also the order keepalived applies them in. The network namespace is the one of
/// the thread that opened it.
pub struct Netlink {
    sock: RtSocket,
    seq: u32,
    timeout: Duration,
}

impl std::fmt::Debug for Netlink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Netlink")
            .field("fd", &self.sock.as_raw_fd())
            .field("seq", &self.seq)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl Netlink {
    /// Opens the request socket in the calling thread's network namespace.
    pub fn open() -> Result<Self, NetlinkError> {
        Ok(Self {
            sock: RtSocket::open(&[])?,
            seq: 0,
            timeout: DEFAULT_TIMEOUT,
        })
    }

    /// Changes how long each request waits for the kernel before [`NetlinkError::Timeout`].
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// Adds a VIP. [`NetlinkError::Exists`] means it is already there (not a fault for
    /// keepalived, but worth a log line: someone else may own it).
    pub fn add_address(&mut self, spec: &AddressSpec) -> Result<(), NetlinkError> {
        let msg = address_message(spec, true)?;
        self.request(
            RouteNetlinkMessage::NewAddress(msg),
            NLM_F_CREATE | NLM_F_EXCL,
        )
    }

    /// Removes a VIP. [`NetlinkError::AddressNotAvailable`] means it was already gone.
    pub fn del_address(&mut self, spec: &AddressSpec) -> Result<(), NetlinkError> {
        let msg = address_message(spec, false)?;
        self.request(RouteNetlinkMessage::DelAddress(msg), 0)
    }

    /// Adds a virtual route; [`NetlinkError::Exists`] if an identical route is present.
    pub fn add_route(&mut self, spec: &RouteSpec) -> Result<(), NetlinkError> {
        let msg = route_message(spec, true)?;
        self.request(
            RouteNetlinkMessage::NewRoute(msg),
            NLM_F_CREATE | NLM_F_EXCL,
        )
    }

    /// Deletes a virtual route; [`NetlinkError::NotFound`] (ESRCH) if it is not there.
    pub fn del_route(&mut self, spec: &RouteSpec) -> Result<(), NetlinkError> {
        let msg = route_message(spec, false)?;
        self.request(RouteNetlinkMessage::DelRoute(msg), 0)
    }

    /// Adds a policy rule; [`NetlinkError::Exists`] if an identical rule is present.
    pub fn add_rule(&mut self, spec: &RuleSpec) -> Result<(), NetlinkError> {
        let msg = rule_message(spec, true)?;
        self.request(RouteNetlinkMessage::NewRule(msg), NLM_F_CREATE | NLM_F_EXCL)
    }

    /// Deletes a policy rule; [`NetlinkError::NotFound`] (ENOENT) if it is not there.
    pub fn del_rule(&mut self, spec: &RuleSpec) -> Result<(), NetlinkError> {
        let msg = rule_message(spec, false)?;
        self.request(RouteNetlinkMessage::DelRule(msg), 0)
    }

    /// Every interface with its admin and carrier state, for startup and for resyncing
    /// after the watcher reports an overrun.
    pub fn links(&mut self) -> Result<Vec<LinkInfo>, NetlinkError> {
        let msgs = self.dump(RouteNetlinkMessage::GetLink(LinkMessage::default()))?;
        Ok(msgs
            .iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewLink(l) => Some(types::link_info(l)),
                _ => None,
            })
            .collect())
    }

    /// Every IPv4 and IPv6 address, so a starting daemon can find VIPs a dead predecessor
    /// left and wait for tentative IPv6 VIPs before sending NAs.
    pub fn addresses(&mut self) -> Result<Vec<AddrInfo>, NetlinkError> {
        let msgs = self.dump(RouteNetlinkMessage::GetAddress(AddressMessage::default()))?;
        Ok(msgs
            .iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewAddress(a) => types::addr_info(a),
                _ => None,
            })
            .collect())
    }

    /// The index of the interface called `name`, `None` if there is none; the config names
    /// interfaces, the kernel wants indexes.
    pub fn ifindex(&mut self, name: &str) -> Result<Option<u32>, NetlinkError> {
        if name.is_empty() || name.len() >= IFNAMSIZ {
            return Ok(None);
        }
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(name.to_owned()));
        let seq = self.next_seq();
        self.sock.send(&socket::encode(
            RouteNetlinkMessage::GetLink(msg),
            NLM_F_REQUEST,
            seq,
        ))?;
        let deadline = deadline_after(self.timeout);
        loop {
            let buf = self.sock.recv_until(deadline)?;
            for f in frames(buf) {
                if f.seq != seq {
                    continue;
                }
                if f.msg_type == NLMSG_ERROR {
                    let (code, message) = f.error_code()?;
                    return match NetlinkError::from_errno(code, message) {
                        NetlinkError::NoDevice { .. } => Ok(None),
                        _ if code == 0 => Ok(None),
                        e => Err(e),
                    };
                }
                if let RouteNetlinkMessage::NewLink(l) = f.route_message()? {
                    return Ok(Some(l.header.index));
                }
            }
        }
    }

    fn next_seq(&mut self) -> u32 {
        self.seq = self.seq.wrapping_add(1).max(1);
        self.seq
    }

    /// Sends a request with NLM_F_ACK and waits for the matching NLMSG_ERROR.
    fn request(&mut self, msg: RouteNetlinkMessage, flags: u16) -> Result<(), NetlinkError> {
        let seq = self.next_seq();
        self.sock
            .send(&socket::encode(msg, NLM_F_REQUEST | NLM_F_ACK | flags, seq))?;
        let deadline = deadline_after(self.timeout);
        loop {
            let buf = self.sock.recv_until(deadline)?;
            for f in frames(buf) {
                // Answers to earlier, timed-out requests carry older sequence numbers.
                if f.seq != seq || f.msg_type != NLMSG_ERROR {
                    continue;
                }
                let (code, message) = f.error_code()?;
                return if code == 0 {
                    Ok(())
                } else {
                    Err(NetlinkError::from_errno(code, message))
                };
            }
        }
    }

    /// Runs a dump to NLMSG_DONE, retrying when the kernel flags it inconsistent.
    fn dump(&mut self, msg: RouteNetlinkMessage) -> Result<Vec<RouteNetlinkMessage>, NetlinkError> {
        for _ in 0..DUMP_RETRIES {
            let seq = self.next_seq();
            self.sock.send(&socket::encode(
                msg.clone(),
                NLM_F_REQUEST | NLM_F_DUMP,
                seq,
            ))?;
            let deadline = deadline_after(self.timeout);
            let mut out = Vec::new();
            let mut interrupted = false;
            'recv: loop {
                let buf = self.sock.recv_until(deadline)?;
                for f in frames(buf) {
                    if f.seq != seq {
                        continue;
                    }
                    interrupted |= f.dump_interrupted();
                    match f.msg_type {
                        NLMSG_DONE | NLMSG_ERROR => {
                            let (code, message) = f.error_code()?;
                            if code != 0 {
                                return Err(NetlinkError::from_errno(code, message));
                            }
                            break 'recv;
                        }
                        // One entry the codec cannot read (an exotic link kind) must
                        // not hide every other interface; log it and go on.
                        _ => match f.route_message() {
                            Ok(m) => out.push(m),
                            Err(e) => tracing::warn!(
                                msg_type = f.msg_type,
                                error = %e,
                                "skipping undecodable netlink dump entry"
                            ),
                        },
                    }
                }
            }
            if !interrupted {
                return Ok(out);
            }
        }
        Err(NetlinkError::DumpInterrupted)
    }
}

impl AsRawFd for Netlink {
    /// The request socket, for diagnostics; requests are synchronous, so callers do not
    /// poll it.
    fn as_raw_fd(&self) -> RawFd {
        self.sock.as_raw_fd()
    }
}

fn family_of(addr: &IpAddr) -> AddressFamily {
    Family::of(addr).to_af()
}

fn same_family(a: &IpAddr, b: &IpAddr) -> bool {
    a.is_ipv4() == b.is_ipv4()
}

fn address_message(spec: &AddressSpec, add: bool) -> Result<AddressMessage, NetlinkError> {
    IpPrefix::new(spec.address, spec.prefix_len)
        .check()
        .map_err(NetlinkError::Invalid)?;
    if let Some(peer) = &spec.peer {
        if !same_family(peer, &spec.address) {
            return Err(NetlinkError::Invalid(format!(
                "peer {peer} and address {} differ in family",
                spec.address
            )));
        }
    }
    let mut msg = AddressMessage::default();
    msg.header.family = family_of(&spec.address);
    msg.header.prefix_len = spec.prefix_len;
    msg.header.index = spec.ifindex;
    msg.header.scope = AddressScope::from(spec.scope.unwrap_or(0));
    // IFA_LOCAL is the address; IFA_ADDRESS is the peer, or the address itself, as `ip`
    // sends it (the kernel matches deletes on both).
    msg.attributes.push(AddressAttribute::Local(spec.address));
    msg.attributes
        .push(AddressAttribute::Address(spec.peer.unwrap_or(spec.address)));
    if !add {
        return Ok(msg);
    }
    let bits = spec.flags.bits();
    // The header carries the low 8 bits for old kernels; IFA_FLAGS carries all 32.
    msg.header.flags = AddressHeaderFlags::from_bits_retain((bits & 0xff) as u8);
    if bits != 0 {
        msg.attributes
            .push(AddressAttribute::Flags(AddressFlags::from_bits_retain(
                bits,
            )));
    }
    if spec.address.is_ipv4() {
        if let Some(brd) = spec.broadcast {
            msg.attributes.push(AddressAttribute::Broadcast(brd));
        }
        if let Some(label) = &spec.label {
            if label.is_empty() || label.len() >= IFNAMSIZ {
                return Err(NetlinkError::Invalid(format!(
                    "label {label:?} must be 1 to {} bytes",
                    IFNAMSIZ - 1
                )));
            }
            msg.attributes.push(AddressAttribute::Label(label.clone()));
        }
    } else if spec.broadcast.is_some() {
        return Err(NetlinkError::Invalid(format!(
            "broadcast given for IPv6 address {}",
            spec.address
        )));
    }
    if let Some(preferred) = spec.preferred_lft {
        let mut ci = CacheInfo::default();
        ci.ifa_preferred = preferred;
        ci.ifa_valid = INFINITY_LIFE_TIME;
        msg.attributes.push(AddressAttribute::CacheInfo(ci));
    }
    Ok(msg)
}

fn route_message(spec: &RouteSpec, add: bool) -> Result<RouteMessage, NetlinkError> {
    spec.dst.check().map_err(NetlinkError::Invalid)?;
    for other in [spec.gateway.as_ref(), spec.src.as_ref()]
        .into_iter()
        .flatten()
    {
        if !same_family(other, &spec.dst.addr) {
            return Err(NetlinkError::Invalid(format!(
                "{other} and destination {} differ in family",
                spec.dst.addr
            )));
        }
    }
    let mut msg = RouteMessage::default();
    let h = &mut msg.header;
    h.address_family = family_of(&spec.dst.addr);
    h.destination_prefix_length = spec.dst.len;
    h.table = u8::try_from(spec.table).unwrap_or(RouteHeader::RT_TABLE_UNSPEC);
    h.kind = match spec.kind {
        RouteKind::Unicast => RouteType::Unicast,
        RouteKind::Blackhole => RouteType::BlackHole,
        RouteKind::Unreachable => RouteType::Unreachable,
        RouteKind::Prohibit => RouteType::Prohibit,
    };
    if add {
        h.protocol = RouteProtocol::from(spec.protocol.unwrap_or(RTPROT_BOOT));
        h.scope = match spec.scope {
            Some(s) => RouteScope::from(s),
            None if spec.kind == RouteKind::Unicast
                && spec.gateway.is_none()
                && spec.dst.addr.is_ipv4() =>
            {
                RouteScope::Link
            }
            None => RouteScope::Universe,
        };
    } else {
        // As `ip route del`: match any scope and protocol unless told.
        h.protocol = RouteProtocol::from(spec.protocol.unwrap_or(0));
        h.scope = spec.scope.map_or(RouteScope::NoWhere, RouteScope::from);
    }
    msg.attributes.push(RouteAttribute::Table(spec.table));
    if spec.dst.len > 0 {
        msg.attributes
            .push(RouteAttribute::Destination(RouteAddress::from(
                spec.dst.addr,
            )));
    }
    if let Some(gw) = spec.gateway {
        msg.attributes
            .push(RouteAttribute::Gateway(RouteAddress::from(gw)));
    }
    if let Some(src) = spec.src {
        msg.attributes
            .push(RouteAttribute::PrefSource(RouteAddress::from(src)));
    }
    if let Some(oif) = spec.ifindex {
        msg.attributes.push(RouteAttribute::Oif(oif));
    }
    if let Some(metric) = spec.metric {
        msg.attributes.push(RouteAttribute::Priority(metric));
    }
    Ok(msg)
}

fn rule_message(spec: &RuleSpec, add: bool) -> Result<RuleMessage, NetlinkError> {
    for p in [spec.from.as_ref(), spec.to.as_ref()].into_iter().flatten() {
        p.check().map_err(NetlinkError::Invalid)?;
        if Family::of(&p.addr) != spec.family {
            return Err(NetlinkError::Invalid(format!(
                "rule selector {} is not {:?}",
                p.addr, spec.family
            )));
        }
    }
    for name in [spec.iif.as_ref(), spec.oif.as_ref()].into_iter().flatten() {
        if name.is_empty() || name.len() >= IFNAMSIZ {
            return Err(NetlinkError::Invalid(format!(
                "interface name {name:?} must be 1 to {} bytes",
                IFNAMSIZ - 1
            )));
        }
    }
    let mut msg = RuleMessage::default();
    let h = &mut msg.header;
    h.family = spec.family.to_af();
    h.flags = RuleFlags::empty();
    let (action, table) = match spec.action {
        RuleAction::Table(t) => (NlRuleAction::ToTable, Some(t)),
        RuleAction::Blackhole => (NlRuleAction::Blackhole, None),
        RuleAction::Unreachable => (NlRuleAction::Unreachable, None),
        RuleAction::Prohibit => (NlRuleAction::Prohibit, None),
    };
    h.action = action;
    if let Some(t) = table {
        h.table = u8::try_from(t).unwrap_or(RouteHeader::RT_TABLE_UNSPEC);
        msg.attributes.push(RuleAttribute::Table(t));
    }
    if let Some(from) = spec.from {
        msg.header.src_len = from.len;
        msg.attributes.push(RuleAttribute::Source(from.addr));
    }
    if let Some(to) = spec.to {
        msg.header.dst_len = to.len;
        msg.attributes.push(RuleAttribute::Destination(to.addr));
    }
    if let Some(p) = spec.priority {
        msg.attributes.push(RuleAttribute::Priority(p));
    }
    if let Some(m) = spec.fwmark {
        msg.attributes.push(RuleAttribute::FwMark(m));
    }
    if let Some(m) = spec.fwmask {
        msg.attributes.push(RuleAttribute::FwMask(m));
    }
    if let Some(i) = &spec.iif {
        msg.attributes.push(RuleAttribute::Iifname(i.clone()));
    }
    if let Some(o) = &spec.oif {
        msg.attributes.push(RuleAttribute::Oifname(o.clone()));
    }
    if let Some(p) = spec.protocol {
        if add {
            msg.attributes
                .push(RuleAttribute::Protocol(RouteProtocol::from(p)));
        }
    }
    Ok(msg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv6Addr;

    #[test]
    fn address_request_carries_flags_and_lifetime() {
        let mut spec = AddressSpec::new(
            3,
            IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 5)),
            128,
        );
        spec.flags = AddrFlags::NODAD | AddrFlags::NOPREFIXROUTE;
        spec.preferred_lft = Some(0);
        let msg = address_message(&spec, true).unwrap();
        assert_eq!(msg.header.flags.bits(), 0x02);
        assert!(msg
            .attributes
            .contains(&AddressAttribute::Flags(AddressFlags::from_bits_retain(
                0x202
            ))));
        assert!(msg.attributes.iter().any(|a| matches!(
            a,
            AddressAttribute::CacheInfo(c) if c.ifa_preferred == 0 && c.ifa_valid == u32::MAX
        )));
        // A delete only names the address.
        let del = address_message(&spec, false).unwrap();
        assert_eq!(del.attributes.len(), 2);
    }

    #[test]
    fn invalid_requests_are_refused_before_the_kernel() {
        let mut spec = AddressSpec::new(1, "10.200.0.1".parse().unwrap(), 33);
        assert!(matches!(
            address_message(&spec, true),
            Err(NetlinkError::Invalid(_))
        ));
        spec.prefix_len = 24;
        spec.label = Some("x".repeat(16));
        assert!(matches!(
            address_message(&spec, true),
            Err(NetlinkError::Invalid(_))
        ));
        let mut rule = RuleSpec::new(Family::V6, RuleAction::Table(100));
        rule.from = Some(IpPrefix::new("10.200.0.0".parse().unwrap(), 16));
        assert!(matches!(
            rule_message(&rule, true),
            Err(NetlinkError::Invalid(_))
        ));
    }

    #[test]
    fn errno_mapping() {
        assert!(matches!(
            NetlinkError::from_errno(-libc::EEXIST, None),
            NetlinkError::Exists { .. }
        ));
        assert!(matches!(
            NetlinkError::from_errno(-libc::EADDRNOTAVAIL, None),
            NetlinkError::AddressNotAvailable { .. }
        ));
        let e = NetlinkError::from_errno(-libc::EPERM, Some("nope".into()));
        assert_eq!(e.errno(), Some(libc::EPERM));
        assert!(!e.already_done());
        assert!(e.to_string().contains("nope"));
    }
}
