//! The LVS side of the daemon, on its own thread: it programs IPVS from the `virtual_server`
//! blocks, keeps the pools in step with checker verdicts, repairs our services when another
//! tool removes them, and runs the notifications (log lines with ident
//! `Keepalived_healthcheckers`, notify scripts, FIFO lines, mail).
//!
//! Nothing here runs on the VRRP thread: a slow netlink dump or a script start never delays
//! an advert. The VRRP loop (or, without VRRP instances, [`run_alone`]) forwards reload and
//! stop to this thread through an [`LvsHandle`].

use crate::logging::log_lvs;
use crate::lvs_checks::{self, CheckReport};
use crate::mail::{MailSettings, Mailer};
use crate::notify_fifo::NotifyFifos;
use crate::scripts::ScriptPolicy;
use ka_config::model::{Config, LvsFlushOnStop};
use ka_lvs::backend::{keepalived_text, Backend, IpvsError};
use ka_lvs::model::LvsModel;
use ka_lvs::pool::{Effect, Pool, RsCause};
use ka_lvs::reconcile::{adopt, adopt_new, plan, record, Repairer};
use ka_lvs::{MemoryBackend, Op, SyncDaemon, SyncRole, Table, Timeouts};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

/// Between two comparisons of our services with the kernel's table (at least; a big table is
/// compared less often, a millisecond per destination, so the dump stays a small load).
const REPAIR_INTERVAL: Duration = Duration::from_secs(5);

fn repair_interval(table: &Table) -> Duration {
    REPAIR_INTERVAL.max(Duration::from_millis(table.dest_count() as u64))
}

/// Messages to the LVS thread.
pub enum Cmd {
    /// A checker's report.
    Check(CheckReport),
    /// A new configuration (SIGHUP).
    Reload(Box<Config>),
    /// Shut down; answered when done.
    Stop(Sender<()>),
    /// SIGUSR1: write `keepalived_check.data`.
    Dump,
    /// `keepalived-rs status` or `/metrics`: the LVS side's snapshot.
    Status(Sender<serde_json::Value>),
    /// A VRRP instance changed state (for `lvs_sync_daemon`).
    VrrpState {
        /// Instance name.
        instance: String,
        /// Whether it is master now.
        master: bool,
    },
}

/// Which backend programs IPVS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendKind {
    /// The kernel, over generic netlink.
    Kernel,
    /// An in-memory table (`--ipvs-backend=memory`): a dry run that logs every operation.
    Memory,
}

/// Start-up options of the LVS side.
#[derive(Debug, Clone)]
pub struct LvsOptions {
    /// Backend.
    pub backend: BackendKind,
    /// `-I`: leave the IPVS table as it is at stop.
    pub keep_on_stop: bool,
    /// Whether the VRRP side runs too (it starts the `notify_fifo` script then).
    pub with_vrrp: bool,
}

/// The running LVS side: a thread of this process, or the checker child process.
pub enum LvsHandle {
    /// In this process (no VRRP side, or `-C`).
    Thread {
        /// Its inbox.
        tx: Sender<Cmd>,
        /// The thread.
        thread: Option<std::thread::JoinHandle<()>>,
    },
    /// In a child process supervised by this one (beside the VRRP side).
    Child(crate::lvs_child::ChildHandle),
}

impl LvsHandle {
    /// Hands a reloaded configuration over (the child re-reads the file itself).
    pub fn reload(&self, cfg: &Config) {
        match self {
            LvsHandle::Thread { tx, .. } => {
                let _ = tx.send(Cmd::Reload(Box::new(cfg.clone())));
            }
            LvsHandle::Child(c) => c.reload(),
        }
    }

    /// Where the VRRP side reports instance state changes (a send never blocks).
    pub fn state_sender(&self) -> Sender<Cmd> {
        match self {
            LvsHandle::Thread { tx, .. } => tx.clone(),
            LvsHandle::Child(c) => c.state_sender(),
        }
    }

    /// Where `status` asks for the LVS side's snapshot (cloned into the control thread).
    pub fn status_source(&self) -> StatusSource {
        match self {
            LvsHandle::Thread { tx, .. } => StatusSource::Thread(tx.clone()),
            LvsHandle::Child(c) => StatusSource::Child(c.socket_name()),
        }
    }

    /// Asks for the data dump.
    pub fn dump(&self) {
        match self {
            LvsHandle::Thread { tx, .. } => {
                let _ = tx.send(Cmd::Dump);
            }
            LvsHandle::Child(c) => c.dump(),
        }
    }

    /// Stops the LVS side and waits (bounded) for it to clean up.
    pub fn stop(self, limit: Duration) {
        match self {
            LvsHandle::Thread { tx, mut thread } => {
                let (done_tx, done_rx) = channel();
                if tx.send(Cmd::Stop(done_tx)).is_ok() {
                    let _ = done_rx.recv_timeout(limit);
                }
                if let Some(t) = thread.take() {
                    if t.is_finished() {
                        let _ = t.join();
                    }
                }
            }
            LvsHandle::Child(c) => c.stop(limit),
        }
    }
}

