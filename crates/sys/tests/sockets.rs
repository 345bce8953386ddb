#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Real VRRP, GARP and NA sockets inside throw-away network namespaces.
//!
//! Each test builds its own pair of namespaces (`kss<pid>a<n>` / `kss<pid>b<n>`) joined by a
//! veth pair, opens sockets from a thread that has entered a namespace (a socket stays in the
//! namespace it was created in, so the test thread can use it afterwards), and a guard
//! deletes the namespaces even when the test panics. Nothing runs in, or sends from, the
//! root namespace. Needs root: without it the tests print SKIPPED, unless CI=true.

use std::fs::File;
use std::io::{self, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use ka_sys::garp::{
    garp_frame, interface_info, unsolicited_na, FrameCapture, GarpSocket, InterfaceInfo, NaSocket,
    ETH_P_ARP, ETH_P_IPV6,
};
use ka_sys::vrrp_socket::{
    Family, Received, SocketOptions, VrrpSocket, VRRP_GROUP_V4, VRRP_GROUP_V6, VRRP_TOS,
};
use ka_vrrp::checksum::{internet_checksum, ipv6_pseudo_header, Checksum};
use ka_vrrp::packet::{
    decode, decode_ipv4, Advert, Auth, EncodeOptions, RxMeta, UnicastPeer, ValidationContext,
    Version,
};
use nix::sched::{setns, CloneFlags};

const A4: Ipv4Addr = Ipv4Addr::new(10, 200, 0, 1);
const B4: Ipv4Addr = Ipv4Addr::new(10, 200, 0, 2);
const A6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x200, 0, 0, 0, 0, 0, 1);
const B6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x200, 0, 0, 0, 0, 0, 2);
const WAIT: Duration = Duration::from_secs(2);
/// How long we listen to be sure a packet does not come.
const QUIET: Duration = Duration::from_millis(300);

static NEXT: AtomicU32 = AtomicU32::new(0);

/// Whether the test can run; panics under CI=true (project rule: CI never skips).
fn can_run() -> bool {
    let root = nix::unistd::geteuid().is_root();
    let ip = Command::new("ip").arg("-V").output().is_ok();
    if root && ip {
        return true;
    }
    let why = if root { "no `ip` command" } else { "not root" };
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!(
            "namespace socket tests need root and iproute2 ({why}) and CI=true forbids skipping"
        );
    }
    // Straight to stderr: libtest captures eprintln!, and a skip must be seen.
    let _ = writeln!(
        io::stderr(),
        "\n*** SKIPPED: ka-sys namespace socket tests ({why}) ***\n"
    );
    false
}

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Two namespaces `a` (veth `va`) and `b` (veth `vb`), deleted on drop.
struct Lab {
    created: Vec<String>,
    a: String,
    b: String,
}

impl Lab {
    fn new() -> Lab {
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let pid = std::process::id();
        let a = format!("kss{pid}a{n}");
        let b = format!("kss{pid}b{n}");
        let mut lab = Lab {
            created: Vec::new(),
            a: a.clone(),
            b: b.clone(),
        };
        for ns in [&a, &b] {
            ip(&["netns", "add", ns]);
            lab.created.push(ns.clone());
            // DAD off before the veth exists, so its link-local is usable at once.
            let out = Command::new("ip")
                .args(["netns", "exec", ns, "sysctl", "-qw"])
                .args([
                    "net.ipv6.conf.all.accept_dad=0",
                    "net.ipv6.conf.default.accept_dad=0",
                ])
                .output()
                .expect("sysctl");
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            ip(&["-n", ns, "link", "set", "lo", "up"]);
        }
        ip(&[
            "-n", &a, "link", "add", "va", "type", "veth", "peer", "name", "vb", "netns", &b,
        ]);
        for (ns, dev, v4, v6) in [(&a, "va", A4, A6), (&b, "vb", B4, B6)] {
            ip(&["-n", ns, "addr", "add", &format!("{v4}/24"), "dev", dev]);
            ip(&[
                "-n",
                ns,
                "addr",
                "add",
                &format!("{v6}/64"),
                "dev",
                dev,
                "nodad",
            ]);
            ip(&["-n", ns, "link", "set", dev, "up"]);
        }
        lab.wait_link_local(&a, "va");
        lab.wait_link_local(&b, "vb");
        lab
    }

