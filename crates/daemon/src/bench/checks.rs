//! `keepalived-rs bench --only checks`: the checker side under load, keepalived-rs only (on
//! this host keepalived's checker cannot run: it exits without IPVS; the VM comparison is
//! `scripts/bench-checks-vm.sh`).
//!
//! One router namespace: a VRRPv3 master at 0.1 s (adverts captured on the LAN), and the
//! checker child with `--ipvs-backend=memory` running N TCP_CHECKs and M HTTP_GETs at
//! `delay_loop 1` against `bench-responder` (niced) on distinct local addresses (a `local`
//! route makes all of 10.64.0.0/16 ours, so each real server is its own address and TIME_WAIT
//! never runs out of ports). Figures: checks per second sustained (connections the responder
//! accepted), CPU of the checker process per 1,000 checks and in %, its RSS, and the advert
//! deviation p50/p99/max meanwhile (`vrrp_rt_priority 50`: the VRRP thread at real-time
//! priority, the responder niced).

use super::flood::deviations_ms;
use super::idle::{log_len, now_us};
use super::{quantile, usage, ConfSpec, Figure, Implementation};
use anyhow::{bail, Context, Result};
use ka_lab::pcap::{self, Payload};
use ka_lab::{wait_until, Lab, LabSpec};
use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

const VRID: u8 = 51;
const INTERVAL_MS: f64 = 100.0;

/// The checker configuration: `tcp` TCP_CHECKs on port 80, `http` HTTP_GETs on 8080.
pub fn config(vip_cidr: &str, tcp: usize, http: usize) -> String {
    let mut s = ConfSpec {
        router_id: "checks".into(),
        priority: 150,
        master: true,
        version: 3,
        advert_int: 0.1,
        auth_pass: None,
        instances: vec![("eth0".into(), VRID, vip_cidr.to_string())],
        // The VRRP thread at real-time priority, as an operator running heavy checks would.
        global_extra: "    vrrp_rt_priority 50\n".into(),
    }
    .render();
    let addr = |i: usize| format!("10.64.{}.{}", i / 250, i % 250 + 1);
    for (n, chunk) in (0..tcp).collect::<Vec<_>>().chunks(1000).enumerate() {
        let _ = writeln!(
            s,
            "virtual_server 10.65.0.{} 80 {{\n  delay_loop 1\n  lb_algo rr\n  lb_kind DR\n  protocol TCP",
            n + 1
        );
        for &i in chunk {
            let _ = writeln!(
                s,
                "  real_server {} 80 {{\n    TCP_CHECK {{\n      connect_timeout 2\n    }}\n  }}",
                addr(i)
            );
        }
        s.push_str("}\n");
    }
    for (n, chunk) in (0..http).collect::<Vec<_>>().chunks(1000).enumerate() {
        let _ = writeln!(
            s,
            "virtual_server 10.65.1.{} 8080 {{\n  delay_loop 1\n  lb_algo rr\n  lb_kind DR\n  protocol TCP",
            n + 1
        );
        for &i in chunk {
            let _ = writeln!(
                s,
                "  real_server {} 8080 {{\n    HTTP_GET {{\n      url {{\n        path /\n        status_code 200\n      }}\n      connect_timeout 2\n    }}\n  }}",
                addr(tcp + i)
            );
        }
        s.push_str("}\n");
    }
    s
}

