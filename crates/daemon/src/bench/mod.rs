//! `keepalived-rs bench`: lab scenarios run for keepalived-rs and for the stock keepalived in
//! the same run, printed as one table and written as JSON. Benchmarks, not tests: they print
//! figures and compare them with targets; they never fail a build.
//!
//! Every scenario builds its own namespace lab (`ka_lab`), so nothing runs in the root
//! namespace and everything is torn down when the scenario ends, also on error.

pub mod checks;
pub mod failover;
pub mod flood;
pub mod idle;
pub mod responder;
pub mod scripts;
pub mod status;

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// One implementation under test.
#[derive(Debug, Clone)]
pub struct Implementation {
    /// `keepalived-rs` or `keepalived`.
    pub name: String,
    /// The binary (both take keepalived's flags).
    pub bin: PathBuf,
}

/// One measured figure of one implementation: min/median/max over its trials.
#[derive(Debug, Clone)]
pub struct Figure {
    /// Scenario, e.g. `failover v3 0.1s sigkill`.
    pub scenario: String,
    /// What was measured, e.g. `last advert -> VIP (ms)`.
    pub metric: String,
    /// Which implementation.
    pub implementation: String,
    /// Every trial's value.
    pub samples: Vec<f64>,
    /// The target, in words, when there is one.
    pub target: Option<String>,
}

impl Figure {
    /// A figure from samples (unordered).
    pub fn new(scenario: &str, metric: &str, implementation: &str, samples: Vec<f64>) -> Self {
        Self {
            scenario: scenario.to_string(),
            metric: metric.to_string(),
            implementation: implementation.to_string(),
            samples,
            target: None,
        }
    }

    /// Adds the target's wording.
    pub fn with_target(mut self, target: &str) -> Self {
        self.target = Some(target.to_string());
        self
    }

    /// (min, median, max), or None without samples.
    pub fn summary(&self) -> Option<(f64, f64, f64)> {
        summary(&self.samples)
    }

    fn to_json(&self) -> Value {
        let s = self.summary();
        json!({
            "scenario": self.scenario,
            "metric": self.metric,
            "implementation": self.implementation,
            "samples": self.samples,
            "min": s.map(|x| x.0),
            "median": s.map(|x| x.1),
            "max": s.map(|x| x.2),
            "target": self.target,
        })
    }
}

/// (min, median, max) of `v`.
pub fn summary(v: &[f64]) -> Option<(f64, f64, f64)> {
    if v.is_empty() {
        return None;
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let mid = s.len() / 2;
    let median = if s.len() % 2 == 1 {
        s[mid]
    } else {
        (s[mid - 1] + s[mid]) / 2.0
    };
    Some((s[0], median, s[s.len() - 1]))
}

/// Advert deviation p50 / p99 (target < 1 ms) / max of one run, as the timing scenarios report it.
pub fn deviation_figures(scenario: &str, name: &str, dev: &[f64]) -> Vec<Figure> {
    [("p50", 0.5), ("p99", 0.99), ("max", 1.0)]
        .into_iter()
        .map(|(label, q)| {
            let v = quantile(dev, q).map(|x| vec![x]).unwrap_or_default();
            let fig = Figure::new(scenario, &format!("advert deviation {label} ms"), name, v);
            if label == "p99" {
                fig.with_target("< 1 ms")
            } else {
                fig
            }
        })
        .collect()
}

/// The `q` quantile (0..=1) of `v`, nearest rank.
pub fn quantile(v: &[f64], q: f64) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let rank = ((q * s.len() as f64).ceil() as usize).clamp(1, s.len());
    Some(s[rank - 1])
}

/// A VRRP configuration for one lab router, in keepalived syntax both implementations read.
#[derive(Debug, Clone)]
pub struct ConfSpec {
    /// `router_id`.
    pub router_id: String,
    /// Priority of every instance.
    pub priority: u8,
    /// `state MASTER` (else BACKUP).
    pub master: bool,
    /// VRRP version (2 or 3).
    pub version: u8,
    /// `advert_int` in seconds.
    pub advert_int: f64,
    /// `authentication { auth_type PASS ... }` (v2 only).
    pub auth_pass: Option<String>,
    /// Instances: (interface, VRID, VIP with prefix).
    pub instances: Vec<(String, u8, String)>,
    /// Extra `global_defs` lines.
    pub global_extra: String,
}

