//! Raw VRRP sockets, one per (interface, address family), as keepalived opens them.
//!
//! ```text
//!  engine.encode_advert() ──► VrrpSocket::send(src, dst, msg, ttl)
//!                               IPv4: our own 20-byte header (IP_HDRINCL): TOS 0xc0, ID 1,2,3..
//!                               IPv6: source + hop limit per packet (IPV6_PKTINFO, IPV6_HOPLIMIT),
//!                                     traffic class 0xc0, checksum by the kernel (IPV6_CHECKSUM 6)
//!  epoll(as_raw_fd) ──► VrrpSocket::recv(buf) ──► Received { src, dst, ttl, ifindex, payload }
//!                               TTL / destination / ifindex from IP_PKTINFO + IP_RECVTTL
//!                               (IPv6: IPV6_PKTINFO + IPV6_HOPLIMIT)
//! ```
//!
//! The sockets are non-blocking so the VRRP thread can drain them from its event loop, and
//! bound to their device so an instance never hears a router on another link. Multicast
//! loopback is off: our own adverts must never come back as if a peer had sent them.
//!
//! This module also holds the few raw system-call wrappers the rest of the crate shares
//! (`garp.rs` uses them); every `unsafe` block of the socket edge lives here.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use libc::{c_int, c_void, socklen_t};

/// IP protocol number of VRRP (RFC 5798).
pub const IPPROTO_VRRP: c_int = 112;
/// Keepalived's default IPv4 multicast group (`vrrp_mcast_group4`).
pub const VRRP_GROUP_V4: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 18);
/// Keepalived's default IPv6 multicast group (`vrrp_mcast_group6`).
pub const VRRP_GROUP_V6: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12);
/// The TOS byte keepalived puts in every IPv4 advert (precedence "internetwork control").
pub const VRRP_TOS: u8 = 0xc0;
/// The TTL / hop limit VRRP requires for multicast adverts (receivers drop anything else).
pub const VRRP_TTL: u8 = 255;
/// Receive buffer asked for by default: room for a burst of adverts from ~1,000 instances
/// sharing one interface, so a scheduling hiccup of the VRRP thread loses nothing.
pub const DEFAULT_RCVBUF: usize = 1 << 20;
/// Length of the IPv4 header we build (no options).
pub const IPV4_HEADER_LEN: usize = 20;

/// `IPV6_CHECKSUM` offset of the VRRP checksum field: the kernel computes and verifies it.
const VRRP_CHECKSUM_OFFSET: c_int = 6;

/// Address family of a VRRP socket; VRRP instances are single-family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    /// IPv4 (protocol 112 inside a header we build ourselves).
    Ipv4,
    /// IPv6 (protocol 112, kernel-built header and checksum).
    Ipv6,
}

impl Family {
    /// The family of an address, so callers need not match on `IpAddr` themselves.
    pub const fn of(addr: &IpAddr) -> Self {
        match addr {
            IpAddr::V4(_) => Family::Ipv4,
            IpAddr::V6(_) => Family::Ipv6,
        }
    }

    /// Keepalived's default multicast group for this family.
    pub const fn default_group(self) -> IpAddr {
        match self {
            Family::Ipv4 => IpAddr::V4(VRRP_GROUP_V4),
            Family::Ipv6 => IpAddr::V6(VRRP_GROUP_V6),
        }
    }
}

/// How a VRRP socket is set up beyond its interface and family.
///
/// Separate from `open`'s arguments because keepalived's global settings
/// (`vrrp_mcast_group4/6`, unicast sources) change them per deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SocketOptions {
    /// Multicast group joined on the interface; `None` for a unicast-only socket (keepalived
    /// joins no group for an instance with `unicast_peer`s).
    pub group: Option<IpAddr>,
    /// Local address to bind to. IPv4: leave `None` for multicast, since a bound IPv4 raw
    /// socket no longer receives packets sent to the group. IPv6: the link-local (or
    /// `unicast_src_ip`) address; a link-local is bound with the interface as its scope.
    pub bind: Option<IpAddr>,
    /// Receive buffer size asked for (`SO_RCVBUFFORCE` first, so root is not capped by
    /// `net.core.rmem_max`; then `SO_RCVBUF`).
    pub rcvbuf: usize,
}

impl SocketOptions {
    /// A multicast socket on keepalived's default group for `family`.
    pub const fn multicast(family: Family) -> Self {
        Self {
            group: Some(family.default_group()),
            bind: None,
            rcvbuf: DEFAULT_RCVBUF,
        }
    }

    /// A unicast-only socket, optionally bound to the instance's `unicast_src_ip`.
    pub const fn unicast(bind: Option<IpAddr>) -> Self {
        Self {
            group: None,
            bind,
            rcvbuf: DEFAULT_RCVBUF,
        }
    }
}

