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

fn keepalived_or_skip() -> Option<std::path::PathBuf> {
    let k = system_keepalived();
    if k.is_none() {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("keepalived is not installed (CI=true: a skip is a failure)");
        }
        eprintln!("*** SKIPPED: keepalived is not installed ***");
    }
    k
}

#[test]
fn unicast_peers_interoperate_and_send_no_multicast() {
    if !require_root_or_skip("unicast_peers_interoperate_and_send_no_multicast") {
        return;
    }
    let Some(keepalived) = keepalived_or_skip() else {
        return;
    };
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let lab = Lab::new(LabSpec::new(2)).expect("lab");
    let vip = format!("{}/24", lab.vip4());
    let (a, b) = (
        lab.router_ip4(1).expect("ip"),
        lab.router_ip4(2).expect("ip"),
    );
    let uni = |me: &str, peer: &str| {
        format!("    unicast_src_ip {me}\n    unicast_peer {{\n        {peer}\n    }}\n")
    };
    let cap = lab
        .capture("ip proto 112 and dst host 224.0.0.18")
        .expect("capture");
    let rs = lab
        .start_daemon(1, ours(), &config(&lab, 150, &uni(&a, &b)))
        .expect("ours");
    let ka = lab
        .start_daemon(2, &keepalived, &config(&lab, 100, &uni(&b, &a)))
        .expect("ka");
    assert!(
        wait_until(LONG, || lab.has_address(1, &vip)),
        "{}",
        rs.log()
    );
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        !lab.has_address(2, &vip),
        "dual master with unicast:\n{}",
        ka.log()
    );
    let pcap = cap.stop().expect("stop");
    let multicast = std::fs::metadata(&pcap).map(|m| m.len()).unwrap_or(0);
    // An empty pcap is its 24-byte header.
    assert!(
        multicast <= 24,
        "multicast adverts were sent ({multicast} bytes captured)"
    );
    drop((rs, ka));
    lab.down().expect("teardown");
}

#[test]
fn v2_pass_authentication_interoperates_and_a_wrong_password_is_counted() {
    if !require_root_or_skip("v2_pass_authentication_interoperates_and_a_wrong_password_is_counted")
    {
        return;
    }
    let Some(keepalived) = keepalived_or_skip() else {
        return;
    };
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let lab = Lab::new(LabSpec::new(3)).expect("lab");
    let vip = format!("{}/24", lab.vip4());
    let v2 = |prio: u8, pass: &str| {
        config(
            &lab,
            prio,
            &format!(
                "    authentication {{\n        auth_type PASS\n        auth_pass {pass}\n    }}\n"
            ),
        )
        .replace(
            "    version 3\n    advert_int 0.1\n",
            "    version 2\n    advert_int 1\n",
        )
    };
    let ka = lab
        .start_daemon(1, &keepalived, &v2(200, "sEcr3t"))
        .expect("ka");
    let mut good = lab
        .start_daemon(2, ours(), &v2(100, "sEcr3t"))
        .expect("ours");
    assert!(
        wait_until(LONG, || lab.has_address(1, &vip)),
        "{}",
        ka.log()
    );
    // Our backup with the right password stays backup.
    std::thread::sleep(Duration::from_secs(2));
    assert!(!lab.has_address(2, &vip), "{}", good.log());
    // A third router with a wrong password drops keepalived's adverts and counts them.
    let mut bad = lab.start_daemon(3, ours(), &v2(50, "wrong")).expect("bad");
    std::thread::sleep(Duration::from_secs(2));
    bad.signal(Signal::SIGUSR2).expect("usr2");
    assert!(
        wait_until(LONG, || bad.log().contains("auth_failure")),
        "no auth_failure counter:\n{}",
        bad.log()
    );
    good.signal(Signal::SIGUSR2).expect("usr2");
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        !good.log().contains("drops"),
        "the right password dropped adverts:\n{}",
        good.log()
    );
    drop((ka, good, bad));
    lab.down().expect("teardown");
}

#[test]
fn leftover_vip_removed_at_start_and_carrier_loss_is_a_fault() {
    if !require_root_or_skip("leftover_vip_removed_at_start_and_carrier_loss_is_a_fault") {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let lab = Lab::new(LabSpec::new(2)).expect("lab");
    let vip = format!("{}/24", lab.vip4());
    // A crashed predecessor left the VIP on router 2.
    let ns = lab.ns_name(2).expect("ns");
    let st = std::process::Command::new("ip")
        .args(["-n", &ns, "addr", "add", &vip, "dev", "eth0"])
        .status()
        .expect("ip");
    assert!(st.success());
    let master = lab
        .start_daemon(1, ours(), &config(&lab, 150, ""))
        .expect("master");
    let backup = lab
        .start_daemon(2, ours(), &config(&lab, 100, ""))
        .expect("backup");
    assert!(
        wait_until(LONG, || !lab.has_address(2, &vip)),
        "leftover VIP kept:\n{}",
        backup.log()
    );
    assert!(wait_until(LONG, || lab.has_address(1, &vip)));
    // Carrier loss on the master's link: FAULT, VIP dropped; the backup takes over.
    lab.cut_link(1).expect("cut");
    assert!(
        wait_until(LONG, || master.log().contains("Entering FAULT STATE")
            && !lab.has_address(1, &vip)),
        "{}",
        master.log()
    );
    assert!(
        wait_until(LONG, || lab.has_address(2, &vip)),
        "{}",
        backup.log()
    );
    lab.restore_link(1).expect("restore");
    assert!(
        wait_until(LONG, || lab.has_address(1, &vip)
            && !lab.has_address(2, &vip)),
        "no return after the link came back:\n{}",
        master.log()
    );
    drop((master, backup));
    lab.down().expect("teardown");
}

#[test]
fn ipv6_vips_interoperate() {
    if !require_root_or_skip("ipv6_vips_interoperate") {
        return;
    }
    let Some(keepalived) = keepalived_or_skip() else {
        return;
    };
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let lab = Lab::new(LabSpec::new(2).ipv6(true)).expect("lab");
    let vip6 = lab.vip6();
    let conf = |prio: u8| {
        config(&lab, prio, "").replace(&format!("{}/24", lab.vip4()), &format!("{vip6}/64"))
    };
    let rs = lab.start_daemon(1, ours(), &conf(150)).expect("ours");
    let mut ka = lab.start_daemon(2, &keepalived, &conf(100)).expect("ka");
    assert!(
        wait_until(LONG, || lab.has_address(1, &vip6)),
        "ours:\n{}",
        rs.log()
    );
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        !lab.has_address(2, &vip6),
        "dual master over IPv6:\nka:\n{}\nours:\n{}",
        ka.log(),
        rs.log()
    );
    assert!(lab.ping(&vip6, LONG), "the VIP does not answer");
    // keepalived's adverts reach us too: stop ours, keepalived takes over, start ours again:
    // we preempt only if we hear and beat keepalived.
    ka.signal(Signal::SIGTERM).ok();
    drop(rs);
    lab.down().expect("teardown");
}

