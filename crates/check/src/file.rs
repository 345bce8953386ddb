//! FILE_CHECK (§3.9): a real server's state and weight follow the number in a root
//! `track_file`'s file. No attempts, no retries, no alpha: the verdict is known as soon as the file
//! is read, at start and after every change.
//!
//! Reading is 2.2.7's: one `read()` of at most 127 bytes, the text up to a NUL parsed like
//! `strtol(…, 0)` (leading blanks, a sign, `0x` for hex, a leading `0` for octal; anything else
//! after the number ignored, no number = 0); a missing or unreadable file is 0. A number beyond
//! `INT32_MIN ..= INT32_MAX + 1` is logged and ignored (the previous value stays; at start that is
//! 0). With weight 0 a non-zero value puts the server down (zero does, with `reverse`); otherwise
//! value × weight (× −1 with `reverse`), clamped to the i32 range, is added to the server's
//! weight, and INT32_MIN puts it down.
//!
//! [`FileWatcher`] follows the files from a thread of its own: one inotify descriptor watching
//! each file's directory for the events 2.2.7 reacts to (written and closed, deleted, renamed in
//! or out — not `IN_MODIFY`, which would show the empty file between a truncation and the
//! write), the changes handed to the async checker engine through a channel. Beyond 2.2.7, every
//! file is re-read every 5 s as a safety net (a lost directory watch, a write without close), and
//! if inotify cannot be used at all the files are polled every second.

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify, InotifyEvent, WatchDescriptor};
use std::ffi::OsString;
use std::io::{self, Read};
use std::os::fd::AsFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How much of a file is read: 2.2.7 reads into a 128-byte buffer, NUL-terminated.
pub const MAX_READ: usize = 127;
/// Safety-net re-read of every file while inotify works.
pub const SWEEP: Duration = Duration::from_secs(5);
/// Polling period when inotify is unavailable.
pub const POLL: Duration = Duration::from_secs(1);

/// What a file's value means for one FILE_CHECK.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileVerdict {
    /// The server may take traffic as far as this checker is concerned.
    pub up: bool,
    /// Added to the real server's weight while up (the caller clamps the sum at 0 for IPVS).
    pub weight_delta: i64,
}

/// A number outside what 2.2.7 accepts (`INT32_MIN ..= INT32_MAX + 1`, or beyond `long`); the
/// value as `strtol` returned it (saturated), for the log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidNumber(pub i64);

/// The value of a file's contents (see the module documentation). Only the first
/// [`MAX_READ`] bytes count, up to a NUL.
pub fn parse_value(contents: &[u8]) -> Result<i64, InvalidNumber> {
    let text = contents.get(..MAX_READ).unwrap_or(contents);
    let text = match text.iter().position(|&b| b == 0) {
        Some(nul) => text.get(..nul).unwrap_or_default(),
        None => text,
    };
    let v = strtol0(text)?;
    if v < i64::from(i32::MIN) || v > i64::from(i32::MAX) + 1 {
        return Err(InvalidNumber(v));
    }
    Ok(v)
}

/// `strtol(text, NULL, 0)` as glibc computes it; `Err` with the saturated value on overflow.
fn strtol0(text: &[u8]) -> Result<i64, InvalidNumber> {
    let is_space = |b: &u8| matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r');
    let start = text.iter().position(|b| !is_space(b)).unwrap_or(text.len());
    let mut rest = text.get(start..).unwrap_or_default();
    let negative = rest.first() == Some(&b'-');
    if matches!(rest.first(), Some(b'-' | b'+')) {
        rest = rest.get(1..).unwrap_or_default();
    }
    let hex_prefix = matches!(rest, [b'0', b'x' | b'X', d, ..] if d.is_ascii_hexdigit());
    let (base, digits) = if hex_prefix {
        (16, rest.get(2..).unwrap_or_default())
    } else if rest.first() == Some(&b'0') {
        (8, rest)
    } else {
        (10, rest)
    };
    let mut magnitude: u128 = 0;
    let mut overflow = false;
    for &b in digits {
        let Some(d) = (b as char).to_digit(base) else {
            break;
        };
        magnitude = magnitude * u128::from(base) + u128::from(d);
        if magnitude > 1u128 << 64 {
            overflow = true;
            magnitude = 1u128 << 64;
        }
    }
    let value = if negative {
        0i128 - magnitude as i128
    } else {
        magnitude as i128
    };
    match i64::try_from(value) {
        Ok(v) if !overflow => Ok(v),
        _ => Err(InvalidNumber(if negative { i64::MIN } else { i64::MAX })),
    }
}

