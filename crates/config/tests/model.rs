//! Model tests, block by block: keepalived's defaults, cross-field rules and verdicts, on a
//! fake machine (interfaces eth0..eth2, ha, mgt; /bin/true and killall; users root, nobody).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use ka_config::env::FakeEnvironment;
use ka_config::model::{Auth, InitialState};
use ka_config::preprocess::Options;
use ka_config::Loaded;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

fn load_with(text: &str, env: &FakeEnvironment) -> Loaded {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "ka-model-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let path: PathBuf = dir.join("keepalived.conf");
    std::fs::write(&path, text).unwrap();
    let opts = Options {
        config_id: "testhost".into(),
        ..Options::default()
    };
    let loaded = ka_config::load(&path, &opts, env);
    std::fs::remove_dir_all(&dir).unwrap();
    loaded
}

fn load(text: &str) -> Loaded {
    load_with(text, &FakeEnvironment::lab())
}

fn code(text: &str) -> i32 {
    load(text).diagnostics.exit_code()
}

const VI: &str =
    "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 51\n virtual_ipaddress { 10.0.0.100/24 }\n";

fn inst(extra: &str) -> String {
    format!("{VI}{extra}\n}}\n")
}

#[test]
fn global_defs_defaults() {
    let l = load("global_defs {\n router_id r1\n}\n");
    let g = &l.config.global;
    assert_eq!(g.router_id.as_deref(), Some("r1"));
    assert_eq!(g.vrrp_version, 2);
    assert_eq!(g.vrrp_garp_master_delay, 5);
    assert_eq!(g.vrrp_garp_master_repeat, 5);
    assert_eq!(g.smtp_connect_timeout, 30);
    assert_eq!(g.vrrp_mcast_group4.to_string(), "224.0.0.18");
    assert_eq!(l.diagnostics.exit_code(), 0);
}

#[test]
fn global_defs_values_and_errors() {
    let l = load("global_defs {\n vrrp_version 3\n vrrp_garp_interval 0.001\n vrrp_strict\n}\n");
    assert_eq!(l.config.global.vrrp_version, 3);
    assert_eq!(l.config.global.vrrp_garp_interval_us, 1000);
    assert!(l.config.global.vrrp_strict);
    assert_eq!(code("global_defs {\n vrrp_garp_interval 0\n}\n"), 5);
    assert_eq!(code("global_defs {\n vrrp_version 4\n}\n"), 5);
    assert_eq!(code("global_defs {\n vrrp_version\n}\n"), 2);
    assert_eq!(code("global_defs {\n router_id\n}\n"), 5);
    assert_eq!(code("global_defs {\n script_user nosuchuser\n}\n"), 5);
    assert_eq!(
        code("global_defs {\n smtp_server no-such-host.invalid\n}\n"),
        5
    );
    assert_eq!(code("global_defs {\n smtp_server 127.0.0.1 25\n}\n"), 0);
}

#[test]
fn unknown_keyword_suggests_nearest() {
    let l = load(&inst(" virtual_routr_id 5"));
    assert_eq!(l.diagnostics.exit_code(), 5);
    let d = l
        .diagnostics
        .items()
        .iter()
        .find(|d| d.message.contains("virtual_routr_id"))
        .unwrap();
    assert_eq!(d.help.as_deref(), Some("did you mean 'virtual_router_id'?"));
    let loc = d.location.as_ref().unwrap();
    assert_eq!((loc.line, loc.col), (5, 2));
}

#[test]
fn instance_defaults() {
    let l = load(&inst(""));
    assert_eq!(l.diagnostics.exit_code(), 0, "{:?}", l.diagnostics);
    let i = &l.config.instances[0];
    assert_eq!(i.state, InitialState::Backup);
    assert_eq!(i.priority, 100);
    assert_eq!(i.version, 2);
    assert_eq!(i.advert_int_cs, 100);
    assert!(i.accept);
    assert!(!i.nopreempt);
    assert_eq!(i.garp_master_delay, 5);
    assert_eq!(i.down_timer_adverts, 3);
    assert_eq!(i.virtual_ipaddress[0].prefix_len, 24);
}