/// How the control thread reaches the LVS side.
#[derive(Clone)]
pub enum StatusSource {
    /// The LVS thread in this process.
    Thread(Sender<Cmd>),
    /// The checker child, on its control socket.
    Child(String),
}

impl StatusSource {
    /// The LVS snapshot, or `{"error": ...}` when it does not answer in time.
    pub fn fetch(&self) -> serde_json::Value {
        let wait = crate::control::ANSWER_WAIT;
        match self {
            StatusSource::Thread(tx) => {
                let (reply, rx) = channel();
                if tx.send(Cmd::Status(reply)).is_err() {
                    return serde_json::json!({"error": "the LVS side has stopped"});
                }
                rx.recv_timeout(wait).unwrap_or_else(
                    |_| serde_json::json!({"error": "the LVS side did not answer in time"}),
                )
            }
            StatusSource::Child(name) => match crate::control::query(name, wait) {
                Ok(mut doc) => doc["lvs"].take(),
                Err(e) => serde_json::json!({"error": format!("the checker process: {e}")}),
            },
        }
    }
}

/// Why the LVS side could not start.
#[derive(Debug)]
pub struct Unavailable(pub String);

fn open_backend(kind: BackendKind) -> Result<Box<dyn Backend>, IpvsError> {
    match kind {
        BackendKind::Memory => Ok(Box::new(MemoryBackend::new())),
        BackendKind::Kernel => match ka_lvs::KernelBackend::open() {
            Ok(b) => Ok(Box::new(b)),
            Err(_) => {
                // As keepalived does: load the module and try once more.
                let _ = std::process::Command::new("modprobe")
                    .arg("ip_vs")
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::null())
                    .status();
                Ok(Box::new(ka_lvs::KernelBackend::open()?))
            }
        },
    }
}

/// Starts the LVS side for `cfg`: None when there is no `virtual_server` (IPVS is never
/// touched then), an error when IPVS cannot be used.
pub fn start(cfg: &Config, opts: LvsOptions) -> Result<Option<LvsHandle>, Unavailable> {
    if cfg.virtual_servers.is_empty() {
        return Ok(None);
    }
    let backend = open_backend(opts.backend).map_err(|e| {
        Unavailable(format!(
            "IPVS: cannot initialise ({e}); is the ip_vs kernel module available (modprobe ip_vs)? The LVS side is not running"
        ))
    })?;
    let (tx, rx) = channel();
    let me = tx.clone();
    let cfg = cfg.clone();
    let thread = std::thread::Builder::new()
        .name("lvs".into())
        .spawn(move || {
            let _ = ka_sys::sched::set_current_thread_normal();
            Lvs::start(cfg, backend, opts, me).run(rx);
        })
        .map_err(|e| Unavailable(format!("cannot start the LVS thread: {e}")))?;
    Ok(Some(LvsHandle::Thread {
        tx,
        thread: Some(thread),
    }))
}

/// Notifications of the LVS side.
struct Notifier {
    fifos: NotifyFifos,
    policy: ScriptPolicy,
    mailer: Option<(Mailer, String)>,
    /// The last checker verdict's mail body per (virtual server, real server) name.
    mail_bodies: std::collections::HashMap<(String, String), String>,
    /// Set at shutdown: scripts started from then on are waited for (briefly).
    stopping: bool,
    /// The reapers of scripts started at shutdown (omega notifies).
    shutdown_scripts: Vec<std::thread::JoinHandle<()>>,
}

impl Notifier {
    fn new(cfg: &Config, with_vrrp: bool) -> Notifier {
        let policy = ScriptPolicy::from_config(cfg);
        Notifier {
            fifos: NotifyFifos::open_lvs(cfg, &policy, !with_vrrp),
            mailer: MailSettings::from_config(cfg).and_then(|m| {
                let router_id = m.router_id.clone();
                Mailer::start(m).ok().map(|mailer| (mailer, router_id))
            }),
            policy,
            mail_bodies: Default::default(),
            stopping: false,
            shutdown_scripts: Vec::new(),
        }
    }

    fn run_script(&mut self, script: &ka_config::model::script::Script) {
        let Some(launch) = self.policy.launch(script) else {
            return;
        };
        if let Some(mut cmd) = launch.command() {
            match cmd.spawn() {
                Ok(mut child) => {
                    let reaper = std::thread::spawn(move || {
                        let _ = child.wait();
                    });
                    if self.stopping {
                        self.shutdown_scripts.push(reaper);
                    }
                }
                Err(e) => log_lvs(&format!("cannot run {}: {e}", script.command)),
            }
        }
    }

    /// keepalived logs a transition before it touches IPVS: the log lines of a batch go out
    /// first, then the caller programs IPVS, then [`Notifier::effects`] runs the notifications.
    fn logs(&self, fx: &[Effect]) {
        for e in fx {
            if let Effect::Log(line) = e {
                log_lvs(line);
            }
        }
    }