/// The verdict for a value (already parsed) under a FILE_CHECK's effective weight and reverse.
pub fn verdict(value: i64, weight: i64, reverse: bool) -> FileVerdict {
    if weight == 0 {
        let down = (value != 0) != reverse;
        return FileVerdict {
            up: !down,
            weight_delta: 0,
        };
    }
    let sign: i128 = if reverse { -1 } else { 1 };
    let product = i128::from(value) * i128::from(weight) * sign;
    let clamped = product.clamp(i128::from(i32::MIN), i128::from(i32::MAX)) as i64;
    if clamped == i64::from(i32::MIN) {
        FileVerdict {
            up: false,
            weight_delta: 0,
        }
    } else {
        FileVerdict {
            up: true,
            weight_delta: clamped,
        }
    }
}

/// The verdict for a file's contents. An out-of-range number counts as 0 here, which is what
/// 2.2.7 makes of it when it reads the file at start; later [`FileWatcher`] keeps the previous
/// value instead, as 2.2.7 does.
pub fn evaluate(contents: &[u8], weight: i64, reverse: bool) -> FileVerdict {
    verdict(parse_value(contents).unwrap_or(0), weight, reverse)
}

/// The weight and reverse a FILE_CHECK uses: its own `weight W [reverse]`, unless absent or 0,
/// when the `track_file` block's are used (2.2.7's rule: `weight 0` in FILE_CHECK means "the
/// file's weight", reverse included).
pub fn effective_weight(
    check_weight: Option<i64>,
    check_reverse: bool,
    file_weight: i64,
    file_reverse: bool,
) -> (i64, bool) {
    match check_weight {
        Some(w) if w != 0 => (w, check_reverse),
        _ => (file_weight, file_reverse),
    }
}

/// Reads a tracked file as 2.2.7 does: missing or unreadable = 0; one read of at most
/// [`MAX_READ`] bytes (non-blocking open, so a FIFO without writer reads as empty).
pub fn read_value(path: &Path) -> Result<i64, InvalidNumber> {
    let Ok(mut f) = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
    else {
        return Ok(0);
    };
    let mut buf = [0u8; MAX_READ];
    match f.read(&mut buf) {
        Ok(n) if n > 0 => parse_value(buf.get(..n).unwrap_or_default()),
        _ => Ok(0),
    }
}

/// 2.2.7's detail-level line when a file puts a server down (`rs_name` as `[addr]:proto:port`).
pub fn fault_line(rs_name: &str, track_file: &str) -> String {
    format!("({rs_name}): tracked file {track_file} now FAULT state")
}

/// 2.2.7's detail-level line when a file lets a server up again.
pub fn leaving_fault_line(rs_name: &str, track_file: &str) -> String {
    format!("({rs_name}): tracked file {track_file} leaving FAULT state")
}

/// The line 2.2.7 logs for a number it ignores.
pub fn invalid_number_line(n: i64, path: &Path) -> String {
    format!("Invalid number {n} read from {} - ignoring", path.display())
}

/// One file to follow: the caller's id (one per `track_file`, shared by every FILE_CHECK on
/// it) and its path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchedFile {
    /// Reported back with the value.
    pub id: usize,
    /// The `file` of the `track_file` block.
    pub path: PathBuf,
}

/// What the watcher has to say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileEvent {
    /// A file's value changed.
    Value {
        /// The file's id.
        id: usize,
        /// Its new value.
        value: i64,
    },
    /// A line to log (an ignored number, a directory that cannot be watched...).
    Log(String),
}

/// A followed file.
#[derive(Debug)]
struct Entry {
    id: usize,
    /// Resolved path (symlinks followed at start, as 2.2.7 does).
    path: PathBuf,
    /// Its name in its directory, matched against events.
    name: Option<OsString>,
    /// Index into the directories.
    dir: usize,
    value: i64,
}

/// A watched directory.
#[derive(Debug)]
struct Dir {
    path: PathBuf,
    wd: Option<WatchDescriptor>,
    failure_logged: bool,
}

/// The watcher's bookkeeping: files, their directories, the last values, what to report.
#[derive(Debug)]
struct Files {
    files: Vec<Entry>,
    dirs: Vec<Dir>,
    pending: Vec<FileEvent>,
}

