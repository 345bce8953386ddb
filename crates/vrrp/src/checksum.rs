//! The Internet checksum (RFC 1071) and the pseudo-headers VRRP sums over.
//!
//! VRRP uses three checksum flavours, and which one applies is a keepalived 2.2.7 decision, not
//! only an RFC one (see `keepalived-behaviour.md` §3.10):
//!
//! * VRRPv2 over IPv4: the VRRP message alone (RFC 3768 §5.3.8).
//! * VRRPv3 over IPv4: an IPv4 pseudo-header (src, dst, 0, 112, VRRP length) first, as RFC 5798
//!   §5.2.8 says, also for unicast (the real destination, not the group); `v3_checksum_as_v2`
//!   drops the pseudo-header (RFC 9568 / other vendors).
//! * Any version over IPv6: the RFC 2460 §8.1 pseudo-header, because the kernel fills and checks
//!   it (`IPV6_CHECKSUM` offset 6), which keepalived relies on even for its v2-over-IPv6 mode.

use std::net::{Ipv4Addr, Ipv6Addr};

/// An RFC 1071 one's-complement accumulator.
///
/// Exists so a pseudo-header and the message can be summed without first concatenating them
/// into a buffer. Chunks of odd length are handled correctly: the dangling byte is paired with
/// the first byte of the next chunk, exactly as if the chunks were contiguous.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Checksum {
    sum: u64,
    pending: Option<u8>,
}

impl Checksum {
    /// An empty sum: summing nothing and finishing yields `0xffff`.
    pub const fn new() -> Self {
        Self {
            sum: 0,
            pending: None,
        }
    }

    /// Adds bytes as if appended to everything summed so far.
    pub fn add(&mut self, bytes: &[u8]) -> &mut Self {
        let mut rest = bytes;
        if let Some(hi) = self.pending.take() {
            match rest.split_first() {
                Some((lo, tail)) => {
                    self.sum += u64::from(u16::from_be_bytes([hi, *lo]));
                    rest = tail;
                }
                None => {
                    self.pending = Some(hi);
                    return self;
                }
            }
        }
        let mut words = rest.chunks_exact(2);
        for w in &mut words {
            self.sum += u64::from(u16::from_be_bytes([w[0], w[1]]));
        }
        if let [last] = words.remainder() {
            self.pending = Some(*last);
        }
        self
    }

    /// The one's-complement sum folded to 16 bits, before the final inversion.
    ///
    /// Verifying a message that carries its own checksum gives `0xffff` when it is intact.
    pub fn folded(&self) -> u16 {
        let mut sum = self.sum;
        if let Some(hi) = self.pending {
            sum += u64::from(u16::from_be_bytes([hi, 0]));
        }
        while sum > 0xffff {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        // The loop leaves at most 16 significant bits.
        u16::try_from(sum).unwrap_or(u16::MAX)
    }

    /// The value to put in a checksum field (the inverted folded sum).
    pub fn finish(&self) -> u16 {
        !self.folded()
    }
}

/// The RFC 1071 checksum of one contiguous buffer (as stored in a header field).
pub fn internet_checksum(bytes: &[u8]) -> u16 {
    Checksum::new().add(bytes).finish()
}

/// The IPv4 pseudo-header keepalived puts in front of a VRRPv3 message (RFC 5798 §5.2.8).
///
/// `length` is the VRRP message length (header + addresses), not the IP total length.
pub fn ipv4_pseudo_header(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, length: u16) -> [u8; 12] {
    let mut p = [0u8; 12];
    p[0..4].copy_from_slice(&src.octets());
    p[4..8].copy_from_slice(&dst.octets());
    p[9] = protocol;
    p[10..12].copy_from_slice(&length.to_be_bytes());
    p
}

/// The IPv6 pseudo-header of RFC 2460 §8.1, as the kernel sums it for `IPV6_CHECKSUM` sockets.
pub fn ipv6_pseudo_header(src: Ipv6Addr, dst: Ipv6Addr, next_header: u8, length: u32) -> [u8; 40] {
    let mut p = [0u8; 40];
    p[0..16].copy_from_slice(&src.octets());
    p[16..32].copy_from_slice(&dst.octets());
    p[32..36].copy_from_slice(&length.to_be_bytes());
    p[39] = next_header;
    p
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn rfc1071_example() {
        // RFC 1071 §3: 00 01 f2 03 f4 f5 f6 f7 sums to ddf2 (before inversion).
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(Checksum::new().add(&data).folded(), 0xddf2);
        assert_eq!(internet_checksum(&data), !0xddf2);
    }

    #[test]
    fn odd_chunks_equal_contiguous() {
        let data: Vec<u8> = (0u8..=200).collect();
        let whole = internet_checksum(&data);
        for split in 0..data.len() {
            let (a, b) = data.split_at(split);
            let mut c = Checksum::new();
            c.add(a).add(&[]).add(b);
            assert_eq!(c.finish(), whole, "split at {split}");
        }
    }

    #[test]
    fn empty_is_ffff() {
        assert_eq!(internet_checksum(&[]), 0xffff);
    }

    #[test]
    fn verifying_includes_field() {
        let mut msg = vec![
            0x21, 0x33, 0x96, 0x02, 0x01, 0x01, 0, 0, 0x0a, 0x4d, 0x00, 0x64,
        ];
        let c = internet_checksum(&msg);
        msg[6..8].copy_from_slice(&c.to_be_bytes());
        assert_eq!(Checksum::new().add(&msg).folded(), 0xffff);
    }
}
