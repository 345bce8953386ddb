//! Prometheus metrics at `GET /metrics`, opt-in with `--metrics-listen ADDR:PORT` (no config
//! keyword: keepalived's `-t` would reject a shared file that had one).
//!
//! The names and labels are those of the widely used keepalived exporter
//! (`keepalived_vrrp_state{iname,intf,vrid,ip_address}`, `keepalived_advertisements_*`...), so
//! dashboards built on it keep working; ours are prefixed `keepalived_rs_`. Rendered from the
//! same document as `keepalived-rs status`, on the metrics thread: a scrape never runs on the
//! VRRP thread beyond the snapshot it asks for.

use crate::control::Collect;
use crate::logging::log;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

/// Label values escaped as the text format wants.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn labels(pairs: &[(&str, String)]) -> String {
    let inner: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
        .collect();
    format!("{{{}}}", inner.join(","))
}

fn s(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn n(v: &Value) -> f64 {
    v.as_f64()
        .or_else(|| v.as_bool().map(|b| if b { 1.0 } else { 0.0 }))
        .unwrap_or(0.0)
}

/// Metric families: HELP/TYPE once, then samples, in a stable order.
#[derive(Default)]
struct Families {
    order: Vec<&'static str>,
    meta: BTreeMap<&'static str, (&'static str, &'static str)>,
    samples: BTreeMap<&'static str, Vec<(String, f64)>>,
}

impl Families {
    fn add(
        &mut self,
        name: &'static str,
        kind: &'static str,
        help: &'static str,
        l: String,
        v: f64,
    ) {
        if !self.meta.contains_key(name) {
            self.order.push(name);
            self.meta.insert(name, (kind, help));
        }
        self.samples.entry(name).or_default().push((l, v));
    }

    fn render(&self) -> String {
        let mut out = String::new();
        for name in &self.order {
            let (kind, help) = self.meta[name];
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} {kind}");
            for (l, v) in self.samples.get(name).into_iter().flatten() {
                let _ = writeln!(out, "{name}{l} {v}");
            }
        }
        out
    }
}

fn state_number(state: &str) -> f64 {
    match state {
        "BACKUP" => 1.0,
        "MASTER" => 2.0,
        "FAULT" => 3.0,
        _ => 0.0,
    }
}

/// The exporter's counters: (its metric name, our stats key, help).
const INSTANCE_COUNTERS: &[(&str, &str, &str)] = &[
    (
        "keepalived_advertisements_received_total",
        "advert_rcvd",
        "Adverts received.",
    ),
    (
        "keepalived_advertisements_sent_total",
        "advert_sent",
        "Adverts sent.",
    ),
    (
        "keepalived_become_master_total",
        "become_master",
        "Times the instance became master.",
    ),
    (
        "keepalived_release_master_total",
        "release_master",
        "Times the instance left master.",
    ),
    (
        "keepalived_priority_zero_received_total",
        "pri_zero_rcvd",
        "Priority 0 adverts received.",
    ),
    (
        "keepalived_priority_zero_sent_total",
        "pri_zero_sent",
        "Priority 0 adverts sent.",
    ),
];

/// The exporter's error counters and the drop reasons (`DropReason::counter_name`) they sum.
const DROP_COUNTERS: &[(&str, &[&str], &str)] = &[
    (
        "keepalived_packet_length_errors_total",
        &["bad_length", "ip_length_mismatch"],
        "Adverts of a wrong length.",
    ),
    (
        "keepalived_advertisements_interval_errors_total",
        &["interval_mismatch"],
        "Adverts with another interval.",
    ),
    (
        "keepalived_ip_ttl_errors_total",
        &["bad_ttl", "ttl_out_of_range"],
        "Adverts with a wrong TTL.",
    ),
    (
        "keepalived_invalid_type_received_total",
        &["bad_type"],
        "Packets of an unknown VRRP type.",
    ),
    (
        "keepalived_address_list_errors_total",
        &[
            "addr_count_mismatch",
            "multicast_on_unicast",
            "unicast_on_multicast",
            "addr_list_mismatch",
        ],
        "Adverts with another address list.",
    ),
    (
        "keepalived_authentication_invalid_total",
        &["invalid_auth_type"],
        "Adverts with an unknown auth type.",
    ),
    (
        "keepalived_authentication_mismatch_total",
        &["auth_type_mismatch"],
        "Adverts with another auth type.",
    ),
    (
        "keepalived_authentication_failure_total",
        &["auth_failure"],
        "Adverts failing authentication.",
    ),
];

