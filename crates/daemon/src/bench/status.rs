//! Advert timing while monitoring reads the daemon. One master holds 50 VRRPv3 instances at
//! advert_int 0.1 s (500 adverts a second), and is read 10 times a second: ours through
//! `GET /metrics` (`--metrics-listen`), keepalived the way the keepalived exporter reads it
//! (SIGUSR1 and SIGUSR2, then the dump files from `$TMPDIR`). The same run without any reader is
//! the baseline. Figures: advert interval deviation on the wire (p50/p99/max over every
//! instance), and for ours the scrape's own latency.

use super::flood::deviations_ms;
use super::{quantile, Figure, Implementation};
use anyhow::{bail, Context, Result};
use ka_lab::pcap::{self, Payload};
use ka_lab::{wait_until, Lab, LabSpec};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Instances on the master.
pub const INSTANCES: u8 = 50;
/// Reads per second.
pub const READS_PER_SECOND: u32 = 10;
const METRICS_PORT: u16 = 9650;

/// `n` v3 instances at 0.1 s, VRIDs 1..=n, one VIP each.
pub fn config(n: u8, global_extra: &str) -> String {
    let mut s = format!("global_defs {{\n    router_id status\n{global_extra}}}\n");
    for v in 1..=n {
        let _ = writeln!(
            s,
            "vrrp_instance VI_{v} {{\n    state MASTER\n    interface eth0\n    virtual_router_id {v}\n    \
             priority 150\n    version 3\n    advert_int 0.1\n    virtual_ipaddress {{\n        10.201.{v}.1/32 dev eth0\n    }}\n}}"
        );
    }
    s
}

/// Runs baseline and loaded for each implementation.
pub fn status(impls: &[Implementation], window: Duration) -> Result<Vec<Figure>> {
    let mut out = Vec::new();
    let mut runs: Vec<(Implementation, &str)> = impls.iter().map(|i| (i.clone(), "")).collect();
    // Ours again with the VRRP thread real-time (keepalived's own option, off by default).
    if let Some(ours) = impls.iter().find(|i| i.name == "keepalived-rs") {
        let mut rt = ours.clone();
        rt.name = "ours +rt".into();
        runs.push((rt, "    vrrp_rt_priority 50\n"));
    }
    for (imp, extra) in &runs {
        for loaded in [false, true] {
            match one(imp, window, loaded, extra) {
                Ok(f) => {
                    super::print_table(&f);
                    out.extend(f);
                }
                Err(e) => eprintln!("  status {} (loaded {loaded}): {e:#}", imp.name),
            }
        }
    }
    Ok(out)
}

/// One `GET /metrics` from inside the namespace (the calling thread has entered it).
fn scrape(addr: &str) -> std::io::Result<usize> {
    let mut s = std::net::TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")?;
    let mut body = Vec::new();
    s.read_to_end(&mut body)?;
    Ok(body.len())
}

