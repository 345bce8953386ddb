//! The codec against real keepalived 2.2.7 traffic: the five captures of
//! `/work/shared/captures/` (copied to `tests/captures/`), whose every field value is listed in
//! that directory's README. Every VRRP advert in them must decode to those values, verify its
//! checksum, pass validation with the receiving router's configuration, and re-encode to the
//! same bytes (the whole IPv4 packet for IPv4, the kernel-filled checksum for IPv6).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;

use ka_vrrp::packet::{
    decode, decode_ipv4, parse, verify_checksum, Advert, Auth, AuthType, ChecksumMode, DropReason,
    EncodeOptions, Family, RxMeta, UnicastPeer, ValidationContext, Version, VRRP_GROUP_V4,
    VRRP_GROUP_V6,
};

// ---------------------------------------------------------------------------------------------
// A tiny classic-pcap reader (no crates): 24-byte global header, 16-byte record headers,
// Ethernet II, IPv4 / IPv6.
// ---------------------------------------------------------------------------------------------

struct Frame {
    /// 1-based, as tshark numbers them.
    number: usize,
    data: Vec<u8>,
}

fn read_pcap(name: &str) -> Vec<Frame> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/captures")
        .join(name);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(bytes.len() >= 24, "{name}: no global header");
    let magic = [bytes[0], bytes[1], bytes[2], bytes[3]];
    let le = match magic {
        [0xd4, 0xc3, 0xb2, 0xa1] => true,
        [0xa1, 0xb2, 0xc3, 0xd4] => false,
        _ => panic!("{name}: not a classic microsecond pcap"),
    };
    let u32_at = |b: &[u8], off: usize| {
        let a = [b[off], b[off + 1], b[off + 2], b[off + 3]];
        if le {
            u32::from_le_bytes(a)
        } else {
            u32::from_be_bytes(a)
        }
    };
    assert_eq!(u32_at(&bytes, 20), 1, "{name}: link type must be Ethernet");
    let mut frames = Vec::new();
    let mut off = 24;
    while off < bytes.len() {
        assert!(off + 16 <= bytes.len(), "{name}: truncated record header");
        let incl = u32_at(&bytes, off + 8) as usize;
        let orig = u32_at(&bytes, off + 12) as usize;
        assert_eq!(incl, orig, "{name}: frame cut by snaplen");
        let start = off + 16;
        assert!(start + incl <= bytes.len(), "{name}: truncated record");
        frames.push(Frame {
            number: frames.len() + 1,
            data: bytes[start..start + incl].to_vec(),
        });
        off = start + incl;
    }
    frames
}

/// One VRRP advert found in a frame.
struct Vrrp {
    frame: usize,
    src: IpAddr,
    dst: IpAddr,
    ttl: u8,
    /// The VRRP message.
    msg: Vec<u8>,
    /// IPv4: the whole IP packet (for `decode_ipv4` and the IP header re-encode).
    ipv4_packet: Option<Vec<u8>>,
    /// IPv4: the IP ID.
    ip_id: u16,
}

fn vrrp_frames(frames: &[Frame]) -> Vec<Vrrp> {
    let mut out = Vec::new();
    for f in frames {
        let d = &f.data;
        assert!(d.len() >= 14);
        let ethertype = u16::from_be_bytes([d[12], d[13]]);
        let ip = &d[14..];
        match ethertype {
            0x0800 => {
                let ihl = usize::from(ip[0] & 0x0f) * 4;
                let tot = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
                if ip[9] != 112 {
                    continue;
                }
                let src = IpAddr::V4(Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]));
                let dst = IpAddr::V4(Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]));
                out.push(Vrrp {
                    frame: f.number,
                    src,
                    dst,
                    ttl: ip[8],
                    msg: ip[ihl..tot].to_vec(),
                    ipv4_packet: Some(ip.to_vec()),
                    ip_id: u16::from_be_bytes([ip[4], ip[5]]),
                });
            }
            0x86dd => {
                let plen = usize::from(u16::from_be_bytes([ip[4], ip[5]]));
                if ip[6] != 112 {
                    continue;
                }
                let mut s = [0u8; 16];
                s.copy_from_slice(&ip[8..24]);
                let mut t = [0u8; 16];
                t.copy_from_slice(&ip[24..40]);
                // Traffic class 0xc0, as keepalived sets it.
                let tclass = ((ip[0] & 0x0f) << 4) | (ip[1] >> 4);
                assert_eq!(tclass, 0xc0, "frame {}: traffic class", f.number);
                out.push(Vrrp {
                    frame: f.number,
                    src: IpAddr::V6(Ipv6Addr::from(s)),
                    dst: IpAddr::V6(Ipv6Addr::from(t)),
                    ttl: ip[7],
                    msg: ip[40..40 + plen].to_vec(),
                    ipv4_packet: None,
                    ip_id: 0,
                });
            }
            _ => {}
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// The README's tables.
// ---------------------------------------------------------------------------------------------