impl ConfSpec {
    /// keepalived.conf text.
    pub fn render(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "global_defs {{\n    router_id {}", self.router_id);
        s.push_str(&self.global_extra);
        s.push_str("}\n");
        for (n, (ifname, vrid, vip)) in self.instances.iter().enumerate() {
            let _ = writeln!(s, "vrrp_instance VI_{} {{", n + 1);
            let _ = writeln!(
                s,
                "    state {}",
                if self.master { "MASTER" } else { "BACKUP" }
            );
            let _ = writeln!(s, "    interface {ifname}");
            let _ = writeln!(s, "    virtual_router_id {vrid}");
            let _ = writeln!(s, "    priority {}", self.priority);
            let _ = writeln!(s, "    version {}", self.version);
            let _ = writeln!(s, "    advert_int {}", self.advert_int);
            if let Some(p) = &self.auth_pass {
                let _ = writeln!(
                    s,
                    "    authentication {{\n        auth_type PASS\n        auth_pass {p}\n    }}"
                );
            }
            let _ = writeln!(
                s,
                "    virtual_ipaddress {{\n        {vip} dev {ifname}\n    }}\n}}"
            );
        }
        s
    }
}

/// Options of `keepalived-rs bench`.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// Which scenarios: failover, handover, idle, flood, scripts, status, rate, checks (all when empty).
    pub only: Vec<String>,
    /// Failover trials per case.
    pub trials: usize,
    /// Idle sampling window.
    pub idle_window: Duration,
    /// Instance counts for the idle scenario.
    pub idle_sizes: Vec<usize>,
    /// Rate scenario duration.
    pub rate_window: Duration,
    /// Sampling window of the script-load scenario.
    pub scripts_window: Duration,
    /// Checker scenario: TCP_CHECKs, HTTP_GETs, window.
    pub checks: (usize, usize, Duration),
    /// JSON output path.
    pub json: Option<PathBuf>,
    /// keepalived-rs binary (default: this executable).
    pub ours: PathBuf,
    /// keepalived binary.
    pub keepalived: PathBuf,
}

fn wants(opts: &BenchOptions, name: &str) -> bool {
    opts.only.is_empty() || opts.only.iter().any(|o| o == name)
}

/// Checks the machine can run labs: root, `ip`, tcpdump, ping.
pub fn preflight(tools: &[&str]) -> Result<()> {
    if !nix::unistd::geteuid().is_root() {
        bail!("this needs root: it builds network namespaces (run it with sudo)");
    }
    for t in tools {
        let found = std::env::var("PATH")
            .unwrap_or_else(|_| "/usr/sbin:/usr/bin:/sbin:/bin".into())
            .split(':')
            .any(|d| Path::new(d).join(t).is_file());
        if !found {
            bail!(
                "`{t}` is missing: install it (Debian: ./scripts/test-all.sh installs every tool)"
            );
        }
    }
    Ok(())
}

