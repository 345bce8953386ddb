//! `keepalived-rs status`: asks a running daemon (see `control.rs`) and prints a table or the
//! JSON document. Exit status: 0 when every instance is MASTER or BACKUP and every virtual
//! server has quorum; 1 when something is in FAULT (or INIT) or lacks quorum; 2 when no daemon
//! answers (or refuses: not root).

use crate::control;
use clap::Parser;
use serde_json::Value;
use std::fmt::Write as _;
use std::process::ExitCode;

/// keepalived-rs status: what a running daemon is doing.
#[derive(Debug, Parser)]
#[command(name = "keepalived-rs status")]
struct StatusCli {
    /// Print the daemon's JSON document instead of tables.
    #[arg(long)]
    json: bool,
    /// The daemon's main pid file (as given to it with `-p`).
    #[arg(short = 'p', long = "pid", value_name = "FILE")]
    pid: Option<String>,
    /// The daemon's `instance` name (global_defs), which names its pid file.
    #[arg(short = 'i', long = "instance", value_name = "NAME")]
    instance: Option<String>,
    /// Ask the daemon in network namespace NAME (`ip netns` name, as the daemon's `-s`).
    #[arg(short = 's', long = "namespace", value_name = "NAME")]
    namespace: Option<String>,
}

/// Exit statuses.
const HEALTHY: u8 = 0;
const DEGRADED: u8 = 1;
const NO_ANSWER: u8 = 2;

/// Runs the sub-command; `args[0]` is `status`.
pub fn main(args: &[String]) -> ExitCode {
    let cli = match StatusCli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { NO_ANSWER } else { HEALTHY });
        }
    };
    if let Some(ns) = &cli.namespace {
        if let Err(e) = crate::process::enter_netns(ns) {
            eprintln!("keepalived-rs status: network namespace {ns}: {e}");
            return ExitCode::from(NO_ANSWER);
        }
    }
    // The daemon names its pid file after `instance`, or else its `-s` namespace (keepalived's
    // rule); one started by `ip netns exec` without `-s` has the plain name: tried second.
    let mut candidates = vec![control::main_pid_file(
        cli.pid.as_deref(),
        cli.instance.as_deref().or(cli.namespace.as_deref()),
    )];
    if cli.pid.is_none() && cli.instance.is_none() && cli.namespace.is_some() {
        candidates.push(control::main_pid_file(None, None));
    }
    let mut answer = None;
    for pid_file in &candidates {
        let name = control::socket_name(pid_file);
        match control::query(&name, std::time::Duration::from_secs(10)) {
            Ok(d) => {
                answer = Some(Ok(d));
                break;
            }
            Err(control::QueryError::NoDaemon(_)) if answer.is_none() => {
                answer = Some(Err(control::QueryError::NoDaemon(name)));
            }
            Err(e) => {
                answer = Some(Err(e));
                break;
            }
        }
    }
    let doc = match answer {
        Some(Ok(d)) => d,
        Some(Err(e)) => {
            eprintln!("keepalived-rs status: {e}");
            return ExitCode::from(NO_ANSWER);
        }
        None => return ExitCode::from(NO_ANSWER),
    };
    if cli.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&doc).unwrap_or_else(|_| doc.to_string())
        );
    } else {
        print!("{}", render(&doc));
    }
    ExitCode::from(verdict(&doc))
}