/// One row of a README table: the adverts of one sender and priority.
struct Row {
    frames: Vec<usize>,
    src: &'static str,
    dst: &'static str,
    version: Version,
    vrid: u8,
    priority: u8,
    /// `vrrp.auth_type` (v2 only).
    auth_type: Option<AuthType>,
    /// `vrrp.auth_string` (v2 PASS only).
    auth_string: Option<&'static str>,
    /// `vrrp.adver_int` (v2, seconds) or `vrrp.short_adver_int` (v3, centiseconds).
    interval_field: u16,
    checksum: u16,
    addresses: Vec<&'static str>,
}

fn range(a: usize, b: usize) -> Vec<usize> {
    (a..=b).collect()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn hex(s: &str) -> Vec<u8> {
    s.split_whitespace()
        .map(|b| u8::from_str_radix(b, 16).unwrap())
        .collect()
}

struct Capture {
    file: &'static str,
    rows: Vec<Row>,
    /// (priority, sender, README payload hex) — the full messages the README prints.
    payloads: Vec<(u8, &'static str, &'static str)>,
}

fn v2_row(
    frames: Vec<usize>,
    src: &'static str,
    priority: u8,
    checksum: u16,
    pass: bool,
    addresses: Vec<&'static str>,
) -> Row {
    Row {
        frames,
        src,
        dst: "224.0.0.18",
        version: Version::V2,
        vrid: 51,
        priority,
        auth_type: Some(if pass { AuthType::Pass } else { AuthType::None }),
        auth_string: pass.then_some("sEcr3t"),
        interval_field: 1,
        checksum,
        addresses,
    }
}

fn v3_row(
    frames: Vec<usize>,
    (src, dst): (&'static str, &'static str),
    vrid: u8,
    priority: u8,
    interval_field: u16,
    checksum: u16,
    addresses: Vec<&'static str>,
) -> Row {
    Row {
        frames,
        src,
        dst,
        version: Version::V3,
        vrid,
        priority,
        auth_type: None,
        auth_string: None,
        interval_field,
        checksum,
        addresses,
    }
}

fn captures() -> Vec<Capture> {
    let two = || vec!["10.77.0.100", "10.77.0.101"];
    let one = || vec!["10.77.0.100"];
    let six = || vec!["fe80::53", "fd77::100"];
    let (ka1, ka2) = ("10.77.0.11", "10.77.0.12");
    let (ll1, ll2) = ("fe80::77:ff:fe00:101", "fe80::77:ff:fe00:102");
    vec![
        Capture {
            file: "v2-mcast-pass.pcap",
            rows: vec![
                v2_row(vec![1, 12, 13], ka1, 150, 0x283a, true, two()),
                v2_row(vec![14], ka1, 0, 0xbe3a, true, two()),
                v2_row(vec![15, 26], ka2, 100, 0x5a3a, true, two()),
            ],
            payloads: vec![
                (
                    150,
                    ka1,
                    "21 33 96 02 01 01 28 3a 0a 4d 00 64 0a 4d 00 65 73 45 63 72 33 74 00 00",
                ),
                (
                    0,
                    ka1,
                    "21 33 00 02 01 01 be 3a 0a 4d 00 64 0a 4d 00 65 73 45 63 72 33 74 00 00",
                ),
                (
                    100,
                    ka2,
                    "21 33 64 02 01 01 5a 3a 0a 4d 00 64 0a 4d 00 65 73 45 63 72 33 74 00 00",
                ),
            ],
        },
        Capture {
            file: "v3-mcast.pcap",
            rows: vec![
                v3_row(
                    [vec![1], range(7, 11)].concat(),
                    (ka1, "224.0.0.18"),
                    52,
                    150,
                    10,
                    0x4328,
                    one(),
                ),
                v3_row(vec![12], (ka1, "224.0.0.18"), 52, 0, 10, 0xd928, one()),
                v3_row(
                    [vec![13], range(19, 30)].concat(),
                    (ka2, "224.0.0.18"),
                    52,
                    100,
                    10,
                    0x7527,
                    one(),
                ),
            ],
            payloads: vec![
                (150, ka1, "31 34 96 01 00 0a 43 28 0a 4d 00 64"),
                (0, ka1, "31 34 00 01 00 0a d9 28 0a 4d 00 64"),
                (100, ka2, "31 34 64 01 00 0a 75 27 0a 4d 00 64"),
            ],
        },
        Capture {
            file: "v3-unicast.pcap",
            rows: vec![
                v3_row(vec![3, 9, 10], (ka1, ka2), 53, 150, 100, 0x1887, one()),
                v3_row(vec![11], (ka1, ka2), 53, 0, 100, 0xae87, one()),
                v3_row(vec![12, 18], (ka2, ka1), 53, 100, 100, 0x4a87, one()),
            ],
            payloads: vec![
                (150, ka1, "31 35 96 01 00 64 18 87 0a 4d 00 64"),
                (0, ka1, "31 35 00 01 00 64 ae 87 0a 4d 00 64"),
                (100, ka2, "31 35 64 01 00 64 4a 87 0a 4d 00 64"),
            ],
        },
        Capture {
            file: "v3-ipv6.pcap",
            rows: vec![
                v3_row(
                    vec![1, 12, 13],
                    (ll1, "ff02::12"),
                    54,
                    150,
                    100,
                    0x3c71,
                    six(),
                ),
                v3_row(vec![14], (ll1, "ff02::12"), 54, 0, 100, 0xd271, six()),
                v3_row(vec![15, 26], (ll2, "ff02::12"), 54, 100, 100, 0x6e70, six()),
            ],
            payloads: vec![(
                150,
                ll1,
                "31 36 96 02 00 64 3c 71 fe 80 00 00 00 00 00 00 00 00 00 00 00 00 00 53 \
                 fd 77 00 00 00 00 00 00 00 00 00 00 00 00 01 00",
            )],
        },
        Capture {
            file: "v2-vip-mismatch.pcap",
            rows: vec![
                v2_row(vec![1, 19, 21], ka1, 150, 0x3366, false, two()),
                v2_row(vec![22], ka1, 0, 0xc966, false, two()),
                v2_row(vec![12, 18, 20, 23, 24], ka2, 100, 0x7019, false, one()),
            ],
            payloads: vec![
                (
                    150,
                    ka1,
                    "21 33 96 02 00 01 33 66 0a 4d 00 64 0a 4d 00 65 00 00 00 00 00 00 00 00",
                ),
                (
                    0,
                    ka1,
                    "21 33 00 02 00 01 c9 66 0a 4d 00 64 0a 4d 00 65 00 00 00 00 00 00 00 00",
                ),
                (
                    100,
                    ka2,
                    "21 33 64 01 00 01 70 19 0a 4d 00 64 00 00 00 00 00 00 00 00",
                ),
            ],
        },
    ]
}

/// The configuration of the router that receives `row`'s adverts (the other one), as the
/// README's ka1.conf / ka2.conf say.
fn receiver_ctx<'a>(
    row: &Row,
    peers: &'a [UnicastPeer],
    vips: &'a [IpAddr],
) -> ValidationContext<'a> {
    let auth = match row.auth_string {
        Some(p) => Auth::password(p.as_bytes()),
        None => Auth::none(),
    };
    ValidationContext {
        auth,
        interval_cs: 100,
        unicast_peers: peers,
        check_unicast_src: !peers.is_empty(),
        expected_addresses: Some(vips),
        verify_ipv6_checksum: true,
        ..ValidationContext::new(row.version)
    }
}