/// Runs the selected scenarios and prints the table; writes JSON when asked.
pub fn run(opts: &BenchOptions) -> Result<()> {
    preflight(&["ip", "tcpdump", "ping"])?;
    if !opts.keepalived.is_file() {
        bail!(
            "{} is missing: install keepalived (apt-get install keepalived) to compare",
            opts.keepalived.display()
        );
    }
    let impls = vec![
        Implementation {
            name: "keepalived-rs".into(),
            bin: opts.ours.clone(),
        },
        Implementation {
            name: "keepalived".into(),
            bin: opts.keepalived.clone(),
        },
    ];
    let started = chrono_like_now();
    let mut figures: Vec<Figure> = Vec::new();
    let mut notes: Vec<String> = Vec::new();
    let mut step = |name: &str, r: Result<Vec<Figure>>, figures: &mut Vec<Figure>| match r {
        Ok(f) => {
            print_table(&f);
            figures.extend(f);
        }
        Err(e) => {
            eprintln!("bench {name}: {e:#}");
            notes.push(format!("{name}: {e:#}"));
        }
    };
    if wants(opts, "failover") {
        step(
            "failover",
            failover::failover(&impls, opts.trials),
            &mut figures,
        );
    }
    if wants(opts, "handover") {
        step(
            "handover",
            failover::handover(&impls, opts.trials),
            &mut figures,
        );
    }
    if wants(opts, "idle") {
        step(
            "idle",
            idle::idle(&impls, &opts.idle_sizes, opts.idle_window),
            &mut figures,
        );
    }
    if wants(opts, "flood") {
        step("flood", flood::flood(&impls), &mut figures);
    }
    if wants(opts, "scripts") {
        step(
            "scripts",
            scripts::scripts(&impls, opts.scripts_window),
            &mut figures,
        );
    }
    if wants(opts, "rate") {
        step("rate", idle::rate(&impls, opts.rate_window), &mut figures);
    }
    if wants(opts, "status") {
        step(
            "status",
            status::status(&impls, opts.scripts_window),
            &mut figures,
        );
    }
    if wants(opts, "checks") {
        let (tcp, http, window) = opts.checks;
        step(
            "checks",
            checks::checks(&impls, tcp, http, window),
            &mut figures,
        );
    }
    println!("\n== all figures ==");
    print_table(&figures);
    if let Some(path) = &opts.json {
        let doc = json!({
            "started": started,
            "machine": machine(),
            "figures": figures.iter().map(Figure::to_json).collect::<Vec<_>>(),
            "errors": notes,
        });
        std::fs::write(path, serde_json::to_string_pretty(&doc)?)
            .with_context(|| format!("writing {}", path.display()))?;
        println!("JSON: {}", path.display());
    }
    Ok(())
}

/// Seconds since the epoch, as a string (no date crate needed for a label).
fn chrono_like_now() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    format!("{}", now.as_secs())
}

/// What the figures were measured on.
fn machine() -> Value {
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    json!({ "cpus": cpus, "kernel": kernel.trim(), "cpu_model": model })
}

/// Prints figures as an aligned table.
pub fn print_table(figures: &[Figure]) {
    let fmt = |x: f64| {
        if x.abs() >= 100.0 {
            format!("{x:.1}")
        } else {
            format!("{x:.3}")
        }
    };
    println!(
        "{:<34} {:<34} {:<14} {:>10} {:>10} {:>10} {:>3}  target",
        "scenario", "metric", "impl", "min", "median", "max", "n"
    );
    for f in figures {
        let (a, b, c) = f
            .summary()
            .map_or(("-".into(), "-".into(), "-".into()), |(a, b, c)| {
                (fmt(a), fmt(b), fmt(c))
            });
        println!(
            "{:<34} {:<34} {:<14} {:>10} {:>10} {:>10} {:>3}  {}",
            f.scenario,
            f.metric,
            f.implementation,
            a,
            b,
            c,
            f.samples.len(),
            f.target.as_deref().unwrap_or("")
        );
    }
}

/// CPU time (ns, every thread) and RSS (KiB) of a process and its children.
#[derive(Debug, Clone, Copy, Default)]
pub struct Usage {
    /// Sum of /proc/PID/task/*/schedstat run times.
    pub cpu_ns: u64,
    /// Sum of VmRSS.
    pub rss_kib: u64,
}

/// The process and every descendant of `pid` (keepalived runs a parent and a VRRP child).
pub fn process_tree(pid: u32) -> Vec<u32> {
    let mut out = vec![pid];
    let mut i = 0;
    while i < out.len() {
        let p = out[i];
        if let Ok(entries) = std::fs::read_dir(format!("/proc/{p}/task")) {
            for t in entries.flatten() {
                let children =
                    std::fs::read_to_string(t.path().join("children")).unwrap_or_default();
                for c in children
                    .split_whitespace()
                    .filter_map(|c| c.parse::<u32>().ok())
                {
                    if !out.contains(&c) {
                        out.push(c);
                    }
                }
            }
        }
        i += 1;
    }
    out
}