/// What the kernel told us about one received VRRP packet, besides its bytes.
///
/// The VRRP engine's validation needs the TTL and the destination (multicast or not), which
/// the VRRP bytes do not carry; IPv6 raw sockets do not even deliver the IP header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Received {
    /// IP source address.
    pub src: IpAddr,
    /// IP destination address (the group, or our own address for unicast).
    pub dst: IpAddr,
    /// TTL / hop limit, if the kernel reported it (it always does on these sockets).
    pub ttl: Option<u8>,
    /// Interface the packet arrived on.
    pub ifindex: u32,
    /// Bytes written into the caller's buffer (IPv4: header included).
    pub len: usize,
    /// Where the VRRP message starts in the buffer (IPv4: after the IP header; IPv6: 0).
    pub payload_offset: usize,
    /// Length of the VRRP message (IPv4: cut at the header's total length).
    pub payload_len: usize,
}

impl Received {
    /// The VRRP message inside the buffer `recv` filled.
    pub fn payload<'a>(&self, buf: &'a [u8]) -> &'a [u8] {
        buf.get(self.payload_offset..self.payload_offset + self.payload_len)
            .unwrap_or(&[])
    }

    /// The whole packet as received (IPv4: the IP header and the VRRP message).
    pub fn packet<'a>(&self, buf: &'a [u8]) -> &'a [u8] {
        buf.get(..self.len).unwrap_or(&[])
    }
}

/// A raw VRRP socket bound to one interface and one family; sends and receives adverts.
#[derive(Debug)]
pub struct VrrpSocket {
    fd: OwnedFd,
    family: Family,
    ifindex: u32,
    ifname: String,
    next_id: u16,
}

impl VrrpSocket {
    /// Opens and configures the socket of `family` on interface `ifname`.
    ///
    /// Needs `CAP_NET_RAW`. The group, if any, must be of `family`.
    pub fn open(ifname: &str, family: Family, opts: SocketOptions) -> io::Result<Self> {
        if let Some(g) = opts.group {
            if Family::of(&g) != family || !g.is_multicast() {
                return Err(invalid_input(
                    "multicast group of another family or not multicast",
                ));
            }
        }
        if let Some(b) = opts.bind {
            if Family::of(&b) != family {
                return Err(invalid_input("bind address of another family"));
            }
        }
        let ifindex = if_index(ifname)?;
        let domain = match family {
            Family::Ipv4 => libc::AF_INET,
            Family::Ipv6 => libc::AF_INET6,
        };
        let fd = socket(domain, libc::SOCK_RAW, IPPROTO_VRRP)?;
        let s = fd.as_fd();
        bind_to_device(s, ifname)?;
        set_rcvbuf(s, opts.rcvbuf)?;
        let idx = c_int::try_from(ifindex).map_err(|_| invalid_input("ifindex out of range"))?;
        match family {
            Family::Ipv4 => {
                setsockopt(s, libc::IPPROTO_IP, libc::IP_HDRINCL, &1 as &c_int)?;
                setsockopt(s, libc::IPPROTO_IP, libc::IP_MULTICAST_LOOP, &0 as &c_int)?;
                setsockopt(s, libc::IPPROTO_IP, libc::IP_MULTICAST_ALL, &0 as &c_int)?;
                let mreq = libc::ip_mreqn {
                    imr_multiaddr: in_addr(Ipv4Addr::UNSPECIFIED),
                    imr_address: in_addr(Ipv4Addr::UNSPECIFIED),
                    imr_ifindex: idx,
                };
                setsockopt(s, libc::IPPROTO_IP, libc::IP_MULTICAST_IF, &mreq)?;
                setsockopt(s, libc::IPPROTO_IP, libc::IP_RECVTTL, &1 as &c_int)?;
                setsockopt(s, libc::IPPROTO_IP, libc::IP_PKTINFO, &1 as &c_int)?;
                if let Some(IpAddr::V4(group)) = opts.group {
                    let mreq = libc::ip_mreqn {
                        imr_multiaddr: in_addr(group),
                        ..mreq
                    };
                    setsockopt(s, libc::IPPROTO_IP, libc::IP_ADD_MEMBERSHIP, &mreq)?;
                }
                if let Some(IpAddr::V4(a)) = opts.bind {
                    bind(s, &RawAddr::v4(a))?;
                }
            }
            Family::Ipv6 => {
                setsockopt(
                    s,
                    libc::IPPROTO_IPV6,
                    libc::IPV6_CHECKSUM,
                    &VRRP_CHECKSUM_OFFSET,
                )?;
                // keepalived's IPv6 adverts carry traffic class 0xc0, like the IPv4 TOS.
                setsockopt(
                    s,
                    libc::IPPROTO_IPV6,
                    libc::IPV6_TCLASS,
                    &c_int::from(VRRP_TOS),
                )?;
                let hops: c_int = c_int::from(VRRP_TTL);
                setsockopt(s, libc::IPPROTO_IPV6, libc::IPV6_MULTICAST_HOPS, &hops)?;
                setsockopt(s, libc::IPPROTO_IPV6, libc::IPV6_UNICAST_HOPS, &hops)?;
                setsockopt(
                    s,
                    libc::IPPROTO_IPV6,
                    libc::IPV6_MULTICAST_LOOP,
                    &0 as &c_int,
                )?;
                // Linux >= 4.20; older kernels only lack the isolation, which the bound
                // device mostly gives anyway.
                ignore_unsupported(setsockopt(
                    s,
                    libc::IPPROTO_IPV6,
                    libc::IPV6_MULTICAST_ALL,
                    &0 as &c_int,
                ))?;
                setsockopt(s, libc::IPPROTO_IPV6, libc::IPV6_MULTICAST_IF, &idx)?;
                setsockopt(s, libc::IPPROTO_IPV6, libc::IPV6_RECVHOPLIMIT, &1 as &c_int)?;
                setsockopt(s, libc::IPPROTO_IPV6, libc::IPV6_RECVPKTINFO, &1 as &c_int)?;
                if let Some(IpAddr::V6(group)) = opts.group {
                    let mreq = libc::ipv6_mreq {
                        ipv6mr_multiaddr: in6_addr(group),
                        ipv6mr_interface: ifindex,
                    };
                    setsockopt(s, libc::IPPROTO_IPV6, libc::IPV6_ADD_MEMBERSHIP, &mreq)?;
                }
                if let Some(IpAddr::V6(a)) = opts.bind {
                    bind(s, &RawAddr::v6(a, scope_for(a, ifindex)))?;
                }
            }
        }
        Ok(Self {
            fd,
            family,
            ifindex,
            ifname: ifname.to_owned(),
            next_id: 1,
        })
    }

