//! Gratuitous ARP and unsolicited Neighbour Advertisements, byte for byte as keepalived 2.2.7
//! sends them, plus the interface facts the VRRP side needs (index, MAC, primary IPv4,
//! IPv6 link-local).
//!
//! ```text
//!  GarpSocket (AF_PACKET, bound to the ifindex)  ── garp_frame(mac, vip): 42-byte Ethernet frame
//!  NaSocket   (raw ICMPv6, SO_BINDTODEVICE)      ── unsolicited_na(mac, vip): ICMPv6 type 136,
//!                                                    from the VIP to ff02::1, hop limit 255,
//!                                                    checksum by the kernel
//!  FrameCapture (AF_PACKET, one EtherType)       ── what arrives on a link (tests and labs)
//! ```
//!
//! The frames are built by pure functions so tests and fuzzers can check them without root.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};

use libc::c_int;

use crate::vrrp_socket::{
    bind, bind_to_device, if_index, ignore_unsupported, in6_pktinfo_bytes, invalid_input, recv,
    scope_for, sendmsg, setsockopt, socket, CmsgWriter, RawAddr,
};

/// EtherType of ARP.
pub const ETH_P_ARP: u16 = 0x0806;
/// EtherType of IPv6.
pub const ETH_P_IPV6: u16 = 0x86dd;
/// Length of a gratuitous ARP frame (Ethernet header + ARP, not padded: keepalived sends 42).
pub const GARP_FRAME_LEN: usize = 42;
/// Length of an unsolicited NA's ICMPv6 message (header, target, one link-layer option).
pub const NA_LEN: usize = 32;
/// The all-nodes group unsolicited NAs go to.
pub const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
/// ICMPv6 type of a Neighbour Advertisement.
pub const ICMPV6_NEIGHBOR_ADVERT: u8 = 136;

const BROADCAST: [u8; 6] = [0xff; 6];
/// `ICMP6_FILTER` (linux/icmpv6.h), missing from `libc`.
const ICMP6_FILTER: c_int = 1;

/// The gratuitous ARP keepalived sends for `vip`: an ARP *request* (opcode 1), broadcast,
/// sender = target = the VIP, target MAC ff:ff:ff:ff:ff:ff (keepalived's choice, not zeros).
pub fn garp_frame(mac: [u8; 6], vip: Ipv4Addr) -> [u8; GARP_FRAME_LEN] {
    let mut f = [0u8; GARP_FRAME_LEN];
    f[0..6].copy_from_slice(&BROADCAST);
    f[6..12].copy_from_slice(&mac);
    f[12..14].copy_from_slice(&ETH_P_ARP.to_be_bytes());
    f[14..16].copy_from_slice(&1u16.to_be_bytes()); // hardware type: Ethernet
    f[16..18].copy_from_slice(&0x0800u16.to_be_bytes()); // protocol type: IPv4
    f[18] = 6;
    f[19] = 4;
    f[20..22].copy_from_slice(&1u16.to_be_bytes()); // opcode: request
    f[22..28].copy_from_slice(&mac);
    f[28..32].copy_from_slice(&vip.octets());
    f[32..38].copy_from_slice(&BROADCAST);
    f[38..42].copy_from_slice(&vip.octets());
    f
}

/// The unsolicited NA keepalived sends for `target` (the ICMPv6 message; the kernel adds the
/// IPv6 header and fills in the checksum): flags R=0 S=0 O=1, option 2 = `mac`.
pub fn unsolicited_na(mac: [u8; 6], target: Ipv6Addr) -> [u8; NA_LEN] {
    let mut m = [0u8; NA_LEN];
    m[0] = ICMPV6_NEIGHBOR_ADVERT;
    // m[1] code 0, m[2..4] checksum (kernel)
    m[4] = 0x20; // Override
    m[8..24].copy_from_slice(&target.octets());
    m[24] = 2; // Target Link-Layer Address
    m[25] = 1; // length in units of 8 bytes
    m[26..32].copy_from_slice(&mac);
    m
}

/// What the VRRP side needs to know about an interface, read in one pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterfaceInfo {
    /// Interface index (multicast membership, `AF_PACKET` addresses, IPv6 scopes).
    pub index: u32,
    /// Hardware address (GARP/NA sender), if the link has an Ethernet-style one.
    pub mac: Option<[u8; 6]>,
    /// First IPv4 address of the interface: keepalived's default advert source.
    pub ipv4: Option<Ipv4Addr>,
    /// First fe80::/10 address: the IPv6 advert source.
    pub ipv6_link_local: Option<Ipv6Addr>,
}

