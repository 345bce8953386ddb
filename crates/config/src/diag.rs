//! Diagnostics: every message the parser and validator produce, with its location and with
//! the effect it has on the `-t` exit code, so that one list drives logs and verdicts alike.

use serde::Serialize;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

/// A place in a configuration file; lines and columns count from 1.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Location {
    /// The file, as it was opened (absolute when the include resolved it so).
    pub file: Arc<PathBuf>,
    /// 1-based line number.
    pub line: u32,
    /// 1-based column (in characters); 0 when the whole line is meant.
    pub col: u32,
}

impl Location {
    /// A location at a line and column of a file.
    pub fn new(file: Arc<PathBuf>, line: u32, col: u32) -> Self {
        Location { file, line, col }
    }

    /// The same line at another column; used for tokens within a line.
    pub fn at_col(&self, col: u32) -> Self {
        Location {
            file: self.file.clone(),
            line: self.line,
            col,
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.col > 0 {
            write!(f, "{}:{}:{}", self.file.display(), self.line, self.col)
        } else {
            write!(f, "{}:{}", self.file.display(), self.line)
        }
    }
}

/// How loud a diagnostic is in the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Information only (for example: a keyword we parse but do not act on yet).
    Note,
    /// Something keepalived warns about; the daemon still runs.
    Warning,
    /// A real error; keepalived ignores or corrects the item and goes on.
    Error,
}

/// What a diagnostic does to the `-t/--config-test` exit status, with keepalived 2.2.7's codes.
///
/// When several apply, the highest code wins (keepalived's behaviour), so the enum is ordered by
/// code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Does not change the exit status (exit 0).
    Clean,
    /// keepalived stops at once with exit 2 (a keyword is missing its value).
    Abort,
    /// The configuration cannot run (exit 4).
    CannotRun,
    /// Errors or warnings, but keepalived would run (exit 5).
    Error,
    /// Scripts would run without script security (exit 6).
    Security,
}

impl Verdict {
    /// The process exit status keepalived 2.2.7 uses for this verdict.
    pub fn exit_code(self) -> i32 {
        match self {
            Verdict::Clean => 0,
            Verdict::Abort => 2,
            Verdict::CannotRun => 4,
            Verdict::Error => 5,
            Verdict::Security => 6,
        }
    }
}

/// One message about the configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    /// How loud it is.
    pub severity: Severity,
    /// Its effect on `-t`.
    pub verdict: Verdict,
    /// Where it is, when it has a place.
    pub location: Option<Location>,
    /// What is wrong, naming the offending token.
    pub message: String,
    /// What was expected or what to do instead (for example: "did you mean 'priority'?").
    pub help: Option<String>,
    /// Which of keepalived's reading passes finds it (decides whether it still counts after an
    /// include-check failure).
    pub phase: Phase,
}

/// keepalived reads the file in a first pass (includes, global_defs, brace balance) and then
/// once per subsystem; a failed checked include stops it after the first pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Found by the first pass.
    #[default]
    First,
    /// Found by a subsystem pass or by validation.
    Subsystem,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let level = match self.severity {
            Severity::Note => "note",
            Severity::Warning => "warning",
            Severity::Error => "error",
        };
        if let Some(loc) = &self.location {
            write!(f, "{loc}: ")?;
        }
        write!(f, "{level}: {}", self.message)?;
        if let Some(help) = &self.help {
            write!(f, " ({help})")?;
        }
        Ok(())
    }
}

/// The diagnostics of one parse, in the order they were found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Diagnostics {
    items: Vec<Diagnostic>,
    phase: Phase,
    stop_after_first_pass: bool,
    /// Effects of diagnostics dropped past the size cap, so verdicts stay exact.
    overflow: std::collections::BTreeSet<(Verdict, Phase)>,
    /// Where `with_help` goes for a diagnostic dropped past the cap.
    #[serde(skip)]
    scratch: Option<Diagnostic>,
}

