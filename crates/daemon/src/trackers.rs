//! Runtime trackers for `track_file` and `vrrp_track_process`: each watches its source on a
//! thread of its own and reports the tracker's state through a callback, so the VRRP engine
//! only ever sees [`TrackerState`]s (it applies the weights itself).

use ka_config::model::{InitFile, TrackFile, TrackProcess};
use ka_vrrp::priority::TrackerState;
use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify, InotifyEvent, WatchDescriptor};
use std::ffi::OsString;
use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Callback the trackers report through: (tracker id, new state). Called from tracker threads.
pub type Report = std::sync::Arc<dyn Fn(usize, ka_vrrp::priority::TrackerState) + Send + Sync>;

/// How often every tracked file is re-read even without inotify events: a safety net for
/// events inotify cannot see (symlinked files, NFS, a lost directory watch).
const FILE_SAFETY_NET: Duration = Duration::from_secs(5);
/// How often files are re-read when inotify cannot be set up at all.
const FILE_FALLBACK_POLL: Duration = Duration::from_secs(1);
/// How much of a tracked file is read: the value is a single integer at its start.
const MAX_FILE_READ: u64 = 4096;
/// How often /proc is scanned for tracked processes.
const PROC_SCAN_INTERVAL: Duration = Duration::from_secs(1);
/// The kernel truncates `/proc/PID/comm` to 15 bytes (TASK_COMM_LEN minus the NUL).
const COMM_LEN: usize = 15;
/// The shortest sleep between /proc scans, so a deadline already past cannot make us spin.
const MIN_PROC_SLEEP: Duration = Duration::from_millis(10);

// ---------------------------------------------------------------------------------------------
// track_file
// ---------------------------------------------------------------------------------------------

/// Starts one thread ("track-files") watching every tracked file; reports each file's value at once, then on every change.
///
/// `init_file` is applied here, before the thread starts, so the files exist when this returns;
/// files without a path are skipped. The thread runs for the life of the process.
pub fn spawn_file_trackers(
    files: Vec<(usize, ka_config::model::TrackFile)>,
    report: Report,
) -> std::io::Result<()> {
    let watched: Vec<WatchedFile> = files
        .into_iter()
        .filter_map(|(id, tf)| WatchedFile::new(id, &tf))
        .collect();
    if watched.is_empty() {
        return Ok(());
    }
    std::thread::Builder::new()
        .name("track-files".into())
        .spawn(move || {
            // Real-time priority is for the VRRP thread only.
            let _ = ka_sys::sched::set_current_thread_normal();
            run_file_trackers(watched, &report)
        })?;
    Ok(())
}

/// The integer at the start of `bytes`, the way `strtol(.., 10)` reads it: leading whitespace
/// skipped, an optional sign, then digits; anything after the digits is ignored. `None` when
/// there are no digits. Out-of-range values saturate, as strtol's do.
fn leading_integer(bytes: &[u8]) -> Option<i64> {
    let is_space = |b: &u8| b.is_ascii_whitespace() || *b == 0x0b;
    let mut rest = bytes;
    while let Some((b, tail)) = rest.split_first() {
        if !is_space(b) {
            break;
        }
        rest = tail;
    }
    let negative = match rest.first() {
        Some(b'-') => {
            rest = &rest[1..];
            true
        }
        Some(b'+') => {
            rest = &rest[1..];
            false
        }
        _ => false,
    };
    let mut value: i64 = 0;
    let mut digits = 0usize;
    for b in rest.iter().take_while(|b| b.is_ascii_digit()) {
        let d = i64::from(b - b'0');
        value = if negative {
            value.saturating_mul(10).saturating_sub(d)
        } else {
            value.saturating_mul(10).saturating_add(d)
        };
        digits += 1;
    }
    (digits > 0).then_some(value)
}

/// A tracked file's value from its contents, as keepalived reads it (`strtol` base 0: `0x10`
/// is 16, `010` is 8); anything that does not start with an integer (empty, non-numeric) is 0;
/// a number out of range saturates.
fn parse_value(bytes: &[u8]) -> i64 {
    ka_check::file::parse_value(bytes).unwrap_or_else(|ka_check::file::InvalidNumber(v)| v)
}

/// Why a file's value is 0 without it saying so; remembered so each problem is logged once.
#[derive(Debug, Clone, PartialEq, Eq)]
enum FileProblem {
    /// The file does not exist.
    Missing,
    /// It exists but cannot be read (permissions, a directory...).
    Unreadable(String),
    /// It holds something other than an integer.
    NotNumeric,
}

