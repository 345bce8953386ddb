//! The bad-advert flood: malformed, wrong-TTL, wrong-version, bad-checksum and unknown-VRID
//! adverts from the client namespace against a v3 0.1 s master.
//!
//! ```text
//!  client ns: keepalived-rs flood-adverts ── ~3,000 bad adverts/s, 5 s ──► 224.0.0.18
//!  router 1:  the implementation under test, VRID 51 MASTER, v3 advert_int 0.1
//!  bridge ns: tcpdump "ip proto 112" ── the master's advert intervals on the wire
//! ```
//!
//! Per implementation: state changes and log lines written while the flood lasts, whether the
//! master still holds the VIP afterwards, the deviation of its advert interval from 100 ms
//! (p50/p99/max), and for keepalived-rs its drop counters per reason (logged on SIGUSR2).

use super::idle::{count_lines_with, log_len, log_since, now_us};
use super::{quantile, ConfSpec, Figure, Implementation};
use anyhow::{bail, Context, Result};
use ka_lab::pcap::{self, Frame, Payload};
use ka_lab::{wait_until, Lab, LabSpec, Node, Signal};
use ka_sys::vrrp_socket::{Family as SockFamily, SocketOptions, VrrpSocket};
use ka_vrrp::packet::{
    compute_checksum, Advert, Auth, ChecksumMode, EncodeOptions, Version, VRRP_GROUP_V4, VRRP_TTL,
};
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// The flood's rate, adverts per second.
const RATE: u32 = 3000;
/// How long the flood lasts, seconds.
const SECS: u32 = 5;
/// The master's VRID.
const VRID: u8 = 51;
/// The master's advert interval, ms.
const INTERVAL_MS: f64 = 100.0;

/// One kind of bad advert the generator sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum BadKind {
    /// A 3-byte VRRP payload (shorter than the header).
    Malformed,
    /// A valid v3 advert (priority 200) with IP TTL 64 instead of 255.
    WrongTtl,
    /// A v3 advert whose version nibble is 4 or 1 (checksum valid for those bytes).
    WrongVersion,
    /// A valid v3 advert with one checksum byte flipped.
    BadChecksum,
    /// A valid v3 advert (TTL 255, good checksum) for a VRID nobody runs.
    UnknownVrid,
}

impl BadKind {
    /// Every kind, in the order of the round-robin mix.
    const ALL: [BadKind; 5] = [
        BadKind::Malformed,
        BadKind::WrongTtl,
        BadKind::WrongVersion,
        BadKind::BadChecksum,
        BadKind::UnknownVrid,
    ];

    /// The name printed in the generator's summary.
    fn name(self) -> &'static str {
        match self {
            BadKind::Malformed => "malformed",
            BadKind::WrongTtl => "wrong_ttl",
            BadKind::WrongVersion => "wrong_version",
            BadKind::BadChecksum => "bad_checksum",
            BadKind::UnknownVrid => "unknown_vrid",
        }
    }
}

/// One packet of the mix: the VRRP message (no IP header) and the TTL to send it with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadAdvert {
    /// What is wrong with it.
    pub kind: BadKind,
    /// The VRRP message.
    pub msg: Vec<u8>,
    /// IPv4 TTL.
    pub ttl: u8,
}

/// A valid v3 advert for `vrid` (priority 200, 0.1 s, one address `vip`) from `src` to the
/// VRRP group, checksum with the IPv4 pseudo-header.
fn valid_v3(vrid: u8, src: Ipv4Addr, vip: Ipv4Addr) -> Result<Vec<u8>> {
    Advert {
        version: Version::V3,
        vrid,
        priority: 200,
        interval_cs: 10,
        addresses: vec![IpAddr::V4(vip)],
        auth: Auth::none(),
        checksum: 0,
    }
    .encode(
        IpAddr::V4(src),
        IpAddr::V4(VRRP_GROUP_V4),
        &EncodeOptions::default(),
    )
    .context("encoding a v3 advert")
}

/// The VRID used for "unknown VRID" adverts: the next one after `vrid` (1..=255, wrapping).
fn other_vrid(vrid: u8) -> u8 {
    vrid.checked_add(1).unwrap_or(1)
}

