//! Failover (SIGKILL and link cut, v2 1 s and v3 0.1 s) and SIGTERM handover, measured on the
//! wire (a capture on the lab's bridge) and in the new master's namespace (`ip -ts monitor
//! address`, the moment the kernel has the VIP).
//!
//! Each trial: fresh daemons on router 1 (priority 150) and router 2 (100), both the same
//! implementation; a client pings the VIP every 2 ms; after a settle time and a random phase
//! within one advert interval, the event hits router 1. Reported, per trial:
//! - `last advert -> VIP`: router 1's last advert before the event to the VIP on router 2. Its
//!   floor is Master_Down_Interval (3 x advert_int + Skew_Time); the overshoot is what an
//!   implementation adds;
//! - `VIP -> first reply`: until the client gets an echo reply from router 2's MAC.
//!
//! For the handover, `SIGTERM -> VIP` (floor: Skew_Time after the priority-0 advert).

use super::{ConfSpec, Figure, Implementation};
use anyhow::{bail, Context, Result};
use ka_lab::pcap::{self, Frame, Payload};
use ka_lab::{wait_until, Lab, LabSpec, Node, Proc, Signal};
use std::net::Ipv4Addr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How router 1 loses mastership.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// The daemon's process group is killed (a crash).
    Sigkill,
    /// The bridge side of router 1's cable goes down (carrier loss).
    LinkCut,
    /// SIGTERM: a priority-0 advert hands over at once.
    Sigterm,
}

impl Event {
    fn name(self) -> &'static str {
        match self {
            Event::Sigkill => "sigkill",
            Event::LinkCut => "linkcut",
            Event::Sigterm => "sigterm",
        }
    }
}

/// One VRRP timing case.
#[derive(Debug, Clone, Copy)]
pub struct Case {
    /// VRRP version.
    pub version: u8,
    /// advert_int, seconds.
    pub advert: f64,
    /// The event.
    pub event: Event,
}

impl Case {
    /// Skew_Time of the backup (priority 100).
    pub fn skew_s(&self) -> f64 {
        let base = if self.version == 2 { 1.0 } else { self.advert };
        (256.0 - 100.0) / 256.0 * base
    }

    /// Master_Down_Interval of the backup.
    pub fn down_interval_s(&self) -> f64 {
        3.0 * self.advert + self.skew_s()
    }

    fn label(&self) -> String {
        format!("v{} {}s {}", self.version, self.advert, self.event.name())
    }
}

/// What one trial measured, seconds (None when not seen).
#[derive(Debug, Clone, Default)]
pub struct Trial {
    /// Router 1's last advert before the event -> VIP on router 2.
    pub since_last_advert: Option<f64>,
    /// Event -> VIP on router 2.
    pub since_event: Option<f64>,
    /// VIP on router 2 -> first echo reply from router 2's MAC.
    pub vip_to_reply: Option<f64>,
    /// Router 1's last advert -> first echo reply via router 2.
    pub since_last_advert_to_reply: Option<f64>,
    /// Router 1's priority-0 advert (SIGTERM) -> VIP on router 2.
    pub since_priority_zero: Option<f64>,
}

