//! The checkers that exist so far, each on its own thread: TCP_CHECK (a connect within
//! `connect_timeout`) and MISC_CHECK (a script's exit code, `misc_dynamic` weights). The
//! verdict rules are `ka_check::Schedule`'s; results go to the LVS thread as messages, tagged
//! with a generation so a reload can retire the old threads without waiting for them.
//!
//! Interim: the checker issue replaces the thread-per-checker with one event loop and adds
//! HTTP_GET, SSL_GET, SMTP_CHECK, DNS_CHECK, UDP_CHECK, PING_CHECK and FILE_CHECK.

use crate::logging::log_lvs;
use crate::scripts::{Launch, ScriptPolicy};
use ka_check::{Schedule, Timing};
use ka_config::model::lvs::{Checker, CheckerKind};
use ka_lvs::model::VsModel;
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What a checker thread reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckReport {
    /// The verdict changed.
    Verdict {
        /// Generation of the thread (reload bumps it).
        generation: u64,
        /// Virtual server index.
        vs: usize,
        /// Real server index.
        rs: usize,
        /// Checker index.
        checker: usize,
        /// Up or down.
        up: bool,
    },
    /// A dynamic weight contribution changed.
    Weight {
        /// Generation of the thread.
        generation: u64,
        /// Virtual server index.
        vs: usize,
        /// Real server index.
        rs: usize,
        /// Checker index.
        checker: usize,
        /// Contribution to the real server's weight.
        delta: i64,
    },
}

/// How one attempt is made.
enum Probe {
    Tcp {
        target: SocketAddr,
        timeout: Duration,
    },
    Misc {
        launch: Launch,
        command: String,
        timeout: Duration,
        dynamic: bool,
        weight: i32,
    },
}

/// Everything one checker thread needs.
struct Task {
    generation: u64,
    current: Arc<AtomicU64>,
    vs: usize,
    rs: usize,
    checker: usize,
    rs_name: String,
    vs_name: String,
    probe: Probe,
    schedule: Schedule,
    report: Sender<super::lvs_run::Cmd>,
    /// `ha_suspend`: checks sleep while this address is not on a local interface.
    suspend_unless_local: Option<IpAddr>,
}

/// Whether `addr` is on one of this namespace's interfaces (whoever put it there).
pub fn is_local(addr: IpAddr) -> bool {
    let Ok(addrs) = nix::ifaddrs::getifaddrs() else {
        return true;
    };
    addrs.into_iter().any(|ifa| {
        ifa.address.is_some_and(|a| {
            a.as_sockaddr_in().map(|s| IpAddr::V4(s.ip())) == Some(addr)
                || a.as_sockaddr_in6().map(|s| IpAddr::V6(s.ip())) == Some(addr)
        })
    })
}

/// The address `ha_suspend` watches for a virtual server (address-based ones only; keepalived
/// refuses it with fwmarks).
pub fn suspend_address(vs: &VsModel) -> Option<IpAddr> {
    if !vs.ha_suspend {
        return None;
    }
    match vs.identity {
        ka_lvs::model::VsIdentity::Addr(_, addr, _) => Some(addr),
        _ => None,
    }
}

/// A little randomness for warmup spreading without a dependency: clock nanoseconds mixed
/// with the checker's position.
fn fraction(salt: usize) -> f64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let mut x = u64::from(nanos) ^ (salt as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    (x % 10_000) as f64 / 10_000.0
}

/// Starts the checker threads of every virtual server. `verdicts` gives each checker's
/// starting verdict (the pool's, carried across a reload); `ran` whether it succeeded before.
pub fn spawn_all(
    servers: &[VsModel],
    verdicts: &dyn Fn(usize, usize, usize) -> (bool, bool),
    policy: &ScriptPolicy,
    generation: u64,
    current: &Arc<AtomicU64>,
    report: &Sender<super::lvs_run::Cmd>,
) {
    let mut salt = 0usize;
    for (v, vs) in servers.iter().enumerate() {
        for (r, rs) in vs.real_servers.iter().enumerate() {
            for (c, checker) in rs.checkers.iter().enumerate() {
                salt += 1;
                let Some(probe) = probe_for(
                    &checker.config,
                    rs.key.addr,
                    rs.key.port,
                    rs.weight,
                    vs,
                    policy,
                ) else {
                    continue;
                };
                let common = &checker.config.common;
                let timing = Timing {
                    delay_loop: Duration::from_micros(common.delay_loop_us.max(1)),
                    delay_before_retry: Duration::from_micros(common.delay_before_retry_us),
                    retry: common.retry,
                    warmup: Duration::from_micros(common.warmup_us),
                };
                let (up, ran) = verdicts(v, r, c);
                let task = Task {
                    generation,
                    current: Arc::clone(current),
                    vs: v,
                    rs: r,
                    checker: c,
                    rs_name: rs.name.clone(),
                    vs_name: vs.name.clone(),
                    probe,
                    schedule: Schedule::new(timing, up, ran),
                    report: report.clone(),
                    suspend_unless_local: suspend_address(vs),
                };
                let first = task.schedule.first_delay(fraction(salt));
                let spawned = std::thread::Builder::new()
                    .name("checker".into())
                    .stack_size(128 * 1024)
                    .spawn(move || run(task, first));
                if let Err(e) = spawned {
                    log_lvs(&format!("cannot start a checker thread: {e}"));
                }
            }
        }
    }
}

