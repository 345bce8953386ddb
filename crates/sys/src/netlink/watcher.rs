//! Link and address change notifications.
//!
//! keepalived tracks interfaces (a link losing carrier puts instances into FAULT), notices
//! VIPs removed behind its back, and follows whether a virtual server's address is local
//! (`ha_suspend`). All of that comes from rtnetlink multicast groups.

use std::os::fd::{AsRawFd, RawFd};
use std::time::Duration;

use netlink_packet_route::RouteNetlinkMessage;

use super::socket::{deadline_after, frames, RtSocket, NLMSG_ERROR, NLMSG_OVERRUN};
use super::types::{addr_info, link_info};
use super::{AddrInfo, NetlinkError};

/// RTNLGRP_LINK: link creation, deletion and state changes.
const RTNLGRP_LINK: u32 = 1;
/// RTNLGRP_IPV4_IFADDR: IPv4 address changes.
const RTNLGRP_IPV4_IFADDR: u32 = 5;
/// RTNLGRP_IPV6_IFADDR: IPv6 address changes (including DAD finishing).
const RTNLGRP_IPV6_IFADDR: u32 = 9;
/// RTNLGRP_IPV4_ROUTE: IPv4 route changes.
const RTNLGRP_IPV4_ROUTE: u32 = 7;
/// RTNLGRP_IPV6_ROUTE: IPv6 route changes.
const RTNLGRP_IPV6_ROUTE: u32 = 11;
/// RTNLGRP_IPV4_RULE: IPv4 policy rule changes.
const RTNLGRP_IPV4_RULE: u32 = 8;
/// RTNLGRP_IPV6_RULE: IPv6 policy rule changes.
const RTNLGRP_IPV6_RULE: u32 = 19;

/// Receive buffer asked for, so a burst (an interface with many VIPs going away) does not
/// overflow before the watcher thread runs.
const WATCH_RCVBUF: usize = 1 << 20;

/// A change the kernel announced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A link appeared or changed (RTM_NEWLINK). The kernel also sends this for changes we
    /// do not report (MTU, statistics), so the same state may repeat: compare with what you
    /// knew. `running` is separate from `up`: a link that loses carrier stays `up`.
    Link {
        /// Interface index; a re-created interface has a new one.
        ifindex: u32,
        /// Interface name.
        name: String,
        /// IFF_UP: administratively up.
        up: bool,
        /// IFF_RUNNING: carrier present and operational.
        running: bool,
    },
    /// A link was deleted (RTM_DELLINK); anything keyed by its index is stale.
    LinkDeleted {
        /// The index it had.
        ifindex: u32,
        /// The name it had.
        name: String,
    },
    /// An address appeared or changed (RTM_NEWADDR), e.g. an IPv6 VIP leaving tentative.
    AddressAdded(AddrInfo),
    /// An address was removed (RTM_DELADDR), perhaps by someone other than us.
    AddressRemoved(AddrInfo),
    /// A policy rule was removed (RTM_DELRULE; only with [`Watcher::open_with_routes`]).
    RuleRemoved {
        /// Its priority, when it had one.
        priority: Option<u32>,
        /// Its `from` selector.
        from: Option<super::IpPrefix>,
        /// Its `to` selector.
        to: Option<super::IpPrefix>,
    },
    /// A route was removed (RTM_DELROUTE; only with [`Watcher::open_with_routes`]).
    RouteRemoved {
        /// Its destination.
        dst: super::IpPrefix,
        /// Its table.
        table: u32,
    },
    /// The kernel dropped notifications (ENOBUFS or NLMSG_OVERRUN): the caller's picture is
    /// no longer complete and must be rebuilt from `Netlink::links()` and `addresses()`.
    Overrun,
}

/// A socket subscribed to link and address notifications, read by the daemon's event
/// loop when it polls readable.
pub struct Watcher {
    sock: RtSocket,
}

impl std::fmt::Debug for Watcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watcher")
            .field("fd", &self.sock.as_raw_fd())
            .finish()
    }
}

impl Watcher {
    /// Subscribes to RTNLGRP_LINK, RTNLGRP_IPV4_IFADDR and RTNLGRP_IPV6_IFADDR in the
    /// calling thread's network namespace. Events start from this moment: take a
    /// `links()`/`addresses()` snapshot after opening the watcher, not before, so nothing
    /// falls in between.
    pub fn open() -> Result<Self, NetlinkError> {
        Self::open_with_routes(false)
    }

