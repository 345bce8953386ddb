//! Notify FIFOs (`notify_fifo`, `vrrp_notify_fifo` and their `*_script`): one line per state
//! change, in order, at the cost of a write, for operators who find a process per event too
//! slow or unordered. The line is keepalived's: `INSTANCE "VI_1" MASTER 100`,
//! `GROUP "G" BACKUP 0`.
//!
//! The FIFO is created when missing and opened read-write and non-blocking, so the daemon
//! never waits for a reader and a full FIFO drops the line instead of holding up adverts.

use crate::logging::log;
use crate::scripts::ScriptPolicy;
use ka_config::model::{Config, NotifyFifo};
use ka_vrrp::instance::{generic_notify_args, NotifyTarget, State};
use std::fs::File;
use std::io::Write;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;
use std::process::Child;

/// The open VRRP notify FIFOs and the scripts reading them.
#[derive(Debug, Default)]
pub struct NotifyFifos {
    fifos: Vec<File>,
    readers: Vec<Child>,
}

/// keepalived's FIFO line for a state change.
pub fn fifo_line(target: NotifyTarget, name: &str, state: State, priority: u8) -> String {
    let [kind, name, state, priority] = generic_notify_args(target, name, state, priority);
    format!("{kind} \"{name}\" {state} {priority}\n")
}

impl NotifyFifos {
    /// Opens `notify_fifo` and `vrrp_notify_fifo` (creating them) and starts their scripts.
    pub fn open(cfg: &Config, policy: &ScriptPolicy) -> Self {
        let mut me = Self::default();
        for f in [&cfg.global.notify_fifo, &cfg.global.vrrp_notify_fifo] {
            me.add(f, policy);
        }
        me
    }

    /// Opens `lvs_notify_fifo` and, when `with_general`, `notify_fifo` (the VRRP side opened it
    /// already when it runs), and starts their scripts.
    pub fn open_lvs(cfg: &Config, policy: &ScriptPolicy, with_general: bool) -> Self {
        let mut me = Self::default();
        if with_general {
            me.add(&cfg.global.notify_fifo, policy);
        } else if let Some(path) = cfg.global.notify_fifo.path.as_deref() {
            // Shared with the VRRP side: our own handle, its script already started there.
            let plain = NotifyFifo {
                path: Some(path.to_string()),
                script: None,
                ..cfg.global.notify_fifo.clone()
            };
            me.add(&plain, policy);
        }
        me.add(&cfg.global.lvs_notify_fifo, policy);
        me
    }

    fn add(&mut self, fifo: &NotifyFifo, policy: &ScriptPolicy) {
        let Some(path) = fifo.path.as_deref() else {
            return;
        };
        let file = match open_fifo(Path::new(path), fifo) {
            Ok(f) => f,
            Err(e) => {
                log(&format!("notify FIFO {path}: {e}"));
                return;
            }
        };
        self.fifos.push(file);
        if let Some(script) = &fifo.script {
            let Some(mut launch) = policy.launch(script) else {
                return;
            };
            launch.argv.push(path.to_string());
            match launch.command().map(|mut c| c.spawn()) {
                Some(Ok(child)) => self.readers.push(child),
                Some(Err(e)) => log(&format!("notify FIFO script {}: {e}", script.command)),
                None => {}
            }
        }
    }

    /// Writes one state change to every FIFO; a full FIFO loses the line (logged).
    pub fn write(&mut self, target: NotifyTarget, name: &str, state: State, priority: u8) {
        if self.fifos.is_empty() {
            return;
        }
        let line = fifo_line(target, name, state, priority);
        for f in &mut self.fifos {
            if let Err(e) = f.write_all(line.as_bytes()) {
                log(&format!("notify FIFO write failed ({e}): line lost"));
            }
        }
    }

    /// Writes a ready-made line (events other than state changes).
    pub fn write_line(&mut self, line: &str) {
        for f in &mut self.fifos {
            if let Err(e) = f.write_all(line.as_bytes()) {
                log(&format!("notify FIFO write failed ({e}): line lost"));
            }
        }
    }

    /// Stops the FIFO readers (at exit).
    pub fn stop(&mut self) {
        for child in &mut self.readers {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(child.id() as i32),
                nix::sys::signal::Signal::SIGTERM,
            );
            let _ = child.wait();
        }
        self.readers.clear();
    }
}

/// Creates the FIFO when missing (mode 0644, the configured owner) and opens it.
fn open_fifo(path: &Path, fifo: &NotifyFifo) -> std::io::Result<File> {
    match std::fs::metadata(path) {
        Ok(m) if m.file_type().is_fifo() => {}
        Ok(_) => {
            return Err(std::io::Error::other("exists and is not a FIFO"));
        }
        Err(_) => {
            nix::unistd::mkfifo(path, nix::sys::stat::Mode::from_bits_truncate(0o644))
                .map_err(std::io::Error::from)?;
            if let Some(owner) = &fifo.owner {
                let uid = nix::unistd::User::from_name(&owner.user)
                    .ok()
                    .flatten()
                    .map(|u| u.uid);
                let gid = owner
                    .group
                    .as_deref()
                    .and_then(|g| nix::unistd::Group::from_name(g).ok().flatten())
                    .map(|g| g.gid);
                let _ = nix::unistd::chown(path, uid, gid);
            }
        }
    }
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(nix::fcntl::OFlag::O_NONBLOCK.bits())
        .open(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn lines_are_keepalived_s() {
        assert_eq!(
            fifo_line(NotifyTarget::Instance, "VI_1", State::Master, 100),
            "INSTANCE \"VI_1\" MASTER 100\n"
        );
        assert_eq!(
            fifo_line(NotifyTarget::Group, "G", State::Backup, 100),
            "GROUP \"G\" BACKUP 0\n"
        );
        assert_eq!(
            fifo_line(NotifyTarget::Instance, "VI_1", State::Init, 90),
            "INSTANCE \"VI_1\" STOP 90\n"
        );
    }

    #[test]
    fn a_missing_fifo_is_created_and_written_without_a_reader() {
        let dir = std::env::temp_dir().join(format!("ka-fifo-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join("notify");
        let _ = std::fs::remove_file(&path);
        let mut cfg = Config::default();
        cfg.global.vrrp_notify_fifo.path = Some(path.display().to_string());
        let mut fifos = NotifyFifos::open(&cfg, &ScriptPolicy::permissive());
        fifos.write(NotifyTarget::Instance, "VI_1", State::Master, 100);
        let mut reader = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(nix::fcntl::OFlag::O_NONBLOCK.bits())
            .open(&path)
            .expect("open");
        let mut buf = [0u8; 128];
        let n = reader.read(&mut buf).expect("read");
        assert_eq!(&buf[..n], b"INSTANCE \"VI_1\" MASTER 100\n");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