fn one(
    imp: &Implementation,
    window: Duration,
    loaded: bool,
    global_extra: &str,
) -> Result<Vec<Figure>> {
    let lab = Lab::new(LabSpec::new(1))?;
    let router: Ipv4Addr = lab.router_ip4(1)?.parse().context("router ip")?;
    let ours = imp.name != "keepalived";
    let listen = format!("{router}:{METRICS_PORT}");
    let extra: Vec<&str> = if ours {
        vec!["--metrics-listen", &listen]
    } else {
        vec![]
    };
    let mut d = lab.start_daemon_with(1, &imp.bin, &config(INSTANCES, global_extra), &extra)?;
    if !wait_until(Duration::from_secs(30), || {
        lab.has_address(1, &format!("10.201.{INSTANCES}.1/32"))
    }) {
        bail!(
            "no master: {}",
            d.log().lines().rev().take(5).collect::<Vec<_>>().join("\n")
        );
    }
    std::thread::sleep(Duration::from_secs(2));
    let stop = Arc::new(AtomicBool::new(false));
    let reader = if loaded {
        let stop = Arc::clone(&stop);
        let ns = format!("/run/netns/{}", lab.ns_name(1)?);
        let pid = d.pid();
        let dir = lab.dir().to_path_buf();
        let listen = listen.clone();
        Some(std::thread::spawn(move || -> Result<Vec<f64>> {
            let mut latencies = Vec::new();
            let period = Duration::from_secs(1) / READS_PER_SECOND;
            if ours {
                // This thread only: network namespaces are per thread.
                let f = std::fs::File::open(&ns).context("netns")?;
                nix::sched::setns(f, nix::sched::CloneFlags::CLONE_NEWNET).context("setns")?;
            }
            let mut next = Instant::now();
            while !stop.load(Ordering::Relaxed) {
                let t0 = Instant::now();
                if ours {
                    scrape(&listen).context("scrape")?;
                } else {
                    let p = nix::unistd::Pid::from_raw(i32::try_from(pid).unwrap_or(i32::MAX));
                    let _ = nix::sys::signal::kill(p, nix::sys::signal::Signal::SIGUSR1);
                    let _ = nix::sys::signal::kill(p, nix::sys::signal::Signal::SIGUSR2);
                    // The exporter then reads both files.
                    std::thread::sleep(Duration::from_millis(20));
                    let _ = std::fs::read(dir.join("keepalived.data"));
                    let _ = std::fs::read(dir.join("keepalived.stats"));
                }
                latencies.push(t0.elapsed().as_secs_f64() * 1000.0);
                next += period;
                std::thread::sleep(next.saturating_duration_since(Instant::now()));
            }
            Ok(latencies)
        }))
    } else {
        None
    };
    std::thread::sleep(Duration::from_secs(1));
    let capture = lab.capture("ip proto 112")?;
    let offset = super::idle::log_len(&d);
    let start = super::idle::now_us();
    std::thread::sleep(window);
    let end = super::idle::now_us();
    let path = capture.stop()?;
    stop.store(true, Ordering::Relaxed);
    let latencies = match reader {
        Some(h) => h
            .join()
            .map_err(|_| anyhow::anyhow!("reader thread panicked"))??,
        None => Vec::new(),
    };
    let log = super::idle::log_since(&d, offset);
    let _ = d.stop(Duration::from_secs(5));
    let frames = pcap::read(&path)?;
    lab.down()?;
    let mut by_vrid: BTreeMap<u8, Vec<i64>> = BTreeMap::new();
    for f in &frames {
        if let (Some((src, _)), Payload::Vrrp { vrid, priority, .. }) = (f.ip, &f.payload) {
            if src == router && *priority != 0 {
                by_vrid.entry(*vrid).or_default().push(f.time_us);
            }
        }
    }
    let mut dev = Vec::new();
    for times in by_vrid.values() {
        dev.extend(deviations_ms(times, start, end, 100.0));
    }
    let scenario = format!(
        "{INSTANCES} v3 0.1s instances, {}",
        if loaded {
            if ours {
                format!("GET /metrics {READS_PER_SECOND}/s")
            } else {
                format!("SIGUSR1+SIGUSR2 dumps {READS_PER_SECOND}/s")
            }
        } else {
            "nobody reading".to_string()
        }
    );
    let name = &imp.name;
    let mut f = super::deviation_figures(&scenario, name, &dev);
    f.push(Figure::new(
        &scenario,
        "adverts sampled",
        name,
        vec![dev.len() as f64],
    ));
    if loaded {
        f.push(Figure::new(
            &scenario,
            "reads done",
            name,
            vec![latencies.len() as f64],
        ));
        if ours {
            for (label, q) in [("p50", 0.5), ("p99", 0.99)] {
                f.push(Figure::new(
                    &scenario,
                    &format!("scrape latency {label} ms"),
                    name,
                    quantile(&latencies, q).map(|x| vec![x]).unwrap_or_default(),
                ));
            }
        }
    }
    f.push(Figure::new(
        &scenario,
        "state changes during the run",
        name,
        vec![log.matches("Entering").count() as f64],
    ));
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_has_every_instance() {
        let c = config(3, "");
        assert_eq!(c.matches("vrrp_instance VI_").count(), 3);
        assert!(c.contains("virtual_router_id 3\n"));
        assert!(c.contains("10.201.3.1/32"));
    }
}
