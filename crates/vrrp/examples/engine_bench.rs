//! Benchmark (a command, not a test): one engine with 1,000 instances receiving adverts, and
//! the same engine serving its timers. Prints ns per received advert and per timer event.
//!
//!     cargo run --release -p ka-vrrp --example engine_bench [INSTANCES] [ROUNDS]

use ka_vrrp::engine::{Engine, Input, InstanceSpec, Packet, WireConfig};
use ka_vrrp::instance::{InstanceConfig, Received};
use ka_vrrp::packet::{Auth, RxMeta};
use ka_vrrp::time::{Duration, Instant};
use std::net::{IpAddr, Ipv4Addr};

fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1000);
    let rounds: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(200);
    let me = IpAddr::V4(Ipv4Addr::new(10, 200, 0, 2));
    let specs: Vec<InstanceSpec> = (0..n)
        .map(|k| {
            // VRIDs repeat per interface: spread 1,000 instances over interfaces.
            let mut c = InstanceConfig::simple(&format!("VI_{k}"), (k % 255 + 1) as u8, 100, me);
            c.interface = format!("eth{}", k / 255);
            InstanceSpec::plain(c)
        })
        .collect();
    let mut engine = Engine::new(specs, vec![]);
    let mut now = Instant(0);
    engine.handle(now, Input::Start);

    // Backups receiving their masters' adverts (the common case on a backup router).
    let master = IpAddr::V4(Ipv4Addr::new(10, 200, 0, 1));
    let received = Received {
        src: master,
        priority: 200,
        interval: Duration::from_secs(1),
    };
    let mut adverts = 0u64;
    let start = std::time::Instant::now();
    for _ in 0..rounds {
        now = now + Duration::from_millis(10);
        for vrid in 1..=255u8 {
            let out = engine.handle(
                now,
                Input::Advert {
                    vrid,
                    ipv6: false,
                    received,
                },
            );
            std::hint::black_box(&out);
            adverts += 1;
        }
    }
    let per_advert = start.elapsed().as_nanos() as f64 / adverts as f64;
    // Each advert above is dispatched to every instance with that VRID (n / 255 of them).
    let per_instance_advert = per_advert / (n as f64 / 255.0).max(1.0);

    // Masters: let every instance take over, then serve advert timers.
    now = now + Duration::from_secs(10);
    engine.handle(now, Input::Timeout);
    let mut timer_events = 0u64;
    let start = std::time::Instant::now();
    for _ in 0..rounds {
        let Some(t) = engine.poll_timeout() else {
            break;
        };
        now = t;
        let out = engine.handle(now, Input::Timeout);
        timer_events += out.len() as u64;
        std::hint::black_box(&out);
    }
    let elapsed = start.elapsed().as_nanos() as f64;

    // The same with real packets: decode, validate (keepalived's checks) and dispatch.
    let wire = |src: IpAddr| WireConfig {
        src,
        destinations: vec![IpAddr::V4(Ipv4Addr::new(224, 0, 0, 18))],
        unicast_peers: vec![],
        check_unicast_src: false,
        auth: Auth::none(),
        addresses: vec![IpAddr::V4(Ipv4Addr::new(10, 200, 1, 1))],
        v3_checksum_as_v2: false,
    };
    let specs: Vec<InstanceSpec> = (0..n)
        .map(|k| {
            let mut c = InstanceConfig::simple(&format!("VI_{k}"), (k % 255 + 1) as u8, 100, me);
            c.interface = format!("eth{}", k / 255);
            let mut s = InstanceSpec::plain(c);
            s.wire = Some(wire(me));
            s
        })
        .collect();
    let mut wired = Engine::new(specs, vec![]);
    wired.handle(now, Input::Start);
    // One sender per VRID, as its master would encode it.
    let mut sender_specs = Vec::new();
    for vrid in 1..=255u8 {
        let mut c = InstanceConfig::simple("M", vrid, 200, master);
        c.interface = "eth0".into();
        let mut s = InstanceSpec::plain(c);
        s.wire = Some(wire(master));
        sender_specs.push(s);
    }
    let senders = Engine::new(sender_specs, vec![]);
    let packets: Vec<Packet> = (0..255)
        .filter_map(|id| senders.encode_advert(id, 200).into_iter().next())
        .map(|(dst, msg)| Packet {
            interface: "eth0".into(),
            meta: RxMeta {
                src: master,
                dst,
                ttl: Some(255),
            },
            msg,
        })
        .collect();
    let mut handled = 0u64;
    let start_p = std::time::Instant::now();
    for _ in 0..rounds {
        now = now + Duration::from_millis(10);
        for p in &packets {
            let out = wired.handle(now, Input::Packet(p.clone()));
            std::hint::black_box(&out);
            handled += 1;
        }
    }
    let per_packet = start_p.elapsed().as_nanos() as f64 / handled.max(1) as f64;
    let drops: u64 = wired.drop_counters().values().sum();
    println!("instances: {n}, rounds: {rounds}");
    println!(
        "received adverts: {adverts} handled, {per_advert:.0} ns per advert input, \
         {per_instance_advert:.0} ns per instance that processed it"
    );
    println!(
        "timer events: {timer_events} adverts due, {:.0} ns per event",
        elapsed / timer_events.max(1) as f64
    );
    println!(
        "received packets (decode + validate + dispatch, eth0's 255 instances): {handled} \
         handled, {per_packet:.0} ns per packet, {drops} dropped"
    );
}