/// The probe of a configured checker, or None (logged) for kinds not built yet.
fn probe_for(
    checker: &Checker,
    addr: IpAddr,
    port: u16,
    weight: i32,
    vs: &VsModel,
    policy: &ScriptPolicy,
) -> Option<Probe> {
    let common = &checker.common;
    let timeout = Duration::from_micros(common.connect_timeout_us.max(1));
    match &checker.kind {
        CheckerKind::Tcp => Some(Probe::Tcp {
            target: SocketAddr::new(
                common.connect_ip.unwrap_or(addr),
                common.connect_port.unwrap_or(port),
            ),
            timeout,
        }),
        CheckerKind::Misc(m) => {
            let script = m.script.as_ref()?;
            let launch = policy.launch(script)?;
            Some(Probe::Misc {
                launch,
                command: script.command.clone(),
                timeout: Duration::from_micros(m.timeout_us.unwrap_or(common.delay_loop_us).max(1)),
                dynamic: m.dynamic,
                weight,
            })
        }
        other => {
            log_lvs(&format!(
                "{} for {} is not built yet: the real server keeps its start-up state",
                ka_lvs::model::checker_kind_name(other),
                vs.name
            ));
            None
        }
    }
}

fn alive(task: &Task) -> bool {
    task.current.load(Ordering::Relaxed) == task.generation
}

/// Sleeps in slices so a retired thread ends soon after a reload.
fn nap(task: &Task, d: Duration) -> bool {
    let end = Instant::now() + d;
    while alive(task) {
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return true;
        }
        std::thread::sleep(left.min(Duration::from_millis(200)));
    }
    false
}

fn run(mut task: Task, first: Duration) {
    let _ = ka_sys::sched::set_current_thread_normal();
    let mut wait = first;
    let mut last_delta = 0i64;
    let mut suspended = task.suspend_unless_local.is_some_and(|a| !is_local(a));
    loop {
        if !nap(&task, wait) {
            return;
        }
        if let Some(addr) = task.suspend_unless_local {
            // keepalived follows address events; a check per attempt gives the same verdicts at
            // the checker's own pace. Suspended: no check, the server keeps its state.
            let local = is_local(addr);
            if !local {
                if !suspended {
                    log_lvs(&format!(
                        "Suspending healthchecker for service {} for VS {}",
                        task.rs_name, task.vs_name
                    ));
                    suspended = true;
                }
                wait = task.schedule.delay_loop();
                continue;
            }
            if suspended {
                log_lvs(&format!(
                    "Activating healthchecker for service {} for VS {}",
                    task.rs_name, task.vs_name
                ));
                suspended = false;
            }
        }
        let (ok, delta) = attempt(&task);
        if !alive(&task) {
            return;
        }
        let was_up = task.schedule.up();
        let outcome = task.schedule.record(ok);
        log_attempt(&task, ok, was_up, &outcome);
        if let Some(up) = outcome.changed {
            let _ = task
                .report
                .send(super::lvs_run::Cmd::Check(CheckReport::Verdict {
                    generation: task.generation,
                    vs: task.vs,
                    rs: task.rs,
                    checker: task.checker,
                    up,
                }));
        }
        if let Some(d) = delta {
            if d != last_delta {
                last_delta = d;
                let _ = task
                    .report
                    .send(super::lvs_run::Cmd::Check(CheckReport::Weight {
                        generation: task.generation,
                        vs: task.vs,
                        rs: task.rs,
                        checker: task.checker,
                        delta: d,
                    }));
            }
        }
        wait = outcome.next;
    }
}

fn log_attempt(task: &Task, ok: bool, was_up: bool, outcome: &ka_check::schedule::Outcome) {
    let rs = &task.rs_name;
    match &task.probe {
        Probe::Tcp { .. } => {
            if ok && outcome.changed == Some(true) {
                log_lvs(&format!("TCP connection to {rs} success."));
            } else if outcome.changed == Some(false) {
                if outcome.retries_used == 0 {
                    log_lvs(&format!("TCP_CHECK on service {rs} failed."));
                } else {
                    log_lvs(&format!(
                        "TCP_CHECK on service {rs} failed after {} retries.",
                        outcome.retries_used
                    ));
                }
            }
        }
        Probe::Misc { command, .. } => {
            let who = format!("[{rs} VS {}] by [{command}]", task.vs_name);
            if ok && !was_up {
                log_lvs(&format!("Misc check for {who} succeeded."));
            } else if outcome.changed == Some(false) {
                log_lvs(&format!("Misc check for {who} failed."));
            }
        }
    }
}

/// One attempt: success, and for dynamic MISC_CHECKs the weight contribution.
fn attempt(task: &Task) -> (bool, Option<i64>) {
    match &task.probe {
        Probe::Tcp { target, timeout } => {
            (TcpStream::connect_timeout(target, *timeout).is_ok(), None)
        }
        Probe::Misc {
            launch,
            timeout,
            dynamic,
            weight,
            ..
        } => match run_script(launch, *timeout) {
            Some(0) => (true, dynamic.then_some(0)),
            Some(code) if *dynamic && code >= 2 => {
                (true, Some(i64::from(code) - 2 - i64::from(*weight)))
            }
            _ => (false, None),
        },
    }
}

/// Runs a MISC_CHECK script: its exit code, or None when it was killed or timed out
/// (SIGTERM at the timeout, SIGKILL 2 s later).
fn run_script(launch: &Launch, timeout: Duration) -> Option<i32> {
    let mut child = launch.command()?.spawn().ok()?;
    let start = Instant::now();
    let mut termed = false;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return if termed { None } else { status.code() },
            Ok(None) => {}
            Err(_) => return None,
        }
        let elapsed = start.elapsed();
        if !termed && elapsed >= timeout {
            if let Ok(pid) = i32::try_from(child.id()) {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGTERM,
                );
            }
            termed = true;
        } else if termed && elapsed >= timeout + Duration::from_secs(2) {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}
