#!/usr/bin/env bash
# IPVS programming benchmark: 1,000 virtual servers x 10 real servers (no checkers) programmed
# from empty, then a 1 % change (100 real-server weights) applied by SIGHUP; keepalived-rs and
# Debian's keepalived 2.2.7 on the same file, in the same qemu VM (each in a fresh network
# namespace, so neither inherits the other's deleted destinations), --smp 2 --mem 4096.
#
# usage: [ROUNDS=3] scripts/bench-ipvs.sh [SERVICES] [REALS_PER_SERVICE]   (default 1000 10)
# Rounds alternate keepalived-rs and keepalived, each in a fresh namespace; medians are printed.
# Prints wall times (measured in the guest by polling /proc/net/ip_vs every 20 ms, so ±20 ms
# plus one dump) and keepalived-rs's own timing line; netlink requests: ours counted by the
# backend, keepalived's = one request per operation (libnl, each acknowledged before the next).
set -euo pipefail
cd "$(dirname "$0")/.."
services=${1:-1000}
reals=${2:-10}
rounds=${ROUNDS:-3}
cargo build --release -q -p keepalived-rs
work=$(mktemp -d /tmp/ka-bench-ipvs.XXXXXX)
trap 'rm -rf "$work"' EXIT

gen() { # gen WEIGHT_CHANGED_COUNT > file
  python3 - "$services" "$reals" "$1" <<'EOF'
import sys
services, reals, changed = map(int, sys.argv[1:])
print("global_defs {\n  router_id bench\n}")
for s in range(services):
    a, b = divmod(s, 250)
    print(f"virtual_server 10.{100 + a}.{b}.1 80 {{\n  lb_algo wrr\n  lb_kind DR\n  protocol TCP")
    for r in range(reals):
        w = 2 if (r == 0 and s < changed) else 1
        print(f"  real_server 10.60.{r}.{s % 250 + 1} 80 {{\n    weight {w}\n  }}")
    print("}")
EOF
}
# 1 % of the destinations: the first real server of that many virtual servers changes weight.
changed=$((services * reals / 100))
gen 0 > "$work/a.conf"
gen "$changed" > "$work/b.conf"
total=$((services + services * reals))

cat > "$work/bench.sh" <<EOF
set -u
now() { read up _ < /proc/uptime; echo \$up; }
entries() { echo \$((\$(ip netns exec \$1 sh -c 'busybox wc -l < /proc/net/ip_vs') - 3)); }
run() { # run NAME NS CMD...
  name=\$1; ns=\$2; shift 2
  ip netns add \$ns; ip -n \$ns link set lo up
  cp /payload/a.conf /tmp/\$ns.conf
  t0=\$(now)
  ip netns exec \$ns "\$@" -f /tmp/\$ns.conf -p /tmp/\$ns.pid -c /tmp/\$ns.cpid > /tmp/\$ns.log 2>&1 &
  pid=\$!
  until [ "\$(entries \$ns)" -ge $total ]; do sleep 0.02; done
  t1=\$(now)
  echo "RESULT \$name start $total entries: \$(echo "\$t1 \$t0" | awk '{printf "%.2f", \$1-\$2}') s"
  sleep 1
  cp /payload/b.conf /tmp/\$ns.conf
  t0=\$(now)
  kill -HUP \$pid
  until [ "\$(ip netns exec \$ns busybox grep -c 'Route   2 ' /proc/net/ip_vs)" -ge $changed ]; do sleep 0.02; done
  t1=\$(now)
  echo "RESULT \$name 1% change ($changed weights): \$(echo "\$t1 \$t0" | awk '{printf "%.2f", \$1-\$2}') s"
  sleep 1
  t0=\$(now)
  kill -TERM \$pid; wait \$pid
  t1=\$(now)
  echo "RESULT \$name stop (process exit): \$(echo "\$t1 \$t0" | awk '{printf "%.2f", \$1-\$2}') s, \$(entries \$ns) entries left"
  grep -h "operations at" /tmp/\$ns.log | sed "s/^/RESULT \$name log: /"
}
modprobe ip_vs; modprobe ip_vs_wrr
for round in $(seq -s " " 1 "$rounds"); do
  run keepalived-rs rs\$round ./keepalived-rs -C -n -l -G
  run keepalived ka\$round keepalived -C -n -l -D
done
EOF
cp target/release/keepalived-rs "$work/"
scripts/ipvs-vm/ipvs-vm.sh --smp 2 --mem 4096 --timeout 900 --with-keepalived \
  --payload "$work/keepalived-rs" "$work/a.conf" "$work/b.conf" "$work/bench.sh" \
  -- 'sh /payload/bench.sh' | grep '^RESULT' | sed 's/^RESULT //' > "$work/results"
python3 - "$work/results" <<'EOF'
import re, statistics, sys
rows = {}
logs = []
for line in open(sys.argv[1]):
    line = line.strip()
    m = re.match(r"(\S+) (.*): ([0-9.]+) s(.*)", line)
    if " log: " in line or not m:
        logs.append(line)
        continue
    rows.setdefault((m.group(1), m.group(2)), []).append((float(m.group(3)), m.group(4)))
for (who, what), vals in rows.items():
    nums = [v for v, _ in vals]
    extra = vals[-1][1]
    print(f"{who:14} {what:34} median {statistics.median(nums):.2f} s  (runs: {', '.join(f'{v:.2f}' for v in nums)}){extra}")
for l in logs:
    print(l)
EOF
echo "netlink requests: keepalived-rs counted above; keepalived sends one per operation ($total at start)"
