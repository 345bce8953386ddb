//! The VRRP advertisement codec: bytes in, [`Advert`] or a typed [`DropReason`] out, and back.
//!
//! Wire formats (network byte order). VRRPv2, RFC 3768 §5.1:
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |Version| Type  | Virtual Rtr ID|   Priority    | Count IP Addrs|
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |   Auth Type   |   Adver Int   |          Checksum             |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                         IP Address (1)                        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                            .....                              |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                         IP Address (n)                        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                     Authentication Data (1)                   |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                     Authentication Data (2)                   |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! VRRPv3, RFC 5798 §5.1 (IPv4 or IPv6 addresses, no authentication data):
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |Version| Type  | Virtual Rtr ID|   Priority    |Count IPvX Addr|
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |(rsvd) |     Max Adver Int     |          Checksum             |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                       IPvX Address(es)                        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! Where the RFCs and keepalived 2.2.7 differ, this module follows keepalived 2.2.7:
//!
//! * VRRPv2 over IPv6 (a keepalived extension) carries **no** authentication data, and its
//!   checksum includes the IPv6 pseudo-header (the kernel computes it).
//! * VRRPv3 over IPv4 includes the IPv4 pseudo-header with the real destination, unicast too.
//! * A VRRPv3 interval mismatch is not a drop: the backup adopts the master's interval.
//! * Received frames may be longer than the IPv4 total length (Ethernet padding); shorter is an
//!   error.
//! * Validation runs in the order of 2.2.7's `vrrp_check_packet()`, so a packet with several
//!   faults is counted under the same reason keepalived would count it.
//!
//! Every function here is pure: no socket, no clock, no allocation beyond the returned values.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde::Serialize;

use crate::checksum::{ipv4_pseudo_header, ipv6_pseudo_header, Checksum};

/// IP protocol number of VRRP (IANA).
pub const IPPROTO_VRRP: u8 = 112;
/// IP protocol number of IPsec AH, which wraps VRRPv2 adverts with `auth_type AH`.
pub const IPPROTO_AH: u8 = 51;
/// The TTL / hop limit VRRP requires for multicast adverts (RFC 3768 §7.1, RFC 5798 §7.1).
pub const VRRP_TTL: u8 = 255;
/// The IPv4 type of service keepalived sends with (CS6, "internetwork control").
pub const VRRP_TOS: u8 = 0xc0;
/// The IPv4 multicast group of VRRP (224.0.0.18).
pub const VRRP_GROUP_V4: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 18);
/// The IPv6 multicast group of VRRP (ff02::12).
pub const VRRP_GROUP_V6: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12);
/// Length of the fixed VRRP header (both versions).
pub const HEADER_LEN: usize = 8;
/// Length of the VRRPv2 authentication data trailer (IPv4 only).
pub const AUTH_DATA_LEN: usize = 8;
/// Length of the IPv4 header keepalived builds (no options).
pub const IPV4_HEADER_LEN: usize = 20;
/// The only VRRP packet type (ADVERTISEMENT).
pub const TYPE_ADVERTISEMENT: u8 = 1;
/// Largest VRRPv3 interval: the field has 12 bits of centiseconds (40.95 s).
pub const V3_MAX_INTERVAL_CS: u16 = 0x0fff;
/// Largest VRRPv2 interval: one byte of seconds.
pub const V2_MAX_INTERVAL_CS: u16 = 255 * 100;

/// VRRP protocol version; it decides the layout of byte 4-5 and the authentication trailer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum Version {
    /// RFC 3768: interval in seconds, authentication fields, IPv4 only by the RFC.
    V2,
    /// RFC 5798: interval in centiseconds, no authentication, IPv4 and IPv6.
    V3,
}

impl Version {
    /// The value of the 4-bit version field.
    pub const fn number(self) -> u8 {
        match self {
            Version::V2 => 2,
            Version::V3 => 3,
        }
    }

    /// The version for a 4-bit version field, if it is one this codec speaks.
    pub const fn from_number(n: u8) -> Option<Self> {
        match n {
            2 => Some(Version::V2),
            3 => Some(Version::V3),
            _ => None,
        }
    }
}

/// The VRRPv2 "Auth Type" byte.
///
/// RFC 3768 deprecated everything but `None`; keepalived 2.2.7 still speaks `Pass` and `Ah`, so
/// they are named. Other values are kept (not rejected) at parse time so a validator can count
/// them as `invalid_auth_type`, as keepalived does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum AuthType {
    /// 0: no authentication; the data field is 8 zero bytes.
    None,
    /// 1: simple text password, zero-padded to 8 bytes.
    Pass,
    /// 2: IPsec AH (the advert arrives as IP protocol 51); not implemented by this crate.
    Ah,
    /// Any other value, as received.
    Other(u8),
}

impl AuthType {
    /// The wire value.
    pub const fn to_u8(self) -> u8 {
        match self {
            AuthType::None => 0,
            AuthType::Pass => 1,
            AuthType::Ah => 2,
            AuthType::Other(n) => n,
        }
    }

    /// The type for a wire value (0, 1, 2 are named; anything else is `Other`).
    pub const fn from_u8(n: u8) -> Self {
        match n {
            0 => AuthType::None,
            1 => AuthType::Pass,
            2 => AuthType::Ah,
            n => AuthType::Other(n),
        }
    }
}

/// VRRPv2 authentication: the type byte and the 8-byte trailer.
///
/// Kept together because keepalived compares the trailer only for `Pass`, yet always sends it
/// (zeros without authentication), so a byte-exact re-encode needs both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct Auth {
    /// The "Auth Type" byte.
    pub auth_type: AuthType,
    /// The authentication data trailer exactly as sent (only meaningful for `Pass`).
    pub data: [u8; AUTH_DATA_LEN],
}

impl Auth {
    /// No authentication: type 0 and 8 zero bytes, what keepalived sends by default.
    pub const fn none() -> Self {
        Self {
            auth_type: AuthType::None,
            data: [0; AUTH_DATA_LEN],
        }
    }

    /// `auth_type PASS`: the password truncated or zero-padded to 8 bytes, as keepalived does.
    pub fn password(pass: &[u8]) -> Self {
        let mut data = [0u8; AUTH_DATA_LEN];
        let n = pass.len().min(AUTH_DATA_LEN);
        data[..n].copy_from_slice(&pass[..n]);
        Self {
            auth_type: AuthType::Pass,
            data,
        }
    }
}

impl Default for Auth {
    fn default() -> Self {
        Self::none()
    }
}

/// Address family of a VRRP instance; decides address size and the checksum pseudo-header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum Family {
    /// 4-byte addresses.
    Ipv4,
    /// 16-byte addresses.
    Ipv6,
}

impl Family {
    /// The family of an address.
    pub const fn of(addr: &IpAddr) -> Self {
        match addr {
            IpAddr::V4(_) => Family::Ipv4,
            IpAddr::V6(_) => Family::Ipv6,
        }
    }

    /// Bytes per address in the advert.
    pub const fn addr_len(self) -> usize {
        match self {
            Family::Ipv4 => 4,
            Family::Ipv6 => 16,
        }
    }
}