/// The round-robin mix against VRID `vrid`: each of the five kinds twice (the wrong version
/// once as 4, once as 1), in [`BadKind::ALL`] order.
pub fn build_mix(vrid: u8, src: Ipv4Addr, vip: Ipv4Addr) -> Result<Vec<BadAdvert>> {
    let valid = valid_v3(vrid, src, vip)?;
    let unknown = valid_v3(other_vrid(vrid), src, vip)?;
    let mut mix = Vec::new();
    for round in 0..2 {
        for kind in BadKind::ALL {
            let (msg, ttl) = match kind {
                BadKind::Malformed => (vec![0x31, vrid, 200], VRRP_TTL),
                BadKind::WrongTtl => (valid.clone(), 64),
                BadKind::WrongVersion => {
                    let mut m = valid.clone();
                    let version: u8 = if round == 0 { 4 } else { 1 };
                    m[0] = (version << 4) | (m[0] & 0x0f);
                    let sum = compute_checksum(
                        &m,
                        IpAddr::V4(src),
                        IpAddr::V4(VRRP_GROUP_V4),
                        ChecksumMode::Ipv4Pseudo,
                    );
                    m[6..8].copy_from_slice(&sum.to_be_bytes());
                    (m, VRRP_TTL)
                }
                BadKind::BadChecksum => {
                    let mut m = valid.clone();
                    m[7] ^= 0xff;
                    (m, VRRP_TTL)
                }
                BadKind::UnknownVrid => (unknown.clone(), VRRP_TTL),
            };
            mix.push(BadAdvert { kind, msg, ttl });
        }
    }
    Ok(mix)
}

/// The command line of `keepalived-rs flood-adverts`.
#[derive(Debug, clap::Parser)]
#[command(
    name = "keepalived-rs flood-adverts",
    about = "Sends a paced mix of bad VRRP adverts to 224.0.0.18 (for the lab flood benchmark; root)"
)]
struct FloodCli {
    /// Interface to send on.
    #[arg(long)]
    iface: String,
    /// Packets per second.
    #[arg(long, default_value_t = 3000)]
    rate: u32,
    /// Duration, seconds.
    #[arg(long, default_value_t = 5.0)]
    secs: f64,
    /// The VRID under attack.
    #[arg(long, default_value_t = 51)]
    vrid: u8,
    /// IPv4 source address of the packets.
    #[arg(long)]
    src: Ipv4Addr,
    /// The VIP carried in the adverts (default: the source's /24 with host part 100, the lab's VIP).
    #[arg(long)]
    vip: Option<Ipv4Addr>,
}

