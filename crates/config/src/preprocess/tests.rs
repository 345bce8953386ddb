//! Unit tests of the preprocessor, each in a scratch directory of its own.

use super::*;
use crate::diag::{Diagnostics, Verdict};
use std::sync::atomic::{AtomicU32, Ordering};

/// A scratch directory removed when dropped.
struct Scratch {
    dir: PathBuf,
}

impl Scratch {
    fn new() -> Self {
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "ka-preprocess-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create scratch dir");
        Scratch { dir }
    }

    fn write(&self, name: &str, content: impl AsRef<[u8]>) -> PathBuf {
        let p = self.dir.join(name);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).expect("create dir");
        }
        std::fs::write(&p, content).expect("write file");
        p
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn opts() -> Options {
    Options {
        config_id: "main".into(),
        ..Options::default()
    }
}

fn run_with(path: &Path, o: &Options) -> (Vec<Line>, Diagnostics) {
    let mut d = Diagnostics::new();
    let lines = preprocess(path, o, &mut d);
    (lines, d)
}

/// Preprocesses `content` as keepalived.conf; returns the line texts (trimmed) and diagnostics.
fn pp(content: &str) -> (Vec<String>, Diagnostics) {
    pp_opts(content, &opts())
}

fn pp_opts(content: &str, o: &Options) -> (Vec<String>, Diagnostics) {
    let s = Scratch::new();
    let p = s.write("keepalived.conf", content);
    let (lines, d) = run_with(&p, o);
    (
        lines
            .into_iter()
            .map(|l| l.text.trim().to_string())
            .collect(),
        d,
    )
}

fn texts(content: &str) -> Vec<String> {
    pp(content).0
}

fn has_msg(d: &Diagnostics, needle: &str) -> bool {
    d.items().iter().any(|i| i.message.contains(needle))
}

// ------------------------------------------------------------------------------------------
// Reading

#[test]
fn plain_lines_comments_and_locations() {
    let s = Scratch::new();
    let p = s.write(
        "k.conf",
        "global_defs {\r\n  router_id r1 # comment\r\n\r\n! bang comment\n  notification_email \\#x\n}\n",
    );
    let (lines, d) = run_with(&p, &opts());
    let t: Vec<&str> = lines.iter().map(|l| l.text.as_str()).collect();
    assert_eq!(
        t,
        [
            "global_defs",
            "{",
            "  router_id r1",
            "  notification_email \\#x",
            "}"
        ]
    );
    let nums: Vec<u32> = lines.iter().map(|l| l.location.line).collect();
    assert_eq!(nums, [1, 1, 2, 5, 6]);
    assert!(lines
        .iter()
        .all(|l| l.location.col == 0 && *l.location.file == p));
    assert_eq!(d.exit_code(), 0);
}

#[test]
fn quoted_comment_chars_are_kept() {
    assert_eq!(
        texts("script \"echo # not ! comment\" # yes"),
        ["script \"echo # not ! comment\""]
    );
}

#[test]
fn braces_split_lines_like_keepalived() {
    assert_eq!(
        texts("virtual_ipaddress { 10.0.0.1/24 }\nnotify \"a { b }\" {x"),
        [
            "virtual_ipaddress",
            "{",
            "10.0.0.1/24",
            "}",
            "notify \"a { b }\"",
            "{",
            "x"
        ]
    );
}

#[test]
fn invalid_utf8_and_nul_bytes() {
    let s = Scratch::new();
    let p = s.write("k.conf", b"router_id \xff\xfe abc\nfoo\0bar baz\nlast");
    let (lines, _) = run_with(&p, &opts());
    let t: Vec<&str> = lines.iter().map(|l| l.text.as_str()).collect();
    assert_eq!(t, ["router_id \u{fffd}\u{fffd} abc", "foo", "last"]);
}

#[test]
fn long_lines_are_cut_at_1023_bytes() {
    let long = format!("{} bbb\nnext", "a".repeat(1030));
    let t = texts(&long);
    assert_eq!(t.len(), 3);
    assert_eq!(t[0].len(), 1023);
    assert_eq!(t[1], "aaaaaaa bbb");
    assert_eq!(t[2], "next");
}