#[test]
fn state_master_without_priority_is_owner() {
    let i = &load(&inst(" state MASTER")).config.instances[0];
    assert_eq!((i.state, i.priority), (InitialState::Master, 255));
    let i = &load(&inst(" state MASTER\n priority 150")).config.instances[0];
    assert_eq!((i.state, i.priority), (InitialState::Master, 150));
    let i = &load(&inst(" priority 255")).config.instances[0];
    assert_eq!(i.state, InitialState::Master);
    assert_eq!(code(&inst(" state BACKUP\n priority 255")), 0);
    assert_eq!(code(&inst(" state master")), 5);
    assert_eq!(code(&inst(" State MASTER")), 5);
}

#[test]
fn nopreempt_is_cleared_by_state_master() {
    let l = load(&inst(" state MASTER\n priority 150\n nopreempt"));
    assert!(!l.config.instances[0].nopreempt);
    assert_eq!(l.diagnostics.exit_code(), 5);
    let l = load(&inst(" state BACKUP\n nopreempt"));
    assert!(l.config.instances[0].nopreempt);
    assert_eq!(l.diagnostics.exit_code(), 0);
}

#[test]
fn advert_int_v2_rounds_v3_centiseconds() {
    let l = load(&inst(" advert_int 1.5"));
    assert_eq!(l.config.instances[0].advert_int_cs, 200);
    assert_eq!(l.diagnostics.exit_code(), 5);
    let l = load(&inst(" version 3\n advert_int 0.35"));
    assert_eq!(l.config.instances[0].advert_int_cs, 35);
    assert_eq!(l.diagnostics.exit_code(), 0);
    let l = load(&inst(" version 3\n advert_int 41"));
    assert_eq!(l.config.instances[0].advert_int_cs, 4095);
    assert_eq!(l.diagnostics.exit_code(), 5);
    assert_eq!(code(&inst(" advert_int 41")), 0);
    assert_eq!(code(&inst(" advert_int 0")), 5);
}

#[test]
fn vrid_range() {
    assert_eq!(code(&inst(" virtual_router_id 255")), 0);
    for bad in ["0", "256", "abc", "-1"] {
        assert_eq!(
            code(&inst(&format!(" virtual_router_id {bad}"))),
            5,
            "{bad}"
        );
    }
    assert_eq!(
        code("vrrp_instance X {\n interface eth0\n virtual_ipaddress { 10.0.0.1 }\n}\n"),
        5
    );
}

#[test]
fn ipv6_instances_are_v3_and_families_do_not_mix() {
    let l = load("vrrp_instance V6 {\n interface eth0\n virtual_router_id 5\n version 2\n virtual_ipaddress {\n fe80::1/64\n fd00::1/64\n }\n}\n");
    assert_eq!(l.config.instances[0].version, 3);
    assert_eq!(l.diagnostics.exit_code(), 0);
    let l = load(&inst(" virtual_ipaddress { fd00::1/64 }"));
    assert_eq!(l.config.instances[0].virtual_ipaddress.len(), 1);
    assert_eq!(l.diagnostics.exit_code(), 5);
}

#[test]
fn authentication() {
    let l = load(&inst(
        " authentication {\n auth_type PASS\n auth_pass secret\n }",
    ));
    assert_eq!(
        l.config.instances[0].authentication,
        Some(Auth::Pass("secret".into()))
    );
    assert_eq!(l.diagnostics.exit_code(), 0);
    let l = load(&inst(
        " authentication {\n auth_type PASS\n auth_pass 123456789\n }",
    ));
    assert_eq!(
        l.config.instances[0].authentication,
        Some(Auth::Pass("12345678".into()))
    );
    assert_eq!(l.diagnostics.exit_code(), 5);
    let l = load(&inst(
        " version 3\n authentication {\n auth_type PASS\n auth_pass x\n }",
    ));
    assert_eq!(l.config.instances[0].authentication, None);
    assert_eq!(l.diagnostics.exit_code(), 5);
}