    /// The socket's family.
    pub fn family(&self) -> Family {
        self.family
    }

    /// The interface index the socket is bound to (for matching received packets and logs).
    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }

    /// The interface name the socket is bound to.
    pub fn ifname(&self) -> &str {
        &self.ifname
    }

    /// Sends one VRRP message from `src` to `dst` with TTL / hop limit `ttl`.
    ///
    /// `vrrp_msg` is the message as the engine encoded it for this destination (its checksum
    /// depends on `src`/`dst` for v3). IPv4: a header is built with the next ID of this socket.
    /// IPv6: `src` is set per packet through `IPV6_PKTINFO` (unspecified = the kernel's
    /// choice); the kernel fills in the checksum. Errors are those of `sendmsg` (`WouldBlock`
    /// when the send buffer is full).
    pub fn send(&mut self, src: IpAddr, dst: IpAddr, vrrp_msg: &[u8], ttl: u8) -> io::Result<()> {
        let id = self.next_id;
        if self.family == Family::Ipv4 {
            self.next_id = next_ip_id(id);
        }
        self.send_with_ip_id(id, src, dst, vrrp_msg, ttl)
    }

    /// [`send`](Self::send) with an IPv4 ID chosen by the caller (ignored for IPv6).
    ///
    /// keepalived numbers IDs per VRRP instance (1, 2, 3, ..., 0 skipped); a driver that runs
    /// several instances on one socket and wants that sequence keeps one counter per instance
    /// (see [`next_ip_id`]) and sends through here. An ID of 0 lets the kernel pick one.
    pub fn send_with_ip_id(
        &self,
        id: u16,
        src: IpAddr,
        dst: IpAddr,
        vrrp_msg: &[u8],
        ttl: u8,
    ) -> io::Result<()> {
        match (self.family, src, dst) {
            (Family::Ipv4, IpAddr::V4(s), IpAddr::V4(d)) => {
                let header = ipv4_header(s, d, id, ttl, vrrp_msg.len())?;
                sendmsg(self.fd.as_fd(), &[&header, vrrp_msg], &RawAddr::v4(d), &[])?;
                Ok(())
            }
            (Family::Ipv6, IpAddr::V6(s), IpAddr::V6(d)) => {
                let mut cmsg = CmsgWriter::new();
                cmsg.push(
                    libc::IPPROTO_IPV6,
                    libc::IPV6_PKTINFO,
                    &in6_pktinfo_bytes(s, self.ifindex),
                );
                cmsg.push(
                    libc::IPPROTO_IPV6,
                    libc::IPV6_HOPLIMIT,
                    &c_int::from(ttl).to_ne_bytes(),
                );
                let to = RawAddr::v6(d, scope_for(d, self.ifindex));
                sendmsg(self.fd.as_fd(), &[vrrp_msg], &to, cmsg.as_bytes())?;
                Ok(())
            }
            _ => Err(invalid_input("address family does not match the socket")),
        }
    }

    /// Sends the same message to each destination (unicast peers), continuing past failures.
    ///
    /// Only right when the message does not depend on the destination (VRRPv2, or v3 with
    /// `v3_checksum_as_v2`); otherwise encode and [`send`](Self::send) per peer. Returns the
    /// first error after trying every peer, so one unreachable peer does not starve the others.
    pub fn send_each(
        &mut self,
        src: IpAddr,
        dsts: &[IpAddr],
        vrrp_msg: &[u8],
        ttl: u8,
    ) -> io::Result<()> {
        let mut first_err = None;
        for &d in dsts {
            if let Err(e) = self.send(src, d, vrrp_msg, ttl) {
                first_err.get_or_insert(e);
            }
        }
        first_err.map_or(Ok(()), Err)
    }

    /// Receives one packet into `buf` (non-blocking: `WouldBlock` when there is none).
    ///
    /// IPv4: `buf` holds the whole packet, IP header included, as raw sockets deliver it;
    /// IPv6: only the VRRP message. A packet larger than `buf` is consumed and reported as
    /// `InvalidData`; a 1,500-byte buffer is enough for any VRRP packet on Ethernet.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<Received> {
        let mut control = [0u8; 256];
        let r = recvmsg(self.fd.as_fd(), buf, &mut control)?;
        if r.truncated {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "VRRP packet larger than the receive buffer",
            ));
        }
        let mut ttl = None;
        let mut ifindex = self.ifindex;
        let mut dst = None;
        for_each_cmsg(
            control.get(..r.control_len).unwrap_or(&[]),
            |level, ty, data| {
                match (level, ty) {
                    (libc::IPPROTO_IP, libc::IP_TTL)
                    | (libc::IPPROTO_IPV6, libc::IPV6_HOPLIMIT) => {
                        if let Some(v) = read_int(data) {
                            ttl = u8::try_from(v).ok();
                        }
                    }
                    (libc::IPPROTO_IP, libc::IP_PKTINFO) if data.len() >= 12 => {
                        // struct in_pktinfo { int ipi_ifindex; in_addr ipi_spec_dst; in_addr ipi_addr; }
                        if let Some(i) = read_int(data).and_then(|i| u32::try_from(i).ok()) {
                            ifindex = i;
                        }
                        dst = Some(IpAddr::V4(Ipv4Addr::new(
                            data[8], data[9], data[10], data[11],
                        )));
                    }
                    (libc::IPPROTO_IPV6, libc::IPV6_PKTINFO) if data.len() >= 20 => {
                        // struct in6_pktinfo { in6_addr ipi6_addr; unsigned ipi6_ifindex; }
                        let mut a = [0u8; 16];
                        a.copy_from_slice(&data[..16]);
                        dst = Some(IpAddr::V6(Ipv6Addr::from(a)));
                        let mut i = [0u8; 4];
                        i.copy_from_slice(&data[16..20]);
                        ifindex = u32::from_ne_bytes(i);
                    }
                    _ => {}
                }
            },
        );
        let n = r.len;
        match self.family {
            Family::Ipv4 => {
                let pkt = buf.get(..n).unwrap_or(&[]);
                if pkt.len() < IPV4_HEADER_LEN || pkt[0] >> 4 != 4 {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "not an IPv4 packet",
                    ));
                }
                let ihl = usize::from(pkt[0] & 0x0f) * 4;
                let total = usize::from(u16::from_be_bytes([pkt[2], pkt[3]]));
                if ihl < IPV4_HEADER_LEN || ihl > n {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "bad IPv4 header length",
                    ));
                }
                let end = total.clamp(ihl, n);
                let src = IpAddr::V4(Ipv4Addr::new(pkt[12], pkt[13], pkt[14], pkt[15]));
                let hdr_dst = IpAddr::V4(Ipv4Addr::new(pkt[16], pkt[17], pkt[18], pkt[19]));
                Ok(Received {
                    src,
                    dst: dst.unwrap_or(hdr_dst),
                    ttl: ttl.or(Some(pkt[8])),
                    ifindex,
                    len: n,
                    payload_offset: ihl,
                    payload_len: end - ihl,
                })
            }
            Family::Ipv6 => {
                let src = r
                    .src
                    .ok_or_else(|| io::Error::other("no source address from the kernel"))?;
                let dst = dst.ok_or_else(|| io::Error::other("no IPV6_PKTINFO from the kernel"))?;
                Ok(Received {
                    src,
                    dst,
                    ttl,
                    ifindex,
                    len: n,
                    payload_offset: 0,
                    payload_len: n,
                })
            }
        }
    }
}

