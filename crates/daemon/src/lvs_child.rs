//! The checker side in its own process, as keepalived runs it: a storm of checks, a stuck
//! script or a bug in a checker can neither delay nor kill the VRRP side (release builds abort
//! on panic: the child dies, the parent lives). The parent re-executes its own binary with
//! `--checker-child` (plus the original arguments), forwards SIGHUP/SIGUSR1/SIGTERM to it,
//! restarts it when it dies (unless `-R`), and feeds it VRRP instance states on its stdin, one
//! line each (`VI_1 MASTER`), for `lvs_sync_daemon`.

use crate::logging::{log, log_lvs};
use crate::lvs_run::Cmd;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The hidden flag that makes a process the checker child.
pub const CHILD_FLAG: &str = "--checker-child";

/// A child's exit status meaning "cannot run here (no IPVS...): do not restart me".
pub const FATAL_EXIT: u8 = 3;

/// Shared between the supervisor thread, the state forwarder and the handle.
struct Shared {
    /// The running child's pid.
    pid: Mutex<Option<i32>>,
    /// Its stdin, for VRRP states.
    stdin: Mutex<Option<ChildStdin>>,
    /// The latest state of every instance, replayed to a restarted child.
    states: Mutex<BTreeMap<String, bool>>,
    /// Set at stop: no more restarts.
    stopping: AtomicBool,
}

/// The parent's side of the checker child.
pub struct ChildHandle {
    shared: Arc<Shared>,
    states: Sender<Cmd>,
    supervisor: Option<std::thread::JoinHandle<()>>,
    /// The child's control socket (`status` asks it for the LVS side).
    socket: String,
}

fn spawn_child(args: &[String]) -> std::io::Result<Child> {
    let exe = std::env::current_exe()?;
    let mut cmd = Command::new(exe);
    cmd.arg(CHILD_FLAG).args(args).stdin(Stdio::piped());
    // The parent blocks its signals for its signalfd; the child installs its own.
    ka_sys::sched::unblock_signals_in_child(&mut cmd);
    cmd.spawn()
}

fn send_states(shared: &Shared) {
    let states = match shared.states.lock() {
        Ok(s) => s.clone(),
        Err(e) => e.into_inner().clone(),
    };
    let mut stdin = shared.stdin.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(w) = stdin.as_mut() {
        for (name, master) in states {
            let _ = writeln!(w, "{name} {}", if master { "MASTER" } else { "BACKUP" });
        }
        let _ = w.flush();
    }
}

impl ChildHandle {
    /// Starts the child with `args` (the parent's own arguments) and its supervisor.
    pub fn start(args: Vec<String>, respawn: bool, socket: String) -> std::io::Result<ChildHandle> {
        let shared = Arc::new(Shared {
            pid: Mutex::new(None),
            stdin: Mutex::new(None),
            states: Mutex::new(BTreeMap::new()),
            stopping: AtomicBool::new(false),
        });
        let first = spawn_child(&args)?;
        crate::logging::log_main(&format!(
            "Starting Healthcheck child process, pid={}",
            first.id()
        ));
        let sup_shared = Arc::clone(&shared);
        let supervisor = std::thread::Builder::new()
            .name("checker-child".into())
            .spawn(move || supervise(first, args, respawn, &sup_shared))?;
        // VRRP states: the VRRP thread sends without blocking; this thread writes the pipe.
        let (tx, rx) = channel::<Cmd>();
        let fwd_shared = Arc::clone(&shared);
        std::thread::Builder::new()
            .name("checker-states".into())
            .spawn(move || {
                while let Ok(cmd) = rx.recv() {
                    if let Cmd::VrrpState { instance, master } = cmd {
                        fwd_shared
                            .states
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .insert(instance.clone(), master);
                        let mut stdin = fwd_shared.stdin.lock().unwrap_or_else(|e| e.into_inner());
                        if let Some(w) = stdin.as_mut() {
                            let _ = writeln!(
                                w,
                                "{instance} {}",
                                if master { "MASTER" } else { "BACKUP" }
                            );
                            let _ = w.flush();
                        }
                    }
                }
            })?;
        Ok(ChildHandle {
            shared,
            states: tx,
            supervisor: Some(supervisor),
            socket,
        })
    }

