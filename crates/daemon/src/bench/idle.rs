//! Idle cost (CPU over every thread and RSS with 1, 200 and 1,000 instances) and the rate
//! scenario (255 instances at 0.01 s between two nodes).
//!
//! Both use a two-router lab: router 1 MASTER (priority 150), router 2 BACKUP (100), every
//! instance VRRPv3 with one VIP. CPU is the run time of every thread of every process of the
//! daemon (`/proc/PID/task/*/schedstat`, summed over the process tree: keepalived runs a parent
//! and a VRRP child), as `../shared/harness/measure-idle.sh` measures it.
//!
//! VRIDs are 1..=255 per interface, so more than 250 instances are spread over extra LAN
//! segments. The kernel here has no 802.1Q (`CONFIG_VLAN_8021Q` is not set, `type vlan` fails
//! with "Unknown device type"), so a segment is built like the lab's own LAN, inside the lab's
//! namespaces only: a bridge `br<n>` in the bridge namespace and, per router, a veth `vl<n>`
//! whose peer `s<n>p<r>` is created straight in the bridge namespace and enslaved to `br<n>`.
//! Each segment is its own broadcast domain, so VRID 1 on `vl1` never meets VRID 1 on eth0.
//!
//! ```text
//!  interface n   name   bridge   own address             VIPs (one per instance, /32)
//!  0             eth0   br0      10.200.S.(10+r)/24      10.220.S.1 ..= 10.220.S.250
//!  1             vl1    br1      10.202.S.(10+r)/24      10.221.S.1 ..= 10.221.S.250
//!  n             vl<n>  br<n>    10.(201+n).S.(10+r)/24  10.(220+n).S.1 ..
//! ```

use super::{process_tree, usage, ConfSpec, Figure, Implementation, Usage};
use anyhow::{bail, Context, Result};
use ka_lab::{Lab, LabSpec, Node, Proc};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Instances per interface in the idle scenario (VRIDs 1..=250).
const PER_IFACE: usize = 250;
/// Most interfaces a layout may use (segment subnets 10.202 ..= 10.219, VIPs up to 10.238).
const MAX_IFACES: usize = 19;
/// After all VIPs are up: keepalived's delayed gratuitous ARPs (5 s) are over.
const SETTLE: Duration = Duration::from_secs(7);

/// Where one instance lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    /// Interface index: 0 = eth0, n = `vl<n>`.
    pub iface: usize,
    /// VRID on that interface.
    pub vrid: u8,
}

impl Slot {
    /// The interface name.
    pub fn ifname(&self) -> String {
        iface_name(self.iface)
    }

    /// The instance's VIP (with `/32`) in a lab of third octet `subnet`.
    pub fn vip(&self, subnet: u8) -> String {
        format!("10.{}.{subnet}.{}/32", 220 + self.iface, self.vrid)
    }
}

/// `eth0` for interface 0, `vl<n>` otherwise.
fn iface_name(n: usize) -> String {
    if n == 0 {
        "eth0".into()
    } else {
        format!("vl{n}")
    }
}

/// `k` instances, `per_iface` per interface (VRIDs 1..=per_iface on each), eth0 first.
pub fn layout(k: usize, per_iface: usize) -> Result<Vec<Slot>> {
    if per_iface == 0 || per_iface > 255 {
        bail!("instances per interface must be 1..=255, not {per_iface}");
    }
    if k == 0 || k > per_iface * MAX_IFACES {
        bail!(
            "instance count must be 1..={}, not {k}",
            per_iface * MAX_IFACES
        );
    }
    (0..k)
        .map(|i| {
            let vrid = u8::try_from(i % per_iface + 1).context("VRID")?;
            Ok(Slot {
                iface: i / per_iface,
                vrid,
            })
        })
        .collect()
}

/// The extra segments (`vl1 ..`) the layout needs: (segment n, interface name, address of
/// router `r`).
pub fn segments(slots: &[Slot], subnet: u8, router: usize) -> Vec<(usize, String, String)> {
    let n = slots.iter().map(|s| s.iface).max().unwrap_or(0);
    (1..=n)
        .map(|i| {
            (
                i,
                iface_name(i),
                format!("10.{}.{subnet}.{}/24", 201 + i, 10 + router),
            )
        })
        .collect()
}