/// The events that can change a file as seen from its directory (2.2.7's set).
fn watch_mask() -> AddWatchFlags {
    AddWatchFlags::IN_CLOSE_WRITE
        | AddWatchFlags::IN_DELETE
        | AddWatchFlags::IN_MOVED_FROM
        | AddWatchFlags::IN_MOVED_TO
}

/// The path to read: the file resolved if it exists, else its directory resolved.
fn resolve(path: &Path) -> PathBuf {
    if let Ok(p) = std::fs::canonicalize(path) {
        return p;
    }
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    match (std::fs::canonicalize(dir), path.file_name()) {
        (Ok(d), Some(name)) => d.join(name),
        _ => path.to_path_buf(),
    }
}

impl Files {
    /// The files, grouped by directory, not yet read.
    fn new(files: Vec<WatchedFile>) -> Files {
        let mut dirs: Vec<Dir> = Vec::new();
        let mut entries = Vec::with_capacity(files.len());
        for f in files {
            let path = resolve(&f.path);
            let dir_path = match path.parent() {
                Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
                _ => PathBuf::from("."),
            };
            let dir = match dirs.iter().position(|d| d.path == dir_path) {
                Some(i) => i,
                None => {
                    dirs.push(Dir {
                        path: dir_path,
                        wd: None,
                        failure_logged: false,
                    });
                    dirs.len() - 1
                }
            };
            entries.push(Entry {
                id: f.id,
                name: path.file_name().map(OsString::from),
                path,
                dir,
                value: 0,
            });
        }
        Files {
            files: entries,
            dirs,
            pending: Vec::new(),
        }
    }

    /// Every file's value, by id.
    fn values(&self) -> Vec<(usize, i64)> {
        self.files.iter().map(|e| (e.id, e.value)).collect()
    }

    /// Adds the missing directory watches; logs a failure once per directory.
    fn watch_dirs(&mut self, ino: &Inotify) {
        for d in self.dirs.iter_mut().filter(|d| d.wd.is_none()) {
            match ino.add_watch(d.path.as_path(), watch_mask()) {
                Ok(wd) => {
                    d.wd = Some(wd);
                    d.failure_logged = false;
                }
                Err(e) if !d.failure_logged => {
                    d.failure_logged = true;
                    self.pending.push(FileEvent::Log(format!(
                        "track_file: cannot watch directory {} ({e}), re-reading its files every {} s",
                        d.path.display(),
                        SWEEP.as_secs()
                    )));
                }
                Err(_) => {}
            }
        }
    }

    /// The files a batch of events may have changed (indices). A lost watch (`IN_IGNORED`: the
    /// directory went away) is forgotten, to be added again at the next sweep.
    fn affected(&mut self, events: &[InotifyEvent]) -> Vec<usize> {
        let mut hit = vec![false; self.files.len()];
        for ev in events {
            if ev.mask.contains(AddWatchFlags::IN_Q_OVERFLOW) {
                hit.iter_mut().for_each(|h| *h = true);
                continue;
            }
            let Some(di) = self.dirs.iter().position(|d| d.wd == Some(ev.wd)) else {
                continue;
            };
            let lost = ev.mask.contains(AddWatchFlags::IN_IGNORED);
            if lost {
                if let Some(d) = self.dirs.get_mut(di) {
                    d.wd = None;
                }
            } else if ev.mask.contains(AddWatchFlags::IN_ISDIR) {
                continue;
            }
            for (i, e) in self.files.iter().enumerate() {
                if e.dir == di && (lost || ev.name.is_some() && ev.name == e.name) {
                    if let Some(h) = hit.get_mut(i) {
                        *h = true;
                    }
                }
            }
        }
        hit.iter()
            .enumerate()
            .filter_map(|(i, h)| h.then_some(i))
            .collect()
    }

    /// Re-reads the given files; queues their changes and ignored numbers.
    fn refresh(&mut self, which: impl IntoIterator<Item = usize>) {
        for i in which {
            let Some(e) = self.files.get_mut(i) else {
                continue;
            };
            match read_value(&e.path) {
                Ok(v) if v != e.value => {
                    e.value = v;
                    self.pending.push(FileEvent::Value { id: e.id, value: v });
                }
                Ok(_) => {}
                Err(InvalidNumber(n)) => self
                    .pending
                    .push(FileEvent::Log(invalid_number_line(n, &e.path))),
            }
        }
    }
}

