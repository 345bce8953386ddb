//! Round trip: the renderer writes a model that reads back as the same model (locations
//! aside), on generated models (proptest) and on every fixture.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use ka_config::diag::Location;
use ka_config::env::FakeEnvironment;
use ka_config::model::Config;
use ka_config::preprocess::Options;
use ka_config::render::render;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

fn opts() -> Options {
    Options {
        config_id: "testhost".into(),
        ..Options::default()
    }
}

/// A temporary directory removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "ka-roundtrip-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn load_text(text: &str) -> ka_config::Loaded {
    let dir = TempDir::new();
    let path = dir.0.join("keepalived.conf");
    std::fs::write(&path, text).unwrap();
    ka_config::load(&path, &opts(), &FakeEnvironment::lab())
}

/// Removes every "location" key, recursively.
fn strip_locations(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.remove("location");
            for x in m.values_mut() {
                strip_locations(x);
            }
        }
        Value::Array(a) => {
            for x in a {
                strip_locations(x);
            }
        }
        _ => {}
    }
}

fn without_locations(c: &Config) -> Value {
    let mut v = serde_json::to_value(c).unwrap();
    strip_locations(&mut v);
    v
}

/// The first difference between two JSON values, as a path.
fn first_difference(a: &Value, b: &Value, path: &str) -> Option<String> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for (k, va) in x {
                match y.get(k) {
                    Some(vb) => {
                        if let Some(d) = first_difference(va, vb, &format!("{path}.{k}")) {
                            return Some(d);
                        }
                    }
                    None => return Some(format!("{path}.{k}: missing on the right")),
                }
            }
            y.keys()
                .find(|k| !x.contains_key(*k))
                .map(|k| format!("{path}.{k}: missing on the left"))
        }
        (Value::Array(x), Value::Array(y)) => {
            for (n, (va, vb)) in x.iter().zip(y).enumerate() {
                if let Some(d) = first_difference(va, vb, &format!("{path}[{n}]")) {
                    return Some(d);
                }
            }
            (x.len() != y.len()).then(|| format!("{path}: length {} vs {}", x.len(), y.len()))
        }
        _ => (a != b).then(|| format!("{path}: {a} vs {b}")),
    }
}

// ------------------------------------------------------------------------------------------
// Fixtures

fn fixtures_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures")
}

fn uses_includes_or_args(text: &str) -> bool {
    text.lines().any(|l| {
        let t = l.trim_start();
        t.starts_with("# ARGS:")
            || t.split_whitespace()
                .next()
                .is_some_and(|w| w.starts_with("include"))
    }) || text.contains("include ")
}

