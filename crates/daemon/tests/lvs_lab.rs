//! The LVS side in network-namespace labs on this host, whose kernel has no IPVS: real
//! TCP_CHECKs against responders in the namespace, the in-memory IPVS backend
//! (`--ipvs-backend=memory`), and everything operators see: log lines, the LVS notify FIFO
//! and its reader script, quorum and real-server scripts with keepalived's argv, the
//! `keepalived_check.data` dump. Also: without IPVS, `-C` alone exits non-zero with a message
//! naming the module, and the VRRP side keeps running when both sides are asked for.
//! The real-kernel programming is tested in the VM (`tests/ipvs_vm.rs`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use ka_lab::{require_root_or_skip, wait_until, Lab, LabSpec, Signal};
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

static SERIAL: Mutex<()> = Mutex::new(());
const LONG: Duration = Duration::from_secs(15);

fn ours() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_keepalived-rs"))
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

#[test]
fn lvs_side_notifies_like_keepalived_with_the_memory_backend() {
    if !require_root_or_skip("lvs_side_notifies_like_keepalived_with_the_memory_backend") {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let lab = Lab::new(LabSpec::new(1)).expect("lab");
    let rip = lab.router_ip4(1).expect("ip");
    let vip = lab.vip4();
    let mut a = lab.listen(1, 8081).expect("responder a");
    let mut b = lab.listen(1, 8082).expect("responder b");
    let dir = lab.dir().to_path_buf();
    let record = lab
        .write_script(
            "record.sh",
            "#!/bin/sh\necho \"$*\" >> \"$(dirname \"$0\")/scripts.txt\"\n",
        )
        .expect("script");
    let reader = lab
        .write_script(
            "reader.sh",
            "#!/bin/sh\ncat \"$1\" >> \"$(dirname \"$0\")/fifo.txt\"\n",
        )
        .expect("script");
    let r = record.display();
    let conf = format!(
        "global_defs {{\n  router_id lab\n  lvs_notify_fifo {fifo}\n  lvs_notify_fifo_script {reader}\n}}\n\
         virtual_server {vip} 80 {{\n  delay_loop 1\n  lb_algo wrr\n  lb_kind NAT\n  protocol TCP\n  quorum 2\n\
         sorry_server {rip} 8099\n  quorum_up \"{r} quorum_up A\"\n  quorum_down \"{r} quorum_down A\"\n\
         real_server {rip} 8081 {{\n    weight 1\n    notify_up \"{r} rs_up 81\"\n    notify_down \"{r} rs_down 81\"\n    \
         TCP_CHECK {{\n      connect_timeout 1\n      retry 0\n    }}\n  }}\n\
         real_server {rip} 8082 {{\n    weight 1\n    notify_down \"{r} rs_down 82\"\n    \
         TCP_CHECK {{\n      connect_timeout 1\n      retry 0\n    }}\n  }}\n}}\n",
        fifo = dir.join("lvs.fifo").display(),
        reader = reader.display(),
    );
    let mut d = lab
        .start_daemon_with(1, ours(), &conf, &["-C", "--ipvs-backend=memory"])
        .expect("start");
    let fifo = dir.join("fifo.txt");
    let scripts = dir.join("scripts.txt");
    let vs = format!("[{vip}]:tcp:80");
    assert!(
        wait_until(LONG, || read(&fifo).contains(&format!("VS {vs} UP"))),
        "no start-up quorum line\n{}",
        d.log()
    );
    assert!(wait_until(LONG, || d
        .log()
        .contains("Activating healthchecker")));
    // One server fails: it leaves, the quorum is lost, the sorry server comes in.
    b.stop(Duration::from_secs(2)).expect("stop b");
    let rs82 = format!("[{rip}]:tcp:8082");
    assert!(
        wait_until(LONG, || read(&fifo).contains(&format!("VS {vs} DOWN"))),
        "no quorum loss\n{}",
        d.log()
    );
    // Lines from the checker process and the LVS side may land a moment apart.
    let mut log = d.log();
    for line in [
        format!("Keepalived_healthcheckers: TCP_CHECK on service {rs82} failed."),
        format!("Keepalived_healthcheckers: Removing service {rs82} from VS {vs}"),
        format!("Keepalived_healthcheckers: Lost quorum 2-0=2 > 1 for VS {vs}"),
        format!("Keepalived_healthcheckers: Adding sorry server [{rip}]:tcp:8099 to VS {vs}"),
        format!("Keepalived_healthcheckers: Removing alive servers from the pool for VS {vs}"),
    ] {
        assert!(
            wait_until(LONG, || d.log().contains(&line)),
            "missing {line:?}\n{log}"
        );
    }
    log = d.log();
    // The IPVS operations of the swap, in keepalived's order: servers out, then the sorry server in.
    let swap: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("IPVS (dry run)"))
        .skip(3)
        .collect();
    assert!(
        swap.len() >= 2
            && swap[0].contains("DelDest")
            && swap
                .last()
                .is_some_and(|l| l.contains("AddDest") && l.contains("8099")),
        "{log}"
    );
    // It comes back: quorum gained, sorry server out.
    b = lab.listen(1, 8082).expect("responder b again");
    assert!(
        wait_until(LONG, || read(&fifo).matches(&format!("VS {vs} UP")).count()
            == 2),
        "no quorum gain\n{}",
        d.log()
    );
    // SIGUSR1: the checker dump in $TMPDIR.
    d.signal(Signal::SIGUSR1).expect("usr1");
    let data = dir.join("keepalived_check.data");
    assert!(
        wait_until(LONG, || read(&data).contains("alive")),
        "no dump"
    );
    assert!(
        read(&data).contains(&format!("VS = {vs}")),
        "{}",
        read(&data)
    );
    d.signal(Signal::SIGTERM).expect("term");
    assert_eq!(
        d.wait_exit(LONG).and_then(|s| s.code()),
        Some(0),
        "{}",
        d.log()
    );
    assert!(d
        .log()
        .contains(&format!("Shutting down service {rs82} from VS {vs}")));
    // keepalived's FIFO lines and script argv (scripts run exactly as written, no arguments).
    let f = read(&fifo);
    let rs81 = format!("[{rip}]:tcp:8081");
    let expected = [
        format!("VS {vs} UP"),
        format!("RS {rs82} {vs} DOWN"),
        format!("VS {vs} DOWN"),
        format!("RS {rs82} {vs} UP"),
        format!("VS {vs} UP"),
    ];
    let got: Vec<&str> = f.lines().collect();
    assert_eq!(got, expected, "FIFO:\n{f}");
    let s = read(&scripts);
    for want in ["quorum_up A", "rs_down 82", "quorum_down A"] {
        assert!(
            s.lines().any(|l| l == want),
            "script argv {want:?} missing:\n{s}"
        );
    }
    assert!(!s.contains(&rs81), "no arguments are appended:\n{s}");
    let _ = a.stop(Duration::from_secs(1));
    let _ = b.stop(Duration::from_secs(1));
    lab.down().expect("teardown");
}

