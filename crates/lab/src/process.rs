//! Processes started inside a lab namespace: spawned through `ip netns exec`, checked to really be
//! in that namespace, controlled by PID / process group only.

use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use nix::errno::Errno;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::cmd::{host_ns_id, ns_id, render};

/// A process running in one of the lab's namespaces, leader of its own process group.
///
/// Signals go to the whole group, because daemons such as keepalived run as a supervisor plus
/// children and a signal to the parent alone would leave (or respawn) the children. Dropping a
/// `Proc` that still runs stops it (SIGTERM, then SIGKILL after 2 s), so a failing test leaves no
/// daemon behind even before the lab itself is torn down.
#[derive(Debug)]
pub struct Proc {
    child: Child,
    name: String,
    ns: String,
    log: PathBuf,
    exited: Option<ExitStatus>,
}

/// Starts `argv` in namespace `ns` with stdout and stderr appended to `log`.
///
/// The command runs as `ip netns exec NS ARGV...` in a new process group (so `ip` execs the
/// command in place and the PID we hold is the command's own). We then wait until
/// `/proc/PID/ns/net` is the lab namespace; a process seen in any other namespace is killed and
/// the call fails, so nothing the lab starts can act on the host's network.
pub(crate) fn spawn_in_ns(
    ns: &str,
    ns_file: &Path,
    name: &str,
    argv: &[&str],
    log: PathBuf,
) -> Result<Proc> {
    let Some((prog, _)) = argv.split_first() else {
        bail!("spawn {name}: empty argv");
    };
    let target = ns_id(ns_file)?;
    let host = host_ns_id()?;
    if target == host {
        bail!("spawn {name}: namespace {ns} is the host's network namespace; refusing");
    }
    let out = File::create(&log).with_context(|| format!("cannot create log {}", log.display()))?;
    let err = out.try_clone().context("cannot clone log file handle")?;
    let mut args = vec!["netns", "exec", ns];
    args.extend_from_slice(argv);
    let child = Command::new("ip")
        .args(&args)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .process_group(0)
        .spawn()
        .with_context(|| format!("cannot start `{}`", render("ip", &args)))?;
    let mut proc = Proc {
        child,
        name: name.to_string(),
        ns: ns.to_string(),
        log,
        exited: None,
    };
    let pid = proc.pid();
    let proc_ns = PathBuf::from(format!("/proc/{pid}/ns/net"));
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        if let Some(st) = proc.child.try_wait().context("waitpid")? {
            // Ended before we saw it switch: `ip` could not enter the namespace or the command
            // was short-lived. Either way it no longer runs; the caller sees the status.
            proc.exited = Some(st);
            return Ok(proc);
        }
        match ns_id(&proc_ns) {
            Ok(id) if id == target => return Ok(proc),
            // Still `ip` before setns(), or between checks: only acceptable for a short while.
            Ok(_) | Err(_) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(1))
            }
            Ok(id) => {
                proc.kill_group_now();
                bail!(
                    "spawn {name} (`{}`, pid {pid}): process is in network namespace {:?}, not {ns} {:?}{}; killed it",
                    render(prog, &argv[1..]),
                    id,
                    target,
                    if id == host { " (the HOST namespace)" } else { "" }
                );
            }
            Err(e) => {
                proc.kill_group_now();
                bail!("spawn {name}, pid {pid}: cannot verify its namespace: {e:#}; killed it");
            }
        }
    }
}

impl Proc {
    /// The PID (also the process group ID), for logs and for tests that inspect `/proc`.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The name given at spawn time, which also names the log file.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The namespace the process was started in.
    pub fn ns(&self) -> &str {
        &self.ns
    }

    /// Where stdout and stderr go, so a failing test can point at it.
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// Everything the process wrote so far (stdout and stderr interleaved), lossy UTF-8.
    pub fn log(&self) -> String {
        std::fs::read(&self.log)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    /// Sends `sig` to the process group, so a daemon's children get it too. A group that is
    /// already gone is not an error; once the leader is reaped we stop signalling, since its PID
    /// could then belong to someone else.
    pub fn signal(&mut self, sig: Signal) -> Result<()> {
        if self.poll_exit().is_some() {
            return Ok(());
        }
        match kill(Pid::from_raw(-self.pgid()), sig) {
            Ok(()) | Err(Errno::ESRCH) => Ok(()),
            Err(e) => bail!("kill -{sig} -{} ({}): {e}", self.pgid(), self.name),
        }
    }

    /// Waits up to `timeout` for the process to exit and reaps it; `None` if it still runs.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(st) = self.poll_exit() {
                return Some(st);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Whether the process (the group leader) is still alive.
    pub fn is_running(&mut self) -> bool {
        self.poll_exit().is_none()
    }

    /// The exit status if the leader has ended (reaping it, so no zombie keeps a pid file "live").
    pub fn poll_exit(&mut self) -> Option<ExitStatus> {
        if self.exited.is_none() {
            if let Ok(Some(st)) = self.child.try_wait() {
                self.exited = Some(st);
            }
        }
        self.exited
    }

    /// Graceful stop: SIGTERM to the group, up to `grace` to exit, then SIGKILL. Returns the
    /// leader's exit status.
    pub fn stop(&mut self, grace: Duration) -> Result<ExitStatus> {
        self.signal(Signal::SIGTERM)?;
        if let Some(st) = self.wait_exit(grace) {
            return Ok(st);
        }
        self.signal(Signal::SIGKILL)?;
        self.wait_exit(Duration::from_secs(2))
            .with_context(|| format!("{} (pid {}) survived SIGKILL", self.name, self.pid()))
    }

    fn pgid(&self) -> i32 {
        i32::try_from(self.child.id()).unwrap_or(i32::MAX)
    }

    fn kill_group_now(&mut self) {
        let _ = kill(Pid::from_raw(-self.pgid()), Signal::SIGKILL);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if self.poll_exit().is_none() {
            let _ = self.stop(Duration::from_secs(2));
        }
    }
}