/// `keepalived-rs flood-adverts ...`: the generator, run inside the client namespace.
pub fn flood_main(args: &[String]) -> Result<ExitCode> {
    use clap::Parser;
    let mut argv = vec!["keepalived-rs flood-adverts".to_string()];
    argv.extend_from_slice(args);
    let cli = FloodCli::parse_from(argv);
    if cli.rate == 0 || !(cli.secs > 0.0 && cli.secs <= 3600.0) {
        bail!("--rate must be positive and --secs within (0, 3600]");
    }
    if cli.vrid == 0 {
        bail!("--vrid must be 1..=255");
    }
    let vip = cli.vip.unwrap_or_else(|| {
        let o = cli.src.octets();
        Ipv4Addr::new(o[0], o[1], o[2], 100)
    });
    let mix = build_mix(cli.vrid, cli.src, vip)?;
    let mut sock = VrrpSocket::open(
        &cli.iface,
        SockFamily::Ipv4,
        SocketOptions::multicast(SockFamily::Ipv4),
    )
    .with_context(|| format!("opening a VRRP socket on {}", cli.iface))?;
    let src = IpAddr::V4(cli.src);
    let dst = IpAddr::V4(VRRP_GROUP_V4);
    let rate = f64::from(cli.rate);
    let total = (rate * cli.secs).round() as u64;
    let mut sent: BTreeMap<BadKind, u64> = BTreeMap::new();
    let mut slot: u64 = 0;
    let mut errors: u64 = 0;
    let mut first_error: Option<std::io::Error> = None;
    let mut would_block: u64 = 0;
    let start = Instant::now();
    // Gives up if the kernel keeps refusing: at most one second beyond the planned end.
    let give_up = start + Duration::from_secs_f64(cli.secs + 1.0);
    while slot < total {
        let now = Instant::now();
        if now >= give_up {
            break;
        }
        let elapsed = now.duration_since(start).as_secs_f64();
        let due = ((elapsed * rate).floor() as u64 + 1).min(total);
        // Small batches when behind; one packet per slot when on time.
        let mut batch = 0;
        while slot < due && batch < 32 {
            let p = &mix[(slot % mix.len() as u64) as usize];
            match sock.send(src, dst, &p.msg, p.ttl) {
                Ok(()) => *sent.entry(p.kind).or_default() += 1,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    would_block += 1;
                    std::thread::sleep(Duration::from_micros(100));
                    break; // the same slot again
                }
                Err(e) => {
                    errors += 1;
                    first_error.get_or_insert(e);
                }
            }
            slot += 1;
            batch += 1;
        }
        if slot < due {
            continue;
        }
        let next = start + Duration::from_secs_f64(slot as f64 / rate);
        let now = Instant::now();
        if next > now {
            std::thread::sleep(next - now);
        }
    }
    let took = start.elapsed().as_secs_f64();
    let n: u64 = sent.values().sum();
    let per_kind: Vec<String> = BadKind::ALL
        .iter()
        .map(|k| format!("{}={}", k.name(), sent.get(k).copied().unwrap_or(0)))
        .collect();
    println!(
        "flood-adverts: sent {} total={n} in {took:.3} s ({:.0}/s), send errors {errors}, would-block retries {would_block}",
        per_kind.join(" "),
        n as f64 / took.max(1e-9),
    );
    if let Some(e) = first_error {
        println!("flood-adverts: first send error: {e}");
    }
    Ok(if n == 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// Deviation of each advert interval from `nominal_ms`, in ms: for consecutive adverts (times
/// in µs, any order) whose interval overlaps `[from_us, to_us]`. A master that falls silent for
/// the whole window still shows: its one long interval spans the window.
pub fn deviations_ms(times_us: &[i64], from_us: i64, to_us: i64, nominal_ms: f64) -> Vec<f64> {
    let mut t = times_us.to_vec();
    t.sort_unstable();
    t.windows(2)
        .filter(|w| w[1] >= from_us && w[0] <= to_us)
        .map(|w| ((w[1] - w[0]) as f64 / 1e3 - nominal_ms).abs())
        .collect()
}

/// Drop counters our daemon logs on SIGUSR2 (`(VI_1) drops <reason>: <count>`),
/// summed per reason.
pub fn parse_drops(log: &str) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for line in log.lines() {
        let Some(at) = line.find("drops ") else {
            continue;
        };
        let rest = &line[at + "drops ".len()..];
        let Some((head, count)) = rest.rsplit_once(':') else {
            continue;
        };
        let (Some(reason), Ok(count)) =
            (head.split_whitespace().last(), count.trim().parse::<u64>())
        else {
            continue;
        };
        *out.entry(reason.to_string()).or_insert(0) += count;
    }
    out
}

/// The generator binary: keepalived-rs's, whichever implementation is measured.
fn generator(impls: &[Implementation]) -> Result<PathBuf> {
    match impls.iter().find(|i| i.name == "keepalived-rs") {
        Some(i) => Ok(i.bin.clone()),
        None => std::env::current_exe().context("finding this executable (the generator)"),
    }
}

/// Runs the flood against each implementation.
pub fn flood(impls: &[Implementation]) -> Result<Vec<Figure>> {
    let gen = generator(impls)?;
    let mut figures = Vec::new();
    let mut errors = Vec::new();
    for imp in impls {
        match flood_one(imp, &gen) {
            Ok(f) => {
                super::print_table(&f);
                figures.extend(f);
            }
            Err(e) => {
                eprintln!("  flood {}: {e:#}", imp.name);
                errors.push(format!("{}: {e:#}", imp.name));
            }
        }
    }
    if figures.is_empty() && !errors.is_empty() {
        bail!("{}", errors.join("; "));
    }
    Ok(figures)
}

