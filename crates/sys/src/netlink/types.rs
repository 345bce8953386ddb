//! Requests (what we ask the kernel to install) and reports (what it tells us it has),
//! kept free of the netlink crates' types so callers never depend on their version churn.

use std::net::{IpAddr, Ipv4Addr};
use std::ops::{BitOr, BitOrAssign};

use netlink_packet_route::address::{AddressAttribute, AddressFlags, AddressMessage};
use netlink_packet_route::link::{LinkAttribute, LinkFlags, LinkMessage};
use netlink_packet_route::AddressFamily;

/// IFA_F_* flags for an address we install.
///
/// A plain bit set rather than a set of bools, because the kernel field is a bit set and
/// keepalived's configuration maps words (`nodad`, `noprefixroute`, `home`, `mngtmpaddr`,
/// `autojoin`) to these bits one to one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct AddrFlags(u32);

impl AddrFlags {
    /// No flags: the kernel's defaults (DAD runs for IPv6, a prefix route is created).
    pub const NONE: Self = Self(0);
    /// IFA_F_NODAD: skip IPv6 duplicate address detection, so a VIP is usable at once
    /// instead of staying tentative for a second.
    pub const NODAD: Self = Self(0x02);
    /// IFA_F_HOMEADDRESS: Mobile IPv6 home address (`home`).
    pub const HOME: Self = Self(0x10);
    /// IFA_F_MANAGETEMPADDR: let the kernel derive privacy addresses (`mngtmpaddr`).
    pub const MNGTMPADDR: Self = Self(0x100);
    /// IFA_F_NOPREFIXROUTE: do not add the connected-prefix route (`noprefixroute`).
    pub const NOPREFIXROUTE: Self = Self(0x200);
    /// IFA_F_MCAUTOJOIN: join the multicast group the address names (`autojoin`).
    pub const MCAUTOJOIN: Self = Self(0x400);

    /// Builds a set from raw IFA_F_* bits, for flags this type has no name for.
    pub const fn from_bits(bits: u32) -> Self {
        Self(bits)
    }

    /// The raw IFA_F_* bits, as the kernel's IFA_FLAGS attribute carries them.
    pub const fn bits(self) -> u32 {
        self.0
    }

    /// Whether every bit of `other` is set, so callers can test one word of the config.
    pub const fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }
}

impl BitOr for AddrFlags {
    type Output = Self;
    fn bitor(self, rhs: Self) -> Self {
        Self(self.0 | rhs.0)
    }
}

impl BitOrAssign for AddrFlags {
    fn bitor_assign(&mut self, rhs: Self) {
        self.0 |= rhs.0;
    }
}

/// One address to add to or delete from an interface, with everything keepalived's
/// `virtual_ipaddress` line can say about it.
///
/// Deleting needs only `ifindex`, `address`, `prefix_len` (and `peer` for point-to-point
/// addresses); the other fields are ignored by a delete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressSpec {
    /// The interface the address lives on.
    pub ifindex: u32,
    /// The address itself (IFA_LOCAL).
    pub address: IpAddr,
    /// Prefix length; keepalived's default for a VIP without `/len` is 32 or 128.
    pub prefix_len: u8,
    /// IPv4 broadcast (`brd`); `None` leaves the kernel's default (no broadcast).
    /// See [`ipv4_broadcast`] for `brd +`.
    pub broadcast: Option<Ipv4Addr>,
    /// Address scope (`scope`: 0 global, 200 site, 253 link, 254 host); `None` is global.
    pub scope: Option<u8>,
    /// IPv4 label (`label`, e.g. `eth0:vip`), at most 15 bytes; ignored for IPv6, which
    /// has no labels.
    pub label: Option<String>,
    /// Point-to-point peer (`peer`), sent as IFA_ADDRESS.
    pub peer: Option<IpAddr>,
    /// IFA_F_* flags (`nodad`, `noprefixroute`, ...).
    pub flags: AddrFlags,
    /// Preferred lifetime in seconds (`preferred_lft`); `Some(0)` installs the address
    /// "deprecated" so the kernel does not pick an IPv6 VIP as a source address. `None`
    /// means forever. The valid lifetime is always forever.
    pub preferred_lft: Option<u32>,
}

impl AddressSpec {
    /// A plain address: no broadcast, label, peer or flags, global scope, lifetimes forever;
    /// callers fill in the public fields they need.
    pub fn new(ifindex: u32, address: IpAddr, prefix_len: u8) -> Self {
        Self {
            ifindex,
            address,
            prefix_len,
            broadcast: None,
            scope: None,
            label: None,
            peer: None,
            flags: AddrFlags::NONE,
            preferred_lft: None,
        }
    }
}