    /// Waits until the veth's fe80:: address exists and is not tentative.
    fn wait_link_local(&self, ns: &str, dev: &str) {
        let deadline = Instant::now() + WAIT;
        loop {
            let out = Command::new("ip")
                .args(["-n", ns, "-6", "addr", "show", "dev", dev, "scope", "link"])
                .output()
                .expect("ip addr show");
            let text = String::from_utf8_lossy(&out.stdout);
            if text.contains("fe80") && !text.contains("tentative") {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "no usable link-local on {dev}: {text}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Runs `f` on a thread that has entered namespace `ns`; returns its result.
    fn run<T: Send>(&self, ns: &str, f: impl FnOnce() -> T + Send) -> T {
        let path = format!("/run/netns/{ns}");
        std::thread::scope(|s| {
            s.spawn(move || {
                let fd = File::open(&path).expect("open netns");
                setns(&fd, CloneFlags::CLONE_NEWNET).expect("setns");
                f()
            })
            .join()
            .expect("namespace thread panicked")
        })
    }

    fn info(&self, ns: &str, dev: &'static str) -> InterfaceInfo {
        self.run(ns, move || interface_info(dev).expect("interface info"))
    }

    fn open(&self, ns: &str, dev: &'static str, family: Family, opts: SocketOptions) -> VrrpSocket {
        self.run(ns, move || {
            VrrpSocket::open(dev, family, opts).expect("open VRRP socket")
        })
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for ns in &self.created {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

/// Receives one packet or gives up after `timeout`.
fn recv_within(sock: &VrrpSocket, buf: &mut [u8], timeout: Duration) -> Option<Received> {
    let deadline = Instant::now() + timeout;
    loop {
        match sock.recv(buf) {
            Ok(r) => return Some(r),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if Instant::now() >= deadline {
                    return None;
                }
                std::thread::sleep(Duration::from_millis(2));
            }
            Err(e) => panic!("recv: {e}"),
        }
    }
}

/// Collects every frame the capture sees within `timeout` (or until `done` says so).
fn capture_until(
    cap: &FrameCapture,
    timeout: Duration,
    done: impl Fn(&[Vec<u8>]) -> bool,
) -> Vec<Vec<u8>> {
    let deadline = Instant::now() + timeout;
    let mut frames = Vec::new();
    let mut buf = [0u8; 2048];
    while Instant::now() < deadline && !done(&frames) {
        match cap.recv(&mut buf) {
            Ok(n) => frames.push(buf[..n].to_vec()),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(2));
            }
            Err(e) => panic!("capture: {e}"),
        }
    }
    frames
}

fn advert(version: Version, addresses: Vec<IpAddr>) -> Advert {
    Advert {
        version,
        vrid: 51,
        priority: 150,
        interval_cs: 100,
        addresses,
        auth: Auth::none(),
        checksum: 0,
    }
}

#[test]
fn ipv4_multicast_advert_arrives_with_our_header_and_does_not_loop_back() {
    if !can_run() {
        return;
    }
    let lab = Lab::new();
    let info_a = lab.info(&lab.a, "va");
    assert_eq!(info_a.ipv4, Some(A4), "primary IPv4 of va");
    assert!(info_a.mac.is_some());
    let mut a = lab.open(
        &lab.a,
        "va",
        Family::Ipv4,
        SocketOptions::multicast(Family::Ipv4),
    );
    let b = lab.open(
        &lab.b,
        "vb",
        Family::Ipv4,
        SocketOptions::multicast(Family::Ipv4),
    );
    let group = IpAddr::V4(VRRP_GROUP_V4);
    let src = IpAddr::V4(A4);
    let adv = advert(
        Version::V3,
        vec![IpAddr::V4(Ipv4Addr::new(10, 200, 0, 100))],
    );
    let msg = adv.encode(src, group, &EncodeOptions::default()).unwrap();

    let mut buf = [0u8; 1500];
    for expected_id in [1u16, 2] {
        a.send(src, group, &msg, 255).unwrap();
        let r = recv_within(&b, &mut buf, WAIT).expect("advert reached B");
        assert_eq!(r.src, src);
        assert_eq!(r.dst, group);
        assert_eq!(r.ttl, Some(255));
        assert_eq!(r.ifindex, b.ifindex());
        assert_eq!(r.payload_offset, 20);
        assert_eq!(r.payload(&buf), &msg[..]);
        let pkt = r.packet(&buf);
        assert_eq!(pkt[1], VRRP_TOS, "TOS");
        assert_eq!(
            u16::from_be_bytes([pkt[4], pkt[5]]),
            expected_id,
            "IP ID per socket"
        );
        assert_eq!(&pkt[6..8], &[0, 0], "DF clear, no fragment offset");
        assert_eq!(pkt[8], 255);
        assert_eq!(pkt[9], 112);
        assert_eq!(internet_checksum(&pkt[..20]), 0, "header checksum");
        let decoded = decode_ipv4(pkt, &ValidationContext::new(Version::V3)).expect("valid advert");
        assert_eq!(decoded.advert.vrid, 51);
        assert_eq!(decoded.advert.priority, 150);
        assert_eq!(decoded.advert.addresses, adv.addresses);
    }
    assert!(
        recv_within(&a, &mut buf, QUIET).is_none(),
        "our own advert came back to the sender"
    );
}

#[test]
fn ipv4_unicast_to_each_peer_with_unicast_ttl() {
    if !can_run() {
        return;
    }
    let lab = Lab::new();
    let mut a = lab.open(&lab.a, "va", Family::Ipv4, SocketOptions::unicast(None));
    let b = lab.open(&lab.b, "vb", Family::Ipv4, SocketOptions::unicast(None));
    let (src, peer) = (IpAddr::V4(A4), IpAddr::V4(B4));
    // A v2 advert does not depend on the destination: one message for every peer.
    let adv = advert(
        Version::V2,
        vec![IpAddr::V4(Ipv4Addr::new(10, 200, 0, 100))],
    );
    let msg = adv.encode(src, peer, &EncodeOptions::default()).unwrap();
    // The second peer has no host behind it: its failure must not stop the first.
    let absent = IpAddr::V4(Ipv4Addr::new(10, 200, 0, 9));
    a.send_each(src, &[absent, peer], &msg, 64).unwrap();

    let mut buf = [0u8; 1500];
    let r = recv_within(&b, &mut buf, WAIT).expect("unicast advert reached B");
    assert_eq!(r.src, src);
    assert_eq!(r.dst, peer);
    assert_eq!(r.ttl, Some(64), "unicast_ttl");
    assert_eq!(r.packet(&buf)[8], 64);
    assert_eq!(r.packet(&buf)[1], VRRP_TOS);
    let peers = [UnicastPeer {
        addr: src,
        min_ttl: 0,
        max_ttl: 255,
    }];
    let ctx = ValidationContext {
        unicast_peers: &peers,
        ..ValidationContext::new(Version::V2)
    };
    let decoded = decode_ipv4(r.packet(&buf), &ctx).expect("valid unicast advert");
    assert_eq!(decoded.header.dst, B4);
    assert!(
        recv_within(&a, &mut buf, QUIET).is_none(),
        "nothing comes back to A"
    );
}

#[test]
fn ipv6_multicast_and_unicast_adverts_with_kernel_checksum() {
    if !can_run() {
        return;
    }
    let lab = Lab::new();
    let ll_a = lab
        .info(&lab.a, "va")
        .ipv6_link_local
        .expect("link-local on va");
    let group = IpAddr::V6(VRRP_GROUP_V6);
    let src = IpAddr::V6(ll_a);
    let mut a = lab.open(
        &lab.a,
        "va",
        Family::Ipv6,
        SocketOptions {
            bind: Some(src),
            ..SocketOptions::multicast(Family::Ipv6)
        },
    );
    let b = lab.open(
        &lab.b,
        "vb",
        Family::Ipv6,
        SocketOptions::multicast(Family::Ipv6),
    );
    let v6_cap = lab.run(&lab.b, || FrameCapture::open("vb", ETH_P_IPV6).unwrap());

    let adv = advert(Version::V3, vec!["fd00:200::100".parse().unwrap()]);
    let good = adv.encode(src, group, &EncodeOptions::default()).unwrap();
    // Send with the checksum field zeroed: the kernel (IPV6_CHECKSUM 6) must fill it in.
    let mut msg = good.clone();
    msg[6] = 0;
    msg[7] = 0;
    a.send(src, group, &msg, 255).unwrap();

    let mut buf = [0u8; 1500];
    let r = recv_within(&b, &mut buf, WAIT).expect("IPv6 advert reached B");
    assert_eq!(r.src, src);
    assert_eq!(r.dst, group);
    assert_eq!(r.ttl, Some(255), "hop limit");
    assert_eq!(r.ifindex, b.ifindex());
    assert_eq!(r.payload_offset, 0);
    assert_eq!(r.payload(&buf), &good[..], "kernel checksum equals ours");
    let meta = RxMeta {
        src: r.src,
        dst: r.dst,
        ttl: r.ttl,
    };
    let ctx = ValidationContext {
        verify_ipv6_checksum: true,
        ..ValidationContext::new(Version::V3)
    };
    let decoded = decode(r.payload(&buf), &meta, &ctx).expect("valid IPv6 advert");
    assert_eq!(decoded.vrid, 51);
    assert!(
        recv_within(&a, &mut buf, QUIET).is_none(),
        "no loop back to A"
    );
    // The IPv6 header as it went over the link: what the socket API does not show.
    let is_vrrp = |f: &Vec<u8>| f.len() > 54 && f[12..14] == [0x86, 0xdd] && f[14 + 6] == 112;
    let frames = capture_until(&v6_cap, WAIT, |f| f.iter().any(is_vrrp));
    let f = frames
        .iter()
        .find(|f| is_vrrp(f))
        .expect("advert frame on the link");
    assert_eq!(&f[0..6], &[0x33, 0x33, 0, 0, 0, 0x12], "to the group's MAC");
    let tclass = ((f[14] & 0x0f) << 4) | (f[15] >> 4);
    assert_eq!(tclass, 0xc0, "traffic class as keepalived's");
    assert_eq!(f[14 + 7], 255, "hop limit");
    assert_eq!(&f[14 + 8..14 + 24], &ll_a.octets(), "from the link-local");

    // Unicast from A's global address to B's, to a socket bound to B's address.
    let b_uni = lab.open(
        &lab.b,
        "vb",
        Family::Ipv6,
        SocketOptions::unicast(Some(IpAddr::V6(B6))),
    );
    let (usrc, udst) = (IpAddr::V6(A6), IpAddr::V6(B6));
    let umsg = adv.encode(usrc, udst, &EncodeOptions::default()).unwrap();
    a.send(usrc, udst, &umsg, 255).unwrap();
    let r = recv_within(&b_uni, &mut buf, WAIT).expect("IPv6 unicast advert reached B");
    assert_eq!((r.src, r.dst, r.ttl), (usrc, udst, Some(255)));
    assert_eq!(r.payload(&buf), &umsg[..]);
}

#[test]
fn garp_and_unsolicited_na_as_keepalived_sends_them() {
    if !can_run() {
        return;
    }
    let lab = Lab::new();
    let vip4 = Ipv4Addr::new(10, 200, 0, 100);
    let vip6: Ipv6Addr = "fd00:200::100".parse().unwrap();
    ip(&[
        "-n",
        &lab.a,
        "addr",
        "add",
        &format!("{vip6}/128"),
        "dev",
        "va",
        "nodad",
    ]);
    let mac = lab.info(&lab.a, "va").mac.expect("MAC of va");
    let (arp_cap, v6_cap) = lab.run(&lab.b, || {
        (
            FrameCapture::open("vb", ETH_P_ARP).unwrap(),
            FrameCapture::open("vb", ETH_P_IPV6).unwrap(),
        )
    });
    let (garp, na) = lab.run(&lab.a, || {
        (
            GarpSocket::open("va").unwrap(),
            NaSocket::open("va").unwrap(),
        )
    });
    assert_eq!(garp.mac(), mac);
    garp.send(vip4).unwrap();
    na.send(vip6).unwrap();

    let want = garp_frame(mac, vip4);
    let frames = capture_until(&arp_cap, WAIT, |f| f.iter().any(|x| x[..] == want[..]));
    let got = frames
        .iter()
        .find(|f| f[..] == want[..])
        .unwrap_or_else(|| panic!("no GARP frame in {frames:02x?}"));
    assert_eq!(got.len(), 42, "unpadded GARP frame");

    let is_na = |f: &Vec<u8>| f.len() >= 14 + 40 + 32 && f[14 + 6] == 58 && f[14 + 40] == 136;
    let frames = capture_until(&v6_cap, WAIT, |f| f.iter().any(is_na));
    let f = frames
        .iter()
        .find(|f| is_na(f))
        .unwrap_or_else(|| panic!("no NA in {} IPv6 frames", frames.len()));
    assert_eq!(&f[0..6], &[0x33, 0x33, 0, 0, 0, 1], "to all-nodes MAC");
    assert_eq!(&f[6..12], &mac, "from the interface MAC");
    let ip6 = &f[14..54];
    assert_eq!(ip6[0], 0x60, "version 6, traffic class 0");
    assert_eq!(&ip6[1..4], &[0, 0, 0], "traffic class 0, flow label 0");
    assert_eq!(ip6[7], 255, "hop limit");
    assert_eq!(&ip6[8..24], &vip6.octets(), "sent from the VIP");
    assert_eq!(
        &ip6[24..40],
        &"ff02::1".parse::<Ipv6Addr>().unwrap().octets()
    );
    let icmp = &f[54..54 + 32];
    let mut expected = unsolicited_na(mac, vip6);
    expected[2..4].copy_from_slice(&icmp[2..4]);
    assert_eq!(
        icmp,
        &expected[..],
        "NA body: flags O only, target, option 2 = MAC"
    );
    let mut sum = Checksum::new();
    sum.add(&ipv6_pseudo_header(
        vip6,
        "ff02::1".parse().unwrap(),
        58,
        32,
    ))
    .add(icmp);
    assert_eq!(sum.folded(), 0xffff, "kernel ICMPv6 checksum verifies");
}