/// One VRRP advertisement, decoded or to be encoded.
///
/// The interval is held in centiseconds for both versions so timers never need to know the
/// version: a v2 `Adver Int` of 1 s becomes `interval_cs == 100`. Priority 0 (a master leaving)
/// is an ordinary value here; its meaning belongs to the state machine.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Advert {
    /// Protocol version.
    pub version: Version,
    /// Virtual router ID (1..=255 in valid configurations; 0 is decoded as is).
    pub vrid: u8,
    /// Sender's priority: 0 = leaving, 255 = address owner.
    pub priority: u8,
    /// Advertisement interval in centiseconds (v2: seconds × 100; v3: the 12-bit field).
    pub interval_cs: u16,
    /// Virtual addresses in packet order; all of the instance's family.
    pub addresses: Vec<IpAddr>,
    /// VRRPv2-over-IPv4 authentication; `Auth::none()` for v3 and IPv6 (no trailer on the wire).
    pub auth: Auth,
    /// Checksum as found on the wire when decoded; ignored by [`Advert::encode`], which
    /// always computes a fresh one.
    pub checksum: u16,
}

/// Options that change how an advert is put on the wire.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EncodeOptions {
    /// `v3_checksum_as_v2`: VRRPv3 over IPv4 without the pseudo-header (interop with routers
    /// that implement RFC 9568's reading). No effect on v2 or IPv6.
    pub v3_checksum_as_v2: bool,
}

/// Why an advert could not be encoded; every case is a configuration the caller should have
/// refused earlier, so this is a bug report, not a runtime condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// Source, destination and virtual addresses must all be of one family.
    #[error("addresses of mixed families (IPv4 and IPv6) in one advert")]
    FamilyMismatch,
    /// The count field is one byte.
    #[error("{0} virtual addresses; an advert carries at most 255")]
    TooManyAddresses(usize),
    /// v2: whole seconds up to 255; v3: up to 4095 centiseconds.
    #[error("interval {interval_cs} cs cannot be expressed in a VRRP{version:?} advert")]
    BadInterval {
        /// The version that cannot carry it.
        version: Version,
        /// The offending interval.
        interval_cs: u16,
    },
    /// The IPv4 total length field is 16 bits.
    #[error("IPv4 packet of {0} bytes exceeds 65535")]
    TooLong(usize),
}

/// How a VRRP checksum is computed for a given version, family and option set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChecksumMode {
    /// Over the VRRP message only (v2 over IPv4, or v3 with `v3_checksum_as_v2`).
    MessageOnly,
    /// IPv4 pseudo-header first (v3 over IPv4, keepalived default).
    Ipv4Pseudo,
    /// IPv6 pseudo-header first (every version over IPv6; the kernel's computation).
    Ipv6Pseudo,
}

impl ChecksumMode {
    /// Picks the mode keepalived 2.2.7 uses.
    pub const fn select(version: Version, family: Family, v3_checksum_as_v2: bool) -> Self {
        match (family, version) {
            (Family::Ipv6, _) => ChecksumMode::Ipv6Pseudo,
            (Family::Ipv4, Version::V2) => ChecksumMode::MessageOnly,
            (Family::Ipv4, Version::V3) if v3_checksum_as_v2 => ChecksumMode::MessageOnly,
            (Family::Ipv4, Version::V3) => ChecksumMode::Ipv4Pseudo,
        }
    }
}

/// Starts a sum with the pseudo-header of `mode` for a VRRP message of `len` bytes.
fn pseudo_sum(len: usize, src: IpAddr, dst: IpAddr, mode: ChecksumMode) -> Checksum {
    let mut c = Checksum::new();
    match (mode, src, dst) {
        (ChecksumMode::Ipv4Pseudo, IpAddr::V4(s), IpAddr::V4(d)) => {
            let len = u16::try_from(len).unwrap_or(u16::MAX);
            c.add(&ipv4_pseudo_header(s, d, IPPROTO_VRRP, len));
        }
        (ChecksumMode::Ipv6Pseudo, IpAddr::V6(s), IpAddr::V6(d)) => {
            let len = u32::try_from(len).unwrap_or(u32::MAX);
            c.add(&ipv6_pseudo_header(s, d, IPPROTO_VRRP, len));
        }
        // MessageOnly, or a family mismatch the callers exclude before getting here.
        _ => {}
    }
    c
}

/// The checksum `msg` should carry; bytes 6..8 (the checksum field) are treated as zero.
///
/// `src`/`dst` are the IP source and destination (the real unicast peer for unicast, the
/// group for multicast); they are only used by the pseudo-header modes.
pub fn compute_checksum(msg: &[u8], src: IpAddr, dst: IpAddr, mode: ChecksumMode) -> u16 {
    let mut c = pseudo_sum(msg.len(), src, dst, mode);
    let head = msg.len().min(6);
    let field = msg.len().min(8) - head;
    c.add(&msg[..head])
        .add(&[0u8; 2][..field])
        .add(msg.get(8..).unwrap_or(&[]));
    c.finish()
}

/// Whether `msg` (checksum field included) verifies under `mode`.
pub fn verify_checksum(msg: &[u8], src: IpAddr, dst: IpAddr, mode: ChecksumMode) -> bool {
    pseudo_sum(msg.len(), src, dst, mode).add(msg).folded() == 0xffff
}

impl Advert {
    /// Length of this advert's VRRP message for `family`.
    pub fn wire_len(&self, family: Family) -> usize {
        message_len(self.version, family, self.addresses.len())
    }

    /// Encodes the VRRP message (no IP header) with its checksum.
    ///
    /// `src`/`dst` are the IP addresses the packet will carry; the v3 IPv4 and all IPv6
    /// checksums depend on them, which is why a unicast advert must be encoded once per peer.
    /// `checksum` is ignored; `auth` is written only for v2 over IPv4 (the only layout with a
    /// trailer).
    pub fn encode(
        &self,
        src: IpAddr,
        dst: IpAddr,
        opts: &EncodeOptions,
    ) -> Result<Vec<u8>, EncodeError> {
        let family = Family::of(&src);
        if Family::of(&dst) != family || self.addresses.iter().any(|a| Family::of(a) != family) {
            return Err(EncodeError::FamilyMismatch);
        }
        let count = u8::try_from(self.addresses.len())
            .map_err(|_| EncodeError::TooManyAddresses(self.addresses.len()))?;
        let bad_interval = EncodeError::BadInterval {
            version: self.version,
            interval_cs: self.interval_cs,
        };
        let interval: [u8; 2] = match self.version {
            Version::V2 => {
                if self.interval_cs % 100 != 0 || self.interval_cs > V2_MAX_INTERVAL_CS {
                    return Err(bad_interval);
                }
                let secs = u8::try_from(self.interval_cs / 100).map_err(|_| bad_interval)?;
                [self.auth.auth_type.to_u8(), secs]
            }
            Version::V3 => {
                if self.interval_cs > V3_MAX_INTERVAL_CS {
                    return Err(bad_interval);
                }
                self.interval_cs.to_be_bytes()
            }
        };

        let mut out = Vec::with_capacity(self.wire_len(family));
        out.push((self.version.number() << 4) | TYPE_ADVERTISEMENT);
        out.push(self.vrid);
        out.push(self.priority);
        out.push(count);
        out.extend_from_slice(&interval);
        out.extend_from_slice(&[0, 0]);
        for a in &self.addresses {
            match a {
                IpAddr::V4(v4) => out.extend_from_slice(&v4.octets()),
                IpAddr::V6(v6) => out.extend_from_slice(&v6.octets()),
            }
        }
        if has_auth_trailer(self.version, family) {
            out.extend_from_slice(&self.auth.data);
        }
        let mode = ChecksumMode::select(self.version, family, opts.v3_checksum_as_v2);
        let sum = compute_checksum(&out, src, dst, mode);
        out[6..8].copy_from_slice(&sum.to_be_bytes());
        Ok(out)
    }

