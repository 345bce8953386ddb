//! keepalived-rs programming a real kernel's IPVS, in the project's qemu VM
//! (`scripts/ipvs-vm/ipvs-vm.sh`; this host's kernel has no IPVS). One boot runs a whole
//! story and prints `ipvsadm -Sn` after each step; the test checks every table:
//! start (a foreign service kept, a pre-existing destination adopted), a real server failing,
//! the quorum lost and the sorry server in, recovery, a service deleted behind our back and
//! re-created, a reload changing a weight and removing a server, shutdown removing everything
//! of ours and nothing else. Then Debian's keepalived runs the same file in the same VM, and
//! its start-up table is compared with ours.
//!
//! Skips loudly without qemu; fails under `CI=true` then.

use ka_lab::ipvs_vm::{self, Vm};
use std::time::Duration;

/// The lines after `--- NAME` up to the next `--- ` line.
fn section(stdout: &str, name: &str) -> Vec<String> {
    stdout
        .lines()
        .skip_while(|l| *l != format!("--- {name}"))
        .skip(1)
        .take_while(|l| !l.starts_with("--- "))
        .map(str::to_string)
        .collect()
}

/// The `ipvsadm -Sn` lines of a section, sorted (IPVS dumps in hash order); keepalived's
/// console lines that land in between are left out.
fn table(stdout: &str, name: &str) -> Vec<String> {
    let mut v: Vec<String> = section(stdout, name)
        .into_iter()
        .filter(|l| l.starts_with("-A ") || l.starts_with("-a "))
        .collect();
    v.sort();
    v
}

fn lines(v: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = v.iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}

const CONF: &str = r#"global_defs {
  router_id vm
  lvs_notify_fifo /tmp/lvs.fifo
}
virtual_server 192.0.2.1 80 {
  delay_loop 1
  lb_algo wrr
  lb_kind DR
  protocol TCP
  quorum 2
  sorry_server 192.0.2.20 80
  real_server 192.0.2.10 80 {
    weight 2
    TCP_CHECK {
      connect_timeout 1
      retry 0
    }
  }
  real_server 192.0.2.11 80 {
    weight 1
    notify_down "/bin/sh -c 'echo down >> /tmp/notified'"
    TCP_CHECK {
      connect_timeout 1
      retry 0
    }
  }
}
virtual_server fwmark 7 {
  delay_loop 1
  lb_algo rr
  lb_kind DR
  real_server 192.0.2.12 80 {
    weight 1
    inhibit_on_failure
    TCP_CHECK {
      connect_timeout 1
      connect_port 80
      retry 0
    }
  }
}
"#;