impl AsRawFd for VrrpSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl AsFd for VrrpSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// The IPv4 ID after `id`: keepalived's sequence 1, 2, 3, ... that skips 0 on wrap-around.
pub const fn next_ip_id(id: u16) -> u16 {
    if id == u16::MAX {
        1
    } else {
        id + 1
    }
}

/// Keepalived's IPv4 header for a VRRP message: TOS 0xc0, DF clear, protocol 112, checksum.
///
/// Public so captures and tests can compare against what we put on the wire. `id` 0 would let
/// the kernel choose one; [`VrrpSocket::send`] never uses it.
pub fn ipv4_header(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    id: u16,
    ttl: u8,
    payload_len: usize,
) -> io::Result<[u8; IPV4_HEADER_LEN]> {
    let total = u16::try_from(IPV4_HEADER_LEN + payload_len)
        .map_err(|_| invalid_input("VRRP message too long for IPv4"))?;
    let mut h = [0u8; IPV4_HEADER_LEN];
    h[0] = 0x45;
    h[1] = VRRP_TOS;
    h[2..4].copy_from_slice(&total.to_be_bytes());
    h[4..6].copy_from_slice(&id.to_be_bytes());
    // h[6..8]: flags and fragment offset 0 (keepalived leaves DF clear).
    h[8] = ttl;
    h[9] = IPPROTO_VRRP as u8;
    h[12..16].copy_from_slice(&src.octets());
    h[16..20].copy_from_slice(&dst.octets());
    let sum = internet_checksum(&h);
    h[10..12].copy_from_slice(&sum.to_be_bytes());
    Ok(h)
}