/// One implementation under the flood, in a fresh one-router lab.
fn flood_one(imp: &Implementation, gen: &std::path::Path) -> Result<Vec<Figure>> {
    let lab = Lab::new(LabSpec::new(1))?;
    let vip = lab.vip4();
    let vip_cidr = format!("{vip}/24");
    let router_ip: Ipv4Addr = lab.router_ip4(1)?.parse().context("router address")?;
    let client_ip_s = lab.client_ip4();
    let client_ip: Ipv4Addr = client_ip_s.parse().context("client address")?;
    let conf = ConfSpec {
        router_id: "r1".into(),
        priority: 150,
        master: true,
        version: 3,
        advert_int: 0.1,
        auth_pass: None,
        instances: vec![("eth0".into(), VRID, vip_cidr.clone())],
        global_extra: String::new(),
    }
    .render();
    let mut daemon = lab.start_daemon(1, &imp.bin, &conf)?;
    if !wait_until(Duration::from_secs(20), || lab.has_address(1, &vip_cidr)) {
        let log = daemon.log();
        bail!("router 1 never became master:\n{log}");
    }
    std::thread::sleep(Duration::from_secs(1));
    let capture = lab.capture("ip proto 112")?;
    std::thread::sleep(Duration::from_secs(2));
    let log_off = log_len(&daemon);
    let gen_s = gen.to_str().context("generator path is not UTF-8")?;
    let (rate, secs, vrid) = (RATE.to_string(), SECS.to_string(), VRID.to_string());
    let t0 = now_us();
    let mut flooder = lab.spawn(
        Node::Client,
        "flood",
        &[
            gen_s,
            "flood-adverts",
            "--iface",
            "eth0",
            "--rate",
            &rate,
            "--secs",
            &secs,
            "--vrid",
            &vrid,
            "--src",
            &client_ip_s,
            "--vip",
            &vip,
        ],
    )?;
    let status = flooder.wait_exit(Duration::from_secs(u64::from(SECS) + 10));
    let t1 = now_us();
    std::thread::sleep(Duration::from_secs(1));
    let during = log_since(&daemon, log_off);
    let vip_held = lab.has_address(1, &vip_cidr);
    let running = daemon.is_running();
    let pcap_path = capture.stop()?;
    let gen_log = flooder.log();
    match status {
        Some(st) if st.success() => eprintln!("  {} flood: {}", imp.name, gen_log.trim()),
        Some(st) => bail!("the generator failed ({st}): {}", gen_log.trim()),
        None => {
            let _ = flooder.stop(Duration::from_secs(1));
            bail!("the generator did not finish: {}", gen_log.trim());
        }
    }
    let frames = pcap::read(&pcap_path)?;
    let _ = std::fs::remove_file(&pcap_path);
    // The flood window as seen on the wire (the generator's first and last packets).
    let flood_times: Vec<i64> = frames
        .iter()
        .filter(|f| f.ip.is_some_and(|(s, _)| s == client_ip))
        .map(|f| f.time_us)
        .collect();
    let (w0, w1) = match (flood_times.iter().min(), flood_times.iter().max()) {
        (Some(&a), Some(&b)) => (a, b),
        _ => (t0, t1),
    };
    let adverts: Vec<i64> = frames
        .iter()
        .filter(|f| is_master_advert(f, router_ip))
        .map(|f| f.time_us)
        .collect();
    let dev = deviations_ms(&adverts, w0, w1, INTERVAL_MS);
    let adverts_in_flood = adverts.iter().filter(|&&t| t >= w0 && t <= w1).count();
    let state_changes = count_lines_with(&during, "Entering");
    let log_lines = during.lines().count();

    let mut drops = BTreeMap::new();
    if imp.name == "keepalived-rs" && running {
        let off = log_len(&daemon);
        daemon.signal(Signal::SIGUSR2)?;
        wait_until(Duration::from_secs(2), || {
            log_since(&daemon, off).contains("drops ")
        });
        std::thread::sleep(Duration::from_millis(200));
        drops = parse_drops(&log_since(&daemon, off));
    }
    let _ = daemon.stop(Duration::from_secs(3));
    lab.down()?;
    if !running {
        eprintln!("  {}: the daemon exited during the flood", imp.name);
    }

    let scenario = format!("flood {RATE}/s {SECS}s");
    let name = imp.name.as_str();
    let q = |p: f64| quantile(&dev, p).into_iter().collect::<Vec<_>>();
    let mut f = vec![
        Figure::new(&scenario, "state changes", name, vec![state_changes as f64]).with_target("0"),
        Figure::new(&scenario, "advert deviation p50 ms", name, q(0.5)),
        Figure::new(&scenario, "advert deviation p99 ms", name, q(0.99)).with_target("< 1 ms"),
        Figure::new(&scenario, "advert deviation max ms", name, q(1.0)),
        Figure::new(
            &scenario,
            "master adverts during flood",
            name,
            vec![adverts_in_flood as f64],
        )
        .with_target(&format!("~{}", SECS * 10)),
        Figure::new(
            &scenario,
            "log lines during flood",
            name,
            vec![log_lines as f64],
        ),
        Figure::new(
            &scenario,
            "VIP held at end (1=yes)",
            name,
            vec![if vip_held { 1.0 } else { 0.0 }],
        )
        .with_target("1"),
        Figure::new(
            &scenario,
            "flood packets on wire",
            name,
            vec![flood_times.len() as f64],
        ),
    ];
    if imp.name == "keepalived-rs" {
        f.push(Figure::new(
            &scenario,
            "drops counted",
            name,
            vec![drops.values().sum::<u64>() as f64],
        ));
        for (reason, n) in &drops {
            f.push(Figure::new(
                &scenario,
                &format!("drops {reason}"),
                name,
                vec![*n as f64],
            ));
        }
    }
    Ok(f)
}