/// Seconds since the epoch now (matches pcap and `ip -ts` timestamps).
pub fn now_s() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Days since 1970-01-01 of a civil (proleptic Gregorian) date.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Parses `ip -ts` timestamps (`[2026-11-22T06:33:12.123456]`, printed in UTC because the
/// monitor runs with TZ=UTC) to seconds since the epoch.
pub fn parse_ip_ts(line: &str) -> Option<f64> {
    let inner = line.strip_prefix('[')?.split(']').next()?;
    let (date, time) = inner.split_once('T')?;
    let mut d = date.split('-').map(|x| x.parse::<i64>().ok());
    let (y, mo, da) = (d.next()??, d.next()??, d.next()??);
    let mut t = time.split(':');
    let h = t.next()?.parse::<i64>().ok()?;
    let mi = t.next()?.parse::<i64>().ok()?;
    let s = t.next()?.parse::<f64>().ok()?;
    Some((days_from_civil(y, mo, da) * 86_400 + h * 3_600 + mi * 60) as f64 + s)
}

/// The first time (after `after`) the monitor log shows `vip` added.
pub fn vip_added_at(monitor_log: &str, vip: &str, after: f64) -> Option<f64> {
    let needle = format!(" {vip}/");
    monitor_log
        .lines()
        .filter(|l| l.starts_with('[') && !l.contains("Deleted") && l.contains(&needle))
        .filter_map(parse_ip_ts)
        .find(|t| *t >= after)
}

/// Computes a trial's figures from the capture and the monitor timestamps.
pub fn analyse(
    frames: &[Frame],
    old_ip: Ipv4Addr,
    new_mac: &[u8; 6],
    vip: Ipv4Addr,
    t0: f64,
    vip_t: Option<f64>,
) -> Trial {
    let last_advert = frames
        .iter()
        .filter(|f| {
            f.time_s() < t0
                && f.ip.is_some_and(|(s, _)| s == old_ip)
                && matches!(f.payload, Payload::Vrrp { priority, .. } if priority != 0)
        })
        .map(Frame::time_s)
        .fold(None, |acc: Option<f64>, t| {
            Some(acc.map_or(t, |a| a.max(t)))
        });
    let reply = frames
        .iter()
        .find(|f| {
            f.time_s() >= t0
                && f.src_mac == *new_mac
                && f.ip.is_some_and(|(s, _)| s == vip)
                && matches!(f.payload, Payload::Echo { kind: 0, .. })
        })
        .map(Frame::time_s);
    let priority_zero = frames
        .iter()
        .find(|f| {
            f.time_s() >= t0
                && f.ip.is_some_and(|(s, _)| s == old_ip)
                && matches!(f.payload, Payload::Vrrp { priority: 0, .. })
        })
        .map(Frame::time_s);
    Trial {
        since_priority_zero: vip_t.zip(priority_zero).map(|(v, p)| v - p),
        since_last_advert: vip_t.zip(last_advert).map(|(v, l)| v - l),
        since_event: vip_t.map(|v| v - t0),
        vip_to_reply: reply.zip(vip_t).map(|(r, v)| r - v),
        since_last_advert_to_reply: reply.zip(last_advert).map(|(r, l)| r - l),
    }
}

fn conf(lab: &Lab, router: usize, case: &Case) -> String {
    ConfSpec {
        router_id: format!("r{router}"),
        priority: if router == 1 { 150 } else { 100 },
        master: router == 1,
        version: case.version,
        advert_int: case.advert,
        auth_pass: None,
        instances: vec![("eth0".into(), 51, format!("{}/24", lab.vip4()))],
        global_extra: String::new(),
    }
    .render()
}

/// `aa:bb:cc:dd:ee:ff` as bytes.
pub fn mac_bytes(s: &str) -> Option<[u8; 6]> {
    let v: Vec<u8> = s
        .split(':')
        .filter_map(|x| u8::from_str_radix(x, 16).ok())
        .collect();
    v.try_into().ok()
}

/// A little pseudo-random phase (no RNG crate needed for a jitter).
fn phase(advert: f64) -> f64 {
    let n = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    f64::from(n % 1000) / 1000.0 * advert
}

/// Runs one trial in `lab`.
pub fn trial(lab: &Lab, imp: &Implementation, case: &Case) -> Result<Trial> {
    let vip = lab.vip4();
    let vip_cidr = format!("{vip}/24");
    let vip_addr: Ipv4Addr = vip.parse().context("VIP")?;
    let old_ip: Ipv4Addr = lab.router_ip4(1)?.parse().context("router ip")?;
    let new_mac = mac_bytes(&lab.mac(2)?).context("router 2 MAC")?;
    let capture = lab.capture("ip proto 112 or arp or icmp")?;
    let monitor = lab.spawn(
        2,
        "monitor",
        &["env", "TZ=UTC", "ip", "-ts", "monitor", "address"],
    )?;
    let mut r1 = lab.start_daemon(1, &imp.bin, &conf(lab, 1, case))?;
    let mut r2 = lab.start_daemon(2, &imp.bin, &conf(lab, 2, case))?;
    let cleanup = |r1: &mut Proc, r2: &mut Proc| {
        let _ = r1.stop(Duration::from_secs(3));
        let _ = r2.stop(Duration::from_secs(3));
        for i in [1, 2] {
            if let Ok(ns) = lab.ns_name(i) {
                let _ = std::process::Command::new("ip")
                    .args(["-n", &ns, "addr", "del", &vip_cidr, "dev", "eth0"])
                    .stderr(std::process::Stdio::null())
                    .status();
            }
        }
    };
    if !wait_until(Duration::from_secs(20), || lab.has_address(1, &vip_cidr)) {
        let log = r1.log();
        cleanup(&mut r1, &mut r2);
        bail!("router 1 never became master ({}):\n{log}", imp.name);
    }
    let mut ping = lab.spawn(
        Node::Client,
        "ping",
        &["ping", "-n", "-q", "-i", "0.002", &vip],
    )?;
    // Over 1 s after the client resolved the VIP: a GARP within the client's ARP locktime
    // (1 s) would be ignored, and the figure would measure the client, not the routers.
    let settle = (2.0 * case.advert).max(2.0) + phase(case.advert);
    std::thread::sleep(Duration::from_secs_f64(settle));
    let t0 = now_s();
    match case.event {
        Event::Sigkill => r1.signal(Signal::SIGKILL)?,
        Event::Sigterm => r1.signal(Signal::SIGTERM)?,
        Event::LinkCut => lab.cut_link(1)?,
    }
    let took = wait_until(Duration::from_secs_f64(10.0 * case.advert + 5.0), || {
        lab.has_address(2, &vip_cidr)
    });
    std::thread::sleep(Duration::from_millis(500));
    let _ = ping.signal(Signal::SIGINT);
    let _ = ping.wait_exit(Duration::from_secs(2));
    let pcap = capture.stop()?;
    let mut monitor = monitor;
    let _ = monitor.stop(Duration::from_secs(1));
    if case.event == Event::LinkCut {
        lab.restore_link(1)?;
    }
    cleanup(&mut r1, &mut r2);
    if !took {
        bail!("router 2 did not take over ({})", imp.name);
    }
    let frames = pcap::read(&pcap)?;
    let _ = std::fs::remove_file(&pcap);
    let vip_t = vip_added_at(&monitor.log(), &vip, t0);
    Ok(analyse(&frames, old_ip, &new_mac, vip_addr, t0, vip_t))
}

fn ms(v: impl Iterator<Item = Option<f64>>) -> Vec<f64> {
    v.flatten().map(|s| (s * 1e6).round() / 1e3).collect()
}

fn run_cases(impls: &[Implementation], cases: &[Case], trials: usize) -> Result<Vec<Figure>> {
    let mut figures = Vec::new();
    for case in cases {
        for imp in impls {
            let lab = Lab::new(LabSpec::new(2))?;
            let mut results = Vec::new();
            for n in 0..trials {
                match trial(&lab, imp, case) {
                    Ok(t) => results.push(t),
                    Err(e) => eprintln!("  {} {} trial {}: {e:#}", imp.name, case.label(), n + 1),
                }
            }
            lab.down()?;
            let scenario = format!(
                "{} {}",
                if case.event == Event::Sigterm {
                    "handover"
                } else {
                    "failover"
                },
                case.label()
            );
            let floor = if case.event == Event::Sigterm {
                case.skew_s()
            } else {
                case.down_interval_s()
            } * 1e3;
            if case.event == Event::Sigterm {
                figures.push(
                    Figure::new(
                        &scenario,
                        "SIGTERM -> VIP (ms)",
                        &imp.name,
                        ms(results.iter().map(|t| t.since_event)),
                    )
                    .with_target(&format!("<= skew {floor:.1} + 2 ms")),
                );
                figures.push(
                    Figure::new(
                        &scenario,
                        "priority-0 advert -> VIP (ms)",
                        &imp.name,
                        ms(results.iter().map(|t| t.since_priority_zero)),
                    )
                    .with_target(&format!("floor {floor:.1}")),
                );
            } else {
                figures.push(
                    Figure::new(
                        &scenario,
                        "last advert -> VIP (ms)",
                        &imp.name,
                        ms(results.iter().map(|t| t.since_last_advert)),
                    )
                    .with_target(&format!("floor {floor:.1}")),
                );
                figures.push(
                    Figure::new(
                        &scenario,
                        "overshoot of down interval (ms)",
                        &imp.name,
                        ms(results
                            .iter()
                            .map(|t| t.since_last_advert.map(|s| s - floor / 1e3))),
                    )
                    .with_target("<= keepalived + 0.1"),
                );
                figures.push(Figure::new(
                    &scenario,
                    "last advert -> first reply (ms)",
                    &imp.name,
                    ms(results.iter().map(|t| t.since_last_advert_to_reply)),
                ));
            }
            figures.push(
                Figure::new(
                    &scenario,
                    "VIP -> first client reply (ms)",
                    &imp.name,
                    ms(results.iter().map(|t| t.vip_to_reply)),
                )
                .with_target("<= 5"),
            );
            super::print_table(&figures[figures.len().saturating_sub(4)..]);
        }
    }
    Ok(figures)
}

/// Failover figures: SIGKILL and link cut, v2 advert_int 1 and v3 advert_int 0.1.
pub fn failover(impls: &[Implementation], trials: usize) -> Result<Vec<Figure>> {
    let mut cases = Vec::new();
    for (version, advert) in [(3u8, 0.1), (2u8, 1.0)] {
        for event in [Event::Sigkill, Event::LinkCut] {
            cases.push(Case {
                version,
                advert,
                event,
            });
        }
    }
    run_cases(impls, &cases, trials)
}

/// SIGTERM handover figures, v3 0.1 s and v2 1 s.
pub fn handover(impls: &[Implementation], trials: usize) -> Result<Vec<Figure>> {
    let cases = [
        Case {
            version: 3,
            advert: 0.1,
            event: Event::Sigterm,
        },
        Case {
            version: 2,
            advert: 1.0,
            event: Event::Sigterm,
        },
    ];
    run_cases(impls, &cases, trials)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocol_floors() {
        let v3 = Case {
            version: 3,
            advert: 0.1,
            event: Event::Sigkill,
        };
        assert!((v3.down_interval_s() - 0.360_937_5).abs() < 1e-9);
        let v2 = Case {
            version: 2,
            advert: 1.0,
            event: Event::Sigkill,
        };
        assert!((v2.down_interval_s() - 3.609_375).abs() < 1e-9);
    }

    #[test]
    fn ip_monitor_timestamps() {
        let t = parse_ip_ts(
            "[2026-11-22T06:33:12.500000] 3: eth0 inet 10.200.1.100/24 scope global eth0",
        )
        .expect("parsed");
        // 2026-11-22 is day 20779 since the epoch.
        assert!((t - (20_779.0 * 86_400.0 + 6.0 * 3600.0 + 33.0 * 60.0 + 12.5)).abs() < 1e-6);
        let log = "[2026-11-22T06:33:12.500000] Deleted 3: eth0    inet 10.200.1.100/24\n\
                   [2026-11-22T06:33:13.250000] 3: eth0    inet 10.200.1.100/24 scope global eth0\n";
        let at = vip_added_at(log, "10.200.1.100", t).expect("added");
        assert!((at - t - 0.75).abs() < 1e-6);
        assert_eq!(vip_added_at(log, "10.200.1.101", 0.0), None);
    }

    #[test]
    fn a_trial_is_measured_from_the_last_advert() {
        let old = Ipv4Addr::new(10, 200, 1, 11);
        let vip = Ipv4Addr::new(10, 200, 1, 100);
        let new_mac = [2, 0, 0, 0, 0, 2];
        let advert = |t: f64, prio: u8| Frame {
            time_us: (t * 1e6) as i64,
            src_mac: [2, 0, 0, 0, 0, 1],
            ip: Some((old, Ipv4Addr::new(224, 0, 0, 18))),
            payload: Payload::Vrrp {
                ttl: 255,
                version: 3,
                vrid: 51,
                priority: prio,
            },
        };
        let reply = |t: f64, mac: [u8; 6]| Frame {
            time_us: (t * 1e6) as i64,
            src_mac: mac,
            ip: Some((vip, Ipv4Addr::new(10, 200, 1, 2))),
            payload: Payload::Echo { kind: 0, seq: 1 },
        };
        let frames = vec![
            advert(99.8, 150),
            advert(99.9, 150),
            reply(100.05, [2, 0, 0, 0, 0, 1]),
            reply(100.262, new_mac),
        ];
        let t = analyse(&frames, old, &new_mac, vip, 100.0, Some(100.261));
        assert!((t.since_last_advert.expect("x") - 0.361).abs() < 1e-6);
        assert!((t.vip_to_reply.expect("x") - 0.001).abs() < 1e-6);
        assert!((t.since_event.expect("x") - 0.261).abs() < 1e-6);
    }
}