/// Reads an interface's index, MAC, primary IPv4 and link-local IPv6 address.
///
/// Addresses come from `getifaddrs` in the kernel's order, where an interface's primary IPv4
/// address precedes its secondaries; addresses carrying a label (`eth0:1`) are not counted.
pub fn interface_info(name: &str) -> io::Result<InterfaceInfo> {
    let index = if_index(name)?;
    let mut info = InterfaceInfo {
        index,
        mac: None,
        ipv4: None,
        ipv6_link_local: None,
    };
    for ifa in nix::ifaddrs::getifaddrs().map_err(io::Error::from)? {
        if ifa.interface_name != name {
            continue;
        }
        let Some(addr) = ifa.address else { continue };
        if let Some(l) = addr.as_link_addr() {
            if info.mac.is_none() {
                info.mac = l.addr().filter(|m| *m != [0; 6]);
            }
        } else if let Some(v4) = addr.as_sockaddr_in() {
            info.ipv4.get_or_insert(v4.ip());
        } else if let Some(v6) = addr.as_sockaddr_in6() {
            let ip = v6.ip();
            if ip.segments()[0] & 0xffc0 == 0xfe80 {
                info.ipv6_link_local.get_or_insert(ip);
            }
        }
    }
    Ok(info)
}

/// The index of interface `name`.
pub fn ifindex(name: &str) -> io::Result<u32> {
    if_index(name)
}

/// The MAC address of interface `name` (`NotFound` for links without one, e.g. `lo`).
pub fn mac_address(name: &str) -> io::Result<[u8; 6]> {
    interface_info(name)?
        .mac
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "interface has no MAC address"))
}

/// The primary IPv4 address of interface `name`, if it has one.
pub fn primary_ipv4(name: &str) -> io::Result<Option<Ipv4Addr>> {
    Ok(interface_info(name)?.ipv4)
}

/// The IPv6 link-local address of interface `name`, if it has one.
pub fn ipv6_link_local(name: &str) -> io::Result<Option<Ipv6Addr>> {
    Ok(interface_info(name)?.ipv6_link_local)
}

/// Sends gratuitous ARPs on one interface.
///
/// An `AF_PACKET` socket with protocol 0: it can send any frame but receives none, so ARP
/// traffic on a busy LAN never queues up behind it.
#[derive(Debug)]
pub struct GarpSocket {
    fd: OwnedFd,
    ifindex: u32,
    mac: [u8; 6],
}

impl GarpSocket {
    /// Opens the socket on `ifname`, reading the interface's MAC once (needs `CAP_NET_RAW`).
    pub fn open(ifname: &str) -> io::Result<Self> {
        let info = interface_info(ifname)?;
        let mac = info.mac.ok_or_else(|| {
            io::Error::new(io::ErrorKind::NotFound, "interface has no MAC address")
        })?;
        Self::open_with(info.index, mac)
    }

    /// Opens the socket for a known interface index and sender MAC (a VMAC interface sends
    /// with the virtual MAC).
    pub fn open_with(ifindex: u32, mac: [u8; 6]) -> io::Result<Self> {
        let fd = socket(libc::AF_PACKET, libc::SOCK_RAW, 0)?;
        bind(fd.as_fd(), &RawAddr::link(ifindex, 0, [0; 6])?)?;
        Ok(Self { fd, ifindex, mac })
    }

    /// The sender MAC written into the frames.
    pub fn mac(&self) -> [u8; 6] {
        self.mac
    }

    /// Sends one gratuitous ARP for `vip`.
    pub fn send(&self, vip: Ipv4Addr) -> io::Result<()> {
        let frame = garp_frame(self.mac, vip);
        let to = RawAddr::link(self.ifindex, ETH_P_ARP, BROADCAST)?;
        sendmsg(self.fd.as_fd(), &[&frame], &to, &[])?;
        Ok(())
    }
}

impl AsRawFd for GarpSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// Sends unsolicited Neighbour Advertisements on one interface.
///
/// A raw ICMPv6 socket (the kernel computes the checksum) whose receive side is filtered
/// shut. The source address is the VIP itself, set per packet; `IPV6_FREEBIND` lets that
/// work while the kernel still holds the new address as tentative.
#[derive(Debug)]
pub struct NaSocket {
    fd: OwnedFd,
    ifindex: u32,
    mac: [u8; 6],
}

impl NaSocket {
    /// Opens the socket on `ifname`, reading the interface's MAC once (needs `CAP_NET_RAW`).
    pub fn open(ifname: &str) -> io::Result<Self> {
        let info = interface_info(ifname)?;
        let mac = info.mac.ok_or_else(|| {
            io::Error::new(io::ErrorKind::NotFound, "interface has no MAC address")
        })?;
        Self::open_with(ifname, info.index, mac)
    }