/// The guest's story. `wait_for PATTERN` polls `ipvsadm -Sn` (generous: 20 s).
const SCRIPT: &str = r#"
set -u
wait_for() { i=0; while [ $i -lt 200 ]; do ipvsadm -Sn | grep -q -- "$1" && return 0; i=$((i+1)); sleep 0.1; done; echo "TIMEOUT waiting for $1"; return 1; }
wait_gone() { i=0; while [ $i -lt 200 ]; do ipvsadm -Sn | grep -q -- "$1" || return 0; i=$((i+1)); sleep 0.1; done; echo "TIMEOUT waiting for $1 to go"; return 1; }
ip link add d0 type dummy && ip link set d0 up
for a in 10 11 12 20; do ip addr add 192.0.2.$a/32 dev d0; done
mkdir -p /www && echo hi > /www/index.html
serve() { busybox httpd -f -p 192.0.2.$1:80 -h /www & eval "HTTPD_$1=\$!"; }
serve 10; serve 11; serve 12
# Someone else's service, and a destination of ours that already exists (weight 5).
ipvsadm -A -t 198.51.100.1:80 -s rr
ipvsadm -A -t 192.0.2.1:80 -s rr
ipvsadm -a -t 192.0.2.1:80 -r 192.0.2.10:80 -g -w 5
./keepalived-rs -C -n -l -G -f /payload/lvs.conf -p /tmp/m.pid -c /tmp/c.pid > /tmp/ka.log 2>&1 &
KA=$!
wait_for '192.0.2.11:80' && sleep 1.5
echo '--- start'; ipvsadm -Sn
echo '--- status'; ./keepalived-rs status --json -p /tmp/m.pid; echo "status-exit $?"
kill $HTTPD_11; wait_gone '192.0.2.11:80'
echo '--- rs-down'; ipvsadm -Sn
kill $HTTPD_12; wait_for '192.0.2.12:0 -g -w 0'
kill $HTTPD_10; wait_for '192.0.2.20:80'
echo '--- sorry'; ipvsadm -Sn
serve 10; serve 11; serve 12; wait_gone '192.0.2.20:80'; wait_for '192.0.2.12:0 -g -w 1'; wait_for '192.0.2.11:80'; wait_for '192.0.2.10:80 -g -w 2'
echo '--- back'; ipvsadm -Sn
ipvsadm -D -f 7; wait_for '-A -f 7'
echo '--- repaired'; ipvsadm -Sn
sed -e 's/weight 2/weight 3/' /payload/lvs.conf | sed -e '/real_server 192.0.2.12 80/,/^  }$/d' > /tmp/lvs2.conf
cp /tmp/lvs2.conf /payload/lvs.conf
kill -HUP $KA; wait_for '192.0.2.10:80 -g -w 3'
echo '--- reloaded'; ipvsadm -Sn
kill -TERM $KA; wait $KA; echo "exit $?"
echo '--- stopped'; ipvsadm -Sn
echo '--- log'; cat /tmp/ka.log
echo '--- notified'; cat /tmp/notified 2>/dev/null
# Debian's keepalived on the first configuration, from the same starting point.
ipvsadm -C
ipvsadm -A -t 198.51.100.1:80 -s rr
ipvsadm -A -t 192.0.2.1:80 -s rr
ipvsadm -a -t 192.0.2.1:80 -r 192.0.2.10:80 -g -w 5
cp /payload/lvs1.conf /tmp/k.conf
keepalived -C -n -D -f /tmp/k.conf -p /tmp/k.pid -c /tmp/kc.pid > /tmp/k.log 2>&1 &
K=$!
wait_for '192.0.2.11:80' && sleep 1.5
echo '--- keepalived-start'; ipvsadm -Sn
kill -TERM $K; wait $K
echo '--- end'
"#;

