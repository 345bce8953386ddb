#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The netlink edge against a real kernel, inside throw-away network namespaces.
//!
//! Every test makes its own namespace (`knl<pid><n>`) and runs the code under test on a
//! thread that has `setns`-ed into it, so the root namespace is never touched. Results are
//! checked with `ip -n NS -j ...`. Needs root: without it the tests print SKIPPED and pass,
//! unless `CI=true`, where skipping is a failure.

use std::fs::File;
use std::net::{IpAddr, Ipv4Addr};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use ka_sys::netlink::{
    AddrFlags, AddrInfo, AddressSpec, Event, Family, IpPrefix, Netlink, NetlinkError, RouteKind,
    RouteSpec, RuleAction, RuleSpec, Watcher,
};
use nix::sched::{setns, CloneFlags};
use serde_json::Value;

static NEXT: AtomicU32 = AtomicU32::new(0);

/// A network namespace that is deleted when the test ends, even by panic.
struct Ns {
    name: String,
}

impl Ns {
    /// Creates a namespace, or returns `None` (after a loud SKIPPED) without root.
    fn new(test: &str) -> Option<Self> {
        if !nix::unistd::geteuid().is_root() || !has_ip() {
            let ci = std::env::var("CI").is_ok_and(|v| v == "true");
            assert!(
                !ci,
                "{test}: needs root and iproute2, and CI=true forbids skipping"
            );
            eprintln!("SKIPPED: {test} needs root and the `ip` tool (network namespaces)");
            return None;
        }
        let name = format!(
            "knl{}{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        run_ok("ip", &["netns", "add", &name]);
        Some(Self { name })
    }

    /// Runs `ip -n NS args...` and returns stdout; panics on failure.
    fn ip(&self, args: &[&str]) -> String {
        let mut all = vec!["-n", self.name.as_str()];
        all.extend_from_slice(args);
        run_ok("ip", &all)
    }

    /// Runs `ip -n NS -j args...` and parses the JSON.
    fn ip_json(&self, args: &[&str]) -> Value {
        let mut all = vec!["-j"];
        all.extend_from_slice(args);
        let out = self.ip(&all);
        if out.trim().is_empty() {
            return Value::Array(Vec::new());
        }
        serde_json::from_str(&out)
            .unwrap_or_else(|e| panic!("bad JSON from ip {args:?}: {e}\n{out}"))
    }

    /// Sets a sysctl inside the namespace.
    fn sysctl(&self, key: &str, value: &str) {
        run_ok(
            "ip",
            &[
                "netns",
                "exec",
                &self.name,
                "sysctl",
                "-qw",
                &format!("{key}={value}"),
            ],
        );
    }

    /// Runs `f` on a thread that has joined the namespace, so sockets it opens live there.
    fn run<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> T {
        let path = format!("/run/netns/{}", self.name);
        let handle = std::thread::spawn(move || {
            let fd = File::open(&path).expect("open netns file");
            setns(&fd, CloneFlags::CLONE_NEWNET).expect("setns");
            f()
        });
        match handle.join() {
            Ok(v) => v,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }
}

impl Drop for Ns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

/// A veth pair `name`/`name`p (this kernel has no dummy driver); with `up`, both ends are
/// up so `name` has carrier.
fn add_veth(ns: &Ns, name: &str, up: bool) {
    let peer = format!("{name}p");
    ns.ip(&["link", "add", name, "type", "veth", "peer", "name", &peer]);
    if up {
        ns.ip(&["link", "set", &peer, "up"]);
        ns.ip(&["link", "set", name, "up"]);
    }
}

fn has_ip() -> bool {
    Command::new("ip")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success())
}

fn run_ok(cmd: &str, args: &[&str]) -> String {
    let out = Command::new(cmd).args(args).output().expect("spawn");
    assert!(
        out.status.success(),
        "{cmd} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// The `addr_info` entries `ip -j addr show dev DEV` reports.
fn addr_infos(ns: &Ns, dev: &str) -> Vec<Value> {
    let v = ns.ip_json(&["addr", "show", "dev", dev]);
    v[0]["addr_info"].as_array().cloned().unwrap_or_default()
}

fn find_addr<'a>(infos: &'a [Value], local: &str) -> Option<&'a Value> {
    infos.iter().find(|a| a["local"] == local)
}

/// Reads events until `pred` matches one, or fails after `timeout` showing what came.
fn wait_for(w: &mut Watcher, what: &str, pred: impl Fn(&Event) -> bool) -> Event {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut seen = Vec::new();
    while Instant::now() < deadline {
        for e in w.next_events(Duration::from_millis(200)).unwrap() {
            if pred(&e) {
                return e;
            }
            seen.push(e);
        }
    }
    panic!("timed out waiting for {what}; saw {seen:#?}");
}

#[test]
fn ipv4_vip_with_label_and_broadcast() {
    let Some(ns) = Ns::new("ipv4_vip_with_label_and_broadcast") else {
        return;
    };
    add_veth(&ns, "d0", true);
    let (ifindex, missing) = ns.run(|| {
        let mut nl = Netlink::open().unwrap();
        (nl.ifindex("d0").unwrap(), nl.ifindex("nosuchif0").unwrap())
    });
    let ifindex = ifindex.expect("d0 has an index");
    assert_eq!(missing, None);

    let mut spec = AddressSpec::new(ifindex, ip("10.200.1.10"), 24);
    spec.broadcast = Some(Ipv4Addr::new(10, 200, 1, 255));
    spec.label = Some("d0:vip".into());
    let s = spec.clone();
    let second = ns.run(move || {
        let mut nl = Netlink::open().unwrap();
        nl.add_address(&s).unwrap();
        nl.add_address(&s)
    });
    match second {
        Err(e @ NetlinkError::Exists { .. }) => {
            assert_eq!(e.errno(), Some(libc::EEXIST));
            assert!(e.already_done());
        }
        other => panic!("second add: expected Exists, got {other:?}"),
    }
    let infos = addr_infos(&ns, "d0");
    let a = find_addr(&infos, "10.200.1.10").expect("VIP installed");
    assert_eq!(a["prefixlen"], 24);
    assert_eq!(a["broadcast"], "10.200.1.255");
    assert_eq!(a["label"], "d0:vip");

    let s = spec.clone();
    let second = ns.run(move || {
        let mut nl = Netlink::open().unwrap();
        nl.del_address(&s).unwrap();
        nl.del_address(&s)
    });
    assert!(
        matches!(second, Err(NetlinkError::AddressNotAvailable { .. })),
        "second delete: {second:?}"
    );
    assert!(find_addr(&addr_infos(&ns, "d0"), "10.200.1.10").is_none());
}

#[test]
fn ipv6_vip_nodad_deprecated() {
    let Some(ns) = Ns::new("ipv6_vip_nodad_deprecated") else {
        return;
    };
    add_veth(&ns, "d0", true);
    let (second, listed) = ns.run(|| {
        let mut nl = Netlink::open().unwrap();
        let ifindex = nl.ifindex("d0").unwrap().unwrap();
        let mut spec = AddressSpec::new(ifindex, ip("fd00::10"), 128);
        spec.flags = AddrFlags::NODAD;
        spec.preferred_lft = Some(0);
        nl.add_address(&spec).unwrap();
        let second = nl.add_address(&spec);
        let listed: Vec<AddrInfo> = nl
            .addresses()
            .unwrap()
            .into_iter()
            .filter(|a| a.address == ip("fd00::10"))
            .collect();
        (second, listed)
    });
    assert!(
        matches!(second, Err(NetlinkError::Exists { .. })),
        "{second:?}"
    );
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert!(listed[0].deprecated && !listed[0].tentative, "{listed:?}");
    assert_eq!(listed[0].prefix_len, 128);

    let infos = addr_infos(&ns, "d0");
    let a = find_addr(&infos, "fd00::10").expect("IPv6 VIP installed");
    assert_eq!(a["prefixlen"], 128);
    assert_eq!(a["deprecated"], true, "{a}");
    assert_eq!(a["nodad"], true, "{a}");
    assert_eq!(a["preferred_life_time"], 0, "{a}");
    assert_eq!(a["valid_life_time"], u32::MAX, "{a}");

    let (first, second) = ns.run(|| {
        let mut nl = Netlink::open().unwrap();
        let ifindex = nl.ifindex("d0").unwrap().unwrap();
        let spec = AddressSpec::new(ifindex, ip("fd00::10"), 128);
        (nl.del_address(&spec), nl.del_address(&spec))
    });
    first.unwrap();
    assert!(
        matches!(second, Err(NetlinkError::AddressNotAvailable { .. })),
        "{second:?}"
    );
    assert!(find_addr(&addr_infos(&ns, "d0"), "fd00::10").is_none());
}

#[test]
fn tentative_ipv6_address_is_reported() {
    let Some(ns) = Ns::new("tentative_ipv6_address_is_reported") else {
        return;
    };
    ns.ip(&["link", "add", "v0", "type", "veth", "peer", "name", "v1"]);
    ns.sysctl("net.ipv6.conf.v0.accept_dad", "1");
    ns.sysctl("net.ipv6.conf.v0.dad_transmits", "3");
    ns.ip(&["link", "set", "v0", "up"]);
    ns.ip(&["link", "set", "v1", "up"]);
    let (early, later) = ns.run(|| {
        let mut nl = Netlink::open().unwrap();
        let mut w = Watcher::open().unwrap();
        let ifindex = nl.ifindex("v0").unwrap().unwrap();
        nl.add_address(&AddressSpec::new(ifindex, ip("fd00:1::1"), 64))
            .unwrap();
        let early = nl
            .addresses()
            .unwrap()
            .into_iter()
            .find(|a| a.address == ip("fd00:1::1"))
            .unwrap();
        // DAD finishing is announced as a new RTM_NEWADDR without the tentative flag.
        let later = wait_for(
            &mut w,
            "fd00:1::1 leaving tentative",
            |e| matches!(e, Event::AddressAdded(a) if a.address == ip("fd00:1::1") && !a.tentative),
        );
        (early, later)
    });
    assert!(early.tentative, "fresh address with DAD on: {early:?}");
    assert_eq!(early.prefix_len, 64);
    assert!(matches!(later, Event::AddressAdded(a) if !a.tentative && !a.dad_failed));
}

#[test]
fn routes_and_rules() {
    let Some(ns) = Ns::new("routes_and_rules") else {
        return;
    };
    add_veth(&ns, "d0", true);
    ns.ip(&["addr", "add", "10.200.2.1/24", "dev", "d0"]);
    ns.ip(&["addr", "add", "fd00:2::1/64", "dev", "d0", "nodad"]);
    let ifindex = ns
        .run(|| Netlink::open().unwrap().ifindex("d0").unwrap())
        .unwrap();

    let mut via = RouteSpec::new(IpPrefix::new(ip("10.200.9.0"), 24));
    via.gateway = Some(ip("10.200.2.254"));
    via.ifindex = Some(ifindex);
    via.table = 100;
    via.metric = Some(50);
    let mut hole = RouteSpec::new(IpPrefix::new(ip("10.200.10.0"), 24));
    hole.kind = RouteKind::Blackhole;
    hole.table = 100;
    let mut unreach = RouteSpec::new(IpPrefix::new(ip("fd00:9::"), 64));
    unreach.kind = RouteKind::Unreachable;
    unreach.table = 100;
    let mut dev_route = RouteSpec::new(IpPrefix::new(ip("10.200.11.0"), 24));
    dev_route.ifindex = Some(ifindex);

    let mut rule4 = RuleSpec::new(Family::V4, RuleAction::Table(100));
    rule4.from = Some(IpPrefix::new(ip("10.200.2.0"), 24));
    rule4.fwmark = Some(7);
    rule4.priority = Some(1000);
    let mut rule6 = RuleSpec::new(Family::V6, RuleAction::Prohibit);
    rule6.to = Some(IpPrefix::new(ip("fd00:3::"), 64));
    rule6.iif = Some("d0".into());
    rule6.priority = Some(1001);

    let routes = [
        via.clone(),
        hole.clone(),
        unreach.clone(),
        dev_route.clone(),
    ];
    let rules = [rule4.clone(), rule6.clone()];
    let (r, u) = (routes.clone(), rules.clone());
    let again = ns.run(move || {
        let mut nl = Netlink::open().unwrap();
        for route in &r {
            nl.add_route(route).unwrap();
        }
        for rule in &u {
            nl.add_rule(rule).unwrap();
        }
        (nl.add_route(&r[0]), nl.add_rule(&u[0]))
    });
    assert!(
        matches!(again.0, Err(NetlinkError::Exists { .. })),
        "{:?}",
        again.0
    );
    assert!(
        matches!(again.1, Err(NetlinkError::Exists { .. })),
        "{:?}",
        again.1
    );

    let t100 = ns.ip_json(&["route", "show", "table", "100"]);
    let t100 = t100.as_array().unwrap();
    let r = t100
        .iter()
        .find(|r| r["dst"] == "10.200.9.0/24")
        .expect("via route");
    assert_eq!(r["gateway"], "10.200.2.254");
    assert_eq!(r["dev"], "d0");
    assert_eq!(r["metric"], 50);
    let r = t100
        .iter()
        .find(|r| r["dst"] == "10.200.10.0/24")
        .expect("blackhole");
    assert_eq!(r["type"], "blackhole");
    let t100v6 = ns.ip_json(&["-6", "route", "show", "table", "100"]);
    let r = t100v6
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["dst"] == "fd00:9::/64")
        .expect("unreachable v6");
    assert_eq!(r["type"], "unreachable");
    let main = ns.ip_json(&["-d", "route", "show"]);
    let r = main
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["dst"] == "10.200.11.0/24")
        .expect("dev route in main");
    assert_eq!(r["scope"], "link");
    assert_eq!(r["protocol"], "boot");

    let rules4 = ns.ip_json(&["rule", "show"]);
    let r = rules4
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["priority"] == 1000)
        .expect("v4 rule");
    assert_eq!(r["src"], "10.200.2.0");
    assert_eq!(r["srclen"], 24);
    assert_eq!(r["fwmark"], "0x7");
    assert_eq!(r["table"], "100");
    let rules6 = ns.ip_json(&["-6", "rule", "show"]);
    let r = rules6
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["priority"] == 1001)
        .expect("v6 rule");
    assert_eq!(r["dst"], "fd00:3::");
    assert_eq!(r["dstlen"], 64);
    assert_eq!(r["iif"], "d0");
    assert_eq!(r["action"], "prohibit");

    let (r, u) = (routes.clone(), rules.clone());
    let again = ns.run(move || {
        let mut nl = Netlink::open().unwrap();
        for route in &r {
            nl.del_route(route).unwrap();
        }
        for rule in &u {
            nl.del_rule(rule).unwrap();
        }
        (nl.del_route(&r[0]), nl.del_rule(&u[0]))
    });
    assert!(
        matches!(again.0, Err(NetlinkError::NotFound { .. })),
        "{:?}",
        again.0
    );
    assert!(
        matches!(again.1, Err(NetlinkError::NotFound { .. })),
        "{:?}",
        again.1
    );
    assert!(again.0.as_ref().unwrap_err().already_done());
    assert_eq!(ns.ip(&["route", "show", "table", "100"]).trim(), "");
    assert_eq!(ns.ip(&["-6", "route", "show", "table", "100"]).trim(), "");
    let left = ns.ip_json(&["rule", "show"]);
    assert!(!left
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["priority"] == 1000));
    let left = ns.ip_json(&["-6", "rule", "show"]);
    assert!(!left
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["priority"] == 1001));
}

