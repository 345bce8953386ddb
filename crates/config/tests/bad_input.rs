//! Bad input never panics or hangs: each case ends with a diagnostic that has a location.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use ka_config::env::FakeEnvironment;
use ka_config::preprocess::Options;
use ka_config::Loaded;
use std::path::{Path, PathBuf};

struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let d = std::env::temp_dir().join(format!("ka-bad-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        Scratch(d)
    }
    fn file(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn load(path: &Path, all_config: bool) -> Loaded {
    let opts = Options {
        config_id: "t".into(),
        all_config,
        ..Options::default()
    };
    ka_config::load(path, &opts, &FakeEnvironment::lab())
}

fn has_located(l: &Loaded, needle: &str) -> bool {
    l.diagnostics
        .items()
        .iter()
        .any(|d| d.message.contains(needle) && d.location.as_ref().is_some_and(|loc| loc.line > 0))
}

#[test]
fn missing_file_is_reported() {
    let l = load(Path::new("/nonexistent/keepalived.conf"), false);
    assert_eq!(
        l.diagnostics.exit_code(),
        0,
        "keepalived 2.2.7 exits 0 here"
    );
    assert!(!l.diagnostics.items().is_empty());
    assert_eq!(
        load(Path::new("/nonexistent/keepalived.conf"), true)
            .diagnostics
            .exit_code(),
        4
    );
}

#[test]
fn unreadable_include_and_include_loop() {
    let s = Scratch::new("loop");
    s.file("b.conf", b"include a.conf\n");
    let a = s.file(
        "a.conf",
        b"include b.conf\nglobal_defs {\n router_id x\n}\n",
    );
    let l = load(&a, false);
    assert_eq!(l.config.global.router_id.as_deref(), Some("x"));
    assert!(!l.diagnostics.items().is_empty(), "the loop is reported");
    let c = s.file("c.conf", b"includea missing-*.conf\n");
    assert_eq!(load(&c, false).diagnostics.exit_code(), 6);
}

#[test]
fn unbalanced_braces_and_out_of_range() {
    let s = Scratch::new("braces");
    let p = s.file(
        "k.conf",
        b"vrrp_instance A {\n interface eth0\n virtual_router_id 300\n",
    );
    let l = load(&p, false);
    assert_eq!(l.diagnostics.exit_code(), 5);
    assert!(has_located(&l, "300"));
    let p = s.file("k2.conf", b"global_defs {\n}\n}\n");
    let l = load(&p, false);
    assert!(has_located(&l, "extra '}'"));
}

#[test]
fn unknown_keyword_has_location_and_hint() {
    let s = Scratch::new("unknown");
    let p = s.file("k.conf", b"global_defs {\n  vrrp_garp_master_dlay 3\n}\n");
    let l = load(&p, false);
    assert_eq!(l.diagnostics.exit_code(), 5);
    let d = l
        .diagnostics
        .items()
        .iter()
        .find(|d| d.message.contains("vrrp_garp_master_dlay"))
        .unwrap();
    assert_eq!(d.location.as_ref().map(|l| (l.line, l.col)), Some((2, 3)));
    assert_eq!(
        d.help.as_deref(),
        Some("did you mean 'vrrp_garp_master_delay'?")
    );
}

#[test]
fn binary_file_gives_diagnostics_not_a_panic() {
    let s = Scratch::new("binary");
    let mut bytes = Vec::new();
    let mut x: u32 = 12345;
    for _ in 0..200_000 {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
        bytes.push((x >> 16) as u8);
    }
    let p = s.file("k.conf", &bytes);
    let l = load(&p, false);
    assert_eq!(l.diagnostics.exit_code(), 5);
}

#[test]
fn large_file_is_linear() {
    let s = Scratch::new("large");
    let mut text = String::new();
    let mut n = 0;
    while text.len() < 8 << 20 {
        text.push_str(&format!(
            "vrrp_script s{n} {{\n script \"/bin/true\"\n interval 2\n}}\n"
        ));
        n += 1;
    }
    let p = s.file("k.conf", text.as_bytes());
    let start = std::time::Instant::now();
    let l = load(&p, false);
    assert_eq!(l.config.vrrp_scripts.len(), n);
    // Generous: a debug build on a loaded 2-core machine; a quadratic pass would take minutes.
    assert!(
        start.elapsed().as_secs() < 120,
        "took {:?}",
        start.elapsed()
    );
}

#[test]
fn self_feeding_parameters_end() {
    // Inputs that once made the preprocessor spin (found by a random search): each must end
    // quickly with a diagnostic.
    let s = Scratch::new("feed");
    let cases: [&str; 3] = [
        "$A=${_RANDOM 3 9}{)${A}\n$A\n",
        "\n$A@main ${_RANDOM 3 9},@main ${A}${_RANDOM 3 9}}$A=x\\x$A~LST({1\\\n}${_RANDOM 3 9}$A\n{\\x$A#x\"~SEQ(},## $A~LST()@main ~SEQ(#xinclude r.conf,~SEQ(#\"include r.conf{\\\"~SEQ(\\,,",
        "}@^x \\~SEQ($A1$A= \"{1~LST($A=\" ~SEQ(~SEQ(${_RANDOM 3 9}@^x }${A}$A=include r.confx#}} include r.conf~LST(#\\)$A}}}${_RANDOM 3 9}${A}\\\n{${A}\n${A}\n$A=@main \"@^x 1${A}1include r.conf",
    ];
    for (n, text) in cases.iter().enumerate() {
        let p = s.file("r.conf", text.as_bytes());
        let start = std::time::Instant::now();
        let l = load(&p, false);
        assert!(!l.diagnostics.items().is_empty(), "case {n}");
        assert!(
            start.elapsed().as_secs() < 60,
            "case {n} took {:?}",
            start.elapsed()
        );
    }
}