#[test]
fn keepalived_rs_programs_ipvs_on_a_real_kernel() {
    if !ipvs_vm::require_vm_or_skip("keepalived_rs_programs_ipvs_on_a_real_kernel") {
        return;
    }
    let out = Vm::new()
        .payload(env!("CARGO_BIN_EXE_keepalived-rs"))
        .file("lvs.conf", CONF)
        .file("lvs1.conf", CONF)
        .with_keepalived()
        .mem_mib(1024)
        .timeout(Duration::from_secs(240))
        .run(SCRIPT)
        .expect("run the IPVS VM");
    assert!(out.success(), "{out}");
    assert!(!out.stdout.contains("TIMEOUT"), "{out}");

    let foreign = "-A -t 198.51.100.1:80 -s rr";
    // Start: the adopted service keeps its scheduler and the adopted destination its weight
    // (as 2.2.7); the missing destination is added; the fwmark service is created.
    assert_eq!(
        table(&out.stdout, "start"),
        lines(&[
            foreign,
            "-A -t 192.0.2.1:80 -s rr",
            "-a -t 192.0.2.1:80 -r 192.0.2.10:80 -g -w 5",
            "-a -t 192.0.2.1:80 -r 192.0.2.11:80 -g -w 1",
            "-A -f 7 -s rr",
            "-a -f 7 -r 192.0.2.12:0 -g -w 1",
        ]),
        "{out}"
    );
    // `keepalived-rs status` reads the kernel: the adopted destination's weight (5, not the
    // configured 2), every server in IPVS, quorum held (exit 0).
    let status = section(&out.stdout, "status");
    assert!(status.iter().any(|l| l == "status-exit 0"), "{out}");
    let json: String = status
        .iter()
        .take_while(|l| !l.starts_with("status-exit"))
        .cloned()
        .collect::<Vec<_>>()
        .join("\n");
    let doc: serde_json::Value = serde_json::from_str(&json).expect("status JSON");
    let vs = &doc["lvs"]["virtual_servers"][0];
    assert_eq!(doc["lvs"]["backend"], "kernel", "{doc}");
    assert_eq!(vs["quorum_up"], true, "{doc}");
    assert_eq!(vs["services"][0]["in_kernel"], true, "{doc}");
    assert_eq!(vs["real_servers"][0]["kernel_weight"], 5, "{doc}");
    assert_eq!(vs["real_servers"][0]["weight"], 2, "{doc}");
    assert_eq!(vs["real_servers"][1]["in_kernel"], true, "{doc}");
    assert_eq!(doc["vrrp"], serde_json::Value::Null, "{doc}");
    assert_eq!(
        table(&out.stdout, "rs-down"),
        lines(&[
            foreign,
            "-A -t 192.0.2.1:80 -s rr",
            "-a -t 192.0.2.1:80 -r 192.0.2.10:80 -g -w 5",
            "-A -f 7 -s rr",
            "-a -f 7 -r 192.0.2.12:0 -g -w 1",
        ]),
        "{out}"
    );
    // Quorum lost: the sorry server alone; the inhibited server at weight 0.
    assert_eq!(
        table(&out.stdout, "sorry"),
        lines(&[
            foreign,
            "-A -t 192.0.2.1:80 -s rr",
            "-a -t 192.0.2.1:80 -r 192.0.2.20:80 -g -w 1",
            "-A -f 7 -s rr",
            "-a -f 7 -r 192.0.2.12:0 -g -w 0",
        ]),
        "{out}"
    );
    // Back: the servers return with their configured weights (10 was re-added: 2, not 5).
    let back = lines(&[
        foreign,
        "-A -t 192.0.2.1:80 -s rr",
        "-a -t 192.0.2.1:80 -r 192.0.2.10:80 -g -w 2",
        "-a -t 192.0.2.1:80 -r 192.0.2.11:80 -g -w 1",
        "-A -f 7 -s rr",
        "-a -f 7 -r 192.0.2.12:0 -g -w 1",
    ]);
    assert_eq!(table(&out.stdout, "back"), back, "{out}");
    // Deleted behind our back: re-created (with the configured scheduler this time).
    let mut repaired = back.clone();
    repaired.retain(|l| !l.starts_with("-A -f 7"));
    repaired.push("-A -f 7 -s rr".into());
    repaired.sort();
    assert_eq!(table(&out.stdout, "repaired"), repaired, "{out}");
    // Reload: weight 2 -> 3, the fwmark server gone from the configuration (the service stays,
    // empty: keepalived drops a virtual server without real servers, so fwmark 7 goes too).
    let reloaded = table(&out.stdout, "reloaded");
    assert!(
        reloaded.contains(&"-a -t 192.0.2.1:80 -r 192.0.2.10:80 -g -w 3".to_string()),
        "{out}"
    );
    assert!(!reloaded.iter().any(|l| l.contains("192.0.2.12")), "{out}");
    // Stop: only the foreign service is left.
    assert!(out.stdout.contains("exit 0"), "{out}");
    assert_eq!(table(&out.stdout, "stopped"), lines(&[foreign]), "{out}");
    let log = section(&out.stdout, "log").join("\n");
    for line in [
        "Keepalived_healthcheckers: Removing service [192.0.2.11]:tcp:80 from VS [192.0.2.1]:tcp:80",
        "Keepalived_healthcheckers: Lost quorum 2-0=2 > 0 for VS [192.0.2.1]:tcp:80",
        "Keepalived_healthcheckers: Adding sorry server [192.0.2.20]:tcp:80 to VS [192.0.2.1]:tcp:80",
        "Keepalived_healthcheckers: Disabling service [192.0.2.12]:none:0 of VS FWM 7",
        "disappeared from the kernel",
        "Changing weight from 2 to 3 for active service [192.0.2.10]:tcp:80 of VS [192.0.2.1]:tcp:80",
    ] {
        assert!(log.contains(line), "missing {line:?}\n{out}");
    }
    assert!(!section(&out.stdout, "notified").is_empty(), "{out}");
    // Debian's keepalived on the same file, same starting point: the same start-up table.
    assert_eq!(
        table(&out.stdout, "keepalived-start"),
        table(&out.stdout, "start"),
        "{out}"
    );
}