/// An advert of the master under test: from its address, VRID 51, priority not 0.
fn is_master_advert(f: &Frame, router_ip: Ipv4Addr) -> bool {
    f.ip.is_some_and(|(s, _)| s == router_ip)
        && matches!(f.payload, Payload::Vrrp { vrid, priority, .. } if vrid == VRID && priority != 0)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use ka_vrrp::packet::{decode, DropReason, RxMeta, ValidationContext};

    #[test]
    fn the_mix_has_five_kinds_each_dropped_for_its_reason() {
        let src = Ipv4Addr::new(10, 200, 7, 2);
        let vip = Ipv4Addr::new(10, 200, 7, 100);
        let mix = build_mix(51, src, vip).unwrap();
        assert_eq!(mix.len(), 10);
        for k in BadKind::ALL {
            assert_eq!(mix.iter().filter(|p| p.kind == k).count(), 2, "{k:?}");
        }
        let vips = [IpAddr::V4(vip)];
        let ctx = ValidationContext {
            expected_addresses: Some(&vips),
            interval_cs: 10,
            ..ValidationContext::new(Version::V3)
        };
        let mut versions = Vec::new();
        for p in &mix {
            let meta = RxMeta {
                src: IpAddr::V4(src),
                dst: IpAddr::V4(VRRP_GROUP_V4),
                ttl: Some(p.ttl),
            };
            let r = decode(&p.msg, &meta, &ctx);
            match p.kind {
                BadKind::Malformed => {
                    assert_eq!(p.msg.len(), 3);
                    assert_eq!(r, Err(DropReason::TooShort));
                }
                BadKind::WrongTtl => {
                    assert_eq!(p.ttl, 64);
                    assert_eq!(p.msg[1], 51);
                    assert_eq!(r, Err(DropReason::BadTtl));
                }
                BadKind::WrongVersion => {
                    versions.push(p.msg[0] >> 4);
                    assert_eq!(r, Err(DropReason::BadVersion));
                    // Only the version is wrong: the checksum holds for these bytes.
                    assert!(ka_vrrp::packet::verify_checksum(
                        &p.msg,
                        meta.src,
                        meta.dst,
                        ChecksumMode::Ipv4Pseudo
                    ));
                }
                BadKind::BadChecksum => assert_eq!(r, Err(DropReason::BadChecksum)),
                BadKind::UnknownVrid => {
                    assert_eq!(p.msg[1], 52);
                    assert_eq!(p.ttl, 255);
                    // Valid in itself: only the VRID makes it a drop (at dispatch).
                    let a = r.unwrap();
                    assert_eq!((a.vrid, a.priority), (52, 200));
                }
            }
        }
        versions.sort_unstable();
        assert_eq!(versions, vec![1, 4]);
        assert_eq!(other_vrid(255), 1);
    }

    #[test]
    fn deviations_from_the_nominal_interval() {
        let t = [0, 100_000, 200_500, 299_000, 400_000, 1_000_000];
        let d = deviations_ms(&t, 150_000, 350_000, 100.0);
        assert_eq!(d.len(), 3);
        assert!((d[0] - 0.5).abs() < 1e-9);
        assert!((d[1] - 1.5).abs() < 1e-9);
        assert!((d[2] - 1.0).abs() < 1e-9);
        // A silent master: one interval spanning the window.
        let d = deviations_ms(&t, 450_000, 900_000, 100.0);
        assert_eq!(d.len(), 1);
        assert!((d[0] - 500.0).abs() < 1e-9);
        assert!(deviations_ms(&[5], 0, 10, 100.0).is_empty());
    }

    #[test]
    fn drop_dump_lines_are_summed_per_reason() {
        let log = "Sat Jan 1 drops Some(InstanceId(0)) bad_ttl: 1500\n\
                   drops Some(InstanceId(0)) too_short: 1499\n\
                   drops None unknown_vrid: 7\n\
                   drops Some(InstanceId(1)) bad_ttl: 2\n\
                   (VI_1) Entering MASTER STATE\n";
        let d = parse_drops(log);
        assert_eq!(d.get("bad_ttl"), Some(&1502));
        assert_eq!(d.get("too_short"), Some(&1499));
        assert_eq!(d.get("unknown_vrid"), Some(&7));
        assert_eq!(d.len(), 3);
    }
}