/// The Prometheus text for a status document.
pub fn render(doc: &Value) -> String {
    let mut f = Families::default();
    f.add(
        "keepalived_up",
        "gauge",
        "Whether keepalived-rs answered.",
        String::new(),
        1.0,
    );
    let vrrp = &doc["vrrp"];
    for i in vrrp["instances"].as_array().into_iter().flatten() {
        let base = [
            ("iname", s(&i["name"])),
            ("intf", s(&i["interface"])),
            ("vrid", s(&i["vrid"])),
        ];
        let state = s(&i["state"]);
        // One series per VIP; one with an empty address for an instance without VIPs (as the
        // exporter does).
        // `intf` is the VIP's own device, as the exporter reads it from keepalived's dump.
        let vips: Vec<(String, String)> = match i["vips"].as_array() {
            Some(v) if !v.is_empty() => v
                .iter()
                .enumerate()
                .map(|(k, a)| {
                    let dev = i["vip_devices"][k]
                        .as_str()
                        .map_or_else(|| s(&i["interface"]), str::to_string);
                    (s(a), dev)
                })
                .collect(),
            _ => vec![(String::new(), s(&i["interface"]))],
        };
        for (vip, dev) in vips {
            let l = [
                ("iname", s(&i["name"])),
                ("intf", dev),
                ("vrid", s(&i["vrid"])),
                ("ip_address", vip),
            ];
            f.add(
                "keepalived_vrrp_state",
                "gauge",
                "State of the instance: 0 INIT, 1 BACKUP, 2 MASTER, 3 FAULT (one series per VIP).",
                labels(&l),
                state_number(&state),
            );
        }
        for e in i["excluded_vips"].as_array().into_iter().flatten() {
            f.add(
                "keepalived_vrrp_excluded_state",
                "gauge",
                "State of the instance, one series per virtual_ipaddress_excluded address.",
                labels(&[
                    ("iname", s(&i["name"])),
                    ("intf", s(&e["device"])),
                    ("vrid", s(&i["vrid"])),
                    ("ip_address", s(&e["address"])),
                ]),
                state_number(&state),
            );
        }
        let ls = labels(&base);
        for (name, key, help) in INSTANCE_COUNTERS {
            f.add(name, "counter", help, ls.clone(), n(&i["stats"][*key]));
        }
        for (name, reasons, help) in DROP_COUNTERS {
            let mut v: f64 = reasons.iter().map(|r| n(&i["drops"][*r])).sum();
            if *name == "keepalived_address_list_errors_total" {
                v += n(&i["stats"]["address_list_mismatch"]);
            }
            f.add(name, "counter", help, ls.clone(), v);
        }
        f.add(
            "keepalived_gratuitous_arp_delay_total",
            "counter",
            "Gratuitous ARP delays (not measured by keepalived-rs: always 0).",
            ls.clone(),
            0.0,
        );
        let iname = labels(&[("iname", s(&i["name"]))]);
        f.add(
            "keepalived_rs_effective_priority",
            "gauge",
            "Priority after trackers.",
            iname.clone(),
            n(&i["effective_priority"]),
        );
        f.add(
            "keepalived_rs_priority",
            "gauge",
            "Configured priority.",
            iname.clone(),
            n(&i["priority"]),
        );
        for t in i["transitions"].as_array().into_iter().flatten() {
            f.add(
                "keepalived_rs_transitions_total",
                "counter",
                "State changes by state entered and cause.",
                labels(&[
                    ("iname", s(&i["name"])),
                    ("to", s(&t["to"])),
                    ("cause", s(&t["cause"])),
                ]),
                n(&t["count"]),
            );
        }
        for (reason, count) in i["drops"].as_object().into_iter().flatten() {
            f.add(
                "keepalived_rs_packets_dropped_total",
                "counter",
                "Adverts dropped, by reason.",
                labels(&[("iname", s(&i["name"])), ("reason", reason.clone())]),
                n(count),
            );
        }
    }
    for s_ in vrrp["scripts"].as_array().into_iter().flatten() {
        let name = labels(&[("name", s(&s_["name"]))]);
        // Only a known verdict, as the exporter (a script that has not run yet has none).
        let status = match s_["status"].as_str() {
            Some("GOOD") => Some(1.0),
            Some("BAD") => Some(0.0),
            _ => None,
        };
        if let Some(v) = status {
            f.add(
                "keepalived_script_status",
                "gauge",
                "vrrp_script verdict: 1 GOOD, 0 BAD.",
                name.clone(),
                v,
            );
        }
        f.add(
            "keepalived_script_state",
            "gauge",
            "vrrp_script: 0 idle, 1 running, 2 requested termination, 3 forcing termination.",
            name,
            n(&s_["state"]),
        );
        for (result, key) in [
            ("success", "success"),
            ("failure", "failure"),
            ("timeout", "timeout"),
        ] {
            f.add(
                "keepalived_rs_script_runs_total",
                "counter",
                "vrrp_script runs by result.",
                labels(&[("name", s(&s_["name"])), ("result", result.to_string())]),
                n(&s_[key]),
            );
        }
    }
    let lvs = &doc["lvs"];
    if lvs.get("virtual_servers").is_some() {
        f.add(
            "keepalived_rs_ipvs_operations_total",
            "counter",
            "IPVS operations sent to the kernel.",
            String::new(),
            n(&lvs["ipvs_operations"]),
        );
        f.add(
            "keepalived_rs_ipvs_errors_total",
            "counter",
            "IPVS operations the kernel refused.",
            String::new(),
            n(&lvs["ipvs_errors"]),
        );
    }
    for v in lvs["virtual_servers"].as_array().into_iter().flatten() {
        let vs = s(&v["name"]);
        f.add(
            "keepalived_rs_virtual_server_quorum_up",
            "gauge",
            "Whether the virtual server has quorum.",
            labels(&[("vs", vs.clone())]),
            n(&v["quorum_up"]),
        );
        f.add(
            "keepalived_rs_virtual_server_real_servers_alive",
            "gauge",
            "Real servers whose checkers all pass.",
            labels(&[("vs", vs.clone())]),
            n(&v["alive"]),
        );
        f.add(
            "keepalived_rs_virtual_server_quorum",
            "gauge",
            "The configured quorum.",
            labels(&[("vs", vs.clone())]),
            n(&v["quorum"]),
        );
        for r in v["real_servers"].as_array().into_iter().flatten() {
            let l = labels(&[("vs", vs.clone()), ("rs", s(&r["name"]))]);
            let st = &r["stats"];
            let gauges: [(&'static str, &'static str, f64); 7] = [
                (
                    "keepalived_rs_ipvs_connections_per_second",
                    "Connection rate (IPVS estimator).",
                    n(&st["cps"]),
                ),
                (
                    "keepalived_rs_ipvs_bytes_in_per_second",
                    "Incoming byte rate (IPVS estimator).",
                    n(&st["inbps"]),
                ),
                (
                    "keepalived_rs_ipvs_bytes_out_per_second",
                    "Outgoing byte rate (IPVS estimator).",
                    n(&st["outbps"]),
                ),
                (
                    "keepalived_rs_real_server_up",
                    "Whether every checker of the real server passes.",
                    n(&r["alive"]),
                ),
                (
                    "keepalived_rs_real_server_weight",
                    "Weight with dynamic changes.",
                    n(&r["effective_weight"]),
                ),
                (
                    "keepalived_rs_ipvs_active_connections",
                    "Active connections (IPVS).",
                    n(&r["active_conns"]),
                ),
                (
                    "keepalived_rs_ipvs_inactive_connections",
                    "Inactive connections (IPVS).",
                    n(&r["inactive_conns"]),
                ),
            ];
            for (name, help, value) in gauges {
                f.add(name, "gauge", help, l.clone(), value);
            }
            let counters: [(&'static str, &'static str, &str); 5] = [
                (
                    "keepalived_rs_ipvs_connections_total",
                    "Connections scheduled (IPVS).",
                    "conns",
                ),
                (
                    "keepalived_rs_ipvs_packets_in_total",
                    "Packets in (IPVS).",
                    "inpkts",
                ),
                (
                    "keepalived_rs_ipvs_packets_out_total",
                    "Packets out (IPVS).",
                    "outpkts",
                ),
                (
                    "keepalived_rs_ipvs_bytes_in_total",
                    "Bytes in (IPVS).",
                    "inbytes",
                ),
                (
                    "keepalived_rs_ipvs_bytes_out_total",
                    "Bytes out (IPVS).",
                    "outbytes",
                ),
            ];
            for (name, help, key) in counters {
                f.add(name, "counter", help, l.clone(), n(&st[key]));
            }
            for c in r["checkers"].as_array().into_iter().flatten() {
                for (result, key) in [("pass", "passed"), ("fail", "failed")] {
                    f.add(
                        "keepalived_rs_checker_results_total",
                        "counter",
                        "Checker attempts by result.",
                        labels(&[
                            ("vs", vs.clone()),
                            ("rs", s(&r["name"])),
                            ("checker", s(&c["kind"])),
                            ("result", result.to_string()),
                        ]),
                        n(&c[key]),
                    );
                }
            }
        }
    }
    f.render()
}

