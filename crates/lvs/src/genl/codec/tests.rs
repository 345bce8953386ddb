use super::*;
use crate::backend::errno;
use crate::table::svc_flags;
use proptest::prelude::*;

const FAM: u16 = 0x20;

fn v4(s: &str) -> IpAddr {
    s.parse().expect("test address")
}

fn tcp(addr: &str, port: u16) -> ServiceKey {
    ServiceKey::Addr {
        protocol: Protocol::Tcp,
        addr: v4(addr),
        port,
    }
}

fn dspec(forward: Forward, weight: u32) -> DestSpec {
    DestSpec {
        forward,
        weight,
        u_thresh: 0,
        l_thresh: 0,
    }
}

/// Attributes of one level as (type, payload) in wire order, for assertions on presence/order.
fn attr_list(mut data: &[u8]) -> Vec<(u16, Vec<u8>)> {
    let mut out = Vec::new();
    while data.len() >= 4 {
        let len = u16::from_ne_bytes([data[0], data[1]]) as usize;
        let ty = u16::from_ne_bytes([data[2], data[3]]);
        out.push((ty, data[4..len].to_vec()));
        data = &data[align4(len).min(data.len())..];
    }
    out
}

fn body(msg: &[u8]) -> &[u8] {
    &msg[NLMSG_HDRLEN + GENL_HDRLEN..]
}

fn nested(msg: &[u8], ty: u16) -> Vec<(u16, Vec<u8>)> {
    let top = attr_list(body(msg));
    let (_, n) = top.iter().find(|(t, _)| *t == ty).expect("nest present");
    attr_list(n)
}

fn types(attrs: &[(u16, Vec<u8>)]) -> Vec<u16> {
    attrs.iter().map(|(t, _)| *t).collect()
}

// ---------------------------------------------------------------------------------------------
// Golden bytes (written by hand from the attribute tables; host order is little-endian here)
// ---------------------------------------------------------------------------------------------

#[cfg(target_endian = "little")]
#[test]
fn golden_add_service_persistent_ipv4() {
    let op = Op::AddService(
        tcp("192.0.2.1", 80),
        ServiceSpec {
            scheduler: "wlc".into(),
            flags: svc_flags::PERSISTENT,
            timeout: 300,
            netmask_prefix: 24,
            pe_name: None,
        },
    );
    #[rustfmt::skip]
    let expected: Vec<u8> = vec![
        // nlmsghdr: len 104, type 0x20 (family), flags REQUEST|ACK, seq 1, pid 0
        0x68, 0x00, 0x00, 0x00, 0x20, 0x00, 0x05, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        // genlmsghdr: cmd NEW_SERVICE (1), version 1
        0x01, 0x01, 0x00, 0x00,
        // CMD_ATTR_SERVICE, len 84
        0x54, 0x00, 0x01, 0x00,
        //   AF = 2
        0x06, 0x00, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00,
        //   PROTOCOL = 6
        0x06, 0x00, 0x02, 0x00, 0x06, 0x00, 0x00, 0x00,
        //   ADDR = 192.0.2.1, 16 bytes zero-padded
        0x14, 0x00, 0x03, 0x00, 0xc0, 0x00, 0x02, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        //   PORT = 80, network order
        0x06, 0x00, 0x04, 0x00, 0x00, 0x50, 0x00, 0x00,
        //   SCHED_NAME = "wlc\0"
        0x08, 0x00, 0x06, 0x00, b'w', b'l', b'c', 0x00,
        //   FLAGS = {PERSISTENT, mask ~0}
        0x0c, 0x00, 0x07, 0x00, 0x01, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff,
        //   TIMEOUT = 300
        0x08, 0x00, 0x08, 0x00, 0x2c, 0x01, 0x00, 0x00,
        //   NETMASK = 255.255.255.0, network order
        0x08, 0x00, 0x09, 0x00, 0xff, 0xff, 0xff, 0x00,
    ];
    assert_eq!(encode_op(FAM, 1, &op), expected);
}

#[cfg(target_endian = "little")]
#[test]
fn golden_add_dest_nat() {
    let op = Op::AddDest(
        tcp("192.0.2.1", 80),
        DestKey {
            addr: v4("192.0.2.10"),
            port: 8080,
        },
        DestSpec {
            forward: Forward::Masq,
            weight: 5,
            u_thresh: 100,
            l_thresh: 10,
        },
    );
    #[rustfmt::skip]
    let expected: Vec<u8> = vec![
        // nlmsghdr: len 140, family 0x20, REQUEST|ACK, seq 2
        0x8c, 0x00, 0x00, 0x00, 0x20, 0x00, 0x05, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        // NEW_DEST (5), version 1
        0x05, 0x01, 0x00, 0x00,
        // CMD_ATTR_SERVICE (identity only), len 48
        0x30, 0x00, 0x01, 0x00,
        0x06, 0x00, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00,
        0x06, 0x00, 0x02, 0x00, 0x06, 0x00, 0x00, 0x00,
        0x14, 0x00, 0x03, 0x00, 0xc0, 0x00, 0x02, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0x06, 0x00, 0x04, 0x00, 0x00, 0x50, 0x00, 0x00,
        // CMD_ATTR_DEST, len 72
        0x48, 0x00, 0x02, 0x00,
        //   ADDR = 192.0.2.10
        0x14, 0x00, 0x01, 0x00, 0xc0, 0x00, 0x02, 0x0a, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        //   PORT = 8080 = 0x1f90, network order
        0x06, 0x00, 0x02, 0x00, 0x1f, 0x90, 0x00, 0x00,
        //   FWD_METHOD = 0 (NAT)
        0x08, 0x00, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00,
        //   WEIGHT = 5
        0x08, 0x00, 0x04, 0x00, 0x05, 0x00, 0x00, 0x00,
        //   U_THRESH = 100
        0x08, 0x00, 0x05, 0x00, 0x64, 0x00, 0x00, 0x00,
        //   L_THRESH = 10
        0x08, 0x00, 0x06, 0x00, 0x0a, 0x00, 0x00, 0x00,
        //   ADDR_FAMILY = 2
        0x06, 0x00, 0x0b, 0x00, 0x02, 0x00, 0x00, 0x00,
    ];
    assert_eq!(encode_op(FAM, 2, &op), expected);
}