/// Longest list we keep; a binary or huge file must not turn into gigabytes of messages.
const MAX_DIAGNOSTICS: usize = 10_000;

impl Diagnostics {
    /// An empty list.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a diagnostic; past the size cap only its effect on the verdict is kept.
    pub fn push(&mut self, d: Diagnostic) {
        if self.items.len() < MAX_DIAGNOSTICS {
            self.items.push(d);
        } else {
            self.overflow.insert((d.verdict, d.phase));
        }
    }

    fn add(
        &mut self,
        severity: Severity,
        verdict: Verdict,
        loc: Option<&Location>,
        msg: impl Into<String>,
    ) -> &mut Diagnostic {
        self.push(Diagnostic {
            severity,
            verdict,
            location: loc.cloned(),
            message: msg.into(),
            help: None,
            phase: self.phase,
        });
        if self.items.len() >= MAX_DIAGNOSTICS {
            // Past the cap: hand out a scratch entry (only its effect was kept).
            return self.scratch.insert(Diagnostic {
                severity,
                verdict,
                location: None,
                message: String::new(),
                help: None,
                phase: self.phase,
            });
        }
        let last = self.items.len() - 1;
        &mut self.items[last]
    }

    /// An error keepalived reports and survives (exit 5).
    pub fn error(&mut self, loc: Option<&Location>, msg: impl Into<String>) -> &mut Diagnostic {
        self.add(Severity::Error, Verdict::Error, loc, msg)
    }

    /// A warning keepalived's `-t` counts as an error (exit 5).
    pub fn warning(&mut self, loc: Option<&Location>, msg: impl Into<String>) -> &mut Diagnostic {
        self.add(Severity::Warning, Verdict::Error, loc, msg)
    }

    /// A warning that leaves the exit status alone (keepalived only logs it).
    pub fn quiet_warning(
        &mut self,
        loc: Option<&Location>,
        msg: impl Into<String>,
    ) -> &mut Diagnostic {
        self.add(Severity::Warning, Verdict::Clean, loc, msg)
    }

    /// A note that leaves the exit status alone.
    pub fn note(&mut self, loc: Option<&Location>, msg: impl Into<String>) -> &mut Diagnostic {
        self.add(Severity::Note, Verdict::Clean, loc, msg)
    }

    /// A problem that means the configuration cannot run (exit 4).
    pub fn fatal(&mut self, loc: Option<&Location>, msg: impl Into<String>) -> &mut Diagnostic {
        self.add(Severity::Error, Verdict::CannotRun, loc, msg)
    }

    /// A script-security problem (exit 6).
    pub fn security(&mut self, loc: Option<&Location>, msg: impl Into<String>) -> &mut Diagnostic {
        self.add(Severity::Warning, Verdict::Security, loc, msg)
    }

    /// A keyword without its value: keepalived exits 2 on the spot.
    pub fn abort(&mut self, loc: Option<&Location>, msg: impl Into<String>) -> &mut Diagnostic {
        self.add(Severity::Error, Verdict::Abort, loc, msg)
    }

    /// A checked include failed: exit 6, and keepalived reads no further than its first pass.
    pub fn include_failure(
        &mut self,
        loc: Option<&Location>,
        msg: impl Into<String>,
    ) -> &mut Diagnostic {
        self.stop_after_first_pass = true;
        self.add(Severity::Error, Verdict::Security, loc, msg)
    }

    /// Diagnostics pushed from now on belong to this pass.
    pub fn set_phase(&mut self, phase: Phase) {
        self.phase = phase;
    }

    /// All diagnostics, in order.
    pub fn items(&self) -> &[Diagnostic] {
        &self.items
    }

    /// The worst verdict met so far (by code order, as keepalived ranks them).
    pub fn worst(&self) -> Verdict {
        let dropped = self.overflow.iter().map(|(v, _)| *v);
        self.items
            .iter()
            .map(|d| d.verdict)
            .chain(dropped)
            .max()
            .unwrap_or(Verdict::Clean)
    }

