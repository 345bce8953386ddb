//! Running short helper commands (`ip`, `sysctl`, probes) with errors that say what failed.

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use anyhow::{bail, Context, Result};

/// The command line as a shell user would type it, for error messages.
pub(crate) fn render(prog: &str, args: &[&str]) -> String {
    let mut s = prog.to_string();
    for a in args {
        s.push(' ');
        if a.is_empty() || a.contains(|c: char| c.is_whitespace() || c == '\'') {
            s.push_str(&format!("'{a}'"));
        } else {
            s.push_str(a);
        }
    }
    s
}

/// Runs a command to completion and returns its raw output (any exit status).
pub(crate) fn output(prog: &str, args: &[&str]) -> Result<Output> {
    Command::new(prog)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot run `{}`", render(prog, args)))
}

/// Runs a command that must succeed; the error names the command, its status and its stderr.
pub(crate) fn run(prog: &str, args: &[&str]) -> Result<String> {
    let out = output(prog, args)?;
    if !out.status.success() {
        bail!(
            "`{}` failed ({}): {}",
            render(prog, args),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `ip ARGS...`, which must succeed.
pub(crate) fn ip(args: &[&str]) -> Result<String> {
    run("ip", args)
}

/// Identity of a network namespace file (an nsfs inode: device and inode number).
pub(crate) fn ns_id(path: &Path) -> Result<(u64, u64)> {
    let m = std::fs::metadata(path)
        .with_context(|| format!("cannot stat namespace file {}", path.display()))?;
    Ok((m.dev(), m.ino()))
}

/// The network namespace the test process itself (the host side) lives in.
pub(crate) fn host_ns_id() -> Result<(u64, u64)> {
    ns_id(Path::new("/proc/self/ns/net"))
}

/// The current names from `ip netns list` (first word of each line).
pub(crate) fn netns_list() -> Result<Vec<String>> {
    Ok(ip(&["netns", "list"])?
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect())
}

/// PIDs inside a namespace, as `ip netns pids` reports them (zombies are not listed).
pub(crate) fn netns_pids(ns: &str) -> Result<Vec<i32>> {
    Ok(ip(&["netns", "pids", ns])?
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect())
}