    /// Encodes a whole IPv4 packet as keepalived sends it with `IP_HDRINCL`: the header from
    /// [`Ipv4Header::for_vrrp`] followed by [`Advert::encode`].
    pub fn encode_ipv4_packet(
        &self,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        id: u16,
        ttl: u8,
        opts: &EncodeOptions,
    ) -> Result<Vec<u8>, EncodeError> {
        let msg = self.encode(IpAddr::V4(src), IpAddr::V4(dst), opts)?;
        let header = Ipv4Header::for_vrrp(src, dst, id, ttl, msg.len())?;
        let mut out = Vec::with_capacity(IPV4_HEADER_LEN + msg.len());
        out.extend_from_slice(&header.encode());
        out.extend_from_slice(&msg);
        Ok(out)
    }
}

/// Whether the 8-byte authentication trailer is on the wire (keepalived: v2 over IPv4 only).
const fn has_auth_trailer(version: Version, family: Family) -> bool {
    matches!((version, family), (Version::V2, Family::Ipv4))
}

/// VRRP message length for a version, family and address count.
const fn message_len(version: Version, family: Family, count: usize) -> usize {
    let auth = if has_auth_trailer(version, family) {
        AUTH_DATA_LEN
    } else {
        0
    };
    HEADER_LEN + count * family.addr_len() + auth
}

// ---------------------------------------------------------------------------------------------
// IPv4 header
// ---------------------------------------------------------------------------------------------

/// The IPv4 header fields VRRP cares about, as built by keepalived or found in a received packet.
///
/// Keepalived builds its own IPv4 header (raw socket with `IP_HDRINCL`) so that TOS, TTL and
/// the ID sequence are its own: TOS 0xc0, DF clear, TTL 255 (or `unicast_ttl`), ID 1, 2, 3, ...
/// per instance (never 0, which would let the kernel pick one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv4Header {
    /// Type of service byte.
    pub tos: u8,
    /// Total length (header + payload) as in the header.
    pub total_len: u16,
    /// Identification.
    pub id: u16,
    /// Flags and fragment offset (keepalived: 0, DF clear).
    pub flags_fragment: u16,
    /// Time to live.
    pub ttl: u8,
    /// Protocol (112, or 51 when AH wraps the advert).
    pub protocol: u8,
    /// Header checksum as in the header.
    pub checksum: u16,
    /// Source address.
    pub src: Ipv4Addr,
    /// Destination address.
    pub dst: Ipv4Addr,
}

impl Ipv4Header {
    /// The header keepalived puts in front of a VRRP message of `payload_len` bytes.
    ///
    /// The caller owns the ID sequence (keepalived skips 0 on wrap-around) and the TTL
    /// (255 for multicast, `unicast_ttl` for unicast).
    pub fn for_vrrp(
        src: Ipv4Addr,
        dst: Ipv4Addr,
        id: u16,
        ttl: u8,
        payload_len: usize,
    ) -> Result<Self, EncodeError> {
        let total = IPV4_HEADER_LEN + payload_len;
        let total_len = u16::try_from(total).map_err(|_| EncodeError::TooLong(total))?;
        let mut h = Self {
            tos: VRRP_TOS,
            total_len,
            id,
            flags_fragment: 0,
            ttl,
            protocol: IPPROTO_VRRP,
            checksum: 0,
            src,
            dst,
        };
        h.checksum = crate::checksum::internet_checksum(&h.encode_raw(0));
        Ok(h)
    }

    fn encode_raw(&self, checksum: u16) -> [u8; IPV4_HEADER_LEN] {
        let mut b = [0u8; IPV4_HEADER_LEN];
        b[0] = 0x45;
        b[1] = self.tos;
        b[2..4].copy_from_slice(&self.total_len.to_be_bytes());
        b[4..6].copy_from_slice(&self.id.to_be_bytes());
        b[6..8].copy_from_slice(&self.flags_fragment.to_be_bytes());
        b[8] = self.ttl;
        b[9] = self.protocol;
        b[10..12].copy_from_slice(&checksum.to_be_bytes());
        b[12..16].copy_from_slice(&self.src.octets());
        b[16..20].copy_from_slice(&self.dst.octets());
        b
    }

    /// The 20 header bytes (no options) with the stored checksum.
    pub fn encode(&self) -> [u8; IPV4_HEADER_LEN] {
        self.encode_raw(self.checksum)
    }
}

/// A parsed IPv4 packet: header, and the VRRP message it carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Packet<'a> {
    /// The IPv4 header.
    pub header: Ipv4Header,
    /// Whether an IPsec AH header (protocol 51, next header 112) sat before the VRRP message.
    pub ah: bool,
    /// The VRRP message, trimmed to the IPv4 total length (Ethernet padding removed).
    pub vrrp: &'a [u8],
}

/// Parses the IPv4 header of a received packet and finds the VRRP message in it.
///
/// Checks what a raw socket hands over unchecked: version 4, a sane IHL, total length not
/// beyond the received bytes (longer received data is Ethernet padding and is cut off), the
/// header checksum, and protocol 112 (or AH carrying 112).
pub fn parse_ipv4(packet: &[u8]) -> Result<Ipv4Packet<'_>, DropReason> {
    if packet.len() < IPV4_HEADER_LEN {
        return Err(DropReason::TooShort);
    }
    if packet[0] >> 4 != 4 {
        return Err(DropReason::BadIpHeader);
    }
    let ihl = usize::from(packet[0] & 0x0f) * 4;
    if ihl < IPV4_HEADER_LEN || ihl > packet.len() {
        return Err(DropReason::BadIpHeader);
    }
    let total_len = u16::from_be_bytes([packet[2], packet[3]]);
    let total = usize::from(total_len);
    if total < ihl || total > packet.len() {
        return Err(DropReason::IpLengthMismatch);
    }
    if Checksum::new().add(&packet[..ihl]).folded() != 0xffff {
        return Err(DropReason::BadIpChecksum);
    }
    let header = Ipv4Header {
        tos: packet[1],
        total_len,
        id: u16::from_be_bytes([packet[4], packet[5]]),
        flags_fragment: u16::from_be_bytes([packet[6], packet[7]]),
        ttl: packet[8],
        protocol: packet[9],
        checksum: u16::from_be_bytes([packet[10], packet[11]]),
        src: Ipv4Addr::new(packet[12], packet[13], packet[14], packet[15]),
        dst: Ipv4Addr::new(packet[16], packet[17], packet[18], packet[19]),
    };
    let payload = &packet[ihl..total];
    match header.protocol {
        IPPROTO_VRRP => Ok(Ipv4Packet {
            header,
            ah: false,
            vrrp: payload,
        }),
        IPPROTO_AH => {
            // RFC 4302: next header, payload length in 32-bit words minus 2, ...
            let (next, plen) = match payload {
                [next, plen, ..] => (*next, *plen),
                _ => return Err(DropReason::TooShort),
            };
            if next != IPPROTO_VRRP {
                return Err(DropReason::BadProtocol);
            }
            let ah_len = (usize::from(plen) + 2) * 4;
            let vrrp = payload.get(ah_len..).ok_or(DropReason::TooShort)?;
            Ok(Ipv4Packet {
                header,
                ah: true,
                vrrp,
            })
        }
        _ => Err(DropReason::BadProtocol),
    }
}

// ---------------------------------------------------------------------------------------------
// Drop reasons and validation
// ---------------------------------------------------------------------------------------------

