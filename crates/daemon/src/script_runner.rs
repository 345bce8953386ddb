//! Runs every tracked `vrrp_script` from one thread: it starts each script when due, waits for
//! all running ones at once (a pidfd per child, one `poll`), enforces `timeout` (SIGTERM, then
//! SIGKILL 2 s later; a timeout is a failure) and turns results into tracker states with
//! `rise`/`fall`. A script still running when its next run is due is not started twice.
//!
//! One thread for all scripts, instead of one per script polling its child, keeps 500 scripts
//! a second cheap (the first design burnt both cores waking 500 threads every 5 ms) and away
//! from the VRRP thread, which never starts a process.

use crate::logging::log;
use crate::scripts::Launch;
use ka_config::model::VrrpScript;
use ka_vrrp::priority::TrackerState;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use std::os::fd::{AsFd, OwnedFd};
use std::process::Child;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Where results go: (tracker id, new state).
pub type Report = Arc<dyn Fn(usize, TrackerState) + Send + Sync>;

/// A script to run and the tracker it feeds.
pub struct ScriptJob {
    /// Tracker id.
    pub tracker: usize,
    /// The `vrrp_script` block.
    pub script: VrrpScript,
    /// How to start it (program, arguments, user).
    pub launch: Launch,
}

/// What `status` and metrics say about one `vrrp_script`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScriptStats {
    /// Runs that exited 0.
    pub success: u64,
    /// Runs that failed (non-zero exit, signal, could not start).
    pub failure: u64,
    /// Runs killed at their timeout (counted here, not under `failure`).
    pub timeout: u64,
    /// 0 idle, 1 running, 2 SIGTERM sent, 3 SIGKILL sent (the exporter's `script_state`).
    pub state: u8,
    /// The verdict after rise/fall: Some(true) GOOD, Some(false) BAD, None not yet known.
    pub good: Option<bool>,
}

/// Every script's stats, by name. Written by the scripts thread (a lock per run), read by
/// the status and metrics threads; never touched by the VRRP thread.
static STATS: std::sync::Mutex<std::collections::BTreeMap<String, ScriptStats>> =
    std::sync::Mutex::new(std::collections::BTreeMap::new());

/// A copy of every script's stats.
pub fn stats() -> std::collections::BTreeMap<String, ScriptStats> {
    STATS.lock().map(|m| m.clone()).unwrap_or_default()
}

fn update_stats(name: &str, f: impl FnOnce(&mut ScriptStats)) {
    if let Ok(mut m) = STATS.lock() {
        // The name is copied once, not at every run.
        match m.get_mut(name) {
            Some(st) => f(st),
            None => f(m.entry(name.to_string()).or_default()),
        }
    }
}

/// Grace between SIGTERM and SIGKILL for a script past its timeout.
const KILL_GRACE: Duration = Duration::from_secs(2);

/// Rise/fall bookkeeping of one script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counter {
    rise: u32,
    fall: u32,
    ok_run: u32,
    ko_run: u32,
    reported: Option<bool>,
}

impl Counter {
    /// A counter; `init_fail` starts it reported as failed.
    pub fn new(rise: u32, fall: u32, init_fail: bool) -> Self {
        Self {
            rise: rise.max(1),
            fall: fall.max(1),
            ok_run: 0,
            ko_run: 0,
            reported: init_fail.then_some(false),
        }
    }

    /// One result; returns the new state when it changes.
    pub fn result(&mut self, success: bool) -> Option<bool> {
        // keepalived 2.2.7 starts a script one step from either verdict: its first result
        // decides at once, whatever `rise` and `fall` say (with `init_fail` it starts failed).
        if self.reported.is_none() {
            self.reported = Some(success);
            if success {
                self.ok_run = self.rise;
            } else {
                self.ko_run = self.fall;
            }
            return self.reported;
        }
        if success {
            self.ok_run += 1;
            self.ko_run = 0;
        } else {
            self.ko_run += 1;
            self.ok_run = 0;
        }
        let now = if self.ok_run >= self.rise {
            Some(true)
        } else if self.ko_run >= self.fall {
            Some(false)
        } else {
            self.reported
        };
        if now != self.reported {
            self.reported = now;
            return now;
        }
        None
    }
}

/// A started script: by `posix_spawn` (a PID we reap ourselves) or, when it must run as
/// another user, by `fork` through std (which can switch uid/gid).
enum Started {
    Spawned(nix::unistd::Pid),
    Forked(Child),
}

impl Started {
    fn id(&self) -> u32 {
        match self {
            Started::Spawned(p) => p.as_raw().unsigned_abs(),
            Started::Forked(c) => c.id(),
        }
    }

    /// Some(success) once it exited (reaped), None while it runs.
    fn try_wait(&mut self) -> std::io::Result<Option<bool>> {
        match self {
            Started::Forked(c) => Ok(c.try_wait()?.map(|s| s.success())),
            Started::Spawned(pid) => {
                use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
                match waitpid(*pid, Some(WaitPidFlag::WNOHANG)) {
                    Ok(WaitStatus::StillAlive) => Ok(None),
                    Ok(WaitStatus::Exited(_, code)) => Ok(Some(code == 0)),
                    Ok(WaitStatus::Signaled(..)) => Ok(Some(false)),
                    Ok(_) => Ok(None),
                    Err(e) => Err(std::io::Error::from(e)),
                }
            }
        }
    }