/// Reads a tracked file's value; a missing, unreadable or non-numeric file is 0, with the
/// problem returned for logging. An empty (or all-blank) file is 0 without a problem: it is
/// how a file looks between its truncation and its write.
fn read_value(path: &Path) -> (i64, Option<FileProblem>) {
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return (0, Some(FileProblem::Missing))
        }
        Err(e) => return (0, Some(FileProblem::Unreadable(e.to_string()))),
    };
    let mut buf = Vec::new();
    if let Err(e) = file.take(MAX_FILE_READ).read_to_end(&mut buf) {
        return (0, Some(FileProblem::Unreadable(e.to_string())));
    }
    if buf.iter().all(|b| b.is_ascii_whitespace() || *b == 0x0b) {
        return (0, None);
    }
    let problem = leading_integer(&buf)
        .is_none()
        .then_some(FileProblem::NotNumeric);
    (parse_value(&buf), problem)
}

/// `init_file`: writes the value (decimal and a newline) when the file does not exist, or
/// always with `overwrite`, so the tracker starts from a known value.
fn init_file(path: &Path, init: &InitFile) -> std::io::Result<()> {
    let contents = format!("{}\n", init.value);
    if init.overwrite {
        return std::fs::write(path, contents);
    }
    // create_new: never clobber a file that appears between a check and the write.
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
    {
        Ok(mut f) => f.write_all(contents.as_bytes()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// One tracked file and what was last reported for it.
#[derive(Debug)]
struct WatchedFile {
    /// The tracker id reported.
    id: usize,
    /// The `track_file` name, for log lines.
    name: String,
    /// The file's path.
    path: PathBuf,
    /// Its last name component, matched against inotify event names.
    file_name: Option<OsString>,
    /// The directory watched for it.
    dir: PathBuf,
    /// The value last read.
    value: i64,
    /// The problem last logged, so it is not logged again on every read.
    problem: Option<FileProblem>,
}

impl WatchedFile {
    /// The tracker for a `track_file`, after applying its `init_file`; `None` without a path.
    fn new(id: usize, tf: &TrackFile) -> Option<WatchedFile> {
        let path = PathBuf::from(tf.file.as_ref()?);
        if let Some(init) = &tf.init_file {
            if let Err(e) = init_file(&path, init) {
                crate::logging::log(&format!(
                    "track_file {}: cannot initialise {}: {e}",
                    tf.name,
                    path.display()
                ));
            }
        }
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            Some(_) => PathBuf::from("."),
            None => PathBuf::from("/"),
        };
        Some(WatchedFile {
            id,
            name: tf.name.clone(),
            file_name: path.file_name().map(OsString::from),
            path,
            dir,
            value: 0,
            problem: None,
        })
    }

    /// Re-reads the file, logs a new problem once; true when the value changed.
    fn refresh(&mut self) -> bool {
        let (value, problem) = read_value(&self.path);
        if problem != self.problem {
            if let Some(p) = &problem {
                let what = match p {
                    FileProblem::Missing => "does not exist".to_string(),
                    FileProblem::Unreadable(e) => format!("cannot be read ({e})"),
                    FileProblem::NotNumeric => "does not hold a number".to_string(),
                };
                crate::logging::log(&format!(
                    "track_file {}: {} {what}, using {value}",
                    self.name,
                    self.path.display()
                ));
            }
            self.problem = problem;
        }
        let changed = value != self.value;
        self.value = value;
        changed
    }
}

/// Re-reads the given files (indices into `files`) and reports those whose value changed.
fn refresh_files(files: &mut [WatchedFile], which: impl Iterator<Item = usize>, report: &Report) {
    for i in which {
        if let Some(f) = files.get_mut(i) {
            if f.refresh() {
                report(f.id, TrackerState::Value(f.value));
            }
        }
    }
}

/// The thread body: watches with inotify when possible, otherwise polls every second.
fn run_file_trackers(mut files: Vec<WatchedFile>, report: &Report) {
    let inotify = match Inotify::init(InitFlags::IN_CLOEXEC | InitFlags::IN_NONBLOCK) {
        Ok(i) => Some(i),
        Err(e) => {
            crate::logging::log(&format!(
                "track_file: inotify unavailable ({e}), polling the files every second"
            ));
            None
        }
    };
    // Watches are added before the first read, so no change can slip between the two.
    let mut dirs = inotify
        .as_ref()
        .map(|ino| watch_dirs(ino, &files))
        .unwrap_or_default();
    for f in files.iter_mut() {
        f.refresh();
        report(f.id, TrackerState::Value(f.value));
    }
    if let Some(ino) = inotify {
        if let Err(e) = inotify_loop(&ino, &mut dirs, &mut files, report) {
            crate::logging::log(&format!(
                "track_file: inotify failed ({e}), polling the files every second"
            ));
        }
    }
    loop {
        std::thread::sleep(FILE_FALLBACK_POLL);
        let all = 0..files.len();
        refresh_files(&mut files, all, report);
    }
}

/// The events that can change a file's value as seen through its directory: written,
/// created, deleted, renamed in or out.
fn watch_mask() -> AddWatchFlags {
    AddWatchFlags::IN_CLOSE_WRITE
        | AddWatchFlags::IN_MOVED_TO
        | AddWatchFlags::IN_CREATE
        | AddWatchFlags::IN_DELETE
        | AddWatchFlags::IN_MOVED_FROM
        | AddWatchFlags::IN_MODIFY
}

/// One watched directory: the parent of one or more tracked files. The directory rather than
/// the file is watched so a file created later or replaced by a rename is still seen.
#[derive(Debug)]
struct WatchedDir {
    /// The directory.
    path: PathBuf,
    /// Its watch; `None` while it cannot be watched (retried at every safety-net pass).
    wd: Option<WatchDescriptor>,
    /// Whether the failure to watch it has been logged (once until it succeeds).
    failure_logged: bool,
    /// Indices of the files in it.
    files: Vec<usize>,
}

impl WatchedDir {
    /// Adds the watch if missing; logs a failure once.
    fn ensure_watch(&mut self, ino: &Inotify) {
        if self.wd.is_some() {
            return;
        }
        match ino.add_watch(self.path.as_path(), watch_mask()) {
            Ok(wd) => {
                self.wd = Some(wd);
                self.failure_logged = false;
            }
            Err(e) => {
                if !self.failure_logged {
                    crate::logging::log(&format!(
                        "track_file: cannot watch directory {} ({e}), re-reading its files every {} s",
                        self.path.display(),
                        FILE_SAFETY_NET.as_secs()
                    ));
                    self.failure_logged = true;
                }
            }
        }
    }
}

/// Groups the files by directory and watches each directory once.
fn watch_dirs(ino: &Inotify, files: &[WatchedFile]) -> Vec<WatchedDir> {
    let mut dirs: Vec<WatchedDir> = Vec::new();
    for (i, f) in files.iter().enumerate() {
        match dirs.iter_mut().find(|d| d.path == f.dir) {
            Some(d) => d.files.push(i),
            None => dirs.push(WatchedDir {
                path: f.dir.clone(),
                wd: None,
                failure_logged: false,
                files: vec![i],
            }),
        }
    }
    for d in dirs.iter_mut() {
        d.ensure_watch(ino);
    }
    dirs
}

/// Which files a batch of events may have changed (indices into `files`, no duplicates).
/// A lost watch (`IN_IGNORED`: the directory went away) is forgotten so it gets re-added.
fn affected_files(
    events: &[InotifyEvent],
    dirs: &mut [WatchedDir],
    files: &[WatchedFile],
) -> Vec<usize> {
    let mut hit = vec![false; files.len()];
    for ev in events {
        if ev.mask.contains(AddWatchFlags::IN_Q_OVERFLOW) {
            hit.iter_mut().for_each(|h| *h = true);
            continue;
        }
        for d in dirs.iter_mut().filter(|d| d.wd == Some(ev.wd)) {
            let lost = ev.mask.contains(AddWatchFlags::IN_IGNORED);
            if lost {
                d.wd = None;
            }
            for &i in &d.files {
                let named = match (&ev.name, files.get(i).and_then(|f| f.file_name.as_ref())) {
                    (Some(ev_name), Some(name)) => ev_name == name,
                    _ => true,
                };
                if lost || named {
                    if let Some(h) = hit.get_mut(i) {
                        *h = true;
                    }
                }
            }
        }
    }
    hit.iter()
        .enumerate()
        .filter_map(|(i, h)| h.then_some(i))
        .collect()
}

/// Waits for inotify events and re-reads the files they name, plus every file every 5 s.
/// Returns only when inotify itself fails, so the caller can fall back to polling.
fn inotify_loop(
    ino: &Inotify,
    dirs: &mut [WatchedDir],
    files: &mut [WatchedFile],
    report: &Report,
) -> nix::Result<()> {
    let mut next_sweep = Instant::now() + FILE_SAFETY_NET;
    loop {
        let now = Instant::now();
        if now >= next_sweep {
            for d in dirs.iter_mut() {
                d.ensure_watch(ino);
            }
            let all = 0..files.len();
            refresh_files(files, all, report);
            next_sweep = now + FILE_SAFETY_NET;
            continue;
        }
        // One extra millisecond so poll's rounding down cannot wake us just before the sweep.
        let wait = next_sweep - now + Duration::from_millis(1);
        let timeout = PollTimeout::try_from(wait).unwrap_or(PollTimeout::MAX);
        let mut fds = [PollFd::new(ino.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, timeout) {
            Ok(0) | Err(Errno::EINTR) => continue,
            Ok(_) => {}
            Err(e) => return Err(e),
        }
        let events = match ino.read_events() {
            Ok(ev) => ev,
            Err(Errno::EAGAIN | Errno::EINTR) => continue,
            Err(e) => return Err(e),
        };
        let which = affected_files(&events, dirs, files);
        refresh_files(files, which.into_iter(), report);
    }
}

// ---------------------------------------------------------------------------------------------
// vrrp_track_process
// ---------------------------------------------------------------------------------------------

/// Starts one thread ("track-process") that counts matching processes and reports Up/Down against the quorum.
///
/// keepalived learns of forks and exits through the kernel's proc connector; we scan /proc
/// once a second instead (one scan for all trackers), which needs no privileges or netlink
/// socket and costs little for the handful of processes a host tracks. Trackers without a
/// process name are skipped. The thread runs for the life of the process.
pub fn spawn_process_trackers(
    procs: Vec<(usize, ka_config::model::TrackProcess)>,
    report: Report,
) -> std::io::Result<()> {
    let trackers: Vec<ProcTracker> = procs
        .into_iter()
        .filter_map(|(id, tp)| {
            let t = ProcTracker::new(id, &tp);
            if t.is_none() {
                crate::logging::log(&format!(
                    "vrrp_track_process {}: no process given, not tracked",
                    tp.name
                ));
            }
            t
        })
        .collect();
    if trackers.is_empty() {
        return Ok(());
    }
    std::thread::Builder::new()
        .name("track-process".into())
        .spawn(move || {
            // Real-time priority is for the VRRP thread only.
            let _ = ka_sys::sched::set_current_thread_normal();
            run_process_trackers(trackers, Path::new("/proc"), &report)
        })?;
    Ok(())
}

/// What one scan learns about a process: all the matching rules need.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ProcEntry {
    /// Its pid.
    pid: u32,
    /// `/proc/PID/comm` without its newline, as bytes: the kernel may cut a multi-byte
    /// character at 15 bytes.
    comm: Vec<u8>,
    /// `/proc/PID/cmdline` split at its NULs (empty for kernel threads and zombies).
    argv: Vec<String>,
}

/// Splits a raw `cmdline` into its arguments (one trailing NUL terminates the last).
fn split_cmdline(raw: &[u8]) -> Vec<String> {
    let raw = raw.strip_suffix(&[0]).unwrap_or(raw);
    if raw.is_empty() {
        return Vec::new();
    }
    raw.split(|b| *b == 0)
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect()
}

/// Lists the processes under `proc_root` (normally /proc; a directory built by the tests),
/// reading each one's comm and cmdline once. Processes that vanish mid-scan, and our own, are
/// left out; an error means the directory itself could not be listed.
fn scan(proc_root: &Path) -> std::io::Result<Vec<ProcEntry>> {
    let own = std::process::id();
    let mut out = Vec::new();
    for entry in std::fs::read_dir(proc_root)? {
        let Ok(entry) = entry else { continue };
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        if pid == own {
            continue;
        }
        let dir = entry.path();
        let Ok(mut comm) = std::fs::read(dir.join("comm")) else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(dir.join("cmdline")) else {
            continue;
        };
        if comm.last() == Some(&b'\n') {
            comm.pop();
        }
        out.push(ProcEntry {
            pid,
            comm,
            argv: split_cmdline(&cmdline),
        });
    }
    Ok(out)
}

/// `param_match`: how the configured parameters are compared with a process's arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ParamMatch {
    /// The arguments are exactly the parameters (the default).
    Exact,
    /// The parameters are the first arguments.
    Initial,
    /// The parameters, joined by spaces, appear in the arguments joined by spaces.
    Partial,
}

/// Which processes a `vrrp_track_process` counts.
#[derive(Debug, Clone)]
struct Matcher {
    /// The process name (or the full path with `full_command`).
    name: String,
    /// The parameters that must match the arguments (none: any arguments).
    params: Vec<String>,
    /// The parameters joined by spaces, precomputed for `partial`.
    joined_params: String,
    /// Compare the name with argv[0] as written instead of comm.
    full_command: bool,
    /// How parameters match.
    mode: ParamMatch,
}

impl Matcher {
    /// The matcher for a tracker; `None` when it names no process.
    fn new(tp: &TrackProcess) -> Option<Matcher> {
        let (name, params) = tp.process.as_ref()?.split_first()?;
        let mode = match tp.param_match.as_deref() {
            Some("initial") => ParamMatch::Initial,
            Some("partial") => ParamMatch::Partial,
            _ => ParamMatch::Exact,
        };
        Some(Matcher {
            name: name.clone(),
            params: params.to_vec(),
            joined_params: params.join(" "),
            full_command: tp.full_command,
            mode,
        })
    }

    /// Whether the process's name matches: argv[0] exactly with `full_command`; otherwise its
    /// comm (against the name's first 15 bytes, as the kernel truncates comm) or argv[0]'s
    /// basename (for names the kernel truncated or a process renamed its comm).
    fn name_matches(&self, p: &ProcEntry) -> bool {
        let argv0 = p.argv.first();
        if self.full_command {
            return argv0.is_some_and(|a| *a == self.name);
        }
        let name = self.name.as_bytes();
        if p.comm == name[..name.len().min(COMM_LEN)] {
            return true;
        }
        argv0.is_some_and(|a| a.rsplit('/').next() == Some(self.name.as_str()))
    }

    /// Whether the process counts towards the quorum.
    fn matches(&self, p: &ProcEntry) -> bool {
        if !self.name_matches(p) {
            return false;
        }
        if self.params.is_empty() {
            return true;
        }
        let args = p.argv.get(1..).unwrap_or(&[]);
        match self.mode {
            ParamMatch::Exact => args == self.params.as_slice(),
            ParamMatch::Initial => args.starts_with(&self.params),
            ParamMatch::Partial => args.join(" ").contains(&self.joined_params),
        }
    }
}

/// A state change waiting for its delay to pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Pending {
    /// The state it would report (true = Up).
    up: bool,
    /// When the count first gave this state.
    since: Instant,
    /// How long it must hold.
    delay: Duration,
}