    /// Runs the notifications of a batch (its log lines went out already).
    fn effects(&mut self, fx: Vec<Effect>) {
        for e in fx {
            match e {
                Effect::Log(_) => {}
                Effect::RealServer(n) => {
                    let state = if n.up { "UP" } else { "DOWN" };
                    self.fifos
                        .write_line(&format!("RS {} {} {state}\n", n.rs_name, n.vs_name));
                    if let Some(s) = &n.script {
                        self.run_script(s);
                    }
                    if let (true, Some((mailer, router_id))) = (n.smtp_alert, &self.mailer) {
                        let from_checker = self
                            .mail_bodies
                            .get(&(n.vs_name.clone(), n.rs_name.clone()))
                            .cloned();
                        let body = match (n.cause, n.up) {
                            (RsCause::Check, up) => from_checker
                                .unwrap_or_else(|| crate::lvs_checks::mail_text("", up, "")),
                            (RsCause::Removed, _) => "=> Removing <=".into(),
                            (RsCause::Shutdown, _) => "=> Shutting down <=".into(),
                        };
                        mailer.alert(
                            format!(
                                "[{router_id}] Realserver {} of virtual server {} - {state}",
                                n.rs_name, n.vs_name
                            ),
                            body,
                        );
                    }
                }
                Effect::Quorum(n) => {
                    let state = if n.up { "UP" } else { "DOWN" };
                    self.fifos
                        .write_line(&format!("VS {} {state}\n", n.vs_name));
                    if let Some(s) = &n.script {
                        self.run_script(s);
                    }
                    if let (true, Some((mailer, router_id))) = (n.smtp_alert, &self.mailer) {
                        mailer.alert(
                            format!("[{router_id}] Virtualserver {} - {state}", n.vs_name),
                            format!("=> {} <=", n.text),
                        );
                    }
                }
            }
        }
    }
}

/// The LVS thread's state.
struct Lvs {
    cfg: Config,
    backend: Box<dyn Backend>,
    opts: LvsOptions,
    pool: Pool,
    believed: Table,
    repairer: Repairer,
    notifier: Notifier,
    saved_timeouts: Option<Timeouts>,
    engine: lvs_checks::Engine,
    me: Sender<Cmd>,
    started: Instant,
    dry_run: bool,
    /// Sync daemons we started (stopped at exit).
    sync_roles: Vec<SyncRole>,
    /// `ping_group_range` as it was before we widened it for PING_CHECK (restored at exit).
    ping_range: Option<String>,
    /// IPVS operations sent and refused since start (metrics).
    ipvs_ops: u64,
    ipvs_errors: u64,
}

/// PING_CHECK needs ping sockets: widen `net.ipv4.ping_group_range` as keepalived does (fresh
/// namespaces say "1 0": nobody). Returns the value to restore at exit.
fn allow_ping_sockets(model: &LvsModel) -> Option<String> {
    let any_ping = model
        .virtual_servers
        .iter()
        .flat_map(|v| &v.real_servers)
        .flat_map(|r| &r.checkers)
        .any(|c| matches!(c.config.kind, ka_config::model::lvs::CheckerKind::Ping));
    if !any_ping {
        return None;
    }
    match ka_check::ping::ensure_ping_group_range() {
        Ok(Some(prev)) => {
            if let Some(w) = ka_check::ping::widening_warning(&prev) {
                log_lvs(&w);
            }
            Some(prev)
        }
        Ok(None) => None,
        Err(e) => {
            log_lvs(&format!(
                "PING_CHECK: cannot allow ping sockets ({}): {e}",
                ka_check::ping::PING_GROUP_RANGE
            ));
            None
        }
    }
}

/// Every checker holds a socket while it runs: raise the soft open-file limit to what the
/// configuration needs (keepalived's rule: 17 + checkers + 10), up to the hard limit.
fn raise_open_file_limit(cfg: &Config) {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let checkers: u64 = cfg
        .virtual_servers
        .iter()
        .flat_map(|v| &v.real_servers)
        .map(|r| r.checkers.len() as u64)
        .sum();
    let need = 17 + checkers + 10;
    if let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
        if soft < need {
            let want = need.min(hard);
            if let Err(e) = setrlimit(Resource::RLIMIT_NOFILE, want, hard) {
                log_lvs(&format!("cannot raise the open-file limit to {want}: {e}"));
            } else if want < need {
                log_lvs(&format!(
                    "open-file limit {hard} is below the {need} the checkers need"
                ));
            }
        }
    }
}

/// The configuration as the LVS thread keeps it: the virtual servers live on in the pool's
/// model, so the parsed copies go (12,000 real servers cost tens of MiB per copy).
fn slim(mut cfg: Config) -> Config {
    cfg.virtual_servers = Vec::new();
    cfg.virtual_server_groups = Vec::new();
    cfg
}