/// RFC 1071 checksum of `data` (odd length padded with a zero byte).
pub fn internet_checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [last] = chunks.remainder() {
        sum += u32::from(*last) << 8;
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

// ---------------------------------------------------------------------------------------------
// Shared system-call wrappers (crate-private; garp.rs uses them too)
// ---------------------------------------------------------------------------------------------

pub(crate) fn invalid_input(msg: &'static str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}

/// `ENOPROTOOPT` / `EINVAL` from an optional socket option on an older kernel is not fatal.
pub(crate) fn ignore_unsupported(r: io::Result<()>) -> io::Result<()> {
    match r {
        Err(e)
            if matches!(
                e.raw_os_error(),
                Some(libc::ENOPROTOOPT) | Some(libc::EINVAL)
            ) =>
        {
            Ok(())
        }
        other => other,
    }
}

/// The index of interface `name` (`ENODEV` when there is none).
pub(crate) fn if_index(name: &str) -> io::Result<u32> {
    if name.is_empty() || name.len() >= libc::IFNAMSIZ || name.contains('\0') {
        return Err(invalid_input("bad interface name"));
    }
    nix::net::if_::if_nametoindex(name).map_err(io::Error::from)
}

/// A non-blocking, close-on-exec socket.
#[allow(unsafe_code)]
pub(crate) fn socket(domain: c_int, ty: c_int, protocol: c_int) -> io::Result<OwnedFd> {
    // SAFETY: socket(2) takes only integers and returns a new descriptor or -1.
    let fd = unsafe {
        libc::socket(
            domain,
            ty | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            protocol,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just returned by socket(2), is open, and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `setsockopt` with a plain-old-data value (integers and C structs from `libc`).
#[allow(unsafe_code)]
pub(crate) fn setsockopt<T: Copy>(
    fd: BorrowedFd<'_>,
    level: c_int,
    name: c_int,
    value: &T,
) -> io::Result<()> {
    let len = socklen_t::try_from(std::mem::size_of::<T>())
        .map_err(|_| invalid_input("socket option too large"))?;
    // SAFETY: `value` points to an initialised `T` of exactly `len` bytes that outlives the
    // call; the kernel only reads it. `fd` is a valid descriptor for the call's duration.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (value as *const T).cast::<c_void>(),
            len,
        )
    };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// `SO_BINDTODEVICE`: only this interface's packets in, and out through it.
#[allow(unsafe_code)]
pub(crate) fn bind_to_device(fd: BorrowedFd<'_>, ifname: &str) -> io::Result<()> {
    let bytes = ifname.as_bytes();
    if bytes.is_empty() || bytes.len() >= libc::IFNAMSIZ || bytes.contains(&0) {
        return Err(invalid_input("bad interface name"));
    }
    let len = socklen_t::try_from(bytes.len()).map_err(|_| invalid_input("bad interface name"))?;
    // SAFETY: `bytes` is a live slice of `len` bytes; the kernel copies at most `len` bytes
    // and does not need a terminating NUL when the length is given.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_BINDTODEVICE,
            bytes.as_ptr().cast::<c_void>(),
            len,
        )
    };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Asks for a receive buffer of `size` bytes: forced past `rmem_max` when we may (root),
/// otherwise as much as the kernel allows.
fn set_rcvbuf(fd: BorrowedFd<'_>, size: usize) -> io::Result<()> {
    let size = c_int::try_from(size).unwrap_or(c_int::MAX);
    if setsockopt(fd, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, &size).is_ok() {
        return Ok(());
    }
    setsockopt(fd, libc::SOL_SOCKET, libc::SO_RCVBUF, &size)
}

/// A socket address in the C layouts `bind`/`sendmsg` take.
pub(crate) enum RawAddr {
    V4(libc::sockaddr_in),
    V6(libc::sockaddr_in6),
    Ll(libc::sockaddr_ll),
}

impl RawAddr {
    pub(crate) fn v4(a: Ipv4Addr) -> Self {
        RawAddr::V4(libc::sockaddr_in {
            sin_family: libc::AF_INET as libc::sa_family_t,
            sin_port: 0,
            sin_addr: in_addr(a),
            sin_zero: [0; 8],
        })
    }

    pub(crate) fn v6(a: Ipv6Addr, scope_id: u32) -> Self {
        RawAddr::V6(libc::sockaddr_in6 {
            sin6_family: libc::AF_INET6 as libc::sa_family_t,
            sin6_port: 0,
            sin6_flowinfo: 0,
            sin6_addr: in6_addr(a),
            sin6_scope_id: scope_id,
        })
    }

    /// An `AF_PACKET` address: the interface, the EtherType (host order) and a destination MAC.
    pub(crate) fn link(ifindex: u32, ethertype: u16, dst_mac: [u8; 6]) -> io::Result<Self> {
        let mut sll_addr = [0u8; 8];
        sll_addr[..6].copy_from_slice(&dst_mac);
        Ok(RawAddr::Ll(libc::sockaddr_ll {
            sll_family: libc::AF_PACKET as u16,
            sll_protocol: ethertype.to_be(),
            sll_ifindex: c_int::try_from(ifindex)
                .map_err(|_| invalid_input("ifindex out of range"))?,
            sll_hatype: 0,
            sll_pkttype: 0,
            sll_halen: 6,
            sll_addr,
        }))
    }

    fn as_ptr_len(&self) -> (*const libc::sockaddr, socklen_t) {
        fn pl<T>(t: &T) -> (*const libc::sockaddr, socklen_t) {
            // Socket address structs are a few dozen bytes: the cast cannot truncate.
            (
                (t as *const T).cast::<libc::sockaddr>(),
                std::mem::size_of::<T>() as socklen_t,
            )
        }
        match self {
            RawAddr::V4(a) => pl(a),
            RawAddr::V6(a) => pl(a),
            RawAddr::Ll(a) => pl(a),
        }
    }
}

/// `bind(2)`.
#[allow(unsafe_code)]
pub(crate) fn bind(fd: BorrowedFd<'_>, addr: &RawAddr) -> io::Result<()> {
    let (ptr, len) = addr.as_ptr_len();
    // SAFETY: `ptr` points to a live socket address of `len` bytes owned by `addr`, which
    // outlives the call; the kernel only reads it.
    let rc = unsafe { libc::bind(fd.as_raw_fd(), ptr, len) };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// `sendmsg(2)` of the concatenation of `parts` to `to`, with ancillary data `control`.
#[allow(unsafe_code)]
pub(crate) fn sendmsg(
    fd: BorrowedFd<'_>,
    parts: &[&[u8]],
    to: &RawAddr,
    control: &[u8],
) -> io::Result<usize> {
    let mut iov: [libc::iovec; 2] = [libc::iovec {
        iov_base: std::ptr::null_mut(),
        iov_len: 0,
    }; 2];
    if parts.len() > iov.len() {
        return Err(invalid_input("too many buffers"));
    }
    for (v, p) in iov.iter_mut().zip(parts) {
        v.iov_base = p.as_ptr().cast_mut().cast::<c_void>();
        v.iov_len = p.len();
    }
    let (name, namelen) = to.as_ptr_len();
    // SAFETY: msghdr is plain data (integers and pointers, padding on some targets); all
    // zeroes is a valid value, the fields we use are set below.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_name = name.cast_mut().cast::<c_void>();
    msg.msg_namelen = namelen;
    msg.msg_iov = iov.as_mut_ptr();
    msg.msg_iovlen = parts.len() as _;
    if !control.is_empty() {
        msg.msg_control = control.as_ptr().cast_mut().cast::<c_void>();
        msg.msg_controllen = control.len() as _;
    }
    // SAFETY: every pointer in `msg` refers to memory (`iov`, the `parts` slices, `to`,
    // `control`) that lives until the call returns, with the lengths given; sendmsg(2) only
    // reads through them despite the `*mut` types.
    let rc = unsafe { libc::sendmsg(fd.as_raw_fd(), &msg, 0) };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc as usize)
    }
}

/// Result of [`recvmsg`].
pub(crate) struct RecvResult {
    pub(crate) len: usize,
    pub(crate) control_len: usize,
    pub(crate) truncated: bool,
    /// Source address for IPv6 sockets (IPv4 sources are read from the header instead).
    pub(crate) src: Option<IpAddr>,
}

/// `recvmsg(2)` into `buf` with ancillary data into `control`.
#[allow(unsafe_code)]
pub(crate) fn recvmsg(
    fd: BorrowedFd<'_>,
    buf: &mut [u8],
    control: &mut [u8],
) -> io::Result<RecvResult> {
    let mut name = libc::sockaddr_in6 {
        sin6_family: 0,
        sin6_port: 0,
        sin6_flowinfo: 0,
        sin6_addr: in6_addr(Ipv6Addr::UNSPECIFIED),
        sin6_scope_id: 0,
    };
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast::<c_void>(),
        iov_len: buf.len(),
    };
    // SAFETY: msghdr is plain data (integers and pointers, padding on some targets); all
    // zeroes is a valid value, the fields we use are set below.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_name = (&mut name as *mut libc::sockaddr_in6).cast::<c_void>();
    msg.msg_namelen = std::mem::size_of::<libc::sockaddr_in6>() as socklen_t;
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast::<c_void>();
    msg.msg_controllen = control.len() as _;
    // SAFETY: `msg` points to `name` (a sockaddr_in6, the largest address an AF_INET or
    // AF_INET6 socket returns, its size in msg_namelen), `iov` -> `buf` and `control`, all
    // exclusively borrowed and alive for the call; the kernel writes at most the given lengths.
    let rc = unsafe { libc::recvmsg(fd.as_raw_fd(), &mut msg, 0) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    let src = (c_int::from(name.sin6_family) == libc::AF_INET6)
        .then(|| IpAddr::V6(Ipv6Addr::from(name.sin6_addr.s6_addr)));
    Ok(RecvResult {
        len: (rc as usize).min(buf.len()),
        control_len: (msg.msg_controllen as usize).min(control.len()),
        truncated: msg.msg_flags & (libc::MSG_TRUNC | libc::MSG_CTRUNC) != 0,
        src,
    })
}

/// Plain `recv(2)` for sockets whose ancillary data we do not need.
#[allow(unsafe_code)]
pub(crate) fn recv(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: `buf` is exclusively borrowed for the call and the kernel writes at most
    // `buf.len()` bytes into it.
    let rc = unsafe {
        libc::recv(
            fd.as_raw_fd(),
            buf.as_mut_ptr().cast::<c_void>(),
            buf.len(),
            0,
        )
    };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc as usize)
    }
}