/// The Up/Down decision of one tracker: quorum bounds, and the delays that keep a brief
/// fork or exit (a restart) from flapping the instance.
#[derive(Debug, Clone)]
struct QuorumState {
    /// Fewest processes for Up.
    quorum: u64,
    /// Most processes for Up (`None`: no limit).
    quorum_max: Option<u64>,
    /// How long a change brought by a higher count must hold before it is reported.
    fork_delay: Duration,
    /// How long a change brought by a lower count must hold before it is reported.
    terminate_delay: Duration,
    /// The state last reported (`None` before the first scan).
    reported: Option<bool>,
    /// The count seen at the previous scan, to tell forks from exits.
    last_count: u64,
    /// A change waiting for its delay.
    pending: Option<Pending>,
}

impl QuorumState {
    /// The decision for a tracker; `delay` sets both delays unless a specific one is given.
    fn new(tp: &TrackProcess) -> QuorumState {
        let us =
            |specific: Option<u64>| Duration::from_micros(specific.or(tp.delay_us).unwrap_or(0));
        QuorumState {
            quorum: u64::from(tp.quorum),
            quorum_max: tp.quorum_max.map(u64::from),
            fork_delay: us(tp.fork_delay_us),
            terminate_delay: us(tp.terminate_delay_us),
            reported: None,
            last_count: 0,
            pending: None,
        }
    }