#[test]
fn binary_file_does_not_panic() {
    let s = Scratch::new();
    let data: Vec<u8> = (0..200_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let p = s.write("bin.conf", data);
    let _ = run_with(&p, &opts());
}

#[test]
fn big_file_is_linear() {
    let s = Scratch::new();
    let mut content = String::from("$X=value\n");
    for i in 0..200_000 {
        content.push_str(&format!("  keyword_{i} ${{X}} # c\n"));
    }
    let p = s.write("big.conf", content);
    let start = std::time::Instant::now();
    let (lines, _) = run_with(&p, &opts());
    assert_eq!(lines.len(), 200_000);
    assert_eq!(lines[5].text, "keyword_5 value");
    assert!(start.elapsed().as_secs() < 30);
}

#[test]
#[ignore = "slow: 100 MB file"]
fn hundred_megabytes() {
    let s = Scratch::new();
    let line = "  virtual_ipaddress { 10.0.0.1/24 } # comment $X ${Y}\n";
    let p = s.write("huge.conf", line.repeat(100 * 1024 * 1024 / line.len()));
    let start = std::time::Instant::now();
    let (lines, _) = run_with(&p, &opts());
    assert!(lines.len() > 1_000_000);
    assert!(start.elapsed().as_secs() < 120);
    let one = s.write("oneline.conf", vec![b'x'; 100 * 1024 * 1024]);
    let (lines, _) = run_with(&one, &opts());
    assert_eq!(lines.len(), 100 * 1024 * 1024 / 1023 + 1);
}

// ------------------------------------------------------------------------------------------
// Root file

#[test]
fn missing_root_is_logged_or_fatal_with_all_config() {
    let s = Scratch::new();
    let (lines, d) = run_with(&s.path("nope.conf"), &opts());
    assert!(lines.is_empty());
    assert_eq!(d.exit_code(), 0);
    assert!(has_msg(&d, "Config files missing"));
    let (_, d) = run_with(
        &s.path("nope.conf"),
        &Options {
            all_config: true,
            ..opts()
        },
    );
    assert_eq!(d.exit_code(), 4);
    let (_, d) = run_with(&s.dir, &opts());
    assert_eq!(d.exit_code(), 0);
    assert!(has_msg(&d, "is a directory"));
    let (_, d) = run_with(
        &s.dir,
        &Options {
            all_config: true,
            ..opts()
        },
    );
    assert_eq!(d.exit_code(), 4);
}

#[cfg(unix)]
#[test]
fn executable_root_is_skipped() {
    use std::os::unix::fs::PermissionsExt;
    let s = Scratch::new();
    let p = s.write("x.conf", "router_id x\n");
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let (lines, d) = run_with(&p, &opts());
    assert!(lines.is_empty());
    assert!(has_msg(&d, "not a regular non-executable file"));
    assert_eq!(d.exit_code(), 0);
}

// ------------------------------------------------------------------------------------------
// Includes

#[test]
fn include_relative_glob_and_braces() {
    let s = Scratch::new();
    s.write("conf.d/b.conf", "from_b\n");
    s.write("conf.d/a.conf", "from_a\ninclude ../c.conf\n");
    s.write("c.conf", "from_c ${_PWD}\n");
    s.write("d1.conf", "from_d1\n");
    s.write("d2.conf", "from_d2\n");
    let root = s.write(
        "keepalived.conf",
        "first\ninclude conf.d/*.conf\ninclude d{2,1}.conf # comment\nlast\n",
    );
    let (lines, d) = run_with(&root, &opts());
    let t: Vec<&str> = lines.iter().map(|l| l.text.as_str()).collect();
    let pwd = std::fs::canonicalize(&s.dir)
        .expect("canon")
        .display()
        .to_string();
    assert_eq!(
        t,
        [
            "first",
            "from_a",
            &format!("from_c {pwd}"),
            "from_b",
            "from_d2",
            "from_d1",
            "last"
        ]
    );
    assert_eq!(d.exit_code(), 0, "{:?}", d.items());
    // Lines of included files carry their own file and line.
    let c = lines
        .iter()
        .find(|l| l.text.starts_with("from_c"))
        .expect("from_c");
    assert!(c.location.file.ends_with("c.conf"));
    assert_eq!(c.location.line, 1);
}

#[test]
fn include_missing_is_only_logged() {
    let (t, d) = pp("include nonexist.conf\ninclude nomatch*.conf\nafter");
    assert_eq!(t, ["after"]);
    assert_eq!(d.exit_code(), 0);
    assert!(has_msg(&d, "Config files missing 'nonexist.conf'"));
    let i = d
        .items()
        .iter()
        .find(|i| i.message.contains("nonexist"))
        .expect("diag");
    assert_eq!(i.location.as_ref().map(|l| l.line), Some(1));
}

#[test]
fn include_without_pattern_and_unknown_variants_pass_through() {
    let (t, _) = pp("include\nincludet x.conf\nINCLUDE x\n");
    assert_eq!(t, ["include", "includet x.conf", "INCLUDE x"]);
}

/// Verdicts measured with keepalived 2.2.7 `-t` (0 = logged only, 6 = strict check failed).
#[test]
fn strict_include_verdicts() {
    let s = Scratch::new();
    s.write("inc1.conf", "inc1\n");
    std::fs::create_dir_all(s.path("sub")).expect("mkdir");
    let cases: &[(&str, &str, i32)] = &[
        ("include", "nonexist.conf", 0),
        ("include", "{inc1,nonexist}.conf", 0),
        ("include", "sub", 0),
        ("includer", "nonexist.conf", 0),
        ("includer", "sub", 6),
        ("includem", "nonexist.conf", 6),
        ("includem", "nomatch*.conf", 0),
        ("includem", "{inc1,nonexist}.conf", 0),
        ("includem", "{nonexist1,nonexist2}.conf", 0),
        ("includem", "nonexist/inc1.conf", 6),
        ("includem", "sub", 6),
        ("includew", "nonexist.conf", 6),
        ("includew", "nomatch*.conf", 6),
        ("includew", "nom*/inc1.conf", 6),
        ("includew", "{nomatch*,nomatch2*}.conf", 6),
        ("includew", "{inc1,nonexist}.conf", 0),
        ("includew", "{nonexist1,nonexist2}.conf", 0),
        ("includeb", "nonexist.conf", 0),
        ("includeb", "nomatch*.conf", 0),
        ("includeb", "{inc1,nonexist}.conf", 6),
        ("includeb", "{nonexist1,nonexist2}.conf", 6),
        ("includeb", "{inc*,nonexist}.conf", 6),
        ("includeb", "{inc1,nonexist}*", 0),
        ("includeb", "{inc1,nomatch*}.conf", 0),
        ("includea", "nonexist.conf", 6),
        ("includea", "nomatch*.conf", 6),
        ("includea", "{inc1,nonexist}.conf", 6),
        ("includea", "{inc1,nomatch*}.conf", 0),
        ("includea", "inc1.conf", 0),
    ];
    for (kw, pat, want) in cases {
        let root = s.write("t.conf", format!("{kw} {pat}\n"));
        let (_, d) = run_with(&root, &opts());
        assert_eq!(d.exit_code(), *want, "{kw} {pat}: {:?}", d.items());
        if *want == 6 {
            assert!(d.items().iter().any(|i| i.verdict == Verdict::Security
                && i.location.as_ref().is_some_and(|l| l.line == 1)));
        }
    }
}

#[test]
fn all_config_makes_every_include_strict() {
    let s = Scratch::new();
    s.write("mid.conf", "include nomatch*.conf\n");
    let root = s.write("k.conf", "include mid.conf\n");
    let (_, d) = run_with(&root, &opts());
    assert_eq!(d.exit_code(), 0);
    let (_, d) = run_with(
        &root,
        &Options {
            all_config: true,
            ..opts()
        },
    );
    assert_eq!(d.exit_code(), 6);
    assert!(has_msg(&d, "No config files matched 'nomatch*.conf'"));
}

#[test]
fn include_check_in_global_defs() {
    let (_, d) = pp("global_defs {\n include_check\n}\ninclude nonexist.conf\n");
    assert_eq!(d.exit_code(), 6);
    let (_, d) = pp("global_defs {\n include_check wildcard_match\n}\ninclude nonexist*\n");
    assert_eq!(d.exit_code(), 6);
    let (_, d) = pp("global_defs {\n include_check +match -match\n}\ninclude nonexist.conf\n");
    assert_eq!(d.exit_code(), 0);
    // Outside global_defs it is just an (unknown) keyword for the parser.
    let (t, d) = pp("include_check\ninclude nonexist.conf\n");
    assert_eq!(t, ["include_check"]);
    assert_eq!(d.exit_code(), 0);
}

#[test]
fn include_check_does_not_leak_out_of_included_file() {
    let s = Scratch::new();
    s.write("g.conf", "global_defs {\ninclude_check\n}\n");
    let root = s.write("k.conf", "include g.conf\ninclude nonexist.conf\n");
    let (_, d) = run_with(&root, &opts());
    assert_eq!(d.exit_code(), 0);
}

#[test]
fn include_loops_are_cut() {
    let s = Scratch::new();
    s.write("a.conf", "in_a\ninclude b.conf\n");
    s.write("b.conf", "in_b\ninclude a.conf\n");
    let root = s.write("self.conf", "x\ninclude self.conf\ninclude a.conf\n");
    let (lines, d) = run_with(&root, &opts());
    let t: Vec<&str> = lines.iter().map(|l| l.text.as_str()).collect();
    assert_eq!(t, ["x", "in_a", "in_b"]);
    assert_eq!(d.exit_code(), 0);
    assert!(has_msg(&d, "include loop"));
}

#[test]
fn include_rest_of_line_after_brace_comes_after_the_file() {
    let s = Scratch::new();
    s.write("i.conf", "inner\n");
    let root = s.write("k.conf", "global_defs { include i.conf\n}\n");
    let (lines, _) = run_with(&root, &opts());
    let t: Vec<&str> = lines.iter().map(|l| l.text.as_str()).collect();
    assert_eq!(t, ["global_defs", "{", "inner", "}"]);
}

#[test]
fn include_after_substitution_and_conditional() {
    let s = Scratch::new();
    s.write("i.conf", "inner\n");
    let root = s.write(
        "k.conf",
        "$F=i.conf\ninclude $F\n@main include i.conf\n@other include i.conf\n",
    );
    let (lines, _) = run_with(&root, &opts());
    let t: Vec<&str> = lines.iter().map(|l| l.text.as_str()).collect();
    assert_eq!(t, ["inner", "inner"]);
}

#[test]
fn brace_expansion() {
    assert_eq!(brace_expand("a{b,c}d").0, ["abd", "acd"]);
    assert_eq!(
        brace_expand("{foo/{,cat,dog},bar}").0,
        ["foo/", "foo/cat", "foo/dog", "bar"]
    );
    assert_eq!(brace_expand("{x}"), (vec!["x".to_string()], true));
    assert_eq!(brace_expand("plain"), (vec!["plain".to_string()], false));
    assert_eq!(brace_expand("un{closed").0, ["un{closed"]);
    assert_eq!(brace_expand("{a,b}{1,2}").0, ["a1", "a2", "b1", "b2"]);
    let (many, _) = brace_expand(&"{a,b}".repeat(20));
    assert!(many.len() > MAX_BRACE_TERMS);
}

// ------------------------------------------------------------------------------------------
// Conditionals

#[test]
fn conditional_lines() {
    let t = texts("@main one\n@other two\n@^main three\n@^other four\n@main\n@main\ttab\n@ main five\n@main   @main six\n");
    assert_eq!(t, ["one", "four", "tab", "@main six"]);
}

#[test]
fn conditional_from_parameter() {
    let t = texts("$C=@main\n$C kept\n$N=@^main\n${N} dropped\n@main $P=240\npriority $P\n");
    assert_eq!(t, ["kept", "priority 240"]);
}

// ------------------------------------------------------------------------------------------
// Parameters

#[test]
fn parameter_uses() {
    let t = texts(
        "$X=abc\n$X\n${X}y\n$Xy\n$X,z\n\"$X)\"\n$X =abc\n$Y= spaced  value   # c\n${Y}\n\"e$X\"\n${UNDEF} $UNDEF\n",
    );
    assert_eq!(
        t,
        [
            "abc",
            "abcy",
            "$Xy",
            "abc,z",
            "\"abc)\"",
            "abc =abc",
            "spaced  value",
            "\"e$X\"",
            "$",
            "{",
            "UNDEF",
            "}",
            "$UNDEF"
        ]
    );
}

#[test]
fn parameters_are_lazy_and_recursive() {
    let t = texts(
        "$ADDRESS_BASE=10.2.${ADDRESS_BASE_SUB}\n$ADDRESS_BASE_SUB=0\n${ADDRESS_BASE}.100/32\n$ADDRESS_BASE_SUB=10\n${ADDRESS_BASE}.100/32\n",
    );
    assert_eq!(t, ["10.2.0.100/32", "10.2.10.100/32"]);
}

#[test]
fn empty_definition() {
    assert_eq!(texts("$E=\na${E}b\n"), ["ab"]);
}

#[test]
fn multiline_definitions() {
    let t = texts(concat!(
        "$M= \\\n",
        "  \"m1 ${V}\" \\\n",
        "  @main \"m2\" \\\n",
        "  @other \"mx\" \\\n",
        "# a comment line does not end it\n",
        "  \"m3\"\n",
        "$V=vv\n",
        "$M\n",
        "\"pre\" $M\n",
        "\"x ${M}\"\n",
        "$M ,\n",
    ));
    assert_eq!(
        t,
        [
            "\"m1 vv\"",
            "\"m2\"",
            "\"m3\"",
            "\"pre\" \"m1 vv\"",
            "\"m2\"",
            "\"m3\"",
            "\"x ${M}\"",
            "$M ,"
        ]
    );
}

#[test]
fn multiline_definition_ends_at_blank_line() {
    let t = texts("$M2=first \\\n   second  \\\n\n\"after\"\n$M2\n");
    assert_eq!(t, ["\"after\"", "first", "second"]);
}

#[test]
fn multiline_whole_blocks_and_nesting() {
    let t = texts(concat!(
        "$RS= \\\n",
        "real_server 192.168.${VS}.${RS_NUM} 80 { \\\n",
        "  weight 1 \\\n",
        "}\n",
        "$VS_BLOCK= \\\n",
        "virtual_server 10.0.${VS}.4 80 { \\\n",
        "  $RS_NUM=1 \\\n",
        "  $RS \\\n",
        "  $RS_NUM=2 \\\n",
        "  $RS \\\n",
        "}\n",
        "$VS=0\n",
        "$VS_BLOCK\n",
    ));
    assert_eq!(
        t,
        [
            "virtual_server 10.0.0.4 80",
            "{",
            "real_server 192.168.0.1 80",
            "{",
            "weight 1",
            "}",
            "real_server 192.168.0.2 80",
            "{",
            "weight 1",
            "}",
            "}"
        ]
    );
}

#[test]
fn builtins() {
    let o = Options {
        config_id: "node1".into(),
        random_seed: Some(7),
        ..Options::default()
    };
    let (t, _) = pp_opts(
        "\"${_INSTANCE}\"\na${_HASH}b${_BANG}c\n\"${_HASH}\"\n$_PWD\n",
        &o,
    );
    assert_eq!(t[0], "\"node1\"");
    assert_eq!(t[1], "a\\#b\\!c");
    assert_eq!(t[2], "\"#\"");
    assert!(Path::new(&t[3]).is_absolute());
    // The lexer reads the escaped characters back.
    let toks = crate::lexer::tokenize(&t[1]);
    assert_eq!(toks[0].text, "a#b!c");
    let o = Options {
        instance: "inst".into(),
        ..o
    };
    assert_eq!(pp_opts("${_INSTANCE}", &o).0, ["inst"]);
}

#[test]
fn builtins_can_be_overridden() {
    assert_eq!(texts("$_HASH=redefined\n${_HASH}\n"), ["redefined"]);
}

#[test]
fn random_is_deterministic_and_in_range() {
    let o = Options {
        random_seed: Some(42),
        ..opts()
    };
    let content = "${_RANDOM}\n".repeat(50);
    let (a, _) = pp_opts(&content, &o);
    let (b, _) = pp_opts(&content, &o);
    assert_eq!(a, b);
    assert!(a.iter().all(|v| v.parse::<u32>().is_ok_and(|n| n <= 32767)));
    assert!(a.iter().any(|v| v != &a[0]));
    let (c, _) = pp_opts(
        &content,
        &Options {
            random_seed: Some(43),
            ..opts()
        },
    );
    assert_ne!(a, c);
}

#[test]
fn random_with_parameters_reproduces_2_2_7() {
    // keepalived 2.2.7 mangles the text after ${_RANDOM min max}: "x ${_RANDOM 5 7} y" gives
    // "x N _RANDOM 5 7} y" (the value, the character after the `}`, then the old text from the
    // name on), which then splits at the `}`.
    let (t, _) = pp_opts(
        "x ${_RANDOM 5 7} y\n",
        &Options {
            random_seed: Some(1),
            ..opts()
        },
    );
    assert_eq!(t.len(), 3);
    let first = t[0].as_bytes();
    assert!(matches!(first[2], b'5'..=b'7'), "{t:?}");
    assert_eq!(&t[0][3..], " _RANDOM 5 7");
    assert_eq!(t[1..], ["}", "y"]);
    // A trailing space inside the braces is not a use.
    assert_eq!(texts("${_RANDOM  5 7 }"), ["$", "{", "_RANDOM  5 7", "}"]);
}

#[test]
fn self_reference_is_bounded() {
    let (t, d) = pp("$A=$A$A\n${A}\n");
    assert_eq!(t.len(), 1);
    assert!(t[0].len() <= MAX_LINE);
    assert!(has_msg(&d, "would exceed maximum line length"));
    assert_eq!(d.exit_code(), 0);
    let (t, d) = pp("$A=x${A}\n${A}\n");
    assert!(t[0].starts_with("xxxx") && t[0].len() <= MAX_LINE);
    assert_eq!(d.exit_code(), 0);
}

#[test]
fn mutual_reference_is_reported_not_hung() {
    let (_, d) = pp("$B=${C}\n$C=${B}\n${B}\nafter\n");
    assert_eq!(d.exit_code(), 4);
    assert!(has_msg(&d, "does not end"));
}

#[test]
fn long_substitution_stops_at_line_limit() {
    let l = "0123456789".repeat(10);
    let (t, d) = pp(&format!("$L={l}\n{}\n", "$L ".repeat(18)));
    assert!(t[0].len() <= MAX_LINE);
    assert!(t[0].contains("$L"));
    assert!(has_msg(&d, "would exceed"));
}

// ------------------------------------------------------------------------------------------
// Repetition

#[test]
fn seq_forms() {
    assert_eq!(texts("~SEQ(i, 3) a${i}"), ["a1", "a2", "a3"]);
    assert_eq!(texts("~SEQ(j, 5, 3) a${j}"), ["a5", "a4", "a3"]);
    assert_eq!(texts("~SEQ(k, 1, 2, 6) a${k}"), ["a1", "a3", "a5"]);
    assert_eq!(texts("~SEQ(n, -2) a${n}"), ["a-1", "a-2"]);
    assert_eq!(texts("~SEQ(z, 0) a${z}"), ["a1", "a0"]);
    assert_eq!(texts("~SEQx(h, 9, 3, 15) h${h}"), ["h9", "hc", "hf"]);
    assert_eq!(
        texts("~SEQx(h, 0x90, 0x10, 0xc0) ${h}"),
        ["90", "a0", "b0", "c0"]
    );
    assert_eq!(texts("~SEQ (w,1) w${w}"), ["w1"]);
    assert_eq!(texts("~SEQ( w , 1 , 2 )\"s${w}\""), ["\"s1\"", "\"s2\""]);
    assert_eq!(texts("~SEQ(w 1) bad"), ["bad", "bad"]);
    assert_eq!(
        texts("$SN=2\n~SEQ(w,$SN) p${w}\n~SEQ(v,${SN}) q${v}"),
        ["p1", "p2", "q1", "q2"]
    );
    // The variable stays defined; $i followed by a space is replaced too.
    assert_eq!(texts("~SEQ(i,3)\nafter $i"), ["after 3"]);
}

#[test]
fn seq_nested_and_with_multiline() {
    assert_eq!(
        texts("~SEQ(a,1,2) ~SEQ(b,1,2) ab${a}${b}"),
        ["ab11", "ab12", "ab21", "ab22"]
    );
    let t = texts("$ML= \\\n m${i}a \\\n m${i}b\n~SEQ(i,2) $ML\nend\n");
    assert_eq!(t, ["m1a", "m1b", "m2a", "m2b", "end"]);
    assert_eq!(texts("$SQ=~SEQ(k,2) k${k}\n$SQ\n"), ["k1", "k2"]);
    assert_eq!(texts("~SEQ(s,1,2) $D${s}=v${s}\n${D1} ${D2}"), ["v1 v2"]);
    assert_eq!(texts("~SEQ(r,1,2) @main r${r}"), ["r1", "r2"]);
    assert_eq!(texts("~SEQ(r,1,2) @other r${r}"), Vec::<String>::new());
}

#[test]
fn seq_errors() {
    for (line, msg) in [
        ("~SEQ(w,1,0,3) x", "Invalid ~SEQ values"),
        ("~SEQ(w,1,-1,3) x", "Invalid ~SEQ values"),
        (
            "~SEQx(w,-1,3) x",
            "~SEQx is only valid for positive numbers",
        ),
        ("~SEQ(w) x", "Invalid ~SEQ definition"),
        ("~SEQ(w,1,2,3,4) x", "Invalid ~SEQ definition"),
        ("~SEQfoo", "Invalid ~SEQ specification"),
        ("~SEQ(w,1 x", "~SEQ parameter strings too long"),
        (
            &format!("~SEQ(w,{}) x", "1".repeat(70)),
            "~SEQ parameter strings too long",
        ),
    ] {
        let (t, d) = pp(&format!("{line}\nnext"));
        assert_eq!(t, ["next"], "{line}");
        assert_eq!(d.exit_code(), 5, "{line}");
        assert!(has_msg(&d, msg), "{line}: {:?}", d.items());
        assert!(has_msg(&d, "Invalid ~SEQ specification"), "{line}");
        let i = d.items().first().expect("diag");
        assert!(i.message.contains("~SEQ"));
        assert_eq!(i.location.as_ref().map(|l| l.line), Some(1));
    }
    let (_, d) = pp("$M= \\\n a \\\n b\n~SEQ(w,$M) x");
    assert!(has_msg(&d, "~SEQ parameter is multiline definition") || d.exit_code() == 5);
}

#[test]
fn lst_forms() {
    assert_eq!(texts("~LST(l, x, y , z) l${l}"), ["lx", "ly", "lz"]);
    assert_eq!(
        texts("~LST({p,q},{1,2},{3,4}) pq${p}${q}"),
        ["pq12", "pq34"]
    );
    assert_eq!(texts("~LST({a,b},{1},{2,3}) v${a}-${b}"), ["v1-", "v2-3"]);
    assert_eq!(texts("~LST(a,1,,2) v${a}"), ["v1", "v", "v2"]);
    assert_eq!(texts("~LST(a,) v${a}"), ["v"]);
    assert_eq!(texts("~LST({a,b}, 1, 2) v${a}-${b}"), ["v1-", "v2-"]);
    assert_eq!(texts("~LST({ a , b },{ 1 , 2 }) v${a}-${b}"), ["v1-2"]);
    assert_eq!(texts("~LST(a,{1},{2})v${a}"), ["v1", "v2"]);
    assert_eq!(texts("~LST(a,a{b) \"v${a}\""), ["\"va{b\""]);
    assert_eq!(
        texts("~LST(IP, 1, 2) ~LST(IP1, 5,6) 192.169.${IP}.${IP1}"),
        ["192.169.1.5", "192.169.1.6", "192.169.2.5", "192.169.2.6"]
    );
    assert_eq!(
        texts("~LST({IP, IP1}, {10,1},{20,4}) ~SEQ(IP2,168,2,170) 192.${IP2}.${IP}.${IP1}"),
        [
            "192.168.10.1",
            "192.170.10.1",
            "192.168.20.4",
            "192.170.20.4"
        ]
    );
}

#[test]
fn lst_errors() {
    for line in [
        "~LST(a) x",
        "~LST(a, 1 2) x",
        "~LST(a,1,2 x",
        "~LST(l,${LV}) x",
        "~LST(l,a}b) x",
        "~LST({l},{a b}) x",
        "~LST(l,\"x y\",z) x",
        "~LST x",
    ] {
        let (t, d) = pp(&format!("{line}\nnext"));
        assert_eq!(t, ["next"], "{line}");
        assert_eq!(d.exit_code(), 5, "{line}");
        assert!(has_msg(&d, "Invalid ~LST specification"), "{line}");
    }
    let (_, d) = pp("~LST(v, {a,b}, c) x");
    assert!(has_msg(&d, "~LST specification has too many values"));
}

#[test]
fn other_tilde_lines_pass_through() {
    assert_eq!(texts("~foo bar"), ["~foo bar"]);
}

#[test]
fn generated_lines_are_capped() {
    let (t, d) = pp("~SEQ(a,1,3000) ~SEQ(b,1,1000)\nafter\n");
    assert_eq!(t, ["after"]);
    assert_eq!(d.exit_code(), 5);
    assert!(has_msg(&d, "generate more than"));
}

#[test]
fn numbers_parse_like_strtol() {
    assert_eq!(strtol0(b"0x1f)", 0), (31, 4));
    assert_eq!(strtol0(b" 010,", 0), (8, 4));
    assert_eq!(strtol0(b"-5", 0), (-5, 2));
    assert_eq!(strtol0(b")", 0), (0, 0));
    assert_eq!(strtol0(b"99999999999999999999999", 0).0, i64::MAX);
    assert_eq!(strtoul(b"12 34"), (12, 2));
}

#[test]
fn decomment_matches_keepalived() {
    assert_eq!(decomment(b"  a b  # c"), b"a b");
    assert_eq!(decomment(b"a \\# b"), b"a # b");
    assert_eq!(decomment(b"\"a \\# b\""), b"\"a \\# b\"");
    assert_eq!(decomment(b"value   \\"), b"value\\");
    assert_eq!(decomment(b"x # comment \\"), b"x\\");
}

mod props {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn never_panics_on_random_bytes(data in proptest::collection::vec(any::<u8>(), 0..4096)) {
            let s = Scratch::new();
            let p = s.write("r.conf", &data);
            let _ = run_with(&p, &opts());
        }

        #[test]
        fn never_panics_on_directive_soup(parts in proptest::collection::vec(
            prop_oneof![
                Just("$A=".to_string()), Just("${A}".to_string()), Just("$A".to_string()),
                Just("~SEQ(".to_string()), Just("~LST(".to_string()), Just("{".to_string()),
                Just("}".to_string()), Just(",".to_string()), Just(")".to_string()),
                Just("@main ".to_string()), Just("@^x ".to_string()), Just("\\".to_string()),
                Just("\n".to_string()), Just(" ".to_string()), Just("\"".to_string()),
                Just("#".to_string()), Just("include r.conf".to_string()),
                Just("${_RANDOM 3 9}".to_string()), Just("1".to_string()), Just("x".to_string()),
            ], 0..80)) {
            let s = Scratch::new();
            let p = s.write("r.conf", parts.concat());
            let _ = run_with(&p, &opts());
        }
    }
}
