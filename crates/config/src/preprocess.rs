//! The preprocessor: reads the configuration file and its includes and produces the logical lines
//! the parser sees, with `@` conditionals, `$` parameters and `~SEQ`/`~LST` repetition applied.
//!
//! This follows keepalived 2.2.7's `lib/parser.c` (`read_line`, `decomment`, `replace_param`,
//! `add_seq`, `read_conf_file`), checked against the Debian 2.2.7 binary:
//!
//! * Physical lines are split on `\n`; trailing `\r`s are dropped; a NUL ends the line (C strings);
//!   a line longer than 1023 bytes is cut into 1023-byte pieces (keepalived's `fgets` buffer).
//! * Comments (`#`, `!` outside quotes, `\#`/`\!` escape them) are removed first, then leading and
//!   trailing blanks. A literal `#`/`!` that survives (escaped, or produced by `${_HASH}` or
//!   `${_BANG}`) is written back escaped as `\#`/`\!`, so the lexer keeps it as text.
//! * A blank (empty) line ends a multi-line `$NAME=` definition; comment-only lines do not.
//! * Each output line is split at the first `{`/`}` outside quotes, as keepalived does; the rest is
//!   processed again as a line of its own (so `@`, `$`, `~SEQ` and `include` work after a brace).
//! * `include` and its strict variants are recognised after `@`/`$` processing.
//!
//! Verdicts (keepalived 2.2.7 `-t`): a failed strict include check exits 6, the same code as
//! script security, so it is reported with [`Diagnostics::security`]; a missing or unusable root
//! file is only logged (exit 0) unless `-e` is given, then it cannot run (exit 4); bad `~SEQ`/`~LST`
//! specifications are errors (exit 5); everything else the preprocessor says is only logged.

use crate::diag::{Diagnostics, Location};
use crate::lexer::{tokenize, TokenKind};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Settings that change what the preprocessor keeps, from the command line.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `-i/--config-id`: `@ID` lines are kept only when ID matches (default: short hostname).
    pub config_id: String,
    /// `-e/--all-config`: every include must exist.
    pub all_config: bool,
    /// Seed for `${_RANDOM}`; None uses a fixed default so runs are reproducible.
    pub random_seed: Option<u64>,
    /// Value of `${_INSTANCE}` (the `instance` name, empty when not set).
    ///
    /// keepalived 2.2.7 expands `${_INSTANCE}` to the config id, so when this is empty the
    /// config id is used.
    pub instance: String,
}

/// One logical line, after preprocessing, with where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// The text, parameters expanded, continuation lines joined. Comments have been removed; a
    /// `#` or `!` that is text (outside quotes) is escaped as `\#` / `\!`, which the lexer reads
    /// back as the plain character.
    pub text: String,
    /// File and line it came from (column 0).
    pub location: Location,
}

/// keepalived's line buffer (`MAXBUF`): lines and substitutions are limited to one less.
const MAXBUF: usize = 1024;
/// Most bytes keepalived reads as one line.
const MAX_LINE: usize = MAXBUF - 1;
/// keepalived's `~SEQ` parameter buffer (`3 * 20 + 3 + 1`).
const SEQ_BUF: usize = 64;
/// Deepest include nesting we follow (keepalived goes on until it runs out of descriptors).
pub const MAX_INCLUDE_DEPTH: usize = 64;
/// Most lines `~SEQ`/`~LST` repetition and multi-line parameters may generate in total.
pub const MAX_GENERATED_LINES: u64 = 2_000_000;
/// Most substitutions in one line before expansion is declared endless.
const MAX_SUBSTITUTIONS: usize = 10_000;
/// Deepest stack of files, repetitions and multi-line parameter expansions.
const MAX_FRAMES: usize = 1_000;
/// Substitution rounds allowed for the whole configuration: real files need a few thousand;
/// self-feeding multi-line parameters could otherwise take minutes.
const MAX_TOTAL_SUBSTITUTIONS: u64 = 500_000;
/// Most alternatives a brace pattern of an include may expand to.
const MAX_BRACE_TERMS: usize = 4096;
/// Default seed for `${_RANDOM}`.
const DEFAULT_SEED: u64 = 0x4b41_4c49_5645_4421;

/// Include check flags (`include_check` and the `includeX` variants).
const INC_R: u8 = 1;
const INC_M: u8 = 2;
const INC_W: u8 = 4;
const INC_B: u8 = 8;
const INC_ALL: u8 = INC_R | INC_M | INC_W | INC_B;

/// Reads `path` and everything it includes into logical lines; problems go to `diags`.
pub fn preprocess(path: &Path, opts: &Options, diags: &mut Diagnostics) -> Vec<Line> {
    let mut out = Vec::new();
    preprocess_into(path, opts, diags, &mut |line, _| out.push(line));
    out
}

/// Like [`preprocess`], but hands each line to `sink` as soon as it is ready, so a caller can
/// build from a huge file without holding all of its lines.
pub fn preprocess_into(
    path: &Path,
    opts: &Options,
    diags: &mut Diagnostics,
    sink: &mut dyn FnMut(Line, &mut Diagnostics),
) {
    let mut pre = Pre::new(opts, diags, sink);
    pre.open_root(path);
    pre.run();
}

/// A built-in parameter, computed when used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Builtin {
    Pwd,
    Instance,
    Random,
    Hash,
    Bang,
}

/// A `$NAME` definition.
#[derive(Debug, Clone)]
struct Def {
    value: String,
    multiline: bool,
    builtin: Option<Builtin>,
}

/// Where the next line comes from.
enum Frame {
    /// A file being read.
    File(FileFrame),
    /// Remaining lines of a multi-line parameter (or a line left after an include).
    Lines {
        lines: Vec<String>,
        next: usize,
        loc: Location,
        generated: bool,
    },
    /// A `~SEQ` or `~LST` repetition.
    Repeat { rep: Repeat, loc: Location },
    /// Files matched by an include, opened one after the other.
    Includes {
        files: Vec<PathBuf>,
        next: usize,
        flags: u8,
        loc: Location,
    },
}

struct FileFrame {
    path: Arc<PathBuf>,
    /// Canonical path, for loop detection.
    canon: PathBuf,
    dir: PathBuf,
    data: Vec<u8>,
    pos: usize,
    line_no: u32,
    /// Byte range of the rest of a physical line longer than [`MAX_LINE`].
    rest: Option<(usize, usize)>,
    /// `include_check` in force for includes of this file.
    flags: u8,
}

/// The values a repetition still has to produce.
enum Repeat {
    Seq {
        var: String,
        next: i64,
        step: i64,
        last: i64,
        hex: bool,
        text: String,
        done: bool,
    },
    Lst {
        vars: Vec<String>,
        values: Vec<Vec<String>>,
        next: usize,
        text: String,
    },
}

/// Tracks whether emitted lines are inside `global_defs`, for `include_check`.
#[derive(Default)]
struct BlockTracker {
    depth: u32,
    in_global: bool,
    last_word: String,
}

