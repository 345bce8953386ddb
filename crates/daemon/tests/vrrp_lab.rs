//! keepalived-rs in network-namespace labs, beside the real keepalived 2.2.7: election,
//! priority-0 handover on SIGTERM, preemption, and a crash. VRRPv3 at 0.1 s; every wait is on
//! a condition with a generous deadline (timing precision belongs in the benchmarks).
//! Labs run one at a time (a mutex), so 2 cores are never oversubscribed.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use ka_lab::{require_root_or_skip, system_keepalived, wait_until, Lab, LabSpec, Signal};
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

static SERIAL: Mutex<()> = Mutex::new(());

fn ours() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_keepalived-rs"))
}

fn config(lab: &Lab, priority: u8, extra: &str) -> String {
    format!(
        "global_defs {{\n    router_id r{priority}\n}}\n\
         vrrp_instance VI_1 {{\n    state BACKUP\n    interface eth0\n    virtual_router_id 51\n    \
         priority {priority}\n    version 3\n    advert_int 0.1\n{extra}    virtual_ipaddress {{\n        \
         {}/24 dev eth0\n    }}\n}}\n",
        lab.vip4()
    )
}

const LONG: Duration = Duration::from_secs(10);

#[test]
fn keepalived_rs_and_keepalived_elect_hand_over_and_preempt() {
    if !require_root_or_skip("keepalived_rs_and_keepalived_elect_hand_over_and_preempt") {
        return;
    }
    let Some(keepalived) = system_keepalived() else {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("keepalived is not installed (CI=true: a skip is a failure)");
        }
        eprintln!("*** SKIPPED: keepalived is not installed ***");
        return;
    };
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let lab = Lab::new(LabSpec::new(2)).expect("lab");
    let vip = lab.vip4();
    let vip_cidr = format!("{vip}/24");

    // Ours (priority 150) and keepalived (100): ours is elected.
    let mut rs = lab
        .start_daemon(1, ours(), &config(&lab, 150, ""))
        .expect("start ours");
    let mut ka = lab
        .start_daemon(2, &keepalived, &config(&lab, 100, ""))
        .expect("start keepalived");
    assert!(
        wait_until(LONG, || lab.has_address(1, &vip_cidr)
            && lab.arp_owner(&vip) == Some(1)),
        "keepalived-rs did not become master\n{}",
        rs.log()
    );
    assert!(
        !lab.has_address(2, &vip_cidr),
        "keepalived holds the VIP too:\n{}",
        ka.log()
    );
    assert!(lab.ping(&vip, LONG));

    // SIGTERM: our priority-0 advert hands over to keepalived at once; our VIP is gone.
    rs.signal(Signal::SIGTERM).expect("signal");
    assert!(
        rs.wait_exit(Duration::from_secs(3)).is_some(),
        "did not exit within 3 s"
    );
    assert!(
        !lab.has_address(1, &vip_cidr),
        "VIP left behind:\n{}",
        rs.log()
    );
    assert!(
        wait_until(LONG, || lab.has_address(2, &vip_cidr)
            && lab.arp_owner(&vip) == Some(2)),
        "keepalived did not take over\n{}",
        ka.log()
    );
    assert!(rs.log().contains("(VI_1) Entering MASTER STATE"));

    // Back with a higher priority: we preempt keepalived.
    let mut rs = lab
        .start_daemon(1, ours(), &config(&lab, 150, ""))
        .expect("restart ours");
    assert!(
        wait_until(LONG, || lab.has_address(1, &vip_cidr)
            && !lab.has_address(2, &vip_cidr)),
        "no preemption\nours:\n{}\nkeepalived:\n{}",
        rs.log(),
        ka.log()
    );
    assert!(ka.log().contains("higher priority 150"), "{}", ka.log());

    // keepalived is killed while backup; we stay master. Then we stop cleanly.
    ka.signal(Signal::SIGKILL).ok();
    rs.signal(Signal::SIGTERM).expect("signal");
    assert!(rs.wait_exit(Duration::from_secs(3)).is_some());
    lab.down().expect("teardown");
}