    /// The child's control socket name.
    pub fn socket_name(&self) -> String {
        self.socket.clone()
    }

    fn signal(&self, sig: Signal) {
        let pid = *self.shared.pid.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(pid) = pid {
            let _ = kill(Pid::from_raw(pid), sig);
        }
    }

    /// SIGHUP: the child re-reads the configuration itself.
    pub fn reload(&self) {
        self.signal(Signal::SIGHUP);
    }

    /// SIGUSR1: the child writes `keepalived_check.data`.
    pub fn dump(&self) {
        self.signal(Signal::SIGUSR1);
    }

    /// Where the VRRP side posts instance states.
    pub fn state_sender(&self) -> Sender<Cmd> {
        self.states.clone()
    }

    /// SIGTERM, and wait (bounded) for the child to clean up and exit; SIGKILL after that.
    pub fn stop(mut self, limit: Duration) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        self.signal(Signal::SIGTERM);
        let deadline = Instant::now() + limit;
        if let Some(sup) = self.supervisor.take() {
            while !sup.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            if !sup.is_finished() {
                log_lvs("Healthcheck child did not stop in time: killing it");
                self.signal(Signal::SIGKILL);
            }
            let _ = sup.join();
        }
    }
}

/// Waits for the child; restarts it when it dies on its own (keepalived's parent does, unless
/// `--dont-respawn`), at most once a second.
fn supervise(mut child: Child, args: Vec<String>, respawn: bool, shared: &Shared) {
    loop {
        *shared.pid.lock().unwrap_or_else(|e| e.into_inner()) = i32::try_from(child.id()).ok();
        *shared.stdin.lock().unwrap_or_else(|e| e.into_inner()) = child.stdin.take();
        send_states(shared);
        let started = Instant::now();
        let status = child.wait();
        *shared.pid.lock().unwrap_or_else(|e| e.into_inner()) = None;
        *shared.stdin.lock().unwrap_or_else(|e| e.into_inner()) = None;
        if shared.stopping.load(Ordering::SeqCst) {
            return;
        }
        let how = match &status {
            Ok(s) => s.to_string(),
            Err(e) => e.to_string(),
        };
        if matches!(&status, Ok(s) if s.code() == Some(i32::from(FATAL_EXIT))) {
            log("Healthcheck child process cannot run: not respawning it (the VRRP side goes on)");
            return;
        }
        if !respawn {
            log(&format!(
                "Healthcheck child process died ({how}): not respawning (--dont-respawn)"
            ));
            return;
        }
        log(&format!(
            "Healthcheck child process died ({how}): respawning"
        ));
        if let Some(rest) = Duration::from_secs(1).checked_sub(started.elapsed()) {
            std::thread::sleep(rest);
        }
        if shared.stopping.load(Ordering::SeqCst) {
            return;
        }
        match spawn_child(&args) {
            Ok(c) => {
                crate::logging::log_main(&format!(
                    "Starting Healthcheck child process, pid={}",
                    c.id()
                ));
                child = c;
            }
            Err(e) => {
                log(&format!("cannot restart the Healthcheck child: {e}"));
                return;
            }
        }
    }
}

/// In the child: reads VRRP states from stdin and posts them to the LVS thread. Ends when the
/// parent goes away (stdin closes) — then the child stops itself, as keepalived's children do.
pub fn read_states(tx: Sender<Cmd>, on_parent_gone: Box<dyn FnOnce() + Send>) {
    let spawned = std::thread::Builder::new()
        .name("vrrp-states".into())
        .spawn(move || {
            let stdin = std::io::stdin();
            for line in stdin.lock().lines() {
                let Ok(line) = line else { break };
                let mut words = line.split_whitespace();
                if let (Some(name), Some(state)) = (words.next(), words.next()) {
                    let _ = tx.send(Cmd::VrrpState {
                        instance: name.to_string(),
                        master: state == "MASTER",
                    });
                }
            }
            on_parent_gone();
        });
    if let Err(e) = spawned {
        log_lvs(&format!("cannot read VRRP states: {e}"));
    }
}