#[cfg(target_endian = "little")]
#[test]
fn golden_get_family() {
    #[rustfmt::skip]
    let expected: Vec<u8> = vec![
        // len 32, type GENL_ID_CTRL, REQUEST|ACK, seq 7
        0x20, 0x00, 0x00, 0x00, 0x10, 0x00, 0x05, 0x00, 0x07, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        // CTRL_CMD_GETFAMILY, version 1
        0x03, 0x01, 0x00, 0x00,
        // FAMILY_NAME "IPVS\0", len 9, padded to 12
        0x09, 0x00, 0x02, 0x00, b'I', b'P', b'V', b'S', 0x00, 0x00, 0x00, 0x00,
    ];
    assert_eq!(encode_get_family(7, "IPVS"), expected);
}

#[test]
fn dump_requests_have_dump_flag_and_dest_dump_names_the_service() {
    for (msg, command) in [
        (encode_get_services(FAM, 3), cmd::GET_SERVICE),
        (
            encode_get_dests(FAM, 3, &tcp("192.0.2.1", 80)),
            cmd::GET_DEST,
        ),
        (encode_get_daemons(FAM, 3), cmd::GET_DAEMON),
    ] {
        let m = split(&msg).expect("split");
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].ty, FAM);
        assert_eq!(
            m[0].flags,
            nlm_flags::REQUEST | nlm_flags::ACK | nlm_flags::DUMP
        );
        assert_eq!(genl(m[0].payload).expect("genl").cmd, command);
    }
    let dests = encode_get_dests(FAM, 3, &tcp("192.0.2.1", 80));
    let svc = nested(&dests, cmd_attr::SERVICE);
    assert_eq!(
        types(&svc),
        vec![
            svc_attr::AF,
            svc_attr::PROTOCOL,
            svc_attr::ADDR,
            svc_attr::PORT
        ]
    );
    for (msg, command) in [
        (encode_get_config(FAM, 4), cmd::GET_CONFIG),
        (encode_get_info(FAM, 4), cmd::GET_INFO),
        (
            encode_get_service(FAM, 4, &tcp("192.0.2.1", 80)),
            cmd::GET_SERVICE,
        ),
    ] {
        let m = split(&msg).expect("split");
        assert_eq!(m[0].flags, nlm_flags::REQUEST | nlm_flags::ACK);
        assert_eq!(genl(m[0].payload).expect("genl").cmd, command);
    }
}

// ---------------------------------------------------------------------------------------------
// Round trips of every operation kind
// ---------------------------------------------------------------------------------------------

fn every_op() -> Vec<Op> {
    let v6: IpAddr = "2001:db8::1".parse().expect("v6");
    let svc6 = ServiceKey::Addr {
        protocol: Protocol::Sctp,
        addr: v6,
        port: 443,
    };
    let fwm = ServiceKey::Fwmark {
        family: Family::Inet6,
        mark: 7,
    };
    let d = DestKey {
        addr: v4("192.0.2.10"),
        port: 80,
    };
    let d6 = DestKey {
        addr: "2001:db8::10".parse().expect("v6"),
        port: 0,
    };
    vec![
        Op::AddService(tcp("192.0.2.1", 80), ServiceSpec::new("rr", Family::Inet)),
        Op::AddService(
            svc6,
            ServiceSpec {
                scheduler: "sh".into(),
                flags: svc_flags::PERSISTENT | svc_flags::SCHED1 | svc_flags::SCHED2,
                timeout: 360,
                netmask_prefix: 64,
                pe_name: Some("sip".into()),
            },
        ),
        Op::EditService(fwm, ServiceSpec::new("wlc", Family::Inet6)),
        Op::DelService(svc6),
        Op::DelService(fwm),
        Op::AddDest(tcp("192.0.2.1", 80), d, dspec(Forward::Masq, 1)),
        Op::AddDest(fwm, d6, dspec(Forward::Route, 0)),
        Op::EditDest(
            tcp("192.0.2.1", 80),
            d,
            DestSpec {
                forward: Forward::Tunnel {
                    kind: TunnelKind::Gue,
                    port: 6080,
                    checksum: TunnelChecksum::RemCsum,
                },
                weight: i32::MAX as u32,
                u_thresh: 1000,
                l_thresh: 100,
            },
        ),
        Op::EditDest(
            fwm,
            d6,
            dspec(
                Forward::Tunnel {
                    kind: TunnelKind::Gre,
                    port: 0,
                    checksum: TunnelChecksum::Csum,
                },
                3,
            ),
        ),
        Op::AddDest(svc6, d6, dspec(Forward::ipip(), 2)),
        Op::AddDest(svc6, d, dspec(Forward::Local, 2)),
        Op::AddDest(svc6, d, dspec(Forward::Bypass, 2)),
        Op::DelDest(tcp("192.0.2.1", 80), d),
        Op::DelDest(fwm, d6),
        Op::Flush,
        Op::SetTimeouts(Timeouts {
            tcp: 900,
            tcp_fin: 0,
            udp: 300,
        }),
        Op::StartDaemon(SyncDaemon {
            role: SyncRole::Master,
            interface: "eth0".into(),
            sync_id: 5,
            maxlen: None,
            group: None,
            port: None,
            ttl: None,
        }),
        Op::StartDaemon(SyncDaemon {
            role: SyncRole::Backup,
            interface: "bond0.100".into(),
            sync_id: 255,
            maxlen: Some(1472),
            group: Some(v4("224.0.0.81")),
            port: Some(8848),
            ttl: Some(2),
        }),
        Op::StartDaemon(SyncDaemon {
            role: SyncRole::Master,
            interface: "eth1".into(),
            sync_id: 0,
            maxlen: None,
            group: Some("ff02::1:2".parse().expect("v6")),
            port: None,
            ttl: None,
        }),
        Op::StopDaemon(SyncRole::Master),
        Op::StopDaemon(SyncRole::Backup),
        Op::Zero(None),
        Op::Zero(Some(fwm)),
        Op::Zero(Some(tcp("192.0.2.1", 80))),
    ]
}