struct Pre<'a> {
    opts: &'a Options,
    diags: &'a mut Diagnostics,
    defs: HashMap<String, Def>,
    sink: &'a mut dyn FnMut(Line, &mut Diagnostics),
    stack: Vec<Frame>,
    /// Name of the multi-line definition being collected.
    collecting: Option<String>,
    generated: u64,
    limit_reported: bool,
    /// Substitution rounds so far, against [`MAX_TOTAL_SUBSTITUTIONS`].
    substitutions: u64,
    budget_reported: bool,
    rng: u64,
    blocks: BlockTracker,
}

/// What one substitution pass did.
struct Replaced {
    found: bool,
    /// Remaining lines of multi-line parameters, outermost first.
    multis: Vec<Vec<String>>,
}

impl<'a> Pre<'a> {
    fn new(
        opts: &'a Options,
        diags: &'a mut Diagnostics,
        sink: &'a mut dyn FnMut(Line, &mut Diagnostics),
    ) -> Self {
        let mut defs = HashMap::new();
        for (name, b) in [
            ("_PWD", Builtin::Pwd),
            ("_INSTANCE", Builtin::Instance),
            ("_RANDOM", Builtin::Random),
            ("_HASH", Builtin::Hash),
            ("_BANG", Builtin::Bang),
        ] {
            defs.insert(
                name.to_string(),
                Def {
                    value: String::new(),
                    multiline: false,
                    builtin: Some(b),
                },
            );
        }
        let seed = opts.random_seed.unwrap_or(DEFAULT_SEED);
        Pre {
            opts,
            diags,
            defs,
            sink,
            stack: Vec::new(),
            collecting: None,
            generated: 0,
            limit_reported: false,
            substitutions: 0,
            budget_reported: false,
            rng: splitmix64(seed),
            blocks: BlockTracker::default(),
        }
    }

    // ----------------------------------------------------------------------------------------
    // Files

    /// Opens the `-f` file; `-e` makes every problem with it fatal.
    fn open_root(&mut self, path: &Path) {
        let shown = path.display().to_string();
        let flags = if self.opts.all_config { INC_ALL } else { 0 };
        let report = |diags: &mut Diagnostics, msg: String| {
            if flags != 0 {
                diags
                    .fatal(None, msg)
                    .with_help("-e/--all-config requires every file");
            } else {
                diags.quiet_warning(None, msg);
            }
        };
        let meta = match std::fs::metadata(path) {
            Ok(m) => m,
            Err(_) => {
                report(self.diags, format!("Config files missing '{shown}'."));
                return;
            }
        };
        if meta.is_dir() {
            report(
                self.diags,
                format!("Configuration file '{shown}' is a directory - skipping"),
            );
            return;
        }
        if !is_regular_non_exec(&meta) {
            report(
                self.diags,
                format!(
                    "Configuration file '{shown}' is not a regular non-executable file - skipping"
                ),
            );
            return;
        }
        match read_capped(path) {
            Ok(data) => self.push_file(path.to_path_buf(), data, flags),
            Err(e) => {
                self.diags.fatal(
                    None,
                    format!("Configuration file '{shown}' open problem ({e}) - skipping"),
                );
            }
        }
    }

    fn push_file(&mut self, path: PathBuf, data: Vec<u8>, flags: u8) {
        let canon = std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        self.stack.push(Frame::File(FileFrame {
            path: Arc::new(path),
            canon,
            dir,
            data,
            pos: 0,
            line_no: 0,
            rest: None,
            flags,
        }));
    }

    fn current_file(&self) -> Option<&FileFrame> {
        self.stack.iter().rev().find_map(|f| match f {
            Frame::File(ff) => Some(ff),
            _ => None,
        })
    }

    fn current_file_mut(&mut self) -> Option<&mut FileFrame> {
        self.stack.iter_mut().rev().find_map(|f| match f {
            Frame::File(ff) => Some(ff),
            _ => None,
        })
    }

    // ----------------------------------------------------------------------------------------
    // Main loop

    fn run(&mut self) {
        while let Some(top) = self.stack.last_mut() {
            match top {
                Frame::File(ff) => match next_physical(ff) {
                    None => {
                        self.stack.pop();
                    }
                    Some((raw, line_no)) => {
                        let loc = Location::new(ff.path.clone(), line_no, 0);
                        self.file_line(&raw, &loc);
                    }
                },
                Frame::Lines {
                    lines,
                    next,
                    loc,
                    generated,
                } => {
                    if *next >= lines.len() {
                        self.stack.pop();
                        continue;
                    }
                    let text = std::mem::take(&mut lines[*next]);
                    *next += 1;
                    let loc = loc.clone();
                    if *generated && !self.count_generated(&loc) {
                        continue;
                    }
                    if !text.is_empty() {
                        self.process(text, &loc, None);
                    }
                }
                Frame::Repeat { rep, loc } => {
                    let loc = loc.clone();
                    let Some((assign, text)) = next_repeat(rep) else {
                        self.stack.pop();
                        continue;
                    };
                    if !self.count_generated(&loc) {
                        continue;
                    }
                    for (var, val) in assign {
                        self.set_definition(&var, val);
                    }
                    if !text.is_empty() {
                        self.process(text, &loc, None);
                    }
                }
                Frame::Includes {
                    files,
                    next,
                    flags,
                    loc,
                } => {
                    if *next >= files.len() {
                        self.stack.pop();
                        continue;
                    }
                    let file = files[*next].clone();
                    *next += 1;
                    let (flags, loc) = (*flags, loc.clone());
                    self.open_included(&file, flags, &loc);
                }
            }
        }
        if let Some(name) = self.collecting.take() {
            self.end_multiline(&name);
        }
    }

    /// Counts one generated line; false (and everything generated dropped) past the cap.
    fn count_generated(&mut self, loc: &Location) -> bool {
        self.generated += 1;
        if self.generated <= MAX_GENERATED_LINES {
            return true;
        }
        if !self.limit_reported {
            self.limit_reported = true;
            self.diags
                .error(
                    Some(loc),
                    format!(
                        "~SEQ/~LST repetition and multi-line parameters generate more than \
                         {MAX_GENERATED_LINES} lines - the rest is dropped"
                    ),
                )
                .with_help("split the configuration or use fewer repetitions");
        }
        self.drop_generated_frames();
        false
    }

    /// Drops every generating frame (parameter expansion, `~SEQ` repetition) above the
    /// innermost file, so a runaway expansion stops at its source.
    fn drop_generated_frames(&mut self) {
        while matches!(
            self.stack.last(),
            Some(Frame::Lines { .. } | Frame::Repeat { .. })
        ) {
            self.stack.pop();
        }
    }

    /// One physical line (or piece) of a file.
    fn file_line(&mut self, raw: &[u8], loc: &Location) {
        if raw.is_empty() {
            // A blank line ends a multi-line definition.
            if let Some(name) = self.collecting.take() {
                self.end_multiline(&name);
            }
            return;
        }
        let indent_len = raw.iter().take_while(|&&b| b == b' ' || b == b'\t').count();
        let text = decomment(raw);
        if text.is_empty() {
            return;
        }
        // Only blanks: no UTF-8 check needed.
        let indent: String = raw[..indent_len].iter().map(|&b| char::from(b)).collect();
        let text = bytes_to_string(text);
        self.process(text, loc, Some(indent));
    }