    /// Whether `count` processes meet the quorum.
    fn in_quorum(&self, count: u64) -> bool {
        count >= self.quorum && self.quorum_max.is_none_or(|max| count <= max)
    }

    /// Feeds one scan's count; returns the state to report, if any. The first scan reports at
    /// once; later changes only once they have held for their delay.
    fn update(&mut self, count: u64, now: Instant) -> Option<TrackerState> {
        let up = self.in_quorum(count);
        let previous_count = std::mem::replace(&mut self.last_count, count);
        let to_state = |up: bool| {
            if up {
                TrackerState::Up
            } else {
                TrackerState::Down
            }
        };
        let Some(current) = self.reported else {
            self.reported = Some(up);
            return Some(to_state(up));
        };
        if up == current {
            self.pending = None;
            return None;
        }
        let pending = match self.pending {
            Some(p) if p.up == up => p,
            _ => {
                let delay = if count > previous_count {
                    self.fork_delay
                } else {
                    self.terminate_delay
                };
                Pending {
                    up,
                    since: now,
                    delay,
                }
            }
        };
        if now.saturating_duration_since(pending.since) >= pending.delay {
            self.pending = None;
            self.reported = Some(up);
            Some(to_state(up))
        } else {
            self.pending = Some(pending);
            None
        }
    }