#[test]
fn a_vip_deleted_from_outside_is_put_back() {
    if !require_root_or_skip("a_vip_deleted_from_outside_is_put_back") {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let lab = Lab::new(LabSpec::new(1)).expect("lab");
    let vip = format!("{}/24", lab.vip4());
    let master = lab
        .start_daemon(1, ours(), &config(&lab, 150, ""))
        .expect("ours");
    assert!(
        wait_until(LONG, || lab.has_address(1, &vip)),
        "{}",
        master.log()
    );
    let ns = lab.ns_name(1).expect("ns");
    let st = std::process::Command::new("ip")
        .args(["-n", &ns, "addr", "del", &vip, "dev", "eth0"])
        .status()
        .expect("ip");
    assert!(st.success());
    assert!(
        wait_until(LONG, || lab.has_address(1, &vip)),
        "the VIP was not put back:\n{}",
        master.log()
    );
    assert!(master.log().contains("putting it back"));
    drop(master);
    lab.down().expect("teardown");
}

#[test]
fn partition_heals_to_one_master_and_the_client_follows() {
    if !require_root_or_skip("partition_heals_to_one_master_and_the_client_follows") {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let lab = Lab::new(LabSpec::new(2)).expect("lab");
    let vip4 = lab.vip4();
    let vip = format!("{vip4}/24");
    let a = lab
        .start_daemon(1, ours(), &config(&lab, 150, ""))
        .expect("a");
    let b = lab
        .start_daemon(2, ours(), &config(&lab, 100, ""))
        .expect("b");
    assert!(wait_until(LONG, || lab.has_address(1, &vip)), "{}", a.log());
    // Router 1 leaves the bridge with its link up: each side has a master.
    lab.detach(1).expect("detach");
    assert!(wait_until(LONG, || lab.has_address(2, &vip)), "{}", b.log());
    assert!(lab.has_address(1, &vip), "router 1 gave up without cause");
    // Heal: one master again, quickly, and the client's ARP follows it.
    lab.attach(1).expect("attach");
    assert!(
        wait_until(LONG, || !lab.has_address(2, &vip)
            && lab.has_address(1, &vip)),
        "still two masters:\n{}\n{}",
        a.log(),
        b.log()
    );
    assert!(
        wait_until(LONG, || lab.arp_owner(&vip4) == Some(1)),
        "the client still goes to router 2"
    );
    drop((a, b));
    lab.down().expect("teardown");
}

#[test]
fn nopreempt_and_owner() {
    if !require_root_or_skip("nopreempt_and_owner") {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let lab = Lab::new(LabSpec::new(2)).expect("lab");
    let vip = format!("{}/24", lab.vip4());
    // nopreempt: the higher priority that arrives later does not take over.
    let low = lab
        .start_daemon(2, ours(), &config(&lab, 100, "    nopreempt\n"))
        .expect("low");
    assert!(
        wait_until(LONG, || lab.has_address(2, &vip)),
        "{}",
        low.log()
    );
    let high = lab
        .start_daemon(1, ours(), &config(&lab, 150, "    nopreempt\n"))
        .expect("high");
    std::thread::sleep(Duration::from_secs(1));
    assert!(
        lab.has_address(2, &vip) && !lab.has_address(1, &vip),
        "preempted despite nopreempt:\n{}",
        high.log()
    );
    drop(high);
    // An address owner (255, state MASTER) takes over at once.
    let owner_conf = config(&lab, 255, "").replace("state BACKUP", "state MASTER");
    let owner = lab.start_daemon(1, ours(), &owner_conf).expect("owner");
    assert!(
        wait_until(LONG, || lab.has_address(1, &vip)
            && !lab.has_address(2, &vip)),
        "owner did not take over:\n{}",
        owner.log()
    );
    assert!(owner.log().contains("address owner"), "{}", owner.log());
    drop((owner, low));
    lab.down().expect("teardown");
}

#[test]
fn our_adverts_have_good_checksums_for_tshark_and_a_flood_changes_nothing() {
    if !require_root_or_skip(
        "our_adverts_have_good_checksums_for_tshark_and_a_flood_changes_nothing",
    ) {
        return;
    }
    if std::process::Command::new("tshark")
        .arg("-v")
        .output()
        .is_err()
    {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("tshark is not installed (CI=true: a skip is a failure)");
        }
        eprintln!("*** SKIPPED: tshark is not installed ***");
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let lab = Lab::new(LabSpec::new(2)).expect("lab");
    let vip = format!("{}/24", lab.vip4());
    let cap = lab.capture("ip proto 112").expect("capture");
    let mut master = lab
        .start_daemon(1, ours(), &config(&lab, 150, ""))
        .expect("master");
    let mut backup = lab
        .start_daemon(2, ours(), &config(&lab, 100, ""))
        .expect("backup");
    assert!(
        wait_until(LONG, || lab.has_address(1, &vip)),
        "{}",
        master.log()
    );
    std::thread::sleep(Duration::from_millis(500));
    // A flood of bad adverts from the client: wrong TTL (the kernel's 64), a bad checksum,
    // a wrong VRID, garbage. Thousands per second for a second.
    let flood = r#"
import socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, 112)
s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, b"eth0")
s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(MYIP))
good = bytes([0x31, 51, 200, 1, 0, 10, 0, 0, 10, 200, 0, 100])
bad_ck = bytes([0x31, 51, 200, 1, 0, 10, 0x12, 0x34, 10, 200, 0, 100])
other = bytes([0x31, 77, 200, 1, 0, 10, 0, 0, 10, 200, 0, 100])
junk = bytes(range(40))
end = time.time() + 1.0
n = 0
while time.time() < end:
    for p in (good, bad_ck, other, junk):
        s.sendto(p, ("224.0.0.18", 0))
        n += 1
print(n)
"#;
    let flood = flood.replace("MYIP", &format!("\"{}\"", lab.client_ip4()));
    let out = lab
        .exec(ka_lab::Node::Client, &["python3", "-c", &flood])
        .expect("flood");
    let sent: u64 = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(0);
    assert!(sent > 1000, "the flood did not run: {:?}", out);
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        lab.has_address(1, &vip) && !lab.has_address(2, &vip),
        "the flood changed state"
    );
    assert_eq!(
        master.log().matches("Entering MASTER STATE").count(),
        1,
        "{}",
        master.log()
    );
    // Logged at a limited rate: one line per reason, not one per packet.
    let drop_lines = master.log().matches("dropped").count();
    assert!(
        (1..=8).contains(&drop_lines),
        "{drop_lines} drop lines:\n{}",
        master.log()
    );
    master.signal(Signal::SIGUSR2).expect("usr2");
    assert!(
        wait_until(LONG, || master.log().contains("bad_ttl")),
        "{}",
        master.log()
    );
    backup.signal(Signal::SIGUSR2).expect("usr2");
    std::thread::sleep(Duration::from_millis(200));
    let pcap = cap.stop().expect("stop");
    // Every advert of ours on the wire has a good checksum.
    let t = std::process::Command::new("tshark")
        .args(["-r"])
        .arg(&pcap)
        .args([
            "-Y",
            "vrrp && ip.ttl == 255",
            "-T",
            "fields",
            "-e",
            "vrrp.checksum.status",
        ])
        .output()
        .expect("tshark");
    let statuses = String::from_utf8_lossy(&t.stdout);
    let lines: Vec<&str> = statuses.lines().filter(|l| !l.is_empty()).collect();
    assert!(lines.len() > 5, "no adverts captured: {statuses}");
    assert!(lines.iter().all(|l| *l == "1"), "bad checksums: {lines:?}");
    drop((master, backup));
    lab.down().expect("teardown");
}

#[test]
fn virtual_routes_and_rules_follow_mastership() {
    if !require_root_or_skip("virtual_routes_and_rules_follow_mastership") {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let lab = Lab::new(LabSpec::new(2)).expect("lab");
    let vip = format!("{}/24", lab.vip4());
    let gw = lab.client_ip4();
    let extra = format!(
        "    virtual_routes {{\n        10.201.0.0/16 via {gw} dev eth0\n        blackhole 10.202.0.0/16\n    }}\n\
         \x20   virtual_rules {{\n        from 10.203.0.0/16 table 100 preference 1000\n    }}\n"
    );
    let mut a = lab
        .start_daemon(1, ours(), &config(&lab, 150, &extra))
        .expect("a");
    let b = lab
        .start_daemon(2, ours(), &config(&lab, 100, &extra))
        .expect("b");
    let routes = |r: usize| {
        let ns = lab.ns_name(r).expect("ns");
        let out = std::process::Command::new("ip")
            .args(["-n", &ns, "route", "show", "table", "all"])
            .output()
            .expect("ip");
        let rules = std::process::Command::new("ip")
            .args(["-n", &ns, "rule"])
            .output()
            .expect("ip");
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&rules.stdout)
        )
    };
    let has_all = |r: usize| {
        let t = routes(r);
        t.contains("10.201.0.0/16 via")
            && t.contains("blackhole 10.202.0.0/16")
            && t.contains("1000:\tfrom 10.203.0.0/16 lookup 100")
    };
    assert!(
        wait_until(LONG, || lab.has_address(1, &vip) && has_all(1)),
        "master:\n{}\n{}",
        routes(1),
        a.log()
    );
    assert!(
        !routes(2).contains("10.201.0.0/16"),
        "the backup installed routes:\n{}",
        routes(2)
    );
    // Someone deletes a route on the master: it is put back.
    let ns1 = lab.ns_name(1).expect("ns");
    let st = std::process::Command::new("ip")
        .args(["-n", &ns1, "route", "del", "blackhole", "10.202.0.0/16"])
        .status()
        .expect("ip");
    assert!(st.success());
    assert!(
        wait_until(LONG, || has_all(1)),
        "the route was not put back:\n{}\n{}",
        routes(1),
        a.log()
    );
    assert!(a
        .log()
        .contains("route to 10.202.0.0/16 was removed: putting it back"));
    // And a rule.
    let st = std::process::Command::new("ip")
        .args(["-n", &ns1, "rule", "del", "pref", "1000"])
        .status()
        .expect("ip");
    assert!(st.success());
    assert!(
        wait_until(LONG, || has_all(1)),
        "the rule was not put back:\n{}\n{}",
        routes(1),
        a.log()
    );
    assert!(
        a.log().contains("rule 1000 was removed: putting it back"),
        "{}",
        a.log()
    );
    // Hand over: the routes and the rule move with the VIP.
    a.signal(Signal::SIGTERM).expect("term");
    assert!(a.wait_exit(Duration::from_secs(3)).is_some());
    assert!(
        wait_until(LONG, || has_all(2)),
        "new master:\n{}\n{}",
        routes(2),
        b.log()
    );
    let t1 = routes(1);
    assert!(
        !t1.contains("10.201.0.0/16") && !t1.contains("10.203.0.0/16"),
        "left behind:\n{t1}"
    );
    drop(b);
    lab.down().expect("teardown");
}