    /// Whether the diagnostic still counts: after a failed checked include keepalived never runs
    /// its subsystem passes.
    fn counts(&self, d: &Diagnostic) -> bool {
        !(self.stop_after_first_pass && d.phase == Phase::Subsystem)
    }

    /// The `-t` exit status these diagnostics give, as keepalived 2.2.7 computes it: an abort in
    /// a pass that runs wins (exit 2); otherwise the highest-ranked class (6 > 5 > 4 > 0).
    pub fn exit_code(&self) -> i32 {
        let counted = || {
            let kept = self
                .items
                .iter()
                .filter(|d| self.counts(d))
                .map(|d| d.verdict);
            let dropped = self
                .overflow
                .iter()
                .filter(|(_, p)| !(self.stop_after_first_pass && *p == Phase::Subsystem))
                .map(|(v, _)| *v);
            kept.chain(dropped)
        };
        if counted().any(|v| v == Verdict::Abort) {
            return 2;
        }
        counted()
            .filter(|v| *v != Verdict::Abort)
            .max()
            .unwrap_or(Verdict::Clean)
            .exit_code()
    }

    /// Moves every diagnostic of `other` to the end of this list.
    pub fn extend(&mut self, other: Diagnostics) {
        for d in other.items {
            self.push(d);
        }
    }
}

impl Diagnostic {
    /// Attaches a hint (what was expected, or the nearest known keyword).
    pub fn with_help(&mut self, help: impl Into<String>) -> &mut Self {
        self.help = Some(help.into());
        self
    }
}

/// The known word nearest to `word`, if it is close enough to be a likely typo.
pub fn nearest<'a>(word: &str, known: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let mut best: Option<(usize, &str)> = None;
    for k in known {
        let d = edit_distance(word, k);
        if best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, k));
        }
    }
    let (d, k) = best?;
    let limit = (word.chars().count().max(k.chars().count()) / 3).max(1);
    (d <= limit).then_some(k)
}

/// Levenshtein distance over characters; inputs are keywords, so quadratic cost is fine.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    if a.len() > 64 || b.len() > 64 {
        return usize::MAX / 2;
    }
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.iter().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_finds_typo() {
        let known = ["virtual_router_id", "priority", "interface"];
        assert_eq!(
            nearest("virtual_routr_id", known),
            Some("virtual_router_id")
        );
        assert_eq!(nearest("prority", known), Some("priority"));
        assert_eq!(nearest("zzz", known), None);
    }

    #[test]
    fn worst_verdict_wins() {
        let mut d = Diagnostics::new();
        assert_eq!(d.exit_code(), 0);
        d.fatal(None, "x");
        assert_eq!(d.exit_code(), 4);
        d.error(None, "y");
        assert_eq!(d.exit_code(), 5);
        d.security(None, "z");
        assert_eq!(d.exit_code(), 6);
        d.note(None, "n");
        assert_eq!(d.exit_code(), 6);
        d.abort(None, "a");
        assert_eq!(d.exit_code(), 2);
    }

    #[test]
    fn cap_keeps_verdicts_and_stays_fast() {
        let mut d = Diagnostics::new();
        for _ in 0..(MAX_DIAGNOSTICS * 20) {
            d.note(None, "n").with_help("h");
        }
        assert_eq!(d.items().len(), MAX_DIAGNOSTICS);
        assert_eq!(d.exit_code(), 0);
        d.error(None, "late error");
        assert_eq!(d.exit_code(), 5);
    }

    #[test]
    fn include_failure_hides_later_passes() {
        let mut d = Diagnostics::new();
        d.include_failure(None, "missing");
        d.set_phase(Phase::Subsystem);
        d.abort(None, "missing value in vrrp_instance");
        assert_eq!(d.exit_code(), 6);
        d.set_phase(Phase::First);
        d.abort(None, "missing value in global_defs");
        assert_eq!(d.exit_code(), 2);
    }
}