    /// Processes one line: conditionals, definitions, repetition, substitution, brace splitting,
    /// includes; emits what is left.
    fn process(&mut self, text: String, loc: &Location, indent: Option<String>) {
        let mut pending = Some(text);
        let mut indent = indent;
        // A parameter whose value holds a brace and itself (`$A=x{${A}`) splits and re-expands
        // forever; keepalived would spin. Bound the pieces one line may produce.
        let mut pieces = 0usize;
        while let Some(line) = pending.take() {
            pieces += 1;
            if pieces > MAX_SUBSTITUTIONS {
                self.report_endless(line.as_bytes(), loc);
                return;
            }
            if let Some(name) = self.collecting.clone() {
                self.collect(&name, line);
                indent = None;
                continue;
            }
            let original_len = line.len();
            let Some(line) = self.transform(line, loc) else {
                indent = None;
                continue;
            };
            // keepalived looks for include before it splits the line at braces, so patterns
            // may use `{a,b}`.
            if let Some((flags, pattern)) = include_directive(&line) {
                self.include(pattern, flags, loc);
                return;
            }
            let (head, residue) = split_brace(&line);
            if let Some(r) = residue {
                pending = Some(r);
            }
            if head.is_empty() {
                indent = None;
                continue;
            }
            // The indent only helps column numbers; keep it when the line came through whole.
            let keep_indent = indent.take().filter(|_| head.len() == original_len);
            self.emit(head, keep_indent, loc);
        }
    }

    fn emit(&mut self, text: String, indent: Option<String>, loc: &Location) {
        self.track_blocks(&text);
        let mut out = indent.unwrap_or_default();
        escape_comment_chars(&text, &mut out);
        (self.sink)(
            Line {
                text: out,
                location: loc.clone(),
            },
            self.diags,
        );
    }

    /// Follows `global_defs { include_check ... }` so that later includes use its checks.
    fn track_blocks(&mut self, text: &str) {
        // Fast path for the common case: inside a block other than global_defs only the
        // brace depth matters.
        if self.blocks.depth >= 1 && !self.blocks.in_global {
            let mut quote = false;
            for &b in text.as_bytes() {
                match b {
                    b'"' => quote = !quote,
                    b'{' if !quote => self.blocks.depth = self.blocks.depth.saturating_add(1),
                    b'}' if !quote => {
                        self.blocks.depth = self.blocks.depth.saturating_sub(1);
                        if self.blocks.depth == 0 {
                            // Back at the top level: the rest needs the full scan.
                            break;
                        }
                    }
                    _ => {}
                }
            }
            // Lines are split at braces, so nothing of interest follows a closing one.
            return;
        }
        let toks = tokenize(text);
        if self.blocks.depth == 1 && self.blocks.in_global {
            if let Some(first) = toks.first() {
                if first.kind == TokenKind::Word && first.text == "include_check" {
                    let args: Vec<&str> = toks[1..]
                        .iter()
                        .take_while(|t| matches!(t.kind, TokenKind::Word | TokenKind::Quoted))
                        .map(|t| t.text.as_str())
                        .collect();
                    if let Some(ff) = self.current_file_mut() {
                        ff.flags = apply_include_check(ff.flags, &args);
                    }
                }
            }
        }
        for t in toks {
            match t.kind {
                TokenKind::Open => {
                    if self.blocks.depth == 0 {
                        self.blocks.in_global = self.blocks.last_word == "global_defs";
                    }
                    self.blocks.depth = self.blocks.depth.saturating_add(1);
                }
                TokenKind::Close => {
                    self.blocks.depth = self.blocks.depth.saturating_sub(1);
                    if self.blocks.depth == 0 {
                        self.blocks.in_global = false;
                    }
                }
                TokenKind::Word | TokenKind::Quoted => {
                    if self.blocks.depth == 0 {
                        self.blocks.last_word = t.text.to_string();
                    }
                }
            }
        }
    }

    /// `@`, `$NAME=`, `~SEQ`, `~LST` and `$` substitution; None when the line is consumed.
    fn transform(&mut self, line: String, loc: &Location) -> Option<String> {
        // Most lines have nothing to transform: hand them back untouched.
        if !matches!(line.as_bytes().first(), Some(b'@' | b'$' | b'~')) && !line.contains('$') {
            return Some(line);
        }
        let mut buf = line.into_bytes();
        let mut rounds = 0usize;
        loop {
            rounds += 1;
            if rounds > MAX_SUBSTITUTIONS {
                self.report_endless(&buf, loc);
                break;
            }
            if buf.contains(&b'$') {
                self.substitutions += 1;
                if self.substitutions > MAX_TOTAL_SUBSTITUTIONS {
                    if !self.budget_reported {
                        self.budget_reported = true;
                        self.diags
                            .fatal(
                                Some(loc),
                                format!(
                                    "parameters expand more than {MAX_TOTAL_SUBSTITUTIONS} times - \
                                     the configuration feeds itself; the rest is dropped"
                                ),
                            )
                            .with_help("check parameter definitions that use themselves");
                    }
                    self.drop_generated_frames();
                    return None;
                }
            }
            if buf.first() == Some(&b'@') {
                let (rev, ofs) = if buf.get(1) == Some(&b'^') {
                    (true, 2)
                } else {
                    (false, 1)
                };
                let sp = buf[ofs..].iter().position(|&b| b == b' ' || b == b'\t')?;
                let id = &buf[ofs..ofs + sp];
                let matches = id == self.opts.config_id.as_bytes();
                if matches == rev {
                    return None;
                }
                let mut start = ofs + sp;
                while matches!(buf.get(start), Some(b' ' | b'\t')) {
                    start += 1;
                }
                buf.drain(..start);
            }
            if buf.first() == Some(&b'$') {
                if let Some((name, value)) = parse_definition(&buf) {
                    self.define(name, value);
                    return None;
                }
            }
            if buf.starts_with(b"~SEQ") {
                self.add_seq(&buf, loc);
                return None;
            }
            if buf.starts_with(b"~LST") {
                self.add_lst(&buf, loc);
                return None;
            }
            if buf.first() == Some(&b'~') {
                break;
            }
            if !buf.contains(&b'$') {
                break;
            }
            let r = self.replace_param(&mut buf, MAXBUF, loc);
            if !r.found {
                break;
            }
            // Lines of multi-line parameters: the newest is read first. A definition that
            // expands into itself would stack frames without end: bound them.
            if self.stack.len() + r.multis.len() > MAX_FRAMES {
                self.diags
                    .fatal(
                        Some(loc),
                        format!(
                            "multi-line parameters nest more than {MAX_FRAMES} deep - \
                             the configuration feeds itself; the rest is dropped"
                        ),
                    )
                    .with_help("check parameter definitions that use themselves");
                self.drop_generated_frames();
                return None;
            }
            for lines in r.multis {
                self.stack.push(Frame::Lines {
                    lines,
                    next: 0,
                    loc: loc.clone(),
                    generated: true,
                });
            }
            if buf.first() == Some(&b'@') || buf.contains(&b'$') {
                continue;
            }
            break;
        }
        Some(bytes_to_string(buf))
    }

