//! Linux edges: raw VRRP sockets, ARP/NA, netlink addresses, routes, rules and links.
//!
//! The only crate allowed `unsafe`; each block carries a SAFETY note. (Issue 5.)
pub mod alloc;
pub mod clock;
pub mod garp;
pub mod netlink;
pub mod sched;
pub mod spawn;
pub mod vrrp_socket;