/// Why a received packet was dropped.
///
/// Design rule: drop reasons are an enum whose variants are also the counter names in stats,
/// logs and metrics — one list, not three. [`DropReason::counter_name`] is the stable
/// snake_case name (also how it serialises); [`DropReason::ALL`] enumerates them for counter
/// tables; [`DropReason::keepalived_stat`] maps to the field of keepalived's `vrrp_stats` that
/// 2.2.7 increments, for SNMP / stats-file compatibility.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, thiserror::Error)]
pub enum DropReason {
    /// Fewer bytes than the fixed IPv4 or VRRP header (or a truncated AH header).
    #[error("packet too short for the IP/VRRP header")]
    TooShort,
    /// IPv4 version not 4, IHL below 5 or beyond the data; or a caller passed source and
    /// destination of different families.
    #[error("malformed IP header")]
    BadIpHeader,
    /// IPv4 total length larger than the bytes received (or smaller than the header).
    #[error("IPv4 total length does not match the received length")]
    IpLengthMismatch,
    /// IPv4 header checksum wrong (the kernel normally drops these first).
    #[error("bad IPv4 header checksum")]
    BadIpChecksum,
    /// IP protocol neither VRRP nor AH-wrapped VRRP.
    #[error("IP protocol is not VRRP")]
    BadProtocol,
    /// VRRP length differs from header + count × address size (+ auth data for v2/IPv4).
    #[error("VRRP length does not match the address count")]
    BadLength,
    /// Multicast advert whose TTL / hop limit is not 255 (it may have been routed).
    #[error("TTL/hop limit is not 255")]
    BadTtl,
    /// Version field differs from the instance's version (or is neither 2 nor 3).
    #[error("wrong VRRP version")]
    BadVersion,
    /// v2 auth type other than 0, 1, 2.
    #[error("invalid authentication type")]
    InvalidAuthType,
    /// v2 auth type (or AH presence) differs from the configured one.
    #[error("authentication type mismatch")]
    AuthTypeMismatch,
    /// v2 `PASS`: the 8 bytes of authentication data differ from the configured password.
    #[error("authentication failure (wrong password)")]
    AuthFailure,
    /// IPsec AH authentication is configured and used, but not implemented by keepalived-rs.
    #[error("IPsec AH authentication is not supported")]
    AhNotSupported,
    /// v2 advert interval differs from ours (keepalived drops it to avoid two masters running
    /// at different rates; v3 adopts the master's interval instead).
    #[error("advertisement interval mismatch")]
    IntervalMismatch,
    /// Type field is not 1 (ADVERTISEMENT).
    #[error("not an advertisement (bad type)")]
    BadType,
    /// Address count differs from the instance's VIP count (2.2.7 drops; HEAD only logs).
    #[error("unexpected virtual address count")]
    AddrCountMismatch,
    /// VRRP checksum wrong.
    #[error("bad VRRP checksum")]
    BadChecksum,
    /// A multicast advert reached a unicast instance.
    #[error("multicast advert on a unicast instance")]
    MulticastOnUnicast,
    /// A unicast advert reached a multicast instance.
    #[error("unicast advert on a multicast instance")]
    UnicastOnMulticast,
    /// One of the instance's VIPs is missing from the advert.
    #[error("virtual address list differs")]
    AddrListMismatch,
    /// Unicast source address is not a configured peer (`check_unicast_src`).
    #[error("source is not a unicast peer")]
    NotFromPeer,
    /// Unicast TTL outside the peer's `min_ttl`..`max_ttl`.
    #[error("TTL outside the peer's min_ttl/max_ttl")]
    TtlOutOfRange,
    /// No instance has this VRID on the receiving socket (decided by the caller's dispatch).
    #[error("no instance for this VRID")]
    UnknownVrid,
}

impl DropReason {
    /// Every reason, in declaration order: the rows of a counter table.
    pub const ALL: &'static [DropReason] = &[
        DropReason::TooShort,
        DropReason::BadIpHeader,
        DropReason::IpLengthMismatch,
        DropReason::BadIpChecksum,
        DropReason::BadProtocol,
        DropReason::BadLength,
        DropReason::BadTtl,
        DropReason::BadVersion,
        DropReason::InvalidAuthType,
        DropReason::AuthTypeMismatch,
        DropReason::AuthFailure,
        DropReason::AhNotSupported,
        DropReason::IntervalMismatch,
        DropReason::BadType,
        DropReason::AddrCountMismatch,
        DropReason::BadChecksum,
        DropReason::MulticastOnUnicast,
        DropReason::UnicastOnMulticast,
        DropReason::AddrListMismatch,
        DropReason::NotFromPeer,
        DropReason::TtlOutOfRange,
        DropReason::UnknownVrid,
    ];

    /// Every reason (same as [`DropReason::ALL`]), for callers that prefer a function.
    pub const fn all() -> &'static [DropReason] {
        Self::ALL
    }

    /// Stable snake_case name for counters, log keys and metric labels.
    pub const fn counter_name(&self) -> &'static str {
        match self {
            DropReason::TooShort => "too_short",
            DropReason::BadIpHeader => "bad_ip_header",
            DropReason::IpLengthMismatch => "ip_length_mismatch",
            DropReason::BadIpChecksum => "bad_ip_checksum",
            DropReason::BadProtocol => "bad_protocol",
            DropReason::BadLength => "bad_length",
            DropReason::BadTtl => "bad_ttl",
            DropReason::BadVersion => "bad_version",
            DropReason::InvalidAuthType => "invalid_auth_type",
            DropReason::AuthTypeMismatch => "auth_type_mismatch",
            DropReason::AuthFailure => "auth_failure",
            DropReason::AhNotSupported => "ah_not_supported",
            DropReason::IntervalMismatch => "interval_mismatch",
            DropReason::BadType => "bad_type",
            DropReason::AddrCountMismatch => "addr_count_mismatch",
            DropReason::BadChecksum => "bad_checksum",
            DropReason::MulticastOnUnicast => "multicast_on_unicast",
            DropReason::UnicastOnMulticast => "unicast_on_multicast",
            DropReason::AddrListMismatch => "addr_list_mismatch",
            DropReason::NotFromPeer => "not_from_peer",
            DropReason::TtlOutOfRange => "ttl_out_of_range",
            DropReason::UnknownVrid => "unknown_vrid",
        }
    }

    /// The keepalived 2.2.7 `vrrp_stats` field this drop increments, if any (several reasons
    /// share one keepalived counter; some are only logged there).
    pub const fn keepalived_stat(&self) -> Option<&'static str> {
        match self {
            DropReason::IpLengthMismatch | DropReason::BadLength => Some("packet_len_err"),
            DropReason::BadTtl | DropReason::TtlOutOfRange => Some("ip_ttl_err"),
            DropReason::BadVersion => Some("vers_err"),
            DropReason::InvalidAuthType => Some("invalid_authtype"),
            DropReason::AuthTypeMismatch => Some("authtype_mismatch"),
            DropReason::AuthFailure => Some("auth_failure"),
            DropReason::BadType => Some("invalid_type_rcvd"),
            DropReason::AddrCountMismatch
            | DropReason::MulticastOnUnicast
            | DropReason::UnicastOnMulticast
            | DropReason::AddrListMismatch => Some("addr_list_err"),
            DropReason::BadChecksum => Some("chk_err"),
            DropReason::TooShort
            | DropReason::BadIpHeader
            | DropReason::BadIpChecksum
            | DropReason::BadProtocol
            | DropReason::AhNotSupported
            | DropReason::IntervalMismatch
            | DropReason::NotFromPeer
            | DropReason::UnknownVrid => None,
        }
    }
}

impl Serialize for DropReason {
    /// Serialises as [`DropReason::counter_name`], so dumps and counters share one spelling.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.counter_name())
    }
}