    fn report_endless(&mut self, buf: &[u8], loc: &Location) {
        self.diags
            .fatal(
                Some(loc),
                format!(
                    "parameter substitution on line '{}' does not end",
                    String::from_utf8_lossy(buf)
                ),
            )
            .with_help("a parameter refers to itself (keepalived would loop forever here)");
    }

    // ----------------------------------------------------------------------------------------
    // Definitions

    /// Stores `$NAME=value` (value already without leading blanks).
    fn define(&mut self, name: String, value: Vec<u8>) {
        let mut value = value;
        let multiline = value.last() == Some(&b'\\');
        if multiline {
            value.pop();
            while matches!(value.last(), Some(b' ' | b'\t')) {
                value.pop();
            }
            if !value.is_empty() {
                value.push(b'\n');
            }
            self.collecting = Some(name.clone());
        }
        let value = String::from_utf8_lossy(&value).into_owned();
        self.defs.insert(
            name,
            Def {
                value,
                multiline,
                builtin: None,
            },
        );
    }

    /// Adds a continuation line to the multi-line definition `name`.
    fn collect(&mut self, name: &str, line: String) {
        let mut b = line.into_bytes();
        let cont = b.last() == Some(&b'\\');
        if cont {
            b.pop();
            while matches!(b.last(), Some(b' ' | b'\t')) {
                b.pop();
            }
            b.push(b'\n');
        } else {
            self.collecting = None;
        }
        if let Some(def) = self.defs.get_mut(name) {
            if b.len() >= 2 || (!b.is_empty() && !cont) {
                def.value.push_str(&String::from_utf8_lossy(&b));
            }
        }
        if !cont {
            self.end_multiline(name);
        }
    }

    fn end_multiline(&mut self, name: &str) {
        self.collecting = None;
        if let Some(def) = self.defs.get_mut(name) {
            if def.value.is_empty() {
                def.multiline = false;
            }
        }
    }

    /// Sets a plain definition (used for `~SEQ`/`~LST` variables).
    fn set_definition(&mut self, name: &str, value: String) {
        self.defs.insert(
            name.to_string(),
            Def {
                value,
                multiline: false,
                builtin: None,
            },
        );
    }

    // ----------------------------------------------------------------------------------------
    // Substitution (a port of keepalived's replace_param, including its quirks)

    fn replace_param(&mut self, buf: &mut Vec<u8>, max_len: usize, loc: &Location) -> Replaced {
        let mut res = Replaced {
            found: false,
            multis: Vec::new(),
        };
        let mut cur = 0usize;
        let mut count = 0usize;
        while let Some(off) = buf[cur..].iter().position(|&b| b == b'$') {
            cur += off;
            if cur + 1 >= buf.len() {
                break;
            }
            let Some(r) = self.find_reference(&buf[cur + 1..]) else {
                cur += 1;
                continue;
            };
            count += 1;
            if count > MAX_SUBSTITUTIONS {
                self.report_endless(buf, loc);
                return Replaced {
                    found: false,
                    multis: Vec::new(),
                };
            }
            res.found = true;
            let Some(def) = self.defs.get(&r.name).cloned() else {
                cur += 1;
                continue;
            };
            let value = match def.builtin {
                Some(b) => {
                    self.builtin_value(b, r.params.map(|(s, e)| &buf[cur + 1 + s..=cur + 1 + e]))
                }
                None => def.value.clone(),
            };
            let extra_braces = if r.braces { 2 } else { 0 };
            let mut replaced_len = r.name.len();
            let replacing: Vec<u8>;
            if def.multiline {
                let mut lines = value.split('\n');
                replacing = lines.next().unwrap_or("").as_bytes().to_vec();
                res.multis.push(lines.map(str::to_string).collect());
            } else {
                if let Some((_, pe)) = r.params {
                    // params_end - (cur_pos + 1) + (extra_braces ? 0 : 1)
                    replaced_len = pe + if r.braces { 0 } else { 1 };
                }
                replacing = value.as_bytes().to_vec();
            }
            let total = replaced_len + 1 + extra_braces;
            if buf.len() + replacing.len() >= max_len + total {
                self.diags.note(
                    Some(loc),
                    format!(
                        "Parameter substitution on line '{}' would exceed maximum line length",
                        String::from_utf8_lossy(buf)
                    ),
                );
                return Replaced {
                    found: false,
                    multis: Vec::new(),
                };
            }
            match (r.params, total > replacing.len()) {
                (Some((_, pe)), true) => {
                    // keepalived 2.2.7 moves only up to the end of the parameters when the text
                    // shrinks, leaving the rest of the line in place; reproduce that.
                    buf.push(0);
                    let e = cur + 1 + pe + if r.braces { 2 } else { 1 };
                    let mut s = cur + total - replacing.len();
                    let mut d = cur;
                    loop {
                        let v = buf.get(s).copied().unwrap_or(0);
                        if let Some(slot) = buf.get_mut(d) {
                            *slot = v;
                        }
                        if s >= e || s + 1 >= buf.len() {
                            break;
                        }
                        d += 1;
                        s += 1;
                    }
                    for (i, &v) in replacing.iter().enumerate() {
                        if let Some(slot) = buf.get_mut(cur + i) {
                            *slot = v;
                        }
                    }
                    if let Some(nul) = buf.iter().position(|&b| b == 0) {
                        buf.truncate(nul);
                    }
                }
                _ => {
                    let end = (cur + total).min(buf.len());
                    buf.splice(cur..end, replacing.iter().copied());
                }
            }
            let first = value.bytes().find(|&b| b != b' ' && b != b'\t');
            if first == Some(b'~') {
                break;
            }
        }
        res
    }

    /// keepalived's find_definition for a use: `s` starts after the `$`.
    fn find_reference(&self, s: &[u8]) -> Option<Reference> {
        let braces = s.first() == Some(&b'{');
        let start = usize::from(braces);
        let first = *s.get(start)?;
        if !first.is_ascii_alphabetic() && first != b'_' {
            return None;
        }
        let mut p = start + 1;
        while p < s.len() && (s[p].is_ascii_alphanumeric() || s[p] == b'_') {
            p += 1;
        }
        let name_end = p;
        let mut params: Option<(usize, usize)> = None;
        if braces {
            let mut ps: Option<usize> = None;
            let mut pe = 0usize;
            while p < s.len() && (s[p] == b' ' || s[p].is_ascii_digit()) {
                if s[p] != b' ' {
                    ps.get_or_insert(p);
                    pe = p;
                }
                p += 1;
            }
            if let Some(ps) = ps {
                if pe + 1 != p {
                    return None;
                }
                params = Some((ps, pe));
            }
            if s.get(p) != Some(&b'}') {
                return None;
            }
        } else if !matches!(s.get(p), None | Some(b' ' | b'\t' | b',' | b')')) {
            return None;
        }
        let allow_multiline = if braces {
            s.len() == name_end + 1
        } else {
            s.len() == name_end
        };
        let name = String::from_utf8_lossy(&s[start..name_end]).into_owned();
        let def = self.defs.get(&name)?;
        if def.multiline && !allow_multiline {
            return None;
        }
        if params.is_some() && def.builtin != Some(Builtin::Random) {
            return None;
        }
        Some(Reference {
            name,
            braces,
            params,
        })
    }

