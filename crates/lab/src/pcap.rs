//! Reads the lab's captures (classic pcap, Ethernet, as tcpdump writes them) into decoded
//! frames with their timestamps, so benchmarks measure on the wire without tshark.

use anyhow::{bail, Context, Result};
use std::net::Ipv4Addr;
use std::path::Path;

/// What a frame carried, as far as the labs care.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    /// A VRRP advert (IPv4 protocol 112).
    Vrrp {
        /// IPv4 TTL.
        ttl: u8,
        /// VRRP version (high nibble of the first byte).
        version: u8,
        /// Virtual router id.
        vrid: u8,
        /// Advertised priority.
        priority: u8,
    },
    /// An ARP packet (1 request, 2 reply); a gratuitous ARP has sender == target.
    Arp {
        /// ARP opcode.
        op: u16,
        /// Sender protocol address.
        sender: Ipv4Addr,
        /// Target protocol address.
        target: Ipv4Addr,
    },
    /// ICMP echo request (type 8) or reply (type 0).
    Echo {
        /// ICMP type.
        kind: u8,
        /// Sequence number.
        seq: u16,
    },
    /// Anything else.
    Other,
}

/// One captured frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// Capture time, microseconds since the Unix epoch (CLOCK_REALTIME of the capturing host).
    pub time_us: i64,
    /// Ethernet source address.
    pub src_mac: [u8; 6],
    /// IPv4 source and destination, when IPv4.
    pub ip: Option<(Ipv4Addr, Ipv4Addr)>,
    /// The decoded payload.
    pub payload: Payload,
}

impl Frame {
    /// Time in seconds since the epoch.
    pub fn time_s(&self) -> f64 {
        self.time_us as f64 / 1e6
    }
}

/// Formats a MAC as `aa:bb:cc:dd:ee:ff`.
pub fn mac_string(m: &[u8; 6]) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Reads a whole pcap file. A truncated last record (tcpdump stopped mid-write) is ignored.
pub fn read(path: &Path) -> Result<Vec<Frame>> {
    let data = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    parse(&data)
}

/// Parses pcap bytes (microsecond or nanosecond timestamps, either byte order).
pub fn parse(data: &[u8]) -> Result<Vec<Frame>> {
    if data.len() < 24 {
        bail!("not a pcap file (too short)");
    }
    let magic = [data[0], data[1], data[2], data[3]];
    let (le, nanos) = match magic {
        [0xd4, 0xc3, 0xb2, 0xa1] => (true, false),
        [0xa1, 0xb2, 0xc3, 0xd4] => (false, false),
        [0x4d, 0x3c, 0xb2, 0xa1] => (true, true),
        [0xa1, 0xb2, 0x3c, 0x4d] => (false, true),
        _ => bail!("not a pcap file (magic {magic:02x?})"),
    };
    let u32_at = |b: &[u8], i: usize| -> Option<u32> {
        let s: [u8; 4] = b.get(i..i + 4)?.try_into().ok()?;
        Some(if le {
            u32::from_le_bytes(s)
        } else {
            u32::from_be_bytes(s)
        })
    };
    let linktype = u32_at(data, 20).unwrap_or(0);
    if linktype != 1 {
        bail!("pcap link type {linktype} is not Ethernet");
    }
    let mut frames = Vec::new();
    let mut at = 24;
    while at + 16 <= data.len() {
        let (Some(sec), Some(frac), Some(caplen)) =
            (u32_at(data, at), u32_at(data, at + 4), u32_at(data, at + 8))
        else {
            break;
        };
        let start = at + 16;
        let end = start + caplen as usize;
        let Some(bytes) = data.get(start..end) else {
            break;
        };
        let micros = if nanos { frac / 1000 } else { frac };
        let time_us = i64::from(sec) * 1_000_000 + i64::from(micros);
        if let Some(f) = decode(time_us, bytes) {
            frames.push(f);
        }
        at = end;
    }
    Ok(frames)
}

