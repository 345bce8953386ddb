//! `keepalived-rs status` and `--metrics-listen` in a two-router namespace lab: the values
//! follow the cluster as a track script fails (the VIP moves) and a real server dies (quorum
//! lost; in-memory IPVS backend, checkers in their child process); the exit status is 0, 1 or
//! 2 as documented; each daemon answers only in its own namespace and under its own pid file
//! (`-p`, `-s`); a non-root client is refused. Also `startup_script`/`shutdown_script`, which
//! run around the daemon's life.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use ka_lab::{require_root_or_skip, wait_until, Lab, LabSpec, Signal};
use serde_json::Value;
use std::path::Path;
use std::time::Duration;

const LONG: Duration = Duration::from_secs(20);
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());
const METRICS_PORT: u16 = 9650;

fn ours() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_keepalived-rs"))
}

/// Runs `keepalived-rs status ARGS` in router `r`'s namespace: (exit code, stdout, stderr).
fn status(lab: &Lab, r: usize, args: &[&str]) -> (i32, String, String) {
    let bin = ours().to_str().expect("utf-8 path");
    let mut argv = vec![bin, "status"];
    argv.extend_from_slice(args);
    let out = lab.exec(r, &argv).expect("status ran");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// SIGTERM, then exit status 0 within the deadline.
fn stop_cleanly(d: &mut ka_lab::Proc) {
    d.signal(Signal::SIGTERM).expect("term");
    assert_eq!(
        d.wait_exit(LONG).and_then(|s| s.code()),
        Some(0),
        "{}",
        d.log()
    );
}

/// A VRRPv3 0.1 s master instance `VI_1` (VRID 51, priority 150) holding `vip`/24, with
/// `extra` lines inside the block.
fn master_instance(vip: &str, extra: &str) -> String {
    format!(
        "vrrp_instance VI_1 {{\n  state MASTER\n  interface eth0\n  virtual_router_id 51\n  priority 150\n  \
         version 3\n  advert_int 0.1\n  virtual_ipaddress {{\n    {vip}/24 dev eth0\n  }}\n{extra}}}\n"
    )
}

fn pid_file(lab: &Lab, r: usize) -> String {
    lab.dir()
        .join(format!("r{r}.main.pid"))
        .to_string_lossy()
        .into_owned()
}

/// The JSON document of router `r`'s daemon, when it answers.
fn doc(lab: &Lab, r: usize) -> Option<Value> {
    let (_, out, _) = status(lab, r, &["--json", "-p", &pid_file(lab, r)]);
    serde_json::from_str(&out).ok()
}

fn instance(d: &Value) -> Value {
    d["vrrp"]["instances"][0].clone()
}

fn real_server(d: &Value) -> Value {
    d["lvs"]["virtual_servers"][0]["real_servers"][0].clone()
}

/// GET /metrics on router `r` (python3 in its namespace).
fn metrics(lab: &Lab, r: usize) -> String {
    let ip = lab.router_ip4(r).expect("ip");
    let code = format!(
        "import urllib.request;print(urllib.request.urlopen('http://{ip}:{METRICS_PORT}/metrics',timeout=5).read().decode())"
    );
    let out = lab.exec(r, &["python3", "-c", &code]).expect("python3");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn config(lab: &Lab, r: usize, priority: u8, with_lvs: bool) -> String {
    let vip = lab.vip4();
    let dir = lab.dir().display().to_string();
    let mut c = format!(
        "vrrp_script chk {{\n  script \"/bin/test -e {dir}/healthy\"\n  interval 1\n  weight -100\n}}\n\
         vrrp_instance VI_1 {{\n  state BACKUP\n  interface eth0\n  virtual_router_id 51\n  \
         priority {priority}\n  version 3\n  advert_int 0.1\n  virtual_ipaddress {{\n    {vip}/24 dev eth0\n  }}\n"
    );
    if r == 1 {
        c.push_str("  track_script {\n    chk\n  }\n");
    }
    c.push_str("}\n");
    if with_lvs {
        let rip = lab.router_ip4(r).expect("ip");
        c.push_str(&format!(
            "virtual_server {vip} 80 {{\n  delay_loop 1\n  lb_kind NAT\n  protocol TCP\n\
             real_server {rip} 8081 {{\n    weight 3\n    TCP_CHECK {{\n      connect_timeout 1\n      retry 0\n    }}\n  }}\n}}\n"
        ));
    }
    c
}

#[test]
fn status_and_metrics_follow_the_cluster() {
    if !require_root_or_skip("status_and_metrics_follow_the_cluster") {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let lab = Lab::new(LabSpec::new(2)).expect("lab");
    std::fs::write(lab.dir().join("healthy"), "").expect("healthy file");
    let mut responder = lab.listen(1, 8081).expect("responder");
    let listen = format!("{}:{METRICS_PORT}", lab.router_ip4(1).expect("ip"));
    let mut d1 = lab
        .start_daemon_with(
            1,
            ours(),
            &config(&lab, 1, 150, true),
            &["-C", "--ipvs-backend=memory", "--metrics-listen", &listen],
        )
        .expect("start r1");
    let mut d2 = lab
        .start_daemon(2, ours(), &config(&lab, 2, 100, false))
        .expect("start r2");
    let master_and_alive = |d: &Value| {
        instance(d)["state"] == "MASTER"
            && real_server(d)["alive"] == true
            && real_server(d)["checkers"][0]["last"]["ok"] == true
    };
    assert!(
        wait_until(LONG, || doc(&lab, 1).is_some_and(|d| master_and_alive(&d))),
        "r1 never reported MASTER with a live real server: {:?}\n{}",
        doc(&lab, 1),
        d1.log()
    );
    // Healthy: exit 0, a table that names the instance, its priorities and the real server.
    let (code, table, err) = status(&lab, 1, &["-p", &pid_file(&lab, 1)]);
    assert_eq!(code, 0, "{table}{err}");
    assert!(
        table.contains("VI_1") && table.contains("150/150"),
        "{table}"
    );
    assert!(
        table.contains("MASTER") && table.contains("quorum up"),
        "{table}"
    );
    assert!(table.contains("script chk: UP"), "{table}");
    let d = doc(&lab, 1).expect("doc");
    assert_eq!(instance(&d)["vips"][0], format!("{}", lab.vip4()));
    assert_eq!(d["lvs"]["backend"], "memory");
    assert_eq!(real_server(&d)["effective_weight"], 3);
    assert!(wait_until(LONG, || doc(&lab, 2)
        .is_some_and(|d| instance(&d)["state"] == "BACKUP")));
    assert_eq!(
        status(&lab, 2, &["-p", &pid_file(&lab, 2)]).0,
        0,
        "a healthy backup is 0"
    );
    let m = metrics(&lab, 1);
    let labels = format!(
        "iname=\"VI_1\",intf=\"eth0\",vrid=\"51\",ip_address=\"{}\"",
        lab.vip4()
    );
    assert!(
        m.contains(&format!("keepalived_vrrp_state{{{labels}}} 2\n")),
        "{m}"
    );
    assert!(
        m.contains("keepalived_script_status{name=\"chk\"} 1\n"),
        "{m}"
    );
    assert!(
        m.contains("keepalived_rs_effective_priority{iname=\"VI_1\"} 150\n"),
        "{m}"
    );
    assert!(m.contains("keepalived_rs_virtual_server_quorum_up{"), "{m}");

    // The track script fails: 150 - 100 = 50 < 100, r2 takes over.
    std::fs::remove_file(lab.dir().join("healthy")).expect("unhealthy");
    assert!(
        wait_until(LONG, || doc(&lab, 1)
            .is_some_and(|d| instance(&d)["state"] == "BACKUP")),
        "{}",
        d1.log()
    );
    let d = doc(&lab, 1).expect("doc");
    let i = instance(&d);
    assert_eq!(i["effective_priority"], 50, "{i}");
    assert_eq!(i["trackers"][0]["state"], "DOWN", "{i}");
    assert_eq!(i["trackers"][0]["effect"], -100, "{i}");
    let cause = i["last_transition"]["cause"].as_str().unwrap_or_default();
    assert!(cause.contains("with priority 100 wins"), "{i}");
    assert_eq!(i["last_transition"]["from"], "MASTER", "{i}");
    assert!(wait_until(LONG, || doc(&lab, 2)
        .is_some_and(|d| instance(&d)["state"] == "MASTER")));
    let m = metrics(&lab, 1);
    assert!(
        m.contains(&format!("keepalived_vrrp_state{{{labels}}} 1\n")),
        "{m}"
    );
    assert!(
        m.contains("keepalived_script_status{name=\"chk\"} 0\n"),
        "{m}"
    );
    assert!(
        m.contains("keepalived_rs_transitions_total{iname=\"VI_1\",to=\"BACKUP\",cause=\"higher_priority\"} 1\n"),
        "{m}"
    );
    assert!(
        m.contains("keepalived_release_master_total{iname=\"VI_1\",intf=\"eth0\",vrid=\"51\"} 1\n"),
        "{m}"
    );

    // The real server dies: out of the pool, quorum lost, exit 1.
    responder
        .stop(Duration::from_secs(2))
        .expect("stop responder");
    assert!(
        wait_until(LONG, || doc(&lab, 1).is_some_and(|d| d["lvs"]
            ["virtual_servers"][0]["quorum_up"]
            == false)),
        "{}",
        d1.log()
    );
    let d = doc(&lab, 1).expect("doc");
    let rs = real_server(&d);
    assert_eq!(rs["alive"], false, "{rs}");
    assert_eq!(rs["in_kernel"], false, "{rs}");
    assert_eq!(rs["checkers"][0]["last"]["ok"], false, "{rs}");
    assert!(
        rs["checkers"][0]["failed"].as_u64().unwrap_or(0) >= 1,
        "{rs}"
    );
    let (code, table, _) = status(&lab, 1, &["-p", &pid_file(&lab, 1)]);
    assert_eq!(code, 1, "{table}");
    assert!(
        table.contains("QUORUM LOST") && table.contains("DOWN"),
        "{table}"
    );
    let m = metrics(&lab, 1);
    assert!(
        m.contains("keepalived_rs_virtual_server_quorum_up{vs=\""),
        "{m}"
    );
    assert!(m.contains("} 0\n"), "{m}");
    assert!(m.contains("checker=\"TCP_CHECK\",result=\"fail\"}"), "{m}");

    // Nobody answers: under another pid file, or the other router's (another namespace).
    let (code, _, err) = status(&lab, 1, &["-p", "/run/keepalived-rs-absent.pid"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("no keepalived-rs daemon answers"), "{err}");
    assert_eq!(status(&lab, 1, &["-p", &pid_file(&lab, 2)]).0, 2);
    // From the host's namespace with -s: each daemon answers for itself.
    for (r, state) in [(1, "BACKUP"), (2, "MASTER")] {
        let ns = lab.ns_name(r).expect("ns");
        let out = std::process::Command::new(ours())
            .args(["status", "--json", "-s", &ns, "-p", &pid_file(&lab, r)])
            .output()
            .expect("status -s");
        let d: Value = serde_json::from_slice(&out.stdout).expect("json");
        assert_eq!(instance(&d)["state"], state, "router {r}: {d}");
        let pid = if r == 1 { d1.pid() } else { d2.pid() };
        assert_eq!(d["daemon"]["pid"], pid);
    }
    // A non-root client is refused by the daemon (peer credentials).
    let bin = ours().to_str().expect("utf-8");
    let pf = pid_file(&lab, 1);
    let out = lab
        .exec(
            1,
            &[
                "setpriv",
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                bin,
                "status",
                "-p",
                &pf,
            ],
        )
        .expect("setpriv");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("refused"), "{err}");

    for d in [&mut d1, &mut d2] {
        stop_cleanly(d);
    }
    lab.down().expect("teardown");
}

#[test]
fn startup_and_shutdown_scripts_run_around_the_daemon() {
    if !require_root_or_skip("startup_and_shutdown_scripts_run_around_the_daemon") {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let lab = Lab::new(LabSpec::new(1)).expect("lab");
    let vip = lab.vip4();
    let record = lab
        .write_script(
            "record.sh",
            "#!/bin/sh\necho \"$1 $(ip -4 -o addr show dev eth0 | wc -l)\" >> \"$(dirname \"$0\")/life.txt\"\n",
        )
        .expect("script");
    let r = record.display();
    let conf = format!(
        "global_defs {{\n  startup_script \"{r} start\"\n  shutdown_script \"{r} stop\"\n  shutdown_script_timeout 5\n}}\n{}",
        master_instance(&vip, "")
    );
    let mut d = lab.start_daemon(1, ours(), &conf).expect("start");
    let life = lab.dir().join("life.txt");
    let read = || std::fs::read_to_string(&life).unwrap_or_default();
    assert!(
        wait_until(LONG, || lab.has_address(1, &format!("{vip}/24"))),
        "{}",
        d.log()
    );
    // Before the VRRP side started: only the router's own address.
    assert_eq!(read(), "start 1\n", "{}", d.log());
    stop_cleanly(&mut d);
    // After the VIP was released.
    assert_eq!(read(), "start 1\nstop 1\n", "{}", d.log());
    let log = d.log();
    assert!(log.contains("Keepalived: Running startup_script"), "{log}");
    assert!(log.contains("Keepalived: Stopped keepalived-rs"), "{log}");
    lab.down().expect("teardown");
}

#[test]
fn a_reload_reopens_changed_notify_fifos() {
    if !require_root_or_skip("a_reload_reopens_changed_notify_fifos") {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let lab = Lab::new(LabSpec::new(1)).expect("lab");
    let vip = lab.vip4();
    let dir = lab.dir().to_path_buf();
    for name in ["a", "b"] {
        lab.write_script(
            &format!("reader_{name}.sh"),
            &format!("#!/bin/sh\ncat \"$1\" >> \"$(dirname \"$0\")/{name}.txt\"\n"),
        )
        .expect("reader");
    }
    let conf = |fifo: &str, vrid: u8| {
        format!(
            "global_defs {{\n  vrrp_notify_fifo {d}/{fifo}.fifo\n  vrrp_notify_fifo_script {d}/reader_{fifo}.sh\n}}\n\
             vrrp_instance VI_1 {{\n  state BACKUP\n  interface eth0\n  virtual_router_id {vrid}\n  priority 150\n  \
             version 3\n  advert_int 0.1\n  virtual_ipaddress {{\n    {vip}/24 dev eth0\n  }}\n}}\n",
            d = dir.display()
        )
    };
    let mut d = lab.start_daemon(1, ours(), &conf("a", 51)).expect("start");
    let read = |n: &str| std::fs::read_to_string(dir.join(format!("{n}.txt"))).unwrap_or_default();
    let master = "INSTANCE \"VI_1\" MASTER 150";
    assert!(
        wait_until(LONG, || read("a").contains(master)),
        "{}",
        d.log()
    );
    // Another FIFO and another VRID (a new instance: it starts again and becomes master).
    std::fs::write(dir.join("r1.conf"), conf("b", 52)).expect("rewrite");
    d.signal(Signal::SIGHUP).expect("hup");
    assert!(
        wait_until(LONG, || read("b").contains(master)),
        "the new FIFO got nothing\n{}",
        d.log()
    );
    assert!(
        d.log().contains("notify FIFOs changed: reopening them"),
        "{}",
        d.log()
    );
    assert_eq!(read("a").matches(master).count(), 1, "{}", read("a"));
    stop_cleanly(&mut d);
    lab.down().expect("teardown");
}

/// `net_namespace NAME` moves the daemon into that namespace at start. Started in router 2's
/// namespace (so a failure could never reach the host's), it must run in router 1's.
#[test]
fn net_namespace_moves_the_daemon_into_its_namespace() {
    if !require_root_or_skip("net_namespace_moves_the_daemon_into_its_namespace") {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let lab = Lab::new(LabSpec::new(2)).expect("lab");
    let vip = lab.vip4();
    let ns1 = lab.ns_name(1).expect("ns");
    let conf = format!("net_namespace {ns1}\n{}", master_instance(&vip, ""));
    let mut d = lab.start_daemon(2, ours(), &conf).expect("start");
    assert!(
        wait_until(LONG, || lab.has_address(1, &format!("{vip}/24"))),
        "the VIP is not in {ns1}\n{}",
        d.log()
    );
    assert!(!lab.has_address(2, &format!("{vip}/24")));
    // The control socket lives there too.
    let out = std::process::Command::new(ours())
        .args(["status", "--json", "-s", &ns1, "-p", &pid_file(&lab, 2)])
        .output()
        .expect("status");
    let doc: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(instance(&doc)["state"], "MASTER", "{doc}");
    stop_cleanly(&mut d);
    assert!(!lab.has_address(1, &format!("{vip}/24")), "VIP left behind");
    lab.down().expect("teardown");
}

/// Log identity end to end: the datagrams a syslog daemon (or journald) receives carry
/// keepalived's idents per process and side, the `-S` facility and glibc's timestamp format.
#[test]
fn syslog_datagrams_carry_keepalived_idents_and_the_facility() {
    if !require_root_or_skip("syslog_datagrams_carry_keepalived_idents_and_the_facility") {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let lab = Lab::new(LabSpec::new(1)).expect("lab");
    let dir = lab.dir().to_path_buf();
    let sock_path = dir.join("log.sock");
    let sink = std::os::unix::net::UnixDatagram::bind(&sock_path).expect("bind");
    sink.set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    let vip = lab.vip4();
    let rip = lab.router_ip4(1).expect("ip");
    let _responder = lab.listen(1, 8081).expect("responder");
    let conf = dir.join("syslog.conf");
    std::fs::write(
        &conf,
        format!(
            "{}virtual_server {vip} 80 {{\n  delay_loop 1\n  lb_kind NAT\n  protocol TCP\n\
             real_server {rip} 8081 {{\n    TCP_CHECK {{\n      connect_timeout 1\n    }}\n  }}\n}}\n",
            master_instance(&vip, "")
        ),
    )
    .expect("conf");
    let env_sock = format!("KEEPALIVED_RS_SYSLOG_SOCKET={}", sock_path.display());
    let tmpdir = format!("TMPDIR={}", dir.display());
    let pid = |k: &str| dir.join(format!("syslog.{k}.pid")).display().to_string();
    let (main, vrrp, check) = (pid("main"), pid("vrrp"), pid("check"));
    let bin = ours().to_str().expect("utf-8");
    let conf_s = conf.display().to_string();
    let mut d = lab
        .spawn(
            1,
            "syslog-daemon",
            &[
                "env",
                &env_sock,
                &tmpdir,
                bin,
                "-n",
                "-S",
                "local3",
                "-f",
                &conf_s,
                "-p",
                &main,
                "-r",
                &vrrp,
                "-c",
                &check,
                "--ipvs-backend=memory",
            ],
        )
        .expect("start");
    let mut got: Vec<String> = Vec::new();
    let want = |got: &[String], ident: &str, text: &str| {
        got.iter()
            .any(|g| g.contains(&format!(" {ident}[")) && g.contains(text))
    };
    let deadline = std::time::Instant::now() + LONG;
    let mut buf = vec![0u8; 4096];
    while std::time::Instant::now() < deadline
        && !(want(&got, "Keepalived_vrrp", "Entering MASTER STATE")
            && want(&got, "Keepalived_healthcheckers", "")
            && want(&got, "Keepalived", "Starting keepalived-rs"))
    {
        if let Ok(n) = sink.recv(&mut buf) {
            got.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
    }
    let all = got.join("\n");
    assert!(want(&got, "Keepalived", "Starting keepalived-rs"), "{all}");
    assert!(
        want(&got, "Keepalived_vrrp", "(VI_1) Entering MASTER STATE"),
        "{all}"
    );
    assert!(want(&got, "Keepalived_healthcheckers", ""), "{all}");
    for g in &got {
        // local3 (19) * 8 + notice (5), then `Mmm dd hh:mm:ss `.
        assert!(g.starts_with("<157>"), "{g}");
        let stamp = &g[5..];
        assert_eq!(stamp.as_bytes().get(15), Some(&b' '), "{g}");
        assert_eq!(stamp.as_bytes().get(9), Some(&b':'), "{g}");
    }
    stop_cleanly(&mut d);
    lab.down().expect("teardown");
}

/// An instance in FAULT (a weight-0 script failing) makes `status` exit 1 and name the reason.
#[test]
fn a_faulted_instance_makes_status_exit_1() {
    if !require_root_or_skip("a_faulted_instance_makes_status_exit_1") {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let lab = Lab::new(LabSpec::new(1)).expect("lab");
    let vip = lab.vip4();
    let conf = format!(
        "vrrp_script broken {{\n  script /bin/false\n  interval 1\n  weight 0\n}}\n{}",
        master_instance(&vip, "  track_script {\n    broken\n  }\n")
    );
    let mut d = lab.start_daemon(1, ours(), &conf).expect("start");
    assert!(
        wait_until(LONG, || doc(&lab, 1)
            .is_some_and(|d| instance(&d)["state"] == "FAULT")),
        "{}",
        d.log()
    );
    let (code, table, _) = status(&lab, 1, &["-p", &pid_file(&lab, 1)]);
    assert_eq!(code, 1, "{table}");
    assert!(table.contains("FAULT"), "{table}");
    assert!(table.contains("VI_1 fault: tracker"), "{table}");
    assert!(table.contains("vrrp_script broken: BAD"), "{table}");
    stop_cleanly(&mut d);
    lab.down().expect("teardown");
}