/// keepalived's line for a failed IPVS command.
fn error_line(op: &Op, e: &IpvsError) -> String {
    let (name, number) = op.sockopt();
    match e.errno() {
        Some(errno) => format!(
            "IPVS cmd {name}({number}) error: {}({errno}) ({op})",
            keepalived_text(op, errno)
        ),
        None => format!("IPVS cmd {name}({number}) error: {e} ({op})"),
    }
}

impl Lvs {
    fn start(cfg: Config, mut backend: Box<dyn Backend>, opts: LvsOptions, me: Sender<Cmd>) -> Lvs {
        let dry_run = opts.backend == BackendKind::Memory;
        log_lvs("Initializing ipvs");
        if dry_run {
            log_lvs("IPVS: --ipvs-backend=memory: nothing reaches the kernel; every operation is logged");
        }
        let mut saved_timeouts = None;
        if let Some(t) = cfg.global.lvs.timeouts {
            saved_timeouts = backend.timeouts().ok();
            let op = Op::SetTimeouts(Timeouts {
                tcp: t.tcp.unwrap_or(0),
                tcp_fin: t.tcp_fin.unwrap_or(0),
                udp: t.udp.unwrap_or(0),
            });
            if let Err(e) = backend.apply(&op) {
                log_lvs(&error_line(&op, &e));
            }
        }
        if cfg.global.lvs.flush {
            if let Err(e) = backend.apply(&Op::Flush) {
                log_lvs(&error_line(&Op::Flush, &e));
            }
        }
        let (model, warnings) = LvsModel::from_config(&cfg);
        for w in warnings {
            log_lvs(&w);
        }
        let (pool, fx) = Pool::start(model, cfg.global.lvs.rs_init_notifies);
        let kernel = backend.dump().unwrap_or_else(|e| {
            log_lvs(&format!("IPVS: cannot read the kernel's table: {e}"));
            Table::default()
        });
        let desired = pool.desired();
        let believed = adopt(&desired, &kernel);
        for key in believed.services.keys() {
            log_lvs(&format!(
                "IPVS service {key} already exists in the kernel: adopting it as found"
            ));
        }
        raise_open_file_limit(&cfg);
        let notifier = Notifier::new(&cfg, opts.with_vrrp);
        let engine = match lvs_checks::Engine::start() {
            Ok(e) => e,
            Err(e) => {
                log_lvs(&format!("cannot start the checker engine: {e}"));
                std::process::exit(1);
            }
        };
        let mut me_ = Lvs {
            cfg: slim(cfg),
            backend,
            opts,
            pool,
            believed,
            repairer: Repairer::new(),
            notifier,
            saved_timeouts,
            engine,
            me,
            started: Instant::now(),
            dry_run,
            sync_roles: Vec::new(),
            ping_range: None,
            ipvs_ops: 0,
            ipvs_errors: 0,
        };
        me_.ping_range = allow_ping_sockets(me_.pool.model());
        me_.notifier.logs(&fx);
        let t0 = Instant::now();
        let sent0 = me_.backend.messages_sent();
        let n = me_.sync();
        log_lvs(&format!(
            "IPVS: {n} operations at start in {:.1} ms ({} netlink requests)",
            t0.elapsed().as_secs_f64() * 1000.0,
            me_.backend.messages_sent() - sent0
        ));
        me_.notifier.effects(fx);
        // Settings that differ in adopted entries are reported once, now.
        me_.repair();
        me_.spawn_checkers(false);
        me_.start_sync_daemons();
        me_
    }

    /// The IPVS sync daemon of `role` as configured (`lvs_sync_daemon`).
    fn sync_daemon(&self, role: SyncRole) -> Option<SyncDaemon> {
        let sd = self.cfg.global.lvs.sync_daemon.as_ref()?;
        // The sync id defaults to the named instance's VRID, else 0.
        let vrid = sd.instance.as_ref().and_then(|name| {
            self.cfg
                .instances
                .iter()
                .find(|i| &i.name == name)
                .map(|i| u32::from(i.virtual_router_id))
        });
        Some(SyncDaemon {
            role,
            interface: sd.interface.clone(),
            sync_id: sd.sync_id.or(vrid).unwrap_or(0),
            maxlen: sd.maxlen,
            group: sd.group,
            port: sd.port,
            ttl: sd.ttl,
        })
    }

    fn set_sync_role(&mut self, role: SyncRole, on: bool) {
        let running = self.sync_roles.contains(&role);
        if on && !running {
            if let Some(d) = self.sync_daemon(role) {
                log_lvs(&format!(
                    "Starting IPVS sync daemon as {} on {} (syncid {})",
                    if role == SyncRole::Master {
                        "master"
                    } else {
                        "backup"
                    },
                    d.interface,
                    d.sync_id
                ));
                if self.apply(&Op::StartDaemon(d)) {
                    self.sync_roles.push(role);
                }
            }
        } else if !on && running {
            self.apply(&Op::StopDaemon(role));
            self.sync_roles.retain(|r| *r != role);
        }
    }