pub(crate) fn in_addr(a: Ipv4Addr) -> libc::in_addr {
    libc::in_addr {
        s_addr: u32::from_ne_bytes(a.octets()),
    }
}

pub(crate) fn in6_addr(a: Ipv6Addr) -> libc::in6_addr {
    libc::in6_addr {
        s6_addr: a.octets(),
    }
}

/// The scope an IPv6 address needs on this interface: its index for link-local unicast and
/// link/interface-local multicast, 0 otherwise.
pub(crate) fn scope_for(a: Ipv6Addr, ifindex: u32) -> u32 {
    let link_local = a.segments()[0] & 0xffc0 == 0xfe80;
    let link_mcast = a.is_multicast() && matches!(a.segments()[0] & 0x000f, 1 | 2);
    if link_local || link_mcast {
        ifindex
    } else {
        0
    }
}

/// `struct in6_pktinfo` as bytes.
pub(crate) fn in6_pktinfo_bytes(a: Ipv6Addr, ifindex: u32) -> [u8; 20] {
    let mut b = [0u8; 20];
    b[..16].copy_from_slice(&a.octets());
    b[16..].copy_from_slice(&ifindex.to_ne_bytes());
    b
}

fn read_int(data: &[u8]) -> Option<c_int> {
    let b: [u8; 4] = data.get(..4)?.try_into().ok()?;
    Some(c_int::from_ne_bytes(b))
}