#[test]
fn every_op_round_trips() {
    for (i, op) in every_op().into_iter().enumerate() {
        let seq = 100 + i as u32;
        let bytes = encode_op(FAM, seq, &op);
        let req = decode_request(&bytes).unwrap_or_else(|e| panic!("{op:?}: {e}"));
        assert_eq!(req.op, op);
        assert_eq!(req.seq, seq);
        assert_eq!(req.family, FAM);
        assert_eq!(req.flags, nlm_flags::REQUEST | nlm_flags::ACK);
        assert_eq!(
            genl(split(&bytes).expect("split")[0].payload)
                .expect("genl")
                .version,
            VERSION
        );
    }
}

#[test]
fn full_service_carries_every_mandatory_attribute() {
    let msg = encode_op(
        FAM,
        1,
        &Op::EditService(tcp("192.0.2.1", 80), ServiceSpec::new("rr", Family::Inet)),
    );
    let svc = nested(&msg, cmd_attr::SERVICE);
    assert_eq!(
        types(&svc),
        vec![
            svc_attr::AF,
            svc_attr::PROTOCOL,
            svc_attr::ADDR,
            svc_attr::PORT,
            svc_attr::SCHED_NAME,
            svc_attr::FLAGS,
            svc_attr::TIMEOUT,
            svc_attr::NETMASK
        ]
    );
}

#[test]
fn hashed_is_never_sent() {
    let mut spec = ServiceSpec::new("rr", Family::Inet);
    spec.flags = svc_flags::HASHED | svc_flags::ONEPACKET;
    let msg = encode_op(FAM, 1, &Op::AddService(tcp("192.0.2.1", 53), spec));
    let svc = nested(&msg, cmd_attr::SERVICE);
    let (_, flags) = svc
        .iter()
        .find(|(t, _)| *t == svc_attr::FLAGS)
        .expect("flags");
    assert_eq!(flags.len(), 8);
    assert_eq!(&flags[..4], &svc_flags::ONEPACKET.to_ne_bytes());
    assert_eq!(&flags[4..], &[0xff; 4]);
}

#[test]
fn fwmark_service_has_no_protocol_address_or_port() {
    let key = ServiceKey::Fwmark {
        family: Family::Inet,
        mark: 0x1234,
    };
    let msg = encode_op(
        FAM,
        1,
        &Op::AddService(key, ServiceSpec::new("wrr", Family::Inet)),
    );
    let svc = nested(&msg, cmd_attr::SERVICE);
    let t = types(&svc);
    assert_eq!(&t[..2], &[svc_attr::AF, svc_attr::FWMARK]);
    assert!(!t.contains(&svc_attr::PROTOCOL));
    assert!(!t.contains(&svc_attr::ADDR));
    assert!(!t.contains(&svc_attr::PORT));
    assert_eq!(svc[1].1, 0x1234u32.to_ne_bytes().to_vec());
    // And a fwmark dump entry decodes back into a fwmark key.
    let s = Service {
        key,
        spec: ServiceSpec::new("wrr", Family::Inet),
        stats: Stats::default(),
    };
    let reply = kernel_side::service(FAM, 9, &s);
    let g = genl(split(&reply).expect("split")[0].payload).expect("genl");
    assert_eq!(decode_service(g.attrs).expect("decode"), s);
}

#[test]
fn netmask_byte_orders() {
    let nm = |family, prefix| {
        let key = match family {
            Family::Inet => tcp("192.0.2.1", 80),
            Family::Inet6 => ServiceKey::Addr {
                protocol: Protocol::Tcp,
                addr: "2001:db8::1".parse().expect("v6"),
                port: 80,
            },
        };
        let mut spec = ServiceSpec::new("rr", family);
        spec.netmask_prefix = prefix;
        let msg = encode_op(FAM, 1, &Op::AddService(key, spec));
        let svc = nested(&msg, cmd_attr::SERVICE);
        svc.iter()
            .find(|(t, _)| *t == svc_attr::NETMASK)
            .expect("netmask")
            .1
            .clone()
    };
    assert_eq!(nm(Family::Inet, 32), vec![0xff, 0xff, 0xff, 0xff]);
    assert_eq!(nm(Family::Inet, 24), vec![0xff, 0xff, 0xff, 0x00]);
    assert_eq!(nm(Family::Inet, 20), vec![0xff, 0xff, 0xf0, 0x00]);
    assert_eq!(nm(Family::Inet, 0), vec![0, 0, 0, 0]);
    // IPv6: a prefix length as a host-order u32.
    assert_eq!(nm(Family::Inet6, 64), 64u32.to_ne_bytes().to_vec());
    assert_eq!(nm(Family::Inet6, 128), 128u32.to_ne_bytes().to_vec());
    #[cfg(target_endian = "little")]
    assert_eq!(nm(Family::Inet6, 64), vec![0x40, 0, 0, 0]);

    // Decoding: IPv4 masks by their leading ones, IPv6 prefixes checked.
    assert_eq!(
        decode_netmask([0xff, 0xff, 0xff, 0x00], Family::Inet).expect("v4"),
        24
    );
    assert_eq!(
        decode_netmask([0xff, 0x00, 0xff, 0x00], Family::Inet).expect("v4"),
        8
    );
    assert_eq!(
        decode_netmask(64u32.to_ne_bytes(), Family::Inet6).expect("v6"),
        64
    );
    assert!(decode_netmask(129u32.to_ne_bytes(), Family::Inet6).is_err());
}

