//! The keyword inventory (which generates docs/compatibility.md) must tell the truth: every
//! VRRP-side keyword marked Supported is modelled by a typed handler, and every one marked
//! ParsedOnly is kept raw in `Config::parsed_only`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use ka_config::env::FakeEnvironment;
use ka_config::keywords::{self, Status};
use ka_config::preprocess::Options;

const VS: &str = "virtual_server 10.0.0.1 80 {\nprotocol TCP\n";
const RS: &str = "real_server 10.0.0.2 80 {\n";
const VI: &str = "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 51\n virtual_ipaddress { 10.0.0.100/24 }\n";

/// A configuration holding `line` inside block `path`.
fn wrap(path: &str, line: &str) -> Option<String> {
    Some(match path {
        "root" => format!("{line}\n"),
        "global_defs" => format!("global_defs {{\n{line}\n}}\n"),
        "vrrp_instance" => format!("{VI}{line}\n}}\n"),
        "vrrp_instance.authentication" => {
            format!("{VI}authentication {{\nauth_type PASS\n{line}\n}}\n}}\n")
        }
        "vrrp_script" => format!("vrrp_script s {{\nscript /bin/true\n{line}\n}}\n"),
        "track_file" => format!("track_file t {{\nfile /tmp/x\n{line}\n}}\n"),
        "vrrp_track_process" => format!("vrrp_track_process p {{\nprocess x\n{line}\n}}\n"),
        "vrrp_sync_group" => {
            format!("{VI}}}\nvrrp_sync_group g {{\ngroup {{\nVI_1\n}}\n{line}\n}}\n")
        }
        "virtual_server" => format!("{VS}{line}\n{RS}}}\n}}\n"),
        "real_server" => format!("{VS}{RS}{line}\n}}\n}}\n"),
        "HTTP_GET.url" => {
            format!("{VS}{RS}HTTP_GET {{\nurl {{\npath /\n{line}\n}}\n}}\n}}\n}}\n")
        }
        "HTTP_GET" | "SSL_GET" => {
            format!("{VS}{RS}{path} {{\nurl {{\npath /\n}}\n{line}\n}}\n}}\n}}\n")
        }
        "TCP_CHECK" | "SMTP_CHECK" | "DNS_CHECK" | "UDP_CHECK" | "PING_CHECK" => {
            format!("{VS}{RS}{path} {{\n{line}\n}}\n}}\n}}\n")
        }
        "MISC_CHECK" => {
            format!("{VS}{RS}MISC_CHECK {{\nmisc_path /nonexistent/x\n{line}\n}}\n}}\n}}\n")
        }
        "FILE_CHECK" => format!(
            "track_file t {{\nfile /tmp/x\n}}\n{VS}{RS}FILE_CHECK {{\ntrack_file t\n{line}\n}}\n}}\n}}\n"
        ),
        "SSL" => format!("SSL {{\n{line}\n}}\n"),
        _ => return None,
    })
}

/// Whether any raw statement (anywhere in the model) has this keyword.
fn has_raw(v: &serde_json::Value, keyword: &str) -> bool {
    match v {
        serde_json::Value::Object(m) => {
            (m.contains_key("has_block")
                && m.get("keyword").and_then(|k| k.as_str()) == Some(keyword))
                || m.values().any(|x| has_raw(x, keyword))
        }
        serde_json::Value::Array(a) => a.iter().any(|x| has_raw(x, keyword)),
        _ => false,
    }
}

fn parsed_only(text: &str, keyword: &str) -> bool {
    let dir = std::env::temp_dir().join(format!("ka-inv-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("k.conf");
    std::fs::write(&path, text).unwrap();
    let opts = Options {
        config_id: "t".into(),
        ..Options::default()
    };
    let loaded = ka_config::load(&path, &opts, &FakeEnvironment::lab());
    has_raw(&serde_json::to_value(&loaded.config).unwrap(), keyword)
}

#[test]
fn statuses_match_the_handlers() {
    let mut wrong = Vec::new();
    for block in keywords::BLOCKS {
        for kw in block.keywords {
            if kw.name.starts_with("include") {
                continue;
            }
            let line = if kw.block {
                format!("{} {{\n1\n}}", kw.name)
            } else {
                format!("{} 1", kw.name)
            };
            let Some(text) = wrap(block.path, &line) else {
                continue;
            };
            let raw = parsed_only(&text, kw.name);
            let ok = match kw.status {
                Status::Supported => !raw,
                Status::ParsedOnly | Status::Differs => raw,
                Status::NotYet => false,
            };
            if !ok {
                wrong.push(format!(
                    "{}.{} is {:?} but raw={raw}",
                    block.path, kw.name, kw.status
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{} inventory entries disagree with the model:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}