    /// When a waiting change becomes due, so the scanner can look again right then.
    fn deadline(&self) -> Option<Instant> {
        self.pending.map(|p| p.since + p.delay)
    }
}

/// One `vrrp_track_process`: what it counts and its decision.
#[derive(Debug, Clone)]
struct ProcTracker {
    /// The tracker id reported.
    id: usize,
    /// Which processes count.
    matcher: Matcher,
    /// Up/Down from the count.
    state: QuorumState,
}

impl ProcTracker {
    /// The tracker for a `vrrp_track_process`; `None` when it names no process.
    fn new(id: usize, tp: &TrackProcess) -> Option<ProcTracker> {
        Some(ProcTracker {
            id,
            matcher: Matcher::new(tp)?,
            state: QuorumState::new(tp),
        })
    }
}

/// The thread body: one scan per second (sooner when a delayed change falls due), each
/// tracker counting its matches in that scan.
fn run_process_trackers(mut trackers: Vec<ProcTracker>, proc_root: &Path, report: &Report) {
    let mut scan_failure_logged = false;
    loop {
        match scan(proc_root) {
            Ok(entries) => {
                scan_failure_logged = false;
                let now = Instant::now();
                for t in trackers.iter_mut() {
                    let count = entries.iter().filter(|e| t.matcher.matches(e)).count();
                    let count = u64::try_from(count).unwrap_or(u64::MAX);
                    if let Some(state) = t.state.update(count, now) {
                        report(t.id, state);
                    }
                }
            }
            Err(e) => {
                if !scan_failure_logged {
                    crate::logging::log(&format!(
                        "vrrp_track_process: cannot list {} ({e}), keeping the last states",
                        proc_root.display()
                    ));
                    scan_failure_logged = true;
                }
            }
        }
        let mut wake = Instant::now() + PROC_SCAN_INTERVAL;
        for d in trackers.iter().filter_map(|t| t.state.deadline()) {
            wake = wake.min(d);
        }
        let sleep = wake.saturating_duration_since(Instant::now());
        std::thread::sleep(sleep.max(MIN_PROC_SLEEP));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ka_config::diag::Location;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::mpsc;
    use std::sync::Arc;

    /// A fresh, unique temporary directory.
    fn temp_dir(tag: &str) -> PathBuf {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("ka-trackers-{}-{tag}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        dir
    }

    fn loc() -> Location {
        Location::new(Arc::new(PathBuf::from("test.conf")), 1, 0)
    }

    fn track_file(path: &Path, init: Option<InitFile>) -> TrackFile {
        TrackFile {
            name: "tf".into(),
            file: Some(path.display().to_string()),
            weight: 1,
            weight_reverse: false,
            init_file: init,
            location: loc(),
        }
    }

    fn track_process(words: &[&str]) -> TrackProcess {
        TrackProcess {
            name: "tp".into(),
            process: Some(words.iter().map(|w| w.to_string()).collect()),
            param_match: None,
            weight: 0,
            weight_reverse: false,
            quorum: 1,
            quorum_max: None,
            fork_delay_us: None,
            terminate_delay_us: None,
            delay_us: None,
            full_command: false,
            location: loc(),
        }
    }

    fn entry(comm: &str, argv: &[&str]) -> ProcEntry {
        ProcEntry {
            pid: 1,
            comm: comm.as_bytes().to_vec(),
            argv: argv.iter().map(|a| a.to_string()).collect(),
        }
    }

    #[test]
    fn value_parsing() {
        assert_eq!(parse_value(b"12\n"), 12);
        assert_eq!(parse_value(b"0x10"), 16);
        assert_eq!(parse_value(b"010"), 8);
        assert_eq!(parse_value(b" -3 "), -3);
        assert_eq!(parse_value(b"7abc"), 7);
        assert_eq!(parse_value(b""), 0);
        assert_eq!(parse_value(b"abc"), 0);
        assert_eq!(parse_value(b"+4"), 4);
        assert_eq!(parse_value(b"-"), 0);
        assert_eq!(parse_value(b"99999999999999999999999"), i64::MAX);
        assert_eq!(parse_value(b"-99999999999999999999999"), i64::MIN);
    }

    #[test]
    fn read_value_problems() {
        let dir = temp_dir("read");
        let f = dir.join("v");
        assert_eq!(read_value(&f), (0, Some(FileProblem::Missing)));
        std::fs::write(&f, "  \n").expect("write");
        assert_eq!(read_value(&f), (0, None));
        std::fs::write(&f, "abc").expect("write");
        assert_eq!(read_value(&f), (0, Some(FileProblem::NotNumeric)));
        std::fs::write(&f, "\n42 junk\n").expect("write");
        assert_eq!(read_value(&f), (42, None));
        assert!(matches!(
            read_value(&dir),
            (0, Some(FileProblem::Unreadable(_)))
        ));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn init_file_create_keep_overwrite() {
        let dir = temp_dir("init");
        let f = dir.join("v");
        let keep = InitFile {
            value: 3,
            overwrite: false,
        };
        init_file(&f, &keep).expect("create");
        assert_eq!(std::fs::read_to_string(&f).expect("read"), "3\n");

        std::fs::write(&f, "9\n").expect("write");
        init_file(&f, &keep).expect("keep");
        assert_eq!(std::fs::read_to_string(&f).expect("read"), "9\n");

        let over = InitFile {
            value: -2,
            overwrite: true,
        };
        init_file(&f, &over).expect("overwrite");
        assert_eq!(std::fs::read_to_string(&f).expect("read"), "-2\n");

        // Through the tracker constructor as well.
        let g = dir.join("w");
        let w = WatchedFile::new(4, &track_file(&g, Some(keep))).expect("tracker");
        assert_eq!(w.dir, dir);
        assert_eq!(std::fs::read_to_string(&g).expect("read"), "3\n");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn file_without_path_is_skipped() {
        let mut tf = track_file(Path::new("/x"), None);
        tf.file = None;
        assert!(WatchedFile::new(1, &tf).is_none());
        let report: Report = Arc::new(|_, _| {});
        spawn_file_trackers(vec![(1, tf)], report.clone()).expect("nothing spawned");
        spawn_file_trackers(Vec::new(), report.clone()).expect("empty");
        spawn_process_trackers(Vec::new(), report).expect("empty");
    }

    #[test]
    fn comm_and_argv0_matching() {
        let m = Matcher::new(&track_process(&["sshd"])).expect("matcher");
        assert!(m.matches(&entry("sshd", &["/usr/sbin/sshd", "-D"])));
        assert!(m.matches(&entry("sshd", &[])), "kernel-style: comm only");
        assert!(
            m.matches(&entry("renamed", &["/usr/sbin/sshd"])),
            "argv0 basename"
        );
        assert!(!m.matches(&entry("sshd-session", &["sshd-session"])));
        assert!(!m.matches(&entry("bash", &["/bin/bash"])));
    }

    #[test]
    fn long_name_truncated_to_comm() {
        let m = Matcher::new(&track_process(&["very-long-daemon-name"])).expect("matcher");
        // The kernel keeps the first 15 bytes.
        assert!(m.matches(&entry("very-long-daemo", &["x"])));
        assert!(m.matches(&entry("other", &["/opt/bin/very-long-daemon-name"])));
        assert!(!m.matches(&entry("very-long-daem", &["x"])));
    }

    #[test]
    fn full_command_matching() {
        let mut tp = track_process(&["/usr/sbin/nginx"]);
        tp.full_command = true;
        let m = Matcher::new(&tp).expect("matcher");
        assert!(m.matches(&entry("nginx", &["/usr/sbin/nginx", "-g", "daemon off;"])));
        assert!(!m.matches(&entry("nginx", &["nginx"])));
        assert!(!m.matches(&entry("nginx", &[])));
        let mut tp = track_process(&["nginx"]);
        tp.full_command = true;
        let m = Matcher::new(&tp).expect("matcher");
        assert!(
            !m.matches(&entry("nginx", &["/usr/sbin/nginx"])),
            "exact argv0"
        );
    }

    #[test]
    fn parameter_matching() {
        let p = entry("app", &["/bin/app", "-c", "/etc/app.conf", "-v"]);
        let mut tp = track_process(&["app", "-c", "/etc/app.conf"]);
        let exact = Matcher::new(&tp).expect("matcher");
        assert!(!exact.matches(&p));
        assert!(exact.matches(&entry("app", &["app", "-c", "/etc/app.conf"])));

        tp.param_match = Some("exact".into());
        assert!(!Matcher::new(&tp).expect("matcher").matches(&p));

        tp.param_match = Some("initial".into());
        let initial = Matcher::new(&tp).expect("matcher");
        assert!(initial.matches(&p));
        assert!(!initial.matches(&entry("app", &["app", "-v", "-c", "/etc/app.conf"])));
        assert!(!initial.matches(&entry("app", &["app", "-c"])));

        let mut tp = track_process(&["app", "/etc/app.conf -v"]);
        tp.param_match = Some("partial".into());
        let partial = Matcher::new(&tp).expect("matcher");
        assert!(partial.matches(&p));
        assert!(!partial.matches(&entry("app", &["app", "-v", "/etc/app.conf"])));
        assert!(!partial.matches(&entry("other", &["other", "-c", "/etc/app.conf", "-v"])));

        tp.process = None;
        assert!(Matcher::new(&tp).is_none());
        tp.process = Some(Vec::new());
        assert!(Matcher::new(&tp).is_none());
    }

    #[test]
    fn cmdline_splitting() {
        assert_eq!(split_cmdline(b""), Vec::<String>::new());
        assert_eq!(split_cmdline(b"a\0b c\0\0d\0"), vec!["a", "b c", "", "d"]);
        assert_eq!(split_cmdline(b"nginx: worker"), vec!["nginx: worker"]);
    }

    #[test]
    fn scan_fake_proc() {
        let root = temp_dir("proc");
        let add = |pid: &str, comm: Option<&str>, cmdline: Option<&[u8]>| {
            let d = root.join(pid);
            std::fs::create_dir_all(&d).expect("mkdir");
            if let Some(c) = comm {
                std::fs::write(d.join("comm"), c).expect("comm");
            }
            if let Some(c) = cmdline {
                std::fs::write(d.join("cmdline"), c).expect("cmdline");
            }
        };
        add("10", Some("sshd\n"), Some(b"/usr/sbin/sshd\0-D\0"));
        add("11", Some("kthreadd\n"), Some(b""));
        add("12", Some("gone\n"), None); // vanished between its comm and cmdline
        add("self", Some("x\n"), Some(b"x\0"));
        add(&std::process::id().to_string(), Some("me\n"), Some(b"me\0"));
        std::fs::write(root.join("uptime"), "1 1").expect("file");

        let mut got = scan(&root).expect("scan");
        got.sort_by_key(|e| e.pid);
        assert_eq!(
            got,
            vec![
                ProcEntry {
                    pid: 10,
                    comm: b"sshd".to_vec(),
                    argv: vec!["/usr/sbin/sshd".into(), "-D".into()],
                },
                ProcEntry {
                    pid: 11,
                    comm: b"kthreadd".to_vec(),
                    argv: Vec::new(),
                },
            ]
        );
        assert!(scan(&root.join("missing")).is_err());
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn quorum_bounds() {
        let mut tp = track_process(&["x"]);
        tp.quorum = 2;
        tp.quorum_max = Some(3);
        let q = QuorumState::new(&tp);
        assert!(!q.in_quorum(0));
        assert!(!q.in_quorum(1));
        assert!(q.in_quorum(2));
        assert!(q.in_quorum(3));
        assert!(!q.in_quorum(4));
        tp.quorum_max = None;
        let q = QuorumState::new(&tp);
        assert!(q.in_quorum(1000));
        tp.quorum = 0;
        assert!(QuorumState::new(&tp).in_quorum(0));
    }

    #[test]
    fn states_without_delay() {
        let t0 = Instant::now();
        let mut q = QuorumState::new(&track_process(&["x"]));
        assert_eq!(q.update(0, t0), Some(TrackerState::Down), "initial report");
        assert_eq!(q.update(0, t0), None);
        assert_eq!(q.update(2, t0), Some(TrackerState::Up));
        assert_eq!(q.update(1, t0), None);
        assert_eq!(q.update(0, t0), Some(TrackerState::Down));
    }

    #[test]
    fn initial_state_ignores_delay() {
        let mut tp = track_process(&["x"]);
        tp.delay_us = Some(10_000_000);
        let mut q = QuorumState::new(&tp);
        assert_eq!(q.update(1, Instant::now()), Some(TrackerState::Up));
    }

    #[test]
    fn delays_hold_changes() {
        let s = Duration::from_secs(1);
        let t0 = Instant::now();
        let mut tp = track_process(&["x"]);
        tp.fork_delay_us = Some(2_000_000);
        tp.terminate_delay_us = Some(3_000_000);
        let mut q = QuorumState::new(&tp);
        assert_eq!(q.update(0, t0), Some(TrackerState::Down));

        // A fork must hold 2 s.
        assert_eq!(q.update(1, t0 + s), None);
        assert_eq!(q.deadline(), Some(t0 + 3 * s));
        assert_eq!(q.update(1, t0 + 2 * s), None);
        assert_eq!(q.update(1, t0 + 3 * s), Some(TrackerState::Up));
        assert_eq!(q.deadline(), None);

        // An exit that is undone within its 3 s is never reported.
        assert_eq!(q.update(0, t0 + 4 * s), None);
        assert_eq!(q.update(0, t0 + 6 * s), None);
        assert_eq!(q.update(1, t0 + 7 * s), None);
        assert_eq!(q.deadline(), None);

        // An exit that holds 3 s is.
        assert_eq!(q.update(0, t0 + 8 * s), None);
        assert_eq!(q.update(0, t0 + 10 * s), None);
        assert_eq!(q.update(0, t0 + 11 * s), Some(TrackerState::Down));
    }

    #[test]
    fn delay_sets_both_and_specific_wins() {
        let mut tp = track_process(&["x"]);
        tp.delay_us = Some(500_000);
        tp.terminate_delay_us = Some(100);
        let q = QuorumState::new(&tp);
        assert_eq!(q.fork_delay, Duration::from_millis(500));
        assert_eq!(q.terminate_delay, Duration::from_micros(100));
    }

    #[test]
    fn too_many_processes_use_the_fork_delay() {
        let s = Duration::from_secs(1);
        let t0 = Instant::now();
        let mut tp = track_process(&["x"]);
        tp.quorum_max = Some(1);
        tp.fork_delay_us = Some(2_000_000);
        let mut q = QuorumState::new(&tp);
        assert_eq!(q.update(1, t0), Some(TrackerState::Up));
        assert_eq!(q.update(2, t0 + s), None);
        assert_eq!(q.update(2, t0 + 3 * s), Some(TrackerState::Down));
        // Back within bounds by a lower count: terminate delay (0).
        assert_eq!(q.update(1, t0 + 4 * s), Some(TrackerState::Up));
    }

    #[test]
    fn file_tracker_reports_changes() {
        let dir = temp_dir("spawn");
        let path = dir.join("state");
        std::fs::write(&path, "5").expect("write");
        let (tx, rx) = mpsc::channel();
        let report: Report = Arc::new(move |id, st| {
            let _ = tx.send((id, st));
        });
        spawn_file_trackers(vec![(7, track_file(&path, None))], report).expect("spawn");
        let first = rx
            .recv_timeout(Duration::from_secs(3))
            .expect("first report");
        assert_eq!(first, (7, TrackerState::Value(5)));

        let tmp = dir.join(".state.tmp");
        std::fs::write(&tmp, "0\n").expect("write tmp");
        std::fs::rename(&tmp, &path).expect("rename");
        let deadline = Instant::now() + Duration::from_secs(3);
        let mut seen = None;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match rx.recv_timeout(left) {
                Ok(r @ (7, TrackerState::Value(0))) => {
                    seen = Some(r);
                    break;
                }
                Ok(_) => continue,
                Err(_) => break,
            }
        }
        assert_eq!(seen, Some((7, TrackerState::Value(0))));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