#[test]
fn without_ipvs_the_checker_side_alone_fails_and_vrrp_keeps_running() {
    if !require_root_or_skip("without_ipvs_the_checker_side_alone_fails_and_vrrp_keeps_running") {
        return;
    }
    if Path::new("/proc/net/ip_vs").exists() {
        eprintln!("*** SKIPPED: this kernel has IPVS; the no-IPVS behaviour is tested on kernels without it ***");
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let lab = Lab::new(LabSpec::new(1)).expect("lab");
    let vip = lab.vip4();
    let lvs = format!(
        "virtual_server {vip} 80 {{\n  protocol TCP\n  real_server {} 80 {{\n    TCP_CHECK {{\n    }}\n  }}\n}}\n",
        lab.router_ip4(1).expect("ip")
    );
    // -C alone: one clear error, exit status 1.
    let mut alone = lab
        .start_daemon_with(1, ours(), &lvs, &["-C"])
        .expect("start");
    let status = alone.wait_exit(LONG);
    let log = alone.log();
    assert_eq!(status.and_then(|s| s.code()), Some(1), "{log}");
    assert!(
        log.contains("ip_vs"),
        "the message names the module:\n{log}"
    );
    // Both sides: the VRRP instance still becomes master.
    let both = format!(
        "vrrp_instance VI_1 {{\n  state MASTER\n  interface eth0\n  virtual_router_id 51\n  priority 100\n  \
         version 3\n  advert_int 0.1\n  virtual_ipaddress {{\n    {vip}/24 dev eth0\n  }}\n}}\n{lvs}"
    );
    let mut d = lab
        .start_daemon_with(1, ours(), &both, &["-C"])
        .expect("start");
    assert!(
        wait_until(LONG, || lab.has_address(1, &format!("{vip}/24"))),
        "VRRP did not run:\n{}",
        d.log()
    );
    assert!(d.log().contains("ip_vs"), "{}", d.log());
    d.signal(Signal::SIGTERM).expect("term");
    assert_eq!(
        d.wait_exit(LONG).and_then(|s| s.code()),
        Some(0),
        "{}",
        d.log()
    );
    lab.down().expect("teardown");
}

#[test]
fn ha_suspend_sleeps_checks_until_the_virtual_address_is_local() {
    if !require_root_or_skip("ha_suspend_sleeps_checks_until_the_virtual_address_is_local") {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let lab = Lab::new(LabSpec::new(1)).expect("lab");
    let rip = lab.router_ip4(1).expect("ip");
    let vip = lab.vip4();
    // Nothing listens on 8085: an active checker would take the server out at once.
    let conf = format!(
        "virtual_server {vip} 80 {{\n  delay_loop 1\n  lb_kind NAT\n  protocol TCP\n  ha_suspend\n\
         real_server {rip} 8085 {{\n    TCP_CHECK {{\n      connect_timeout 1\n      retry 0\n    }}\n  }}\n}}\n"
    );
    let mut d = lab
        .start_daemon_with(1, ours(), &conf, &["-C", "--ipvs-backend=memory"])
        .expect("start");
    let rs = format!("[{rip}]:tcp:8085");
    let vs = format!("[{vip}]:tcp:80");
    assert!(
        wait_until(LONG, || d.log().contains(&format!(
            "Deactivating healthchecker for service {rs} for VS {vs}"
        ))),
        "{}",
        d.log()
    );
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        !d.log().contains("Removing service"),
        "checked while suspended:\n{}",
        d.log()
    );
    // The address arrives (whoever adds it): checks resume and the dead server leaves.
    lab.exec(1, &["ip", "addr", "add", &format!("{vip}/32"), "dev", "lo"])
        .expect("add vip");
    assert!(
        wait_until(LONG, || d
            .log()
            .contains(&format!("Removing service {rs} from VS {vs}"))),
        "{}",
        d.log()
    );
    assert!(d.log().contains(&format!(
        "Activating healthchecker for service {rs} for VS {vs}"
    )));
    d.signal(Signal::SIGTERM).expect("term");
    assert_eq!(
        d.wait_exit(LONG).and_then(|s| s.code()),
        Some(0),
        "{}",
        d.log()
    );
    lab.down().expect("teardown");
}

#[test]
fn the_sync_daemon_follows_the_vrrp_instance() {
    if !require_root_or_skip("the_sync_daemon_follows_the_vrrp_instance") {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let lab = Lab::new(LabSpec::new(1)).expect("lab");
    let vip = lab.vip4();
    let conf = format!(
        "global_defs {{\n  lvs_sync_daemon eth0 VI_1\n}}\n\
         vrrp_instance VI_1 {{\n  state BACKUP\n  interface eth0\n  virtual_router_id 51\n  priority 100\n  \
         version 3\n  advert_int 0.1\n  virtual_ipaddress {{\n    {vip}/24 dev eth0\n  }}\n}}\n\
         virtual_server {vip} 80 {{\n  protocol TCP\n  real_server {} 80 {{\n  }}\n}}\n",
        lab.router_ip4(1).expect("ip")
    );
    let mut d = lab
        .start_daemon_with(1, ours(), &conf, &["-C", "--ipvs-backend=memory"])
        .expect("start");
    // Backup first (the instance starts as backup), master once VRRP elects itself; the
    // sync id defaults to the instance's VRID.
    assert!(
        wait_until(LONG, || d.log().contains(
            "Starting IPVS sync daemon as master on eth0 (syncid 51)"
        )),
        "{}",
        d.log()
    );
    let log = d.log();
    let backup = log.find("Starting IPVS sync daemon as backup on eth0 (syncid 51)");
    let stop_backup = log.find("StopDaemon(Backup)");
    let master = log.find("as master");
    assert!(
        backup < stop_backup && stop_backup < master && backup.is_some(),
        "{log}"
    );
    d.signal(Signal::SIGTERM).expect("term");
    assert_eq!(
        d.wait_exit(LONG).and_then(|s| s.code()),
        Some(0),
        "{}",
        d.log()
    );
    assert!(d.log().contains("StopDaemon(Master)"), "{}", d.log());
    lab.down().expect("teardown");
}

#[test]
fn misc_check_exit_codes_dynamic_weights_and_timeouts() {
    if !require_root_or_skip("misc_check_exit_codes_dynamic_weights_and_timeouts") {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let lab = Lab::new(LabSpec::new(1)).expect("lab");
    let rip = lab.router_ip4(1).expect("ip");
    let vip = lab.vip4();
    let dir = lab.dir().to_path_buf();
    // The script's behaviour comes from a file the test writes: an exit code, or "hang".
    let mode = dir.join("mode");
    std::fs::write(&mode, "0").expect("mode");
    let script = lab
        .write_script(
            "misc.sh",
            &format!(
                "#!/bin/sh\nm=$(cat {})\n[ \"$m\" = hang ] && exec sleep 30\nexit $m\n",
                mode.display()
            ),
        )
        .expect("script");
    let conf = format!(
        "virtual_server {vip} 80 {{\n  delay_loop 1\n  lb_kind NAT\n  protocol TCP\n\
         real_server {rip} 80 {{\n    weight 1\n    MISC_CHECK {{\n      misc_path \"{}\"\n      misc_timeout 1\n      misc_dynamic\n    }}\n  }}\n}}\n",
        script.display()
    );
    let mut d = lab
        .start_daemon_with(1, ours(), &conf, &["-C", "--ipvs-backend=memory"])
        .expect("start");
    let rs = format!("[{rip}]:tcp:80");
    let vs = format!("[{vip}]:tcp:80");
    // Exit 5 with misc_dynamic: up, weight 5 - 2 = 3.
    std::fs::write(&mode, "5").expect("mode");
    assert!(
        wait_until(LONG, || d.log().contains(&format!(
            "Changing weight from 1 to 3 for active service {rs} of VS {vs}"
        ))),
        "{}",
        d.log()
    );
    // A hung script: killed at misc_timeout, a failure (the first failure after a success
    // counts against retry 0 at once), and the weight it had stays as it was.
    std::fs::write(&mode, "hang").expect("mode");
    assert!(
        wait_until(LONG, || d
            .log()
            .contains(&format!("Removing service {rs} from VS {vs}"))),
        "{}",
        d.log()
    );
    assert!(d.log().contains("timed out"), "{}", d.log());
    // Exit 0 again: up, the configured weight back.
    std::fs::write(&mode, "0").expect("mode");
    assert!(
        wait_until(LONG, || d
            .log()
            .contains(&format!("Adding service {rs} to VS {vs}"))),
        "{}",
        d.log()
    );
    assert!(
        wait_until(LONG, || d.log().contains(&format!(
            "Changing weight from 3 to 1 for active service {rs} of VS {vs}"
        ))),
        "{}",
        d.log()
    );
    d.signal(Signal::SIGTERM).expect("term");
    assert_eq!(
        d.wait_exit(LONG).and_then(|s| s.code()),
        Some(0),
        "{}",
        d.log()
    );
    // No script left running.
    let left = lab.exec(1, &["pgrep", "-f", "sleep 30"]).expect("pgrep");
    assert!(String::from_utf8_lossy(&left.stdout).trim().is_empty());
    lab.down().expect("teardown");
}

#[test]
fn a_killed_checker_process_is_restarted_and_vrrp_never_notices() {
    if !require_root_or_skip("a_killed_checker_process_is_restarted_and_vrrp_never_notices") {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let lab = Lab::new(LabSpec::new(1)).expect("lab");
    let vip = lab.vip4();
    let rip = lab.router_ip4(1).expect("ip");
    let _responder = lab.listen(1, 8081).expect("responder");
    let conf = format!(
        "vrrp_instance VI_1 {{\n  state MASTER\n  interface eth0\n  virtual_router_id 51\n  priority 100\n  \
         version 3\n  advert_int 0.1\n  virtual_ipaddress {{\n    {vip}/24 dev eth0\n  }}\n}}\n\
         virtual_server {vip} 80 {{\n  delay_loop 1\n  lb_kind NAT\n  protocol TCP\n\
         real_server {rip} 8081 {{\n    TCP_CHECK {{\n      connect_timeout 1\n    }}\n  }}\n}}\n"
    );
    // Both sides (-P -C): VRRP here, the checkers in a child process.
    let mut d = lab
        .start_daemon_with(1, ours(), &conf, &["-C", "--ipvs-backend=memory"])
        .expect("start");
    assert!(
        wait_until(LONG, || lab.has_address(1, &format!("{vip}/24"))),
        "{}",
        d.log()
    );
    let pidfile = lab.dir().join("r1.check.pid");
    let child = || -> Option<i32> { read(&pidfile).trim().parse().ok() };
    assert!(
        wait_until(LONG, || child().is_some()),
        "no checker pid file\n{}",
        d.log()
    );
    let first = child().expect("pid");
    assert_ne!(
        first as u32,
        d.pid(),
        "the checkers run in their own process"
    );
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(first),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("kill the checker child");
    assert!(
        wait_until(LONG, || child().is_some_and(|p| p != first)),
        "not restarted\n{}",
        d.log()
    );
    assert!(d.log().contains("respawning"), "{}", d.log());
    assert!(
        lab.has_address(1, &format!("{vip}/24")),
        "VRRP lost the VIP"
    );
    assert!(d.is_running());
    d.signal(Signal::SIGTERM).expect("term");
    assert_eq!(
        d.wait_exit(LONG).and_then(|s| s.code()),
        Some(0),
        "{}",
        d.log()
    );
    // The child is gone too.
    let second = child();
    assert!(
        second.is_none()
            || nix::sys::signal::kill(nix::unistd::Pid::from_raw(second.expect("pid")), None)
                .is_err(),
        "the checker child outlived the daemon"
    );
    lab.down().expect("teardown");
}

#[test]
fn retries_are_counted_exactly_as_keepalived_counts_them() {
    if !require_root_or_skip("retries_are_counted_exactly_as_keepalived_counts_them") {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let lab = Lab::new(LabSpec::new(1)).expect("lab");
    let rip = lab.router_ip4(1).expect("ip");
    let vip = lab.vip4();
    let mut server = lab.listen(1, 8086).expect("responder");
    // retry 2: an up checker that has passed goes down on the 3rd consecutive failure;
    // log_all_failures shows each failed attempt before the verdict.
    let conf = format!(
        "virtual_server {vip} 80 {{\n  delay_loop 1\n  lb_kind NAT\n  protocol TCP\n\
         real_server {rip} 8086 {{\n    TCP_CHECK {{\n      connect_timeout 1\n      retry 2\n      delay_before_retry 1\n      log_all_failures\n    }}\n  }}\n}}\n"
    );
    let mut d = lab
        .start_daemon_with(1, ours(), &conf, &["-C", "--ipvs-backend=memory"])
        .expect("start");
    let rs = format!("[{rip}]:tcp:8086");
    // Let it pass a few times, then take the server away.
    std::thread::sleep(Duration::from_secs(4));
    server.stop(Duration::from_secs(2)).expect("stop");
    let verdict = format!("TCP_CHECK on service {rs} failed after 2 retries.");
    assert!(
        wait_until(LONG, || d.log().contains(&verdict)),
        "{}",
        d.log()
    );
    let log = d.log();
    let before: &str = log.split(&verdict).next().unwrap_or_default();
    let failures = before
        .matches(&format!("TCP connection to {rs} failed."))
        .count();
    assert_eq!(
        failures, 2,
        "two failed attempts logged before the verdict:\n{log}"
    );
    // The verdict comes from the checker process and the removal from the LVS side, so the
    // removal line may land a moment later.
    let removing = format!("Removing service {rs} from VS [{vip}]:tcp:80");
    assert!(
        wait_until(LONG, || d.log().contains(&removing)),
        "{}",
        d.log()
    );
    // While down, failures are not counted (no more verdict lines); one success brings it up.
    server = lab.listen(1, 8086).expect("responder again");
    assert!(
        wait_until(LONG, || d
            .log()
            .contains(&format!("TCP connection to {rs} success."))),
        "{}",
        d.log()
    );
    assert_eq!(d.log().matches(&verdict).count(), 1, "{}", d.log());
    d.signal(Signal::SIGTERM).expect("term");
    assert_eq!(
        d.wait_exit(LONG).and_then(|s| s.code()),
        Some(0),
        "{}",
        d.log()
    );
    let _ = server.stop(Duration::from_secs(1));
    lab.down().expect("teardown");
}