#[test]
fn ipv6_service_address_and_dest_family() {
    let addr: IpAddr = "2001:db8:1::5".parse().expect("v6");
    let key = ServiceKey::Addr {
        protocol: Protocol::Udp,
        addr,
        port: 53,
    };
    let d = DestKey {
        addr: v4("192.0.2.7"),
        port: 53,
    };
    let msg = encode_op(FAM, 1, &Op::AddDest(key, d, dspec(Forward::ipip(), 1)));
    let svc = nested(&msg, cmd_attr::SERVICE);
    assert_eq!(svc[0].1, 10u16.to_ne_bytes().to_vec());
    let a = &svc
        .iter()
        .find(|(t, _)| *t == svc_attr::ADDR)
        .expect("addr")
        .1;
    assert_eq!(
        a.as_slice(),
        &match addr {
            IpAddr::V6(a) => a.octets(),
            IpAddr::V4(_) => unreachable!(),
        }
    );
    let dest = nested(&msg, cmd_attr::DEST);
    let fam = &dest
        .iter()
        .find(|(t, _)| *t == dest_attr::ADDR_FAMILY)
        .expect("af")
        .1;
    assert_eq!(fam, &2u16.to_ne_bytes().to_vec());
}

#[test]
fn tunnel_attributes_per_kind() {
    let svc = tcp("192.0.2.1", 80);
    let key = DestKey {
        addr: v4("192.0.2.10"),
        port: 80,
    };
    let tun = |kind, port, checksum| {
        let msg = encode_op(
            FAM,
            1,
            &Op::AddDest(
                svc,
                key,
                dspec(
                    Forward::Tunnel {
                        kind,
                        port,
                        checksum,
                    },
                    1,
                ),
            ),
        );
        nested(&msg, cmd_attr::DEST)
    };
    let get =
        |attrs: &[(u16, Vec<u8>)], ty| attrs.iter().find(|(t, _)| *t == ty).map(|(_, v)| v.clone());

    // IPIP: TUN_TYPE only.
    let ipip = tun(TunnelKind::Ipip, 0, TunnelChecksum::NoCsum);
    assert_eq!(
        get(&ipip, dest_attr::FWD_METHOD),
        Some(2u32.to_ne_bytes().to_vec())
    );
    assert_eq!(get(&ipip, dest_attr::TUN_TYPE), Some(vec![0]));
    assert_eq!(get(&ipip, dest_attr::TUN_PORT), None);
    assert_eq!(get(&ipip, dest_attr::TUN_FLAGS), None);

    // GUE: type 1, port big-endian, flags.
    let gue = tun(TunnelKind::Gue, 5555, TunnelChecksum::Csum);
    assert_eq!(get(&gue, dest_attr::TUN_TYPE), Some(vec![1]));
    assert_eq!(get(&gue, dest_attr::TUN_PORT), Some(vec![0x15, 0xb3]));
    assert_eq!(
        get(&gue, dest_attr::TUN_FLAGS),
        Some(1u16.to_ne_bytes().to_vec())
    );

    // GRE: type 2, no port, flags.
    let gre = tun(TunnelKind::Gre, 5555, TunnelChecksum::NoCsum);
    assert_eq!(get(&gre, dest_attr::TUN_TYPE), Some(vec![2]));
    assert_eq!(get(&gre, dest_attr::TUN_PORT), None);
    assert_eq!(
        get(&gre, dest_attr::TUN_FLAGS),
        Some(0u16.to_ne_bytes().to_vec())
    );

    // Non-tunnel dests never carry TUN_*.
    let dr = encode_op(FAM, 1, &Op::AddDest(svc, key, dspec(Forward::Route, 1)));
    let dr = nested(&dr, cmd_attr::DEST);
    assert!(!types(&dr).contains(&dest_attr::TUN_TYPE));

    // Read back (kernel_side emits TUN_* always): GUE keeps its port, GRE reads 0.
    for forward in [
        Forward::Tunnel {
            kind: TunnelKind::Gue,
            port: 5555,
            checksum: TunnelChecksum::RemCsum,
        },
        Forward::Tunnel {
            kind: TunnelKind::Gre,
            port: 0,
            checksum: TunnelChecksum::Csum,
        },
        Forward::ipip(),
    ] {
        let d = Dest {
            key,
            spec: dspec(forward, 1),
            active_conns: 0,
            inactive_conns: 0,
            persist_conns: 0,
            stats: Stats::default(),
        };
        let reply = kernel_side::dest(FAM, 1, &d);
        let g = genl(split(&reply).expect("split")[0].payload).expect("genl");
        assert_eq!(decode_dest(g.attrs, Family::Inet).expect("decode"), d);
    }
}

#[test]
fn tun_attributes_on_a_non_tunnel_dest_do_not_make_a_tunnel() {
    // Recent kernels emit TUN_TYPE/PORT/FLAGS for every dest; only FWD_METHOD 2 is a tunnel.
    let mut w = MsgWriter::genl(FAM, nlm_flags::MULTI, 1, cmd::NEW_DEST, 1);
    w.begin(cmd_attr::DEST)
        .put(dest_attr::ADDR, &addr_bytes(&v4("192.0.2.10")))
        .be16(dest_attr::PORT, 80)
        .u32(dest_attr::FWD_METHOD, 3)
        .u32(dest_attr::WEIGHT, 1)
        .u8(dest_attr::TUN_TYPE, tun_type::GUE)
        .be16(dest_attr::TUN_PORT, 6000)
        .u16(dest_attr::TUN_FLAGS, tun_flags::CSUM)
        .u16(dest_attr::ADDR_FAMILY, 2)
        .end();
    let msg = w.finish();
    let g = genl(split(&msg).expect("split")[0].payload).expect("genl");
    let d = decode_dest(g.attrs, Family::Inet).expect("decode");
    assert_eq!(d.spec.forward, Forward::Route);
}

#[test]
fn canonical_forward_matches_read_back() {
    assert_eq!(
        canonical_forward(Forward::Tunnel {
            kind: TunnelKind::Gre,
            port: 9,
            checksum: TunnelChecksum::Csum
        }),
        Forward::Tunnel {
            kind: TunnelKind::Gre,
            port: 0,
            checksum: TunnelChecksum::Csum
        }
    );
    assert_eq!(
        canonical_forward(Forward::Tunnel {
            kind: TunnelKind::Ipip,
            port: 9,
            checksum: TunnelChecksum::Csum
        }),
        Forward::ipip()
    );
    assert_eq!(canonical_forward(Forward::Masq), Forward::Masq);
}