#[test]
fn missing_value_aborts() {
    assert_eq!(code(&inst(" priority")), 2);
    assert_eq!(code(&inst(" notify_master")), 2);
    // An abort wins over anything found before it.
    assert_eq!(code(&format!("bogus_top 1\n{}", inst(" priority"))), 2);
}

#[test]
fn missing_interface_is_5_and_hides_script_security() {
    assert_eq!(
        code("vrrp_instance A {\n interface eth9\n virtual_router_id 5\n virtual_ipaddress { 10.0.0.1 }\n}\n"),
        5
    );
    let text = "vrrp_script s {\n script /bin/true\n}\nvrrp_instance A {\n interface eth9\n virtual_router_id 5\n virtual_ipaddress { 10.0.0.1 }\n track_script { s }\n}\n";
    assert_eq!(code(text), 5);
    assert_eq!(code(&text.replace("eth9", "eth0")), 6);
}

#[test]
fn script_security_rules() {
    // Any existing script without enable_script_security: 6, tracked or not.
    assert_eq!(
        code(&format!(
            "vrrp_script s {{\n script \"/bin/true\"\n}}\n{}",
            inst("")
        )),
        6
    );
    // A tracked script whose program is missing is disabled: 5.
    assert_eq!(
        code(&format!(
            "vrrp_script s {{\n script /nonexistent/x\n}}\n{}",
            inst(" track_script { s }")
        )),
        5
    );
    // A notify of a missing program is silent.
    assert_eq!(code(&inst(" notify_master /nonexistent/x")), 0);
    // With security and script_user root: clean.
    assert_eq!(
        code(&format!(
            "global_defs {{\n enable_script_security\n script_user root\n}}\n{}",
            inst(" notify_master /bin/true")
        )),
        0
    );
    // With security but no default user (no keepalived_script here): 5.
    assert_eq!(
        code(&format!(
            "global_defs {{\n enable_script_security\n}}\nvrrp_script s {{\n script /bin/true\n}}\n{}",
            inst(" track_script { s }")
        )),
        5
    );
}

#[test]
fn script_splitting_and_user() {
    let l = load(&inst(" notify_master \"/bin/true 'a b' c\" nobody"));
    let s = l.config.instances[0].notify.master.as_ref().unwrap();
    assert_eq!(s.argv, ["/bin/true", "a b", "c"]);
    assert_eq!(s.user.as_deref(), Some("nobody"));
    let l = load(&format!(
        "vrrp_script s {{\n script /usr/bin/killall -0 sshd\n}}\n{}",
        inst("")
    ));
    assert_eq!(
        l.config.vrrp_scripts[0].script.as_ref().unwrap().argv,
        ["/usr/bin/killall", "-0", "sshd"]
    );
}

#[test]
fn vrrp_script_defaults_and_ranges() {
    let l = load(&format!(
        "vrrp_script s {{\n script /bin/true\n interval 2\n}}\n{}",
        inst("")
    ));
    let s = &l.config.vrrp_scripts[0];
    assert_eq!(
        (s.interval_us, s.timeout_us, s.weight, s.rise, s.fall),
        (2_000_000, 2_000_000, 0, 1, 1)
    );
    let sec = "global_defs {\n enable_script_security\n script_user root\n}\n";
    for bad in [
        "weight 300",
        "interval 0",
        "rise 0",
        "fall 0",
        "timeout abc",
    ] {
        let t = format!(
            "{sec}vrrp_script s {{\n script /bin/true\n {bad}\n}}\n{}",
            inst(" track_script { s }")
        );
        assert_eq!(code(&t), 5, "{bad}");
    }
}

#[test]
fn track_references() {
    let l = load(&inst(" track_interface {\n eth1 weight -10\n eth2\n }"));
    let t = &l.config.instances[0].track_interface;
    assert_eq!((t[0].name.as_str(), t[0].weight), ("eth1", Some(-10)));
    assert_eq!(t[1].weight, None);
    assert_eq!(l.diagnostics.exit_code(), 0);
    assert_eq!(code(&inst(" track_interface {\n eth1 weight 300\n }")), 5);
    assert_eq!(code(&inst(" track_script {\n nosuch\n }")), 5);
}