/// The broadcast address of `addr/prefix_len`, what `brd +` means in keepalived and `ip`.
pub fn ipv4_broadcast(addr: Ipv4Addr, prefix_len: u8) -> Ipv4Addr {
    if prefix_len >= 31 {
        return addr;
    }
    let host_mask = u32::MAX >> prefix_len;
    Ipv4Addr::from(u32::from(addr) | host_mask)
}

/// An address with a prefix length: a route destination or a rule selector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IpPrefix {
    /// The network (or host) address.
    pub addr: IpAddr,
    /// Prefix length, 0..=32 or 0..=128.
    pub len: u8,
}

impl IpPrefix {
    /// Pairs an address with its length; validity is checked when the request is built.
    pub fn new(addr: IpAddr, len: u8) -> Self {
        Self { addr, len }
    }

    pub(crate) fn check(&self) -> Result<(), String> {
        let max = if self.addr.is_ipv4() { 32 } else { 128 };
        if self.len > max {
            return Err(format!(
                "prefix length {} > {max} for {}",
                self.len, self.addr
            ));
        }
        Ok(())
    }
}

/// RTN_* route types keepalived's `virtual_routes` can install.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum RouteKind {
    /// A normal route through a gateway or out of an interface.
    #[default]
    Unicast,
    /// Silently drop (`blackhole`).
    Blackhole,
    /// Drop with ICMP unreachable (`unreachable`).
    Unreachable,
    /// Drop with ICMP administratively prohibited (`prohibit`).
    Prohibit,
}

/// The main routing table, where a route without `table` goes.
pub const RT_TABLE_MAIN: u32 = 254;
/// RTPROT_BOOT, the protocol `ip route add` stamps on routes by default.
pub const RTPROT_BOOT: u8 = 3;
/// RTPROT_KEEPALIVED, for callers that want their routes recognisable as keepalived's.
pub const RTPROT_KEEPALIVED: u8 = 18;

/// A simple (single-path) route, as keepalived's common `virtual_routes` lines need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteSpec {
    /// Destination prefix (`0.0.0.0/0` or `::/0` for a default route).
    pub dst: IpPrefix,
    /// Next hop (`via`), same family as `dst`.
    pub gateway: Option<IpAddr>,
    /// Output interface (`dev`).
    pub ifindex: Option<u32>,
    /// Preferred source address (`src`).
    pub src: Option<IpAddr>,
    /// Table id; [`RT_TABLE_MAIN`] unless the config says `table`.
    pub table: u32,
    /// Route priority (`metric`); `None` is the kernel default (0 for IPv4, 1024 for IPv6).
    pub metric: Option<u32>,
    /// RT_SCOPE_*; `None` picks what `ip` picks: link for an IPv4 unicast route without a
    /// gateway, global otherwise.
    pub scope: Option<u8>,
    /// Route type.
    pub kind: RouteKind,
    /// RTPROT_* stamped on the route; `None` is [`RTPROT_BOOT`] as with `ip route add`.
    pub protocol: Option<u8>,
}

impl RouteSpec {
    /// A unicast route to `dst` in the main table; callers fill in gateway, device and the
    /// rest through the public fields.
    pub fn new(dst: IpPrefix) -> Self {
        Self {
            dst,
            gateway: None,
            ifindex: None,
            src: None,
            table: RT_TABLE_MAIN,
            metric: None,
            scope: None,
            kind: RouteKind::Unicast,
            protocol: None,
        }
    }
}

/// What a policy rule does when it matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RuleAction {
    /// Look the packet up in this table (`table N`).
    Table(u32),
    /// Drop silently (`blackhole`).
    Blackhole,
    /// Drop with ICMP unreachable (`unreachable`).
    Unreachable,
    /// Drop with ICMP prohibited (`prohibit`).
    Prohibit,
}

/// Address family of a rule, needed because a rule without `from`/`to` has no address to
/// say which family it belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    /// AF_INET.
    V4,
    /// AF_INET6.
    V6,
}

impl Family {
    /// The family of an address.
    pub fn of(addr: &IpAddr) -> Self {
        if addr.is_ipv4() {
            Self::V4
        } else {
            Self::V6
        }
    }

    pub(crate) fn to_af(self) -> AddressFamily {
        match self {
            Self::V4 => AddressFamily::Inet,
            Self::V6 => AddressFamily::Inet6,
        }
    }
}