    fn kill_and_reap(&mut self) {
        match self {
            Started::Forked(c) => {
                let _ = c.kill();
                let _ = c.wait();
            }
            Started::Spawned(pid) => {
                let _ = nix::sys::signal::kill(*pid, nix::sys::signal::Signal::SIGKILL);
                let _ = nix::sys::wait::waitpid(*pid, None);
            }
        }
    }
}

/// Starts a script the cheap way when it runs as the daemon's own user.
fn start_script(launch: &Launch) -> std::io::Result<Started> {
    let ours = launch.identity.is_none_or(|id| {
        id.uid == nix::unistd::geteuid().as_raw() && id.gid == nix::unistd::getegid().as_raw()
    });
    if ours {
        let pid = ka_sys::spawn::spawn(&launch.argv)?;
        return Ok(Started::Spawned(nix::unistd::Pid::from_raw(
            i32::try_from(pid).unwrap_or(i32::MAX),
        )));
    }
    match launch.command() {
        Some(mut c) => Ok(Started::Forked(c.spawn()?)),
        None => Err(std::io::Error::from(std::io::ErrorKind::InvalidInput)),
    }
}

struct Running {
    child: Started,
    pidfd: Option<OwnedFd>,
    started: Instant,
    term_sent: Option<Instant>,
}

struct Job {
    tracker: usize,
    name: String,
    interval: Duration,
    timeout: Duration,
    launch: Launch,
    counter: Counter,
    next_due: Instant,
    running: Option<Running>,
}

fn state(up: bool) -> TrackerState {
    if up {
        TrackerState::Up
    } else {
        TrackerState::Down
    }
}

/// Starts the scheduler thread for `jobs` (nothing when empty).
pub fn spawn(jobs: Vec<ScriptJob>, report: Report) -> std::io::Result<()> {
    if jobs.is_empty() {
        return Ok(());
    }
    std::thread::Builder::new()
        .name("scripts".into())
        .spawn(move || {
            // Real-time priority is for the VRRP thread only, and scripts inherit ours.
            let _ = ka_sys::sched::set_current_thread_normal();
            run(jobs, &report);
        })?;
    Ok(())
}

