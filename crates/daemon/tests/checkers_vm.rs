//! Checkers against real servers in the IPVS VM, differential: keepalived-rs and Debian's
//! keepalived 2.2.7 run the same configuration (short timers) in the same VM, each in a fresh
//! network namespace with the same responders, and must leave the same `ipvsadm -Sn` table —
//! the same servers in the pool after the same checks.
//!
//! Skips loudly without qemu; fails under `CI=true` then.

use ka_lab::ipvs_vm::{self, Vm};
use std::time::Duration;

/// The sorted `ipvsadm -Sn` lines of a section.
fn table(stdout: &str, name: &str) -> Vec<String> {
    let mut v: Vec<String> = stdout
        .lines()
        .skip_while(|l| *l != format!("--- {name}"))
        .skip(1)
        .take_while(|l| !l.starts_with("--- "))
        .filter(|l| l.starts_with("-A ") || l.starts_with("-a "))
        .map(str::to_string)
        .collect();
    v.sort();
    v
}

/// One virtual server per checker case; the real servers live on 192.0.2.x (a dummy interface
/// in each namespace). `.10` has an HTTP server on :80, nothing listens on `.11`.
const CONF: &str = r#"global_defs {
  router_id vm
}
virtual_server 198.51.100.1 80 {
  delay_loop 1
  lb_algo rr
  lb_kind DR
  protocol TCP
  # TCP_CHECK: a listener, and a closed port.
  real_server 192.0.2.10 80 {
    TCP_CHECK {
      connect_timeout 1
    }
  }
  real_server 192.0.2.11 80 {
    TCP_CHECK {
      connect_timeout 1
    }
  }
}
virtual_server 198.51.100.2 80 {
  delay_loop 1
  lb_algo rr
  lb_kind DR
  protocol TCP
  # MISC_CHECK: exit 0 and exit 1; a dynamic weight (exit 7 -> weight 5).
  real_server 192.0.2.10 80 {
    MISC_CHECK {
      misc_path "/bin/sh -c 'exit 0'"
    }
  }
  real_server 192.0.2.11 80 {
    MISC_CHECK {
      misc_path "/bin/sh -c 'exit 1'"
    }
  }
  real_server 192.0.2.12 80 {
    weight 2
    MISC_CHECK {
      misc_path "/bin/sh -c 'exit 7'"
      misc_dynamic
    }
  }
}
"#;

const SCRIPT: &str = r#"
set -u
mkdir -p /www && echo hi > /www/index.html
run() { # run NAME NS CMD...
  name=$1; ns=$2; shift 2
  ip netns add $ns
  ip -n $ns link set lo up
  ip -n $ns link add d0 type dummy
  ip -n $ns link set d0 up
  for a in 10 11 12; do ip -n $ns addr add 192.0.2.$a/32 dev d0; done
  ip netns exec $ns busybox httpd -f -p 192.0.2.10:80 -h /www &
  H=$!
  sleep 0.5
  ip netns exec $ns "$@" -f /payload/checkers.conf -p /tmp/$ns.pid -c /tmp/$ns.cpid > /tmp/$ns.log 2>&1 &
  P=$!
  # First checks at 1 s + warmup (<= delay_loop), retries 1 s apart: 8 s is plenty.
  sleep 8
  echo "--- $name"
  ip netns exec $ns ipvsadm -Sn
  kill -TERM $P; wait $P
  kill $H
  echo "--- $name-log"
  cat /tmp/$ns.log
}
run keepalived-rs a ./keepalived-rs -C -n -l -G
run keepalived b keepalived -C -n -D
echo '--- end'
"#;

#[test]
fn checkers_leave_the_same_pool_as_keepalived() {
    if !ipvs_vm::require_vm_or_skip("checkers_leave_the_same_pool_as_keepalived") {
        return;
    }
    let out = Vm::new()
        .payload(env!("CARGO_BIN_EXE_keepalived-rs"))
        .file("checkers.conf", CONF)
        .with_keepalived()
        .mem_mib(1024)
        .timeout(Duration::from_secs(240))
        .run(SCRIPT)
        .expect("run the IPVS VM");
    assert!(out.success(), "{out}");
    let ours = table(&out.stdout, "keepalived-rs");
    let theirs = table(&out.stdout, "keepalived");
    assert!(!theirs.is_empty(), "keepalived programmed nothing\n{out}");
    assert_eq!(ours, theirs, "{out}");
    // And the expected pool, spelled out.
    for want in [
        "-a -t 198.51.100.1:80 -r 192.0.2.10:80 -g -w 1",
        "-a -t 198.51.100.2:80 -r 192.0.2.10:80 -g -w 1",
        "-a -t 198.51.100.2:80 -r 192.0.2.12:80 -g -w 5",
    ] {
        assert!(ours.iter().any(|l| l == want), "missing {want}\n{out}");
    }
    assert!(!ours.iter().any(|l| l.contains("192.0.2.11")), "{out}");
}
