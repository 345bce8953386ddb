//! Process-level plumbing: pid files with keepalived's names, and signals delivered through a
//! signalfd the event loop polls (blocked in every thread, so no handler runs at a random
//! moment).

use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use std::path::{Path, PathBuf};

/// keepalived's default pid files: parent and VRRP child (we are one process: both hold our
/// pid, so existing `kill $(cat /run/vrrp.pid)` habits keep working).
pub const DEFAULT_PID: &str = "/run/keepalived.pid";
/// The VRRP child's pid file.
pub const DEFAULT_VRRP_PID: &str = "/run/vrrp.pid";

/// keepalived's default checkers pid file (`-c`).
pub const DEFAULT_CHECKERS_PID: &str = "/run/checkers.pid";

/// Pid files that are removed when dropped.
pub struct PidFiles {
    paths: Vec<PathBuf>,
}

impl PidFiles {
    /// Writes our pid into each path.
    pub fn write(paths: &[&Path]) -> std::io::Result<Self> {
        let pid = std::process::id();
        let mut written = Vec::new();
        for p in paths {
            std::fs::write(p, format!("{pid}\n"))?;
            written.push(p.to_path_buf());
        }
        Ok(PidFiles { paths: written })
    }
}

impl Drop for PidFiles {
    fn drop(&mut self) {
        for p in &self.paths {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// What a signal asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    /// SIGTERM / SIGINT: orderly shutdown.
    Stop,
    /// SIGHUP: reload the configuration.
    Reload,
    /// SIGUSR1: write the data dump.
    DumpData,
    /// SIGUSR2: write the statistics.
    DumpStats,
    /// keepalived's JSON signal (SIGRTMIN+2, `--signum=JSON`): write `keepalived.json`.
    DumpJson,
    /// keepalived's STATS_CLEAR signal (SIGRTMAX-1): write the statistics, then zero them.
    DumpStatsClear,
}

/// keepalived's number for the JSON dump (`keepalived --signum=JSON`).
pub const SIGNAL_JSON: i32 = 36;
/// keepalived's number for statistics-and-clear (`keepalived --signum=STATS_CLEAR`).
pub const SIGNAL_STATS_CLEAR: i32 = 63;

/// The signals we handle, blocked and read from a signalfd.
pub struct Signals {
    fd: SignalFd,
}

impl Signals {
    /// Blocks the signals in this thread (call before starting threads, which inherit the
    /// mask) and opens the signalfd.
    pub fn install() -> nix::Result<Self> {
        let mut set = SigSet::empty();
        for s in [
            Signal::SIGTERM,
            Signal::SIGINT,
            Signal::SIGHUP,
            Signal::SIGUSR1,
            Signal::SIGUSR2,
        ] {
            set.add(s);
        }
        let set = ka_sys::sched::sigset_with_realtime(&set, &[SIGNAL_JSON, SIGNAL_STATS_CLEAR]);
        set.thread_block()?;
        let fd = SignalFd::with_flags(&set, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)?;
        Ok(Signals { fd })
    }

    /// The pending requests (after poll said readable).
    pub fn read(&mut self) -> Vec<Request> {
        let mut out = Vec::new();
        while let Ok(Some(info)) = self.fd.read_signal() {
            let signo = info.ssi_signo as i32;
            if signo == SIGNAL_JSON {
                out.push(Request::DumpJson);
                continue;
            }
            if signo == SIGNAL_STATS_CLEAR {
                out.push(Request::DumpStatsClear);
                continue;
            }
            let req = match Signal::try_from(signo) {
                Ok(Signal::SIGTERM | Signal::SIGINT) => Request::Stop,
                Ok(Signal::SIGHUP) => Request::Reload,
                Ok(Signal::SIGUSR1) => Request::DumpData,
                Ok(Signal::SIGUSR2) => Request::DumpStats,
                _ => continue,
            };
            out.push(req);
        }
        out
    }

    /// For the poll loop.
    pub fn fd(&self) -> &SignalFd {
        &self.fd
    }
}

/// Moves the calling thread into the network namespace `ip netns` calls `name`
/// (`/run/netns/NAME`): `-s`, `net_namespace` and `keepalived-rs status -s`. Call it before any
/// other thread starts, so they all inherit it.
pub fn enter_netns(name: &str) -> std::io::Result<()> {
    let file = std::fs::File::open(format!("/run/netns/{name}"))?;
    nix::sched::setns(file, nix::sched::CloneFlags::CLONE_NEWNET).map_err(std::io::Error::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pid_files_are_written_and_removed() {
        let dir = std::env::temp_dir().join(format!("ka-pid-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let a = dir.join("keepalived.pid");
        let b = dir.join("vrrp.pid");
        {
            let _p = PidFiles::write(&[&a, &b]).expect("write");
            let text = std::fs::read_to_string(&a).expect("read");
            assert_eq!(text.trim(), std::process::id().to_string());
            assert!(b.exists());
        }
        assert!(!a.exists() && !b.exists());
    }
}