    /// At start: with an instance named, backup until that instance is master (VRRP tells us);
    /// without one (or without VRRP), both roles. Stale daemons are stopped first.
    fn start_sync_daemons(&mut self) {
        let Some(sd) = self.cfg.global.lvs.sync_daemon.clone() else {
            return;
        };
        if let Ok(running) = self.backend.daemons() {
            for d in running {
                let _ = self.backend.apply(&Op::StopDaemon(d.role));
            }
        }
        match (&sd.instance, self.opts.with_vrrp) {
            (Some(_), true) => self.set_sync_role(SyncRole::Backup, true),
            _ => {
                self.set_sync_role(SyncRole::Master, true);
                self.set_sync_role(SyncRole::Backup, true);
            }
        }
    }

    fn vrrp_state(&mut self, instance: &str, master: bool) {
        let follows = self
            .cfg
            .global
            .lvs
            .sync_daemon
            .as_ref()
            .and_then(|s| s.instance.as_deref())
            == Some(instance);
        if !follows || !self.opts.with_vrrp {
            return;
        }
        if master {
            self.set_sync_role(SyncRole::Backup, false);
            self.set_sync_role(SyncRole::Master, true);
        } else {
            self.set_sync_role(SyncRole::Master, false);
            self.set_sync_role(SyncRole::Backup, true);
        }
    }

    fn spawn_checkers(&self, carried: bool) {
        let state = self.pool.state();
        let verdicts = |v: usize, r: usize, c: usize| -> (bool, bool) {
            let up = state
                .get(v)
                .and_then(|s| s.rs.get(r))
                .and_then(|s| s.checkers_up.get(c))
                .copied()
                .unwrap_or(true);
            (up, carried && up)
        };
        for vs in &self.pool.model().virtual_servers {
            let asleep = lvs_checks::suspend_address(vs).is_some_and(|a| !lvs_checks::is_local(a));
            for rs in &vs.real_servers {
                log_lvs(&format!(
                    "{} healthchecker for service {} for VS {}",
                    if asleep { "Deactivating" } else { "Activating" },
                    rs.name,
                    vs.name
                ));
            }
        }
        let any_ssl = self
            .pool
            .model()
            .virtual_servers
            .iter()
            .flat_map(|v| &v.real_servers)
            .flat_map(|r| &r.checkers)
            .any(|c| matches!(c.config.kind, ka_config::model::lvs::CheckerKind::Ssl(_)));
        let tls = if any_ssl {
            match ka_check::tls::TlsContext::new(
                ka_check::tls::SslSettings::from_config(&self.cfg).as_ref(),
            ) {
                Ok(t) => Some(t),
                Err(e) => {
                    log_lvs(&e);
                    None
                }
            }
        } else {
            None
        };
        lvs_checks::spawn_all(
            &self.engine,
            &self.pool.model().virtual_servers,
            &verdicts,
            &self.notifier.policy,
            tls.as_ref(),
            self.cfg.global.lvs.checker_log_all_failures,
            &self.me,
        );
        lvs_checks::spawn_file_checks(
            &self.engine,
            &self.pool.model().virtual_servers,
            &self.cfg.track_files,
            &self.me,
        );
    }

    fn apply(&mut self, op: &Op) -> bool {
        if self.dry_run {
            log_lvs(&format!("IPVS (dry run): {op:?}"));
        }
        self.ipvs_ops += 1;
        match self.backend.apply(op) {
            Ok(()) => true,
            Err(e) if e.is_benign_for(op) => {
                log_lvs(&error_line(op, &e));
                true
            }
            Err(e) => {
                // keepalived retries a SET_DEST that finds no destination as NEW_DEST.
                if let (Op::EditDest(k, d, s), Some(ka_lvs::backend::errno::ENOENT)) =
                    (op, e.errno())
                {
                    let add = Op::AddDest(*k, *d, *s);
                    if self.backend.apply(&add).is_ok() {
                        return true;
                    }
                }
                self.ipvs_errors += 1;
                log_lvs(&error_line(op, &e));
                false
            }
        }
    }

    /// Programs the difference between what we believe the kernel has and what the pools want,
    /// pipelined (the kernel still answers each operation). Returns how many operations ran.
    fn sync(&mut self) -> usize {
        let desired = self.pool.desired();
        let ops = plan(&self.believed, &desired);
        if ops.is_empty() {
            return 0;
        }
        if self.dry_run {
            for op in &ops {
                log_lvs(&format!("IPVS (dry run): {op:?}"));
            }
        }
        self.ipvs_ops += ops.len() as u64;
        let results = self.backend.apply_batch(&ops);
        for (op, result) in ops.iter().zip(results) {
            let ok = match result {
                Ok(()) => true,
                Err(e) if e.is_benign_for(op) => {
                    log_lvs(&error_line(op, &e));
                    true
                }
                Err(e) => {
                    // keepalived retries a SET_DEST that finds no destination as NEW_DEST.
                    let retried = match (op, e.errno()) {
                        (Op::EditDest(k, d, s), Some(ka_lvs::backend::errno::ENOENT)) => {
                            self.backend.apply(&Op::AddDest(*k, *d, *s)).is_ok()
                        }
                        _ => false,
                    };
                    if !retried {
                        self.ipvs_errors += 1;
                        log_lvs(&error_line(op, &e));
                    }
                    retried
                }
            };
            if ok {
                record(&mut self.believed, op);
            }
        }
        ops.len()
    }