    /// [`Watcher::open`], plus route and rule changes when `routes` (only for daemons that
    /// install them: a router with a full table sends a great many).
    pub fn open_with_routes(routes: bool) -> Result<Self, NetlinkError> {
        let mut groups = vec![RTNLGRP_LINK, RTNLGRP_IPV4_IFADDR, RTNLGRP_IPV6_IFADDR];
        if routes {
            groups.extend([
                RTNLGRP_IPV4_ROUTE,
                RTNLGRP_IPV6_ROUTE,
                RTNLGRP_IPV4_RULE,
                RTNLGRP_IPV6_RULE,
            ]);
        }
        let sock = RtSocket::open(&groups)?;
        // Best effort: an unprivileged process may be capped by rmem_max, which is fine.
        let _ = sock.set_rx_buf(WATCH_RCVBUF);
        Ok(Self { sock })
    }

    /// Waits up to `timeout` for notifications and returns everything queued. An empty
    /// vector means the timeout passed quietly; `Duration::ZERO` only drains.
    pub fn next_events(&mut self, timeout: Duration) -> Result<Vec<Event>, NetlinkError> {
        let mut events = Vec::new();
        let deadline = deadline_after(timeout);
        if !self.sock.wait(deadline)? {
            return Ok(events);
        }
        loop {
            match self.sock.recv_nonblocking() {
                Ok(Some(buf)) => decode(buf, &mut events),
                Ok(None) => break,
                Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => {
                    events.push(Event::Overrun);
                }
                Err(e) => return Err(NetlinkError::Io(e)),
            }
        }
        Ok(events)
    }
}

fn decode(buf: &[u8], events: &mut Vec<Event>) {
    for f in frames(buf) {
        match f.msg_type {
            NLMSG_OVERRUN => {
                events.push(Event::Overrun);
                continue;
            }
            NLMSG_ERROR => continue,
            _ => {}
        }
        let msg = match f.route_message() {
            Ok(m) => m,
            // A message the codec cannot read is one we cannot act on; ask for a resync
            // rather than silently missing a change.
            Err(_) => {
                events.push(Event::Overrun);
                continue;
            }
        };
        match msg {
            RouteNetlinkMessage::NewLink(l) => {
                let info = link_info(&l);
                events.push(Event::Link {
                    ifindex: info.ifindex,
                    name: info.name,
                    up: info.up,
                    running: info.running,
                });
            }
            RouteNetlinkMessage::DelLink(l) => {
                let info = link_info(&l);
                events.push(Event::LinkDeleted {
                    ifindex: info.ifindex,
                    name: info.name,
                });
            }
            RouteNetlinkMessage::NewAddress(a) => {
                if let Some(info) = addr_info(&a) {
                    events.push(Event::AddressAdded(info));
                }
            }
            RouteNetlinkMessage::DelAddress(a) => {
                if let Some(info) = addr_info(&a) {
                    events.push(Event::AddressRemoved(info));
                }
            }
            RouteNetlinkMessage::DelRule(r) => {
                use netlink_packet_route::rule::RuleAttribute;
                let (mut priority, mut from, mut to) = (None, None, None);
                for a in &r.attributes {
                    match a {
                        RuleAttribute::Priority(p) => priority = Some(*p),
                        RuleAttribute::Source(s) => {
                            from = Some(super::IpPrefix::new(*s, r.header.src_len));
                        }
                        RuleAttribute::Destination(d) => {
                            to = Some(super::IpPrefix::new(*d, r.header.dst_len));
                        }
                        _ => {}
                    }
                }
                events.push(Event::RuleRemoved { priority, from, to });
            }
            RouteNetlinkMessage::DelRoute(r) => {
                if let Some(e) = route_removed(&r) {
                    events.push(e);
                }
            }
            _ => {}
        }
    }
}

/// The destination and table of a removed route (a default route has no destination).
fn route_removed(r: &netlink_packet_route::route::RouteMessage) -> Option<Event> {
    use netlink_packet_route::route::{RouteAddress, RouteAttribute};
    use netlink_packet_route::AddressFamily;
    let len = r.header.destination_prefix_length;
    let mut table = u32::from(r.header.table);
    let mut addr = match r.header.address_family {
        AddressFamily::Inet => std::net::IpAddr::from(std::net::Ipv4Addr::UNSPECIFIED),
        AddressFamily::Inet6 => std::net::IpAddr::from(std::net::Ipv6Addr::UNSPECIFIED),
        _ => return None,
    };
    for a in &r.attributes {
        match a {
            RouteAttribute::Table(t) => table = *t,
            RouteAttribute::Destination(RouteAddress::Inet(v4)) => addr = (*v4).into(),
            RouteAttribute::Destination(RouteAddress::Inet6(v6)) => addr = (*v6).into(),
            _ => {}
        }
    }
    Some(Event::RouteRemoved {
        dst: super::IpPrefix::new(addr, len),
        table,
    })
}

impl AsRawFd for Watcher {
    /// The subscribed socket, to register with the daemon's epoll; call
    /// [`Watcher::next_events`] with `Duration::ZERO` when it is readable.
    fn as_raw_fd(&self) -> RawFd {
        self.sock.as_raw_fd()
    }
}