#[test]
fn links_and_addresses() {
    let Some(ns) = Ns::new("links_and_addresses") else {
        return;
    };
    add_veth(&ns, "d0", true);
    ns.ip(&["link", "set", "d0", "address", "02:00:0a:c8:03:01"]);
    add_veth(&ns, "d1", false);
    ns.ip(&["addr", "add", "10.200.3.1/24", "dev", "d0"]);
    ns.ip(&[
        "addr",
        "add",
        "10.200.3.2/24",
        "dev",
        "d0",
        "label",
        "d0:two",
    ]);
    let (links, addrs) = ns.run(|| {
        let mut nl = Netlink::open().unwrap();
        (nl.links().unwrap(), nl.addresses().unwrap())
    });
    let d0 = links.iter().find(|l| l.name == "d0").expect("d0 listed");
    assert!(d0.up && d0.running, "{d0:?}");
    assert_eq!(d0.mac, Some([0x02, 0x00, 0x0a, 0xc8, 0x03, 0x01]));
    let d1 = links.iter().find(|l| l.name == "d1").expect("d1 listed");
    assert!(!d1.up && !d1.running, "{d1:?}");
    assert!(links.iter().any(|l| l.name == "lo"));
    let json = ns.ip_json(&["link", "show", "d0"]);
    assert_eq!(json[0]["ifindex"], d0.ifindex);

    let a = addrs
        .iter()
        .find(|a| a.address == ip("10.200.3.1"))
        .expect("10.200.3.1 listed");
    assert_eq!(a.ifindex, d0.ifindex);
    assert_eq!(a.prefix_len, 24);
    assert_eq!(a.label.as_deref(), Some("d0"));
    let b = addrs
        .iter()
        .find(|a| a.address == ip("10.200.3.2"))
        .expect("10.200.3.2 listed");
    assert_eq!(b.label.as_deref(), Some("d0:two"));
}

