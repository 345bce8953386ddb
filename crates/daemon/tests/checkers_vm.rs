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
track_file f_up {
  file /tmp/f_up
  weight 0
}
track_file f_down {
  file /tmp/f_down
  weight 0
}
track_file f_weight {
  file /tmp/f_weight
  weight 2
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
virtual_server 198.51.100.3 25 {
  delay_loop 1
  lb_algo rr
  lb_kind NAT
  protocol TCP
  # SMTP_CHECK: a server, and a closed port (retry 0: one failed cycle).
  real_server 192.0.2.10 25 {
    SMTP_CHECK {
      connect_timeout 1
      retry 0
    }
  }
  real_server 192.0.2.10 26 {
    SMTP_CHECK {
      connect_timeout 1
      retry 0
    }
  }
}
virtual_server 198.51.100.4 7 {
  delay_loop 1
  lb_algo rr
  lb_kind NAT
  protocol UDP
  # UDP_CHECK: an echo, and a closed port (ICMP port unreachable).
  real_server 192.0.2.10 7 {
    UDP_CHECK {
      connect_timeout 1
    }
  }
  real_server 192.0.2.10 9 {
    UDP_CHECK {
      connect_timeout 1
    }
  }
}
virtual_server 198.51.100.5 53 {
  delay_loop 1
  lb_algo rr
  lb_kind NAT
  protocol UDP
  # DNS_CHECK: a server, and a closed port.
  real_server 192.0.2.10 53 {
    DNS_CHECK {
      connect_timeout 1
      retry 0
    }
  }
  real_server 192.0.2.10 54 {
    DNS_CHECK {
      connect_timeout 1
      retry 0
    }
  }
}
virtual_server 198.51.100.6 80 {
  delay_loop 1
  lb_algo rr
  lb_kind DR
  protocol TCP
  # PING_CHECK: a local address, and one routed into a dummy interface.
  real_server 192.0.2.10 80 {
    PING_CHECK {
      connect_timeout 1
    }
  }
  real_server 203.0.113.5 80 {
    PING_CHECK {
      connect_timeout 1
    }
  }
}
virtual_server 198.51.100.7 80 {
  delay_loop 1
  lb_algo rr
  lb_kind DR
  protocol TCP
  # FILE_CHECK: 0 (up), 1 (down with weight 0), 3 x weight 2 added to weight 1.
  real_server 192.0.2.10 80 {
    FILE_CHECK {
      track_file f_up
    }
  }
  real_server 192.0.2.11 80 {
    FILE_CHECK {
      track_file f_down
    }
  }
  real_server 192.0.2.12 80 {
    FILE_CHECK {
      track_file f_weight
    }
  }
}
virtual_server 198.51.100.8 80 {
  delay_loop 1
  lb_algo rr
  lb_kind DR
  protocol TCP
  # HTTP_GET: the right digest
  real_server 192.0.2.10 80 {
    HTTP_GET {
      url {
        path /index.html
        digest 764efa883dda1e11db47671c4a3bbd9e
      }
      connect_timeout 1
      retry 0
    }
  }
}
virtual_server 198.51.100.9 80 {
  delay_loop 1
  lb_algo rr
  lb_kind DR
  protocol TCP
  # HTTP_GET: a wrong digest
  real_server 192.0.2.10 80 {
    HTTP_GET {
      url {
        path /index.html
        digest 00000000000000000000000000000000
      }
      connect_timeout 1
      retry 0
    }
  }
}
virtual_server 198.51.100.10 80 {
  delay_loop 1
  lb_algo rr
  lb_kind DR
  protocol TCP
  # HTTP_GET: 404 expected
  real_server 192.0.2.10 80 {
    HTTP_GET {
      url {
        path /missing
        status_code 404
      }
      connect_timeout 1
      retry 0
    }
  }
}
virtual_server 198.51.100.11 80 {
  delay_loop 1
  lb_algo rr
  lb_kind DR
  protocol TCP
  # HTTP_GET: 404 where 2xx is expected
  real_server 192.0.2.10 80 {
    HTTP_GET {
      url {
        path /missing
      }
      connect_timeout 1
      retry 0
    }
  }
}
virtual_server 198.51.100.12 80 {
  delay_loop 1
  lb_algo rr
  lb_kind DR
  protocol TCP
  # HTTP_GET: a regex that matches
  real_server 192.0.2.10 80 {
    HTTP_GET {
      url {
        path /index.html
        regex "h[a-z]"
      }
      connect_timeout 1
      retry 0
    }
  }
}
virtual_server 198.51.100.13 80 {
  delay_loop 1
  lb_algo rr
  lb_kind DR
  protocol TCP
  # HTTP_GET: a regex that does not
  real_server 192.0.2.10 80 {
    HTTP_GET {
      url {
        path /index.html
        regex "nothere"
      }
      connect_timeout 1
      retry 0
    }
  }
}
"#;

const SCRIPT: &str = r#"
set -u
mkdir -p /www && echo hi > /www/index.html
echo 0 > /tmp/f_up; echo 1 > /tmp/f_down; echo 3 > /tmp/f_weight
run() { # run NAME NS CMD...
  name=$1; ns=$2; shift 2
  ip netns add $ns
  ip -n $ns link set lo up
  ip -n $ns link add d0 type dummy
  ip -n $ns link set d0 up
  for a in 10 11 12; do ip -n $ns addr add 192.0.2.$a/32 dev d0; done
  ip -n $ns route add 203.0.113.0/24 dev d0
  ip netns exec $ns busybox httpd -f -p 192.0.2.10:80 -h /www &
  H=$!
  ip netns exec $ns ./keepalived-rs bench-responder --smtp 25 --udp 7 --dns 53 > /dev/null &
  R=$!
  sleep 0.5
  ip netns exec $ns "$@" -f /payload/checkers.conf -p /tmp/$ns.pid -c /tmp/$ns.cpid > /tmp/$ns.log 2>&1 &
  P=$!
  # First checks at 1 s + warmup (<= delay_loop), retries 1 s apart: 8 s is plenty.
  sleep 8
  echo "--- $name"
  ip netns exec $ns ipvsadm -Sn
  kill -TERM $P; wait $P
  kill $H $R
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
        "-a -t 198.51.100.3:25 -r 192.0.2.10:25 -m -w 1",
        "-a -u 198.51.100.4:7 -r 192.0.2.10:7 -m -w 1",
        "-a -u 198.51.100.5:53 -r 192.0.2.10:53 -m -w 1",
        "-a -t 198.51.100.6:80 -r 192.0.2.10:80 -g -w 1",
        "-a -t 198.51.100.7:80 -r 192.0.2.10:80 -g -w 1",
        "-a -t 198.51.100.7:80 -r 192.0.2.12:80 -g -w 7",
        "-a -t 198.51.100.8:80 -r 192.0.2.10:80 -g -w 1",
        "-a -t 198.51.100.10:80 -r 192.0.2.10:80 -g -w 1",
        "-a -t 198.51.100.12:80 -r 192.0.2.10:80 -g -w 1",
    ] {
        assert!(ours.iter().any(|l| l == want), "missing {want}\n{out}");
    }
    for gone in [
        "192.0.2.11",
        "192.0.2.10:26",
        "192.0.2.10:9 ",
        "192.0.2.10:54",
        "203.0.113.5",
        "198.51.100.9:80 -r",
        "198.51.100.11:80 -r",
        "198.51.100.13:80 -r",
    ] {
        assert!(
            !ours.iter().any(|l| l.contains(gone)),
            "{gone} still in\n{out}"
        );
    }
}