    fn builtin_value(&mut self, b: Builtin, params: Option<&[u8]>) -> String {
        match b {
            Builtin::Pwd => {
                let dir = self
                    .current_file()
                    .map(|f| f.dir.clone())
                    .unwrap_or_default();
                let dir = if dir.as_os_str().is_empty() {
                    PathBuf::from(".")
                } else {
                    dir
                };
                std::fs::canonicalize(&dir)
                    .unwrap_or(dir)
                    .display()
                    .to_string()
            }
            Builtin::Instance => {
                if self.opts.instance.is_empty() {
                    self.opts.config_id.clone()
                } else {
                    self.opts.instance.clone()
                }
            }
            Builtin::Hash => "#".to_string(),
            Builtin::Bang => "!".to_string(),
            Builtin::Random => {
                let (mut min, mut max) = (0u64, 32767u64);
                if let Some(p) = params {
                    let (v, used) = strtoul(p);
                    min = v;
                    if used < p.len() {
                        let (v2, used2) = strtoul(&p[used..]);
                        max = v2;
                        if used + used2 != p.len() {
                            self.diags.note(
                                None,
                                format!(
                                    "Too many parameters or extra text for ${{_RANDOM {}}}",
                                    String::from_utf8_lossy(p)
                                ),
                            );
                        }
                    }
                }
                let r = self.random();
                let modulus = max.wrapping_sub(min).wrapping_add(1);
                let val = if modulus == 0 {
                    r
                } else {
                    (r % modulus).wrapping_add(min)
                };
                let digits = max.to_string().len();
                let mut s = (val as i64).to_string();
                s.truncate(digits);
                s
            }
        }
    }

    /// A 31-bit value like random(3), from xorshift64*.
    fn random(&mut self) -> u64 {
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33
    }

    // ----------------------------------------------------------------------------------------
    // ~SEQ and ~LST

    fn add_seq(&mut self, buf: &[u8], loc: &Location) {
        if let Err(msg) = self.parse_seq(buf, loc) {
            let shown = String::from_utf8_lossy(buf);
            if let Some(msg) = msg {
                self.diags.error(Some(loc), msg);
            }
            self.diags
                .error(Some(loc), format!("Invalid ~SEQ specification '{shown}'"))
                .with_help("~SEQ(var, [start, [step,]] end) text");
        }
    }

    /// keepalived's add_seq; Err(Some(message)) for a specific problem.
    fn parse_seq(&mut self, buf: &[u8], loc: &Location) -> Result<(), Option<String>> {
        let shown = String::from_utf8_lossy(buf).into_owned();
        let mut p = 4;
        let hex = buf.get(p) == Some(&b'x');
        if hex {
            p += 1;
        }
        p = skip_blanks(buf, p);
        if buf.get(p) != Some(&b'(') {
            return Err(None);
        }
        p = skip_blanks(buf, p + 1);
        let var_start = p;
        while p < buf.len() && !matches!(buf[p], b' ' | b'\t' | b',' | b')') {
            p += 1;
        }
        let var = String::from_utf8_lossy(&buf[var_start..p]).into_owned();
        p = skip_blanks(buf, p);
        if p >= buf.len() || buf[p] == b')' || p == var_start {
            return Err(Some(format!("Invalid ~SEQ definition '{shown}'")));
        }
        p = skip_blanks(buf, p + 1);
        let Some(close) = buf[p..].iter().position(|&b| b == b')').map(|c| c + p) else {
            return Err(Some(format!("~SEQ parameter strings too long '{shown}'")));
        };
        if close + 1 - p + 1 > SEQ_BUF {
            return Err(Some(format!("~SEQ parameter strings too long '{shown}'")));
        }
        let mut params = buf[p..=close].to_vec();
        let r = self.replace_param(&mut params, SEQ_BUF, loc);
        if !r.multis.is_empty() {
            return Err(Some(format!(
                "~SEQ parameter is multiline definition '{shown}'"
            )));
        }
        let invalid = || Some(format!("Invalid ~SEQ definition '{shown}'"));
        let (start, step, end);
        let (one, mut q) = strtol0(&params, 0);
        q = skip_blanks(&params, q);
        if params.get(q) == Some(&b')') {
            end = one;
            step = if end < 1 { -1 } else { 1 };
            start = if end < 0 { -1 } else { 1 };
        } else {
            if params.get(q) != Some(&b',') {
                return Err(invalid());
            }
            let (two, q2) = strtol0(&params, q + 1);
            q = skip_blanks(&params, q2);
            if params.get(q) == Some(&b')') {
                start = one;
                end = two;
                step = if start <= end { 1 } else { -1 };
            } else {
                if params.get(q) != Some(&b',') {
                    return Err(invalid());
                }
                let (three, q3) = strtol0(&params, q + 1);
                q = skip_blanks(&params, q3);
                if params.get(q) != Some(&b')') {
                    return Err(invalid());
                }
                start = one;
                step = two;
                end = three;
                if step == 0 || (start < end && step < 0) || (start > end && step > 0) {
                    return Err(Some(format!("Invalid ~SEQ values '{shown}'")));
                }
            }
        }
        if hex && (start < 0 || end < 0) {
            return Err(Some(format!(
                "~SEQx is only valid for positive numbers '{shown}'"
            )));
        }
        let text_start = skip_blanks(buf, close + 1);
        let text = String::from_utf8_lossy(&buf[text_start..]).into_owned();
        self.stack.push(Frame::Repeat {
            rep: Repeat::Seq {
                var,
                next: start,
                step,
                last: end,
                hex,
                text,
                done: false,
            },
            loc: loc.clone(),
        });
        Ok(())
    }

    fn add_lst(&mut self, buf: &[u8], loc: &Location) {
        let shown = String::from_utf8_lossy(buf).into_owned();
        match parse_lst(buf) {
            Ok((vars, values, text_start)) => {
                let text = String::from_utf8_lossy(&buf[text_start..]).into_owned();
                self.stack.push(Frame::Repeat {
                    rep: Repeat::Lst {
                        vars,
                        values,
                        next: 0,
                        text,
                    },
                    loc: loc.clone(),
                });
            }
            Err(too_many) => {
                if too_many {
                    self.diags.error(
                        Some(loc),
                        format!("~LST specification has too many values '{shown}'"),
                    );
                }
                self.diags
                    .error(Some(loc), format!("Invalid ~LST specification '{shown}'"))
                    .with_help("~LST(var, v1, v2, ...) text or ~LST({a,b}, {1,2}, {3,4}) text");
            }
        }
    }