/// A configured unicast peer, as far as receive validation needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UnicastPeer {
    /// The peer's address (adverts must come from it when `check_unicast_src` is on).
    pub addr: IpAddr,
    /// Lowest acceptable TTL / hop limit (`min_ttl`, default 0).
    pub min_ttl: u8,
    /// Highest acceptable TTL / hop limit (`max_ttl`, default 255).
    pub max_ttl: u8,
}

impl UnicastPeer {
    /// A peer with no TTL restriction.
    pub const fn new(addr: IpAddr) -> Self {
        Self {
            addr,
            min_ttl: 0,
            max_ttl: 255,
        }
    }
}

/// Per-packet facts the socket layer knows and the VRRP bytes do not carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RxMeta {
    /// IP source address (the sender's primary or `unicast_src_ip` address).
    pub src: IpAddr,
    /// IP destination address (the group, or our address for unicast; IPv6: from
    /// `IPV6_PKTINFO`).
    pub dst: IpAddr,
    /// TTL / hop limit if known (IPv6: from `IPV6_HOPLIMIT`); `None` skips the TTL checks, as
    /// keepalived does when the kernel did not report it.
    pub ttl: Option<u8>,
}

/// The instance configuration receive validation needs; built by the caller per instance.
///
/// Borrowed slices keep it allocation-free so it can be built per packet from the instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ValidationContext<'a> {
    /// The instance's VRRP version.
    pub version: Version,
    /// v2: configured authentication (type and the padded 8-byte password).
    pub auth: Auth,
    /// v2: configured advert interval (must match exactly); unused for v3.
    pub interval_cs: u16,
    /// Unicast peers; empty = a multicast instance (TTL must be 255, destination multicast).
    pub unicast_peers: &'a [UnicastPeer],
    /// `vrrp_check_unicast_src` / `check_unicast_src` / min-max TTL configured: the source
    /// must be a peer and its TTL within that peer's range.
    pub check_unicast_src: bool,
    /// The instance's VIPs, to check count and list; `None` skips both (keepalived's
    /// `skip_check_adv_addr` with an unchanged master).
    pub expected_addresses: Option<&'a [IpAddr]>,
    /// `v3_checksum_as_v2`: VRRPv3/IPv4 received checksums are not enforced.
    pub v3_checksum_as_v2: bool,
    /// Verify IPv6 checksums too (the kernel already does on `IPV6_CHECKSUM` sockets; tests
    /// and captures want it).
    pub verify_ipv6_checksum: bool,
}

impl<'a> ValidationContext<'a> {
    /// A multicast instance of `version` with keepalived defaults: no authentication, 1 s
    /// interval, no address check, IPv6 checksum left to the kernel.
    pub const fn new(version: Version) -> Self {
        Self {
            version,
            auth: Auth::none(),
            interval_cs: 100,
            unicast_peers: &[],
            check_unicast_src: false,
            expected_addresses: None,
            v3_checksum_as_v2: false,
            verify_ipv6_checksum: false,
        }
    }

    fn is_unicast(&self) -> bool {
        !self.unicast_peers.is_empty()
    }
}

/// Compares without an early exit, so the password check leaks no timing (keepalived uses
/// `memcmp_constant_time`).
fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The VRID of a VRRP message, for dispatching to an instance before full validation.
pub fn peek_vrid(msg: &[u8]) -> Option<u8> {
    msg.get(1).copied()
}

/// Structural parse with no instance context: header present, version 2 or 3, type 1,
/// length consistent with the count. No checksum or configuration checks.
///
/// For diagnostics, captures and fuzzing; receive paths use [`decode`].
pub fn parse(msg: &[u8], family: Family) -> Result<Advert, DropReason> {
    if msg.len() < HEADER_LEN {
        return Err(DropReason::TooShort);
    }
    let version = Version::from_number(msg[0] >> 4).ok_or(DropReason::BadVersion)?;
    if msg.len() != message_len(version, family, usize::from(msg[3])) {
        return Err(DropReason::BadLength);
    }
    if msg[0] & 0x0f != TYPE_ADVERTISEMENT {
        return Err(DropReason::BadType);
    }
    Ok(build(msg, version, family))
}

/// Builds the advert from a message whose length has been checked against its count.
fn build(msg: &[u8], version: Version, family: Family) -> Advert {
    let count = usize::from(msg[3]);
    let body = &msg[HEADER_LEN..];
    let addresses = match family {
        Family::Ipv4 => body
            .chunks_exact(4)
            .take(count)
            .map(|c| IpAddr::V4(Ipv4Addr::new(c[0], c[1], c[2], c[3])))
            .collect(),
        Family::Ipv6 => body
            .chunks_exact(16)
            .take(count)
            .map(|c| {
                let mut o = [0u8; 16];
                o.copy_from_slice(c);
                IpAddr::V6(Ipv6Addr::from(o))
            })
            .collect(),
    };
    let (interval_cs, auth) = match version {
        Version::V2 => {
            let mut auth = Auth {
                auth_type: AuthType::from_u8(msg[4]),
                data: [0; AUTH_DATA_LEN],
            };
            if has_auth_trailer(version, family) {
                if let Some(tail) = msg
                    .len()
                    .checked_sub(AUTH_DATA_LEN)
                    .and_then(|s| msg.get(s..))
                {
                    auth.data.copy_from_slice(tail);
                }
            }
            (u16::from(msg[5]) * 100, auth)
        }
        Version::V3 => (
            u16::from_be_bytes([msg[4], msg[5]]) & V3_MAX_INTERVAL_CS,
            Auth::none(),
        ),
    };
    Advert {
        version,
        vrid: msg[1],
        priority: msg[2],
        interval_cs,
        addresses,
        auth,
        checksum: u16::from_be_bytes([msg[6], msg[7]]),
    }
}