#[test]
fn track_interface_weight_and_fault() {
    if !require_root_or_skip("track_interface_weight_and_fault") {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let lab = Lab::new(LabSpec::new(2)).expect("lab");
    let vip = format!("{}/24", lab.vip4());
    let ns = lab.ns_name(1).expect("ns");
    let ip = |args: &[&str]| {
        let st = std::process::Command::new("ip")
            .arg("-n")
            .arg(&ns)
            .args(args)
            .status()
            .expect("ip");
        assert!(st.success(), "ip {args:?}");
    };
    // Two extra links in router 1: t0 (weighted) and u0 (unweighted), each a veth whose peer we
    // can take down to cut its carrier.
    ip(&["link", "add", "t0", "type", "veth", "peer", "name", "t1"]);
    ip(&["link", "add", "u0", "type", "veth", "peer", "name", "u1"]);
    for l in ["t0", "t1", "u0", "u1"] {
        ip(&["link", "set", l, "up"]);
    }
    let extra = "    track_interface {\n        t0 weight -60\n        u0\n    }\n";
    let a = lab
        .start_daemon(1, ours(), &config(&lab, 150, extra))
        .expect("a");
    let b = lab
        .start_daemon(2, ours(), &config(&lab, 100, ""))
        .expect("b");
    assert!(wait_until(LONG, || lab.has_address(1, &vip)), "{}", a.log());
    // t0 loses carrier: 150 - 60 = 90 < 100: router 2 preempts.
    ip(&["link", "set", "t1", "down"]);
    assert!(
        wait_until(LONG, || lab.has_address(2, &vip)
            && !lab.has_address(1, &vip)),
        "no preemption after the weighted interface went down:\n{}\n{}",
        a.log(),
        b.log()
    );
    // Back up: router 1 preempts again.
    ip(&["link", "set", "t1", "up"]);
    assert!(wait_until(LONG, || lab.has_address(1, &vip)), "{}", a.log());
    // u0 (weight 0) down: FAULT.
    ip(&["link", "set", "u1", "down"]);
    assert!(
        wait_until(LONG, || a.log().contains("Entering FAULT STATE")
            && lab.has_address(2, &vip)),
        "{}",
        a.log()
    );
    drop((a, b));
    lab.down().expect("teardown");
}

#[test]
fn vrrp_script_failure_moves_the_vip() {
    if !require_root_or_skip("vrrp_script_failure_moves_the_vip") {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let lab = Lab::new(LabSpec::new(2)).expect("lab");
    let vip = format!("{}/24", lab.vip4());
    let flag = lab.dir().join("healthy");
    std::fs::write(&flag, "ok").expect("flag");
    let script = format!(
        "vrrp_script chk {{\n    script \"/usr/bin/test -f {}\"\n    interval 0.2\n    weight -60\n    fall 1\n    rise 1\n}}\n",
        flag.display()
    );
    let conf = format!(
        "{script}{}",
        config(&lab, 150, "    track_script {\n        chk\n    }\n")
    );
    let a = lab.start_daemon(1, ours(), &conf).expect("a");
    let b = lab
        .start_daemon(2, ours(), &config(&lab, 100, ""))
        .expect("b");
    assert!(wait_until(LONG, || lab.has_address(1, &vip)), "{}", a.log());
    std::fs::remove_file(&flag).expect("rm");
    assert!(
        wait_until(LONG, || lab.has_address(2, &vip)
            && !lab.has_address(1, &vip)),
        "the failing script did not move the VIP:\n{}",
        a.log()
    );
    std::fs::write(&flag, "ok").expect("flag");
    assert!(wait_until(LONG, || lab.has_address(1, &vip)), "{}", a.log());
    drop((a, b));
    lab.down().expect("teardown");
}

#[test]
fn notify_scripts_get_keepalived_arguments() {
    if !require_root_or_skip("notify_scripts_get_keepalived_arguments") {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let lab = Lab::new(LabSpec::new(1)).expect("lab");
    let vip = format!("{}/24", lab.vip4());
    let out = lab.dir().join("notify.log");
    let script = lab
        .write_script(
            "notify.sh",
            &format!("#!/bin/sh\necho \"$@\" >> {}\n", out.display()),
        )
        .expect("script");
    let extra = format!(
        "    notify_master \"{s} master\"\n    notify_backup \"{s} backup\"\n    notify {s}\n",
        s = script.display()
    );
    let mut a = lab
        .start_daemon(1, ours(), &config(&lab, 150, &extra))
        .expect("a");
    assert!(wait_until(LONG, || lab.has_address(1, &vip)), "{}", a.log());
    let read = || std::fs::read_to_string(&out).unwrap_or_default();
    assert!(
        wait_until(LONG, || read().contains("INSTANCE VI_1 MASTER 150")
            && read().contains("master")),
        "notify lines:\n{}",
        read()
    );
    assert!(
        read().contains("INSTANCE VI_1 BACKUP 150") && read().contains("backup"),
        "{}",
        read()
    );
    a.signal(Signal::SIGTERM).expect("term");
    assert!(a.wait_exit(Duration::from_secs(3)).is_some());
    lab.down().expect("teardown");
}

#[test]
fn an_interface_deleted_and_recreated_is_used_again() {
    if !require_root_or_skip("an_interface_deleted_and_recreated_is_used_again") {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let lab = Lab::new(LabSpec::new(2)).expect("lab");
    let vip = format!("{}/24", lab.vip4());
    let a = lab
        .start_daemon(1, ours(), &config(&lab, 150, ""))
        .expect("a");
    let b = lab
        .start_daemon(2, ours(), &config(&lab, 100, ""))
        .expect("b");
    assert!(wait_until(LONG, || lab.has_address(1, &vip)), "{}", a.log());
    // Router 1's eth0 disappears (FAULT; router 2 takes over) and comes back with a new
    // ifindex: router 1 must use it again, advertise, and preempt.
    lab.recreate_link(1).expect("recreate");
    assert!(
        wait_until(LONG, || a.log().contains("re-created")
            && lab.has_address(1, &vip)
            && !lab.has_address(2, &vip)),
        "router 1 did not come back on the new interface:\n{}\n{}",
        a.log(),
        b.log()
    );
    drop((a, b));
    lab.down().expect("teardown");
}

#[test]
fn dont_release_vrrp_keeps_the_vips_at_stop() {
    if !require_root_or_skip("dont_release_vrrp_keeps_the_vips_at_stop") {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let lab = Lab::new(LabSpec::new(1)).expect("lab");
    let vip = format!("{}/24", lab.vip4());
    let mut a = lab
        .start_daemon_with(1, ours(), &config(&lab, 150, ""), &["-V"])
        .expect("a");
    assert!(wait_until(LONG, || lab.has_address(1, &vip)), "{}", a.log());
    a.signal(Signal::SIGTERM).expect("term");
    assert!(a.wait_exit(Duration::from_secs(3)).is_some());
    assert!(lab.has_address(1, &vip), "-V removed the VIP:\n{}", a.log());
    lab.down().expect("teardown");
}

#[test]
fn a_tentative_ipv6_link_local_is_waited_for() {
    if !require_root_or_skip("a_tentative_ipv6_link_local_is_waited_for") {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let lab = Lab::new(LabSpec::new(1).ipv6(true)).expect("lab");
    let vip6 = lab.vip6();
    // A fresh eth0 with duplicate address detection on: its link-local is tentative for 1-2 s.
    let ns = lab.ns_name(1).expect("ns");
    for k in [
        "net.ipv6.conf.default.accept_dad=1",
        "net.ipv6.conf.all.accept_dad=1",
    ] {
        let st = std::process::Command::new("ip")
            .args(["netns", "exec", &ns, "sysctl", "-qw", k])
            .status()
            .expect("sysctl");
        assert!(st.success());
    }
    lab.recreate_link(1).expect("recreate");
    let conf = config(&lab, 150, "").replace(&format!("{}/24", lab.vip4()), &format!("{vip6}/64"));
    let a = lab.start_daemon(1, ours(), &conf).expect("ours");
    assert!(
        wait_until(LONG, || lab.has_address(1, &vip6)),
        "no VIP after DAD:\n{}",
        a.log()
    );
    assert!(
        a.log().contains("became usable"),
        "the wait was not exercised:\n{}",
        a.log()
    );
    // While running: an admin down/up removes the link-local and adds it back tentative. The
    // instance waits in FAULT until DAD is over, then takes the VIP again.
    for state in ["down", "up"] {
        let st = std::process::Command::new("ip")
            .args(["-n", &ns, "link", "set", "eth0", state])
            .status()
            .expect("ip");
        assert!(st.success());
    }
    assert!(
        wait_until(LONG, || a.log().contains("no usable IPv6 link-local yet")),
        "tentative link-local not noticed:\n{}",
        a.log()
    );
    assert!(
        wait_until(LONG, || lab.has_address(1, &vip6)
            && a.log().matches("Entering MASTER STATE").count() >= 2),
        "no return after DAD:\n{}",
        a.log()
    );
    drop(a);
    lab.down().expect("teardown");
}

#[test]
fn dynamic_interfaces_wait_for_a_missing_interface() {
    if !require_root_or_skip("dynamic_interfaces_wait_for_a_missing_interface") {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let lab = Lab::new(LabSpec::new(1)).expect("lab");
    let vip = format!("{}/24", lab.vip4());
    let ns = lab.ns_name(1).expect("ns");
    let ip = |args: &[&str]| {
        let mut all = vec!["-n", ns.as_str()];
        all.extend_from_slice(args);
        let st = std::process::Command::new("ip")
            .args(&all)
            .status()
            .expect("ip");
        assert!(st.success(), "ip {args:?}");
    };
    // eth0 is renamed away: the configured interface does not exist.
    ip(&["link", "set", "eth0", "down"]);
    ip(&["link", "set", "eth0", "name", "lan0"]);
    // Without dynamic_interfaces: as keepalived, the daemon does not run.
    let mut plain = lab
        .start_daemon(1, ours(), &config(&lab, 150, ""))
        .expect("plain");
    let status = plain.wait_exit(LONG).expect("exits");
    assert!(!status.success(), "{}", plain.log());
    assert!(plain.log().contains("does not exist"), "{}", plain.log());
    // With it: FAULT until the interface appears, then master.
    let conf =
        config(&lab, 150, "").replace("global_defs {\n", "global_defs {\n    dynamic_interfaces\n");
    let a = lab.start_daemon(1, ours(), &conf).expect("dynamic");
    assert!(
        wait_until(LONG, || a.log().contains("Entering FAULT STATE")),
        "{}",
        a.log()
    );
    std::thread::sleep(Duration::from_millis(500));
    assert!(!lab.has_address(1, &vip));
    ip(&["link", "set", "lan0", "name", "eth0"]);
    ip(&["link", "set", "eth0", "up"]);
    assert!(
        wait_until(LONG, || lab.has_address(1, &vip)),
        "no master after the interface appeared:\n{}",
        a.log()
    );
    assert!(lab.ping(&lab.vip4(), LONG));
    drop(a);
    lab.down().expect("teardown");
}

#[test]
fn equal_priorities_elect_the_higher_address_and_preempt_delay_waits() {
    if !require_root_or_skip("equal_priorities_elect_the_higher_address_and_preempt_delay_waits") {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let lab = Lab::new(LabSpec::new(2)).expect("lab");
    let vip = format!("{}/24", lab.vip4());
    // Same priority: a backup does not preempt an equal master (RFC 5798 6.4.2), so make both
    // masters with a partition; when it heals, the higher primary address keeps the VIP.
    let a = lab
        .start_daemon(1, ours(), &config(&lab, 100, ""))
        .expect("a");
    let mut b = lab
        .start_daemon(2, ours(), &config(&lab, 100, ""))
        .expect("b");
    lab.detach(2).expect("detach");
    assert!(
        wait_until(LONG, || lab.has_address(1, &vip)
            && lab.has_address(2, &vip)),
        "not two masters while partitioned:\na:\n{}\nb:\n{}",
        a.log(),
        b.log()
    );
    let ip = |i: usize| {
        lab.router_ip4(i)
            .expect("ip")
            .parse::<std::net::Ipv4Addr>()
            .expect("v4")
    };
    let (winner, loser) = if ip(2) > ip(1) { (2, 1) } else { (1, 2) };
    lab.attach(2).expect("attach");
    assert!(
        wait_until(LONG, || lab.has_address(winner, &vip)
            && !lab.has_address(loser, &vip)),
        "the higher address did not win the tie:\na:\n{}\nb:\n{}",
        a.log(),
        b.log()
    );
    // Router 1 is the master for the next step in any case.
    if winner != 1 {
        b.signal(Signal::SIGTERM).expect("term");
        assert!(b.wait_exit(Duration::from_secs(3)).is_some());
        assert!(wait_until(LONG, || lab.has_address(1, &vip)));
        b = lab
            .start_daemon(2, ours(), &config(&lab, 90, ""))
            .expect("b low");
    }
    // preempt_delay 2: router 2 comes back with a higher priority, waits about 2 s as backup,
    // then preempts.
    b.signal(Signal::SIGTERM).expect("term");
    assert!(b.wait_exit(Duration::from_secs(3)).is_some());
    assert!(wait_until(LONG, || lab.has_address(1, &vip)));
    let b = lab
        .start_daemon(2, ours(), &config(&lab, 150, "    preempt_delay 2\n"))
        .expect("b again");
    let started = std::time::Instant::now();
    assert!(
        wait_until(Duration::from_secs(20), || lab.has_address(2, &vip)),
        "no preemption after the delay:\n{}",
        b.log()
    );
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(1_900),
        "preempted after {took:?}, before preempt_delay:\n{}",
        b.log()
    );
    assert!(b.log().contains("Entering BACKUP STATE"), "{}", b.log());
    drop((a, b));
    lab.down().expect("teardown");
}

#[test]
fn track_file_and_track_process_move_the_vip() {
    if !require_root_or_skip("track_file_and_track_process_move_the_vip") {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let lab = Lab::new(LabSpec::new(2)).expect("lab");
    let vip = format!("{}/24", lab.vip4());
    let file = lab.dir().join("prio");
    std::fs::write(&file, "0\n").expect("file");
    // A process with a name of its own (the process namespace is the host's).
    let name = format!("kap{}", std::process::id() % 100_000);
    let program = lab.dir().join(&name);
    std::fs::copy("/bin/sleep", &program).expect("copy sleep");
    let program = program.to_string_lossy().into_owned();
    let mut proc = lab.spawn(1, "tracked", &[&program, "1000"]).expect("proc");
    let objects = format!(
        "track_file tf {{\n    file \"{}\"\n    weight -60\n}}\n\
         vrrp_track_process tp {{\n    process {name}\n    quorum 1\n    weight 0\n}}\n",
        file.display()
    );
    let conf = format!(
        "{objects}{}",
        config(
            &lab,
            150,
            "    track_file {\n        tf\n    }\n    track_process {\n        tp\n    }\n"
        )
    );
    let a = lab.start_daemon(1, ours(), &conf).expect("a");
    let b = lab
        .start_daemon(2, ours(), &config(&lab, 100, ""))
        .expect("b");
    assert!(wait_until(LONG, || lab.has_address(1, &vip)), "{}", a.log());
    // 1 x -60: priority 90 < 100, the backup takes over; 0 again: back.
    let tmp = lab.dir().join("prio.tmp");
    std::fs::write(&tmp, "1\n").expect("write");
    std::fs::rename(&tmp, &file).expect("rename");
    assert!(
        wait_until(LONG, || lab.has_address(2, &vip)
            && !lab.has_address(1, &vip)),
        "track_file did not lower the priority:\n{}",
        a.log()
    );
    std::fs::write(&file, "0\n").expect("write");
    assert!(
        wait_until(LONG, || lab.has_address(1, &vip)),
        "track_file did not restore the priority:\n{}",
        a.log()
    );
    // The tracked process dies: weight 0 means FAULT; it comes back: master again.
    proc.signal(Signal::SIGKILL).expect("kill");
    let _ = proc.wait_exit(Duration::from_secs(3));
    assert!(
        wait_until(LONG, || a.log().contains("Entering FAULT STATE")
            && lab.has_address(2, &vip)),
        "track_process did not fault the instance:\n{}",
        a.log()
    );
    let proc = lab.spawn(1, "tracked", &[&program, "1000"]).expect("proc");
    assert!(
        wait_until(LONG, || lab.has_address(1, &vip)),
        "track_process did not recover:\n{}",
        a.log()
    );
    drop((a, b, proc));
    lab.down().expect("teardown");
}

#[test]
fn notify_fifo_gets_ordered_state_lines() {
    if !require_root_or_skip("notify_fifo_gets_ordered_state_lines") {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let lab = Lab::new(LabSpec::new(1)).expect("lab");
    let vip = format!("{}/24", lab.vip4());
    let fifo = lab.dir().join("notify.fifo");
    let out = lab.dir().join("fifo.log");
    // The FIFO script gets the FIFO's path as its last argument.
    let reader = lab
        .write_script(
            "reader.sh",
            &format!("#!/bin/sh\nexec cat \"$1\" >> {}\n", out.display()),
        )
        .expect("script");
    let conf = config(&lab, 150, "").replace(
        "global_defs {\n",
        &format!(
            "global_defs {{\n    vrrp_notify_fifo {}\n    vrrp_notify_fifo_script {}\n",
            fifo.display(),
            reader.display()
        ),
    );
    let mut a = lab.start_daemon(1, ours(), &conf).expect("a");
    assert!(wait_until(LONG, || lab.has_address(1, &vip)), "{}", a.log());
    let read = || std::fs::read_to_string(&out).unwrap_or_default();
    assert!(
        wait_until(LONG, || read().contains("INSTANCE \"VI_1\" MASTER 150")),
        "FIFO lines:\n{}\n{}",
        read(),
        a.log()
    );
    let text = read();
    let backup = text.find("INSTANCE \"VI_1\" BACKUP 150");
    let master = text.find("INSTANCE \"VI_1\" MASTER 150");
    assert!(backup.is_some() && backup < master, "order:\n{text}");
    a.signal(Signal::SIGTERM).expect("term");
    assert!(a.wait_exit(Duration::from_secs(3)).is_some());
    lab.down().expect("teardown");
}

#[test]
fn a_vip_the_kernel_refuses_is_a_fault_and_the_daemon_keeps_running() {
    if !require_root_or_skip("a_vip_the_kernel_refuses_is_a_fault_and_the_daemon_keeps_running") {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let lab = Lab::new(LabSpec::new(1)).expect("lab");
    let ns = lab.ns_name(1).expect("ns");
    // IPv6 off on eth0: the kernel refuses the excluded IPv6 address.
    let st = std::process::Command::new("ip")
        .args([
            "netns",
            "exec",
            &ns,
            "sysctl",
            "-qw",
            "net.ipv6.conf.eth0.disable_ipv6=1",
        ])
        .status()
        .expect("sysctl");
    assert!(st.success());
    let extra = "    virtual_ipaddress_excluded {\n        fd00:200::10/64 dev eth0\n    }\n";
    let mut a = lab
        .start_daemon(1, ours(), &config(&lab, 150, extra))
        .expect("a");
    assert!(
        wait_until(LONG, || a.log().contains("adding fd00:200::10 failed")
            && a.log().contains("Entering FAULT STATE")),
        "{}",
        a.log()
    );
    std::thread::sleep(Duration::from_millis(500));
    assert!(a.is_running(), "the daemon died:\n{}", a.log());
    a.signal(Signal::SIGTERM).expect("term");
    assert!(a.wait_exit(Duration::from_secs(3)).is_some());
    lab.down().expect("teardown");
}

#[test]
fn static_addresses_stay_and_rt_priority_is_applied() {
    if !require_root_or_skip("static_addresses_stay_and_rt_priority_is_applied") {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let lab = Lab::new(LabSpec::new(1)).expect("lab");
    let vip = format!("{}/24", lab.vip4());
    let stat = "10.201.77.1/24";
    let conf = format!(
        "static_ipaddress {{\n    {stat} dev eth0\n}}\n{}",
        config(&lab, 150, "").replace(
            "global_defs {\n",
            "global_defs {\n    vrrp_rt_priority 10\n"
        )
    );
    let mut a = lab.start_daemon(1, ours(), &conf).expect("a");
    assert!(wait_until(LONG, || lab.has_address(1, &vip)), "{}", a.log());
    assert!(lab.has_address(1, stat), "{}", a.log());
    assert!(
        a.log().contains("real-time priority 10"),
        "no real-time priority:\n{}",
        a.log()
    );
    // Deleted from outside: put back.
    let ns = lab.ns_name(1).expect("ns");
    let st = std::process::Command::new("ip")
        .args(["-n", &ns, "addr", "del", stat, "dev", "eth0"])
        .status()
        .expect("ip");
    assert!(st.success());
    assert!(
        wait_until(LONG, || lab.has_address(1, stat)),
        "static address not restored:\n{}",
        a.log()
    );
    a.signal(Signal::SIGTERM).expect("term");
    assert!(a.wait_exit(Duration::from_secs(3)).is_some());
    assert!(!lab.has_address(1, stat), "static address left at stop");
    lab.down().expect("teardown");
}

#[test]
fn status_dumps_on_keepalived_signals() {
    if !require_root_or_skip("status_dumps_on_keepalived_signals") {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let lab = Lab::new(LabSpec::new(1)).expect("lab");
    let vip = format!("{}/24", lab.vip4());
    let mut a = lab
        .start_daemon(1, ours(), &config(&lab, 150, ""))
        .expect("a");
    assert!(wait_until(LONG, || lab.has_address(1, &vip)), "{}", a.log());
    let read = |f: &str| std::fs::read_to_string(lab.dir().join(f)).unwrap_or_default();
    a.signal(Signal::SIGUSR1).expect("usr1");
    assert!(
        wait_until(LONG, || read("keepalived.data").contains("State = MASTER")),
        "data dump:\n{}\n{}",
        read("keepalived.data"),
        a.log()
    );
    assert!(read("keepalived.data").contains(&lab.vip4()));
    a.signal(Signal::SIGUSR2).expect("usr2");
    assert!(
        wait_until(LONG, || read("keepalived.stats")
            .contains("Became master: 1")),
        "stats dump:\n{}",
        read("keepalived.stats")
    );
    // keepalived's JSON signal number (`--signum=JSON`).
    let st = std::process::Command::new("kill")
        .args(["-36", &a.pid().to_string()])
        .status();
    assert!(st.is_ok_and(|s| s.success()));
    assert!(
        wait_until(LONG, || read("keepalived.json")
            .contains("\"state\": \"MASTER\"")),
        "json dump:\n{}",
        read("keepalived.json")
    );
    a.signal(Signal::SIGTERM).expect("term");
    assert!(a.wait_exit(Duration::from_secs(3)).is_some());
    lab.down().expect("teardown");
}

#[test]
fn a_sync_group_fails_over_together_and_notifies_as_a_group() {
    if !require_root_or_skip("a_sync_group_fails_over_together_and_notifies_as_a_group") {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let lab = Lab::new(LabSpec::new(2)).expect("lab");
    let net = lab
        .vip4()
        .rsplit_once('.')
        .map(|(n, _)| n.to_string())
        .expect("net");
    let (vip1, vip2) = (format!("{net}.100/24"), format!("{net}.101/24"));
    // An interface router 1's second instance tracks (a veth pair: no dummy module here).
    let ns1 = lab.ns_name(1).expect("ns");
    for args in [
        vec![
            "-n", &ns1, "link", "add", "trk0", "type", "veth", "peer", "name", "trk1",
        ],
        vec!["-n", &ns1, "link", "set", "trk1", "up"],
        vec!["-n", &ns1, "link", "set", "trk0", "up"],
    ] {
        let st = std::process::Command::new("ip")
            .args(&args)
            .status()
            .expect("ip");
        assert!(st.success());
    }
    let out = lab.dir().join("group.log");
    let script = lab
        .write_script(
            "group.sh",
            &format!("#!/bin/sh\necho \"$@\" >> {}\n", out.display()),
        )
        .expect("script");
    let conf = |priority: u8, track: bool| {
        let tracked = if track {
            "    track_interface {\n        trk0\n    }\n"
        } else {
            ""
        };
        format!(
            "vrrp_sync_group G {{\n    group {{\n        VI_1\n        VI_2\n    }}\n    notify {}\n}}\n\
             vrrp_instance VI_1 {{\n    state BACKUP\n    interface eth0\n    virtual_router_id 51\n    \
             priority {priority}\n    version 3\n    advert_int 0.1\n    virtual_ipaddress {{\n        {vip1} dev eth0\n    }}\n}}\n\
             vrrp_instance VI_2 {{\n    state BACKUP\n    interface eth0\n    virtual_router_id 52\n    \
             priority {priority}\n    version 3\n    advert_int 0.1\n{tracked}    virtual_ipaddress {{\n        {vip2} dev eth0\n    }}\n}}\n",
            script.display()
        )
    };
    let a = lab.start_daemon(1, ours(), &conf(150, true)).expect("a");
    let b = lab.start_daemon(2, ours(), &conf(100, false)).expect("b");
    let both = |r: usize| lab.has_address(r, &vip1) && lab.has_address(r, &vip2);
    assert!(wait_until(LONG, || both(1)), "{}", a.log());
    let read = || std::fs::read_to_string(&out).unwrap_or_default();
    assert!(
        wait_until(LONG, || read().contains("GROUP G MASTER 0")),
        "group notify:\n{}",
        read()
    );
    // Only VI_2's tracked interface goes down; VI_1 follows its group.
    let st = std::process::Command::new("ip")
        .args(["-n", &ns1, "link", "set", "trk0", "down"])
        .status()
        .expect("ip");
    assert!(st.success());
    assert!(
        wait_until(LONG, || both(2)
            && !lab.has_address(1, &vip1)
            && !lab.has_address(1, &vip2)),
        "the group did not move together:\na:\n{}\nb:\n{}",
        a.log(),
        b.log()
    );
    let st = std::process::Command::new("ip")
        .args(["-n", &ns1, "link", "set", "trk0", "up"])
        .status()
        .expect("ip");
    assert!(st.success());
    assert!(
        wait_until(LONG, || both(1) && !lab.has_address(2, &vip1)),
        "the group did not come back:\n{}",
        a.log()
    );
    drop((a, b));
    lab.down().expect("teardown");
}

#[test]
fn a_hung_script_is_killed_at_its_timeout_and_counts_as_a_failure() {
    if !require_root_or_skip("a_hung_script_is_killed_at_its_timeout_and_counts_as_a_failure") {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let lab = Lab::new(LabSpec::new(2)).expect("lab");
    let vip = format!("{}/24", lab.vip4());
    let script = "vrrp_script hung {\n    script \"/bin/sleep 100\"\n    interval 1\n    timeout 0.5\n    weight -60\n    fall 1\n    rise 1\n}\n";
    let conf = format!(
        "{script}{}",
        config(&lab, 150, "    track_script {\n        hung\n    }\n")
    );
    let a = lab.start_daemon(1, ours(), &conf).expect("a");
    let b = lab
        .start_daemon(2, ours(), &config(&lab, 100, ""))
        .expect("b");
    // 150 - 60 < 100: the backup holds the VIP once the script timed out.
    assert!(
        wait_until(LONG, || lab.has_address(2, &vip)
            && a.log().contains("timed out")),
        "a:\n{}\nb:\n{}",
        a.log(),
        b.log()
    );
    // Timed-out scripts are gone, not piling up.
    std::thread::sleep(Duration::from_secs(3));
    let ns = lab.ns_name(1).expect("ns");
    let pids = std::process::Command::new("ip")
        .args(["netns", "pids", &ns])
        .output()
        .expect("pids");
    let sleeping = String::from_utf8_lossy(&pids.stdout)
        .split_whitespace()
        .filter(|p| {
            std::fs::read_to_string(format!("/proc/{p}/comm")).is_ok_and(|c| c.trim() == "sleep")
        })
        .count();
    assert!(sleeping <= 1, "{sleeping} hung scripts still running");
    drop((a, b));
    lab.down().expect("teardown");
}

fn nft_ruleset(lab: &Lab, router: usize) -> String {
    let ns = lab.ns_name(router).expect("ns");
    let out = std::process::Command::new("ip")
        .args(["netns", "exec", &ns, "nft", "list", "ruleset"])
        .output()
        .expect("nft");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn strict_mode_drops_vip_traffic_on_a_non_owner_master_as_keepalived_does() {
    if !require_root_or_skip(
        "strict_mode_drops_vip_traffic_on_a_non_owner_master_as_keepalived_does",
    ) {
        return;
    }
    let has_nft = std::process::Command::new("nft")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_nft {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("nft is not installed (CI=true: a skip is a failure)");
        }
        eprintln!("*** SKIPPED: nft (nftables) is not installed ***");
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let lab = Lab::new(LabSpec::new(2)).expect("lab");
    let vip = lab.vip4();
    let vip_cidr = format!("{vip}/24");
    let strict = |lab: &Lab, p: u8| {
        config(lab, p, "").replace("global_defs {\n", "global_defs {\n    vrrp_strict\n")
    };
    let mut a = lab.start_daemon(1, ours(), &strict(&lab, 150)).expect("a");
    let b = lab.start_daemon(2, ours(), &strict(&lab, 100)).expect("b");
    assert!(
        wait_until(LONG, || lab.has_address(1, &vip_cidr)),
        "{}",
        a.log()
    );
    // keepalived 2.2.7 (measured): the master (not the owner, no `accept`) has the VIP in
    // `table ip keepalived` set vips, dropped on input and output; the backup has no table.
    assert!(
        wait_until(LONG, || nft_ruleset(&lab, 1).contains(&vip)),
        "no drop rule on the master:\n{}",
        nft_ruleset(&lab, 1)
    );
    let rules = nft_ruleset(&lab, 1);
    assert!(rules.contains("ip daddr @vips drop") && rules.contains("ip saddr @vips drop"));
    assert!(
        !nft_ruleset(&lab, 2).contains(&vip),
        "{}",
        nft_ruleset(&lab, 2)
    );
    // The client's pings to the VIP are dropped (RFC 5798 Accept_Mode off)...
    assert!(!lab.ping(&vip, Duration::from_secs(1)));
    // ...and the VIP still fails over: router 2 takes it (and the rule) when router 1 stops;
    // router 1's table is gone.
    a.signal(Signal::SIGTERM).expect("term");
    assert!(a.wait_exit(Duration::from_secs(3)).is_some());
    assert!(
        !nft_ruleset(&lab, 1).contains("keepalived"),
        "table left at exit:\n{}",
        nft_ruleset(&lab, 1)
    );
    assert!(
        wait_until(LONG, || lab.has_address(2, &vip_cidr)
            && nft_ruleset(&lab, 2).contains(&vip)),
        "{}",
        b.log()
    );
    drop(b);
    lab.down().expect("teardown");
}

#[test]
fn use_vmac_keeps_the_virtual_mac_across_a_failover() {
    if !require_root_or_skip("use_vmac_keeps_the_virtual_mac_across_a_failover") {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let lab = Lab::new(LabSpec::new(2)).expect("lab");
    let vip = lab.vip4();
    let vip_cidr = format!("{vip}/24");
    let conf = |p: u8| config(&lab, p, "    use_vmac\n");
    let mut a = lab.start_daemon(1, ours(), &conf(150)).expect("a");
    let b = lab.start_daemon(2, ours(), &conf(100)).expect("b");
    assert!(
        wait_until(LONG, || lab.has_address(1, &vip_cidr)),
        "{}",
        a.log()
    );
    let virtual_mac = "00:00:5e:00:01:33"; // VRID 51
    assert!(
        wait_until(LONG, || lab.owner_mac(&vip).as_deref() == Some(virtual_mac)),
        "the client sees {:?} for the VIP:\n{}",
        lab.owner_mac(&vip),
        a.log()
    );
    assert!(lab.ping(&vip, LONG));
    // Adverts leave from the macvlan (virtual MAC), and the backup hears them: one master.
    let cap = lab.capture("ip proto 112").expect("capture");
    std::thread::sleep(Duration::from_millis(500));
    let frames = ka_lab::pcap::read(&cap.stop().expect("stop")).expect("pcap");
    assert!(
        frames
            .iter()
            .any(|f| ka_lab::pcap::mac_string(&f.src_mac) == virtual_mac),
        "no advert from the virtual MAC"
    );
    assert!(!lab.has_address(2, &vip_cidr), "{}", b.log());
    // The master leaves: the backup answers with the same MAC.
    a.signal(Signal::SIGTERM).expect("term");
    assert!(a.wait_exit(Duration::from_secs(3)).is_some());
    assert!(
        wait_until(LONG, || lab.has_address(2, &vip_cidr)),
        "{}",
        b.log()
    );
    assert_eq!(lab.owner_mac(&vip).as_deref(), Some(virtual_mac));
    assert!(lab.ping(&vip, LONG));
    // Router 1's macvlan is gone with its daemon.
    let ns = lab.ns_name(1).expect("ns");
    let links = std::process::Command::new("ip")
        .args(["-n", &ns, "link", "show"])
        .output()
        .expect("ip");
    assert!(
        !String::from_utf8_lossy(&links.stdout).contains("vrrp.51"),
        "macvlan left behind"
    );
    drop(b);
    lab.down().expect("teardown");
}

#[test]
fn use_vmac_for_ipv6_answers_with_the_v6_virtual_mac() {
    if !require_root_or_skip("use_vmac_for_ipv6_answers_with_the_v6_virtual_mac") {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let lab = Lab::new(LabSpec::new(2).ipv6(true)).expect("lab");
    let vip6 = lab.vip6();
    let conf = |p: u8| {
        config(&lab, p, "    use_vmac\n")
            .replace(&format!("{}/24", lab.vip4()), &format!("{vip6}/64"))
    };
    let mut a = lab.start_daemon(1, ours(), &conf(150)).expect("a");
    let b = lab.start_daemon(2, ours(), &conf(100)).expect("b");
    assert!(
        wait_until(LONG, || lab.has_address(1, &vip6)),
        "{}",
        a.log()
    );
    let virtual_mac = "00:00:5e:00:02:33"; // IPv6, VRID 51
    assert!(
        wait_until(LONG, || lab.owner_mac(&vip6).as_deref()
            == Some(virtual_mac)),
        "the client sees {:?} for the VIP:\n{}",
        lab.owner_mac(&vip6),
        a.log()
    );
    assert!(lab.ping(&vip6, LONG));
    assert!(!lab.has_address(2, &vip6), "two masters:\n{}", b.log());
    a.signal(Signal::SIGTERM).expect("term");
    assert!(a.wait_exit(Duration::from_secs(3)).is_some());
    assert!(
        wait_until(LONG, || lab.has_address(2, &vip6)),
        "{}",
        b.log()
    );
    assert!(
        wait_until(LONG, || lab.owner_mac(&vip6).as_deref()
            == Some(virtual_mac)),
        "after failover the client sees {:?}",
        lab.owner_mac(&vip6)
    );
    assert!(lab.ping(&vip6, LONG));
    drop(b);
    lab.down().expect("teardown");
}

/// A one-connection-at-a-time SMTP sink that appends every session to a file.
const SMTP_SINK: &str = r#"
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("", int(sys.argv[1]))); s.listen(8)
print("listening", flush=True)
while True:
    c, _ = s.accept()
    f = c.makefile("rwb")
    out = open(sys.argv[2], "ab")
    f.write(b"220 sink\r\n"); f.flush()
    data = False
    for line in f:
        out.write(line); out.flush()
        if data:
            if line == b".\r\n":
                data = False; f.write(b"250 ok\r\n"); f.flush()
            continue
        if line.startswith(b"DATA"):
            data = True; f.write(b"354 go\r\n")
        elif line.startswith(b"QUIT"):
            f.write(b"221 bye\r\n"); f.flush(); break
        else:
            f.write(b"250 ok\r\n")
        f.flush()
    c.close()
"#;

#[test]
fn smtp_alerts_reach_a_mail_server_only_with_smtp_alert() {
    if !require_root_or_skip("smtp_alerts_reach_a_mail_server_only_with_smtp_alert") {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let lab = Lab::new(LabSpec::new(2)).expect("lab");
    let vip = format!("{}/24", lab.vip4());
    let mails = lab.dir().join("mails.txt");
    let mails_s = mails.to_string_lossy().into_owned();
    let mut sink = lab
        .spawn(
            ka_lab::Node::Client,
            "smtp",
            &["python3", "-c", SMTP_SINK, "2525", &mails_s],
        )
        .expect("sink");
    assert!(wait_until(LONG, || sink.log().contains("listening")));
    let mail_conf = |lab: &Lab, p: u8, alert: bool| {
        let g = format!(
            "global_defs {{\n    notification_email {{\n        ops@example.org\n    }}\n    \
             notification_email_from lb@example.org\n    smtp_server {} 2525\n    smtp_connect_timeout 5\n{}",
            lab.client_ip4(),
            if alert { "    smtp_alert\n" } else { "" }
        );
        config(lab, p, "").replace("global_defs {\n", &g)
    };
    // Router 2: mail configured but no smtp_alert: it sends nothing.
    let b = lab
        .start_daemon(2, ours(), &mail_conf(&lab, 100, false))
        .expect("b");
    let a = lab
        .start_daemon(1, ours(), &mail_conf(&lab, 150, true))
        .expect("a");
    assert!(wait_until(LONG, || lab.has_address(1, &vip)), "{}", a.log());
    let read = || std::fs::read_to_string(&mails).unwrap_or_default();
    assert!(
        wait_until(LONG, || read()
            .contains("VRRP Instance VI_1 - Entering MASTER state")),
        "mails:\n{}\nlog:\n{}",
        read(),
        a.log()
    );
    assert!(read().contains("RCPT TO:<ops@example.org>"));
    assert!(read().contains("=> VRRP Instance is now owning VRRP VIPs <="));
    assert!(read().contains("[r150]"), "{}", read());
    assert!(
        !read().contains("[r100]"),
        "router 2 mailed without smtp_alert"
    );
    let _ = sink.stop(Duration::from_secs(1));
    drop((a, b));
    lab.down().expect("teardown");
}

#[test]
fn script_security_refuses_a_world_writable_script() {
    if !require_root_or_skip("script_security_refuses_a_world_writable_script") {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let lab = Lab::new(LabSpec::new(1)).expect("lab");
    let vip = format!("{}/24", lab.vip4());
    // A failing script anyone may rewrite: with enable_script_security it must not run (the
    // instance then does not track it and becomes master); without, it runs and fails.
    let script = lab.dir().join("unsafe.sh");
    std::fs::write(&script, "#!/bin/sh\nexit 1\n").expect("script");
    let chmod = std::process::Command::new("chmod")
        .arg("777")
        .arg(&script)
        .status()
        .expect("chmod");
    assert!(chmod.success());
    let conf = |secure: bool| {
        let objects = format!(
            "vrrp_script chk {{\n    script \"{}\"\n    interval 0.2\n    weight 0\n    fall 1\n    rise 1\n}}\n",
            script.display()
        );
        let base = config(&lab, 150, "    track_script {\n        chk\n    }\n");
        let base = if secure {
            base.replace(
                "global_defs {\n",
                "global_defs {\n    enable_script_security\n    script_user root\n",
            )
        } else {
            base
        };
        format!("{objects}{base}")
    };
    let mut a = lab.start_daemon(1, ours(), &conf(true)).expect("secure");
    assert!(
        wait_until(LONG, || lab.has_address(1, &vip)),
        "the refused script was tracked:\n{}",
        a.log()
    );
    assert!(a.log().contains("unsafe permissions"), "{}", a.log());
    a.signal(Signal::SIGTERM).expect("term");
    assert!(a.wait_exit(Duration::from_secs(3)).is_some());
    let b = lab.start_daemon(1, ours(), &conf(false)).expect("insecure");
    assert!(
        wait_until(LONG, || b.log().contains("Entering FAULT STATE")),
        "{}",
        b.log()
    );
    assert!(b.log().contains("SECURITY VIOLATION"), "{}", b.log());
    drop(b);
    lab.down().expect("teardown");
}

/// A seed configuration from `tests/fixtures/configs/`, adapted to a lab.
fn seed(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/configs")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn nginx_dual_master_seed_fails_over_between_keepalived_rs_and_keepalived() {
    if !require_root_or_skip(
        "nginx_dual_master_seed_fails_over_between_keepalived_rs_and_keepalived",
    ) {
        return;
    }
    let Some(keepalived) = keepalived_or_skip() else {
        return;
    };
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let lab = Lab::new(LabSpec::new(2)).expect("lab");
    let net = lab
        .vip4()
        .rsplit_once('.')
        .map(|(n, _)| n.to_string())
        .expect("net");
    let (vip1, vip2) = (format!("{net}.100/24"), format!("{net}.101/24"));
    // "nginx" is a copy of sleep with a name of its own per node (the process namespace is
    // the host's, and the seed checks it with `killall -0`).
    let tag = std::process::id() % 10_000;
    let nginx = |node: usize| {
        let name = format!("kang{node}x{tag}");
        let program = lab.dir().join(&name);
        std::fs::copy("/bin/sleep", &program).expect("copy");
        (name, program.to_string_lossy().into_owned())
    };
    let (n1, p1) = nginx(1);
    let (n2, p2) = nginx(2);
    let original = seed("seed-nginx-dual-master.conf");
    let adapt = |proc_name: &str, swap: bool| {
        let mut c = original
            .replace("172.16.100.100/16", &vip1)
            .replace("172.16.100.200/16", &vip2)
            .replace("killall -0 nginx ", &format!("killall -0 {proc_name}"));
        if swap {
            // The other node of the pair: VI_1 backup, VI_2 master.
            c = c
                .replace("state MASTER", "state @M@")
                .replace("state BACKUP", "state MASTER")
                .replace("state @M@", "state BACKUP")
                .replace("priority 101", "priority @P@")
                .replace("priority 100", "priority 101")
                .replace("priority @P@", "priority 100");
        }
        c
    };
    let mut fake1 = lab.spawn(1, "nginx", &[&p1, "1000"]).expect("nginx 1");
    let fake2 = lab.spawn(2, "nginx", &[&p2, "1000"]).expect("nginx 2");
    let ours_node = lab
        .start_daemon(1, ours(), &adapt(&n1, false))
        .expect("ours");
    let ka_node = lab
        .start_daemon(2, &keepalived, &adapt(&n2, true))
        .expect("keepalived");
    // Each node masters one VIP.
    assert!(
        wait_until(Duration::from_secs(20), || lab.has_address(1, &vip1)
            && lab.has_address(2, &vip2)
            && !lab.has_address(2, &vip1)
            && !lab.has_address(1, &vip2)),
        "not dual-master:\nours:\n{}\nkeepalived:\n{}",
        ours_node.log(),
        ka_node.log()
    );
    // nginx dies on our node: 101 + 0 < 100 + 2, keepalived takes VI_1 too.
    fake1.signal(Signal::SIGKILL).expect("kill");
    let _ = fake1.wait_exit(Duration::from_secs(2));
    assert!(
        wait_until(Duration::from_secs(20), || lab.has_address(2, &vip1)
            && !lab.has_address(1, &vip1)),
        "keepalived did not take VI_1:\nours:\n{}\nkeepalived:\n{}",
        ours_node.log(),
        ka_node.log()
    );
    // nginx is back: we preempt VI_1 again.
    let fake1 = lab
        .spawn(1, "nginx", &[&p1, "1000"])
        .expect("nginx 1 again");
    assert!(
        wait_until(Duration::from_secs(20), || lab.has_address(1, &vip1)
            && !lab.has_address(2, &vip1)),
        "no preemption back:\nours:\n{}\nkeepalived:\n{}",
        ours_node.log(),
        ka_node.log()
    );
    drop((ours_node, ka_node, fake1, fake2));
    lab.down().expect("teardown");
}

#[test]
fn a_script_with_shell_syntax_is_disabled_not_failed() {
    if !require_root_or_skip("a_script_with_shell_syntax_is_disabled_not_failed") {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let lab = Lab::new(LabSpec::new(1)).expect("lab");
    let vip = format!("{}/24", lab.vip4());
    // Scripts are not run through a shell: keepalived cannot find a program called `[[` and
    // disables the script, so even with weight 0 the instance is not held in FAULT.
    let script = "vrrp_script down {\n    script \"[[ -f /nonexistent ]] && exit 1 || exit 0\"\n    interval 0.2\n    weight 0\n}\n";
    let conf = format!(
        "{script}{}",
        config(&lab, 150, "    track_script {\n        down\n    }\n")
    );
    let a = lab.start_daemon(1, ours(), &conf).expect("a");
    assert!(wait_until(LONG, || lab.has_address(1, &vip)), "{}", a.log());
    assert!(a.log().contains("not found/accessible"), "{}", a.log());
    drop(a);
    lab.down().expect("teardown");
}

#[test]
fn nopreempt_seed_pair_with_keepalived_behaves_as_two_keepalived_nodes() {
    if !require_root_or_skip("nopreempt_seed_pair_with_keepalived_behaves_as_two_keepalived_nodes")
    {
        return;
    }
    let Some(keepalived) = keepalived_or_skip() else {
        return;
    };
    // The same scenario with keepalived on both nodes first: the oracle for what we expect.
    nopreempt_pair(&keepalived, &keepalived, false);
    nopreempt_pair(ours(), &keepalived, true);
}

/// The nopreempt seed pair: `master_bin` runs the seed's master, `backup_bin` its backup.
fn nopreempt_pair(master_bin: &Path, backup_bin: &Path, ours_is_master: bool) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let lab = Lab::new(LabSpec::new(2)).expect("lab");
    let vip = format!("{}/24", lab.vip4());
    // The seeds' check script, made real: healthy while its flag file exists.
    let flag = lab.dir().join("nginx-ok");
    std::fs::write(&flag, "").expect("flag");
    let check = lab
        .write_script(
            "nginx_check.sh",
            &format!("#!/bin/sh\ntest -f {}\n", flag.display()),
        )
        .expect("script");
    let adapt = |text: String| {
        text.replace("/etc/keepalived/nginx_check.sh", &check.to_string_lossy())
            .replace("192.168.200.100", &vip)
    };
    let master_conf = adapt(seed("seed-nopreempt-master.conf"));
    let backup_conf = adapt(seed("seed-nopreempt-backup.conf"));
    let mut ours_node = lab
        .start_daemon(1, master_bin, &master_conf)
        .expect("master");
    let ka_node = lab
        .start_daemon(2, backup_bin, &backup_conf)
        .expect("backup");
    assert!(
        wait_until(Duration::from_secs(20), || lab.has_address(1, &vip)
            && !lab.has_address(2, &vip)),
        "ours:\n{}\nkeepalived:\n{}",
        ours_node.log(),
        ka_node.log()
    );
    // The check fails on our node: 100 - 20 = 80, not above keepalived's 80, and nopreempt:
    // the VIP stays.
    std::fs::remove_file(&flag).expect("rm");
    std::thread::sleep(Duration::from_secs(7));
    assert!(
        lab.has_address(1, &vip) && !lab.has_address(2, &vip),
        "the VIP moved although the weight does not cross:\nours:\n{}\nkeepalived:\n{}",
        ours_node.log(),
        ka_node.log()
    );
    // Our node dies: keepalived takes over.
    std::fs::write(&flag, "").expect("flag");
    ours_node.signal(Signal::SIGKILL).expect("kill");
    let _ = ours_node.wait_exit(Duration::from_secs(2));
    assert!(
        wait_until(Duration::from_secs(20), || lab.has_address(2, &vip)),
        "{}",
        ka_node.log()
    );
    // Back, healthy, priority 100 > 80. The seed's master has `state MASTER`, and keepalived
    // 2.2.7 clears `nopreempt` there (with a warning, which we give too): it preempts.
    let ours_node = lab
        .start_daemon(1, master_bin, &master_conf)
        .expect("master again");
    if ours_is_master {
        assert!(
            wait_until(LONG, || ours_node
                .log()
                .contains("nopreempt will not work with initial state MASTER")),
            "{}",
            ours_node.log()
        );
    }
    assert!(
        wait_until(Duration::from_secs(20), || lab.has_address(1, &vip)
            && !lab.has_address(2, &vip)),
        "no preemption back:\nours:\n{}\nkeepalived:\n{}",
        ours_node.log(),
        ka_node.log()
    );
    drop((ours_node, ka_node));
    lab.down().expect("teardown");
}

/// A copy of `sleep` under a name unique to this run and node, standing in for a service that a
/// seed checks with `killall -0 NAME` (the lab shares the host's process namespace, so the name
/// must not match anything else on the machine).
fn fake_service(lab: &Lab, service: &str, node: usize) -> (String, String) {
    let name = format!("ka{service}{node}x{}", std::process::id() % 10_000);
    let program = lab.dir().join(&name);
    std::fs::copy("/bin/sleep", &program).expect("copy sleep");
    (name, program.to_string_lossy().into_owned())
}

/// The lines a recording notify script wrote, in order.
fn recorded(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

/// Whether `wanted` appears in `lines` in order (other lines may come between).
fn in_order(lines: &[String], wanted: &[&str]) -> bool {
    let mut it = lines.iter();
    wanted.iter().all(|w| it.any(|l| l == w))
}

#[test]
fn dual_master_seed_nodes_keep_one_vip_each_and_take_over_both() {
    if !require_root_or_skip("dual_master_seed_nodes_keep_one_vip_each_and_take_over_both") {
        return;
    }
    let Some(keepalived) = keepalived_or_skip() else {
        return;
    };
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let lab = Lab::new(LabSpec::new(2)).expect("lab");
    let (vip1, vip2) = (
        format!("{}/24", lab.ip4(100)),
        format!("{}/24", lab.ip4(101)),
    );
    // Each node's nginx_check.sh succeeds while that node's flag file exists.
    let node_conf = |node: usize| {
        let flag = lab.dir().join(format!("nginx-ok-{node}"));
        std::fs::write(&flag, "").expect("flag");
        let check = lab
            .write_script(
                &format!("nginx_check-{node}.sh"),
                &format!("#!/bin/sh\ntest -f {}\n", flag.display()),
            )
            .expect("script");
        let conf = seed(&format!("seed-dual-master-node{node}.conf"))
            .replace("/etc/keepalived/nginx_check.sh", &check.to_string_lossy())
            .replace("192.168.200.100", &vip1)
            .replace("192.168.200.200", &vip2);
        (flag, conf)
    };
    let (flag1, conf1) = node_conf(1);
    let (_flag2, conf2) = node_conf(2);
    let ours_node = lab.start_daemon(1, ours(), &conf1).expect("ours");
    let mut ka_node = lab
        .start_daemon(2, &keepalived, &conf2)
        .expect("keepalived");
    let logs = |a: &ka_lab::Proc, b: &ka_lab::Proc| {
        format!("ours:\n{}\nkeepalived:\n{}", a.log(), b.log())
    };
    assert!(
        wait_until(Duration::from_secs(20), || lab.has_address(1, &vip1)
            && lab.has_address(2, &vip2)
            && !lab.has_address(2, &vip1)
            && !lab.has_address(1, &vip2)),
        "not dual-master:\n{}",
        logs(&ours_node, &ka_node)
    );
    // nginx fails on our node: VI_1 drops to 100 - 20 = 80, equal to keepalived's 80, which
    // does not preempt on equal priority: nothing moves.
    std::fs::remove_file(&flag1).expect("rm flag");
    assert!(
        wait_until(LONG, || ours_node.log().contains("effective priority")),
        "{}",
        ours_node.log()
    );
    std::thread::sleep(Duration::from_secs(4));
    assert!(
        lab.has_address(1, &vip1) && !lab.has_address(2, &vip1),
        "VI_1 moved although 80 does not beat 80:\n{}",
        logs(&ours_node, &ka_node)
    );
    std::fs::write(&flag1, "").expect("flag back");
    // keepalived's node dies: ours holds both VIPs.
    ka_node.signal(Signal::SIGKILL).expect("kill");
    let _ = ka_node.wait_exit(Duration::from_secs(2));
    assert!(
        wait_until(Duration::from_secs(20), || lab.has_address(1, &vip1)
            && lab.has_address(1, &vip2)),
        "ours did not take VI_2:\n{}",
        ours_node.log()
    );
    // keepalived's node is back: its VI_2 has `state MASTER`, which clears nopreempt (as we do),
    // so it preempts VI_2 with 100 > 80; VI_1 stays with us.
    let ka_node = lab
        .start_daemon(2, &keepalived, &conf2)
        .expect("keepalived again");
    assert!(
        wait_until(Duration::from_secs(20), || lab.has_address(2, &vip2)
            && !lab.has_address(1, &vip2)
            && lab.has_address(1, &vip1)
            && !lab.has_address(2, &vip1)),
        "VI_2 not back on keepalived's node:\n{}",
        logs(&ours_node, &ka_node)
    );
    drop((ours_node, ka_node));
    lab.down().expect("teardown");
}

#[test]
fn haproxy_master_backup_seed_hands_over_only_when_the_weight_crosses() {
    if !require_root_or_skip("haproxy_master_backup_seed_hands_over_only_when_the_weight_crosses") {
        return;
    }
    let Some(keepalived) = keepalived_or_skip() else {
        return;
    };
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let lab = Lab::new(LabSpec::new(2)).expect("lab");
    let vip = format!("{}/16", lab.vip4());
    let node = |n: usize| {
        let (name, program) = fake_service(&lab, "hap", n);
        let out = lab.dir().join(format!("notify-{n}.log"));
        let notify = lab
            .write_script(
                &format!("notify-{n}.sh"),
                &format!("#!/bin/sh\necho \"$@\" >> {}\n", out.display()),
            )
            .expect("notify script");
        let mut conf = seed("seed-haproxy-master-backup.conf")
            .replace("killall -0 haproxy", &format!("killall -0 {name}"))
            .replace("/etc/keepalived/notify.sh", &notify.to_string_lossy())
            .replace("172.16.100.1/16", &vip);
        if n == 2 {
            // The seed's comments give the backup's values.
            conf = conf
                .replace("state MASTER", "state BACKUP")
                .replace("priority 101", "priority 100");
        }
        (name, program, out, conf)
    };
    let (_, prog1, out1, conf1) = node(1);
    let (_, prog2, out2, conf2) = node(2);
    let mut hap1 = lab
        .spawn(1, "haproxy", &[&prog1, "1000"])
        .expect("haproxy 1");
    let mut hap2 = lab
        .spawn(2, "haproxy", &[&prog2, "1000"])
        .expect("haproxy 2");
    let ours_node = lab.start_daemon(1, ours(), &conf1).expect("ours");
    let ka_node = lab
        .start_daemon(2, &keepalived, &conf2)
        .expect("keepalived");
    let logs = || format!("ours:\n{}\nkeepalived:\n{}", ours_node.log(), ka_node.log());
    // 101 + 2 against 100 + 2: ours is master; the seed's label is applied.
    assert!(
        wait_until(Duration::from_secs(20), || lab.has_address(1, &vip)
            && !lab.has_address(2, &vip)),
        "{}",
        logs()
    );
    let labelled = lab
        .exec(1, &["ip", "-4", "-o", "addr", "show", "label", "eth0:0"])
        .expect("ip addr");
    assert!(
        String::from_utf8_lossy(&labelled.stdout).contains(&vip),
        "no eth0:0 label: {labelled:?}"
    );
    // haproxy dies on ours: 101 < 102, keepalived takes the VIP; both notify.
    hap1.signal(Signal::SIGKILL).expect("kill");
    let _ = hap1.wait_exit(Duration::from_secs(2));
    assert!(
        wait_until(Duration::from_secs(20), || lab.has_address(2, &vip)
            && !lab.has_address(1, &vip)),
        "no handover to keepalived:\n{}",
        logs()
    );
    // haproxy back on ours: 103 > 102, ours preempts.
    let mut hap1 = lab
        .spawn(1, "haproxy", &[&prog1, "1000"])
        .expect("haproxy 1");
    assert!(
        wait_until(Duration::from_secs(20), || lab.has_address(1, &vip)
            && !lab.has_address(2, &vip)),
        "no preemption back:\n{}",
        logs()
    );
    // haproxy dies on keepalived's node (103 > 100), then on ours too (101 > 100): the weight
    // never crosses, the VIP stays.
    hap2.signal(Signal::SIGKILL).expect("kill 2");
    std::thread::sleep(Duration::from_secs(3));
    hap1.signal(Signal::SIGKILL).expect("kill 1");
    std::thread::sleep(Duration::from_secs(4));
    assert!(
        lab.has_address(1, &vip) && !lab.has_address(2, &vip),
        "the VIP moved although the weights do not cross:\n{}",
        logs()
    );
    // The notify scripts got the seed's argument, in the order of the transitions.
    let (ours_lines, ka_lines) = (recorded(&out1), recorded(&out2));
    assert!(
        in_order(&ours_lines, &["master", "backup", "master"]),
        "ours: {ours_lines:?}"
    );
    assert!(
        in_order(&ka_lines, &["backup", "master", "backup"]),
        "keepalived: {ka_lines:?}"
    );
    drop((ours_node, ka_node, hap1, hap2));
    lab.down().expect("teardown");
}

#[test]
fn haproxy_dual_master_seed_on_two_keepalived_rs_nodes() {
    if !require_root_or_skip("haproxy_dual_master_seed_on_two_keepalived_rs_nodes") {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let lab = Lab::new(LabSpec::new(2)).expect("lab");
    let (vip1, vip2) = (
        format!("{}/16", lab.ip4(100)),
        format!("{}/16", lab.ip4(101)),
    );
    let node = |n: usize| {
        let (name, program) = fake_service(&lab, "hdm", n);
        let mut conf = seed("seed-haproxy-dual-master.conf")
            .replace("killall -0 haproxy", &format!("killall -0 {name}"))
            .replace("172.16.100.1/16", &vip1)
            .replace("172.16.100.2/16", &vip2)
            // The notify script is not part of this scenario.
            .replace("/etc/keepalived/notify.sh", "/bin/true");
        if n == 2 {
            conf = conf
                .replace("state MASTER", "state @M@")
                .replace("state BACKUP", "state MASTER")
                .replace("state @M@", "state BACKUP")
                .replace("priority 101", "priority @P@")
                .replace("priority 100", "priority 101")
                .replace("priority @P@", "priority 100");
        }
        (program, conf)
    };
    let (prog1, conf1) = node(1);
    let (prog2, conf2) = node(2);
    let hap1 = lab
        .spawn(1, "haproxy", &[&prog1, "1000"])
        .expect("haproxy 1");
    let hap2 = lab
        .spawn(2, "haproxy", &[&prog2, "1000"])
        .expect("haproxy 2");
    let a = lab.start_daemon(1, ours(), &conf1).expect("a");
    let mut b = lab.start_daemon(2, ours(), &conf2).expect("b");
    assert!(
        wait_until(Duration::from_secs(20), || lab.has_address(1, &vip1)
            && lab.has_address(2, &vip2)
            && !lab.has_address(1, &vip2)
            && !lab.has_address(2, &vip1)),
        "not dual-master:\n{}\n{}",
        a.log(),
        b.log()
    );
    // Node 2 stops (SIGTERM, priority 0): node 1 holds both VIPs, each with its seed label.
    b.stop(Duration::from_secs(5)).expect("stop b");
    assert!(
        wait_until(Duration::from_secs(20), || lab.has_address(1, &vip1)
            && lab.has_address(1, &vip2)),
        "{}",
        a.log()
    );
    let labels = lab
        .exec(1, &["ip", "-4", "-o", "addr", "show", "dev", "eth0"])
        .expect("ip addr");
    let text = String::from_utf8_lossy(&labels.stdout);
    assert!(
        text.contains("eth0:0") && text.contains("eth0:1"),
        "labels missing: {text}"
    );
    drop((a, b, hap1, hap2));
    lab.down().expect("teardown");
}

#[test]
fn preempt_delay_seed_waits_then_preempts_and_a_tracked_interface_faults() {
    if !require_root_or_skip(
        "preempt_delay_seed_waits_then_preempts_and_a_tracked_interface_faults",
    ) {
        return;
    }
    let Some(keepalived) = keepalived_or_skip() else {
        return;
    };
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let lab = Lab::new(LabSpec::new(2)).expect("lab");
    let vip = format!("{}/24", lab.vip4());
    // The seed's second interface `mgt` (carrying the VIP, tracked): a veth pair inside each
    // router, so it can be taken down there.
    for n in [1, 2] {
        for argv in [
            &[
                "ip", "link", "add", "mgt", "type", "veth", "peer", "name", "mgtp",
            ][..],
            &["ip", "link", "set", "mgt", "up"],
            &["ip", "link", "set", "mgtp", "up"],
        ] {
            let out = lab.exec(n, argv).expect("ip");
            assert!(out.status.success(), "{argv:?}: {out:?}");
        }
    }
    let monitor = lab
        .write_script("keepalived_monitor_process.sh", "#!/bin/sh\nexit 0\n")
        .expect("monitor");
    let out = lab.dir().join("notify-1.log");
    let notify = lab
        .write_script(
            "keepalived_notify.py",
            &format!("#!/bin/sh\necho \"$@\" >> {}\n", out.display()),
        )
        .expect("notify");
    let adapt = |priority: &str| {
        seed("seed-preempt-track-script.conf")
            .replace(
                "/usr/local/nac/script/keepalived_monitor_process.sh",
                &monitor.to_string_lossy(),
            )
            .replace(
                "/usr/local/nac/script/keepalived_notify.py",
                &notify.to_string_lossy(),
            )
            .replace("interface ha ", "interface eth0 ")
            .replace("\nha\n", "\neth0\n")
            .replace("192.168.66.135/24", &vip)
            .replace("priority 200", priority)
    };
    // keepalived (150) alone becomes master after three of the seed's 3 s adverts.
    let ka_node = lab
        .start_daemon(2, &keepalived, &adapt("priority 150"))
        .expect("keepalived");
    assert!(
        wait_until(Duration::from_secs(30), || lab.has_address(2, &vip)),
        "{}",
        ka_node.log()
    );
    // Ours (200) hears a lower-priority master and preempts only after preempt_delay 10.
    let started = std::time::Instant::now();
    let mut ours_node = lab
        .start_daemon(1, ours(), &adapt("priority 200"))
        .expect("ours");
    std::thread::sleep(Duration::from_secs(6));
    assert!(
        lab.has_address(2, &vip) && !lab.has_address(1, &vip),
        "preempted before preempt_delay:\n{}",
        ours_node.log()
    );
    assert!(
        wait_until(Duration::from_secs(30), || lab.has_address(1, &vip)
            && !lab.has_address(2, &vip)),
        "no preemption:\nours:\n{}\nkeepalived:\n{}",
        ours_node.log(),
        ka_node.log()
    );
    assert!(
        started.elapsed() >= Duration::from_secs(9),
        "preempted after {:?}",
        started.elapsed()
    );
    // The tracked `mgt` goes down on ours: FAULT, keepalived takes over.
    let out_down = lab
        .exec(1, &["ip", "link", "set", "mgt", "down"])
        .expect("ip");
    assert!(out_down.status.success());
    assert!(
        wait_until(Duration::from_secs(30), || lab.has_address(2, &vip)
            && !lab.has_address(1, &vip)),
        "no takeover on fault:\nours:\n{}\nkeepalived:\n{}",
        ours_node.log(),
        ka_node.log()
    );
    // Stop: notify_stop runs. The record: backup at start, master, fault, stop.
    ours_node.stop(Duration::from_secs(5)).expect("stop");
    assert!(
        wait_until(LONG, || recorded(&out).last().map(String::as_str)
            == Some("-s")),
        "{:?}",
        recorded(&out)
    );
    assert!(
        in_order(&recorded(&out), &["-b", "-m", "-f", "-s"]),
        "{:?}",
        recorded(&out)
    );
    drop((ours_node, ka_node));
    lab.down().expect("teardown");
}

#[test]
fn unicast_v3_seed_equal_priorities_never_preempt_and_fail_over_with_keepalived() {
    if !require_root_or_skip(
        "unicast_v3_seed_equal_priorities_never_preempt_and_fail_over_with_keepalived",
    ) {
        return;
    }
    let Some(keepalived) = keepalived_or_skip() else {
        return;
    };
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let lab = Lab::new(LabSpec::new(2)).expect("lab");
    let vip = lab.vip4();
    let (ip1, ip2) = (
        lab.router_ip4(1).expect("ip"),
        lab.router_ip4(2).expect("ip"),
    );
    let adapt = |me: &str, peer: &str| {
        seed("seed-unicast-v3.conf")
            .replace("10.176.34.116", me)
            .replace("10.176.34.232", peer)
            .replace("10.176.34.253", &vip)
    };
    // keepalived (router 2) first: alone, it becomes master.
    let mut ka_node = lab
        .start_daemon(2, &keepalived, &adapt(&ip2, &ip1))
        .expect("keepalived");
    assert!(
        wait_until(Duration::from_secs(20), || lab.has_address(2, &vip)),
        "{}",
        ka_node.log()
    );
    // Ours joins with the same priority: an equal priority never preempts, so ours stays backup.
    let mut ours_node = lab
        .start_daemon(1, ours(), &adapt(&ip1, &ip2))
        .expect("ours");
    assert!(
        wait_until(LONG, || ours_node.log().contains("Entering BACKUP STATE")),
        "{}",
        ours_node.log()
    );
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        lab.has_address(2, &vip) && !lab.has_address(1, &vip),
        "ours:\n{}\nkeepalived:\n{}",
        ours_node.log(),
        ka_node.log()
    );
    // keepalived stops (priority 0): ours takes over.
    ka_node
        .stop(Duration::from_secs(5))
        .expect("stop keepalived");
    assert!(
        wait_until(Duration::from_secs(20), || lab.has_address(1, &vip)),
        "{}",
        ours_node.log()
    );
    // keepalived is back, with the higher address: an equal priority, so it stays backup.
    let ka_node = lab
        .start_daemon(2, &keepalived, &adapt(&ip2, &ip1))
        .expect("keepalived again");
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        lab.has_address(1, &vip) && !lab.has_address(2, &vip),
        "ours:\n{}\nkeepalived:\n{}",
        ours_node.log(),
        ka_node.log()
    );
    // And the other way round: ours stops, keepalived takes over.
    ours_node.stop(Duration::from_secs(5)).expect("stop ours");
    assert!(
        wait_until(Duration::from_secs(20), || lab.has_address(2, &vip)),
        "{}",
        ka_node.log()
    );
    drop((ours_node, ka_node));
    lab.down().expect("teardown");
}
