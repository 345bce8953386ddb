//! Packaging (issue 10): `packaging/keepalived-rs.service` passes `systemd-analyze verify`,
//! and the .deb `scripts/build-deb.sh` builds (from this test's debug binary, via `BIN=`)
//! unpacks into a throw-away root (`dpkg -x`, never installed) whose binary runs `-v` and `-t`
//! on the shipped examples, whose maintainer scripts start nothing, and which shares no file
//! with Debian's keepalived package. Never runs the daemon, never touches this machine's /etc.
//!
//! Needs `systemd-analyze`, `dpkg-deb` and the `keepalived` package: without them the tests
//! skip loudly and, under `CI=true`, fail.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_keepalived-rs");

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn which(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// True when every program is there; otherwise skips loudly, or fails under CI.
fn have(test: &str, programs: &[&str]) -> bool {
    let missing: Vec<&str> = programs.iter().copied().filter(|p| !which(p)).collect();
    if missing.is_empty() {
        return true;
    }
    let msg = format!("SKIPPED {test}: missing {missing:?}");
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{msg} (CI=true: a skip is a failure)");
    }
    eprintln!("\n*** {msg} ***\n");
    false
}

/// A fresh directory under the system temp dir, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!("ka-packaging-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn run(cmd: &mut Command) -> std::process::Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// `systemd-analyze verify` checks that ExecStart's binary exists, and /usr/sbin/keepalived-rs
/// is not installed here: verify a copy whose ExecStart points at the built binary, with the
/// generated man page on MANPATH so `Documentation=man:keepalived-rs(8)` is checked too.
/// Any output (systemd only warns about unknown or invalid settings) is a failure.
#[test]
fn systemd_unit_verifies() {
    if !have("systemd-analyze verify", &["systemd-analyze"]) {
        return;
    }
    let unit =
        std::fs::read_to_string(workspace().join("packaging/keepalived-rs.service")).unwrap();
    for line in [
        "Type=notify",
        "ConditionFileNotEmpty=/etc/keepalived/keepalived.conf",
        "EnvironmentFile=-/etc/default/keepalived-rs",
        "ExecStart=/usr/sbin/keepalived-rs --dont-fork $DAEMON_ARGS",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "Conflicts=keepalived.service",
        "KillMode=mixed",
        "TimeoutStopSec=15s",
    ] {
        assert!(unit.lines().any(|l| l == line), "unit lacks {line:?}");
    }
    let tmp = TempDir::new("unit");
    let copy = unit.replace(
        "ExecStart=/usr/sbin/keepalived-rs ",
        &format!("ExecStart={BIN} "),
    );
    let unit_path = tmp.0.join("keepalived-rs.service");
    std::fs::write(&unit_path, copy).unwrap();
    let mut cmd = Command::new("systemd-analyze");
    cmd.arg("verify");
    if which("man") {
        let man8 = tmp.0.join("man/man8");
        std::fs::create_dir_all(&man8).unwrap();
        let page = run(Command::new(BIN).arg("--man")).stdout;
        std::fs::write(man8.join("keepalived-rs.8"), page).unwrap();
        let system = Command::new("manpath")
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "/usr/share/man".to_string());
        cmd.env(
            "MANPATH",
            format!("{}:{system}", tmp.0.join("man").display()),
        );
    } else {
        eprintln!("*** no `man`: systemd-analyze verify --man=no ***");
        cmd.arg("--man=no");
    }
    let out = run(cmd.arg(&unit_path));
    let noise = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(noise.trim().is_empty(), "systemd-analyze verify:\n{noise}");
}

/// Regular files (and symlinks) under `root`, as absolute paths of the installed system.
fn files(root: &Path, dir: &Path, acc: &mut Vec<String>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let p = e.path();
        if e.file_type().unwrap().is_dir() {
            files(root, &p, acc);
        } else {
            acc.push(format!("/{}", p.strip_prefix(root).unwrap().display()));
        }
    }
}