/// Validates and decodes a received VRRP message (the bytes after the IP header, as an IPv6 raw
/// socket delivers them) for the instance described by `ctx`.
///
/// Checks run in keepalived 2.2.7's order (`vrrp_check_packet()`): length, TTL (multicast
/// only), version, v2 auth type / password / interval, type, address count, checksum,
/// multicast-vs-unicast, address list, unicast source and TTL range. A v3 interval different
/// from ours is accepted: the caller adopts `interval_cs` as Master_Adver_Interval.
/// The VRID is not checked: dispatching by VRID ([`peek_vrid`]) is the caller's job.
/// VRRPv2 over IPv6 has no authentication trailer, so there only the auth type is compared.
/// Never panics, whatever the bytes.
pub fn decode(
    msg: &[u8],
    meta: &RxMeta,
    ctx: &ValidationContext<'_>,
) -> Result<Advert, DropReason> {
    let family = Family::of(&meta.src);
    if Family::of(&meta.dst) != family {
        return Err(DropReason::BadIpHeader);
    }
    if msg.len() < HEADER_LEN {
        return Err(DropReason::TooShort);
    }
    let wire_version = msg[0] >> 4;
    let count = usize::from(msg[3]);
    // keepalived sizes the packet by its own version field: the trailer only for "2" on IPv4.
    let layout = if wire_version == 2 {
        Version::V2
    } else {
        Version::V3
    };
    if msg.len() != message_len(layout, family, count) {
        return Err(DropReason::BadLength);
    }
    if !ctx.is_unicast() && meta.ttl.is_some_and(|t| t != VRRP_TTL) {
        return Err(DropReason::BadTtl);
    }
    if wire_version != ctx.version.number() {
        return Err(DropReason::BadVersion);
    }
    let version = ctx.version;

    if version == Version::V2 {
        let auth_type = AuthType::from_u8(msg[4]);
        if matches!(auth_type, AuthType::Other(_)) {
            return Err(DropReason::InvalidAuthType);
        }
        if auth_type != ctx.auth.auth_type {
            return Err(DropReason::AuthTypeMismatch);
        }
        match auth_type {
            AuthType::Pass if has_auth_trailer(version, family) => {
                let tail = msg.len() - AUTH_DATA_LEN;
                if !ct_eq(&msg[tail..], &ctx.auth.data) {
                    return Err(DropReason::AuthFailure);
                }
            }
            // AH matched on both sides: only reachable through decode_ipv4's AH path, which
            // has already refused; here (no AH header seen) it cannot be verified either.
            AuthType::Ah => return Err(DropReason::AhNotSupported),
            _ => {}
        }
        if u16::from(msg[5]) * 100 != ctx.interval_cs {
            return Err(DropReason::IntervalMismatch);
        }
    }

    if msg[0] & 0x0f != TYPE_ADVERTISEMENT {
        return Err(DropReason::BadType);
    }
    if let Some(expected) = ctx.expected_addresses {
        if expected.len() != count {
            return Err(DropReason::AddrCountMismatch);
        }
    }

    let check = match (family, version) {
        (Family::Ipv6, _) => ctx.verify_ipv6_checksum,
        (Family::Ipv4, Version::V3) => !ctx.v3_checksum_as_v2,
        (Family::Ipv4, Version::V2) => true,
    };
    if check {
        let mode = ChecksumMode::select(version, family, false);
        if !verify_checksum(msg, meta.src, meta.dst, mode) {
            return Err(DropReason::BadChecksum);
        }
    }

    let multicast = meta.dst.is_multicast();
    if multicast && ctx.is_unicast() {
        return Err(DropReason::MulticastOnUnicast);
    }
    if !multicast && !ctx.is_unicast() {
        return Err(DropReason::UnicastOnMulticast);
    }

    let advert = build(msg, version, family);

    if let Some(expected) = ctx.expected_addresses {
        if expected.iter().any(|e| !advert.addresses.contains(e)) {
            return Err(DropReason::AddrListMismatch);
        }
        if ctx.is_unicast() && ctx.check_unicast_src {
            let peer = ctx
                .unicast_peers
                .iter()
                .find(|p| p.addr == meta.src)
                .ok_or(DropReason::NotFromPeer)?;
            if meta
                .ttl
                .is_some_and(|t| t < peer.min_ttl || t > peer.max_ttl)
            {
                return Err(DropReason::TtlOutOfRange);
            }
        }
    }
    Ok(advert)
}

/// An advert received in a whole IPv4 packet, with the header it came in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ipv4Advert {
    /// The IPv4 header (source = the master's address for elections and logs).
    pub header: Ipv4Header,
    /// The validated advert.
    pub advert: Advert,
}

