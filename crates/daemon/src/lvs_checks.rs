//! The checker engine: every checker is a task on one tokio runtime thread ("checkers"), so
//! 10,000 checkers cost 10,000 small futures and their sockets, not 10,000 threads. Each task
//! sleeps, makes one attempt (`ka_check`'s probes), feeds the verdict state machine
//! (`ka_check::Schedule`, keepalived 2.2.7's counting) and posts verdict changes to the LVS
//! thread. A reload retires a whole generation at once through a watch channel.

use crate::logging::log_lvs;
use crate::scripts::{Launch, ScriptPolicy};
use ka_check::{Attempt, Connect, Outcome, Schedule, Timing};
use ka_config::model::lvs::{Checker, CheckerKind};
use ka_lvs::model::VsModel;
use std::net::IpAddr;
use std::sync::mpsc::Sender;
use std::time::Duration;
use tokio::sync::watch;

/// What a checker task reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckReport {
    /// The verdict changed.
    Verdict {
        /// Generation of the task (reload bumps it).
        generation: u64,
        /// Virtual server index.
        vs: usize,
        /// Real server index.
        rs: usize,
        /// Checker index.
        checker: usize,
        /// Up or down.
        up: bool,
        /// The mail body, in the checker's words.
        mail: String,
    },
    /// A dynamic weight contribution changed.
    Weight {
        /// Generation of the task.
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

/// One checker's results, for `status` and metrics.
#[derive(Debug, Clone, Default)]
pub struct CheckerRecord {
    /// Attempts that passed.
    pub passed: u64,
    /// Attempts that failed (counted ones; "not counted" socket errors are not here).
    pub failed: u64,
    /// The last counted attempt: passed or not, keepalived's words for it, and when.
    pub last: Option<(bool, String, std::time::Instant)>,
}

/// Records by (generation, virtual server, real server, checker). Written by the checkers
/// thread once per attempt (uncontended: the LVS thread reads it only when asked).
static RECORDS: std::sync::Mutex<
    std::collections::BTreeMap<(u64, usize, usize, usize), CheckerRecord>,
> = std::sync::Mutex::new(std::collections::BTreeMap::new());

fn record_attempt(key: (u64, usize, usize, usize), attempt: &Attempt) {
    let Ok(mut m) = RECORDS.lock() else { return };
    let r = m.entry(key).or_default();
    let ok = attempt.ok();
    if ok {
        r.passed += 1;
    } else {
        r.failed += 1;
    }
    match &mut r.last {
        // Reuse the string: 12,000 checks a second should not allocate for an unchanged reason.
        Some((last_ok, reason, at)) => {
            *last_ok = ok;
            if *reason != attempt.reason {
                reason.clone_from(&attempt.reason);
            }
            *at = std::time::Instant::now();
        }
        None => r.last = Some((ok, attempt.reason.clone(), std::time::Instant::now())),
    }
}

/// The records of one generation, by (virtual server, real server, checker); older
/// generations (retired by a reload) are dropped on the way.
pub fn records(
    generation: u64,
) -> std::collections::BTreeMap<(usize, usize, usize), CheckerRecord> {
    let Ok(mut m) = RECORDS.lock() else {
        return Default::default();
    };
    m.retain(|k, _| k.0 >= generation);
    m.iter()
        .filter(|(k, _)| k.0 == generation)
        .map(|(k, v)| ((k.1, k.2, k.3), v.clone()))
        .collect()
}

/// The runtime the checkers run on, and the switch that retires a generation.
pub struct Engine {
    handle: tokio::runtime::Handle,
    generation: watch::Sender<u64>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Engine {
    /// Starts the "checkers" thread with its runtime.
    pub fn start() -> std::io::Result<Engine> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let handle = rt.handle().clone();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        std::thread::Builder::new()
            .name("checkers".into())
            .spawn(move || {
                let _ = ka_sys::sched::set_current_thread_normal();
                rt.block_on(async {
                    let _ = stop_rx.await;
                });
            })?;
        let (generation, _) = watch::channel(0);
        Ok(Engine {
            handle,
            generation,
            _stop: stop_tx,
        })
    }

    /// Retires every running checker (they stop at their next await point) and returns the
    /// generation new checkers belong to.
    pub fn next_generation(&self) -> u64 {
        let next = *self.generation.borrow() + 1;
        let _ = self.generation.send(next);
        next
    }

    /// The current generation.
    pub fn generation(&self) -> u64 {
        *self.generation.borrow()
    }
}

/// How one attempt is made.
enum Probe {
    Tcp(Connect),
    Smtp(Connect, Option<String>),
    Dns(Connect, ka_config::model::lvs::DnsCheck),
    Udp(Connect, ka_check::udp::UdpSpec),
    Ping(Connect),
    Http {
        c: Connect,
        spec: Box<ka_check::http::HttpSpec>,
        state: Box<ka_check::http::HttpState>,
        tls: Option<ka_check::tls::TlsContext>,
    },
    Misc {
        launch: Launch,
        command: String,
        timeout: Duration,
        dynamic: bool,
        weight: i32,
    },
}

/// Everything one checker task needs.
struct Task {
    generation: u64,
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
    /// `log_all_failures`: every failed attempt while up is logged, not only the verdict.
    log_all_failures: bool,
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

/// Starts a checker task for every checker of every virtual server, in the engine's current
/// generation. `verdicts` gives each checker's starting verdict (the pool's, carried across a
/// reload) and whether it succeeded before.
pub fn spawn_all(
    engine: &Engine,
    servers: &[VsModel],
    verdicts: &dyn Fn(usize, usize, usize) -> (bool, bool),
    policy: &ScriptPolicy,
    tls: Option<&ka_check::tls::TlsContext>,
    log_all_failures: bool,
    report: &Sender<super::lvs_run::Cmd>,
) {
    let generation = engine.generation();
    let mut salt = 0usize;
    for (v, vs) in servers.iter().enumerate() {
        for (r, rs) in vs.real_servers.iter().enumerate() {
            for (c, checker) in rs.checkers.iter().enumerate() {
                salt += 1;
                let common = &checker.config.common;
                let timing = Timing {
                    delay_loop: Duration::from_micros(common.delay_loop_us.max(1)),
                    delay_before_retry: Duration::from_micros(common.delay_before_retry_us),
                    retry: common.retry,
                    warmup: Duration::from_micros(common.warmup_us),
                };
                let (up, ran) = verdicts(v, r, c);
                let probe = match &checker.config.kind {
                    CheckerKind::Http(h) | CheckerKind::Ssl(h) => {
                        let is_tls = matches!(checker.config.kind, CheckerKind::Ssl(_));
                        let spec = ka_check::http::HttpSpec::new(
                            h,
                            is_tls,
                            rs.virtualhost.as_deref(),
                            vs.virtualhost.as_deref(),
                            timing.delay_loop,
                        );
                        for w in &spec.warnings {
                            log_lvs(&format!(
                                "{} for {}: {w}",
                                ka_lvs::model::checker_kind_name(&checker.config.kind),
                                rs.name
                            ));
                        }
                        Some(Probe::Http {
                            c: Connect::from_common(common, rs.key.addr, rs.key.port),
                            spec: Box::new(spec),
                            state: Box::new(ka_check::http::HttpState::new(timing, up, ran)),
                            tls: if is_tls { tls.cloned() } else { None },
                        })
                    }
                    _ => probe_for(
                        &checker.config,
                        rs.key.addr,
                        rs.key.port,
                        rs.weight,
                        vs,
                        policy,
                    ),
                };
                let Some(probe) = probe else {
                    continue;
                };
                let mut schedule = Schedule::new(timing, up, ran);
                if matches!(probe, Probe::Smtp(..)) && ka_check::smtp::RESETS_RETRIES_EACH_CYCLE {
                    schedule = schedule.resetting_each_cycle();
                }
                let task = Task {
                    generation,
                    vs: v,
                    rs: r,
                    checker: c,
                    rs_name: rs.name.clone(),
                    vs_name: vs.name.clone(),
                    probe,
                    schedule,
                    log_all_failures: common.log_all_failures || log_all_failures,
                    report: report.clone(),
                    suspend_unless_local: suspend_address(vs),
                };
                let first = task.schedule.first_delay(fraction(salt));
                let retire = engine.generation.subscribe();
                engine.handle.spawn(run(task, first, retire));
            }
        }
    }
}

/// One FILE_CHECK: where its verdict goes and how the file's value is weighed.
struct FileCheck {
    vs: usize,
    rs: usize,
    checker: usize,
    rs_name: String,
    track_file: String,
    weight: i64,
    reverse: bool,
}

/// FILE_CHECKs: one watcher for every tracked file they name; a value is known at once (no
/// alpha, no retry), so the first verdicts are sent before any network check runs.
pub fn spawn_file_checks(
    engine: &Engine,
    servers: &[VsModel],
    track_files: &[ka_config::model::TrackFile],
    report: &Sender<super::lvs_run::Cmd>,
) {
    let generation = engine.generation();
    let mut checks: Vec<(usize, FileCheck)> = Vec::new();
    let mut files: Vec<ka_check::file::WatchedFile> = Vec::new();
    for (v, vs) in servers.iter().enumerate() {
        for (r, rs) in vs.real_servers.iter().enumerate() {
            for (c, checker) in rs.checkers.iter().enumerate() {
                let CheckerKind::File {
                    track_file: Some(name),
                    weight,
                    reverse,
                } = &checker.config.kind
                else {
                    continue;
                };
                let Some((id, tf)) = track_files
                    .iter()
                    .enumerate()
                    .find(|(_, t)| &t.name == name)
                else {
                    log_lvs(&format!("FILE_CHECK for {}: no track_file {name}", rs.name));
                    continue;
                };
                let Some(path) = &tf.file else { continue };
                if !files.iter().any(|f| f.id == id) {
                    files.push(ka_check::file::WatchedFile {
                        id,
                        path: path.into(),
                    });
                }
                let (weight, reverse) = ka_check::file::effective_weight(
                    *weight,
                    *reverse,
                    tf.weight,
                    tf.weight_reverse,
                );
                checks.push((
                    id,
                    FileCheck {
                        vs: v,
                        rs: r,
                        checker: c,
                        rs_name: rs.name.clone(),
                        track_file: name.clone(),
                        weight,
                        reverse,
                    },
                ));
            }
        }
    }
    if checks.is_empty() {
        return;
    }
    let mut watcher = match ka_check::file::FileWatcher::start(files) {
        Ok(w) => w,
        Err(e) => {
            log_lvs(&format!("FILE_CHECK: cannot watch the files: {e}"));
            return;
        }
    };
    let n_checks = checks.len();
    let report = report.clone();
    let send = move |id: usize, value: i64, last: &mut Vec<Option<bool>>| {
        for (n, (fid, fc)) in checks.iter().enumerate() {
            if *fid != id {
                continue;
            }
            let v = ka_check::file::verdict(value, fc.weight, fc.reverse);
            if last[n] != Some(v.up) {
                if last[n].is_some() || !v.up {
                    log_lvs(&if v.up {
                        ka_check::file::leaving_fault_line(&fc.rs_name, &fc.track_file)
                    } else {
                        ka_check::file::fault_line(&fc.rs_name, &fc.track_file)
                    });
                }
                last[n] = Some(v.up);
                let _ = report.send(super::lvs_run::Cmd::Check(CheckReport::Verdict {
                    generation,
                    vs: fc.vs,
                    rs: fc.rs,
                    checker: fc.checker,
                    up: v.up,
                    mail: mail_text("FILE_CHECK", v.up, "tracked file"),
                }));
            }
            let _ = report.send(super::lvs_run::Cmd::Check(CheckReport::Weight {
                generation,
                vs: fc.vs,
                rs: fc.rs,
                checker: fc.checker,
                delta: v.weight_delta,
            }));
        }
    };
    let initial: Vec<(usize, i64)> = watcher.initial().to_vec();
    let mut retire = engine.generation.subscribe();
    engine.handle.spawn(async move {
        let mut last: Vec<Option<bool>> = vec![None; n_checks];
        for (id, value) in initial {
            send(id, value, &mut last);
        }
        loop {
            tokio::select! {
                batch = watcher.next() => {
                    let Some(batch) = batch else { return };
                    for e in batch {
                        match e {
                            ka_check::file::FileEvent::Value { id, value } => send(id, value, &mut last),
                            ka_check::file::FileEvent::Log(l) => log_lvs(&l),
                        }
                    }
                }
                _ = retire.changed() => return,
            }
        }
    });
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
    match &checker.kind {
        CheckerKind::Tcp => Some(Probe::Tcp(Connect::from_common(common, addr, port))),
        CheckerKind::Smtp { helo_name } => Some(Probe::Smtp(
            Connect::from_common(common, addr, port),
            helo_name.clone(),
        )),
        CheckerKind::Dns(d) => Some(Probe::Dns(
            Connect::from_common(common, addr, port),
            d.clone(),
        )),
        CheckerKind::Udp(u) => Some(Probe::Udp(
            Connect::from_common(common, addr, port),
            ka_check::udp::UdpSpec::from_config(u),
        )),
        CheckerKind::Ping => Some(Probe::Ping(Connect::from_common(common, addr, port))),
        // FILE_CHECK is event-driven: see `spawn_file_checks`.
        CheckerKind::File { .. } => None,
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

/// Sleeps `d`; false when the task's generation was retired meanwhile.
async fn nap(d: Duration, generation: u64, retire: &mut watch::Receiver<u64>) -> bool {
    if *retire.borrow() != generation {
        return false;
    }
    tokio::select! {
        _ = tokio::time::sleep(d) => *retire.borrow() == generation,
        _ = retire.changed() => false,
    }
}

async fn run(mut task: Task, first: Duration, mut retire: watch::Receiver<u64>) {
    let mut wait = first;
    let mut last_delta = 0i64;
    let mut suspended = task.suspend_unless_local.is_some_and(|a| !is_local(a));
    loop {
        if !nap(wait, task.generation, &mut retire).await {
            return;
        }
        if let Some(addr) = task.suspend_unless_local {
            // keepalived follows address events; a look per attempt gives the same verdicts at
            // the checker's own pace. Suspended: no check, the server keeps its state.
            if !is_local(addr) {
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
        // Boxed: an attempt's future holds I/O buffers; kept inline, every sleeping task
        // would carry them (12,000 checkers x several KiB).
        let attempt = Box::pin(attempt(&mut task.probe)).await;
        if *retire.borrow() != task.generation {
            return;
        }
        if attempt.outcome == Outcome::NotCounted {
            log_lvs(&format!(
                "{} for {}: {}. Rescheduling.",
                kind_name(&task.probe),
                task.rs_name,
                attempt.reason
            ));
            wait = task.schedule.delay_loop();
            continue;
        }
        record_attempt((task.generation, task.vs, task.rs, task.checker), &attempt);
        let (changed, next, mail) = match &mut task.probe {
            Probe::Http { spec, state, .. } => {
                let step = state.record(
                    spec,
                    &attempt,
                    &task.rs_name,
                    &task.vs_name,
                    task.log_all_failures,
                );
                for l in &step.lines {
                    log_lvs(l);
                }
                let mail = step.mail.map(str::to_string);
                (step.changed, step.next, mail)
            }
            _ => {
                let was_up = task.schedule.up();
                let outcome = task.schedule.record(attempt.ok());
                log_attempt(&task, &attempt, was_up, &outcome);
                (outcome.changed, outcome.next, None)
            }
        };
        if let Some(up) = changed {
            let _ = task
                .report
                .send(super::lvs_run::Cmd::Check(CheckReport::Verdict {
                    generation: task.generation,
                    vs: task.vs,
                    rs: task.rs,
                    checker: task.checker,
                    up,
                    mail: mail
                        .unwrap_or_else(|| mail_text(kind_name(&task.probe), up, &attempt.reason)),
                }));
        }
        if let Some(d) = attempt.weight {
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
        wait = next;
    }
}

fn kind_name(p: &Probe) -> &'static str {
    match p {
        Probe::Tcp(_) => "TCP_CHECK",
        Probe::Smtp(..) => "SMTP_CHECK",
        Probe::Dns(..) => "DNS_CHECK",
        Probe::Udp(..) => "UDP_CHECK",
        Probe::Ping(_) => "PING_CHECK",
        Probe::Http { tls: Some(_), .. } => "SSL_GET",
        Probe::Http { .. } => "HTTP_GET",
        Probe::Misc { .. } => "MISC_CHECK",
    }
}

/// The mail body of a verdict, in the checker's words.
pub fn mail_text(kind: &str, up: bool, reason: &str) -> String {
    match (kind, up) {
        ("TCP_CHECK", true) => "=> TCP CHECK succeed on service <=".into(),
        ("TCP_CHECK", false) => "=> TCP CHECK failed on service <=".into(),
        ("SMTP_CHECK", true) => ka_check::smtp::mail_up().into(),
        ("SMTP_CHECK", false) => ka_check::smtp::mail_down(reason),
        ("DNS_CHECK", true) => ka_check::dns::mail_up().into(),
        ("DNS_CHECK", false) => ka_check::dns::mail_down().into(),
        ("UDP_CHECK", true) => ka_check::udp::mail_up().into(),
        ("UDP_CHECK", false) => ka_check::udp::mail_down().into(),
        ("PING_CHECK", true) => ka_check::ping::mail_up().into(),
        ("PING_CHECK", false) => ka_check::ping::mail_down().into(),
        (_, true) => "=> CHECK succeed on service <=".into(),
        (_, false) => format!("=> CHECK failed on service : {reason} <="),
    }
}

fn log_attempt(
    task: &Task,
    attempt: &Attempt,
    was_up: bool,
    outcome: &ka_check::schedule::Outcome,
) {
    let rs = task.rs_name.as_str();
    let vs = task.vs_name.as_str();
    let went_up = attempt.ok() && outcome.changed == Some(true);
    let went_down = outcome.changed == Some(false);
    // A failed attempt of an up checker that did not (yet) change the verdict.
    let plain_failure = !attempt.ok() && was_up && !went_down && task.log_all_failures;
    let retries = outcome.retries_used;
    let line: Option<String> = match &task.probe {
        Probe::Tcp(_) => {
            if went_up {
                Some(format!("TCP connection to {rs} success."))
            } else if went_down {
                Some(if retries == 0 {
                    format!("TCP_CHECK on service {rs} failed.")
                } else {
                    format!("TCP_CHECK on service {rs} failed after {retries} retries.")
                })
            } else if plain_failure {
                Some(if attempt.reason == "Timeout connecting" {
                    format!("TCP connection to {rs} timeout.")
                } else {
                    format!("TCP connection to {rs} failed.")
                })
            } else {
                None
            }
        }
        Probe::Smtp(..) => {
            if went_up {
                Some(ka_check::smtp::up_line(rs))
            } else if went_down || (!attempt.ok() && task.log_all_failures) {
                Some(ka_check::smtp::failure_line(&attempt.reason))
            } else {
                None
            }
        }
        Probe::Dns(..) => {
            if went_up {
                ka_check::dns::up_line(rs)
            } else if went_down {
                Some(ka_check::dns::down_line(
                    rs,
                    &attempt.reason,
                    (retries > 0).then_some(retries),
                ))
            } else if plain_failure {
                Some(ka_check::dns::log_line(rs, &attempt.reason, None))
            } else {
                None
            }
        }
        Probe::Udp(..) => {
            if went_up {
                Some(ka_check::udp::up_line(rs))
            } else if went_down {
                Some(ka_check::udp::down_line(rs, retries))
            } else if plain_failure {
                Some(ka_check::udp::failure_line(rs, &attempt.reason))
            } else {
                None
            }
        }
        Probe::Ping(_) => {
            if went_up {
                Some(ka_check::ping::up_line(rs))
            } else if went_down {
                Some(ka_check::ping::down_line(rs, vs, retries))
            } else if plain_failure {
                Some(ka_check::ping::failure_line(rs, vs, &attempt.reason))
            } else {
                None
            }
        }
        // HttpState logs its own lines.
        Probe::Http { .. } => None,
        Probe::Misc { command, .. } => {
            let who = format!("[{rs} VS {vs}] by [{command}]");
            if attempt.ok() && !was_up {
                Some(format!("Misc check for {who} succeeded."))
            } else if went_down {
                Some(format!("Misc check for {who} failed ({}).", attempt.reason))
            } else if plain_failure {
                Some(format!(
                    "Misc check for {who} failed, will retry ({}).",
                    attempt.reason
                ))
            } else {
                None
            }
        }
    };
    if let Some(l) = line {
        log_lvs(&l);
    }
}

/// One attempt.
async fn attempt(probe: &mut Probe) -> Attempt {
    match probe {
        Probe::Tcp(c) => ka_check::tcp::check(c).await,
        Probe::Smtp(c, helo) => ka_check::smtp::check(c, helo.as_deref()).await,
        Probe::Dns(c, d) => ka_check::dns::check(c, d).await,
        Probe::Udp(c, u) => ka_check::udp::check(c, u).await,
        Probe::Ping(c) => ka_check::ping::check(c).await,
        Probe::Http {
            c,
            spec,
            state,
            tls,
        } => ka_check::http::check(c, spec, state, tls.as_ref()).await,
        Probe::Misc {
            launch,
            timeout,
            dynamic,
            weight,
            ..
        } => misc(launch, *timeout, *dynamic, *weight).await,
    }
}

/// MISC_CHECK: exit 0 = up, 1 = down, 2..255 = down, or with `misc_dynamic` up with the weight
/// set to exit − 2. A timeout is SIGTERM to the script's process group, SIGKILL 2 s later, and a
/// failure; a dynamic weight is reported only from an exit code (a timeout never changes it,
/// unlike 2.2.7's #2720).
async fn misc(launch: &Launch, timeout: Duration, dynamic: bool, weight: i32) -> Attempt {
    let Some((program, args)) = launch.argv.split_first() else {
        return Attempt::not_counted("empty command");
    };
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args).process_group(0).kill_on_drop(true);
    cmd.stdin(std::process::Stdio::null());
    if let Some(id) = launch.identity {
        if id.uid != nix::unistd::geteuid().as_raw() || id.gid != nix::unistd::getegid().as_raw() {
            cmd.uid(id.uid).gid(id.gid);
        }
    }
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return Attempt::not_counted(format!("cannot start: {e}")),
    };
    let status = match tokio::time::timeout(timeout, child.wait()).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return Attempt::failure(format!("wait: {e}")),
        Err(_) => {
            if let Some(pid) = child.id().and_then(|p| i32::try_from(p).ok()) {
                let group = nix::unistd::Pid::from_raw(-pid);
                let _ = nix::sys::signal::kill(group, nix::sys::signal::Signal::SIGTERM);
                if tokio::time::timeout(Duration::from_secs(2), child.wait())
                    .await
                    .is_err()
                {
                    let _ = nix::sys::signal::kill(group, nix::sys::signal::Signal::SIGKILL);
                    let _ = child.wait().await;
                }
            }
            return Attempt::failure("timed out");
        }
    };
    match status.code() {
        Some(0) => {
            let mut a = Attempt::success("exited with status 0");
            a.weight = dynamic.then_some(0);
            a
        }
        Some(code) if dynamic && code >= 2 => {
            let mut a = Attempt::success(format!("exited with status {code}"));
            a.weight = Some(i64::from(code) - 2 - i64::from(weight));
            a
        }
        Some(code) => Attempt::failure(format!("exited with status {code}")),
        None => Attempt::failure("killed by a signal"),
    }
}