#[test]
fn keepalived_master_keepalived_rs_backup_takes_over_on_crash() {
    if !require_root_or_skip("keepalived_master_keepalived_rs_backup_takes_over_on_crash") {
        return;
    }
    let Some(keepalived) = system_keepalived() else {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("keepalived is not installed (CI=true: a skip is a failure)");
        }
        eprintln!("*** SKIPPED: keepalived is not installed ***");
        return;
    };
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let lab = Lab::new(LabSpec::new(2)).expect("lab");
    let vip = lab.vip4();
    let vip_cidr = format!("{vip}/24");
    let mut ka = lab
        .start_daemon(1, &keepalived, &config(&lab, 200, ""))
        .expect("keepalived");
    let rs = lab
        .start_daemon(2, ours(), &config(&lab, 100, ""))
        .expect("ours");
    assert!(
        wait_until(LONG, || lab.has_address(1, &vip_cidr)),
        "{}",
        ka.log()
    );
    // A few hundred adverts later we are still backup (no dual master).
    std::thread::sleep(Duration::from_millis(500));
    assert!(!lab.has_address(2, &vip_cidr), "dual master:\n{}", rs.log());
    // The master's link is cut (carrier loss): we take over.
    lab.cut_link(1).expect("cut");
    assert!(
        wait_until(LONG, || lab.has_address(2, &vip_cidr)
            && lab.arp_owner(&vip) == Some(2)),
        "no takeover\n{}",
        rs.log()
    );
    lab.restore_link(1).expect("restore");
    // keepalived (200) comes back and preempts us.
    assert!(
        wait_until(LONG, || lab.has_address(1, &vip_cidr)
            && !lab.has_address(2, &vip_cidr)),
        "keepalived did not preempt back\nours:\n{}",
        rs.log()
    );
    ka.signal(Signal::SIGTERM).ok();
    drop(rs);
    lab.down().expect("teardown");
}

#[test]
fn reload_adds_a_vip_without_losing_mastership_and_refuses_a_broken_file() {
    if !require_root_or_skip(
        "reload_adds_a_vip_without_losing_mastership_and_refuses_a_broken_file",
    ) {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let lab = Lab::new(LabSpec::new(2)).expect("lab");
    let vip = format!("{}/24", lab.vip4());
    let second = vip.replace(".100/", ".101/");
    let mut master = lab
        .start_daemon(1, ours(), &config(&lab, 150, ""))
        .expect("master");
    let backup = lab
        .start_daemon(2, ours(), &config(&lab, 100, ""))
        .expect("backup");
    assert!(
        wait_until(LONG, || lab.has_address(1, &vip)),
        "{}",
        master.log()
    );
    // Add a VIP in place and reload.
    let conf = lab.dir().join("r1.conf");
    let text = std::fs::read_to_string(&conf).expect("conf");
    let more = text.replace(
        &format!("        {vip} dev eth0\n"),
        &format!("        {vip} dev eth0\n        {second} dev eth0\n"),
    );
    assert_ne!(text, more);
    std::fs::write(&conf, &more).expect("write");
    master.signal(Signal::SIGHUP).expect("hup");
    assert!(
        wait_until(LONG, || lab.has_address(1, &second)),
        "the new VIP was not added\n{}",
        master.log()
    );
    assert!(lab.has_address(1, &vip), "the old VIP went away");
    assert!(
        !lab.has_address(2, &vip) && !lab.has_address(2, &second),
        "the backup took over"
    );
    assert_eq!(
        master.log().matches("Entering MASTER STATE").count(),
        1,
        "{}",
        master.log()
    );
    // A file that cannot run (`-t` class 4: a linkbeat interface that does not exist) is
    // refused; the running configuration stays.
    let broken = format!("linkbeat_interfaces {{\n    eth9\n}}\n{}", text);
    std::fs::write(&conf, broken).expect("write");
    master.signal(Signal::SIGHUP).expect("hup");
    assert!(
        wait_until(LONG, || master.log().contains("keeping the running one")),
        "{}",
        master.log()
    );
    assert!(lab.has_address(1, &vip) && lab.has_address(1, &second));
    drop(backup);
    master.signal(Signal::SIGTERM).ok();
    lab.down().expect("teardown");
}