#[test]
fn every_fixture_round_trips() {
    let mut checked = 0;
    let mut failures = Vec::new();
    for dir in ["configs", "hard", "lvs"] {
        let Ok(entries) = std::fs::read_dir(fixtures_root().join(dir)) else {
            continue;
        };
        let mut files: Vec<PathBuf> = entries.filter_map(|e| e.ok()).map(|e| e.path()).collect();
        files.sort();
        for file in files {
            if file.extension().is_none_or(|e| e != "conf") {
                continue;
            }
            if std::fs::symlink_metadata(&file).is_ok_and(|m| m.file_type().is_symlink()) {
                continue;
            }
            let bytes = std::fs::read(&file).unwrap();
            let text = String::from_utf8_lossy(&bytes);
            if uses_includes_or_args(&text) {
                continue;
            }
            let m1 = ka_config::load(&file, &opts(), &FakeEnvironment::lab());
            if matches!(m1.diagnostics.exit_code(), 2 | 4) {
                continue;
            }
            let rendered = render(&m1.config);
            let m2 = load_text(&rendered);
            let (a, b) = (without_locations(&m1.config), without_locations(&m2.config));
            if a != b {
                failures.push(format!(
                    "{}: {}\n--- rendered:\n{rendered}",
                    file.display(),
                    first_difference(&a, &b, "").unwrap_or_default()
                ));
            }
            checked += 1;
        }
    }
    eprintln!(
        "{checked} fixtures round-tripped, {} failed",
        failures.len()
    );
    assert!(checked > 50, "only {checked} fixtures found");
    assert!(
        failures.is_empty(),
        "{} fixtures do not round-trip:\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

// ------------------------------------------------------------------------------------------
// Parser fixes found by rendering models and checking them with keepalived 2.2.7

const VI: &str = "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 51\n virtual_ipaddress { 10.0.0.100/24 }\n";

#[test]
fn startup_delay_zero_is_out_of_range() {
    // keepalived: "number '0' outside range [0.001000, 4294.967295]".
    for bad in ["0", "0.0005", "4295"] {
        let l = load_text(&format!("global_defs {{\n vrrp_startup_delay {bad}\n}}\n"));
        assert_eq!(l.diagnostics.exit_code(), 5, "{bad}");
    }
    let l = load_text("global_defs {\n vrrp_startup_delay 4294.967295\n}\n");
    assert_eq!(l.config.global.vrrp_startup_delay_us, 4_294_967_295);
    assert_eq!(l.diagnostics.exit_code(), 0);
}

#[test]
fn strict_mode_clears_lower_prio_garp_delay() {
    let l = load_text(&format!("{VI} strict_mode true\n}}\n"));
    assert_eq!(l.config.instances[0].garp_lower_prio_delay, 0);
    assert_eq!(l.diagnostics.exit_code(), 0, "{:?}", l.diagnostics);
    for bad in [
        "garp_lower_prio_delay 5",
        "garp_lower_prio_repeat 2",
        "lower_prio_no_advert false",
        "higher_prio_send_advert true",
    ] {
        let l = load_text(&format!("{VI} strict_mode true\n {bad}\n}}\n"));
        assert_eq!(l.diagnostics.exit_code(), 5, "{bad}");
        let i = &l.config.instances[0];
        assert_eq!(
            (i.garp_lower_prio_delay, i.garp_lower_prio_repeat),
            (0, 0),
            "{bad}"
        );
        assert!(
            i.lower_prio_no_advert && !i.higher_prio_send_advert,
            "{bad}"
        );
    }
    for ok in ["garp_lower_prio_delay 0", "lower_prio_no_advert true"] {
        let l = load_text(&format!("{VI} strict_mode true\n {ok}\n}}\n"));
        assert_eq!(l.diagnostics.exit_code(), 0, "{ok}");
    }
}

#[test]
fn sync_groups_do_not_take_instance_only_notifies() {
    for kw in ["notify_deleted", "notify_master_rx_lower_pri"] {
        let l = load_text(&format!(
            "{VI}}}\nvrrp_sync_group G {{\n group {{\n VI_1\n }}\n {kw} /bin/true\n}}\n"
        ));
        assert_eq!(l.diagnostics.exit_code(), 5, "{kw}");
        assert_eq!(l.config.sync_groups[0].notify, Default::default(), "{kw}");
    }
}

const VS: &str = "virtual_server 10.0.0.1 80 {\n protocol TCP\n lvs_sched rr\n lvs_method NAT\n";

#[test]
fn misc_timeout_is_whole_seconds() {
    // keepalived: "number '1.5' invalid", "number '4295' outside range [0, 4294]".
    for (value, want) in [
        ("0", Some(0)),
        ("4294", Some(4_294_000_000)),
        ("1.5", None),
        ("4295", None),
    ] {
        let l = load_text(&format!(
            "global_defs {{\n enable_script_security\n script_user root\n}}\n{VS} real_server 10.0.0.2 80 {{\n MISC_CHECK {{\n misc_path /bin/true\n misc_timeout {value}\n }}\n }}\n}}\n"
        ));
        let c = &l.config.virtual_servers[0].real_servers[0].checkers[0];
        let ka_config::model::lvs::CheckerKind::Misc(m) = &c.kind else {
            panic!("{value}: not a MISC_CHECK");
        };
        assert_eq!(m.timeout_us, want, "{value}");
        assert_eq!(l.diagnostics.exit_code() == 5, want.is_none(), "{value}");
    }
}

#[test]
fn dns_check_name_with_empty_label_is_ignored() {
    // keepalived's test also rejects a one-character first label ("m.com").
    for (name, want) in [
        (".", "."),
        ("example.com", "example.com"),
        ("ab.c", "ab.c"),
        ("m.com", "."),
        ("a..b", "."),
        (".com", "."),
    ] {
        let l = load_text(&format!(
            "{VS} real_server 10.0.0.2 80 {{\n DNS_CHECK {{\n name {name}\n }}\n }}\n}}\n"
        ));
        let c = &l.config.virtual_servers[0].real_servers[0].checkers[0];
        let ka_config::model::lvs::CheckerKind::Dns(dc) = &c.kind else {
            panic!("{name}: not a DNS_CHECK");
        };
        assert_eq!(dc.name, want, "{name}");
        assert_eq!(l.diagnostics.exit_code() == 5, want != name, "{name}");
    }
}

#[test]
fn ha_suspend_is_cleared_with_fwmarks() {
    let rs = " real_server 10.0.0.2 80 {\n weight 1\n }\n ha_suspend\n lvs_sched rr\n lvs_method NAT\n}\n";
    let cases = [
        (format!("virtual_server 10.0.0.1 80 {{\n protocol TCP\n{rs}"), true),
        (format!("virtual_server fwmark 5 {{\n{rs}"), false),
        (
            format!("virtual_server_group G {{\n 10.0.0.1 80\n fwmark 7\n}}\nvirtual_server group G {{\n protocol TCP\n{rs}"),
            false,
        ),
        (
            format!("virtual_server_group G {{\n 10.0.0.1 80\n}}\nvirtual_server group G {{\n protocol TCP\n{rs}"),
            true,
        ),
    ];
    for (text, kept) in cases {
        let l = load_text(&text);
        assert_eq!(l.config.virtual_servers[0].ha_suspend, kept, "{text}");
        assert_eq!(l.diagnostics.exit_code() == 5, !kept, "{text}");
    }
}

#[test]
fn fwmark_group_servers_are_rendered_without_protocol() {
    // A group of fwmarks has no protocol: writing one makes keepalived warn.
    let l = load_text(
        "virtual_server_group G {\n fwmark 7\n}\nvirtual_server group G {\n lvs_sched rr\n lvs_method NAT\n real_server 10.0.0.2 80 {\n weight 1\n }\n}\n",
    );
    assert_eq!(l.diagnostics.exit_code(), 0, "{:?}", l.diagnostics);
    let text = render(&l.config);
    assert!(!text.contains("protocol"), "{text}");
    assert_eq!(load_text(&text).diagnostics.exit_code(), 0, "{text}");
}

// ------------------------------------------------------------------------------------------
// Generated models

mod gen {
    use super::*;
    use ka_config::keywords::{self, Status};
    use ka_config::model::script::{split_command, Script};
    use ka_config::model::*;
    use ka_config::render::quote_argv;
    use proptest::collection::vec;
    use proptest::option::of;
    use proptest::prelude::*;
    use proptest::sample::select;
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
    use std::sync::Arc;

    pub const IFACES: &[&str] = &["eth0", "eth1", "eth2", "ha", "mgt"];

    thread_local! {
        static FILE: Arc<PathBuf> = Arc::new(PathBuf::from("/generated/keepalived.conf"));
    }

    pub fn loc(line: u32) -> Location {
        FILE.with(|f| Location::new(f.clone(), line, 1))
    }

    fn iface() -> impl Strategy<Value = String> {
        select(IFACES).prop_map(String::from)
    }

    /// Words that need quoting (spaces, comment and brace characters) or not.
    fn text() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-zA-Z][a-zA-Z0-9_.-]{0,10}",
            "[a-zA-Z][a-zA-Z0-9 #!{}_.-]{0,10}[a-z]",
        ]
    }

    fn word() -> impl Strategy<Value = String> {
        "[a-z][a-z0-9_]{0,8}"
    }

    fn v4() -> impl Strategy<Value = Ipv4Addr> {
        (1u8..=223, any::<[u8; 3]>()).prop_map(|(a, [b, c, d])| Ipv4Addr::new(a, b, c, d))
    }

    fn v6() -> impl Strategy<Value = Ipv6Addr> {
        any::<[u16; 4]>().prop_map(|[a, b, c, d]| Ipv6Addr::new(0xfd00, a, b, 0, 0, 0, c, d))
    }

    fn ip(v6_family: bool) -> BoxedStrategy<IpAddr> {
        if v6_family {
            v6().prop_map(IpAddr::V6).boxed()
        } else {
            v4().prop_map(IpAddr::V4).boxed()
        }
    }

    /// A script whose command splits into the generated words.
    pub fn script(with_user: bool) -> impl Strategy<Value = Script> {
        let arg = prop_oneof![
            "[a-zA-Z0-9_./=-]{1,8}",
            "[a-zA-Z0-9 '\"#!{}$_./=\\\\-]{0,8}",
        ];
        let users = if with_user {
            of((
                select(&["root", "nobody"][..]),
                of(select(&["root", "nogroup"][..])),
            ))
            .boxed()
        } else {
            Just(None).boxed()
        };
        (
            select(&["/bin/true", "/bin/false", "true"][..]),
            vec(arg, 0..4),
            any::<bool>(),
            users,
        )
            .prop_map(|(prog, args, canonical, user)| {
                let mut argv = vec![prog.to_string()];
                argv.extend(args);
                let plain = argv.iter().all(|w| {
                    !w.is_empty()
                        && w.chars()
                            .all(|c| c.is_ascii_alphanumeric() || "_./=-".contains(c))
                });
                let command = if plain && !canonical {
                    argv.join(" ")
                } else {
                    quote_argv(&argv)
                };
                let split = split_command(&command).expect("generated command splits");
                assert_eq!(split, argv, "quote_argv must round-trip: {command}");
                Script {
                    command,
                    argv,
                    user: user.map(|(u, _)| u.to_string()),
                    group: user.and_then(|(_, g)| g.map(String::from)),
                }
            })
    }

    fn run_as() -> impl Strategy<Value = RunAs> {
        (
            select(&["root", "nobody"][..]),
            of(select(&["root", "nogroup"][..])),
        )
            .prop_map(|(u, g)| RunAs {
                user: u.into(),
                group: g.map(String::from),
            })
    }

    fn fifo(n: u32) -> impl Strategy<Value = NotifyFifo> {
        (of(of(run_as())), of(script(true))).prop_map(move |(p, s)| NotifyFifo {
            path: p.as_ref().map(|_| format!("/run/fifo{n}")),
            owner: p.flatten(),
            script: s,
        })
    }

    pub fn global() -> impl Strategy<Value = GlobalDefs> {
        let mail = (
            of(text()),
            vec("[a-z]{1,6}@[a-z]{1,6}\\.com", 0..3),
            of("[a-z]{1,6}@[a-z]{1,6}\\.com"),
            of((
                prop_oneof![v4().prop_map(|a| a.to_string()), Just("localhost".into())],
                1u16..=65535,
            )),
            of(word()),
            1u32..=3600,
            of(any::<bool>()),
            of(any::<bool>()),
            of(run_as()),
            any::<bool>(),
        );
        let vrrp = (
            2u8..=3,
            (224u8..=239, any::<[u8; 3]>()),
            any::<u16>(),
            0u32..=100,
            1u32..=100,
            0u32..=3600,
            0u32..=100,
            of(0u32..=100),
            of(0u32..=100),
            prop_oneof![Just(0u64), (1u64..=1000).prop_map(|ms| ms * 1000)],
            prop_oneof![Just(0u64), (1u64..=1000).prop_map(|ms| ms * 1000)],
            any::<[bool; 8]>(),
        );
        let rest = (
            prop_oneof![Just(0u64), (1u64..=60).prop_map(|s| s * 1_000_000)],
            1u32..=100,
            fifo(1),
            fifo(2),
            of(-1i32..=99),
            1000u64..=1_000_000,
            of(of("/tmp/[a-z]{1,8}\\.log")),
            any::<[bool; 2]>(),
            of(script(true)),
            of(script(true)),
        );
        (mail, vrrp, rest).prop_map(|(m, v, r)| GlobalDefs {
            router_id: m.0,
            notification_email: m.1,
            notification_email_from: m.2,
            smtp_server: m.3.map(|(host, port)| SmtpServer { host, port }),
            smtp_helo_name: m.4,
            smtp_connect_timeout: m.5,
            smtp_alert: m.6,
            smtp_alert_vrrp: m.7,
            script_user: m.8,
            enable_script_security: m.9,
            vrrp_version: v.0,
            vrrp_mcast_group4: IpAddr::V4(Ipv4Addr::new(v.1 .0, v.1 .1[0], v.1 .1[1], v.1 .1[2])),
            vrrp_mcast_group6: IpAddr::V6(Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, v.2)),
            vrrp_garp_master_delay: v.3,
            vrrp_garp_master_repeat: v.4,
            vrrp_garp_master_refresh: v.5,
            vrrp_garp_master_refresh_repeat: v.6,
            vrrp_garp_lower_prio_delay: v.7,
            vrrp_garp_lower_prio_repeat: v.8,
            vrrp_garp_interval_us: v.9,
            vrrp_gna_interval_us: v.10,
            vrrp_min_garp: v.11[0],
            vrrp_strict: v.11[1],
            vrrp_check_unicast_src: v.11[2],
            vrrp_skip_check_adv_addr: v.11[3],
            vrrp_lower_prio_no_advert: v.11[4],
            vrrp_higher_prio_send_advert: v.11[5],
            dynamic_interfaces: v.11[6],
            vrrp_startup_delay_us: r.0,
            vrrp_down_timer_adverts: r.1,
            notify_fifo: r.2,
            vrrp_notify_fifo: r.3,
            lvs_notify_fifo: Default::default(),
            max_auto_priority: r.4,
            min_auto_priority_delay_us: r.5,
            vrrp_rt_priority: r.4.filter(|p| *p > 0),
            reload_check_config: r.6.is_some(),
            reload_check_config_log: r.6.flatten(),
            vrrp_notify_priority_changes: r.7[0],
            fifo_write_vrrp_states_on_reload: r.7[1],
            startup_script: r.8,
            shutdown_script: r.9,
            lvs: Default::default(),
        })
    }

    pub fn address(v6_family: bool) -> impl Strategy<Value = VirtualAddress> {
        let max = if v6_family { 128 } else { 32 };
        (
            ip(v6_family),
            0u8..=max,
            of(prop_oneof![
                Just("+".to_string()),
                Just("-".to_string()),
                v4().prop_map(|a| a.to_string())
            ]),
            of(iface()),
            of(select(&["site", "link", "host", "global", "nowhere"][..])),
            of(word()),
            of(ip(v6_family).prop_map(|a| a.to_string())),
            vec(
                select(&["home", "-nodad", "mngtmpaddr", "noprefixroute", "autojoin"][..]),
                0..3,
            ),
            any::<bool>(),
            of(select(&["forever", "0", "300"][..])),
        )
            .prop_map(
                |(address, prefix_len, brd, dev, scope, label, peer, flags, nt, lft)| {
                    VirtualAddress {
                        address,
                        prefix_len,
                        broadcast: brd,
                        dev,
                        scope: scope.map(String::from),
                        label,
                        peer,
                        flags: flags.into_iter().map(String::from).collect(),
                        no_track: nt,
                        preferred_lft: lft.map(String::from),
                        location: loc(0),
                    }
                },
            )
    }

    pub fn route() -> impl Strategy<Value = RouteLine> {
        let opt = prop_oneof![
            v4().prop_map(|a| ("via".to_string(), a.to_string())),
            v4().prop_map(|a| ("src".to_string(), a.to_string())),
            (1u32..=252).prop_map(|t| ("table".to_string(), t.to_string())),
            (0u32..=1000).prop_map(|m| ("metric".to_string(), m.to_string())),
            Just(("scope".to_string(), "link".to_string())),
            Just(("onlink".to_string(), String::new())),
        ];
        (
            of(select(
                &["unicast", "blackhole", "unreachable", "prohibit", "throw"][..],
            )),
            prop_oneof![
                Just("default".to_string()),
                (v4(), 0u8..=32).prop_map(|(a, l)| format!("{a}/{l}"))
            ],
            vec(opt, 0..3),
            iface(),
            any::<bool>(),
        )
            .prop_map(|(kind, to, mut options, dev, no_track)| RouteLine {
                to,
                kind: kind.map(String::from),
                options: {
                    options.push(("dev".to_string(), dev));
                    options
                },
                no_track,
                location: loc(0),
            })
    }

    pub fn rule() -> impl Strategy<Value = RuleLine> {
        any::<bool>().prop_flat_map(|v6f| {
            let pfx = move || {
                (ip(v6f), 0u8..=if v6f { 128 } else { 32 }).prop_map(|(a, l)| format!("{a}/{l}"))
            };
            let opt = prop_oneof![
                pfx().prop_map(|p| ("from".to_string(), p)),
                pfx().prop_map(|p| ("to".to_string(), p)),
                (1u32..=255).prop_map(|t| ("fwmark".to_string(), t.to_string())),
                Just(("not".to_string(), String::new())),
            ];
            (
                vec(opt, 0..3),
                prop_oneof![
                    (1u32..=252).prop_map(|t| t.to_string()),
                    Just("main".to_string())
                ],
                1u32..=32000,
                any::<bool>(),
                any::<bool>(),
            )
                .prop_map(move |(mut options, table, pref, inet6, no_track)| {
                    options.push(("table".to_string(), table));
                    options.push(("preference".to_string(), pref.to_string()));
                    RuleLine {
                        options,
                        inet6: v6f && inet6,
                        no_track,
                        location: loc(0),
                    }
                })
        })
    }

    /// Track references to `names` (or any word when empty).
    fn tracks(names: Vec<String>, max_w: i32) -> BoxedStrategy<Vec<TrackRef>> {
        if names.is_empty() {
            return Just(vec![]).boxed();
        }
        let name = select(names);
        vec(
            (name, of((-max_w..=max_w, any::<bool>()))).prop_map(|(name, w)| TrackRef {
                name,
                weight: w.map(|(w, _)| w),
                reverse: w.is_some_and(|(_, r)| r),
                location: loc(0),
            }),
            0..3,
        )
        .prop_map(|mut v| {
            let mut seen = std::collections::BTreeSet::new();
            v.retain(|t| seen.insert(t.name.clone()));
            v
        })
        .boxed()
    }

    fn notify() -> impl Strategy<Value = Notify> {
        vec(of(script(true)), 7).prop_map(|mut v| Notify {
            master_rx_lower_pri: v.pop().flatten(),
            generic: v.pop().flatten(),
            deleted: v.pop().flatten(),
            stop: v.pop().flatten(),
            fault: v.pop().flatten(),
            backup: v.pop().flatten(),
            master: v.pop().flatten(),
        })
    }

    pub fn vrrp_script(n: usize) -> impl Strategy<Value = VrrpScript> {
        (
            script(true),
            (1u64..=3600).prop_map(|s| s * 1_000_000),
            (1u64..=3600).prop_map(|s| s * 1_000_000),
            -253i32..=253,
            any::<bool>(),
            1u32..=1000,
            1u32..=1000,
            any::<bool>(),
        )
            .prop_map(
                move |(script, interval_us, timeout_us, weight, rev, rise, fall, init_fail)| {
                    VrrpScript {
                        name: format!("chk_{n}"),
                        script: Some(script),
                        interval_us,
                        timeout_us,
                        weight,
                        weight_reverse: rev,
                        rise,
                        fall,
                        init_fail,
                        location: loc(0),
                    }
                },
            )
    }

    pub fn track_file(n: usize) -> impl Strategy<Value = TrackFile> {
        (
            Just(Some(format!("/run/track{n}"))),
            -254i64..=254,
            any::<bool>(),
            of((-254i64..=254, any::<bool>())),
        )
            .prop_map(move |(file, weight, rev, init)| TrackFile {
                name: format!("tf_{n}"),
                file,
                weight,
                weight_reverse: rev,
                init_file: init.map(|(value, overwrite)| InitFile { value, overwrite }),
                location: loc(0),
            })
    }

    pub fn track_process(n: usize) -> impl Strategy<Value = TrackProcess> {
        (
            vec(text(), 1..3).prop_map(Some),
            of(select(&["initial", "partial"][..])),
            -254i32..=254,
            any::<bool>(),
            1u32..=100,
            of(0u32..=100),
            of((1u64..=60).prop_map(|s| s * 1_000_000)),
            of((1u64..=60).prop_map(|s| s * 1_000_000)),
            of((1u64..=60).prop_map(|s| s * 1_000_000)),
            any::<bool>(),
        )
            .prop_map(
                move |(process, pm, weight, rev, quorum, qmax, fd, td, dl, full)| TrackProcess {
                    name: format!("tp_{n}"),
                    process,
                    param_match: pm.map(String::from),
                    weight,
                    weight_reverse: rev,
                    quorum,
                    quorum_max: qmax.map(|m| quorum + m),
                    fork_delay_us: fd,
                    terminate_delay_us: td,
                    delay_us: dl,
                    full_command: full,
                    location: loc(0),
                },
            )
    }

    /// Names that other objects may refer to.
    #[derive(Clone, Debug)]
    pub struct Names {
        pub scripts: Vec<String>,
        pub files: Vec<String>,
        pub procs: Vec<String>,
    }

    pub fn instance(n: usize, g: GlobalDefs, names: Names) -> impl Strategy<Value = Instance> {
        let v6_family = any::<bool>();
        (v6_family, any::<bool>()).prop_flat_map(move |(v6f, strict)| {
            let g = g.clone();
            let names = names.clone();
            let head = (
                any::<bool>(),
                iface(),
                1u8..=255,
                2u8..=3,
                (1u32..=255, 1u32..=4095),
                of(prop_oneof![
                    "[a-zA-Z0-9]{1,8}".prop_map(Auth::Pass),
                    "[a-zA-Z0-9]{1,8}".prop_map(Auth::Ah)
                ]),
                vec(address(v6f), 0..3),
                vec(any::<bool>().prop_flat_map(address), 0..2),
                vec(route(), 0..3),
                vec(rule(), 0..2),
            );
            let tracks_ = (
                tracks(IFACES.iter().map(|s| s.to_string()).collect(), 253),
                tracks(names.scripts.clone(), 253),
                tracks(names.files.clone(), 254),
                tracks(names.procs.clone(), 254),
                tracks(vec!["bfd1".into(), "bfd2".into()], 253),
                any::<[bool; 4]>(),
                (0u64..=1000).prop_map(|s| s * 1_000_000),
                of(ip(v6f)),
                of(ip(v6f)),
                vec(
                    (ip(v6f), of(any::<u8>()), of(any::<u8>())).prop_map(|(address, a, b)| {
                        // min_ttl <= max_ttl, or keepalived discards every packet.
                        let (a, b) = match (a, b) {
                            (Some(x), Some(y)) => (Some(x.min(y)), Some(x.max(y))),
                            other => other,
                        };
                        UnicastPeer {
                            address,
                            min_ttl: a,
                            max_ttl: b,
                        }
                    }),
                    0..3,
                ),
                1u8..=255,
            );
            let tail = (
                of((of(Just(format!("vmac{n}"))), of(any::<u8>()))),
                (
                    0u32..=100,
                    0u32..=100,
                    0u32..=3600,
                    0u32..=100,
                    0u32..=100,
                    0u32..=100,
                ),
                of((any::<bool>(), 0u32..=3600)),
                any::<[bool; 6]>(),
                1u32..=100,
                notify(),
                of(any::<bool>()),
                of(any::<bool>()),
            );
            (head, tracks_, tail).prop_map(move |(h, t, r)| {
                // keepalived clears state MASTER when authentication is AH.
                let ah = matches!(h.5, Some(Auth::Ah(_)));
                let state = if h.0 && !ah {
                    InitialState::Master
                } else {
                    InitialState::Backup
                };
                let v6 = h.6.first().is_some_and(|a| a.address.is_ipv6());
                let version = if v6 { 3 } else { h.3 };
                let advert_int_cs = if version == 2 { h.4 .0 * 100 } else { h.4 .1 };
                let peers_empty = t.9.is_empty();
                let vmac = r.0.is_some();
                Instance {
                    name: format!("VI_{n}"),
                    state,
                    interface: Some(h.1),
                    // Distinct per instance: no VRID clash on an interface.
                    virtual_router_id: u8::try_from(n % 255 + 1).unwrap(),
                    priority: h.2,
                    version,
                    advert_int_cs,
                    authentication: if version == 2 && !strict { h.5 } else { None },
                    virtual_ipaddress: h.6,
                    virtual_ipaddress_excluded: h.7,
                    virtual_routes: h.8,
                    virtual_rules: h.9,
                    track_interface: t.0,
                    track_script: t.1,
                    track_file: t.2,
                    track_process: t.3,
                    track_bfd: t.4,
                    dont_track_primary: t.5[0],
                    nopreempt: t.5[1] && state == InitialState::Backup,
                    preempt_delay_us: if strict { 0 } else { t.6 },
                    unicast_src_ip: t.7,
                    mcast_src_ip: t.8,
                    unicast_peer: t.9,
                    unicast_ttl: if peers_empty { 255 } else { t.10 },
                    check_unicast_src: g.vrrp_check_unicast_src || t.5[2],
                    use_vmac: r.0.map(|(name, mac)| Vmac {
                        name,
                        mac: mac.map(|m| format!("02:00:00:00:00:{m:02x}")),
                    }),
                    // keepalived sets it for unicast with a VMAC.
                    vmac_xmit_base: t.5[3] || (vmac && !peers_empty),
                    garp_master_delay: r.1 .0,
                    garp_master_repeat: r.1 .1,
                    garp_master_refresh: r.1 .2,
                    garp_master_refresh_repeat: r.1 .3,
                    garp_lower_prio_delay: if strict { 0 } else { r.1 .4 },
                    garp_lower_prio_repeat: if strict { 0 } else { r.1 .5 },
                    garp_extra_if: r.2,
                    accept: r.3[0],
                    strict_mode: strict,
                    skip_check_adv_addr: r.3[1],
                    down_timer_adverts: if strict { 3 } else { r.4 },
                    lower_prio_no_advert: strict || r.3[2],
                    higher_prio_send_advert: !strict && r.3[3],
                    notify: r.5,
                    smtp_alert: r.6,
                    notify_priority_changes: r.7,
                    location: loc(0),
                }
            })
        })
    }

    pub fn sync_group(
        n: usize,
        members: Vec<String>,
        names: Names,
    ) -> impl Strategy<Value = SyncGroup> {
        (
            tracks(IFACES.iter().map(|s| s.to_string()).collect(), 253),
            tracks(names.scripts, 253),
            tracks(names.files, 254),
            tracks(names.procs, 254),
            tracks(vec!["bfd1".into(), "bfd2".into()], 253),
            notify(),
            of(any::<bool>()),
            any::<bool>(),
            of(any::<bool>()),
        )
            .prop_map(move |mut t| SyncGroup {
                notify: {
                    // Instance-only notify keywords.
                    t.5.deleted = None;
                    t.5.master_rx_lower_pri = None;
                    t.5
                },
                name: format!("SG_{n}"),
                group: members.clone(),
                track_interface: t.0,
                track_script: t.1,
                track_file: t.2,
                track_process: t.3,
                track_bfd: t.4,
                smtp_alert: t.6,
                sync_group_tracking_weight: t.7,
                notify_priority_changes: t.8,
                location: loc(0),
            })
    }

    // --------------------------------------------------------------------------------------
    // LVS

    /// What a virtual server using a group needs to know about it.
    #[derive(Clone, Debug)]
    pub struct GroupInfo {
        name: String,
        v6: bool,
        fwmark_only: bool,
        any_fwmark: bool,
        zero_port: bool,
    }

    /// `/bin/true` and friends with plain arguments, maybe with a user.
    fn lvs_script() -> impl Strategy<Value = Script> {
        (
            select(&["/bin/true", "/bin/false", "true"][..]),
            vec("[a-zA-Z0-9_./=-]{1,8}", 0..3),
            // keepalived 2.2.7 -t is killed checking a script run as another user.
            of((Just("root"), of(Just("root")))),
        )
            .prop_map(|(prog, args, user)| {
                let mut argv = vec![prog.to_string()];
                argv.extend(args);
                Script {
                    command: argv.join(" "),
                    argv,
                    user: user.map(|(u, _)| u.to_string()),
                    group: user.and_then(|(_, g)| g.map(String::from)),
                }
            })
    }

    fn port() -> impl Strategy<Value = u16> {
        prop_oneof![Just(80u16), Just(443), 1u16..=65535]
    }

    fn group_entry(v6f: bool) -> BoxedStrategy<lvs::GroupEntry> {
        let family = if v6f {
            lvs::Family::Inet6
        } else {
            lvs::Family::Inet
        };
        let port = prop_oneof![1 => Just(0u16), 3 => port()];
        let single = (ip(v6f), port.clone()).prop_map(|(a, port)| (a, a, port));
        // IP-LAST: the last octet (IPv4) or group (IPv6) grows.
        let dash = (ip(v6f), any::<u16>(), port.clone()).prop_map(move |(a, span, port)| {
            let (first, last) = match a {
                IpAddr::V4(v4) => {
                    let mut o = v4.octets();
                    o[3] = o[3].min(254);
                    let lo = o[3];
                    let hi = lo + 1 + (span % u16::from(255 - lo)) as u8;
                    let mut h = o;
                    h[3] = hi;
                    (IpAddr::from(o), IpAddr::from(h))
                }
                IpAddr::V6(v6) => {
                    let mut s = v6.segments();
                    s[7] = s[7].min(0xfffe);
                    let lo = s[7];
                    let hi = lo + 1 + span % (0xffff - lo);
                    let mut h = s;
                    h[7] = hi;
                    (IpAddr::from(s), IpAddr::from(h))
                }
            };
            (first, last, port)
        });
        // IP/PREFIX, host bits clear.
        let cidr = (ip(v6f), if v6f { 112u32..=127 } else { 22u32..=31 }, port).prop_map(
            |(a, len, port)| match a {
                IpAddr::V4(v4) => {
                    let mask = u32::MAX << (32 - len);
                    let base = u32::from(v4) & mask;
                    (
                        IpAddr::from(base.to_be_bytes()),
                        IpAddr::from((base | !mask).to_be_bytes()),
                        port,
                    )
                }
                IpAddr::V6(v6) => {
                    let mask = u128::MAX << (128 - len);
                    let base = u128::from(v6) & mask;
                    (
                        IpAddr::from(base.to_be_bytes()),
                        IpAddr::from((base | !mask).to_be_bytes()),
                        port,
                    )
                }
            },
        );
        let range = prop_oneof![single, dash, cidr].prop_map(|(first, last, port)| {
            lvs::GroupEntry::Range {
                first,
                last,
                port,
                location: loc(0),
            }
        });
        let fwmark =
            (1u32..=100_000, any::<bool>()).prop_map(move |(mark, fam)| lvs::GroupEntry::Fwmark {
                mark,
                family: fam.then_some(family),
                location: loc(0),
            });
        prop_oneof![3 => range, 1 => fwmark].boxed()
    }

    pub fn server_group(n: usize) -> impl Strategy<Value = lvs::VirtualServerGroup> {
        any::<bool>()
            .prop_flat_map(|v6f| vec(group_entry(v6f), 1..4))
            .prop_map(move |entries| lvs::VirtualServerGroup {
                name: format!("VSG_{n}"),
                entries,
                location: loc(0),
            })
    }

    fn group_info(g: &lvs::VirtualServerGroup) -> GroupInfo {
        use lvs::GroupEntry as E;
        let v6 = g.entries.iter().any(|e| match e {
            E::Range { first, .. } => first.is_ipv6(),
            E::Fwmark { family, .. } => *family == Some(lvs::Family::Inet6),
        });
        GroupInfo {
            name: g.name.clone(),
            v6,
            fwmark_only: g.entries.iter().all(|e| matches!(e, E::Fwmark { .. })),
            any_fwmark: g.entries.iter().any(|e| matches!(e, E::Fwmark { .. })),
            zero_port: g
                .entries
                .iter()
                .any(|e| matches!(e, E::Range { port: 0, .. })),
        }
    }

    /// A virtual server's identity and what follows from it.
    #[derive(Clone, Debug)]
    struct KeyInfo {
        key: lvs::VirtualServerKey,
        v6: bool,
        /// The port real servers default to (0 for fwmark and group servers).
        port: u16,
        /// keepalived forces persistence (zero port).
        persist: bool,
        /// `ops` is kept (UDP or fwmark).
        ops: bool,
        /// persistence_granularity is read as IPv6.
        granularity_v6: bool,
        /// persistence_granularity may be given.
        granularity: bool,
        /// keepalived clears ha_suspend with fwmarks.
        ha_suspend: bool,
    }

    fn protocol() -> impl Strategy<Value = lvs::Protocol> {
        select(&[lvs::Protocol::Tcp, lvs::Protocol::Udp, lvs::Protocol::Sctp][..])
    }

    fn vs_key(groups: Vec<GroupInfo>) -> BoxedStrategy<KeyInfo> {
        let address = (
            any::<bool>().prop_flat_map(ip),
            prop_oneof![1 => Just(0u16), 5 => port()],
            protocol(),
        )
            .prop_map(|(address, port, protocol)| KeyInfo {
                key: lvs::VirtualServerKey::Address {
                    address,
                    port,
                    protocol,
                },
                v6: address.is_ipv6(),
                port,
                persist: port == 0,
                ops: protocol == lvs::Protocol::Udp,
                granularity_v6: address.is_ipv6(),
                granularity: true,
                ha_suspend: true,
            });
        let fwmark = (1u32..=u32::MAX, any::<bool>()).prop_map(|(mark, v6)| KeyInfo {
            key: lvs::VirtualServerKey::Fwmark {
                mark,
                family: if v6 {
                    lvs::Family::Inet6
                } else {
                    lvs::Family::Inet
                },
            },
            v6,
            port: 0,
            persist: false,
            ops: true,
            granularity_v6: v6,
            granularity: true,
            ha_suspend: false,
        });
        if groups.is_empty() {
            return prop_oneof![3 => address, 1 => fwmark].boxed();
        }
        let group = (select(groups), protocol()).prop_map(|(g, protocol)| {
            // A group of fwmarks has no protocol (the model says UDP).
            let protocol = if g.fwmark_only {
                lvs::Protocol::Udp
            } else {
                protocol
            };
            KeyInfo {
                key: lvs::VirtualServerKey::Group {
                    name: g.name.clone(),
                    protocol,
                },
                v6: g.v6,
                port: 0,
                persist: g.zero_port,
                ops: protocol == lvs::Protocol::Udp,
                // keepalived reads it before knowing the family: as IPv4.
                granularity_v6: false,
                granularity: !g.v6,
                ha_suspend: !g.any_fwmark,
            }
        });
        prop_oneof![3 => address, 1 => fwmark, 2 => group].boxed()
    }

    fn forwarding() -> impl Strategy<Value = lvs::Forwarding> {
        let tun =
            prop_oneof![
                Just(("ipip", None, None)),
                (1u16..=65535, of(select(&["nocsum", "csum", "remcsum"][..])))
                    .prop_map(|(p, c)| ("gue", Some(p), c)),
                of(select(&["nocsum", "csum"][..])).prop_map(|c| ("gre", None, c)),
            ]
            .prop_map(|(kind, port, checksum)| lvs::Forwarding::Tun {
                kind: kind.to_string(),
                port,
                checksum: checksum.map(String::from),
            });
        prop_oneof![
            2 => Just(lvs::Forwarding::Nat),
            2 => Just(lvs::Forwarding::Dr),
            1 => tun,
        ]
    }

    fn direct(f: &lvs::Forwarding) -> bool {
        matches!(f, lvs::Forwarding::Dr | lvs::Forwarding::Tun { .. })
    }

    /// Seconds, sometimes with milliseconds, in microseconds.
    fn secs_us(lo: u64, hi: u64) -> impl Strategy<Value = u64> {
        prop_oneof![
            3 => (lo..=hi).prop_map(|s| s * 1_000_000),
            1 => (lo * 1000..=hi * 1000).prop_map(|ms| ms * 1000),
        ]
        .prop_map(|us| us.max(1))
    }

    /// The inheritable checker settings one level writes.
    #[derive(Clone, Debug, Default)]
    struct Inh {
        connect_timeout: Option<u64>,
        retry: Option<u32>,
        delay_before_retry: Option<u64>,
        warmup: Option<u64>,
        delay_loop: Option<u64>,
        alpha: Option<bool>,
    }

    fn inh(min_retry: u32) -> impl Strategy<Value = Inh> {
        (
            of(secs_us(1, 30)),
            of(min_retry..=10),
            of(secs_us(0, 30)),
            of(secs_us(0, 600)),
            of(secs_us(1, 600)),
            of(any::<bool>()),
        )
            .prop_map(|(ct, r, dbr, w, dl, a)| Inh {
                connect_timeout: ct,
                retry: r,
                delay_before_retry: dbr,
                warmup: w,
                delay_loop: dl,
                alpha: a,
            })
    }

    fn hex_bytes(wild: bool) -> impl Strategy<Value = String> {
        vec((any::<u8>(), 0u8..8), 1..8).prop_map(move |v| {
            v.into_iter()
                .map(|(b, w)| {
                    if wild && w == 0 {
                        "XX".to_string()
                    } else {
                        format!("{b:02x}")
                    }
                })
                .collect()
        })
    }

    fn url() -> impl Strategy<Value = lvs::Url> {
        (
            "/[a-zA-Z0-9/._-]{0,12}",
            of("[0-9a-f]{32}"),
            vec((100u16..=599, 0u16..=99), 0..3),
            of("[a-z]{1,8}\\.example\\.com"),
            of((
                prop_oneof![
                    "[a-z]{1,8}",
                    "\\^[a-z]{1,4}\\.\\*[0-9]\\$",
                    "[a-z]{1,4} [a-z]{1,4}"
                ],
                any::<bool>(),
            )),
        )
            .prop_map(|(path, digest, codes, virtualhost, regex)| lvs::Url {
                path,
                digest,
                status_codes: if codes.is_empty() {
                    vec![(200, 299)]
                } else {
                    codes
                        .into_iter()
                        .map(|(lo, d)| (lo, (lo + d).min(599)))
                        .collect()
                },
                virtualhost,
                regex_no_match: regex.as_ref().is_some_and(|(_, n)| *n),
                regex: regex.map(|(r, _)| r),
                other: vec![],
            })
    }

    fn http() -> impl Strategy<Value = lvs::HttpCheck> {
        (
            vec(url(), 1..4),
            select(&["1.0", "1.0C", "1.1"][..]),
            any::<bool>(),
            of("[a-z]{1,8}\\.example\\.org"),
            any::<bool>(),
        )
            .prop_map(|(urls, p, fast, vh, sni)| lvs::HttpCheck {
                urls,
                http_protocol: p.to_string(),
                fast_recovery: fast,
                virtualhost: vh,
                enable_sni: sni,
            })
    }

    fn checker_kind(files: Vec<String>) -> BoxedStrategy<lvs::CheckerKind> {
        use lvs::CheckerKind as K;
        let misc = (
            lvs_script(),
            of((0u64..=4294).prop_map(|s| s * 1_000_000)),
            any::<bool>(),
        )
            .prop_map(|(script, timeout_us, dynamic)| {
                K::Misc(lvs::MiscCheck {
                    script: Some(script),
                    timeout_us,
                    dynamic,
                })
            });
        let dns = (
            select(&["A", "NS", "CNAME", "SOA", "MX", "TXT", "AAAA"][..]),
            // keepalived takes "m.com" for an empty label.
            prop_oneof![Just(".".to_string()), "[a-z]{2,8}\\.[a-z]{2,3}"],
        )
            .prop_map(|(t, name)| {
                K::Dns(lvs::DnsCheck {
                    query_type: t.to_string(),
                    name,
                })
            });
        let udp = (
            of(hex_bytes(false)),
            of(prop_oneof![1 => Just(String::new()), 4 => hex_bytes(true)]),
            0u32..=100,
            of(0u32..=65435),
        )
            .prop_map(|(payload, require_reply, min, extra)| {
                K::Udp(lvs::UdpCheck {
                    payload,
                    require_reply,
                    min_reply_length: min,
                    max_reply_length: extra.map_or(255.max(min), |e| min + e),
                })
            });
        let mut kinds = vec![
            Just(K::Tcp).boxed(),
            http().prop_map(K::Http).boxed(),
            http().prop_map(K::Ssl).boxed(),
            of("[a-z]{1,8}\\.example\\.net")
                .prop_map(|helo_name| K::Smtp { helo_name })
                .boxed(),
            misc.boxed(),
            dns.boxed(),
            udp.boxed(),
            Just(K::Ping).boxed(),
        ];
        if !files.is_empty() {
            kinds.push(
                (select(files), of((-254i64..=254, any::<bool>())))
                    .prop_map(|(t, w)| K::File {
                        track_file: Some(t),
                        weight: w.map(|(w, _)| w),
                        reverse: w.is_some_and(|(_, r)| r),
                    })
                    .boxed(),
            );
        }
        proptest::strategy::Union::new(kinds).boxed()
    }

    /// A checker under a real server of family `v6`, with the settings the virtual server
    /// (`vs`) and the real server (`rs`) pass down.
    fn checker(
        files: Vec<String>,
        v6: bool,
        vs: Inh,
        rs: Inh,
    ) -> impl Strategy<Value = lvs::Checker> {
        (
            checker_kind(files),
            inh(0),
            (
                of(ip(v6)),
                of(1u16..=65535),
                of(ip(v6)),
                of(1u16..=65535),
                of(iface()),
                of(any::<u32>()),
                any::<bool>(),
            ),
        )
            .prop_map(
                move |(kind, own, (cip, cport, bindto, bport, bif, fwm, laf))| {
                    use lvs::CheckerKind as K;
                    let block = match &kind {
                        K::Tcp => "TCP_CHECK",
                        K::Http(_) => "HTTP_GET",
                        K::Ssl(_) => "SSL_GET",
                        K::Smtp { .. } => "SMTP_CHECK",
                        K::Misc(_) => "MISC_CHECK",
                        K::Dns(_) => "DNS_CHECK",
                        K::Udp(_) => "UDP_CHECK",
                        K::Ping => "PING_CHECK",
                        K::File { .. } => "FILE_CHECK",
                        K::Bfd { .. } => "BFD_CHECK",
                    };
                    let takes = |k: &str| keywords::keyword(block, k).is_some();
                    let mine = |k: &str| takes(k);
                    // What this checker says, where it may say it.
                    let own = Inh {
                        connect_timeout: own.connect_timeout.filter(|_| mine("connect_timeout")),
                        retry: own.retry.filter(|_| mine("retry")),
                        delay_before_retry: own
                            .delay_before_retry
                            .filter(|_| mine("delay_before_retry")),
                        warmup: own.warmup.filter(|_| mine("warmup")),
                        delay_loop: own.delay_loop.filter(|_| mine("delay_loop")),
                        alpha: own.alpha.filter(|_| mine("alpha")),
                    };
                    let delay_loop = own
                        .delay_loop
                        .or(rs.delay_loop)
                        .or(vs.delay_loop)
                        .unwrap_or(60_000_000);
                    let (default_retry, default_dbr) = match block {
                        "HTTP_GET" | "SSL_GET" => (1, 3_000_000),
                        "DNS_CHECK" => (3, delay_loop),
                        "MISC_CHECK" => (0, 1_000_000),
                        _ => (1, 1_000_000),
                    };
                    let net = takes("connect_ip");
                    lvs::Checker {
                        common: lvs::CheckerCommon {
                            connect_ip: cip.filter(|_| net),
                            connect_port: cport.filter(|_| net),
                            bindto: bindto.filter(|_| net),
                            bind_port: bport.filter(|_| net),
                            bind_if: bif.filter(|_| net),
                            fwmark: fwm.filter(|_| net),
                            connect_timeout_us: own
                                .connect_timeout
                                .or(rs.connect_timeout)
                                .unwrap_or(5_000_000),
                            retry: own.retry.or(rs.retry).unwrap_or(default_retry),
                            delay_before_retry_us: own
                                .delay_before_retry
                                .or(rs.delay_before_retry)
                                .unwrap_or(default_dbr),
                            warmup_us: own.warmup.or(rs.warmup).unwrap_or(delay_loop),
                            delay_loop_us: delay_loop,
                            alpha: own.alpha.or(rs.alpha).or(vs.alpha).unwrap_or(false),
                            log_all_failures: laf && takes("log_all_failures"),
                        },
                        kind,
                        other: vec![],
                        location: loc(0),
                    }
                },
            )
    }

    /// What a virtual server passes to its real servers.
    #[derive(Clone, Debug)]
    struct VsCtx {
        key: KeyInfo,
        forwarding: lvs::Forwarding,
        inh: Inh,
        files: Vec<String>,
    }

    fn real_server(c: VsCtx) -> impl Strategy<Value = lvs::RealServer> {
        (
            ip(c.key.v6),
            port(),
            prop_oneof![3 => 1i32..=100, 1 => Just(0), 1 => 101i32..=100_000],
            of(forwarding()),
            (of(lvs_script()), of(lvs_script())),
            of((1u32..=100_000, any::<u32>())),
            (
                any::<bool>(),
                of(any::<bool>()),
                of("[a-z]{1,8}\\.example\\.com"),
            ),
            inh(1),
            raws("real_server", 1),
        )
            .prop_flat_map(
                move |(address, p, weight, fwd, notify, thr, flags, rs_inh, other)| {
                    let forwarding = fwd.unwrap_or_else(|| c.forwarding.clone());
                    // DR and TUN servers use the virtual server's port.
                    let port = if direct(&forwarding) { c.key.port } else { p };
                    let rs = lvs::RealServer {
                        key: lvs::RealServerKey { address, port },
                        weight,
                        forwarding,
                        notify_up: notify.0,
                        notify_down: notify.1,
                        uthreshold: thr.map(|(u, _)| u),
                        lthreshold: thr.map(|(u, l)| l % u),
                        inhibit_on_failure: flags.0,
                        smtp_alert: flags.1,
                        virtualhost: flags.2,
                        checkers: vec![],
                        other,
                        location: loc(0),
                    };
                    (
                        Just(rs),
                        vec(
                            checker(c.files.clone(), c.key.v6, c.inh.clone(), rs_inh),
                            0..4,
                        ),
                    )
                },
            )
            .prop_map(|(mut rs, checkers)| {
                rs.checkers = checkers;
                rs
            })
    }

    fn flags(scheduler: &str, ops: bool) -> impl Strategy<Value = Vec<String>> {
        let mut cands = vec!["flag-1", "flag-2", "flag-3"];
        match scheduler {
            "sh" => cands.extend(["sh-port", "sh-fallback"]),
            "mh" => cands.extend(["mh-port", "mh-fallback"]),
            _ => {}
        }
        if ops {
            cands.push("ops");
        }
        vec(any::<bool>(), cands.len()).prop_map(move |on| {
            cands
                .iter()
                .zip(on)
                .filter(|(_, on)| *on)
                .map(|(f, _)| f.to_string())
                .collect()
        })
    }

    fn sorry(c: &KeyInfo, vs_fwd: lvs::Forwarding) -> impl Strategy<Value = lvs::SorryServer> {
        let vs_port = c.port;
        (
            ip(c.v6),
            prop_oneof![Just(0u16), port()],
            any::<bool>(),
            of(forwarding()),
        )
            .prop_map(move |(address, p, inhibit, forwarding)| {
                let f = forwarding.as_ref().unwrap_or(&vs_fwd);
                // DR and TUN use the virtual server's port (none for fwmarks and groups).
                let port = if direct(f) || (vs_port != 0 && p == 0) {
                    vs_port
                } else {
                    p
                };
                lvs::SorryServer {
                    address,
                    port,
                    inhibit,
                    forwarding,
                }
            })
    }

    pub fn virtual_server(
        groups: Vec<GroupInfo>,
        files: Vec<String>,
    ) -> impl Strategy<Value = lvs::VirtualServer> {
        (
            vs_key(groups),
            select(lvs::SCHEDULERS),
            forwarding(),
            secs_us(1, 600),
            any::<[bool; 5]>(),
        )
            .prop_flat_map(move |(key, sched, fwd, delay_loop, b)| {
                let ctx = VsCtx {
                    key: key.clone(),
                    forwarding: fwd.clone(),
                    inh: Inh {
                        delay_loop: Some(delay_loop),
                        alpha: b[0].then_some(true),
                        ..Inh::default()
                    },
                    files: files.clone(),
                };
                let persistence = (
                    1u32..=2_678_400,
                    of(if key.granularity_v6 {
                        (1u8..=128).prop_map(|l| l.to_string()).boxed()
                    } else {
                        (1u32..=32)
                            .prop_map(|l| {
                                std::net::Ipv4Addr::from(u32::MAX << (32 - l)).to_string()
                            })
                            .boxed()
                    }),
                );
                let head = (
                    Just((key.clone(), sched, fwd.clone(), delay_loop, b)),
                    flags(sched, key.ops),
                    of(persistence),
                    of(Just("sip".to_string())),
                    (any::<u64>(), any::<u64>()),
                    (of(lvs_script()), of(lvs_script())),
                    of(sorry(&key, fwd)),
                    of("[a-z]{1,8}\\.example\\.com"),
                    of(any::<bool>()),
                    raws("virtual_server", 1),
                );
                (head, vec(real_server(ctx), 1..5))
            })
            .prop_map(|(h, rss)| {
                let (
                    (key, sched, fwd, delay_loop, b),
                    flags,
                    pers,
                    engine,
                    qh,
                    quorum_scripts,
                    sorry,
                    vh,
                    smtp,
                    other,
                ) = h;
                // Distinct real servers, with some weight.
                let mut real_servers: Vec<lvs::RealServer> = Vec::new();
                for r in rss {
                    if !real_servers.iter().any(|o| o.key == r.key) {
                        real_servers.push(r);
                    }
                }
                if real_servers.iter().all(|r| r.weight == 0) {
                    real_servers[0].weight = 1;
                }
                let total: u64 = real_servers.iter().map(|r| r.weight as u64).sum();
                let quorum = 1 + qh.0 % total.min(1000);
                let hysteresis = qh.1 % quorum;
                let persistence_timeout = pers.as_ref().map(|p| p.0).or(key.persist.then_some(360));
                lvs::VirtualServer {
                    key: key.key,
                    scheduler: sched.to_string(),
                    forwarding: fwd,
                    delay_loop_us: delay_loop,
                    persistence_timeout,
                    persistence_granularity: pers.and_then(|p| p.1).filter(|_| key.granularity),
                    persistence_engine: engine,
                    quorum: quorum as u32,
                    hysteresis: hysteresis as u32,
                    quorum_up: quorum_scripts.0,
                    quorum_down: quorum_scripts.1,
                    sorry_server: sorry,
                    alpha: b[0],
                    omega: b[2],
                    inhibit_on_failure: b[1],
                    ha_suspend: b[3] && key.ha_suspend,
                    virtualhost: vh,
                    flags,
                    smtp_alert: smtp,
                    real_servers,
                    other,
                    location: loc(0),
                    deferred: vec![],
                    protocol_given: false,
                }
            })
    }

    /// Groups and the virtual servers that use them (or not).
    pub fn lvs(
        files: Vec<String>,
    ) -> impl Strategy<Value = (Vec<lvs::VirtualServerGroup>, Vec<lvs::VirtualServer>)> {
        (0usize..3)
            .prop_flat_map(|ng| (0..ng).map(server_group).collect::<Vec<_>>())
            .prop_flat_map(move |groups| {
                let infos: Vec<GroupInfo> = groups.iter().map(group_info).collect();
                (
                    Just(groups),
                    vec(virtual_server(infos, files.clone()), 0..4),
                )
            })
            .prop_map(|(groups, vss)| {
                let mut out: Vec<lvs::VirtualServer> = Vec::new();
                for v in vss {
                    if !out.iter().any(|o| o.key == v.key) {
                        out.push(v);
                    }
                }
                (groups, out)
            })
    }

    /// Parsed-only keywords of a block (non-block ones unless `root`).
    fn raw_keywords(path: &str) -> Vec<(&'static str, bool)> {
        // Top-level keywords that change how keepalived reads the rest of the file.
        const SKIP: &[&str] = &[
            "instance",
            "net_namespace",
            "net_namespace_ipvs",
            "namespace_with_ipsets",
            "bfd_instance",
            "linkbeat_interfaces",
            "garp_group",
            "interface_up_down_delays",
            "vrf",
            "use_ipvlan",
        ];
        keywords::block(path)
            .map(|b| {
                b.keywords
                    .iter()
                    .filter(|k| k.status == Status::ParsedOnly && !SKIP.contains(&k.name))
                    .filter(|k| path == "root" || !k.block)
                    .map(|k| (k.name, k.block))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Raw statements of a block, without locations yet.
    pub fn raws(path: &'static str, max: usize) -> BoxedStrategy<Vec<RawStatement>> {
        let kws = raw_keywords(path);
        if kws.is_empty() {
            return Just(vec![]).boxed();
        }
        vec(
            select(kws).prop_map(move |(keyword, block)| RawStatement {
                block: path.to_string(),
                keyword: keyword.to_string(),
                // Numbers are what most of these take; a block gets a name.
                args: if block {
                    vec!["g1".to_string()]
                } else {
                    vec!["1".to_string()]
                },
                has_block: block,
                children: vec![],
                location: loc(0),
            }),
            0..=max,
        )
        .boxed()
    }

    /// Everything with its raw statements; assembled with locations and file order.
    pub fn config() -> impl Strategy<Value = Config> {
        (0usize..3, 0usize..2, 0usize..2, 1usize..4, global())
            .prop_flat_map(|(ns, nf, np, ni, g)| {
                let names = Names {
                    scripts: (0..ns).map(|n| format!("chk_{n}")).collect(),
                    files: (0..nf).map(|n| format!("tf_{n}")).collect(),
                    procs: (0..np).map(|n| format!("tp_{n}")).collect(),
                };
                let insts: Vec<_> = (0..ni)
                    .map(|n| {
                        (
                            instance(n, g.clone(), names.clone()),
                            raws("vrrp_instance", 2),
                        )
                    })
                    .collect();
                let scripts: Vec<_> = (0..ns)
                    .map(|n| (vrrp_script(n), raws("vrrp_script", 1)))
                    .collect();
                let files: Vec<_> = (0..nf)
                    .map(|n| (track_file(n), raws("track_file", 1)))
                    .collect();
                let procs: Vec<_> = (0..np)
                    .map(|n| (track_process(n), raws("vrrp_track_process", 1)))
                    .collect();
                // Instances 0.. in groups of two, when there are enough.
                let groups: Vec<_> = (0..ni / 2)
                    .map(|n| {
                        (
                            sync_group(
                                n,
                                vec![format!("VI_{}", 2 * n), format!("VI_{}", 2 * n + 1)],
                                names.clone(),
                            ),
                            raws("vrrp_sync_group", 1),
                        )
                    })
                    .collect();
                (
                    Just(g),
                    raws("global_defs", 3),
                    (scripts, files, procs, insts, groups),
                    raws("root", 3),
                    (
                        vec(any::<bool>().prop_flat_map(address), 0..2),
                        vec(route(), 0..2),
                        vec(rule(), 0..2),
                    ),
                    vec(any::<u16>(), 32),
                    lvs(names.files.clone()),
                )
            })
            .prop_map(
                |(g, graws, (scripts, files, procs, insts, groups), roots, statics, keys, lvs)| {
                    assemble(
                        g, graws, scripts, files, procs, insts, groups, roots, statics, keys, lvs,
                    )
                },
            )
    }

    type WithRaws<T> = Vec<(T, Vec<RawStatement>)>;

    #[allow(clippy::too_many_arguments)]
    fn assemble(
        global: GlobalDefs,
        mut graws: Vec<RawStatement>,
        scripts: WithRaws<VrrpScript>,
        files: WithRaws<TrackFile>,
        procs: WithRaws<TrackProcess>,
        insts: WithRaws<Instance>,
        groups: WithRaws<SyncGroup>,
        roots: Vec<RawStatement>,
        statics: (Vec<VirtualAddress>, Vec<RouteLine>, Vec<RuleLine>),
        keys: Vec<u16>,
        lvs: (Vec<lvs::VirtualServerGroup>, Vec<lvs::VirtualServer>),
    ) -> Config {
        #[allow(clippy::large_enum_variant)]
        enum Item {
            Script(VrrpScript),
            File(TrackFile),
            Proc(TrackProcess),
            Inst(Box<Instance>),
            Group(SyncGroup),
            Root(RawStatement),
            ServerGroup(lvs::VirtualServerGroup),
            Server(Box<lvs::VirtualServer>),
        }
        let mut items: Vec<(Item, Vec<RawStatement>)> = Vec::new();
        let (n_scripts, n_files) = (scripts.len(), files.len());
        items.extend(scripts.into_iter().map(|(x, r)| (Item::Script(x), r)));
        items.extend(files.into_iter().map(|(x, r)| (Item::File(x), r)));
        items.extend(procs.into_iter().map(|(x, r)| (Item::Proc(x), r)));
        items.extend(insts.into_iter().map(|(x, r)| (Item::Inst(Box::new(x)), r)));
        items.extend(groups.into_iter().map(|(x, r)| (Item::Group(x), r)));
        items.extend(roots.into_iter().map(|x| (Item::Root(x), vec![])));
        items.extend(lvs.0.into_iter().map(|x| (Item::ServerGroup(x), vec![])));
        items.extend(
            lvs.1
                .into_iter()
                .map(|x| (Item::Server(Box::new(x)), vec![])),
        );
        // A random file order: the renderer must write blocks in location order so that
        // parsed-only statements come back in the same order.
        let mut order: Vec<usize> = (0..items.len()).collect();
        // Track files come first: keepalived resolves FILE_CHECK and track_file references
        // while reading.
        let nfiles = n_scripts + n_files;
        order.sort_by_key(|&k| {
            (
                !(n_scripts..nfiles).contains(&k),
                keys.get(k % keys.len()).copied().unwrap_or(0),
            )
        });
        let mut cfg = Config {
            global,
            static_addresses: statics.0,
            static_routes: statics.1,
            static_rules: statics.2,
            ..Config::default()
        };
        for (j, r) in graws.iter_mut().enumerate() {
            r.location = loc(u32::try_from(j).unwrap() + 1);
        }
        cfg.parsed_only.extend(graws);
        let mut slots: Vec<Option<(Item, Vec<RawStatement>)>> =
            items.into_iter().map(Some).collect();
        for (rank, k) in order.into_iter().enumerate() {
            let Some((item, mut raws)) = slots[k].take() else {
                continue;
            };
            let line = (u32::try_from(rank).unwrap() + 1) * 1000;
            for (j, r) in raws.iter_mut().enumerate() {
                r.location = loc(line + u32::try_from(j).unwrap() + 1);
            }
            match item {
                Item::Script(mut x) => {
                    x.location = loc(line);
                    cfg.vrrp_scripts.push(x);
                }
                Item::File(mut x) => {
                    x.location = loc(line);
                    cfg.track_files.push(x);
                }
                Item::Proc(mut x) => {
                    x.location = loc(line);
                    cfg.track_processes.push(x);
                }
                Item::Inst(mut x) => {
                    x.location = loc(line);
                    cfg.instances.push(*x);
                }
                Item::Group(mut x) => {
                    x.location = loc(line);
                    cfg.sync_groups.push(x);
                }
                Item::Root(mut x) => {
                    x.location = loc(line);
                    raws.push(x);
                }
                Item::ServerGroup(mut x) => {
                    x.location = loc(line);
                    cfg.virtual_server_groups.push(x);
                }
                Item::Server(mut x) => {
                    x.location = loc(line);
                    cfg.virtual_servers.push(*x);
                }
            }
            cfg.parsed_only.extend(raws);
        }
        // Instances are generated VI_0.. and sync groups refer to them by name: keep the
        // group members existing whatever the order.
        //
        // Under script security, a script without a user needs a default user (there is no
        // keepalived_script user): without one the validator removes MISC_CHECKs, and
        // keepalived refuses the others.
        let misc_without_user = cfg.virtual_servers.iter().any(|v| {
            let mut scripts: Vec<&Script> = v.quorum_up.iter().chain(&v.quorum_down).collect();
            for r in &v.real_servers {
                scripts.extend(r.notify_up.iter().chain(&r.notify_down));
                for c in &r.checkers {
                    if let lvs::CheckerKind::Misc(m) = &c.kind {
                        scripts.extend(&m.script);
                    }
                }
            }
            scripts.iter().any(|s| s.user.is_none())
        });
        if misc_without_user
            && cfg.global.enable_script_security
            && cfg.global.script_user.is_none()
        {
            cfg.global.script_user = Some(RunAs {
                user: "root".into(),
                group: None,
            });
        }
        cfg
    }
}

use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn generated_models_round_trip(m in gen::config()) {
        let text = render(&m);
        let back = load_text(&text);
        let (a, b) = (without_locations(&m), without_locations(&back.config));
        prop_assert!(
            a == b,
            "{}\n--- rendered:\n{text}\n--- diagnostics:\n{:?}",
            first_difference(&a, &b, "").unwrap_or_default(),
            back.diagnostics.items().iter().map(|d| d.message.clone()).collect::<Vec<_>>()
        );
        let again = render(&back.config);
        prop_assert_eq!(again, text);
    }
}

/// `KA_DUMP=DIR cargo test -p ka-config --test roundtrip dump_generated` writes 100
/// generated configurations (`g*.conf`) and their LVS side alone (`l*.conf`, scripts run as
/// root: keepalived 2.2.7 -t is killed checking scripts run as another user) to DIR, for
/// checking with the real keepalived.
#[test]
fn dump_generated() {
    use ka_config::model::RunAs;
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let Ok(dir) = std::env::var("KA_DUMP") else {
        return;
    };
    let mut runner = TestRunner::deterministic();
    let s = gen::config();
    for n in 0..100 {
        let m = s.new_tree(&mut runner).unwrap().current();
        std::fs::write(format!("{dir}/g{n}.conf"), render(&m)).unwrap();
        let lvs_only = ka_config::model::Config {
            global: ka_config::model::GlobalDefs {
                startup_script: None,
                shutdown_script: None,
                script_user: m.global.script_user.as_ref().map(|_| RunAs {
                    user: "root".into(),
                    group: None,
                }),
                notify_fifo: Default::default(),
                vrrp_notify_fifo: Default::default(),
                ..m.global.clone()
            },
            track_files: m.track_files.clone(),
            virtual_server_groups: m.virtual_server_groups.clone(),
            virtual_servers: m.virtual_servers.clone(),
            ..Default::default()
        };
        std::fs::write(format!("{dir}/l{n}.conf"), render(&lvs_only)).unwrap();
    }
}

#[test]
fn a_real_server_without_a_port_is_said_to_be_checked_on_the_virtual_servers_port() {
    let loaded = load_text(
        "virtual_server 192.0.2.1 80 {\n protocol TCP\n lb_algo rr\n lb_kind NAT\n real_server 192.0.2.10 {\n TCP_CHECK {\n }\n }\n\
         real_server 192.0.2.11 80 {\n TCP_CHECK {\n }\n }\n}\n",
    );
    let texts: Vec<String> = loaded
        .diagnostics
        .items()
        .iter()
        .map(|d| d.to_string())
        .collect();
    let hits: Vec<&String> = texts.iter().filter(|t| t.contains("has no port")).collect();
    assert_eq!(hits.len(), 1, "{texts:#?}");
    assert!(
        hits[0].contains("192.0.2.10") && hits[0].contains("port 80"),
        "{hits:?}"
    );
    // Only a note for operators: `-t` keeps keepalived's exit status.
    assert_eq!(loaded.diagnostics.exit_code(), 0, "{texts:#?}");
    assert_eq!(
        loaded.config.virtual_servers[0].real_servers[0].key.port,
        80
    );
}