#[test]
fn deb_unpacks_runs_and_starts_nothing() {
    if !have("the .deb test", &["dpkg-deb", "dpkg", "gzip"]) {
        return;
    }
    let tmp = TempDir::new("deb");
    let out = run(Command::new(workspace().join("scripts/build-deb.sh"))
        .arg(tmp.0.join("out"))
        .env("BIN", BIN));
    let deb = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    assert!(deb.is_file(), "no .deb at {}", deb.display());

    // Unpack into a throw-away root; never install.
    let root = tmp.0.join("root");
    run(Command::new("dpkg").arg("-x").arg(&deb).arg(&root));
    let bin = root.join("usr/sbin/keepalived-rs");
    let v = run(Command::new(&bin).arg("-v"));
    assert!(String::from_utf8_lossy(&v.stderr).contains("keepalived-rs"));
    let examples = root.join("usr/share/doc/keepalived-rs/examples");
    let mut shipped: Vec<PathBuf> = std::fs::read_dir(&examples)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    shipped.sort();
    assert!(shipped.len() >= 3, "examples: {shipped:?}");
    for ex in &shipped {
        let t = run(Command::new(&bin).arg("-t").arg("-f").arg(ex));
        assert!(
            t.stderr.is_empty(),
            "{}: {}",
            ex.display(),
            String::from_utf8_lossy(&t.stderr)
        );
    }
    let man = run(Command::new("gzip")
        .arg("-dc")
        .arg(root.join("usr/share/man/man8/keepalived-rs.8.gz")));
    assert!(String::from_utf8_lossy(&man.stdout).contains(".TH keepalived-rs 8"));

    let mut ours = Vec::new();
    files(&root, &root, &mut ours);
    for want in [
        "/usr/sbin/keepalived-rs",
        "/lib/systemd/system/keepalived-rs.service",
        "/etc/default/keepalived-rs",
        "/usr/share/man/man8/keepalived-rs.8.gz",
        "/usr/share/doc/keepalived-rs/packaging.md.gz",
    ] {
        assert!(
            ours.iter().any(|f| f == want),
            "{want} not shipped: {ours:?}"
        );
    }
    assert!(
        !ours.iter().any(|f| f.starts_with("/etc/keepalived")),
        "ships something under /etc/keepalived: {ours:?}"
    );

    // Control: conffile, dependencies, maintainer scripts that only reload unit files.
    let ctrl = tmp.0.join("control");
    run(Command::new("dpkg-deb").arg("-e").arg(&deb).arg(&ctrl));
    let conffiles = std::fs::read_to_string(ctrl.join("conffiles")).unwrap();
    assert_eq!(conffiles.trim(), "/etc/default/keepalived-rs");
    let control = std::fs::read_to_string(ctrl.join("control")).unwrap();
    let depends = control.lines().find(|l| l.starts_with("Depends:")).unwrap();
    for dep in ["libc6", "libssl3"] {
        assert!(depends.contains(dep), "{depends}");
    }
    for e in std::fs::read_dir(&ctrl).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().to_string();
        if ![
            "preinst", "postinst", "prerm", "postrm", "config", "triggers",
        ]
        .contains(&name.as_str())
        {
            continue;
        }
        let text = std::fs::read_to_string(&p).unwrap();
        for line in text.lines().map(str::trim).filter(|l| !l.starts_with('#')) {
            for bad in [
                "start",
                "restart",
                "enable",
                "invoke-rc.d",
                "deb-systemd",
                "keepalived.conf",
            ] {
                assert!(!line.contains(bad), "{name}: {line:?} contains {bad:?}");
            }
            if line.contains("systemctl") {
                assert!(
                    line.starts_with("systemctl daemon-reload"),
                    "{name}: {line:?}"
                );
            }
        }
    }

    // Installs beside Debian's keepalived: no shared file.
    let listed = Command::new("dpkg").args(["-L", "keepalived"]).output();
    match listed {
        Ok(o) if o.status.success() => {
            let theirs: std::collections::HashSet<String> = String::from_utf8_lossy(&o.stdout)
                .lines()
                .map(str::to_string)
                .collect();
            let shared: Vec<&String> = ours.iter().filter(|f| theirs.contains(*f)).collect();
            assert!(
                shared.is_empty(),
                "files shared with keepalived: {shared:?}"
            );
        }
        _ => {
            let msg = "SKIPPED the file-collision check: the keepalived package is not installed";
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("{msg} (CI=true: a skip is a failure)");
            }
            eprintln!("\n*** {msg} ***\n");
        }
    }
}