#[test]
fn watcher_sees_address_link_carrier_and_recreation() {
    let Some(ns) = Ns::new("watcher_sees_address_link_carrier_and_recreation") else {
        return;
    };
    add_veth(&ns, "d0", true);
    ns.ip(&["addr", "add", "10.200.4.1/24", "dev", "d0"]);
    ns.ip(&["link", "add", "v0", "type", "veth", "peer", "name", "v1"]);
    ns.ip(&["link", "set", "v0", "up"]);
    ns.ip(&["link", "set", "v1", "up"]);
    let name = ns.name.clone();
    ns.run(move || {
        let ipn = |args: &[&str]| {
            let mut all = vec!["-n", name.as_str()];
            all.extend_from_slice(args);
            run_ok("ip", &all);
        };
        let mut nl = Netlink::open().unwrap();
        let mut w = Watcher::open().unwrap();
        assert!(std::os::fd::AsRawFd::as_raw_fd(&w) >= 0);
        let d0 = nl.ifindex("d0").unwrap().unwrap();
        let v0 = nl.ifindex("v0").unwrap().unwrap();

        // Wait until v0 has carrier (veth carrier comes up asynchronously).
        let deadline = Instant::now() + Duration::from_secs(10);
        while !nl.links().unwrap().iter().any(|l| l.ifindex == v0 && l.running) {
            assert!(Instant::now() < deadline, "v0 never got carrier");
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = w.next_events(Duration::ZERO).unwrap();

        // Our own add is seen too.
        nl.add_address(&AddressSpec::new(d0, ip("10.200.4.9"), 32)).unwrap();
        wait_for(&mut w, "10.200.4.9 added", |e| {
            matches!(e, Event::AddressAdded(a) if a.address == ip("10.200.4.9") && a.ifindex == d0)
        });

        // An address removed from outside.
        ipn(&["addr", "del", "10.200.4.1/24", "dev", "d0"]);
        wait_for(&mut w, "10.200.4.1 removed", |e| {
            matches!(e, Event::AddressRemoved(a)
                if a.address == ip("10.200.4.1") && a.ifindex == d0 && a.prefix_len == 24)
        });

        // Admin down.
        ipn(&["link", "set", "d0", "down"]);
        wait_for(&mut w, "d0 down", |e| {
            matches!(e, Event::Link { ifindex, up: false, running: false, name }
                if *ifindex == d0 && name == "d0")
        });

        // Carrier loss: the peer goes down, v0 stays admin-up but stops running.
        ipn(&["link", "set", "v1", "down"]);
        wait_for(&mut w, "v0 carrier loss", |e| {
            matches!(e, Event::Link { ifindex, up: true, running: false, .. } if *ifindex == v0)
        });
        ipn(&["link", "set", "v1", "up"]);
        wait_for(&mut w, "v0 carrier back", |e| {
            matches!(e, Event::Link { ifindex, up: true, running: true, .. } if *ifindex == v0)
        });

        // Deleted and re-created: a new index under the same name.
        ipn(&["link", "del", "d0"]);
        wait_for(&mut w, "d0 deleted", |e| {
            matches!(e, Event::LinkDeleted { ifindex, name } if *ifindex == d0 && name == "d0")
        });
        ipn(&["link", "add", "d0", "type", "veth", "peer", "name", "d0p"]);
        let e = wait_for(&mut w, "d0 re-created", |e| {
            matches!(e, Event::Link { name, .. } if name == "d0")
        });
        let Event::Link { ifindex, .. } = e else {
            unreachable!()
        };
        assert_ne!(ifindex, d0, "re-created link has a new index");
        assert_eq!(nl.ifindex("d0").unwrap(), Some(ifindex));

        // A quiet watcher returns empty after its timeout.
        let _ = w.next_events(Duration::from_millis(100)).unwrap();
        let t = Instant::now();
        assert!(w.next_events(Duration::from_millis(100)).unwrap().is_empty());
        assert!(t.elapsed() >= Duration::from_millis(90));
    });
}