    // ----------------------------------------------------------------------------------------
    // Includes

    fn include(&mut self, pattern: String, variant: u8, loc: &Location) {
        let Some(ff) = self.current_file() else {
            return;
        };
        let base_flags = ff.flags;
        let dir = ff.dir.clone();
        let mut flags = base_flags | variant;
        if self.opts.all_config {
            flags = INC_ALL;
        }
        let (terms, had_brace) = brace_expand(&pattern);
        if terms.len() > MAX_BRACE_TERMS {
            self.diags.error(
                Some(loc),
                format!("include pattern '{pattern}' expands to too many alternatives"),
            );
            return;
        }
        let mut matches: Vec<PathBuf> = Vec::new();
        let mut missing = 0usize;
        for term in &terms {
            let full = if Path::new(term).is_absolute() || dir.as_os_str().is_empty() {
                PathBuf::from(term)
            } else {
                dir.join(term)
            };
            if has_magic(term) {
                let pat = if Path::new(term).is_absolute() || dir.as_os_str().is_empty() {
                    term.clone()
                } else {
                    format!("{}/{}", glob::Pattern::escape(&dir.to_string_lossy()), term)
                };
                let opts = glob::MatchOptions {
                    case_sensitive: true,
                    require_literal_separator: true,
                    require_literal_leading_dot: true,
                };
                if let Ok(paths) = glob::glob_with(&pat, opts) {
                    let mut found: Vec<PathBuf> = paths.filter_map(Result::ok).collect();
                    found.sort();
                    matches.extend(found);
                }
            } else if std::fs::symlink_metadata(&full).is_ok() {
                matches.push(full);
            } else {
                missing += 1;
            }
        }
        // Problems with the pattern; a failed strict check makes keepalived 2.2.7 exit 6.
        let strict_fail = if matches.is_empty() {
            if missing > 0 {
                let fail = if had_brace {
                    flags & INC_B != 0
                } else {
                    flags & (INC_M | INC_W) != 0
                };
                Some((format!("Config files missing '{pattern}'."), fail))
            } else if flags & INC_W != 0 {
                Some((format!("No config files matched '{pattern}'."), true))
            } else {
                None
            }
        } else if missing > 0 {
            Some((
                format!("Some config files missing: \"{pattern}\"."),
                flags & INC_B != 0,
            ))
        } else {
            None
        };
        if let Some((msg, fail)) = strict_fail {
            self.report_include(loc, msg, fail);
        }
        if !matches.is_empty() {
            self.stack.push(Frame::Includes {
                files: matches,
                next: 0,
                flags,
                loc: loc.clone(),
            });
        }
    }

    fn report_include(&mut self, loc: &Location, msg: String, fail: bool) {
        if fail {
            self.diags
                .include_failure(Some(loc), msg)
                .with_help("a strict include check failed (keepalived -t exits 6)");
        } else {
            self.diags.quiet_warning(Some(loc), msg);
        }
    }

    /// Opens one file matched by an include.
    fn open_included(&mut self, file: &Path, flags: u8, loc: &Location) {
        let strict = flags != 0;
        let shown = file.display().to_string();
        let meta = match std::fs::metadata(file) {
            Ok(m) => m,
            Err(e) => {
                let msg = format!("Configuration file '{shown}' open problem ({e}) - skipping");
                self.report_include(loc, msg, strict);
                return;
            }
        };
        if meta.is_dir() {
            let msg = format!("Configuration file '{shown}/' is a directory - skipping");
            self.report_include(loc, msg, strict);
            return;
        }
        if !is_regular_non_exec(&meta) {
            let msg = format!(
                "Configuration file '{shown}' is not a regular non-executable file - skipping"
            );
            self.report_include(loc, msg, strict);
            return;
        }
        let canon = std::fs::canonicalize(file).unwrap_or_else(|_| file.to_path_buf());
        let depth = self
            .stack
            .iter()
            .filter(|f| matches!(f, Frame::File(_)))
            .count();
        let looping = self
            .stack
            .iter()
            .any(|f| matches!(f, Frame::File(ff) if ff.canon == canon));
        if looping || depth >= MAX_INCLUDE_DEPTH {
            let why = if looping {
                "it is already being read (include loop)".to_string()
            } else {
                format!("includes are nested more than {MAX_INCLUDE_DEPTH} deep")
            };
            self.diags
                .quiet_warning(Some(loc), format!("Not including '{shown}': {why}"))
                .with_help(
                    "keepalived would include it again until it runs out of file descriptors",
                );
            return;
        }
        match read_capped(file) {
            Ok(data) => {
                // A new file starts with the include_check of the file that includes it.
                let inherited = self.current_file().map(|f| f.flags).unwrap_or(0);
                let inherited = if self.opts.all_config {
                    INC_ALL
                } else {
                    inherited
                };
                self.push_file(file.to_path_buf(), data, inherited);
            }
            Err(e) => {
                let msg = format!("Configuration file '{shown}' open problem ({e}) - skipping");
                self.report_include(loc, msg, strict);
            }
        }
    }
}

/// A parameter use found by [`Pre::find_reference`]; offsets are relative to after the `$`.
struct Reference {
    name: String,
    braces: bool,
    params: Option<(usize, usize)>,
}

#[cfg(unix)]
fn is_regular_non_exec(meta: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt;
    meta.is_file() && meta.permissions().mode() & 0o111 == 0
}

#[cfg(not(unix))]
fn is_regular_non_exec(meta: &std::fs::Metadata) -> bool {
    meta.is_file()
}

/// The next physical line (or 1023-byte piece of one) of a file, with its line number.
fn next_physical(ff: &mut FileFrame) -> Option<(Vec<u8>, u32)> {
    let (start, end) = match ff.rest.take() {
        Some(r) => r,
        None => {
            if ff.pos >= ff.data.len() {
                return None;
            }
            let start = ff.pos;
            let end = ff.data[start..]
                .iter()
                .position(|&b| b == b'\n')
                .map_or(ff.data.len(), |i| start + i);
            ff.pos = end + 1;
            ff.line_no = ff.line_no.saturating_add(1);
            (start, end)
        }
    };
    let (start, end) = if end - start > MAX_LINE {
        ff.rest = Some((start + MAX_LINE, end));
        (start, start + MAX_LINE)
    } else {
        (start, end)
    };
    let mut piece = &ff.data[start..end];
    if let Some(nul) = piece.iter().position(|&b| b == 0) {
        piece = &piece[..nul];
    }
    while let [rest @ .., b'\r' | b'\n'] = piece {
        piece = rest;
    }
    Some((piece.to_vec(), ff.line_no))
}