/// Starts the metrics thread on `addr`. A bind failure is an error for the caller: the
/// operator asked for metrics on the command line.
pub fn serve(addr: SocketAddr, collect: Collect) -> std::io::Result<()> {
    let listener = TcpListener::bind(addr)?;
    std::thread::Builder::new()
        .name("metrics".into())
        .spawn(move || {
            // Monitoring yields to everything else: a scrape may wait, an advert may not.
            let _ = ka_sys::sched::set_current_thread_normal();
            let _ = ka_sys::sched::set_current_thread_nice(10);
            for conn in listener.incoming() {
                let Ok(stream) = conn else { continue };
                if let Err(e) = answer(stream, &collect) {
                    log(&format!("metrics: {e}"));
                }
            }
        })?;
    Ok(())
}

fn answer(stream: TcpStream, collect: &Collect) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.set_write_timeout(Some(Duration::from_secs(10)))?;
    let mut out = stream.try_clone()?;
    let mut reader = BufReader::new(stream.take(16 << 10));
    let mut request = String::new();
    reader.read_line(&mut request)?;
    // Headers are read and ignored (up to the blank line).
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h.trim().is_empty() {
            break;
        }
    }
    let mut parts = request.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let (status, ctype, body) = match (method, path.split('?').next().unwrap_or("")) {
        ("GET", "/metrics") => (
            "200 OK",
            "text/plain; version=0.0.4; charset=utf-8",
            render(&collect()),
        ),
        ("GET", "/") => (
            "200 OK",
            "text/plain; charset=utf-8",
            "keepalived-rs: metrics at /metrics\n".to_string(),
        ),
        ("GET", _) => ("404 Not Found", "text/plain", "not found\n".to_string()),
        _ => (
            "405 Method Not Allowed",
            "text/plain",
            "only GET\n".to_string(),
        ),
    };
    // One buffer, one write: formatting straight into the socket would send a segment per
    // piece (hundreds of them for a large scrape).
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    out.write_all(response.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn exporter_names_and_ours() {
        let doc = json!({
            "vrrp": {"instances": [{"name": "VI_1", "interface": "eth0", "vrid": 51,
                "state": "MASTER", "priority": 100, "effective_priority": 100,
                "vips": ["10.0.0.100", "10.0.0.101"],
                "excluded_vips": [{"address": "10.9.0.1", "device": "eth1"}],
                "stats": {"advert_rcvd": 3, "advert_sent": 7, "become_master": 1},
                "drops": {"bad_ttl": 2},
                "transitions": [{"to": "MASTER", "cause": "master_down", "count": 1}]}],
                "scripts": [{"name": "chk", "status": "GOOD", "state": 0, "success": 4, "failure": 1, "timeout": 0}]},
            "lvs": {"ipvs_operations": 5, "ipvs_errors": 0, "virtual_servers": [{"name": "[10.0.0.1]:tcp:80",
                "quorum_up": true, "real_servers": [{"name": "[10.0.0.11]:tcp:80", "alive": true,
                "effective_weight": 2, "active_conns": 1, "inactive_conns": 0, "stats": {"conns": 9},
                "checkers": [{"kind": "TCP_CHECK", "passed": 10, "failed": 2}]}]}]},
        });
        let t = render(&doc);
        assert!(t.contains("keepalived_up 1\n"), "{t}");
        assert!(t.contains("keepalived_vrrp_excluded_state{iname=\"VI_1\",intf=\"eth1\",vrid=\"51\",ip_address=\"10.9.0.1\"} 2\n"), "{t}");
        assert!(t.contains("keepalived_vrrp_state{iname=\"VI_1\",intf=\"eth0\",vrid=\"51\",ip_address=\"10.0.0.101\"} 2\n"), "{t}");
        assert!(t.contains("keepalived_advertisements_sent_total{iname=\"VI_1\",intf=\"eth0\",vrid=\"51\"} 7\n"), "{t}");
        assert!(
            t.contains(
                "keepalived_ip_ttl_errors_total{iname=\"VI_1\",intf=\"eth0\",vrid=\"51\"} 2\n"
            ),
            "{t}"
        );
        assert!(t.contains("keepalived_rs_transitions_total{iname=\"VI_1\",to=\"MASTER\",cause=\"master_down\"} 1\n"), "{t}");
        assert!(
            t.contains("keepalived_script_status{name=\"chk\"} 1\n"),
            "{t}"
        );
        assert!(
            t.contains("keepalived_rs_script_runs_total{name=\"chk\",result=\"failure\"} 1\n"),
            "{t}"
        );
        assert!(t.contains("keepalived_rs_real_server_weight{vs=\"[10.0.0.1]:tcp:80\",rs=\"[10.0.0.11]:tcp:80\"} 2\n"), "{t}");
        assert!(t.contains("keepalived_rs_checker_results_total{vs=\"[10.0.0.1]:tcp:80\",rs=\"[10.0.0.11]:tcp:80\",checker=\"TCP_CHECK\",result=\"fail\"} 2\n"), "{t}");
        // HELP and TYPE once per family.
        assert_eq!(
            t.matches("# TYPE keepalived_vrrp_state gauge").count(),
            1,
            "{t}"
        );
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