/// Alignment of control messages (`CMSG_ALIGN`: the size of `long` on Linux).
const CMSG_ALIGN_TO: usize = std::mem::size_of::<usize>();
const fn cmsg_align(n: usize) -> usize {
    (n + CMSG_ALIGN_TO - 1) & !(CMSG_ALIGN_TO - 1)
}
/// Size of `struct cmsghdr` once aligned: where a control message's data starts.
const CMSG_HDR: usize = cmsg_align(std::mem::size_of::<libc::cmsghdr>());

/// Builds ancillary data in safe code, in the kernel's layout
/// (`{ size_t cmsg_len; int cmsg_level; int cmsg_type; data, padded }`).
pub(crate) struct CmsgWriter {
    buf: [u8; 128],
    len: usize,
}

impl CmsgWriter {
    pub(crate) fn new() -> Self {
        Self {
            buf: [0; 128],
            len: 0,
        }
    }

    /// Appends one control message. Never panics in release builds: a message that does not
    /// fit (a bug, the callers' sizes are fixed) is dropped, and debug builds assert.
    pub(crate) fn push(&mut self, level: c_int, ty: c_int, data: &[u8]) {
        let cmsg_len = CMSG_HDR + data.len();
        let end = self.len + cmsg_align(cmsg_len);
        let Some(out) = self.buf.get_mut(self.len..end) else {
            debug_assert!(false, "control buffer too small");
            return;
        };
        let w = CMSG_ALIGN_TO;
        out[..w].copy_from_slice(&cmsg_len.to_ne_bytes());
        out[w..w + 4].copy_from_slice(&level.to_ne_bytes());
        out[w + 4..w + 8].copy_from_slice(&ty.to_ne_bytes());
        out[CMSG_HDR..cmsg_len].copy_from_slice(data);
        self.len = end;
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

/// Calls `f(level, type, data)` for each control message in `buf` (as recvmsg filled it).
pub(crate) fn for_each_cmsg(buf: &[u8], mut f: impl FnMut(c_int, c_int, &[u8])) {
    let w = CMSG_ALIGN_TO;
    let mut off = 0;
    while off + CMSG_HDR <= buf.len() {
        let h = &buf[off..off + CMSG_HDR];
        let mut lenb = [0u8; std::mem::size_of::<usize>()];
        lenb.copy_from_slice(&h[..w]);
        let len = usize::from_ne_bytes(lenb);
        let level = read_int(&h[w..]).unwrap_or(-1);
        let ty = read_int(&h[w + 4..]).unwrap_or(-1);
        if len < CMSG_HDR || off + len > buf.len() {
            break;
        }
        f(level, ty, &buf[off + CMSG_HDR..off + len]);
        off += cmsg_align(len);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn header_matches_keepalived_layout() {
        let h = ipv4_header(Ipv4Addr::new(10, 77, 0, 11), VRRP_GROUP_V4, 1, 255, 20).unwrap();
        assert_eq!(h[0], 0x45);
        assert_eq!(h[1], 0xc0);
        assert_eq!(u16::from_be_bytes([h[2], h[3]]), 40);
        assert_eq!(u16::from_be_bytes([h[4], h[5]]), 1);
        assert_eq!(&h[6..8], &[0, 0]);
        assert_eq!(h[8], 255);
        assert_eq!(h[9], 112);
        assert_eq!(internet_checksum(&h), 0, "header checksum verifies");
        assert!(ipv4_header(Ipv4Addr::UNSPECIFIED, VRRP_GROUP_V4, 1, 255, 70_000).is_err());
    }

    #[test]
    fn cmsg_round_trip() {
        let mut w = CmsgWriter::new();
        w.push(
            libc::IPPROTO_IPV6,
            libc::IPV6_PKTINFO,
            &in6_pktinfo_bytes(Ipv6Addr::LOCALHOST, 7),
        );
        w.push(
            libc::IPPROTO_IPV6,
            libc::IPV6_HOPLIMIT,
            &255i32.to_ne_bytes(),
        );
        let mut seen = Vec::new();
        for_each_cmsg(w.as_bytes(), |l, t, d| seen.push((l, t, d.to_vec())));
        assert_eq!(seen.len(), 2);
        assert_eq!(seen[0].1, libc::IPV6_PKTINFO);
        assert_eq!(seen[0].2.len(), 20);
        assert_eq!(seen[1].2, 255i32.to_ne_bytes());
        assert_eq!(w.as_bytes().len() % CMSG_ALIGN_TO, 0);
    }

    #[test]
    fn scopes() {
        assert_eq!(scope_for(VRRP_GROUP_V6, 3), 3);
        assert_eq!(scope_for("fe80::1".parse().unwrap(), 3), 3);
        assert_eq!(scope_for("fd00::1".parse().unwrap(), 3), 0);
        assert_eq!(scope_for("ff05::1".parse().unwrap(), 3), 0);
    }
}