/// Follows tracked files on a thread of its own and hands their changes to async code.
///
/// A thread rather than a task on the checker runtime: tokio can only wait on the inotify
/// descriptor through `AsyncFd`, whose registration is `unsafe` now, and the workspace forbids
/// unsafe code; a thread blocked in `poll(2)` costs nothing while the files are quiet and never
/// delays a checker. The thread ends by itself within [`SWEEP`] once the watcher is dropped.
pub struct FileWatcher {
    initial: Vec<(usize, i64)>,
    rx: tokio::sync::mpsc::UnboundedReceiver<Vec<FileEvent>>,
}

impl FileWatcher {
    /// Starts following `files`: watches first, then reads every file once (so no change falls
    /// between the two), then starts the thread ("check-files"). The first values are in
    /// [`FileWatcher::initial`] when this returns; the log lines of the start come first from
    /// [`FileWatcher::next`]. Needs no runtime. Fails only if the thread cannot be started;
    /// without inotify the thread polls every [`POLL`].
    pub fn start(files: Vec<WatchedFile>) -> io::Result<FileWatcher> {
        let mut state = Files::new(files);
        let inotify = match Inotify::init(InitFlags::IN_CLOEXEC | InitFlags::IN_NONBLOCK) {
            Ok(i) => {
                state.watch_dirs(&i);
                Some(i)
            }
            Err(e) => {
                state.pending.push(FileEvent::Log(format!(
                    "track_file: inotify unavailable ({e}), polling the files every {} s",
                    POLL.as_secs()
                )));
                None
            }
        };
        let all = 0..state.files.len();
        state.refresh(all);
        // The first read is the baseline, not a change: keep only its log lines.
        state.pending.retain(|e| matches!(e, FileEvent::Log(_)));
        let initial = state.values();
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        if !state.pending.is_empty() {
            let _ = tx.send(std::mem::take(&mut state.pending));
        }
        std::thread::Builder::new()
            .name("check-files".into())
            .spawn(move || run(state, inotify, &tx))?;
        Ok(FileWatcher { initial, rx })
    }

    /// Every file's value when the watcher started, by id (missing files are 0).
    pub fn initial(&self) -> &[(usize, i64)] {
        &self.initial
    }

    /// The next batch of changes and log lines; `None` if the thread has ended (it does not,
    /// short of a panic).
    pub async fn next(&mut self) -> Option<Vec<FileEvent>> {
        self.rx.recv().await
    }
}