/// CPU and RSS of `pids` now.
pub fn usage(pids: &[u32]) -> Usage {
    let mut u = Usage::default();
    for pid in pids {
        if let Ok(entries) = std::fs::read_dir(format!("/proc/{pid}/task")) {
            for t in entries.flatten() {
                let s = std::fs::read_to_string(t.path().join("schedstat")).unwrap_or_default();
                u.cpu_ns += s
                    .split_whitespace()
                    .next()
                    .and_then(|x| x.parse::<u64>().ok())
                    .unwrap_or(0);
            }
        }
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        u.rss_kib += status
            .lines()
            .find(|l| l.starts_with("VmRSS:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|x| x.parse::<u64>().ok())
            .unwrap_or(0);
    }
    u
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries_and_quantiles() {
        assert_eq!(summary(&[3.0, 1.0, 2.0]), Some((1.0, 2.0, 3.0)));
        assert_eq!(summary(&[4.0, 1.0, 2.0, 3.0]), Some((1.0, 2.5, 4.0)));
        assert_eq!(summary(&[]), None);
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(quantile(&v, 0.99), Some(99.0));
        assert_eq!(quantile(&v, 0.5), Some(50.0));
    }

    #[test]
    fn configs_render_for_both_implementations() {
        let c = ConfSpec {
            router_id: "r1".into(),
            priority: 150,
            master: true,
            version: 2,
            advert_int: 1.0,
            auth_pass: Some("secret".into()),
            instances: vec![("eth0".into(), 51, "10.200.1.100/24".into())],
            global_extra: String::new(),
        }
        .render();
        assert!(c.contains("virtual_router_id 51"));
        assert!(c.contains("auth_pass secret"));
        assert!(c.contains("10.200.1.100/24 dev eth0"));
    }
}

/// The command line of `keepalived-rs bench`.
#[derive(Debug, clap::Parser)]
#[command(
    name = "keepalived-rs bench",
    about = "Lab benchmarks of keepalived-rs against keepalived, in the same run (root)"
)]
pub struct BenchCli {
    /// Scenarios to run (failover, handover, idle, flood, scripts, status, rate, checks); all by default.
    #[arg(long = "only", value_delimiter = ',')]
    pub only: Vec<String>,
    /// Trials per failover / handover case.
    #[arg(long, default_value_t = 5)]
    pub trials: usize,
    /// Idle sampling window, seconds.
    #[arg(long, default_value_t = 30.0)]
    pub idle_window: f64,
    /// Instance counts of the idle scenario.
    #[arg(long, value_delimiter = ',', default_value = "1,200,1000")]
    pub idle_sizes: Vec<usize>,
    /// Rate scenario duration, seconds.
    #[arg(long, default_value_t = 60.0)]
    pub rate_window: f64,
    /// Script-load scenario sampling window, seconds.
    #[arg(long, default_value_t = 20.0)]
    pub scripts_window: f64,
    /// Checker scenario: TCP_CHECKs at delay_loop 1.
    #[arg(long, default_value_t = 10_000)]
    pub checks_tcp: usize,
    /// Checker scenario: HTTP_GETs at delay_loop 1.
    #[arg(long, default_value_t = 2_000)]
    pub checks_http: usize,
    /// Checker scenario sampling window, seconds.
    #[arg(long, default_value_t = 20.0)]
    pub checks_window: f64,
    /// Write every figure as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// The keepalived to compare with.
    #[arg(long, default_value = "/usr/sbin/keepalived")]
    pub keepalived: PathBuf,
    /// keepalived-rs binary to measure (default: this one).
    #[arg(long)]
    pub ours: Option<PathBuf>,
}

/// Entry point of `keepalived-rs bench ARGS`.
pub fn main(args: &[String]) -> Result<std::process::ExitCode> {
    use clap::Parser;
    let cli = BenchCli::parse_from(args);
    let ours = match cli.ours {
        Some(p) => p,
        None => std::env::current_exe().context("finding this executable")?,
    };
    let opts = BenchOptions {
        only: cli.only,
        trials: cli.trials.max(1),
        idle_window: Duration::from_secs_f64(cli.idle_window.max(1.0)),
        idle_sizes: cli.idle_sizes,
        rate_window: Duration::from_secs_f64(cli.rate_window.max(1.0)),
        scripts_window: Duration::from_secs_f64(cli.scripts_window.max(1.0)),
        checks: (
            cli.checks_tcp,
            cli.checks_http,
            Duration::from_secs_f64(cli.checks_window.max(1.0)),
        ),
        json: cli.json,
        ours,
        keepalived: cli.keepalived,
    };
    run(&opts)?;
    Ok(std::process::ExitCode::SUCCESS)
}