/// A policy routing rule, as keepalived's common `virtual_rules` lines need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleSpec {
    /// AF_INET or AF_INET6; must agree with `from` and `to`.
    pub family: Family,
    /// Source selector (`from`).
    pub from: Option<IpPrefix>,
    /// Destination selector (`to`).
    pub to: Option<IpPrefix>,
    /// What to do on a match.
    pub action: RuleAction,
    /// Rule priority (`priority`/`preference`); `None` lets the kernel choose, which makes
    /// a later delete ambiguous, so keepalived configs usually set it.
    pub priority: Option<u32>,
    /// Firewall mark (`fwmark`).
    pub fwmark: Option<u32>,
    /// Mask for `fwmark` (`fwmark N/MASK`).
    pub fwmask: Option<u32>,
    /// Input interface name (`iif`).
    pub iif: Option<String>,
    /// Output interface name (`oif`).
    pub oif: Option<String>,
    /// RTPROT_* stamped on the rule; `None` sends none (the kernel records "unspec").
    pub protocol: Option<u8>,
}

impl RuleSpec {
    /// A rule of `family` sending everything to `action`; callers add selectors.
    pub fn new(family: Family, action: RuleAction) -> Self {
        Self {
            family,
            from: None,
            to: None,
            action,
            priority: None,
            fwmark: None,
            fwmask: None,
            iif: None,
            oif: None,
            protocol: None,
        }
    }
}

/// An interface as the tracker and GARP code need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkInfo {
    /// Kernel interface index; it changes when an interface is deleted and re-created.
    pub ifindex: u32,
    /// Interface name.
    pub name: String,
    /// IFF_UP: administratively up.
    pub up: bool,
    /// IFF_RUNNING: operationally up (carrier present, not dormant); what keepalived's
    /// interface tracking looks at, since a cable pull keeps IFF_UP set.
    pub running: bool,
    /// Hardware address when it is Ethernet-sized (6 bytes); `None` for links without one.
    pub mac: Option<[u8; 6]>,
}

/// An address as the kernel reports it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AddrInfo {
    /// Interface index the address is on.
    pub ifindex: u32,
    /// The local address (IFA_LOCAL, or IFA_ADDRESS when there is no local).
    pub address: IpAddr,
    /// Prefix length.
    pub prefix_len: u8,
    /// IFA_F_TENTATIVE: IPv6 DAD still running; the address cannot be used as a source yet,
    /// so unsolicited NAs for it should wait.
    pub tentative: bool,
    /// IFA_F_DEPRECATED: preferred lifetime is over (or was 0).
    pub deprecated: bool,
    /// IFA_F_DADFAILED: another node owns the address.
    pub dad_failed: bool,
    /// IPv4 label, if the kernel reported one.
    pub label: Option<String>,
}

pub(crate) fn addr_info(msg: &AddressMessage) -> Option<AddrInfo> {
    match msg.header.family {
        AddressFamily::Inet | AddressFamily::Inet6 => {}
        _ => return None,
    }
    let mut local = None;
    let mut address = None;
    let mut label = None;
    let mut flags = AddressFlags::from_bits_retain(u32::from(msg.header.flags.bits()));
    for attr in &msg.attributes {
        match attr {
            AddressAttribute::Local(a) => local = Some(*a),
            AddressAttribute::Address(a) => address = Some(*a),
            AddressAttribute::Label(l) => label = Some(l.clone()),
            AddressAttribute::Flags(f) => flags = *f,
            _ => {}
        }
    }
    Some(AddrInfo {
        ifindex: msg.header.index,
        address: local.or(address)?,
        prefix_len: msg.header.prefix_len,
        tentative: flags.contains(AddressFlags::Tentative),
        deprecated: flags.contains(AddressFlags::Deprecated),
        dad_failed: flags.contains(AddressFlags::Dadfailed),
        label,
    })
}

pub(crate) fn link_info(msg: &LinkMessage) -> LinkInfo {
    let mut name = String::new();
    let mut mac = None;
    for attr in &msg.attributes {
        match attr {
            LinkAttribute::IfName(n) => name.clone_from(n),
            LinkAttribute::Address(a) => {
                if let Ok(m) = <[u8; 6]>::try_from(a.as_slice()) {
                    mac = Some(m);
                }
            }
            _ => {}
        }
    }
    LinkInfo {
        ifindex: msg.header.index,
        name,
        up: msg.header.flags.contains(LinkFlags::Up),
        running: msg.header.flags.contains(LinkFlags::Running),
        mac,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcast_plus() {
        let a = Ipv4Addr::new(10, 200, 1, 7);
        assert_eq!(ipv4_broadcast(a, 24), Ipv4Addr::new(10, 200, 1, 255));
        assert_eq!(ipv4_broadcast(a, 0), Ipv4Addr::BROADCAST);
        assert_eq!(ipv4_broadcast(a, 32), a);
        assert_eq!(ipv4_broadcast(a, 31), a);
    }

    #[test]
    fn flags_compose() {
        let f = AddrFlags::NODAD | AddrFlags::NOPREFIXROUTE;
        assert!(f.contains(AddrFlags::NODAD));
        assert!(!f.contains(AddrFlags::HOME));
        assert_eq!(f.bits(), 0x202);
    }
}