// ---------------------------------------------------------------------------------------------
// Decoding replies
// ---------------------------------------------------------------------------------------------

/// A GET_SERVICE dump datagram written byte by byte: one service (TCP 192.0.2.1:80, wlc, HASHED
/// set by the kernel, 32-bit STATS only, as a pre-4.1 kernel sends), an unknown attribute, and
/// NLMSG_DONE.
#[cfg(target_endian = "little")]
#[test]
fn decode_hand_built_dump() {
    #[rustfmt::skip]
    let datagram: Vec<u8> = vec![
        // nlmsghdr: len 140, type 0x20, flags MULTI, seq 9, pid 1234
        0x8c, 0x00, 0x00, 0x00, 0x20, 0x00, 0x02, 0x00, 0x09, 0x00, 0x00, 0x00, 0xd2, 0x04, 0x00, 0x00,
        // NEW_SERVICE, version 1
        0x01, 0x01, 0x00, 0x00,
        // CMD_ATTR_SERVICE with NLA_F_NESTED set (0x8001), len 120
        0x78, 0x00, 0x01, 0x80,
        0x06, 0x00, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00,                         // AF 2
        0x06, 0x00, 0x02, 0x00, 0x06, 0x00, 0x00, 0x00,                         // PROTOCOL 6
        0x14, 0x00, 0x03, 0x00, 0xc0, 0x00, 0x02, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, // ADDR
        0x06, 0x00, 0x04, 0x00, 0x00, 0x50, 0x00, 0x00,                         // PORT 80
        0x08, 0x00, 0x06, 0x00, b'w', b'l', b'c', 0x00,                         // SCHED_NAME
        0x0c, 0x00, 0x07, 0x00, 0x02, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, // FLAGS HASHED
        0x08, 0x00, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00,                         // TIMEOUT 0
        0x08, 0x00, 0x09, 0x00, 0xff, 0xff, 0xff, 0xff,                         // NETMASK /32
        0x08, 0x00, 0x3f, 0x00, 0xde, 0xad, 0xbe, 0xef,                         // unknown type 63
        // STATS (len 28): CONNS 3, INBYTES 0x1_0000_0000 (u64), PAD (len 4, empty)
        0x1c, 0x00, 0x0a, 0x00,
        0x08, 0x00, 0x01, 0x00, 0x03, 0x00, 0x00, 0x00,
        0x0c, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00,
        0x04, 0x00, 0x0b, 0x00,
        // NLMSG_DONE: len 20, type 3, MULTI, seq 9, error 0
        0x14, 0x00, 0x00, 0x00, 0x03, 0x00, 0x02, 0x00, 0x09, 0x00, 0x00, 0x00, 0xd2, 0x04, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00,
    ];
    let mut c = Collector::new(9, true);
    assert!(c.feed(&datagram).expect("feed"));
    let msgs = c.finish().expect("no error");
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0].cmd, cmd::NEW_SERVICE);
    let s = decode_service(&msgs[0].attrs).expect("service");
    assert_eq!(s.key, tcp("192.0.2.1", 80));
    assert_eq!(s.spec, ServiceSpec::new("wlc", Family::Inet));
    assert_eq!(s.spec.flags, 0, "HASHED masked out");
    assert_eq!(s.stats.conns, 3);
    assert_eq!(s.stats.inbytes, 1 << 32);
}

#[test]
fn multipart_dump_over_several_datagrams() {
    let services: Vec<Service> = (0..5u8)
        .map(|i| Service {
            key: tcp(&format!("192.0.2.{i}"), 80 + u16::from(i)),
            spec: ServiceSpec::new("rr", Family::Inet),
            stats: Stats {
                conns: u64::from(i) + (1 << 40),
                ..Stats::default()
            },
        })
        .collect();
    let mut first = Vec::new();
    for s in &services[..3] {
        first.extend(kernel_side::service(FAM, 4, s));
    }
    let mut second = Vec::new();
    for s in &services[3..] {
        second.extend(kernel_side::service(FAM, 4, s));
    }
    second.extend(kernel_side::done(4, 0));
    // A stale answer for another request in between is ignored.
    let stale = kernel_side::ack(3, errno::EEXIST, &encode_get_info(FAM, 3));

    let mut c = Collector::new(4, true);
    assert!(!c.feed(&first).expect("first"));
    assert!(!c.feed(&stale).expect("stale"));
    assert!(c.feed(&second).expect("second"));
    let got: Vec<Service> = c
        .finish()
        .expect("ok")
        .iter()
        .map(|m| decode_service(&m.attrs).expect("decode"))
        .collect();
    assert_eq!(got, services, "STATS64 preferred over the truncated STATS");
}

#[test]
fn stats_only_32_bit_when_stats64_absent() {
    let s = Stats {
        conns: (1 << 33) + 5,
        inbytes: 1 << 40,
        ..Stats::default()
    };
    let mut w = MsgWriter::new(0, 0, 0);
    kernel_side_stats(&mut w, &s);
    let msg = w.finish();
    let got = decode_stats(&msg[NLMSG_HDRLEN + 4..]).expect("stats");
    assert_eq!(got.conns, 5, "the 32-bit nest truncates packet counters");
    assert_eq!(got.inbytes, 1 << 40, "bytes are u64 even in STATS");
}

fn kernel_side_stats(w: &mut MsgWriter, s: &Stats) {
    w.begin(svc_attr::STATS);
    w.u32(stats_attr::CONNS, s.conns as u32);
    w.put(stats_attr::PAD, &[]);
    w.u64(stats_attr::INBYTES, s.inbytes);
    w.end();
}