/// The next values and text of a repetition, None when it is finished.
fn next_repeat(rep: &mut Repeat) -> Option<(Vec<(String, String)>, String)> {
    match rep {
        Repeat::Seq {
            var,
            next,
            step,
            last,
            hex,
            text,
            done,
        } => {
            if *done {
                return None;
            }
            let val = if *hex {
                format!("{:x}", *next as u64)
            } else {
                next.to_string()
            };
            match next.checked_add(*step) {
                Some(n) if !((*step > 0 && n > *last) || (*step < 0 && n < *last)) => *next = n,
                _ => *done = true,
            }
            Some((vec![(var.clone(), val)], text.clone()))
        }
        Repeat::Lst {
            vars,
            values,
            next,
            text,
        } => {
            let vals = values.get(*next)?;
            *next += 1;
            let assign = vars
                .iter()
                .enumerate()
                .map(|(i, v)| (v.clone(), vals.get(i).cloned().unwrap_or_default()))
                .collect();
            Some((assign, text.clone()))
        }
    }
}

/// keepalived's decomment: removes the comment, `\` before `#`/`!` outside quotes, leading and
/// trailing blanks (also before a final `\`, which is kept).
fn decomment(line: &[u8]) -> Vec<u8> {
    let start = line
        .iter()
        .take_while(|&&b| b == b' ' || b == b'\t')
        .count();
    let mut s: Vec<u8> = line[start..].to_vec();
    let mut quote = false;
    let mut cont = false;
    let mut skip: Option<usize> = None;
    let mut p = 0;
    while p < s.len() {
        match s[p] {
            b'"' => {
                if skip.is_none() {
                    quote = !quote;
                }
                p += 1;
            }
            b'\\' => {
                if p + 1 < s.len() {
                    if !quote && (s[p + 1] == b'#' || s[p + 1] == b'!') {
                        s.remove(p);
                        p += 1;
                    } else {
                        p += 2;
                    }
                } else {
                    s.truncate(p);
                    cont = true;
                    break;
                }
            }
            b'#' | b'!' => {
                if !quote && skip.is_none() {
                    skip = Some(p);
                }
                p += 1;
            }
            _ => p += 1,
        }
    }
    if let Some(k) = skip {
        s.truncate(k);
    }
    while matches!(s.last(), Some(b' ' | b'\t')) {
        s.pop();
    }
    if cont {
        s.push(b'\\');
    }
    s
}

/// Writes `text` with `#` and `!` outside quotes escaped, so the lexer keeps them as text.
fn escape_comment_chars(text: &str, out: &mut String) {
    if !text.contains(['#', '!']) {
        out.push_str(text);
        return;
    }
    let mut quote = false;
    let mut prev_backslash = false;
    for c in text.chars() {
        match c {
            '"' if !prev_backslash => quote = !quote,
            '#' | '!' if !quote && !prev_backslash => out.push('\\'),
            _ => {}
        }
        prev_backslash = c == '\\' && !prev_backslash;
        out.push(c);
    }
}

/// Splits a line at its first `{` or `}` outside quotes, as keepalived's read_line does: a brace
/// in the middle ends the line; a brace at the start is a line of its own. Trailing blanks go.
fn split_brace(line: &str) -> (String, Option<String>) {
    let b = line.as_bytes();
    let mut brace: Option<usize> = None;
    if matches!(b.first(), Some(b'{' | b'}')) {
        brace = Some(0);
    } else {
        let mut p = 0;
        while p < b.len() {
            match b[p] {
                b'{' | b'}' => {
                    brace = Some(p);
                    break;
                }
                b'"' => match b[p + 1..].iter().position(|&c| c == b'"') {
                    Some(q) => p += q + 2,
                    None => break,
                },
                _ => p += 1,
            }
        }
    }
    let mut head = line;
    let mut residue = None;
    if let Some(p) = brace {
        let skip = if p == 0 {
            1 + b[1..]
                .iter()
                .take_while(|&&c| c == b' ' || c == b'\t')
                .count()
        } else {
            0
        };
        if p + skip < b.len() {
            let r = line[p + skip..].trim_end_matches([' ', '\t']);
            if !r.is_empty() {
                residue = Some(r.to_string());
            }
            head = &line[..p + skip];
        }
    }
    (head.trim_end_matches([' ', '\t']).to_string(), residue)
}

/// `include PATTERN` and its variants: the checks the variant adds and the pattern (the rest of
/// the line). 2.2.7 knows `include`, `includer`, `includem`, `includew`, `includeb`, `includea`.
fn include_directive(line: &str) -> Option<(u8, String)> {
    let line = line.trim_start_matches([' ', '\t']);
    let end = line.find([' ', '\t']).unwrap_or(line.len());
    let flags = match &line[..end] {
        "include" => 0,
        "includer" => INC_R,
        "includem" => INC_M | INC_R,
        "includew" => INC_W | INC_R,
        "includeb" => INC_B | INC_R,
        "includea" => INC_ALL,
        _ => return None,
    };
    let pattern = line[end..].trim_matches([' ', '\t']);
    if pattern.is_empty() {
        return None;
    }
    Some((flags, pattern.to_string()))
}

/// The checks after an `include_check` line (2.2.7's names: `read`, `match`, `wildcard_match`,
/// `brace_match`; `+`/`-` add or remove; no argument means all). Unknown names are ignored here
/// (the global_defs parser reports them).
fn apply_include_check(current: u8, args: &[&str]) -> u8 {
    if args.is_empty() {
        return INC_ALL;
    }
    let mut flags = if args.iter().all(|a| a.starts_with(['+', '-'])) {
        current
    } else {
        0
    };
    for a in args {
        let (remove, name) = match a.as_bytes().first() {
            Some(b'-') => (true, &a[1..]),
            Some(b'+') => (false, &a[1..]),
            _ => (false, *a),
        };
        let bit = match name {
            "read" => INC_R,
            "match" => INC_M,
            "wildcard_match" => INC_W,
            "brace_match" => INC_B,
            _ => continue,
        };
        if remove {
            flags &= !bit;
        } else {
            flags |= bit;
        }
    }
    flags
}

/// Whether an include term has glob wildcards.
fn has_magic(term: &str) -> bool {
    term.contains(['*', '?', '['])
}

/// csh-style brace expansion (`{a,b}`, nested); also says whether any brace was expanded.
/// Unbalanced braces are left as they are.
fn brace_expand(pattern: &str) -> (Vec<String>, bool) {
    let mut out = Vec::new();
    let mut work = vec![pattern.to_string()];
    let mut expanded = false;
    while let Some(s) = work.pop() {
        if out.len() + work.len() > MAX_BRACE_TERMS {
            out.push(s);
            out.append(&mut work);
            out.push(String::new());
            break;
        }
        match find_brace(&s) {
            None => out.push(s),
            Some((open, close, commas)) => {
                expanded = true;
                let prefix = &s[..open];
                let suffix = &s[close + 1..];
                let mut bounds = vec![open];
                bounds.extend(commas);
                bounds.push(close);
                let alts: Vec<String> = bounds
                    .windows(2)
                    .map(|w| format!("{prefix}{}{suffix}", &s[w[0] + 1..w[1]]))
                    .collect();
                // Keep the order: the first alternative is expanded first.
                work.extend(alts.into_iter().rev());
            }
        }
    }
    (out, expanded)
}

