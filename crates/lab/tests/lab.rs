//! Namespace-lab tests (root only; skipped loudly otherwise, failing under CI=true).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use ka_lab::{require_root_or_skip, system_keepalived, wait_until, Lab, LabSpec, Node, Signal};

fn ns_ino(path: &str) -> Option<(u64, u64)> {
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

fn netns_list() -> Vec<String> {
    let out = Command::new("ip").args(["netns", "list"]).output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

/// Alive and not a zombie (a zombie has no namespace links any more).
fn alive(pid: u32) -> bool {
    ns_ino(&format!("/proc/{pid}/ns/net")).is_some()
}

#[test]
fn two_routers_ping_spawn_and_teardown() {
    if !require_root_or_skip("two_routers_ping_spawn_and_teardown") {
        return;
    }
    let lab = Lab::new(LabSpec::new(2)).unwrap();
    let r1 = lab.router_ip4(1).unwrap();
    assert!(
        lab.ping(&r1, Duration::from_secs(3)),
        "client cannot ping router 1 ({r1})"
    );
    assert!(
        lab.has_address(1, &format!("{r1}/24")),
        "{:?}",
        lab.addresses(1)
    );
    assert!(lab.has_address(Node::Client, &lab.client_ip4()));
    assert!(!lab.has_address(2, &r1));
    assert_eq!(lab.arp_owner(&lab.router_ip4(2).unwrap()), Some(2));
    assert_eq!(lab.arp_owner(&lab.vip4()), None, "nobody holds the VIP yet");
    assert!(lab.ns_name(3).is_err(), "no router 3 in a 2-router lab");

    // A long-running process lands in router 1's namespace, not the host's.
    let mut sleeper = lab.spawn(1, "sleeper", &["sleep", "30"]).unwrap();
    let pid = sleeper.pid();
    let ns1 = lab.ns_name(1).unwrap();
    let own = ns_ino(&format!("/proc/{pid}/ns/net")).unwrap();
    assert_eq!(own, ns_ino(&format!("/run/netns/{ns1}")).unwrap());
    assert_ne!(own, ns_ino("/proc/self/ns/net").unwrap());
    assert!(sleeper.is_running());
    // ... and so does an orphan the lab knows nothing about (own session, not in the Proc's group).
    let orphan_file = lab.dir().join("orphan.pid");
    let script = format!(
        "setsid sleep 31 </dev/null >/dev/null 2>&1 & echo $! > {}",
        orphan_file.display()
    );
    assert!(lab
        .exec(1, &["sh", "-c", &script])
        .unwrap()
        .status
        .success());
    let orphan: u32 = std::fs::read_to_string(&orphan_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(alive(orphan));

    // A TCP responder answers with its namespace name through the client probe.
    let _listener = lab.listen(2, 8080).unwrap();
    let r2 = lab.router_ip4(2).unwrap();
    assert_eq!(lab.tcp_owner(&r2, 8080, Duration::from_secs(2)), Some(2));
    assert_eq!(
        lab.tcp_probe(&r1, 8080, Duration::from_secs(1)),
        None,
        "nothing listens on router 1"
    );

    let names = lab.namespaces();
    lab.down().unwrap();
    let st = sleeper
        .wait_exit(Duration::from_secs(1))
        .expect("teardown killed the sleeper");
    assert!(!st.success());
    assert!(
        wait_until(Duration::from_secs(2), || !alive(orphan)),
        "orphan {orphan} survived teardown"
    );
    let left = netns_list();
    assert!(
        names.iter().all(|n| !left.contains(n)),
        "left behind: {left:?}"
    );
}

#[test]
fn proc_signal_and_log() {
    if !require_root_or_skip("proc_signal_and_log") {
        return;
    }
    let lab = Lab::new(LabSpec::new(1)).unwrap();
    let mut p = lab
        .spawn(
            Node::Client,
            "talker",
            &[
                "sh",
                "-c",
                "echo hello; echo oops >&2; trap 'echo bye; exit 3' TERM; sleep 20 & wait",
            ],
        )
        .unwrap();
    assert!(
        wait_until(Duration::from_secs(2), || p.log().contains("oops")),
        "{}",
        p.log()
    );
    p.signal(Signal::SIGTERM).unwrap();
    let st = p
        .wait_exit(Duration::from_secs(2))
        .expect("exits on SIGTERM");
    assert_eq!(st.code(), Some(3));
    let log = p.log();
    assert!(log.contains("hello") && log.contains("bye"), "{log}");
    // A short-lived command is fine too.
    let mut q = lab.spawn(1, "true", &["true"]).unwrap();
    assert!(q.wait_exit(Duration::from_secs(2)).unwrap().success());
    assert!(lab.spawn(1, "nothing", &[]).is_err());
}

#[test]
fn cut_restore_detach_attach() {
    if !require_root_or_skip("cut_restore_detach_attach") {
        return;
    }
    let lab = Lab::new(LabSpec::new(2)).unwrap();
    let r1 = lab.router_ip4(1).unwrap();
    assert!(lab.has_carrier(1));
    lab.cut_link(1).unwrap();
    assert!(wait_until(Duration::from_secs(2), || lab
        .link_flags(1)
        .unwrap()
        .iter()
        .any(|f| f == "NO-CARRIER")));
    assert!(!lab.has_carrier(1));
    assert!(lab.has_carrier(2), "only router 1's cable was pulled");
    assert!(!lab.ping(&r1, Duration::from_secs(1)));
    lab.restore_link(1).unwrap();
    assert!(
        wait_until(Duration::from_secs(2), || lab.has_carrier(1)),
        "{:?}",
        lab.link_flags(1)
    );
    assert!(lab.ping(&r1, Duration::from_secs(3)));

    // Partition: carrier stays, traffic stops.
    lab.detach(1).unwrap();
    assert!(lab.has_carrier(1));
    assert!(!lab.ping(&r1, Duration::from_secs(1)));
    lab.attach(1).unwrap();
    assert!(lab.ping(&r1, Duration::from_secs(3)));
}

#[test]
fn panic_inside_a_test_still_tears_down() {
    if !require_root_or_skip("panic_inside_a_test_still_tears_down") {
        return;
    }
    let mut seen = (Vec::new(), 0u32, std::path::PathBuf::new());
    let res = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let lab = Lab::new(LabSpec::new(2)).unwrap();
        let p = lab.spawn(2, "sleeper", &["sleep", "30"]).unwrap();
        seen = (lab.namespaces(), p.pid(), lab.dir().to_path_buf());
        assert!(netns_list().contains(&seen.0[0]));
        panic!("deliberate panic with a lab and a process alive");
    }));
    assert!(res.is_err());
    let (names, pid, dir) = seen;
    assert!(!names.is_empty());
    let left = netns_list();
    assert!(
        names.iter().all(|n| !left.contains(n)),
        "left behind after panic: {left:?}"
    );
    assert!(!alive(pid), "process {pid} survived the panic");
    assert!(
        dir.exists(),
        "files are kept after a panic for investigation"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn parallel_labs_do_not_collide() {
    if !require_root_or_skip("parallel_labs_do_not_collide") {
        return;
    }
    let handles: Vec<_> = (0..3)
        .map(|_| {
            std::thread::spawn(|| {
                let lab = Lab::new(LabSpec::new(2)).unwrap();
                assert!(lab.ping(&lab.router_ip4(2).unwrap(), Duration::from_secs(3)));
                // The other labs' addresses are unreachable from here.
                (lab.spec().clone(), lab.namespaces(), lab)
            })
        })
        .collect();
    let labs: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    for (i, (a, _, lab)) in labs.iter().enumerate() {
        for (b, _, _) in &labs[i + 1..] {
            assert_ne!(a.prefix, b.prefix);
            assert_ne!(a.subnet, b.subnet);
            let other = format!("10.200.{}.12", b.subnet);
            assert!(
                !lab.ping(&other, Duration::from_secs(1)),
                "lab {} reaches {other}",
                a.prefix
            );
        }
    }
    let mut names = Vec::new();
    for (_, n, lab) in labs {
        names.extend(n);
        lab.down().unwrap();
    }
    let left = netns_list();
    assert!(names.iter().all(|n| !left.contains(n)), "{left:?}");
}

#[test]
fn ipv6_lab_is_usable_at_once_and_capture_works() {
    if !require_root_or_skip("ipv6_lab_is_usable_at_once_and_capture_works") {
        return;
    }
    let lab = Lab::new(LabSpec::new(1).ipv6(true)).unwrap();
    let cap = lab.capture("icmp6 or icmp").unwrap();
    let r6 = lab.router_ip6(1).unwrap();
    assert!(
        lab.has_address(1, &format!("{r6}/64")),
        "{:?}",
        lab.addresses(1)
    );
    // No DAD: link-local and global addresses are usable immediately.
    let ll_tentative = lab
        .exec(1, &["ip", "-6", "addr", "show", "dev", "eth0", "tentative"])
        .unwrap();
    assert!(String::from_utf8_lossy(&ll_tentative.stdout)
        .trim()
        .is_empty());
    assert!(lab.ping(&r6, Duration::from_secs(3)));
    assert_eq!(lab.arp_owner(&r6), Some(1));
    assert!(lab.ping(&lab.router_ip4(1).unwrap(), Duration::from_secs(3)));
    let pcap = cap.stop().unwrap();
    let read = lab
        .exec(
            Node::Bridge,
            &["tcpdump", "-n", "-r", pcap.to_str().unwrap()],
        )
        .unwrap();
    let text = String::from_utf8_lossy(&read.stdout);
    assert!(
        text.contains("echo request") && text.contains("ICMP6"),
        "{text}"
    );
    lab.down().unwrap();
}

#[test]
fn real_keepalived_takes_the_vip() {
    if !require_root_or_skip("real_keepalived_takes_the_vip") {
        return;
    }
    let Some(bin) = system_keepalived() else {
        eprintln!(
            "*** SKIPPED: real_keepalived_takes_the_vip: /usr/sbin/keepalived not installed ***"
        );
        return;
    };
    let lab = Lab::new(LabSpec::new(2)).unwrap();
    let vip = lab.vip4();
    let conf = format!(
        "global_defs {{\n    router_id r1\n    vrrp_version 3\n}}\n\
         vrrp_instance VI_1 {{\n    state BACKUP\n    interface eth0\n    virtual_router_id 51\n    priority 150\n    advert_int 0.1\n\
         \x20   virtual_ipaddress {{\n        {vip}/24 dev eth0\n    }}\n}}\n"
    );
    let cap = lab.capture("ip proto 112").unwrap();
    let mut ka = lab.start_daemon(1, Path::new(&bin), &conf).unwrap();
    let vip24 = format!("{vip}/24");
    assert!(
        wait_until(Duration::from_secs(10), || lab.has_address(1, &vip24)),
        "VIP never appeared on router 1; log:\n{}",
        ka.log()
    );
    assert!(!lab.has_address(2, &vip));
    assert!(wait_until(Duration::from_secs(5), || lab.arp_owner(&vip) == Some(1)));
    assert!(lab.ping(&vip, Duration::from_secs(2)));
    assert!(
        Path::new(&lab.dir().join("r1.main.pid")).exists(),
        "pid files live in the lab dir"
    );
    assert!(!Path::new("/etc/keepalived/keepalived.conf").exists());

    ka.signal(Signal::SIGTERM).unwrap();
    assert!(
        ka.wait_exit(Duration::from_secs(5)).is_some(),
        "keepalived ignored SIGTERM:\n{}",
        ka.log()
    );
    assert!(
        !lab.has_address(1, &vip),
        "VIP left after SIGTERM: {:?}",
        lab.addresses(1)
    );
    let pcap = cap.stop().unwrap();
    let read = lab
        .exec(
            Node::Bridge,
            &["tcpdump", "-n", "-v", "-r", pcap.to_str().unwrap()],
        )
        .unwrap();
    let text = String::from_utf8_lossy(&read.stdout);
    assert!(
        text.contains("VRRPv3"),
        "no VRRPv3 adverts captured:\n{text}"
    );
    assert!(
        text.contains("prio 0"),
        "no priority-0 advert at shutdown:\n{text}"
    );
    lab.down().unwrap();
}