#[test]
fn doit_reply_then_ack() {
    let t = Timeouts {
        tcp: 900,
        tcp_fin: 120,
        udp: 300,
    };
    let req = encode_get_config(FAM, 11);
    let mut datagram = kernel_side::config(FAM, 11, &t);
    let mut c = Collector::new(11, false);
    assert!(!c.feed(&datagram).expect("reply"), "waits for the ACK");
    datagram = kernel_side::ack(11, 0, &req);
    assert!(c.feed(&datagram).expect("ack"));
    let msgs = c.finish().expect("ok");
    assert_eq!(msgs[0].cmd, cmd::SET_CONFIG);
    assert_eq!(decode_timeouts(&msgs[0].attrs).expect("timeouts"), t);

    let info = Info {
        version: 0x010201,
        conn_tab_size: 4096,
    };
    let reply = kernel_side::info(FAM, 12, &info);
    let g = genl(split(&reply).expect("split")[0].payload).expect("genl");
    assert_eq!(g.cmd, cmd::SET_INFO);
    assert_eq!(decode_info(g.attrs).expect("info"), info);
}

#[test]
fn family_reply() {
    let mut datagram = kernel_side::family(1, "IPVS", 0x24);
    datagram.extend(kernel_side::ack(1, 0, &encode_get_family(1, "IPVS")));
    let mut c = Collector::new(1, false);
    assert!(c.feed(&datagram).expect("feed"));
    let msgs = c.finish().expect("ok");
    assert_eq!(msgs[0].cmd, ctrl::CMD_NEWFAMILY);
    assert_eq!(decode_family_id(&msgs[0].attrs).expect("id"), 0x24);

    let mut c = Collector::new(2, false);
    c.feed(&kernel_side::ack(
        2,
        errno::ENOENT,
        &encode_get_family(2, "IPVS"),
    ))
    .expect("feed");
    assert_eq!(
        c.finish().expect_err("missing").errno(),
        Some(errno::ENOENT)
    );
}

#[test]
fn daemon_dump_with_and_without_4_3_attributes() {
    let old = SyncDaemon {
        role: SyncRole::Master,
        interface: "eth0".into(),
        sync_id: 9,
        maxlen: None,
        group: None,
        port: None,
        ttl: None,
    };
    let new = SyncDaemon {
        role: SyncRole::Backup,
        interface: "eth1".into(),
        sync_id: 10,
        maxlen: Some(1460),
        group: Some("ff02::1:2".parse().expect("v6")),
        port: Some(8848),
        ttl: Some(1),
    };
    let mut datagram = kernel_side::daemon(FAM, 5, &old);
    datagram.extend(kernel_side::daemon(FAM, 5, &new));
    datagram.extend(kernel_side::done(5, 0));
    let mut c = Collector::new(5, true);
    assert!(c.feed(&datagram).expect("feed"));
    let got: Vec<SyncDaemon> = c
        .finish()
        .expect("ok")
        .iter()
        .map(|m| decode_daemon(&m.attrs).expect("daemon"))
        .collect();
    assert_eq!(got, vec![old, new]);
}