/// Validates and decodes a whole received IPv4 packet (header included, as an IPv4 raw socket
/// delivers it), Ethernet padding after the total length tolerated.
///
/// AH-wrapped adverts are recognised: if the instance does not use AH it is an
/// [`DropReason::AuthTypeMismatch`] (keepalived's rule, also for the converse), and if it does,
/// [`DropReason::AhNotSupported`].
pub fn decode_ipv4(packet: &[u8], ctx: &ValidationContext<'_>) -> Result<Ipv4Advert, DropReason> {
    let p = parse_ipv4(packet)?;
    let ah_configured = ctx.version == Version::V2 && ctx.auth.auth_type == AuthType::Ah;
    if p.ah != ah_configured {
        return Err(DropReason::AuthTypeMismatch);
    }
    if p.ah {
        return Err(DropReason::AhNotSupported);
    }
    let meta = RxMeta {
        src: IpAddr::V4(p.header.src),
        dst: IpAddr::V4(p.header.dst),
        ttl: Some(p.header.ttl),
    };
    let advert = decode(p.vrrp, &meta, ctx)?;
    Ok(Ipv4Advert {
        header: p.header,
        advert,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use proptest::prelude::*;

    const KA1: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 11);
    const KA2: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 12);
    const VIP1: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 77, 0, 100));
    const VIP2: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 77, 0, 101));

    fn v4(a: Ipv4Addr) -> IpAddr {
        IpAddr::V4(a)
    }

    fn mcast_meta() -> RxMeta {
        RxMeta {
            src: v4(KA1),
            dst: v4(VRRP_GROUP_V4),
            ttl: Some(255),
        }
    }

    fn v2_pass() -> Advert {
        Advert {
            version: Version::V2,
            vrid: 51,
            priority: 150,
            interval_cs: 100,
            addresses: vec![VIP1, VIP2],
            auth: Auth::password(b"sEcr3t"),
            checksum: 0,
        }
    }

    fn v2_ctx() -> ValidationContext<'static> {
        ValidationContext {
            auth: Auth::password(b"sEcr3t"),
            ..ValidationContext::new(Version::V2)
        }
    }

    #[test]
    fn encodes_capture_v2_pass() {
        let m = v2_pass()
            .encode(v4(KA1), v4(VRRP_GROUP_V4), &EncodeOptions::default())
            .unwrap();
        let want = [
            0x21, 0x33, 0x96, 0x02, 0x01, 0x01, 0x28, 0x3a, 0x0a, 0x4d, 0x00, 0x64, 0x0a, 0x4d,
            0x00, 0x65, 0x73, 0x45, 0x63, 0x72, 0x33, 0x74, 0x00, 0x00,
        ];
        assert_eq!(m, want);
    }

    #[test]
    fn encodes_capture_v3_unicast_and_as_v2() {
        let a = Advert {
            version: Version::V3,
            vrid: 53,
            priority: 100,
            interval_cs: 100,
            addresses: vec![VIP1],
            auth: Auth::none(),
            checksum: 0,
        };
        let m = a
            .encode(v4(KA2), v4(KA1), &EncodeOptions::default())
            .unwrap();
        assert_eq!(
            m,
            [0x31, 0x35, 0x64, 0x01, 0x00, 0x64, 0x4a, 0x87, 0x0a, 0x4d, 0x00, 0x64]
        );
        let plain = a
            .encode(
                v4(KA2),
                v4(KA1),
                &EncodeOptions {
                    v3_checksum_as_v2: true,
                },
            )
            .unwrap();
        assert!(verify_checksum(
            &plain,
            v4(KA2),
            v4(KA1),
            ChecksumMode::MessageOnly
        ));
        assert_ne!(plain[6..8], m[6..8]);
    }

    #[test]
    fn password_truncated_and_padded() {
        assert_eq!(Auth::password(b"abc").data, *b"abc\0\0\0\0\0");
        assert_eq!(Auth::password(b"0123456789").data, *b"01234567");
    }

    #[test]
    fn encode_errors() {
        let mut a = v2_pass();
        a.interval_cs = 150;
        assert!(matches!(
            a.encode(v4(KA1), v4(VRRP_GROUP_V4), &EncodeOptions::default()),
            Err(EncodeError::BadInterval { .. })
        ));
        let mut a = v2_pass();
        a.addresses.push(IpAddr::V6(Ipv6Addr::LOCALHOST));
        assert_eq!(
            a.encode(v4(KA1), v4(VRRP_GROUP_V4), &EncodeOptions::default()),
            Err(EncodeError::FamilyMismatch)
        );
        let mut a = v2_pass();
        a.addresses = vec![VIP1; 256];
        assert_eq!(
            a.encode(v4(KA1), v4(VRRP_GROUP_V4), &EncodeOptions::default()),
            Err(EncodeError::TooManyAddresses(256))
        );
        let mut a = v2_pass();
        a.version = Version::V3;
        a.interval_cs = 4096;
        assert!(a
            .encode(v4(KA1), v4(VRRP_GROUP_V4), &EncodeOptions::default())
            .is_err());
    }

    #[test]
    fn ipv4_header_matches_keepalived() {
        let h = Ipv4Header::for_vrrp(KA1, VRRP_GROUP_V4, 1, 255, 24).unwrap();
        let b = h.encode();
        assert_eq!(
            &b[..12],
            &[0x45, 0xc0, 0x00, 0x2c, 0x00, 0x01, 0x00, 0x00, 0xff, 0x70, b[10], b[11]]
        );
        assert_eq!(Checksum::new().add(&b).folded(), 0xffff);
        assert!(Ipv4Header::for_vrrp(KA1, KA2, 1, 255, 70_000).is_err());
    }

    #[test]
    fn decode_ipv4_round_trip_and_padding() {
        let pkt = v2_pass()
            .encode_ipv4_packet(KA1, VRRP_GROUP_V4, 7, 255, &EncodeOptions::default())
            .unwrap();
        let got = decode_ipv4(&pkt, &v2_ctx()).unwrap();
        assert_eq!(got.header.id, 7);
        assert_eq!(got.advert.addresses, vec![VIP1, VIP2]);
        let mut padded = pkt.clone();
        padded.extend_from_slice(&[0; 14]);
        assert_eq!(decode_ipv4(&padded, &v2_ctx()).unwrap(), got);
        assert_eq!(
            decode_ipv4(&pkt[..pkt.len() - 1], &v2_ctx()),
            Err(DropReason::IpLengthMismatch)
        );
    }

    #[test]
    fn v2_validation_reasons() {
        let meta = mcast_meta();
        let msg = v2_pass()
            .encode(meta.src, meta.dst, &EncodeOptions::default())
            .unwrap();
        assert!(decode(&msg, &meta, &v2_ctx()).is_ok());

        let wrong_pw = ValidationContext {
            auth: Auth::password(b"nope"),
            ..v2_ctx()
        };
        assert_eq!(decode(&msg, &meta, &wrong_pw), Err(DropReason::AuthFailure));
        let no_auth = ValidationContext::new(Version::V2);
        assert_eq!(
            decode(&msg, &meta, &no_auth),
            Err(DropReason::AuthTypeMismatch)
        );
        let slow = ValidationContext {
            interval_cs: 200,
            ..v2_ctx()
        };
        assert_eq!(
            decode(&msg, &meta, &slow),
            Err(DropReason::IntervalMismatch)
        );
        let v3 = ValidationContext::new(Version::V3);
        assert_eq!(decode(&msg, &meta, &v3), Err(DropReason::BadVersion));

        let ttl = RxMeta {
            ttl: Some(254),
            ..meta
        };
        assert_eq!(decode(&msg, &ttl, &v2_ctx()), Err(DropReason::BadTtl));

        let mut bad = msg.clone();
        bad[4] = 7;
        assert_eq!(
            decode(&bad, &meta, &v2_ctx()),
            Err(DropReason::InvalidAuthType)
        );
        let mut bad = msg.clone();
        bad[0] = 0x22;
        assert_eq!(decode(&bad, &meta, &v2_ctx()), Err(DropReason::BadType));
        let mut bad = msg.clone();
        bad[2] ^= 1;
        assert_eq!(decode(&bad, &meta, &v2_ctx()), Err(DropReason::BadChecksum));

        let one = [VIP1];
        let c = ValidationContext {
            expected_addresses: Some(&one),
            ..v2_ctx()
        };
        assert_eq!(decode(&msg, &meta, &c), Err(DropReason::AddrCountMismatch));
        let other = [VIP1, IpAddr::V4(Ipv4Addr::new(10, 77, 0, 102))];
        let c = ValidationContext {
            expected_addresses: Some(&other),
            ..v2_ctx()
        };
        assert_eq!(decode(&msg, &meta, &c), Err(DropReason::AddrListMismatch));
        let reordered = [VIP2, VIP1];
        let c = ValidationContext {
            expected_addresses: Some(&reordered),
            ..v2_ctx()
        };
        assert!(decode(&msg, &meta, &c).is_ok(), "order does not matter");
    }

    #[test]
    fn v3_interval_mismatch_is_accepted() {
        let a = Advert {
            version: Version::V3,
            vrid: 52,
            priority: 150,
            interval_cs: 10,
            addresses: vec![VIP1],
            auth: Auth::none(),
            checksum: 0,
        };
        let meta = mcast_meta();
        let msg = a
            .encode(meta.src, meta.dst, &EncodeOptions::default())
            .unwrap();
        let ctx = ValidationContext {
            interval_cs: 100,
            ..ValidationContext::new(Version::V3)
        };
        assert_eq!(decode(&msg, &meta, &ctx).unwrap().interval_cs, 10);
    }

    #[test]
    fn unicast_rules() {
        let a = Advert {
            version: Version::V3,
            vrid: 53,
            priority: 150,
            interval_cs: 100,
            addresses: vec![VIP1],
            auth: Auth::none(),
            checksum: 0,
        };
        let meta = RxMeta {
            src: v4(KA1),
            dst: v4(KA2),
            ttl: Some(64),
        };
        let msg = a
            .encode(meta.src, meta.dst, &EncodeOptions::default())
            .unwrap();
        let peers = [UnicastPeer::new(v4(KA1))];
        let vips = [VIP1];
        let ctx = ValidationContext {
            unicast_peers: &peers,
            check_unicast_src: true,
            expected_addresses: Some(&vips),
            ..ValidationContext::new(Version::V3)
        };
        assert!(
            decode(&msg, &meta, &ctx).is_ok(),
            "TTL 64 is fine for unicast"
        );
        // A multicast instance checks the TTL first (keepalived's order), then the destination.
        let mc = ValidationContext::new(Version::V3);
        assert_eq!(decode(&msg, &meta, &mc), Err(DropReason::BadTtl));
        let meta255 = RxMeta {
            ttl: Some(255),
            ..meta
        };
        assert_eq!(
            decode(&msg, &meta255, &mc),
            Err(DropReason::UnicastOnMulticast)
        );

        let stranger = [UnicastPeer::new(v4(Ipv4Addr::new(10, 77, 0, 13)))];
        let c = ValidationContext {
            unicast_peers: &stranger,
            ..ctx
        };
        assert_eq!(decode(&msg, &meta, &c), Err(DropReason::NotFromPeer));
        let strict = [UnicastPeer {
            addr: v4(KA1),
            min_ttl: 250,
            max_ttl: 255,
        }];
        let c = ValidationContext {
            unicast_peers: &strict,
            ..ctx
        };
        assert_eq!(decode(&msg, &meta, &c), Err(DropReason::TtlOutOfRange));

        let mmeta = mcast_meta();
        let mmsg = a
            .encode(mmeta.src, mmeta.dst, &EncodeOptions::default())
            .unwrap();
        assert_eq!(
            decode(&mmsg, &mmeta, &ctx),
            Err(DropReason::MulticastOnUnicast)
        );

        // v3_checksum_as_v2: the pseudo-header-less checksum is accepted (not enforced).
        let plain = a
            .encode(
                meta.src,
                meta.dst,
                &EncodeOptions {
                    v3_checksum_as_v2: true,
                },
            )
            .unwrap();
        assert_eq!(decode(&plain, &meta, &ctx), Err(DropReason::BadChecksum));
        let c = ValidationContext {
            v3_checksum_as_v2: true,
            ..ctx
        };
        assert!(decode(&plain, &meta, &c).is_ok());
    }

    #[test]
    fn ah_packets_are_typed() {
        let msg = v2_pass()
            .encode(v4(KA1), v4(VRRP_GROUP_V4), &EncodeOptions::default())
            .unwrap();
        // IPv4 header (protocol 51) + 24-byte AH (payload len 4 => (4+2)*4) + VRRP.
        let mut ah = vec![IPPROTO_VRRP, 4, 0, 0];
        ah.extend_from_slice(&[0; 20]);
        let mut h = Ipv4Header::for_vrrp(KA1, VRRP_GROUP_V4, 1, 255, ah.len() + msg.len()).unwrap();
        h.protocol = IPPROTO_AH;
        h.checksum = crate::checksum::internet_checksum(&h.encode_raw(0));
        let mut pkt = h.encode().to_vec();
        pkt.extend_from_slice(&ah);
        pkt.extend_from_slice(&msg);
        let p = parse_ipv4(&pkt).unwrap();
        assert!(p.ah);
        assert_eq!(
            parse(p.vrrp, Family::Ipv4).unwrap().auth.auth_type,
            AuthType::Pass
        );
        assert_eq!(
            decode_ipv4(&pkt, &v2_ctx()),
            Err(DropReason::AuthTypeMismatch)
        );
        let ah_ctx = ValidationContext {
            auth: Auth {
                auth_type: AuthType::Ah,
                data: [0; 8],
            },
            ..ValidationContext::new(Version::V2)
        };
        assert_eq!(decode_ipv4(&pkt, &ah_ctx), Err(DropReason::AhNotSupported));
        let plain = v2_pass()
            .encode_ipv4_packet(KA1, VRRP_GROUP_V4, 1, 255, &EncodeOptions::default())
            .unwrap();
        assert_eq!(
            decode_ipv4(&plain, &ah_ctx),
            Err(DropReason::AuthTypeMismatch)
        );
    }

    #[test]
    fn counter_names_are_unique_snake_case() {
        let mut seen = std::collections::HashSet::new();
        for r in DropReason::all() {
            let n = r.counter_name();
            assert!(
                n.chars()
                    .all(|c| c.is_ascii_lowercase() || c == '_' || c.is_ascii_digit()),
                "{n}"
            );
            assert!(seen.insert(n), "duplicate {n}");
        }
        assert_eq!(seen.len(), DropReason::ALL.len());
    }

    fn arb_advert() -> impl Strategy<Value = (Advert, IpAddr, IpAddr)> {
        (
            any::<bool>(),
            any::<bool>(),
            any::<u8>(),
            any::<u8>(),
            0usize..20,
        )
            .prop_flat_map(|(v3, ipv6, vrid, prio, n)| {
                let addr = if ipv6 {
                    any::<[u8; 16]>()
                        .prop_map(|o| IpAddr::V6(Ipv6Addr::from(o)))
                        .boxed()
                } else {
                    any::<[u8; 4]>()
                        .prop_map(|o| IpAddr::V4(Ipv4Addr::from(o)))
                        .boxed()
                };
                let interval = if v3 {
                    (0u16..=4095).boxed()
                } else {
                    (0u16..=255).prop_map(|s| s * 100).boxed()
                };
                let auth_type = prop_oneof![Just(0u8), Just(1u8), Just(2u8), any::<u8>()];
                (
                    proptest::collection::vec(addr.clone(), n),
                    interval,
                    auth_type,
                    any::<[u8; 8]>(),
                    addr.clone(),
                    addr,
                )
                    .prop_map(
                        move |(addresses, interval_cs, at, data, src, dst)| {
                            let version = if v3 { Version::V3 } else { Version::V2 };
                            let auth = if !v3 && !ipv6 {
                                Auth {
                                    auth_type: AuthType::from_u8(at),
                                    data,
                                }
                            } else if !v3 {
                                Auth {
                                    auth_type: AuthType::from_u8(at),
                                    data: [0; 8],
                                }
                            } else {
                                Auth::none()
                            };
                            (
                                Advert {
                                    version,
                                    vrid,
                                    priority: prio,
                                    interval_cs,
                                    addresses,
                                    auth,
                                    checksum: 0,
                                },
                                src,
                                dst,
                            )
                        },
                    )
            })
    }

    proptest! {
        #[test]
        fn round_trip((advert, src, dst) in arb_advert(), as_v2 in any::<bool>()) {
            let opts = EncodeOptions { v3_checksum_as_v2: as_v2 };
            let msg = advert.encode(src, dst, &opts).unwrap();
            prop_assert_eq!(msg.len(), advert.wire_len(Family::of(&src)));
            let mode = ChecksumMode::select(advert.version, Family::of(&src), as_v2);
            prop_assert!(verify_checksum(&msg, src, dst, mode));
            let parsed = parse(&msg, Family::of(&src)).unwrap();
            let mut want = advert.clone();
            want.checksum = u16::from_be_bytes([msg[6], msg[7]]);
            prop_assert_eq!(&parsed, &want);

            // Full validation with a context that matches the advert.
            let peers = [UnicastPeer::new(src)];
            let ctx = ValidationContext {
                auth: advert.auth,
                interval_cs: advert.interval_cs,
                unicast_peers: if dst.is_multicast() { &[] } else { &peers },
                check_unicast_src: true,
                expected_addresses: Some(&advert.addresses),
                v3_checksum_as_v2: as_v2,
                verify_ipv6_checksum: true,
                ..ValidationContext::new(advert.version)
            };
            let meta = RxMeta { src, dst, ttl: Some(255) };
            let got = decode(&msg, &meta, &ctx);
            let v2_weird_auth = advert.version == Version::V2
                && matches!(advert.auth.auth_type, AuthType::Other(_) | AuthType::Ah);
            if v2_weird_auth {
                prop_assert!(got.is_err());
            } else {
                prop_assert_eq!(got, Ok(want));
            }
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600), v3 in any::<bool>(), uc in any::<bool>()) {
            let version = if v3 { Version::V3 } else { Version::V2 };
            let peers = [UnicastPeer::new(v4(KA1))];
            let vips = [VIP1];
            let ctx = ValidationContext {
                unicast_peers: if uc { &peers } else { &[] },
                check_unicast_src: true,
                expected_addresses: Some(&vips),
                verify_ipv6_checksum: true,
                ..ValidationContext::new(version)
            };
            let _ = decode_ipv4(&bytes, &ctx);
            let _ = decode(&bytes, &mcast_meta(), &ctx);
            let m6 = RxMeta { src: IpAddr::V6(Ipv6Addr::LOCALHOST), dst: IpAddr::V6(VRRP_GROUP_V6), ttl: None };
            let _ = decode(&bytes, &m6, &ctx);
            let _ = parse(&bytes, Family::Ipv4);
            let _ = parse(&bytes, Family::Ipv6);
            let _ = parse_ipv4(&bytes);
        }

        #[test]
        fn valid_header_random_body_never_panics(body in proptest::collection::vec(any::<u8>(), 0..80), head in any::<[u8; 8]>()) {
            let mut msg = head.to_vec();
            msg[0] = if head[0] & 1 == 0 { 0x21 } else { 0x31 };
            msg.extend_from_slice(&body);
            for fam in [Family::Ipv4, Family::Ipv6] {
                if let Ok(a) = parse(&msg, fam) {
                    prop_assert_eq!(a.addresses.len(), usize::from(msg[3]));
                }
            }
        }
    }
}