fn meta(v: &Vrrp) -> RxMeta {
    RxMeta {
        src: v.src,
        dst: v.dst,
        ttl: Some(v.ttl),
    }
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

#[test]
fn every_capture_advert_matches_the_readme() {
    let mut total = 0;
    for cap in captures() {
        let frames = read_pcap(cap.file);
        let adverts = vrrp_frames(&frames);
        let expected: BTreeMap<usize, &Row> = cap
            .rows
            .iter()
            .flat_map(|r| r.frames.iter().map(move |f| (*f, r)))
            .collect();
        let found: Vec<usize> = adverts.iter().map(|a| a.frame).collect();
        assert_eq!(
            found,
            expected.keys().copied().collect::<Vec<_>>(),
            "{}: advert frames",
            cap.file
        );

        // IP IDs: 1, 2, 3, ... per sending process, the priority-0 advert included.
        let mut next_id: BTreeMap<IpAddr, u16> = BTreeMap::new();

        for v in &adverts {
            let row = expected[&v.frame];
            let what = format!("{} frame {}", cap.file, v.frame);
            let family = Family::of(&v.src);
            assert_eq!(v.src, ip(row.src), "{what}: src");
            assert_eq!(v.dst, ip(row.dst), "{what}: dst");
            assert_eq!(v.ttl, 255, "{what}: ttl / hop limit");

            // Fields.
            let a = parse(&v.msg, family).unwrap_or_else(|e| panic!("{what}: {e}"));
            assert_eq!(a.version, row.version, "{what}: version");
            assert_eq!(a.vrid, row.vrid, "{what}: vrid");
            assert_eq!(a.priority, row.priority, "{what}: priority");
            assert_eq!(a.addresses.len(), row.addresses.len(), "{what}: count");
            assert_eq!(
                usize::from(v.msg[3]),
                row.addresses.len(),
                "{what}: count field"
            );
            let want_addrs: Vec<IpAddr> = row.addresses.iter().map(|s| ip(s)).collect();
            assert_eq!(a.addresses, want_addrs, "{what}: addresses");
            let interval_cs = match row.version {
                Version::V2 => row.interval_field * 100,
                Version::V3 => row.interval_field,
            };
            assert_eq!(a.interval_cs, interval_cs, "{what}: interval");
            assert_eq!(a.checksum, row.checksum, "{what}: checksum field");
            match row.auth_type {
                Some(t) => {
                    assert_eq!(a.auth.auth_type, t, "{what}: auth type");
                    let want = row
                        .auth_string
                        .map_or(Auth::none(), |p| Auth::password(p.as_bytes()));
                    assert_eq!(a.auth.data, want.data, "{what}: auth data");
                }
                None => assert_eq!(a.auth, Auth::none(), "{what}: v3 has no auth"),
            }

            // Checksum: v2 over the message; v3 IPv4 with the pseudo-header (unicast too);
            // IPv6 with the RFC 2460 pseudo-header the kernel filled.
            let mode = ChecksumMode::select(row.version, family, false);
            let want_mode = match (row.version, family) {
                (_, Family::Ipv6) => ChecksumMode::Ipv6Pseudo,
                (Version::V2, _) => ChecksumMode::MessageOnly,
                (Version::V3, _) => ChecksumMode::Ipv4Pseudo,
            };
            assert_eq!(mode, want_mode);
            assert!(
                verify_checksum(&v.msg, v.src, v.dst, mode),
                "{what}: checksum verifies"
            );
            if family == Family::Ipv4 && row.version == Version::V3 {
                assert!(
                    !verify_checksum(&v.msg, v.src, v.dst, ChecksumMode::MessageOnly),
                    "{what}: v3 checksum really includes the pseudo-header"
                );
            }

            // Re-encode: the same bytes.
            let again = a.encode(v.src, v.dst, &EncodeOptions::default()).unwrap();
            assert_eq!(again, v.msg, "{what}: re-encoded VRRP message");

            // Validation with the receiving router's configuration.
            let peers = if row.dst.contains(':') || ip(row.dst).is_multicast() {
                vec![]
            } else {
                vec![UnicastPeer::new(v.src)]
            };
            let vips = want_addrs.clone();
            let ctx = receiver_ctx(row, &peers, &vips);
            let got = decode(&v.msg, &meta(v), &ctx).unwrap_or_else(|e| panic!("{what}: {e}"));
            assert_eq!(got, a, "{what}: decode == parse");

            // IPv4: the whole packet decodes, and keepalived's IP header is reproduced too.
            if let Some(pkt) = &v.ipv4_packet {
                let got = decode_ipv4(pkt, &ctx).unwrap_or_else(|e| panic!("{what}: {e}"));
                assert_eq!(got.advert, a, "{what}: decode_ipv4");
                assert_eq!(got.header.tos, 0xc0, "{what}: TOS");
                assert_eq!(got.header.flags_fragment, 0, "{what}: DF clear");
                let id = next_id.entry(v.src).or_insert(1);
                assert_eq!(v.ip_id, *id, "{what}: IP ID sequence");
                *id += 1;
                let (IpAddr::V4(s), IpAddr::V4(d)) = (v.src, v.dst) else {
                    unreachable!()
                };
                let rebuilt = a
                    .encode_ipv4_packet(s, d, v.ip_id, 255, &EncodeOptions::default())
                    .unwrap();
                assert_eq!(&rebuilt, pkt, "{what}: re-encoded IPv4 packet");
            }

            // Every single-bit flip of the message is rejected.
            for i in 0..v.msg.len() {
                for bit in 0..8 {
                    let mut bad = v.msg.clone();
                    bad[i] ^= 1 << bit;
                    assert!(
                        decode(&bad, &meta(v), &ctx).is_err(),
                        "{what}: flip byte {i} bit {bit} accepted"
                    );
                }
            }
            total += 1;
        }

        // The README's printed payloads, byte for byte.
        for (prio, sender, text) in &cap.payloads {
            let v = adverts
                .iter()
                .find(|v| v.msg[2] == *prio && v.src == ip(sender))
                .unwrap_or_else(|| panic!("{}: no advert prio {prio} from {sender}", cap.file));
            assert_eq!(v.msg, hex(text), "{}: payload prio {prio}", cap.file);
        }
    }
    // 6 + 20 + 6 + 6 + 9 adverts, as the README's verification section counts them.
    assert_eq!(total, 47);
}

#[test]
fn priority_zero_adverts_are_valid() {
    for cap in captures() {
        let adverts = vrrp_frames(&read_pcap(cap.file));
        let zero: Vec<&Vrrp> = adverts.iter().filter(|v| v.msg[2] == 0).collect();
        assert_eq!(zero.len(), 1, "{}: one priority-0 advert", cap.file);
        let a = parse(&zero[0].msg, Family::of(&zero[0].src)).unwrap();
        assert_eq!(a.priority, 0);
    }
}

#[test]
fn vip_mismatch_is_dropped_both_ways() {
    // ka2 has one VIP and drops every advert of ka1 ("unexpected ip number count 2, expected 1"),
    // and ka1 drops ka2's the other way round: both stay master.
    let adverts = vrrp_frames(&read_pcap("v2-vip-mismatch.pcap"));
    let ka1_vips = [ip("10.77.0.100"), ip("10.77.0.101")];
    let ka2_vips = [ip("10.77.0.100")];
    let (mut from_ka1, mut from_ka2) = (0, 0);
    for v in &adverts {
        let (receiver_vips, counter): (&[IpAddr], &mut i32) = if v.src == ip("10.77.0.11") {
            (&ka2_vips, &mut from_ka1)
        } else {
            (&ka1_vips, &mut from_ka2)
        };
        let ctx = ValidationContext {
            expected_addresses: Some(receiver_vips),
            ..ValidationContext::new(Version::V2)
        };
        let pkt = v.ipv4_packet.as_ref().unwrap();
        assert_eq!(
            decode_ipv4(pkt, &ctx),
            Err(DropReason::AddrCountMismatch),
            "frame {}",
            v.frame
        );
        assert_eq!(
            DropReason::AddrCountMismatch.keepalived_stat(),
            Some("addr_list_err")
        );
        *counter += 1;
    }
    assert_eq!((from_ka1, from_ka2), (4, 5));
}

#[test]
fn v2_capture_with_wrong_configuration() {
    let adverts = vrrp_frames(&read_pcap("v2-mcast-pass.pcap"));
    let v = &adverts[0];
    let pkt = v.ipv4_packet.as_ref().unwrap();
    let good = ValidationContext {
        auth: Auth::password(b"sEcr3t"),
        ..ValidationContext::new(Version::V2)
    };
    assert!(decode_ipv4(pkt, &good).is_ok());
    let cases = [
        (
            ValidationContext {
                auth: Auth::password(b"sEcr3T"),
                ..good
            },
            DropReason::AuthFailure,
        ),
        (
            ValidationContext::new(Version::V2),
            DropReason::AuthTypeMismatch,
        ),
        (
            ValidationContext {
                interval_cs: 200,
                ..good
            },
            DropReason::IntervalMismatch,
        ),
        (ValidationContext::new(Version::V3), DropReason::BadVersion),
        (
            ValidationContext {
                auth: Auth {
                    auth_type: AuthType::Ah,
                    data: [0; 8],
                },
                ..good
            },
            DropReason::AuthTypeMismatch,
        ),
    ];
    for (ctx, want) in cases {
        assert_eq!(decode_ipv4(pkt, &ctx), Err(want));
    }
    // Ethernet padding after the IP total length is tolerated; a short packet is not.
    let mut padded = pkt.clone();
    padded.extend_from_slice(&[0; 18]);
    assert!(decode_ipv4(&padded, &good).is_ok());
    assert_eq!(
        decode_ipv4(&pkt[..pkt.len() - 2], &good),
        Err(DropReason::IpLengthMismatch)
    );
    // A routed multicast advert (TTL 254) is refused; the IP checksum must be fixed first.
    let mut routed = pkt.clone();
    routed[8] = 254;
    routed[10] = 0;
    routed[11] = 0;
    let sum = ka_vrrp::checksum::internet_checksum(&routed[..20]);
    routed[10..12].copy_from_slice(&sum.to_be_bytes());
    assert_eq!(decode_ipv4(&routed, &good), Err(DropReason::BadTtl));
}

#[test]
fn v3_captures_adopt_the_masters_interval_and_check_cast() {
    // ka2 configured with 1 s still accepts ka1's 0.1 s adverts: v3 adopts, does not drop.
    let adverts = vrrp_frames(&read_pcap("v3-mcast.pcap"));
    let ctx = ValidationContext {
        interval_cs: 100,
        ..ValidationContext::new(Version::V3)
    };
    let a = decode_ipv4(adverts[0].ipv4_packet.as_ref().unwrap(), &ctx).unwrap();
    assert_eq!(a.advert.interval_cs, 10);

    // Unicast adverts: refused by a multicast instance, accepted only from the peer.
    let adverts = vrrp_frames(&read_pcap("v3-unicast.pcap"));
    let v = &adverts[0];
    let pkt = v.ipv4_packet.as_ref().unwrap();
    assert_eq!(
        decode_ipv4(pkt, &ValidationContext::new(Version::V3)),
        Err(DropReason::UnicastOnMulticast)
    );
    let stranger = [UnicastPeer::new(ip("10.77.0.13"))];
    let vips = [ip("10.77.0.100")];
    let ctx = ValidationContext {
        unicast_peers: &stranger,
        check_unicast_src: true,
        expected_addresses: Some(&vips),
        ..ValidationContext::new(Version::V3)
    };
    assert_eq!(decode_ipv4(pkt, &ctx), Err(DropReason::NotFromPeer));

    // IPv6: a multicast advert fed to a unicast instance, and a wrong pseudo-header source.
    let adverts = vrrp_frames(&read_pcap("v3-ipv6.pcap"));
    let v = &adverts[0];
    let ctx = ValidationContext {
        verify_ipv6_checksum: true,
        ..ValidationContext::new(Version::V3)
    };
    assert!(decode(&v.msg, &meta(v), &ctx).is_ok());
    let spoofed = RxMeta {
        src: ip("fe80::77:ff:fe00:102"),
        ..meta(v)
    };
    assert_eq!(decode(&v.msg, &spoofed, &ctx), Err(DropReason::BadChecksum));
    // Without verify_ipv6_checksum the kernel is trusted, as keepalived does.
    assert!(decode(&v.msg, &spoofed, &ValidationContext::new(Version::V3)).is_ok());
    assert_eq!(v.dst, IpAddr::V6(VRRP_GROUP_V6));
    assert_eq!(
        adverts
            .iter()
            .filter(|a| a.dst == IpAddr::V4(VRRP_GROUP_V4))
            .count(),
        0
    );
}

#[test]
fn advert_struct_for_capture_is_what_a_sender_would_build() {
    // What the state machine will build from ka1.conf of v3-ipv6, encoded for the group: the
    // kernel-computed checksum of frame 1 (0x3c71).
    let a = Advert {
        version: Version::V3,
        vrid: 54,
        priority: 150,
        interval_cs: 100,
        addresses: vec![ip("fe80::53"), ip("fd77::100")],
        auth: Auth::none(),
        checksum: 0,
    };
    let msg = a
        .encode(
            ip("fe80::77:ff:fe00:101"),
            IpAddr::V6(VRRP_GROUP_V6),
            &EncodeOptions::default(),
        )
        .unwrap();
    assert_eq!(&msg[6..8], &[0x3c, 0x71]);
}