#[test]
fn sync_groups() {
    let two = format!(
        "{}\n{}",
        inst(""),
        inst("").replace("VI_1", "VI_2").replace("51", "52")
    );
    assert_eq!(
        code(&format!(
            "{two}vrrp_sync_group G {{\n group {{\n VI_1\n VI_2\n }}\n}}\n"
        )),
        0
    );
    assert_eq!(
        code(&format!(
            "{two}vrrp_sync_group G {{\n group {{\n VI_1\n }}\n}}\n"
        )),
        5
    );
    assert_eq!(
        code(&format!(
            "{two}vrrp_sync_group G {{\n group {{\n VI_1\n VI_9\n }}\n}}\n"
        )),
        5
    );
}

#[test]
fn duplicate_vrid_and_names() {
    let a = inst("");
    assert_eq!(code(&format!("{a}{}", a.replace("VI_1", "VI_2"))), 5);
    assert_eq!(code(&format!("{a}{}", a.replace("51", "52"))), 5);
    assert_eq!(
        code(&format!(
            "{a}{}",
            a.replace("VI_1", "VI_2").replace("eth0", "eth1")
        )),
        0
    );
}

#[test]
fn address_route_rule_lines() {
    let l = load(&inst(
        " virtual_ipaddress {\n 10.0.0.5/24 brd + dev eth1 scope global label eth1:vip\n }",
    ));
    let a = &l.config.instances[0].virtual_ipaddress[1];
    assert_eq!(a.dev.as_deref(), Some("eth1"));
    assert_eq!(a.label.as_deref(), Some("eth1:vip"));
    assert_eq!(l.diagnostics.exit_code(), 0);
    assert_eq!(code(&inst(" virtual_ipaddress {\n 10.0.0.5/33\n }")), 5);
    assert_eq!(code(&inst(" virtual_ipaddress {\n 10.0.0.5 bogus\n }")), 5);
    assert_eq!(
        code(&inst(
            " virtual_routes {\n 10.1.0.0/16 via 10.0.0.1 dev eth0\n }"
        )),
        0
    );
    assert_eq!(
        code(&inst(" virtual_routes {\n 10.1.0.0/16 via 10.0.0.1\n }")),
        5
    );
    assert_eq!(code(&inst(" virtual_routes {\n 10.1.0.0/16 via\n }")), 2);
    assert_eq!(
        code(&inst(
            " virtual_rules {\n from 10.0.0.0/24 table 100 preference 100\n }"
        )),
        0
    );
    assert_eq!(
        code(&inst(" virtual_rules {\n from 10.0.0.0/24 table 100\n }")),
        5
    );
}

#[test]
fn strict_mode() {
    let l = load(&format!(
        "global_defs {{\n vrrp_strict\n}}\n{}",
        inst(" authentication {\n auth_type PASS\n auth_pass x\n }")
    ));
    assert_eq!(l.config.instances[0].authentication, None);
    assert!(!l.config.instances[0].accept);
    assert!(l.config.instances[0].lower_prio_no_advert);
    assert_eq!(l.diagnostics.exit_code(), 5);
    assert_eq!(
        code(&format!(
            "global_defs {{\n vrrp_strict\n}}\n{}",
            inst(" unicast_peer { 10.0.0.9 }")
        )),
        0
    );
}

#[test]
fn braces_and_quotes() {
    assert_eq!(code(&format!("{}}}\n", inst(""))), 5);
    assert_eq!(code(VI), 5);
    assert_eq!(code(&inst(" notify_master \"/bin/true")), 5);
    assert_eq!(
        code("vrrp_instance VI_1\n{\n interface eth0\n virtual_router_id 51\n virtual_ipaddress {\n 10.0.0.1\n }\n}\n"),
        0
    );
}