fn decode(time_us: i64, b: &[u8]) -> Option<Frame> {
    let src_mac: [u8; 6] = b.get(6..12)?.try_into().ok()?;
    let mut ethertype = u16::from_be_bytes([*b.get(12)?, *b.get(13)?]);
    let mut off = 14;
    if ethertype == 0x8100 {
        ethertype = u16::from_be_bytes([*b.get(16)?, *b.get(17)?]);
        off = 18;
    }
    let mut frame = Frame {
        time_us,
        src_mac,
        ip: None,
        payload: Payload::Other,
    };
    match ethertype {
        0x0806 => {
            let a = b.get(off..off + 28)?;
            let op = u16::from_be_bytes([a[6], a[7]]);
            let sender = Ipv4Addr::new(a[14], a[15], a[16], a[17]);
            let target = Ipv4Addr::new(a[24], a[25], a[26], a[27]);
            frame.payload = Payload::Arp { op, sender, target };
        }
        0x0800 => {
            let ip = b.get(off..)?;
            let ihl = usize::from(ip.first()? & 0x0f) * 4;
            if ihl < 20 {
                return Some(frame);
            }
            let ttl = *ip.get(8)?;
            let proto = *ip.get(9)?;
            let src = Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]);
            let dst = Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]);
            frame.ip = Some((src, dst));
            let body = ip.get(ihl..)?;
            frame.payload = match proto {
                112 if body.len() >= 4 => Payload::Vrrp {
                    ttl,
                    version: body[0] >> 4,
                    vrid: body[1],
                    priority: body[2],
                },
                1 if body.len() >= 8 => Payload::Echo {
                    kind: body[0],
                    seq: u16::from_be_bytes([body[6], body[7]]),
                },
                _ => Payload::Other,
            };
        }
        _ => {}
    }
    Some(frame)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pcap(records: &[(u32, u32, Vec<u8>)]) -> Vec<u8> {
        let mut v = vec![0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0];
        v.extend([0u8; 8]);
        v.extend(65535u32.to_le_bytes());
        v.extend(1u32.to_le_bytes());
        for (s, us, b) in records {
            v.extend(s.to_le_bytes());
            v.extend(us.to_le_bytes());
            v.extend((b.len() as u32).to_le_bytes());
            v.extend((b.len() as u32).to_le_bytes());
            v.extend(b);
        }
        v
    }

    fn eth(ethertype: u16, body: &[u8]) -> Vec<u8> {
        let mut f = vec![0x01, 0, 0x5e, 0, 0, 0x12, 2, 0, 0, 0, 0, 1];
        f.extend(ethertype.to_be_bytes());
        f.extend(body);
        f
    }

    fn ipv4(proto: u8, ttl: u8, body: &[u8]) -> Vec<u8> {
        let mut h = vec![
            0x45, 0xc0, 0, 0, 0, 0, 0, 0, ttl, proto, 0, 0, 10, 0, 0, 1, 224, 0, 0, 18,
        ];
        h.extend(body);
        h
    }

    #[test]
    fn vrrp_arp_and_echo_are_decoded() {
        let vrrp = eth(0x0800, &ipv4(112, 255, &[0x31, 51, 150, 1, 0, 10, 0, 0]));
        let mut arp = vec![0, 1, 8, 0, 6, 4, 0, 2];
        arp.extend([2, 0, 0, 0, 0, 1, 10, 0, 0, 100]);
        arp.extend([0xff; 6]);
        arp.extend([10, 0, 0, 100]);
        let arp = eth(0x0806, &arp);
        let echo = eth(0x0800, &ipv4(1, 64, &[0, 0, 0, 0, 0, 1, 0, 7]));
        let data = pcap(&[
            (100, 5, vrrp),
            (100, 6, arp),
            (101, 0, echo),
            (102, 0, vec![1, 2]), // runt: skipped
        ]);
        let frames = parse(&data).expect("parse");
        assert_eq!(frames.len(), 3);
        assert_eq!(frames[0].time_us, 100_000_005);
        assert_eq!(
            frames[0].payload,
            Payload::Vrrp {
                ttl: 255,
                version: 3,
                vrid: 51,
                priority: 150
            }
        );
        assert_eq!(mac_string(&frames[0].src_mac), "02:00:00:00:00:01");
        assert_eq!(
            frames[1].payload,
            Payload::Arp {
                op: 2,
                sender: Ipv4Addr::new(10, 0, 0, 100),
                target: Ipv4Addr::new(10, 0, 0, 100)
            }
        );
        assert_eq!(frames[2].payload, Payload::Echo { kind: 0, seq: 7 });
        assert!(parse(b"nope").is_err());
    }

    #[test]
    fn a_truncated_last_record_is_ignored() {
        let mut data = pcap(&[(1, 0, eth(0x0800, &ipv4(112, 255, &[0x31, 1, 100, 0])))]);
        data.extend([1, 0, 0, 0, 0, 0, 0, 0, 100, 0, 0, 0, 100, 0, 0, 0, 1, 2]);
        assert_eq!(parse(&data).expect("parse").len(), 1);
    }
}