/// The thread body: waits on inotify (or sleeps when there is none), re-reads what the events
/// name and every file at each sweep, and sends what changed. Ends when the receiver is gone;
/// falls back to polling if inotify fails.
fn run(
    mut state: Files,
    mut inotify: Option<Inotify>,
    tx: &tokio::sync::mpsc::UnboundedSender<Vec<FileEvent>>,
) {
    let period = |ino: &Option<Inotify>| if ino.is_some() { SWEEP } else { POLL };
    let mut next_sweep = std::time::Instant::now() + period(&inotify);
    loop {
        if tx.is_closed() {
            return;
        }
        let now = std::time::Instant::now();
        if now >= next_sweep {
            if let Some(ino) = &inotify {
                state.watch_dirs(ino);
            }
            let all = 0..state.files.len();
            state.refresh(all);
            next_sweep = now + period(&inotify);
        } else if let Some(ino) = &inotify {
            // One millisecond more, so poll's rounding down cannot wake us just before the sweep.
            let wait = next_sweep - now + Duration::from_millis(1);
            let timeout = PollTimeout::try_from(wait).unwrap_or(PollTimeout::MAX);
            let mut fds = [PollFd::new(ino.as_fd(), PollFlags::POLLIN)];
            let polled = poll(&mut fds, timeout);
            let events = match polled {
                Ok(0) | Err(Errno::EINTR) => Ok(Vec::new()),
                Ok(_) => match ino.read_events() {
                    Err(Errno::EAGAIN | Errno::EINTR) => Ok(Vec::new()),
                    other => other,
                },
                Err(e) => Err(e),
            };
            match events {
                Ok(events) => {
                    let hit = state.affected(&events);
                    state.refresh(hit);
                }
                Err(e) => {
                    state.pending.push(FileEvent::Log(format!(
                        "track_file: inotify failed ({e}), polling the files every {} s",
                        POLL.as_secs()
                    )));
                    for d in state.dirs.iter_mut() {
                        d.wd = None;
                    }
                    inotify = None;
                    next_sweep = std::time::Instant::now() + POLL;
                }
            }
        } else {
            std::thread::sleep(next_sweep - now);
        }
        if !state.pending.is_empty() && tx.send(std::mem::take(&mut state.pending)).is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_read_like_strtol_base_0() {
        assert_eq!(parse_value(b"42\n"), Ok(42));
        assert_eq!(parse_value(b"  -17 trailing"), Ok(-17));
        assert_eq!(parse_value(b"+5"), Ok(5));
        assert_eq!(parse_value(b"0x1f"), Ok(31));
        assert_eq!(parse_value(b"0X1F\n"), Ok(31));
        assert_eq!(parse_value(b"-0x10"), Ok(-16));
        assert_eq!(parse_value(b"010"), Ok(8), "a leading 0 is octal");
        assert_eq!(parse_value(b"09"), Ok(0), "9 is no octal digit");
        assert_eq!(parse_value(b"0x"), Ok(0), "0x without a hex digit is the 0");
        assert_eq!(parse_value(b"0xg"), Ok(0));
        assert_eq!(parse_value(b"garbage"), Ok(0));
        assert_eq!(parse_value(b""), Ok(0));
        assert_eq!(parse_value(b"\n"), Ok(0));
        assert_eq!(parse_value(b"- 5"), Ok(0));
        assert_eq!(parse_value(b"7\x008"), Ok(7), "a NUL ends the text");
        assert_eq!(parse_value(b"\t\x0b\x0c\r 3"), Ok(3));
    }

    #[test]
    fn only_the_first_127_bytes_count() {
        let mut long = vec![b' '; 126];
        long.extend_from_slice(b"12");
        assert_eq!(parse_value(&long), Ok(1));
        let mut longer = vec![b' '; 127];
        longer.extend_from_slice(b"9");
        assert_eq!(parse_value(&longer), Ok(0));
    }

    #[test]
    fn out_of_range_numbers_are_refused() {
        assert_eq!(parse_value(b"2147483647"), Ok(2_147_483_647));
        assert_eq!(
            parse_value(b"2147483648"),
            Ok(2_147_483_648),
            "INT32_MAX + 1 is accepted"
        );
        assert_eq!(
            parse_value(b"2147483649"),
            Err(InvalidNumber(2_147_483_649))
        );
        assert_eq!(parse_value(b"-2147483648"), Ok(-2_147_483_648));
        assert_eq!(
            parse_value(b"-2147483649"),
            Err(InvalidNumber(-2_147_483_649))
        );
        assert_eq!(
            parse_value(b"99999999999999999999999"),
            Err(InvalidNumber(i64::MAX))
        );
        assert_eq!(
            parse_value(b"-99999999999999999999999"),
            Err(InvalidNumber(i64::MIN))
        );
        // At start an ignored number is 0.
        assert_eq!(evaluate(b"99999999999", 0, false), verdict(0, 0, false));
    }

    #[test]
    fn weight_0_means_non_zero_is_down() {
        let up = FileVerdict {
            up: true,
            weight_delta: 0,
        };
        let down = FileVerdict {
            up: false,
            weight_delta: 0,
        };
        assert_eq!(evaluate(b"0\n", 0, false), up);
        assert_eq!(evaluate(b"1\n", 0, false), down);
        assert_eq!(evaluate(b"-3\n", 0, false), down);
        assert_eq!(evaluate(b"garbage", 0, false), up);
        assert_eq!(evaluate(b"", 0, false), up);
        // reverse inverts it: zero is down.
        assert_eq!(evaluate(b"0\n", 0, true), down);
        assert_eq!(evaluate(b"7\n", 0, true), up);
    }

    #[test]
    fn a_weight_scales_the_value() {
        assert_eq!(
            evaluate(b"5", 2, false),
            FileVerdict {
                up: true,
                weight_delta: 10
            }
        );
        assert_eq!(
            evaluate(b"5", 2, true),
            FileVerdict {
                up: true,
                weight_delta: -10
            }
        );
        assert_eq!(
            evaluate(b"0x10", -1, false),
            FileVerdict {
                up: true,
                weight_delta: -16
            }
        );
        assert_eq!(
            evaluate(b"-4", 3, true),
            FileVerdict {
                up: true,
                weight_delta: 12
            }
        );
        // INT32_MIN (or below, clamped) is down.
        assert!(!evaluate(b"-2147483648", 1, false).up);
        assert!(!evaluate(b"-1000000", 65535, false).up);
        assert!(!evaluate(b"2147483648", 1, true).up);
        assert!(evaluate(b"-2147483647", 1, false).up);
        // Very large products clamp at INT32_MAX.
        assert_eq!(
            evaluate(b"2147483647", 100, false).weight_delta,
            2_147_483_647
        );
    }

    #[test]
    fn the_check_weight_defaults_to_the_files() {
        assert_eq!(effective_weight(None, false, 3, true), (3, true));
        assert_eq!(effective_weight(Some(0), true, 1, false), (1, false));
        assert_eq!(effective_weight(Some(-2), true, 1, false), (-2, true));
    }

    #[test]
    fn log_texts() {
        assert_eq!(
            fault_line("[192.0.2.10]:tcp:80", "maint"),
            "([192.0.2.10]:tcp:80): tracked file maint now FAULT state"
        );
        assert_eq!(
            leaving_fault_line("[192.0.2.10]:tcp:80", "maint"),
            "([192.0.2.10]:tcp:80): tracked file maint leaving FAULT state"
        );
        assert_eq!(
            invalid_number_line(5_000_000_000, Path::new("/run/x")),
            "Invalid number 5000000000 read from /run/x - ignoring"
        );
    }

    fn temp_dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("ka-file-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).expect("dir");
        d
    }

    /// Waits for the next batch of events (bounded, so a broken watcher fails the test).
    async fn next(w: &mut FileWatcher) -> Vec<FileEvent> {
        tokio::time::timeout(Duration::from_secs(3), w.next())
            .await
            .expect("an event within 3 s")
            .expect("the thread runs")
    }

    #[tokio::test]
    async fn the_watcher_reads_at_start_and_reports_changes() {
        let d = temp_dir("watch");
        let a = d.join("a");
        let b = d.join("b");
        std::fs::write(&a, "3\n").expect("write");
        let mut w = FileWatcher::start(vec![
            WatchedFile {
                id: 1,
                path: a.clone(),
            },
            WatchedFile {
                id: 2,
                path: b.clone(),
            },
        ])
        .expect("start");
        assert_eq!(w.initial(), &[(1, 3), (2, 0)], "b is missing: 0");

        std::fs::write(&a, "0x10\n").expect("write");
        assert_eq!(
            next(&mut w).await,
            vec![FileEvent::Value { id: 1, value: 16 }]
        );

        // Created by rename (the atomic way to write such files).
        let tmp = d.join("b.tmp");
        std::fs::write(&tmp, "-2").expect("write");
        std::fs::rename(&tmp, &b).expect("rename");
        assert_eq!(
            next(&mut w).await,
            vec![FileEvent::Value { id: 2, value: -2 }]
        );

        // An out-of-range number is logged and ignored.
        std::fs::write(&b, "99999999999").expect("write");
        let ev = next(&mut w).await;
        assert_eq!(ev.len(), 1);
        assert!(
            matches!(&ev[0], FileEvent::Log(l) if l.starts_with("Invalid number 99999999999 read from")),
            "{ev:?}"
        );

        // Deleted: 0.
        std::fs::remove_file(&a).expect("rm");
        assert_eq!(
            next(&mut w).await,
            vec![FileEvent::Value { id: 1, value: 0 }]
        );

        // Writing the value kept (the ignored number did not replace it) reports nothing; the
        // next real change comes alone.
        std::fs::write(&b, "-2").expect("write");
        std::fs::write(&b, "garbage").expect("write");
        assert_eq!(
            next(&mut w).await,
            vec![FileEvent::Value { id: 2, value: 0 }]
        );
        let _ = std::fs::remove_dir_all(&d);
    }

    #[tokio::test]
    async fn a_symlinked_file_is_followed_at_its_target() {
        let d = temp_dir("link");
        let real = d.join("real");
        std::fs::write(&real, "1").expect("write");
        let link = d.join("link");
        std::os::unix::fs::symlink(&real, &link).expect("symlink");
        let mut w = FileWatcher::start(vec![WatchedFile { id: 9, path: link }]).expect("start");
        assert_eq!(w.initial(), &[(9, 1)]);
        std::fs::write(&real, "2").expect("write");
        assert_eq!(
            next(&mut w).await,
            vec![FileEvent::Value { id: 9, value: 2 }]
        );
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn read_value_of_missing_and_unreadable_files_is_0() {
        assert_eq!(read_value(Path::new("/nonexistent/ka-check/x")), Ok(0));
        let d = temp_dir("dir");
        assert_eq!(read_value(&d), Ok(0), "a directory reads as 0");
        let _ = std::fs::remove_dir_all(&d);
    }
}