fn run(jobs: Vec<ScriptJob>, report: &Report) {
    let start = Instant::now();
    let mut jobs: Vec<Job> = jobs
        .into_iter()
        .map(|j| {
            let counter = Counter::new(j.script.rise, j.script.fall, j.script.init_fail);
            if j.script.init_fail {
                report(j.tracker, TrackerState::Down);
            }
            update_stats(&j.script.name, |st| {
                st.state = 0;
                if j.script.init_fail {
                    st.good = Some(false);
                }
            });
            Job {
                tracker: j.tracker,
                name: j.script.name.clone(),
                interval: Duration::from_micros(j.script.interval_us.max(1)),
                timeout: Duration::from_micros(j.script.timeout_us.max(1)),
                launch: j.launch,
                counter,
                next_due: start,
                running: None,
            }
        })
        .collect();
    loop {
        let now = Instant::now();
        // Start what is due.
        for job in jobs.iter_mut() {
            if job.running.is_some() || job.next_due > now {
                continue;
            }
            job.next_due = if job.next_due + job.interval > now {
                job.next_due + job.interval
            } else {
                now + job.interval
            };
            match start_script(&job.launch) {
                Ok(child) => {
                    update_stats(&job.name, |st| st.state = 1);
                    let pidfd = ka_sys::sched::pidfd_open(child.id()).ok();
                    job.running = Some(Running {
                        child,
                        pidfd,
                        started: now,
                        term_sent: None,
                    });
                }
                Err(e) => {
                    log(&format!("vrrp_script {}: cannot start: {e}", job.name));
                    finish(job, Ended::Failure, report);
                }
            }
        }
        // Wait for an exit or the next deadline.
        let mut next = jobs
            .iter()
            .map(|j| match &j.running {
                Some(r) => r
                    .term_sent
                    .map_or(r.started + j.timeout, |t| t + KILL_GRACE),
                None => j.next_due,
            })
            .min()
            .unwrap_or(now + Duration::from_secs(1));
        let without_pidfd = jobs
            .iter()
            .any(|j| j.running.as_ref().is_some_and(|r| r.pidfd.is_none()));
        if without_pidfd {
            next = next.min(now + Duration::from_millis(10));
        }
        let wait_ms = next
            .saturating_duration_since(Instant::now())
            .as_millis()
            .min(60_000) as u16;
        {
            let mut fds: Vec<PollFd<'_>> = jobs
                .iter()
                .filter_map(|j| j.running.as_ref().and_then(|r| r.pidfd.as_ref()))
                .map(|fd| PollFd::new(fd.as_fd(), PollFlags::POLLIN))
                .collect();
            let timeout = PollTimeout::from(wait_ms.max(1));
            if fds.is_empty() {
                std::thread::sleep(Duration::from_millis(u64::from(wait_ms.max(1))));
            } else {
                let _ = poll(&mut fds, timeout);
            }
        }
        // Reap, and enforce timeouts.
        let now = Instant::now();
        for job in jobs.iter_mut() {
            let Some(r) = job.running.as_mut() else {
                continue;
            };
            match r.child.try_wait() {
                Ok(Some(success)) => {
                    let ended = if r.term_sent.is_some() {
                        Ended::Timeout
                    } else if success {
                        Ended::Success
                    } else {
                        Ended::Failure
                    };
                    job.running = None;
                    finish(job, ended, report);
                }
                Ok(None) => {
                    if let Some(t) = r.term_sent {
                        if now >= t + KILL_GRACE {
                            update_stats(&job.name, |st| st.state = 3);
                            r.child.kill_and_reap();
                            job.running = None;
                            finish(job, Ended::Timeout, report);
                        }
                    } else if now >= r.started + job.timeout {
                        log(&format!(
                            "vrrp_script {}: timed out after {:.1} s",
                            job.name,
                            job.timeout.as_secs_f64()
                        ));
                        let pid = nix::unistd::Pid::from_raw(
                            i32::try_from(r.child.id()).unwrap_or(i32::MAX),
                        );
                        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
                        r.term_sent = Some(now);
                        update_stats(&job.name, |st| st.state = 2);
                    }
                }
                Err(_) => {
                    job.running = None;
                    finish(job, Ended::Failure, report);
                }
            }
        }
    }
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ended {
    Success,
    Failure,
    Timeout,
}

fn finish(job: &mut Job, ended: Ended, report: &Report) {
    let verdict = job.counter.result(ended == Ended::Success);
    update_stats(&job.name, |st| {
        match ended {
            Ended::Success => st.success += 1,
            Ended::Failure => st.failure += 1,
            Ended::Timeout => st.timeout += 1,
        }
        st.state = 0;
        if let Some(up) = verdict {
            st.good = Some(up);
        }
    });
    if let Some(up) = verdict {
        report(job.tracker, state(up));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rise_and_fall() {
        // The first result decides at once (keepalived logs "succeeded" after one run with
        // rise 2); after that, rise/fall consecutive results are needed.
        let mut c = Counter::new(2, 3, false);
        assert_eq!(c.result(true), Some(true));
        assert_eq!(c.result(false), None);
        assert_eq!(c.result(false), None);
        assert_eq!(c.result(true), None);
        assert_eq!(c.result(false), None);
        assert_eq!(c.result(false), None);
        assert_eq!(c.result(false), Some(false));
        assert_eq!(c.result(true), None);
        assert_eq!(c.result(true), Some(true));
        let mut first_failure = Counter::new(2, 5, false);
        assert_eq!(first_failure.result(false), Some(false));
        assert_eq!(first_failure.result(true), None);
        assert_eq!(first_failure.result(true), Some(true));
        let mut f = Counter::new(1, 1, true);
        assert_eq!(f.result(false), None);
        assert_eq!(f.result(true), Some(true));
        let mut g = Counter::new(2, 1, true);
        assert_eq!(g.result(true), None);
        assert_eq!(g.result(true), Some(true));
    }

    fn job(name: &str, argv: &[&str], interval_ms: u64, timeout_ms: u64) -> ScriptJob {
        let script = VrrpScript {
            name: name.into(),
            script: None,
            interval_us: interval_ms * 1000,
            timeout_us: timeout_ms * 1000,
            weight: 0,
            weight_reverse: false,
            rise: 1,
            fall: 1,
            init_fail: false,
            location: ka_config::diag::Location::new(Arc::new("test".into()), 1, 1),
        };
        ScriptJob {
            tracker: 0,
            script,
            launch: Launch {
                argv: argv.iter().map(|s| s.to_string()).collect(),
                identity: None,
            },
        }
    }

    #[test]
    fn results_and_timeouts_become_tracker_states() {
        let (tx, rx) = std::sync::mpsc::channel();
        let tx = std::sync::Mutex::new(tx);
        let report: Report = Arc::new(move |t, s| {
            if let Ok(tx) = tx.lock() {
                let _ = tx.send((t, s));
            }
        });
        let mut ok = job("ok", &["/bin/true"], 100, 1000);
        ok.tracker = 1;
        let mut bad = job("bad", &["/bin/false"], 100, 1000);
        bad.tracker = 2;
        let mut hung = job("hung", &["/bin/sleep", "30"], 100, 200);
        hung.tracker = 3;
        spawn(vec![ok, bad, hung], report).expect("spawn");
        let mut seen = std::collections::BTreeMap::new();
        let deadline = Instant::now() + Duration::from_secs(10);
        while seen.len() < 3 && Instant::now() < deadline {
            if let Ok((t, s)) = rx.recv_timeout(Duration::from_millis(100)) {
                seen.insert(t, s);
            }
        }
        assert_eq!(seen.get(&1), Some(&TrackerState::Up));
        assert_eq!(seen.get(&2), Some(&TrackerState::Down));
        assert_eq!(seen.get(&3), Some(&TrackerState::Down));
    }
}