    /// Compares with the kernel: re-creates what another tool removed, reports drift.
    fn repair(&mut self) {
        let Ok(kernel) = self.backend.dump() else {
            return;
        };
        let model = self.pool.model();
        let names = |k: &ka_lvs::ServiceKey| {
            model
                .virtual_servers
                .iter()
                .find(|v| v.services.iter().any(|(s, _)| s == k))
                .map_or_else(|| k.to_string(), |v| v.name.clone())
        };
        let now_ms = self.started.elapsed().as_millis() as u64;
        let rep = self.repairer.round(&self.believed, &kernel, now_ms, &names);
        for l in &rep.logs {
            log_lvs(l);
        }
        for op in rep.ops {
            if self.apply(&op) {
                record(&mut self.believed, &op);
            }
        }
        // Operations that failed earlier are tried again.
        self.sync();
    }

    fn reload(&mut self, cfg: Config) {
        log_lvs("Reloading");
        log_lvs("Reinitializing ipvs");
        self.engine.next_generation();
        let (model, warnings) = LvsModel::from_config(&cfg);
        for w in warnings {
            log_lvs(&w);
        }
        let fx = self.pool.reload(model);
        self.notifier.logs(&fx);
        let desired = self.pool.desired();
        // Only services new to us may already exist in the kernel: no dump otherwise (a dump of
        // 10,000 destinations costs more than the reload itself).
        let new_services = desired
            .services
            .keys()
            .any(|k| !self.believed.services.contains_key(k));
        if new_services {
            if let Ok(kernel) = self.backend.dump() {
                adopt_new(&mut self.believed, &desired, &kernel);
            }
        }
        let t0 = Instant::now();
        let sent0 = self.backend.messages_sent();
        let n = self.sync();
        log_lvs(&format!(
            "IPVS: {n} operations at reload in {:.1} ms ({} netlink requests)",
            t0.elapsed().as_secs_f64() * 1000.0,
            self.backend.messages_sent() - sent0
        ));
        self.notifier.fifos.stop();
        self.notifier = Notifier::new(&cfg, self.opts.with_vrrp);
        self.notifier.effects(fx);
        self.cfg = slim(cfg);
        self.spawn_checkers(true);
    }