/// `ip -n NS ARGS...` in a lab namespace; must succeed.
fn ip_ns(ns: &str, args: &[&str]) -> Result<()> {
    let out = Command::new("ip")
        .arg("-n")
        .arg(ns)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running ip -n {ns} {}", args.join(" ")))?;
    if !out.status.success() {
        bail!(
            "`ip -n {ns} {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// Creates the layout's extra segments for routers 1 and 2 (everything inside the lab's
/// namespaces: bridges in the bridge namespace, veth ends in the routers).
fn add_segments(lab: &Lab, slots: &[Slot]) -> Result<()> {
    let subnet = lab.spec().subnet;
    let br = lab.ns_name(Node::Bridge)?;
    for (n, _, _) in segments(slots, subnet, 1) {
        let bridge = format!("br{n}");
        ip_ns(
            &br,
            &[
                "link",
                "add",
                &bridge,
                "type",
                "bridge",
                "stp_state",
                "0",
                "forward_delay",
                "0",
                "mcast_snooping",
                "0",
            ],
        )?;
        ip_ns(&br, &["link", "set", &bridge, "up"])?;
    }
    for r in 1..=2 {
        let ns = lab.ns_name(r)?;
        for (n, name, addr) in segments(slots, subnet, r) {
            let port = format!("s{n}p{r}");
            ip_ns(
                &ns,
                &[
                    "link", "add", &name, "type", "veth", "peer", "name", &port, "netns", &br,
                ],
            )?;
            ip_ns(&br, &["link", "set", &port, "master", &format!("br{n}")])?;
            ip_ns(&br, &["link", "set", &port, "up"])?;
            ip_ns(&ns, &["addr", "add", &addr, "dev", &name])?;
            ip_ns(&ns, &["link", "set", &name, "up"])?;
        }
    }
    Ok(())
}

/// Packets router `r` has sent on all its interfaces but `lo` (at idle: its adverts).
fn tx_packets(lab: &Lab, r: usize) -> Result<u64> {
    let ns = lab.ns_name(r)?;
    let out = Command::new("ip")
        .args(["-n", &ns, "-j", "-s", "link", "show"])
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("ip -n {ns} -s link"))?;
    let v: serde_json::Value =
        serde_json::from_slice(&out.stdout).with_context(|| format!("ip -s link in {ns}"))?;
    Ok(v.as_array()
        .into_iter()
        .flatten()
        .filter(|l| l.get("ifname").and_then(|n| n.as_str()) != Some("lo"))
        .filter_map(|l| l.pointer("/stats64/tx/packets").and_then(|p| p.as_u64()))
        .sum())
}

/// The configuration of router `router` (1 = MASTER 150, 2 = BACKUP 100) for `slots`.
fn conf(subnet: u8, router: usize, slots: &[Slot], advert_int: f64) -> String {
    ConfSpec {
        router_id: format!("r{router}"),
        priority: if router == 1 { 150 } else { 100 },
        master: router == 1,
        version: 3,
        advert_int,
        auth_pass: None,
        instances: slots
            .iter()
            .map(|s| (s.ifname(), s.vrid, s.vip(subnet)))
            .collect(),
        global_extra: String::new(),
    }
    .render()
}

/// How many VIPs (the /32 addresses) router `r` holds.
fn vips_on(lab: &Lab, r: usize) -> usize {
    lab.addresses(r)
        .map(|a| a.iter().filter(|a| a.ends_with("/32")).count())
        .unwrap_or(0)
}

/// Waits (polling every 0.5 s) until router 1 holds `k` VIPs; returns how many it held last.
fn wait_vips(lab: &Lab, k: usize, timeout: Duration) -> usize {
    let deadline = Instant::now() + timeout;
    loop {
        let n = vips_on(lab, 1);
        if n >= k || Instant::now() >= deadline {
            return n;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Microseconds since the epoch now (the capture's clock).
pub(crate) fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Bytes a process has written to its log so far.
pub(crate) fn log_len(p: &Proc) -> usize {
    std::fs::metadata(p.log_path())
        .map(|m| usize::try_from(m.len()).unwrap_or(usize::MAX))
        .unwrap_or(0)
}

/// What a process wrote to its log after byte `offset`.
pub(crate) fn log_since(p: &Proc, offset: usize) -> String {
    let bytes = std::fs::read(p.log_path()).unwrap_or_default();
    String::from_utf8_lossy(bytes.get(offset..).unwrap_or(&[])).into_owned()
}

/// Lines of `text` containing `needle`.
pub(crate) fn count_lines_with(text: &str, needle: &str) -> usize {
    text.lines().filter(|l| l.contains(needle)).count()
}

/// CPU between two samples in % of one core.
pub fn cpu_percent(a: Usage, b: Usage, elapsed: Duration) -> f64 {
    let secs = elapsed.as_secs_f64();
    if secs <= 0.0 {
        return 0.0;
    }
    b.cpu_ns.saturating_sub(a.cpu_ns) as f64 / 1e9 / secs * 100.0
}

/// PSS (KiB, `/proc/PID/smaps_rollup`) summed over `pids`: the fair share of pages, which
/// does not count keepalived's parent and child twice for the pages they share.
fn pss_kib(pids: &[u32]) -> u64 {
    pids.iter()
        .filter_map(|p| std::fs::read_to_string(format!("/proc/{p}/smaps_rollup")).ok())
        .filter_map(|s| {
            s.lines()
                .find(|l| l.starts_with("Pss:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|x| x.parse::<u64>().ok())
        })
        .sum()
}

/// Both daemons' usage now (each over its whole process tree).
fn sample(r1: &Proc, r2: &Proc) -> (Usage, Usage) {
    (
        usage(&process_tree(r1.pid())),
        usage(&process_tree(r2.pid())),
    )
}

/// A running two-router lab with both daemons up and router 1 holding every VIP.
struct Pair {
    lab: Lab,
    r1: Proc,
    r2: Proc,
}

impl Pair {
    /// Builds the lab and its extra segments, starts both daemons and waits for router 1's VIPs.
    fn start(imp: &Implementation, slots: &[Slot], advert_int: f64) -> Result<Pair> {
        let lab = Lab::new(LabSpec::new(2))?;
        add_segments(&lab, slots)?;
        let subnet = lab.spec().subnet;
        let r1 = lab.start_daemon(1, &imp.bin, &conf(subnet, 1, slots, advert_int))?;
        let r2 = lab.start_daemon(2, &imp.bin, &conf(subnet, 2, slots, advert_int))?;
        let k = slots.len();
        let timeout = Duration::from_secs_f64((0.12 * k as f64).max(30.0));
        let started = Instant::now();
        let held = wait_vips(&lab, k, timeout);
        let mut pair = Pair { lab, r1, r2 };
        if held < k {
            let tail = tail(&pair.r1.log(), 15);
            let running = pair.r1.is_running();
            pair.stop();
            bail!(
                "{}: router 1 holds {held} of {k} VIPs after {:.0} s (running: {running}); its log ends:\n{tail}",
                imp.name,
                timeout.as_secs_f64()
            );
        }
        eprintln!(
            "  {} K={k}: all VIPs on router 1 after {:.1} s",
            imp.name,
            started.elapsed().as_secs_f64()
        );
        Ok(pair)
    }

    /// Stops both daemons (SIGTERM, SIGKILL after 5 s).
    fn stop(&mut self) {
        let _ = self.r1.stop(Duration::from_secs(5));
        let _ = self.r2.stop(Duration::from_secs(5));
    }

    /// Stops the daemons and tears the lab down.
    fn down(mut self) -> Result<()> {
        self.stop();
        self.lab.down()
    }
}

/// The last `n` lines of `s`.
fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Idle CPU and RSS, master and backup, for each size.
pub fn idle(impls: &[Implementation], sizes: &[usize], window: Duration) -> Result<Vec<Figure>> {
    let mut figures = Vec::new();
    let mut errors = Vec::new();
    for &k in sizes {
        for imp in impls {
            match idle_one(imp, k, window) {
                Ok(f) => {
                    super::print_table(&f);
                    figures.extend(f);
                }
                Err(e) => {
                    eprintln!("  idle K={k} {}: {e:#}", imp.name);
                    errors.push(format!("K={k} {}: {e:#}", imp.name));
                }
            }
        }
    }
    if figures.is_empty() && !errors.is_empty() {
        bail!("{}", errors.join("; "));
    }
    Ok(figures)
}

/// One implementation at one size.
fn idle_one(imp: &Implementation, k: usize, window: Duration) -> Result<Vec<Figure>> {
    let slots = layout(k, PER_IFACE)?;
    let mut pair = Pair::start(imp, &slots, 1.0)?;
    std::thread::sleep(SETTLE);
    let tx0 = tx_packets(&pair.lab, 1)?;
    let (a1, a2) = sample(&pair.r1, &pair.r2);
    let t0 = Instant::now();
    std::thread::sleep(window);
    let (b1, b2) = sample(&pair.r1, &pair.r2);
    let elapsed = t0.elapsed();
    let pss = (
        pss_kib(&process_tree(pair.r1.pid())),
        pss_kib(&process_tree(pair.r2.pid())),
    );
    let adverts = tx_packets(&pair.lab, 1)?.saturating_sub(tx0);
    let held = vips_on(&pair.lab, 1);
    let running = (pair.r1.is_running(), pair.r2.is_running());
    pair.down()?;
    if held < k || running != (true, true) {
        eprintln!(
            "  {} K={k}: at the end router 1 held {held} of {k} VIPs; running {running:?}",
            imp.name
        );
    }
    let name = imp.name.as_str();
    let mut f = Vec::new();
    for (role, a, b, pss) in [("master", a1, b1, pss.0), ("backup", a2, b2, pss.1)] {
        let scenario = format!("idle K={k} {role}");
        f.push(
            Figure::new(
                &scenario,
                "CPU % of one core",
                name,
                vec![cpu_percent(a, b, elapsed)],
            )
            .with_target("under keepalived's"),
        );
        let rss = Figure::new(&scenario, "RSS MiB", name, vec![b.rss_kib as f64 / 1024.0]);
        f.push(if k >= 1000 {
            rss.with_target("under 10 MB")
        } else {
            rss
        });
        f.push(Figure::new(
            &scenario,
            "PSS MiB",
            name,
            vec![pss as f64 / 1024.0],
        ));
        if role == "master" {
            f.push(
                Figure::new(
                    &scenario,
                    "adverts/s sent (tx packets)",
                    name,
                    vec![adverts as f64 / elapsed.as_secs_f64().max(1e-9)],
                )
                .with_target(&format!("{k}")),
            );
        }
    }
    Ok(f)
}

/// 255 instances at advert_int 0.01 s between two nodes.
pub fn rate(impls: &[Implementation], window: Duration) -> Result<Vec<Figure>> {
    let mut figures = Vec::new();
    let mut errors = Vec::new();
    for imp in impls {
        match rate_one(imp, window) {
            Ok(f) => {
                super::print_table(&f);
                figures.extend(f);
            }
            Err(e) => {
                eprintln!("  rate {}: {e:#}", imp.name);
                errors.push(format!("{}: {e:#}", imp.name));
            }
        }
    }
    if figures.is_empty() && !errors.is_empty() {
        bail!("{}", errors.join("; "));
    }
    Ok(figures)
}

/// One implementation in the rate scenario.
fn rate_one(imp: &Implementation, window: Duration) -> Result<Vec<Figure>> {
    const K: usize = 255;
    let slots = layout(K, 255)?;
    let mut pair = Pair::start(imp, &slots, 0.01)?;
    std::thread::sleep(Duration::from_secs(5));
    let (o1, o2) = (log_len(&pair.r1), log_len(&pair.r2));
    let tx0 = tx_packets(&pair.lab, 1)?;
    let (a1, a2) = sample(&pair.r1, &pair.r2);
    let t0 = Instant::now();
    std::thread::sleep(window);
    let (b1, b2) = sample(&pair.r1, &pair.r2);
    let elapsed = t0.elapsed();
    let sent = tx_packets(&pair.lab, 1)?.saturating_sub(tx0);
    let s1 = count_lines_with(&log_since(&pair.r1, o1), "Entering");
    let s2 = count_lines_with(&log_since(&pair.r2, o2), "Entering");
    let held = vips_on(&pair.lab, 1);
    let on_backup = vips_on(&pair.lab, 2);
    let running = (pair.r1.is_running(), pair.r2.is_running());
    pair.down()?;
    eprintln!(
        "  {} rate: transitions master {s1} backup {s2}; VIPs at end: router 1 {held}, router 2 {on_backup}; running {running:?}",
        imp.name
    );
    let scenario = format!("rate {K}x0.01s");
    let name = imp.name.as_str();
    Ok(vec![
        Figure::new(
            &scenario,
            "spurious transitions",
            name,
            vec![(s1 + s2) as f64],
        )
        .with_target("0"),
        Figure::new(
            &scenario,
            "CPU % master",
            name,
            vec![cpu_percent(a1, b1, elapsed)],
        ),
        Figure::new(
            &scenario,
            "CPU % backup",
            name,
            vec![cpu_percent(a2, b2, elapsed)],
        ),
        Figure::new(
            &scenario,
            "adverts/s sent by master",
            name,
            vec![sent as f64 / elapsed.as_secs_f64().max(1e-9)],
        )
        .with_target(&format!("{}", K * 100)),
        Figure::new(&scenario, "VIPs on master at end", name, vec![held as f64])
            .with_target(&format!("{K}")),
    ])
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn instances_are_spread_250_per_interface() {
        let s = layout(1000, PER_IFACE).unwrap();
        assert_eq!(s.len(), 1000);
        assert_eq!(s[0], Slot { iface: 0, vrid: 1 });
        assert_eq!(
            s[249],
            Slot {
                iface: 0,
                vrid: 250
            }
        );
        assert_eq!(s[250], Slot { iface: 1, vrid: 1 });
        assert_eq!(
            s[999],
            Slot {
                iface: 3,
                vrid: 250
            }
        );
        assert_eq!(s[999].ifname(), "vl3");
        assert_eq!(s[999].vip(7), "10.223.7.250/32");
        let mut vips: Vec<String> = s.iter().map(|x| x.vip(7)).collect();
        vips.sort();
        vips.dedup();
        assert_eq!(vips.len(), 1000);
        let v = segments(&s, 7, 2);
        assert_eq!(
            v,
            vec![
                (1, "vl1".to_string(), "10.202.7.12/24".to_string()),
                (2, "vl2".to_string(), "10.203.7.12/24".to_string()),
                (3, "vl3".to_string(), "10.204.7.12/24".to_string()),
            ]
        );
        // Small sizes stay on eth0 with no extra segment.
        assert!(segments(&layout(200, PER_IFACE).unwrap(), 7, 1).is_empty());
        let r = layout(255, 255).unwrap();
        assert_eq!(
            r[254],
            Slot {
                iface: 0,
                vrid: 255
            }
        );
        assert!(layout(0, PER_IFACE).is_err());
        assert!(layout(PER_IFACE * MAX_IFACES + 1, PER_IFACE).is_err());
        // The highest layout stays inside 10.x with no overlap of segment subnets and VIPs.
        let top = layout(PER_IFACE * MAX_IFACES, PER_IFACE).unwrap();
        assert_eq!(top.last().unwrap().vip(1), "10.238.1.250/32");
        assert_eq!(segments(&top, 1, 1).last().unwrap().2, "10.219.1.11/24");
    }

    #[test]
    fn configs_carry_every_instance() {
        let s = layout(300, PER_IFACE).unwrap();
        let c = conf(9, 2, &s, 1.0);
        assert_eq!(c.matches("vrrp_instance").count(), 300);
        assert!(c.contains("state BACKUP"));
        assert!(c.contains("priority 100"));
        assert!(c.contains("10.221.9.50/32 dev vl1"));
        assert!(c.contains("version 3"));
    }

    #[test]
    fn cpu_percent_of_one_core() {
        let a = Usage {
            cpu_ns: 1_000_000_000,
            rss_kib: 0,
        };
        let b = Usage {
            cpu_ns: 1_500_000_000,
            rss_kib: 0,
        };
        assert!((cpu_percent(a, b, Duration::from_secs(10)) - 5.0).abs() < 1e-9);
        assert_eq!(cpu_percent(b, a, Duration::from_secs(10)), 0.0);
        assert_eq!(
            count_lines_with("a Entering\nb\nEntering c\n", "Entering"),
            2
        );
        assert_eq!(tail("1\n2\n3", 2), "2\n3");
    }
}
