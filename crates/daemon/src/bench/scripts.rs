//! Advert timing under script load: one v3 0.1 s master tracking 500 `vrrp_script`s that each
//! run `sleep 0.05` every second (500 process starts a second). The master's advert intervals
//! on the wire, against advert_int: does starting and reaping scripts delay adverts?

use super::flood::deviations_ms;
use super::{Figure, Implementation};
use anyhow::{bail, Context, Result};
use ka_lab::pcap::{self, Payload};
use ka_lab::{wait_until, Lab, LabSpec};
use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::time::Duration;

/// How many scripts the master tracks.
pub const SCRIPTS: usize = 500;
const VRID: u8 = 51;

/// The master's configuration: `n` scripts (`sleep 0.05`, every second, never failing), each
/// tracked with weight 1.
pub fn config(vip: &str, n: usize, global_extra: &str) -> String {
    let mut s = format!("global_defs {{\n    router_id scripts\n{global_extra}}}\n");
    for k in 0..n {
        let _ = writeln!(
            s,
            "vrrp_script s{k} {{\n    script \"/bin/sleep 0.05\"\n    interval 1\n    timeout 2\n    weight 1\n    rise 1\n    fall 1\n}}"
        );
    }
    let _ = writeln!(
        s,
        "vrrp_instance VI_1 {{\n    state MASTER\n    interface eth0\n    virtual_router_id {VRID}\n    \
         priority 150\n    version 3\n    advert_int 0.1\n    track_script {{"
    );
    for k in 0..n {
        let _ = writeln!(s, "        s{k}");
    }
    let _ = writeln!(
        s,
        "    }}\n    virtual_ipaddress {{\n        {vip}/24 dev eth0\n    }}\n}}"
    );
    s
}

/// Runs the scenario for each implementation, sampling `window` of adverts.
pub fn scripts(impls: &[Implementation], window: Duration) -> Result<Vec<Figure>> {
    let mut out = Vec::new();
    let mut runs: Vec<(Implementation, &str)> = impls.iter().map(|i| (i.clone(), "")).collect();
    // Ours again with the VRRP thread real-time (keepalived's own option, off by default).
    if let Some(ours) = impls.iter().find(|i| i.name == "keepalived-rs") {
        let mut rt = ours.clone();
        rt.name = "ours +rt".into();
        runs.push((rt, "    vrrp_rt_priority 50\n"));
    }
    for (imp, extra) in &runs {
        match one(imp, window, extra) {
            Ok(f) => {
                super::print_table(&f);
                out.extend(f);
            }
            Err(e) => eprintln!("  scripts {}: {e:#}", imp.name),
        }
    }
    Ok(out)
}

fn one(imp: &Implementation, window: Duration, global_extra: &str) -> Result<Vec<Figure>> {
    let lab = Lab::new(LabSpec::new(1))?;
    let vip = lab.vip4();
    let router: Ipv4Addr = lab.router_ip4(1)?.parse().context("router ip")?;
    let mut d = lab.start_daemon(1, &imp.bin, &config(&vip, SCRIPTS, global_extra))?;
    if !wait_until(Duration::from_secs(30), || {
        lab.has_address(1, &format!("{vip}/24"))
    }) {
        bail!(
            "no master: {}",
            d.log().lines().rev().take(5).collect::<Vec<_>>().join("\n")
        );
    }
    // Let every script run a few times so the load is steady.
    std::thread::sleep(Duration::from_secs(3));
    let capture = lab.capture("ip proto 112")?;
    let offset = super::idle::log_len(&d);
    let start = super::idle::now_us();
    std::thread::sleep(window);
    let end = super::idle::now_us();
    let path = capture.stop()?;
    let log = super::idle::log_since(&d, offset);
    let _ = d.stop(Duration::from_secs(5));
    let frames = pcap::read(&path)?;
    lab.down()?;
    let times: Vec<i64> = frames
        .iter()
        .filter(|f| {
            f.ip.is_some_and(|(s, _)| s == router)
                && matches!(f.payload, Payload::Vrrp { vrid, priority, .. } if vrid == VRID && priority != 0)
        })
        .map(|f| f.time_us)
        .collect();
    let dev = deviations_ms(&times, start, end, 100.0);
    let scenario = format!("{SCRIPTS} scripts/s, v3 0.1s master");
    let name = &imp.name;
    let mut f = super::deviation_figures(&scenario, name, &dev);
    f.push(Figure::new(
        &scenario,
        "adverts sampled",
        name,
        vec![times.len() as f64],
    ));
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
    fn the_config_tracks_every_script() {
        let c = config("10.200.1.100", 3, "");
        assert_eq!(c.matches("vrrp_script s").count(), 3);
        assert!(c.contains("        s2\n"));
        assert!(c.contains("advert_int 0.1"));
    }
}