    /// Opens the socket for a known interface and the MAC to advertise (VMAC: the virtual one).
    pub fn open_with(ifname: &str, ifindex: u32, mac: [u8; 6]) -> io::Result<Self> {
        let fd = socket(libc::AF_INET6, libc::SOCK_RAW, libc::IPPROTO_ICMPV6)?;
        let s = fd.as_fd();
        bind_to_device(s, ifname)?;
        let idx = c_int::try_from(ifindex).map_err(|_| invalid_input("ifindex out of range"))?;
        let hops: c_int = 255;
        setsockopt(s, libc::IPPROTO_IPV6, libc::IPV6_MULTICAST_HOPS, &hops)?;
        setsockopt(s, libc::IPPROTO_IPV6, libc::IPV6_UNICAST_HOPS, &hops)?;
        setsockopt(s, libc::IPPROTO_IPV6, libc::IPV6_MULTICAST_IF, &idx)?;
        setsockopt(
            s,
            libc::IPPROTO_IPV6,
            libc::IPV6_MULTICAST_LOOP,
            &0 as &c_int,
        )?;
        // Block every ICMPv6 type: this socket only sends.
        let filter: [u32; 8] = [u32::MAX; 8];
        setsockopt(s, libc::IPPROTO_ICMPV6, ICMP6_FILTER, &filter)?;
        // keepalived's NAs carry flow label 0 (and traffic class 0, the default).
        ignore_unsupported(setsockopt(
            s,
            libc::IPPROTO_IPV6,
            libc::IPV6_AUTOFLOWLABEL,
            &0 as &c_int,
        ))?;
        ignore_unsupported(setsockopt(
            s,
            libc::IPPROTO_IPV6,
            libc::IPV6_FREEBIND,
            &1 as &c_int,
        ))?;
        Ok(Self { fd, ifindex, mac })
    }

    /// The MAC written into the target link-layer address option.
    pub fn mac(&self) -> [u8; 6] {
        self.mac
    }

    /// Sends one unsolicited NA for `vip`, from `vip` to ff02::1.
    pub fn send(&self, vip: Ipv6Addr) -> io::Result<()> {
        let msg = unsolicited_na(self.mac, vip);
        let mut cmsg = CmsgWriter::new();
        cmsg.push(
            libc::IPPROTO_IPV6,
            libc::IPV6_PKTINFO,
            &in6_pktinfo_bytes(vip, self.ifindex),
        );
        cmsg.push(
            libc::IPPROTO_IPV6,
            libc::IPV6_HOPLIMIT,
            &255i32.to_ne_bytes(),
        );
        let to = RawAddr::v6(ALL_NODES, scope_for(ALL_NODES, self.ifindex));
        sendmsg(self.fd.as_fd(), &[&msg], &to, cmsg.as_bytes())?;
        Ok(())
    }
}

impl AsRawFd for NaSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// Receives whole Ethernet frames of one EtherType on one interface.
///
/// For tests and labs that must see exactly what went over a link (GARP, NA, adverts)
/// without running tcpdump. Non-blocking.
#[derive(Debug)]
pub struct FrameCapture {
    fd: OwnedFd,
}

impl FrameCapture {
    /// Starts capturing frames of `ethertype` (host order, e.g. [`ETH_P_ARP`]) on `ifname`.
    pub fn open(ifname: &str, ethertype: u16) -> io::Result<Self> {
        let ifindex = if_index(ifname)?;
        let fd = socket(
            libc::AF_PACKET,
            libc::SOCK_RAW,
            c_int::from(ethertype.to_be()),
        )?;
        bind(fd.as_fd(), &RawAddr::link(ifindex, ethertype, [0; 6])?)?;
        Ok(Self { fd })
    }

    /// Receives one frame (Ethernet header included); `WouldBlock` when none is queued.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        recv(self.fd.as_fd(), buf)
    }
}

impl AsRawFd for FrameCapture {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl AsFd for FrameCapture {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn garp_layout_as_keepalived() {
        let mac = [0x02, 0x77, 0, 0, 0x01, 0x01];
        let vip = Ipv4Addr::new(10, 77, 0, 100);
        let f = garp_frame(mac, vip);
        assert_eq!(&f[0..6], &[0xff; 6]);
        assert_eq!(&f[6..12], &mac);
        assert_eq!(&f[12..14], &[0x08, 0x06]);
        assert_eq!(&f[14..22], &[0, 1, 8, 0, 6, 4, 0, 1]);
        assert_eq!(&f[22..28], &mac);
        assert_eq!(&f[28..32], &vip.octets());
        assert_eq!(&f[32..38], &[0xff; 6]);
        assert_eq!(&f[38..42], &vip.octets());
    }

    #[test]
    fn na_layout_as_keepalived() {
        let mac = [0x02, 0x77, 0, 0, 0x01, 0x01];
        let vip: Ipv6Addr = "fd77::100".parse().unwrap();
        let m = unsolicited_na(mac, vip);
        assert_eq!(&m[0..8], &[136, 0, 0, 0, 0x20, 0, 0, 0]);
        assert_eq!(&m[8..24], &vip.octets());
        assert_eq!(&m[24..26], &[2, 1]);
        assert_eq!(&m[26..32], &mac);
    }

    #[test]
    fn loopback_info() {
        let info = interface_info("lo").unwrap();
        assert!(info.index > 0);
        assert_eq!(info.mac, None);
        assert!(ifindex("no-such-if0").is_err());
    }
}
