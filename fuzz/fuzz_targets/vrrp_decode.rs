//! Fuzz target: any bytes as a received VRRP packet must give an advert or a typed drop reason,
//! never a panic — as a whole IPv4 packet, and as a bare VRRP v2/v3 message over IPv4 and IPv6,
//! with multicast and unicast instance contexts. Whatever decodes must re-encode to the same
//! bytes (the codec has no lossy path for a valid message).
#![no_main]

use ka_vrrp::packet::{
    decode, decode_ipv4, parse, parse_ipv4, EncodeOptions, Family, RxMeta, UnicastPeer,
    ValidationContext, Version, VRRP_GROUP_V4, VRRP_GROUP_V6,
};
use libfuzzer_sys::fuzz_target;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

fuzz_target!(|data: &[u8]| {
    let v4_src = IpAddr::V4(Ipv4Addr::new(10, 77, 0, 11));
    let v4_peer = IpAddr::V4(Ipv4Addr::new(10, 77, 0, 12));
    let v6_src = IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0x77, 0xff, 0xfe00));
    let vips = [IpAddr::V4(Ipv4Addr::new(10, 77, 0, 100))];
    let peers = [UnicastPeer::new(v4_src)];

    for version in [Version::V2, Version::V3] {
        let mcast = ValidationContext {
            expected_addresses: Some(&vips),
            verify_ipv6_checksum: true,
            ..ValidationContext::new(version)
        };
        let ucast = ValidationContext {
            unicast_peers: &peers,
            check_unicast_src: true,
            ..mcast
        };
        for ctx in [&mcast, &ucast] {
            let _ = decode_ipv4(data, ctx);
            let m4 = RxMeta {
                src: v4_src,
                dst: IpAddr::V4(VRRP_GROUP_V4),
                ttl: Some(255),
            };
            let _ = decode(data, &m4, ctx);
            let u4 = RxMeta {
                src: v4_src,
                dst: v4_peer,
                ttl: Some(64),
            };
            let _ = decode(data, &u4, ctx);
            let m6 = RxMeta {
                src: v6_src,
                dst: IpAddr::V6(VRRP_GROUP_V6),
                ttl: None,
            };
            let _ = decode(data, &m6, ctx);
        }
    }

    if let Ok(p) = parse_ipv4(data) {
        let _ = parse(p.vrrp, Family::Ipv4);
    }
    for (family, src, dst) in [
        (Family::Ipv4, v4_src, IpAddr::V4(VRRP_GROUP_V4)),
        (Family::Ipv6, v6_src, IpAddr::V6(VRRP_GROUP_V6)),
    ] {
        if let Ok(advert) = parse(data, family) {
            let again = advert.encode(src, dst, &EncodeOptions::default());
            let again = again.expect("a parsed advert always re-encodes");
            // Byte-exact except the checksum (recomputed) and v3's 4 reserved bits (zeroed).
            assert_eq!(again.len(), data.len());
            assert_eq!(again[..4], data[..4]);
            assert_eq!(again[8..], data[8..]);
        }
    }
});
