//! The command line accepts every flag keepalived 2.2.7 accepts, and `-t`/`--config-json`
//! behave as documented.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::Command;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_keepalived-rs"))
}

fn clean_config() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ka-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join("k.conf");
    std::fs::write(&p, "global_defs {\n router_id t\n}\n").unwrap();
    p
}

#[test]
fn every_keepalived_flag_is_accepted() {
    let conf = clean_config();
    // Flags as keepalived 2.2.7 (Debian) lists them in --help, plus the namespace harness's set.
    let flag_sets: &[&[&str]] = &[
        &["-P"],
        &["--vrrp"],
        &["-C"],
        &["--check"],
        &["-B"],
        &["--no_bfd"],
        &["--all"],
        &["-l"],
        &["--log-console"],
        &["-D"],
        &["--log-detail"],
        &["-S", "local0"],
        &["--log-facility=daemon"],
        &["-G"],
        &["--no-syslog"],
        &["-u", "022"],
        &["--umask=022"],
        &["-X"],
        &["--release-vips"],
        &["-V"],
        &["--dont-release-vrrp"],
        &["-I"],
        &["--dont-release-ipvs"],
        &["-R"],
        &["--dont-respawn"],
        &["-n"],
        &["--dont-fork"],
        &["-d"],
        &["--dump-conf"],
        &["-p", "/tmp/x.pid"],
        &["--pid=/tmp/x.pid"],
        &["-r", "/tmp/v.pid"],
        &["--vrrp_pid=/tmp/v.pid"],
        &["-c", "/tmp/c.pid"],
        &["--checkers_pid=/tmp/c.pid"],
        &["-a"],
        &["--address-monitoring"],
        &["-b", "/tmp/b.pid"],
        &["--bfd_pid=/tmp/b.pid"],
        &["-x"],
        &["--snmp"],
        &["-A", "/tmp/agentx"],
        &["--snmp-agent-socket=/tmp/agentx"],
        &["-m"],
        &["--core-dump"],
        &["-M"],
        &["--core-dump-pattern=core"],
        &["-e"],
        &["--all-config"],
        &["-i", "node1"],
        &["--config-id", "node1"],
        &["-s", "ns1"],
        &["--namespace=ns1"],
        &[
            "-P", "-n", "-l", "-D", "-G", "-p", "/tmp/a", "-r", "/tmp/b", "-c", "/tmp/c", "-b",
            "/tmp/d",
        ],
    ];
    for flags in flag_sets {
        let out = bin()
            .args(*flags)
            .arg("-t")
            .arg("-f")
            .arg(&conf)
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "flags {flags:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let out = bin()
        .arg("--config-test")
        .arg("-f")
        .arg(&conf)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn version_help_and_signum() {
    assert!(bin().arg("-v").output().unwrap().status.success());
    assert!(bin().arg("--help").output().unwrap().status.success());
    for (name, num) in [
        ("STOP", "15"),
        ("RELOAD", "1"),
        ("DATA", "10"),
        ("STATS", "12"),
        ("STATS_CLEAR", "63"),
        ("JSON", "36"),
    ] {
        let out = bin().arg(format!("--signum={name}")).output().unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), num, "{name}");
    }
}

#[test]
fn config_test_writes_diagnostics_with_location() {
    let dir = std::env::temp_dir().join(format!("ka-cli-diag-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join("k.conf");
    std::fs::write(&p, "global_defs {\n  vrrp_verson 3\n}\n").unwrap();
    let out = bin().arg("-t").arg("-f").arg(&p).output().unwrap();
    assert_eq!(out.status.code(), Some(5));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("k.conf:2:3"), "{err}");
    assert!(err.contains("vrrp_verson"), "{err}");
    // -t=LOG writes to the file instead.
    let log = dir.join("t.log");
    let out = bin()
        .arg(format!("--config-test={}", log.display()))
        .arg("-f")
        .arg(&p)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(5));
    assert!(std::fs::read_to_string(&log)
        .unwrap()
        .contains("vrrp_verson"));
}

#[test]
fn config_json_has_defaults() {
    let dir = std::env::temp_dir().join(format!("ka-cli-json-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join("k.conf");
    std::fs::write(&p, "vrrp_instance VI_1 {\n interface lo\n state MASTER\n virtual_router_id 9\n virtual_ipaddress { 10.200.0.1 }\n}\n").unwrap();
    let out = bin()
        .arg("--config-json")
        .arg("-f")
        .arg(&p)
        .output()
        .unwrap();
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let i = &v["instances"][0];
    assert_eq!(i["priority"], 255);
    assert_eq!(i["advert_int_cs"], 100);
    assert_eq!(i["garp_master_repeat"], 5);
    assert_eq!(v["global"]["vrrp_version"], 2);
}