/// The first balanced `{...}`: its bounds and its top-level commas.
fn find_brace(s: &str) -> Option<(usize, usize, Vec<usize>)> {
    let b = s.as_bytes();
    let mut search = 0;
    while let Some(off) = b[search..].iter().position(|&c| c == b'{') {
        let open = search + off;
        let mut depth = 0usize;
        let mut commas = Vec::new();
        for (i, &c) in b.iter().enumerate().skip(open) {
            match c {
                b'{' => depth += 1,
                b'}' => {
                    depth -= 1;
                    if depth == 0 {
                        return Some((open, i, commas));
                    }
                }
                b',' if depth == 1 => commas.push(i),
                _ => {}
            }
        }
        search = open + 1;
    }
    None
}

/// `$NAME=value`: the name and the value with leading blanks removed.
fn parse_definition(buf: &[u8]) -> Option<(String, Vec<u8>)> {
    let first = *buf.get(1)?;
    if !first.is_ascii_alphabetic() && first != b'_' {
        return None;
    }
    let mut p = 2;
    while p < buf.len() && buf[p] != b'=' {
        if !buf[p].is_ascii_alphanumeric() && buf[p] != b'_' {
            return None;
        }
        p += 1;
    }
    if p >= buf.len() {
        return None;
    }
    let name = String::from_utf8_lossy(&buf[1..p]).into_owned();
    let v = skip_blanks(buf, p + 1);
    Some((name, buf[v..].to_vec()))
}

/// `~LST(...)`: variables, value tuples and where the text starts; Err(true) for too many
/// values in a tuple.
type LstSpec = (Vec<String>, Vec<Vec<String>>, usize);

fn parse_lst(buf: &[u8]) -> Result<LstSpec, bool> {
    let word = |p: usize, stop: &[u8]| -> usize {
        let mut q = p;
        while q < buf.len() && !stop.contains(&buf[q]) {
            q += 1;
        }
        q
    };
    let text_of = |a: usize, b: usize| String::from_utf8_lossy(&buf[a..b]).into_owned();
    let mut p = skip_blanks(buf, 4);
    if buf.get(p) != Some(&b'(') {
        return Err(false);
    }
    p = skip_blanks(buf, p + 1);
    let mut vars = Vec::new();
    if buf.get(p) == Some(&b'{') {
        p += 1;
        loop {
            p = skip_blanks(buf, p);
            let e = word(p, b" \t,}");
            if e == p {
                return Err(false);
            }
            vars.push(text_of(p, e));
            p = skip_blanks(buf, e);
            match buf.get(p) {
                Some(b',') => p += 1,
                Some(b'}') => {
                    p += 1;
                    break;
                }
                _ => return Err(false),
            }
        }
    } else {
        let e = word(p, b" \t,)");
        if e == p {
            return Err(false);
        }
        vars.push(text_of(p, e));
        p = e;
    }
    let mut values: Vec<Vec<String>> = Vec::new();
    loop {
        p = skip_blanks(buf, p);
        match buf.get(p) {
            Some(b')') if !values.is_empty() => {
                p += 1;
                break;
            }
            Some(b',') => p = skip_blanks(buf, p + 1),
            _ => return Err(false),
        }
        if buf.get(p) == Some(&b'{') {
            p += 1;
            let mut tuple = Vec::new();
            loop {
                p = skip_blanks(buf, p);
                let e = word(p, b" \t,}");
                tuple.push(text_of(p, e));
                p = skip_blanks(buf, e);
                match buf.get(p) {
                    Some(b',') => p += 1,
                    Some(b'}') => {
                        p += 1;
                        break;
                    }
                    _ => return Err(false),
                }
            }
            if tuple.len() > vars.len() {
                return Err(true);
            }
            values.push(tuple);
        } else {
            let e = word(p, b" \t,)}");
            values.push(vec![text_of(p, e)]);
            p = e;
        }
    }
    Ok((vars, values, skip_blanks(buf, p)))
}

fn skip_blanks(buf: &[u8], mut p: usize) -> usize {
    while matches!(buf.get(p), Some(b' ' | b'\t')) {
        p += 1;
    }
    p
}

/// A well-mixed, non-zero xorshift state from a seed.
fn splitmix64(seed: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    (z ^ (z >> 31)) | 1
}

/// strtoul on digits (saturating); returns the value and the bytes used (leading blanks too).
fn strtoul(s: &[u8]) -> (u64, usize) {
    let mut p = skip_blanks(s, 0);
    let digits_start = p;
    let mut v: u64 = 0;
    while p < s.len() && s[p].is_ascii_digit() {
        v = v.saturating_mul(10).saturating_add(u64::from(s[p] - b'0'));
        p += 1;
    }
    if p == digits_start {
        return (0, 0);
    }
    (v, p)
}

/// strtol with base 0 (`0x` hex, leading `0` octal) from `start`; returns the value and the
/// index after it (`start` when there is no number).
fn strtol0(s: &[u8], start: usize) -> (i64, usize) {
    let mut p = start;
    while matches!(s.get(p), Some(b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)) {
        p += 1;
    }
    let neg = match s.get(p) {
        Some(b'-') => {
            p += 1;
            true
        }
        Some(b'+') => {
            p += 1;
            false
        }
        _ => false,
    };
    let (base, mut q) = if s.get(p) == Some(&b'0')
        && matches!(s.get(p + 1), Some(b'x' | b'X'))
        && s.get(p + 2).is_some_and(u8::is_ascii_hexdigit)
    {
        (16u32, p + 2)
    } else if s.get(p) == Some(&b'0') {
        (8, p)
    } else {
        (10, p)
    };
    let digits_start = q;
    let mut v: i128 = 0;
    while let Some(d) = s.get(q).and_then(|&c| char::from(c).to_digit(base)) {
        v = (v * i128::from(base) + i128::from(d)).min(i128::from(i64::MAX) + 1);
        q += 1;
    }
    if q == digits_start {
        return (0, start);
    }
    let v = if neg { -v } else { v };
    let v = v.clamp(i128::from(i64::MIN), i128::from(i64::MAX));
    (i64::try_from(v).unwrap_or(0), q)
}

/// Text from bytes without copying when they are valid UTF-8 (nearly always).
fn bytes_to_string(bytes: Vec<u8>) -> String {
    match String::from_utf8(bytes) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    }
}

/// Largest configuration file read (1 GiB): a file beyond it (say `/proc/kcore`) is refused
/// rather than read into memory.
pub const MAX_FILE_BYTES: u64 = 1 << 30;

/// Reads a whole file, refusing one larger than [`MAX_FILE_BYTES`].
fn read_capped(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut buf = Vec::new();
    std::fs::File::open(path)?
        .take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut buf)?;
    if buf.len() as u64 > MAX_FILE_BYTES {
        return Err(std::io::Error::other(format!(
            "file larger than {MAX_FILE_BYTES} bytes"
        )));
    }
    Ok(buf)
}

#[cfg(test)]
mod tests;