/// 0, 1 or 2 from the document (see the module comment).
pub fn verdict(doc: &Value) -> u8 {
    for part in ["vrrp", "lvs"] {
        if doc.get(part).and_then(|p| p.get("error")).is_some() {
            return NO_ANSWER;
        }
    }
    let instances = doc["vrrp"]["instances"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let bad_instance = instances
        .iter()
        .any(|i| !matches!(i["state"].as_str(), Some("MASTER" | "BACKUP")));
    let servers = doc["lvs"]["virtual_servers"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let bad_server = servers.iter().any(|v| v["quorum_up"] != Value::Bool(true));
    if bad_instance || bad_server {
        DEGRADED
    } else {
        HEALTHY
    }
}

fn text(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn duration(v: &Value) -> String {
    let Some(s) = v.as_f64() else {
        return "-".into();
    };
    let s = s.max(0.0);
    if s < 60.0 {
        format!("{s:.1}s")
    } else if s < 3600.0 {
        format!("{}m{:02}s", (s / 60.0) as u64, (s % 60.0) as u64)
    } else if s < 86_400.0 {
        format!(
            "{}h{:02}m",
            (s / 3600.0) as u64,
            ((s % 3600.0) / 60.0) as u64
        )
    } else {
        format!(
            "{}d{:02}h",
            (s / 86_400.0) as u64,
            ((s % 86_400.0) / 3600.0) as u64
        )
    }
}

fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// Rows with left-aligned columns, two spaces apart.
fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    let line = |cells: Vec<String>, out: &mut String| {
        let n = cells.len();
        for (i, (c, w)) in cells.iter().zip(&widths).enumerate() {
            if i + 1 == n {
                out.push_str(c);
            } else {
                let _ = write!(out, "{c:<w$}  ");
            }
        }
        let kept = out.trim_end_matches(' ').len();
        out.truncate(kept);
        out.push('\n');
    };
    line(header.iter().map(|h| (*h).to_string()).collect(), &mut out);
    for r in rows {
        line(r.clone(), &mut out);
    }
    out
}

/// The tables `status` prints.
pub fn render(doc: &Value) -> String {
    let mut out = String::new();
    let d = &doc["daemon"];
    let _ = writeln!(
        out,
        "keepalived-rs {} pid {} up {} config {}",
        text(&d["version"]),
        text(&d["pid"]),
        duration(&d["uptime_s"]),
        text(&d["config"])
    );
    let vrrp = &doc["vrrp"];
    if let Some(err) = vrrp.get("error") {
        let _ = writeln!(out, "\nVRRP: {}", text(err));
    } else if let Some(instances) = vrrp["instances"].as_array() {
        let rows: Vec<Vec<String>> = instances
            .iter()
            .map(|i| {
                vec![
                    text(&i["name"]),
                    text(&i["interface"]),
                    text(&i["vrid"]),
                    text(&i["state"]),
                    format!(
                        "{}/{}",
                        text(&i["priority"]),
                        text(&i["effective_priority"])
                    ),
                    text(&i["master"]),
                    i["vips"]
                        .as_array()
                        .map(|v| v.iter().map(text).collect::<Vec<_>>().join(","))
                        .unwrap_or_default(),
                    duration(&i["in_state_s"]),
                    match &i["last_transition"] {
                        Value::Null => "-".into(),
                        t => format!(
                            "{} -> {} {} ago: {}",
                            text(&t["from"]),
                            text(&t["to"]),
                            duration(&t["ago_s"]),
                            text(&t["cause"])
                        ),
                    },
                ]
            })
            .collect();
        let _ = writeln!(out, "\nVRRP instances");
        out.push_str(&table(
            &[
                "INSTANCE",
                "INTERFACE",
                "VRID",
                "STATE",
                "PRIO/EFF",
                "MASTER",
                "VIPS",
                "IN STATE",
                "LAST TRANSITION",
            ],
            &rows,
        ));
        for i in instances {
            for t in i["trackers"].as_array().into_iter().flatten() {
                let _ = writeln!(
                    out,
                    "  {} tracks {}: {} (weight {}{}) -> {}",
                    text(&i["name"]),
                    text(&t["name"]),
                    text(&t["state"]),
                    text(&t["weight"]),
                    if t["reverse"] == Value::Bool(true) {
                        " reverse"
                    } else {
                        ""
                    },
                    text(&t["effect"])
                );
            }
            for f in i["faults"].as_array().into_iter().flatten() {
                let _ = writeln!(out, "  {} fault: {}", text(&i["name"]), text(f));
            }
        }
        for g in vrrp["sync_groups"].as_array().into_iter().flatten() {
            let members: Vec<String> = g["members"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|m| format!("{} {}", text(&m["name"]), text(&m["state"])))
                .collect();
            let _ = writeln!(
                out,
                "sync group {}: {}",
                text(&g["name"]),
                members.join(", ")
            );
        }
        for s in vrrp["scripts"].as_array().into_iter().flatten() {
            let _ = writeln!(
                out,
                "vrrp_script {}: {} (ok {}, failed {}, timed out {})",
                text(&s["name"]),
                text(&s["status"]),
                text(&s["success"]),
                text(&s["failure"]),
                text(&s["timeout"])
            );
        }
    }
    let lvs = &doc["lvs"];
    if let Some(err) = lvs.get("error") {
        let _ = writeln!(out, "\nLVS: {}", text(err));
    } else if let Some(servers) = lvs["virtual_servers"].as_array() {
        let _ = writeln!(
            out,
            "\nVirtual servers (IPVS backend {}, {} operations, {} errors)",
            text(&lvs["backend"]),
            text(&lvs["ipvs_operations"]),
            text(&lvs["ipvs_errors"])
        );
        let mut rows = Vec::new();
        for v in servers {
            let sorry = match &v["sorry_server"] {
                Value::Null => String::new(),
                s if s["in_use"] == Value::Bool(true) => {
                    format!(" sorry {} IN USE", text(&s["name"]))
                }
                s => format!(" sorry {}", text(&s["name"])),
            };
            rows.push(vec![
                text(&v["name"]),
                format!(
                    "{} ({} alive, quorum {}){sorry}",
                    if v["quorum_up"] == Value::Bool(true) {
                        "quorum up"
                    } else {
                        "QUORUM LOST"
                    },
                    text(&v["alive"]),
                    text(&v["quorum"]),
                ),
                String::new(),
                String::new(),
                String::new(),
            ]);
            for r in v["real_servers"].as_array().into_iter().flatten() {
                let checks: Vec<String> = r["checkers"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|c| {
                        let last = match &c["last"] {
                            Value::Null => "no result yet".to_string(),
                            l => format!(
                                "{} {} ago{}",
                                if l["ok"] == Value::Bool(true) {
                                    "ok"
                                } else {
                                    "failed"
                                },
                                duration(&l["ago_s"]),
                                match l["reason"].as_str() {
                                    Some("") | None => String::new(),
                                    Some(r) => format!(": {r}"),
                                }
                            ),
                        };
                        format!(
                            "{} {} ({last})",
                            text(&c["kind"]),
                            if c["up"] == Value::Bool(true) {
                                "up"
                            } else {
                                "DOWN"
                            }
                        )
                    })
                    .collect();
                let st = &r["stats"];
                rows.push(vec![
                    format!("  {}", text(&r["name"])),
                    if r["alive"] == Value::Bool(true) {
                        "alive".into()
                    } else {
                        "DOWN".into()
                    },
                    format!(
                        "weight {}{}",
                        text(&r["effective_weight"]),
                        if r["in_kernel"] == Value::Bool(true) {
                            String::new()
                        } else {
                            " (not in IPVS)".into()
                        }
                    ),
                    format!(
                        "conns {} act {} inact {} in {} out {} {}/s",
                        text(&st["conns"]),
                        text(&r["active_conns"]),
                        text(&r["inactive_conns"]),
                        bytes(st["inbytes"].as_u64().unwrap_or(0)),
                        bytes(st["outbytes"].as_u64().unwrap_or(0)),
                        text(&st["cps"])
                    ),
                    checks.join("; "),
                ]);
            }
        }
        out.push_str(&table(
            &["SERVER", "STATE", "WEIGHT", "IPVS", "CHECKS"],
            &rows,
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc(state: &str, quorum: bool) -> Value {
        json!({
            "daemon": {"pid": 1, "version": "0", "config": "k.conf", "uptime_s": 5.0},
            "vrrp": {"instances": [{"name": "VI_1", "interface": "eth0", "vrid": 51,
                "state": state, "priority": 100, "effective_priority": 80, "master": "10.0.0.1",
                "vips": ["10.0.0.100"], "in_state_s": 3.0, "last_transition": null,
                "trackers": [{"name": "script chk", "state": "DOWN", "weight": -20, "reverse": false, "effect": -20}],
                "faults": []}], "sync_groups": [], "scripts": []},
            "lvs": {"backend": "memory", "ipvs_operations": 3, "ipvs_errors": 0,
                "virtual_servers": [{"name": "[10.0.0.1]:tcp:80", "quorum": 1, "quorum_up": quorum,
                "alive": 1, "sorry_server": null, "real_servers": []}]},
        })
    }

    #[test]
    fn exit_status_follows_states_and_quorum() {
        assert_eq!(verdict(&doc("MASTER", true)), 0);
        assert_eq!(verdict(&doc("BACKUP", true)), 0);
        assert_eq!(verdict(&doc("FAULT", true)), 1);
        assert_eq!(verdict(&doc("MASTER", false)), 1);
        let mut d = doc("MASTER", true);
        d["lvs"] = json!({"error": "the checker process did not answer"});
        assert_eq!(verdict(&d), 2);
    }

    #[test]
    fn the_table_names_what_moves_the_priority() {
        let t = render(&doc("BACKUP", true));
        assert!(t.contains("VI_1"), "{t}");
        assert!(t.contains("100/80"), "{t}");
        assert!(
            t.contains("tracks script chk: DOWN (weight -20) -> -20"),
            "{t}"
        );
        assert!(t.contains("quorum up"), "{t}");
    }
}
