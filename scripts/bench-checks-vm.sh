#!/usr/bin/env bash
# Checker load, keepalived-rs beside Debian's keepalived 2.2.7, in the IPVS VM (--smp 2
# --mem 4096, TCG software emulation): the same configuration (TCP_CHECKs + HTTP_GETs at
# delay_loop 1 against `keepalived-rs bench-responder` on distinct local addresses), each
# checker side alone (-C) in a fresh namespace, real IPVS. Prints checks/s served and the CPU
# the checker side used over the window, and their ratio. Under emulation absolute figures are
# slow; the ratio is the point (the host figures are `keepalived-rs bench --only checks`).
#
# usage: scripts/bench-checks-vm.sh [TCP] [HTTP] [WINDOW_S]     (default 2000 500 20)
set -euo pipefail
cd "$(dirname "$0")/.."
tcp=${1:-2000}
http=${2:-500}
window=${3:-20}
cargo build --release -q -p keepalived-rs
work=$(mktemp -d /tmp/ka-bench-checks.XXXXXX)
trap 'rm -rf "$work"' EXIT

python3 - "$tcp" "$http" > "$work/checks.conf" <<'EOF'
import sys
tcp, http = map(int, sys.argv[1:])
addr = lambda i: f"10.64.{i // 250}.{i % 250 + 1}"
print("global_defs {\n  router_id bench\n}")
for n in range(0, tcp, 1000):
    print(f"virtual_server 10.65.0.{n // 1000 + 1} 80 {{\n  delay_loop 1\n  lb_algo rr\n  lb_kind DR\n  protocol TCP")
    for i in range(n, min(n + 1000, tcp)):
        print(f"  real_server {addr(i)} 80 {{\n    TCP_CHECK {{\n      connect_timeout 2\n    }}\n  }}")
    print("}")
for n in range(0, http, 1000):
    print(f"virtual_server 10.65.1.{n // 1000 + 1} 8080 {{\n  delay_loop 1\n  lb_algo rr\n  lb_kind DR\n  protocol TCP")
    for i in range(n, min(n + 1000, http)):
        print(f"  real_server {addr(tcp + i)} 8080 {{\n    HTTP_GET {{\n      url {{\n        path /\n        status_code 200\n      }}\n      connect_timeout 2\n    }}\n  }}")
    print("}")
EOF

cat > "$work/bench.sh" <<EOF
set -u
ticks() { # CPU ticks of a process and its children (keepalived: parent + checker child)
  t=0
  for p in \$1 \$(cat /proc/\$1/task/*/children 2>/dev/null); do
    set -- \$(sed 's/^.*) //' /proc/\$p/stat 2>/dev/null)
    [ \$# -ge 13 ] && t=\$((t + \${12} + \${13}))
  done
  echo \$t
}
run() { # run NAME NS CMD...
  name=\$1; ns=\$2; shift 2
  ip netns add \$ns; ip -n \$ns link set lo up
  ip -n \$ns route add local 10.64.0.0/16 dev lo
  ip netns exec \$ns ./keepalived-rs bench-responder --tcp 80 --http 8080 > /tmp/\$ns.resp 2>&1 &
  R=\$!
  sleep 0.5
  ip netns exec \$ns "\$@" -f /payload/checks.conf -p /tmp/\$ns.pid -c /tmp/\$ns.cpid > /tmp/\$ns.log 2>&1 &
  P=\$!
  sleep 8
  a=\$(ticks \$P); l0=\$(wc -l < /tmp/\$ns.resp)
  sleep $window
  b=\$(ticks \$P); l1=\$(wc -l < /tmp/\$ns.resp)
  served=\$(sed -n "\$((l0 + 1)),\${l1}p" /tmp/\$ns.resp | awk '/^conns/ {s += \$2; n++} END {if (n) printf "%.0f", s / n; else print 0}')
  cpu=\$(( (b - a) ))
  echo "RESULT \$name checks/s \$served cpu_ticks \$cpu window $window"
  kill -TERM \$P; wait \$P
  kill \$R
}
run keepalived-rs a ./keepalived-rs -C -n -l -G
run keepalived b keepalived -C -n -D
EOF
cp target/release/keepalived-rs "$work/"
scripts/ipvs-vm/ipvs-vm.sh --smp 2 --mem 4096 --timeout 600 --with-keepalived \
  --payload "$work/keepalived-rs" "$work/checks.conf" "$work/bench.sh" \
  -- 'sh /payload/bench.sh' | grep '^RESULT' | sed 's/^RESULT //' > "$work/results"
python3 - "$work/results" "$tcp" "$http" "$window" <<'EOF'
import sys
rows = {}
for line in open(sys.argv[1]):
    w = line.split()
    rows[w[0]] = (float(w[2]), float(w[4]) / 100.0)  # checks/s, CPU seconds (100 ticks/s)
tcp, http, window = sys.argv[2], sys.argv[3], float(sys.argv[4])
print(f"{tcp} TCP_CHECK + {http} HTTP_GET at delay_loop 1, {window:.0f} s window, TCG VM --smp 2")
for name, (cps, cpu) in rows.items():
    per = cpu * 1e6 / max(cps * window, 1)
    print(f"  {name:14} checks/s {cps:8.0f}   CPU {cpu / window * 100:6.1f} %   {per:7.1f} ms CPU per 1,000 checks")
if "keepalived-rs" in rows and "keepalived" in rows:
    (c1, u1), (c2, u2) = rows["keepalived-rs"], rows["keepalived"]
    r = (u2 / max(c2, 1)) / max(u1 / max(c1, 1), 1e-9)
    print(f"  keepalived uses {r:.2f}x the CPU per check of keepalived-rs")
EOF