    fn stop(&mut self) {
        self.engine.next_generation();
        if self.opts.keep_on_stop {
            log_lvs("Stopping: IPVS table left as it is (-I)");
        } else {
            let fx = self.pool.shutdown();
            self.notifier.logs(&fx);
            self.notifier.stopping = true;
            self.notifier.effects(fx);
            match self.cfg.global.lvs.flush_on_stop {
                Some(LvsFlushOnStop::All) => {
                    self.apply(&Op::Flush);
                }
                Some(LvsFlushOnStop::VirtualServers) => {
                    let keys: Vec<_> = self.believed.services.keys().copied().collect();
                    for k in keys {
                        self.apply(&Op::DelService(k));
                    }
                }
                None => {
                    let empty = Table::default();
                    for op in plan(&self.believed, &empty) {
                        if self.apply(&op) {
                            record(&mut self.believed, &op);
                        }
                    }
                }
            }
            if let Some(t) = self.saved_timeouts {
                self.apply(&Op::SetTimeouts(t));
            }
            for role in std::mem::take(&mut self.sync_roles) {
                self.apply(&Op::StopDaemon(role));
            }
            // Shutdown notifies (omega) get a second to finish, as keepalived gives them, so a
            // service manager that kills the rest of the group at our exit does not cut them.
            let deadline = Instant::now() + Duration::from_secs(1);
            for reaper in std::mem::take(&mut self.notifier.shutdown_scripts) {
                while !reaper.is_finished() && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
        }
        self.notifier.fifos.stop();
        if let Some(prev) = self.ping_range.take() {
            ka_check::ping::restore_ping_group_range(&prev);
        }
    }

    fn dump_data(&self) {
        let mut out = String::new();
        out.push_str("------< IPVS Topology >------\n");
        for (vs, st) in self
            .pool
            .model()
            .virtual_servers
            .iter()
            .zip(self.pool.state())
        {
            out.push_str(&format!(
                " VS = {}, quorum {} hysteresis {} ({}), sorry server {}\n",
                vs.name,
                vs.quorum,
                vs.hysteresis,
                if st.quorum_up { "up" } else { "down" },
                match (&vs.sorry, st.sorry_in) {
                    (Some(s), true) => format!("{} in use", s.name),
                    (Some(s), false) => format!("{} not in use", s.name),
                    (None, _) => "none".into(),
                }
            ));
            for (rs, rst) in vs.real_servers.iter().zip(&st.rs) {
                out.push_str(&format!(
                    "   RS = {}, weight {}{}, {}, checkers {}\n",
                    rs.name,
                    rs.weight,
                    match rst.weight_deltas.iter().sum::<i64>() {
                        0 => String::new(),
                        d => format!(" ({d:+})"),
                    },
                    if rst.alive { "alive" } else { "down" },
                    rst.checkers_up
                        .iter()
                        .zip(&rs.checkers)
                        .map(|(u, c)| format!("{}={}", c.kind, if *u { "up" } else { "down" }))
                        .collect::<Vec<_>>()
                        .join(" ")
                ));
            }
        }
        let path = crate::status::dump_dir().join("keepalived_check.data");
        if let Err(e) = std::fs::write(&path, out) {
            log_lvs(&format!("cannot write {}: {e}", path.display()));
        }
    }

    /// The LVS side for `keepalived-rs status` and `/metrics`: virtual servers with quorum,
    /// real servers with weight, checkers with their last result, and the kernel's counters
    /// (read now: one dump of our services).
    fn status(&mut self) -> serde_json::Value {
        use serde_json::json;
        let records = lvs_checks::records(self.engine.generation());
        let now = Instant::now();
        let mut vss = Vec::new();
        let all_services = self.backend.services().unwrap_or_default();
        let model = self.pool.model();
        for (vi, (vs, st)) in model
            .virtual_servers
            .iter()
            .zip(self.pool.state())
            .enumerate()
        {
            let mut dests: Vec<ka_lvs::table::Dest> = Vec::new();
            let mut services = Vec::new();
            for (key, _) in &vs.services {
                let svc = all_services.iter().find(|s| &s.key == key);
                let in_kernel = svc.is_some();
                let stats = svc.map(|s| s.stats).unwrap_or_default();
                if in_kernel {
                    dests.extend(self.backend.dests(key).unwrap_or_default());
                }
                services.push(json!({
                    "service": key.to_string(),
                    "in_kernel": in_kernel,
                    "stats": stats_json(&stats),
                }));
            }
            let mut rss = Vec::new();
            for (ri, (rs, rst)) in vs.real_servers.iter().zip(&st.rs).enumerate() {
                let mine: Vec<&ka_lvs::table::Dest> =
                    dests.iter().filter(|d| d.key == rs.key).collect();
                let mut stats = ka_lvs::table::Stats::default();
                for d in &mine {
                    add_stats(&mut stats, &d.stats);
                }
                let checkers: Vec<serde_json::Value> = rs
                    .checkers
                    .iter()
                    .enumerate()
                    .map(|(ci, c)| {
                        let rec = records.get(&(vi, ri, ci));
                        json!({
                            "kind": c.kind,
                            "up": rst.checkers_up.get(ci).copied().unwrap_or(false),
                            "passed": rec.map_or(0, |r| r.passed),
                            "failed": rec.map_or(0, |r| r.failed),
                            "last": rec.and_then(|r| r.last.as_ref()).map(|(ok, reason, at)| json!({
                                "ok": ok,
                                "reason": reason,
                                "ago_s": now.saturating_duration_since(*at).as_secs_f64(),
                            })),
                        })
                    })
                    .collect();
                rss.push(json!({
                    "name": rs.name,
                    "weight": rs.weight,
                    "effective_weight": i64::from(rs.weight) + rst.weight_deltas.iter().sum::<i64>(),
                    "alive": rst.alive,
                    "in_kernel": !mine.is_empty(),
                    "kernel_weight": mine.first().map(|d| d.spec.weight),
                    "active_conns": mine.iter().map(|d| u64::from(d.active_conns)).sum::<u64>(),
                    "inactive_conns": mine.iter().map(|d| u64::from(d.inactive_conns)).sum::<u64>(),
                    "stats": stats_json(&stats),
                    "checkers": checkers,
                }));
            }
            vss.push(json!({
                "name": vs.name,
                "quorum": vs.quorum,
                "hysteresis": vs.hysteresis,
                "quorum_up": st.quorum_up,
                "alive": st.rs.iter().filter(|r| r.alive).count(),
                "sorry_server": vs.sorry.as_ref().map(|s| json!({"name": s.name, "in_use": st.sorry_in})),
                "services": services,
                "real_servers": rss,
            }));
        }
        json!({
            "backend": if self.dry_run { "memory" } else { "kernel" },
            "ipvs_operations": self.ipvs_ops,
            "ipvs_errors": self.ipvs_errors,
            "virtual_servers": vss,
        })
    }

    /// The pool's effects of one checker report (nothing for a retired generation).
    fn check_effects(&mut self, report: CheckReport) -> Vec<ka_lvs::pool::Effect> {
        let current = self.engine.generation();
        match report {
            CheckReport::Verdict {
                generation,
                vs,
                rs,
                checker,
                up,
                mail,
            } if generation == current => {
                if let Some(v) = self.pool.model().virtual_servers.get(vs) {
                    if let Some(r) = v.real_servers.get(rs) {
                        self.notifier
                            .mail_bodies
                            .insert((v.name.clone(), r.name.clone()), mail);
                    }
                }
                self.pool.checker_result(vs, rs, checker, up)
            }
            CheckReport::Weight {
                generation,
                vs,
                rs,
                checker,
                delta,
            } if generation == current => self.pool.weight_delta(vs, rs, checker, delta),
            _ => Vec::new(),
        }
    }

    fn run(mut self, rx: Receiver<Cmd>) {
        let mut next_repair = Instant::now() + repair_interval(&self.believed);
        let mut pending: Option<Cmd> = None;
        loop {
            let wait = next_repair.saturating_duration_since(Instant::now());
            let got = match pending.take() {
                Some(cmd) => Ok(cmd),
                None => rx.recv_timeout(wait),
            };
            match got {
                Ok(Cmd::Check(report)) => {
                    // Every report already queued joins this one: one reconcile for all (a
                    // rack going down sends thousands at once, and a reconcile walks the whole
                    // table: one per report made 12,000 failures take 19 s). Effects keep
                    // their order; IPVS gets the merged operations.
                    let mut fx = self.check_effects(report);
                    for _ in 0..MAX_BATCH {
                        match rx.try_recv() {
                            Ok(Cmd::Check(r)) => fx.extend(self.check_effects(r)),
                            Ok(other) => {
                                pending = Some(other);
                                break;
                            }
                            Err(_) => break,
                        }
                    }
                    if !fx.is_empty() {
                        self.notifier.logs(&fx);
                        self.sync();
                        self.notifier.effects(fx);
                    }
                }
                Ok(Cmd::Reload(cfg)) => self.reload(*cfg),
                Ok(Cmd::Dump) => self.dump_data(),
                Ok(Cmd::Status(reply)) => {
                    let _ = reply.send(self.status());
                }
                Ok(Cmd::VrrpState { instance, master }) => self.vrrp_state(&instance, master),
                Ok(Cmd::Stop(done)) => {
                    self.stop();
                    let _ = done.send(());
                    return;
                }
                Err(RecvTimeoutError::Timeout) => {
                    self.repair();
                    next_repair = Instant::now() + repair_interval(&self.believed);
                }
                Err(RecvTimeoutError::Disconnected) => return,
            }
        }
    }
}

/// Most checker reports merged into one reconcile.
const MAX_BATCH: usize = 100_000;

fn stats_json(s: &ka_lvs::table::Stats) -> serde_json::Value {
    serde_json::json!({
        "conns": s.conns, "inpkts": s.inpkts, "outpkts": s.outpkts,
        "inbytes": s.inbytes, "outbytes": s.outbytes, "cps": s.cps,
        "inpps": s.inpps, "outpps": s.outpps, "inbps": s.inbps, "outbps": s.outbps,
    })
}

fn add_stats(sum: &mut ka_lvs::table::Stats, s: &ka_lvs::table::Stats) {
    sum.conns += s.conns;
    sum.inpkts += s.inpkts;
    sum.outpkts += s.outpkts;
    sum.inbytes += s.inbytes;
    sum.outbytes += s.outbytes;
    sum.cps += s.cps;
    sum.inpps += s.inpps;
    sum.outpps += s.outpps;
    sum.inbps += s.inbps;
    sum.outbps += s.outbps;
}

/// Without VRRP instances (or with `-C`): the LVS side alone, driven by signals here.
pub fn run_alone(
    handle: LvsHandle,
    mut signals: crate::process::Signals,
    reload: &dyn Fn() -> ka_config::Loaded,
) -> anyhow::Result<std::process::ExitCode> {
    use anyhow::Context;
    crate::logging::sd_notify("READY=1");
    loop {
        let mut fds = [nix::poll::PollFd::new(
            std::os::fd::AsFd::as_fd(signals.fd()),
            nix::poll::PollFlags::POLLIN,
        )];
        match nix::poll::poll(&mut fds, nix::poll::PollTimeout::NONE) {
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(e).context("poll"),
        }
        for req in signals.read() {
            match req {
                crate::process::Request::Stop => {
                    log_lvs("Stopping");
                    crate::logging::sd_notify("STOPPING=1");
                    handle.stop(Duration::from_secs(5));
                    log_lvs("Stopped");
                    return Ok(std::process::ExitCode::SUCCESS);
                }
                crate::process::Request::Reload => {
                    crate::logging::sd_notify("RELOADING=1");
                    let loaded = reload();
                    for d in loaded.diagnostics.items() {
                        log_lvs(&d.to_string());
                    }
                    if loaded.diagnostics.exit_code() == 4 {
                        log_lvs("the new configuration cannot run: keeping the old one");
                    } else {
                        handle.reload(&loaded.config);
                    }
                    crate::logging::sd_notify("READY=1");
                }
                crate::process::Request::DumpData => handle.dump(),
                _ => {}
            }
        }
    }
}
