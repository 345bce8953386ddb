//! Differential test: `keepalived -t` (Debian's keepalived 2.2.7, the oracle) and
//! `keepalived-rs -t` on every fixture, inside one throw-away network namespace with fixed
//! interfaces, must exit with the same code.
//!
//! Needs root, `ip` and `keepalived`. Without them the test says so loudly and, under CI
//! (`CI=true`), fails instead of passing silently.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// A network namespace that is deleted when dropped, also when the test fails.
struct Namespace {
    name: String,
}

impl Namespace {
    fn create() -> Namespace {
        let name = format!("kav{}", std::process::id());
        let ns = Namespace { name };
        ns.ip(&["netns", "add", &ns.name]);
        ns.ip(&["-n", &ns.name, "link", "set", "lo", "up"]);
        for i in ["eth0", "eth1", "eth2", "ha", "mgt"] {
            let peer = format!("{i}p");
            ns.ip(&[
                "-n", &ns.name, "link", "add", i, "type", "veth", "peer", "name", &peer,
            ]);
            ns.ip(&["-n", &ns.name, "link", "set", i, "up"]);
            ns.ip(&["-n", &ns.name, "link", "set", &peer, "up"]);
        }
        ns.ip(&[
            "-n",
            &ns.name,
            "addr",
            "add",
            "192.168.200.2/24",
            "dev",
            "eth0",
        ]);
        ns.ip(&["-n", &ns.name, "addr", "add", "10.0.0.2/24", "dev", "eth1"]);
        ns
    }

    fn ip(&self, args: &[&str]) {
        let st = Command::new("ip").args(args).status().expect("run ip");
        assert!(st.success(), "ip {args:?} failed");
    }

    /// Runs a config checker in the namespace and returns its exit code.
    fn exit_code(&self, program: &str, extra: &[String], file: &Path) -> i32 {
        let out = Command::new("ip")
            .args(["netns", "exec", &self.name, "timeout", "20", program])
            .args(extra)
            .arg("-t")
            .arg("-f")
            .arg(file)
            .current_dir("/")
            .stdin(std::process::Stdio::null())
            .output()
            .expect("run checker");
        out.status.code().unwrap_or(-1)
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

fn which(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Skips loudly, or fails under CI.
fn prerequisites() -> bool {
    let root = nix::unistd::geteuid().is_root();
    let missing: Vec<&str> = [
        ("root", root),
        ("ip", which("ip")),
        ("keepalived", which("keepalived")),
    ]
    .into_iter()
    .filter(|(_, ok)| !ok)
    .map(|(n, _)| n)
    .collect();
    if missing.is_empty() {
        return true;
    }
    let msg = format!("SKIPPED differential verdict test: missing {missing:?}");
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{msg} (CI=true: a skip is a failure)");
    }
    eprintln!("\n*** {msg} ***\n");
    false
}

fn fixtures_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures")
}

/// `# ARGS: ...` on line 2 of a fixture: flags to pass before `-t -f`.
fn fixture_args(file: &Path) -> Vec<String> {
    let text = std::fs::read(file).unwrap_or_default();
    let text = String::from_utf8_lossy(&text);
    text.lines()
        .nth(1)
        .and_then(|l| l.strip_prefix("# ARGS: "))
        .map(|a| a.split_whitespace().map(String::from).collect())
        .unwrap_or_default()
}

/// Fixtures whose verdict depends on parts not built yet: `NAME reason` lines.
fn known_gaps() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(fixtures_root().join("KNOWN_GAPS")).unwrap_or_default();
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (n, r) = l.split_once(' ').unwrap_or((l, ""));
            (n.to_string(), r.trim().to_string())
        })
        .collect()
}

fn fixture_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    for dir in ["hard", "configs", "lvs"] {
        let expected = fixtures_root().join(dir).join("EXPECTED");
        let text = std::fs::read_to_string(&expected).expect("read EXPECTED");
        for line in text.lines() {
            if let Some((_, name)) = line.split_once(' ') {
                files.push(fixtures_root().join(dir).join(name));
            }
        }
    }
    files
}

#[test]
fn config_test_exit_codes_match_keepalived() {
    if !prerequisites() {
        return;
    }
    let ours = env!("CARGO_BIN_EXE_keepalived-rs");
    let ns = Namespace::create();
    let gaps = known_gaps();
    let mut mismatches = Vec::new();
    let mut gap_hits = Vec::new();
    let mut gaps_closed = Vec::new();
    let files = fixture_files();
    for file in &files {
        let abs = std::path::absolute(file).expect("absolute path");
        let args = fixture_args(&abs);
        let theirs = ns.exit_code("keepalived", &args, &abs);
        let mine = ns.exit_code(ours, &args, &abs);
        let name = abs
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        let gap = gaps.iter().find(|(n, _)| *n == name);
        match (theirs == mine, gap) {
            (true, Some(_)) => gaps_closed.push(name),
            (true, None) => {}
            (false, Some((_, why))) => {
                gap_hits.push(format!("{name}: keepalived {theirs}, ours {mine} ({why})"))
            }
            (false, None) => mismatches.push(format!("{name}: keepalived {theirs}, ours {mine}")),
        }
    }
    eprintln!("{} fixtures compared", files.len());
    if !gap_hits.is_empty() {
        eprintln!(
            "*** {} known gaps (tests/fixtures/KNOWN_GAPS):",
            gap_hits.len()
        );
        for g in &gap_hits {
            eprintln!("    {g}");
        }
    }
    assert!(
        gaps_closed.is_empty(),
        "known gaps now match; remove them from KNOWN_GAPS: {gaps_closed:?}"
    );
    assert!(
        mismatches.is_empty(),
        "{} verdicts differ:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}