#[test]
fn daemon_port_is_host_order_and_group_network_order() {
    let d = SyncDaemon {
        role: SyncRole::Master,
        interface: "lo".into(),
        sync_id: 1,
        maxlen: None,
        group: Some(v4("224.0.0.81")),
        port: Some(8848),
        ttl: None,
    };
    let msg = encode_op(FAM, 1, &Op::StartDaemon(d));
    let n = nested(&msg, cmd_attr::DAEMON);
    let get = |ty| n.iter().find(|(t, _)| *t == ty).map(|(_, v)| v.clone());
    assert_eq!(
        get(daemon_attr::MCAST_PORT),
        Some(8848u16.to_ne_bytes().to_vec())
    );
    assert_eq!(get(daemon_attr::MCAST_GROUP), Some(vec![224, 0, 0, 81]));
    assert_eq!(get(daemon_attr::MCAST_IFN), Some(b"lo\0".to_vec()));
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

#[test]
fn esrch_and_enoent_stay_distinct() {
    let op = Op::DelDest(
        tcp("192.0.2.1", 80),
        DestKey {
            addr: v4("192.0.2.10"),
            port: 80,
        },
    );
    let req = encode_op(FAM, 21, &op);
    for e in [
        errno::ESRCH,
        errno::ENOENT,
        errno::EEXIST,
        errno::EINVAL,
        errno::EPERM,
    ] {
        let mut c = Collector::new(21, false);
        assert!(c.feed(&kernel_side::ack(21, e, &req)).expect("feed"));
        let err = c.finish().expect_err("refused");
        assert_eq!(err.errno(), Some(e));
    }
    let mut c = Collector::new(21, false);
    c.feed(&kernel_side::ack(21, 0, &req)).expect("feed");
    assert!(c.finish().expect("ack").is_empty());
}

#[test]
fn a_failed_dump_reports_its_errno() {
    // As NLMSG_ERROR (e.g. GET_DEST without DUMP) ...
    let mut c = Collector::new(3, true);
    c.feed(&kernel_side::ack(
        3,
        errno::EOPNOTSUPP,
        &encode_get_daemons(FAM, 3),
    ))
    .expect("feed");
    assert_eq!(
        c.finish().expect_err("err").errno(),
        Some(errno::EOPNOTSUPP)
    );
    // ... or as a negative NLMSG_DONE.
    let mut c = Collector::new(3, true);
    c.feed(&kernel_side::done(3, errno::EPERM)).expect("feed");
    assert_eq!(c.finish().expect_err("err").errno(), Some(errno::EPERM));
}

#[test]
fn malformed_input_is_a_decode_error() {
    let good = kernel_side::service(
        FAM,
        1,
        &Service {
            key: tcp("192.0.2.1", 80),
            spec: ServiceSpec::new("rr", Family::Inet),
            stats: Stats::default(),
        },
    );
    // Truncated datagram.
    let cut = &good[..good.len() - 7];
    assert!(matches!(split(cut), Err(IpvsError::Decode(_))));
    // Message length below the header size.
    let mut bad = good.clone();
    bad[..4].copy_from_slice(&8u32.to_ne_bytes());
    assert!(matches!(split(&bad), Err(IpvsError::Decode(_))));
    // Attribute running past its nest.
    let mut bad = good.clone();
    let at = NLMSG_HDRLEN + GENL_HDRLEN + 4;
    bad[at..at + 2].copy_from_slice(&0x7000u16.to_ne_bytes());
    let g = genl(split(&bad).expect("outer ok")[0].payload).expect("genl");
    assert!(matches!(decode_service(g.attrs), Err(IpvsError::Decode(_))));
    // Missing identity.
    let mut w = MsgWriter::genl(FAM, 0, 1, cmd::NEW_SERVICE, 1);
    w.begin(cmd_attr::SERVICE).u16(svc_attr::AF, 2).end();
    let msg = w.finish();
    assert!(matches!(
        decode_service(body(&msg)),
        Err(IpvsError::Decode(_))
    ));
    // Unknown family, short address, odd-width port, unknown forwarding method.
    let mut w = MsgWriter::genl(FAM, 0, 1, cmd::NEW_SERVICE, 1);
    w.begin(cmd_attr::SERVICE)
        .u16(svc_attr::AF, 7)
        .u32(svc_attr::FWMARK, 1)
        .end();
    assert!(decode_service(body(&w.finish())).is_err());
    let mut w = MsgWriter::genl(FAM, 0, 1, cmd::NEW_DEST, 1);
    w.begin(cmd_attr::DEST)
        .put(dest_attr::ADDR, &[1, 2])
        .be16(dest_attr::PORT, 1)
        .u32(dest_attr::FWD_METHOD, 0)
        .u32(dest_attr::WEIGHT, 1)
        .end();
    assert!(decode_dest(body(&w.finish()), Family::Inet).is_err());
    let mut w = MsgWriter::genl(FAM, 0, 1, cmd::NEW_DEST, 1);
    w.begin(cmd_attr::DEST)
        .put(dest_attr::ADDR, &[1, 2, 3, 4])
        .put(dest_attr::PORT, &[1])
        .u32(dest_attr::FWD_METHOD, 0)
        .u32(dest_attr::WEIGHT, 1)
        .end();
    assert!(decode_dest(body(&w.finish()), Family::Inet).is_err());
    let mut w = MsgWriter::genl(FAM, 0, 1, cmd::NEW_DEST, 1);
    w.begin(cmd_attr::DEST)
        .put(dest_attr::ADDR, &[1, 2, 3, 4])
        .be16(dest_attr::PORT, 1)
        .u32(dest_attr::FWD_METHOD, 6)
        .u32(dest_attr::WEIGHT, 1)
        .end();
    assert!(decode_dest(body(&w.finish()), Family::Inet).is_err());
    // Positive error code, OVERRUN.
    let mut w = MsgWriter::new(nlmsg_type::ERROR, 0, 1);
    w.raw(&5i32.to_ne_bytes());
    assert!(Collector::new(1, false).feed(&w.finish()).is_err());
    let w = MsgWriter::new(nlmsg_type::OVERRUN, 0, 1);
    assert!(Collector::new(1, false).feed(&w.finish()).is_err());
    // An unfinished exchange is not an answer.
    let c = Collector::new(1, true);
    assert!(matches!(c.finish(), Err(IpvsError::Decode(_))));
}

#[test]
fn long_strings_are_capped_not_corrupting_the_frame() {
    let mut spec = ServiceSpec::new(&"x".repeat(70_000), Family::Inet);
    spec.pe_name = Some("é".repeat(200));
    let msg = encode_op(FAM, 1, &Op::AddService(tcp("192.0.2.1", 80), spec));
    let req = decode_request(&msg).expect("still a valid frame");
    match req.op {
        Op::AddService(_, s) => {
            assert_eq!(s.scheduler.len(), 255);
            assert!(s.pe_name.expect("pe").len() <= 255);
        }
        other => panic!("{other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------------

fn arb_addr() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        any::<[u8; 4]>().prop_map(|b| IpAddr::V4(Ipv4Addr::from(b))),
        any::<[u8; 16]>().prop_map(|b| IpAddr::V6(Ipv6Addr::from(b))),
    ]
}

fn arb_family() -> impl Strategy<Value = Family> {
    prop_oneof![Just(Family::Inet), Just(Family::Inet6)]
}

fn arb_key() -> impl Strategy<Value = ServiceKey> {
    prop_oneof![
        (
            prop_oneof![
                Just(Protocol::Tcp),
                Just(Protocol::Udp),
                Just(Protocol::Sctp)
            ],
            arb_addr(),
            any::<u16>()
        )
            .prop_map(|(protocol, addr, port)| ServiceKey::Addr {
                protocol,
                addr,
                port
            }),
        (arb_family(), 1..=u32::MAX).prop_map(|(family, mark)| ServiceKey::Fwmark { family, mark }),
    ]
}

fn arb_spec(family: Family) -> impl Strategy<Value = ServiceSpec> {
    let max_prefix = match family {
        Family::Inet => 32u8,
        Family::Inet6 => 128u8,
    };
    (
        prop_oneof![
            Just("rr".to_string()),
            Just("wlc".to_string()),
            Just("none".to_string()),
            "[a-z]{1,15}",
        ],
        any::<u32>(),
        any::<u32>(),
        0..=max_prefix,
        proptest::option::of(Just("sip")),
    )
        .prop_map(
            |(scheduler, flags, timeout, netmask_prefix, pe)| ServiceSpec {
                scheduler,
                flags: flags & !svc_flags::HASHED,
                timeout,
                netmask_prefix,
                pe_name: pe.map(str::to_string),
            },
        )
}

fn arb_stats() -> impl Strategy<Value = Stats> {
    any::<[u64; 10]>().prop_map(|v| Stats {
        conns: v[0],
        inpkts: v[1],
        outpkts: v[2],
        inbytes: v[3],
        outbytes: v[4],
        cps: v[5],
        inpps: v[6],
        outpps: v[7],
        inbps: v[8],
        outbps: v[9],
    })
}

fn arb_service() -> impl Strategy<Value = Service> {
    arb_key().prop_flat_map(|key| {
        (arb_spec(key.family()), arb_stats()).prop_map(move |(spec, stats)| Service {
            key,
            spec,
            stats,
        })
    })
}

fn arb_forward() -> impl Strategy<Value = Forward> {
    let checksum = prop_oneof![
        Just(TunnelChecksum::NoCsum),
        Just(TunnelChecksum::Csum),
        Just(TunnelChecksum::RemCsum)
    ];
    prop_oneof![
        Just(Forward::Masq),
        Just(Forward::Local),
        Just(Forward::Route),
        Just(Forward::Bypass),
        (
            prop_oneof![
                Just(TunnelKind::Ipip),
                Just(TunnelKind::Gue),
                Just(TunnelKind::Gre)
            ],
            any::<u16>(),
            checksum
        )
            .prop_map(|(kind, port, checksum)| canonical_forward(Forward::Tunnel {
                kind,
                port,
                checksum
            })),
    ]
}

fn arb_dest_spec() -> impl Strategy<Value = DestSpec> {
    (arb_forward(), any::<u32>(), any::<u32>(), any::<u32>()).prop_map(
        |(forward, weight, u_thresh, l_thresh)| DestSpec {
            forward,
            weight,
            u_thresh,
            l_thresh,
        },
    )
}

fn arb_dest() -> impl Strategy<Value = Dest> {
    (
        arb_addr(),
        any::<u16>(),
        arb_dest_spec(),
        any::<[u32; 3]>(),
        arb_stats(),
    )
        .prop_map(|(addr, port, spec, c, stats)| Dest {
            key: DestKey { addr, port },
            spec,
            active_conns: c[0],
            inactive_conns: c[1],
            persist_conns: c[2],
            stats,
        })
}

fn arb_dest_key() -> impl Strategy<Value = DestKey> {
    (arb_addr(), any::<u16>()).prop_map(|(addr, port)| DestKey { addr, port })
}

fn arb_op() -> impl Strategy<Value = Op> {
    prop_oneof![
        arb_key().prop_flat_map(|k| arb_spec(k.family()).prop_map(move |s| Op::AddService(k, s))),
        arb_key().prop_flat_map(|k| arb_spec(k.family()).prop_map(move |s| Op::EditService(k, s))),
        arb_key().prop_map(Op::DelService),
        (arb_key(), arb_dest_key(), arb_dest_spec()).prop_map(|(k, d, s)| Op::AddDest(k, d, s)),
        (arb_key(), arb_dest_key(), arb_dest_spec()).prop_map(|(k, d, s)| Op::EditDest(k, d, s)),
        (arb_key(), arb_dest_key()).prop_map(|(k, d)| Op::DelDest(k, d)),
        Just(Op::Flush),
        any::<[u32; 3]>().prop_map(|t| Op::SetTimeouts(Timeouts {
            tcp: t[0],
            tcp_fin: t[1],
            udp: t[2]
        })),
        (
            prop_oneof![Just(SyncRole::Master), Just(SyncRole::Backup)],
            "[a-z0-9.]{1,15}",
            any::<u32>(),
            proptest::option::of(any::<u16>()),
            proptest::option::of(arb_addr()),
            proptest::option::of(any::<u16>()),
            proptest::option::of(any::<u8>()),
        )
            .prop_map(|(role, interface, sync_id, maxlen, group, port, ttl)| {
                Op::StartDaemon(SyncDaemon {
                    role,
                    interface,
                    sync_id,
                    maxlen,
                    group,
                    port,
                    ttl,
                })
            }),
        prop_oneof![Just(SyncRole::Master), Just(SyncRole::Backup)].prop_map(Op::StopDaemon),
        proptest::option::of(arb_key()).prop_map(Op::Zero),
    ]
}

proptest! {
    #[test]
    fn service_dump_round_trips(s in arb_service(), seq in any::<u32>()) {
        let bytes = kernel_side::service(FAM, seq, &s);
        let mut msgs = split(&bytes).expect("split");
        prop_assert_eq!(msgs.len(), 1);
        let m = msgs.remove(0);
        prop_assert_eq!(m.seq, seq);
        let g = genl(m.payload).expect("genl");
        prop_assert_eq!(decode_service(g.attrs).expect("decode"), s);
    }

    #[test]
    fn dest_dump_round_trips(d in arb_dest(), fam in arb_family()) {
        let bytes = kernel_side::dest(FAM, 1, &d);
        let g = genl(split(&bytes).expect("split")[0].payload).expect("genl");
        prop_assert_eq!(decode_dest(g.attrs, fam).expect("decode"), d);
    }

    #[test]
    fn op_round_trips(op in arb_op(), seq in any::<u32>()) {
        let req = decode_request(&encode_op(FAM, seq, &op)).expect("decode");
        prop_assert_eq!(req.seq, seq);
        prop_assert_eq!(req.op, op);
    }

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = split(&bytes);
        let _ = decode_request(&bytes);
        let _ = Collector::new(1, true).feed(&bytes);
        let _ = Collector::new(1, false).feed(&bytes);
        let _ = decode_service(&bytes);
        let _ = decode_service_nest(&bytes);
        let _ = decode_dest(&bytes, Family::Inet);
        let _ = decode_dest_nest(&bytes, Family::Inet6);
        let _ = decode_daemon(&bytes);
        let _ = decode_timeouts(&bytes);
        let _ = decode_info(&bytes);
        let _ = decode_family_id(&bytes);
        let _ = decode_stats(&bytes);
    }

    /// Random attribute payloads inside well-formed frames reach the deep decoders.
    #[test]
    fn random_attributes_never_panic(
        attrs in proptest::collection::vec((0u16..20, proptest::collection::vec(any::<u8>(), 0..24)), 0..24),
        command in 0u8..20,
        nest_ty in 0u16..4,
    ) {
        let mut w = MsgWriter::genl(FAM, nlm_flags::MULTI, 1, command, 1);
        w.begin(nest_ty);
        for (ty, data) in &attrs {
            w.put(*ty, data);
        }
        w.end();
        for (ty, data) in &attrs {
            w.put(*ty, data);
        }
        let msg = w.finish();
        let _ = decode_request(&msg);
        let b = body(&msg);
        let _ = decode_service(b);
        let _ = decode_dest(b, Family::Inet);
        let _ = decode_dest(b, Family::Inet6);
        let _ = decode_daemon(b);
        let _ = decode_timeouts(b);
        let _ = decode_info(b);
        let mut c = Collector::new(1, true);
        let _ = c.feed(&msg);
    }
}