/// Runs the scenario for keepalived-rs (the first implementation).
pub fn checks(
    impls: &[Implementation],
    tcp: usize,
    http: usize,
    window: Duration,
) -> Result<Vec<Figure>> {
    let Some(ours) = impls.iter().find(|i| i.name == "keepalived-rs") else {
        bail!("no keepalived-rs to measure");
    };
    let lab = Lab::new(LabSpec::new(1))?;
    let vip = lab.vip4();
    let vip_cidr = format!("{vip}/24");
    let router_ip: Ipv4Addr = lab.router_ip4(1)?.parse().context("router address")?;
    let ns = lab.ns_name(1)?;
    let out = std::process::Command::new("ip")
        .args([
            "-n",
            &ns,
            "route",
            "add",
            "local",
            "10.64.0.0/16",
            "dev",
            "lo",
        ])
        .output()
        .context("ip route")?;
    if !out.status.success() {
        bail!(
            "ip route add local: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let bin = ours.bin.to_str().context("binary path")?;
    let mut responder = lab.spawn(
        1,
        "responder",
        &[
            "nice",
            "-n",
            "10",
            bin,
            "bench-responder",
            "--tcp",
            "80",
            "--http",
            "8080",
        ],
    )?;
    if !wait_until(Duration::from_secs(10), || {
        responder.log().contains("listening")
    }) {
        bail!("the responder did not start: {}", responder.log());
    }
    let conf = config(&vip_cidr, tcp, http);
    let mut daemon =
        lab.start_daemon_with(1, &ours.bin, &conf, &["-C", "--ipvs-backend=memory"])?;
    if !wait_until(Duration::from_secs(30), || lab.has_address(1, &vip_cidr)) {
        bail!("router 1 never became master:\n{}", daemon.log());
    }
    let pidfile = lab.dir().join("r1.check.pid");
    let mut child = 0u32;
    wait_until(Duration::from_secs(30), || {
        child = std::fs::read_to_string(&pidfile)
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0);
        child != 0
    });
    if child == 0 {
        bail!("no checker process:\n{}", daemon.log());
    }
    // Warm-up: every checker has made its first attempts.
    std::thread::sleep(Duration::from_secs(6));
    let capture = lab.capture("ip proto 112")?;
    std::thread::sleep(Duration::from_secs(1));
    let log_off = log_len(&responder);
    let (c0, p0) = (usage(&[child]), usage(&[daemon.pid()]));
    let t0 = now_us();
    let start = Instant::now();
    std::thread::sleep(window);
    let elapsed = start.elapsed();
    let (c1, p1) = (usage(&[child]), usage(&[daemon.pid()]));
    let t1 = now_us();
    let per_second: Vec<f64> = super::idle::log_since(&responder, log_off)
        .lines()
        .filter_map(|l| l.strip_prefix("conns "))
        .filter_map(|n| n.trim().parse::<f64>().ok())
        .collect();
    let removed = daemon.log().matches("Removing service").count();
    let pcap_path = capture.stop()?;
    let frames = pcap::read(&pcap_path)?;
    // Mass failure: every real server dies at once (the responder stops). How long until the
    // last one is out of the pool (with the default retry, the second failed attempt)?
    let storm = Instant::now();
    let _ = responder.stop(Duration::from_secs(2));
    let target = removed + tcp + http;
    let mut first_out = None;
    let mut all_out = None;
    while storm.elapsed() < Duration::from_secs(120) {
        let n = daemon.log().matches("Removing service").count();
        if n > removed && first_out.is_none() {
            first_out = Some(storm.elapsed().as_secs_f64());
        }
        if n >= target {
            all_out = Some(storm.elapsed().as_secs_f64());
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = daemon.stop(Duration::from_secs(10));
    lab.down()?;
    let adverts: Vec<i64> = frames
        .iter()
        .filter(|f| {
            f.ip.is_some_and(|(s, _)| s == router_ip)
                && matches!(f.payload, Payload::Vrrp { vrid, priority, .. } if vrid == VRID && priority != 0)
        })
        .map(|f| f.time_us)
        .collect();
    let dev = deviations_ms(&adverts, t0, t1, INTERVAL_MS);
    let checks: f64 = per_second.iter().sum::<f64>() / per_second.len().max(1) as f64;
    let secs = elapsed.as_secs_f64().max(1e-9);
    let child_cpu = c1.cpu_ns.saturating_sub(c0.cpu_ns) as f64 / 1e9;
    let parent_cpu = p1.cpu_ns.saturating_sub(p0.cpu_ns) as f64 / 1e9;
    let total_checks = checks * secs;
    let scenario = format!("checks {tcp} tcp + {http} http @1s");
    let name = ours.name.as_str();
    let q = |p: f64| quantile(&dev, p).into_iter().collect::<Vec<_>>();
    Ok(vec![
        Figure::new(&scenario, "checks/s sustained", name, vec![checks])
            .with_target(&format!("{}", tcp + http)),
        Figure::new(
            &scenario,
            "checker CPU ms per 1,000 checks",
            name,
            vec![child_cpu * 1e6 / total_checks.max(1e-9)],
        ),
        Figure::new(
            &scenario,
            "checker CPU %",
            name,
            vec![child_cpu / secs * 100.0],
        )
        .with_target("< 100 %"),
        Figure::new(
            &scenario,
            "VRRP process CPU %",
            name,
            vec![parent_cpu / secs * 100.0],
        ),
        Figure::new(
            &scenario,
            "checker RSS MiB",
            name,
            vec![c1.rss_kib as f64 / 1024.0],
        ),
        Figure::new(&scenario, "advert deviation p50 ms", name, q(0.5)),
        Figure::new(&scenario, "advert deviation p99 ms", name, q(0.99)).with_target("< 1 ms"),
        Figure::new(&scenario, "advert deviation max ms", name, q(1.0)),
        Figure::new(
            &scenario,
            "servers removed (should be 0)",
            name,
            vec![removed as f64],
        )
        .with_target("0"),
        Figure::new(
            &scenario,
            "all servers dead: first out after s",
            name,
            first_out.into_iter().collect(),
        ),
        Figure::new(
            &scenario,
            "all servers dead: last out after s",
            name,
            all_out.into_iter().collect(),
        )
        .with_target("delay_loop + retries"),
    ])
}
