//! `keepalived-rs demo` as a user runs it: it must finish, say what happened, and leave no
//! namespace or process behind, also when interrupted; without root it must refuse clearly.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use ka_lab::require_root_or_skip;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn ours() -> &'static str {
    env!("CARGO_BIN_EXE_keepalived-rs")
}

fn namespaces_of(pid: u32) -> Vec<String> {
    let out = Command::new("ip")
        .args(["netns", "list"])
        .output()
        .expect("ip netns list");
    let prefix = format!("kl{pid}n");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| n.starts_with(&prefix))
        .map(str::to_string)
        .collect()
}

#[test]
fn demo_runs_to_the_end_and_cleans_up() {
    if !require_root_or_skip("demo_runs_to_the_end_and_cleans_up") {
        return;
    }
    let _serial = ka_lab_serial();
    let child = Command::new(ours())
        .arg("demo")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let pid = child.id();
    let out = child.wait_with_output().expect("wait");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "demo failed:\n{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for want in [
        "r1 is MASTER",
        "r2 took over",
        "ms after r1's last advert",
        "preempts",
        "r1 is MASTER again",
    ] {
        assert!(text.contains(want), "missing {want:?}:\n{text}");
    }
    assert!(namespaces_of(pid).is_empty(), "namespaces left behind");
}

#[test]
fn demo_cleans_up_on_ctrl_c() {
    if !require_root_or_skip("demo_cleans_up_on_ctrl_c") {
        return;
    }
    let _serial = ka_lab_serial();
    let mut child = Command::new(ours())
        .arg("demo")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let pid = child.id();
    // Interrupt once the lab exists.
    let deadline = Instant::now() + Duration::from_secs(20);
    while namespaces_of(pid).is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(800));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .expect("kill");
    let status = child.wait().expect("wait");
    assert!(!status.success());
    assert!(
        namespaces_of(pid).is_empty(),
        "namespaces left after Ctrl-C: {:?}",
        namespaces_of(pid)
    );
}

#[test]
fn demo_without_root_says_why() {
    if !require_root_or_skip("demo_without_root_says_why") {
        return;
    }
    // As "nobody" (setpriv drops root for the child only).
    let out = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            ours(),
            "demo",
        ])
        .output()
        .expect("setpriv");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("needs root"));
}

/// Demo runs are heavy: one at a time.
fn ka_lab_serial() -> std::sync::MutexGuard<'static, ()> {
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}
