#!/usr/bin/env bash
# config-parse.sh - config-parsing benchmark: `keepalived -t` vs `keepalived-rs -t` on one large file.
#
#   sudo bench/config-parse.sh [--runs N] [--bin PATH] [--keepalived PATH] [-- GEN-CONFIG-OPTIONS]
#
# Generates a config (bench/gen-config.py: 255 vrrp_instances, 200 virtual_servers, 10,000
# real_servers by default) into a temp dir, then inside a throw-away network namespace (lo, eth0
# 192.168.200.2/24, eth1 10.0.0.2/24, eth2, ha, mgt; as in shared/harness/config-verdicts.sh) runs
# each program's `-t -f FILE` once to warm up and N times (default 10) measured, and prints exit
# code, median/min/max wall ms, peak RSS and the ratio ours/keepalived (bench/measure.py).
# Target: median time at most half of keepalived's, peak RSS under 50 MiB.
# Only `-t` is ever run (no daemon); the namespace and temp dir are removed on exit; nothing is
# written under /etc and the root namespace's interfaces are not touched.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
runs=10
bin=$root/target/release/keepalived-rs
ka=/usr/sbin/keepalived
gen=()
while [ $# -gt 0 ]; do
  case $1 in
    --runs) runs=$2; shift 2 ;;
    --bin) bin=$2; shift 2 ;;
    --keepalived) ka=$2; shift 2 ;;
    --) shift; gen=("$@"); break ;;
    -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "config-parse: unknown option $1" >&2; exit 2 ;;
  esac
done
[ "$(id -u)" = 0 ] || { echo "config-parse: must run as root (it creates a network namespace)" >&2; exit 2; }
[ -x "$ka" ] || { echo "config-parse: $ka not found (apt-get install keepalived)" >&2; exit 2; }
if [ ! -x "$bin" ]; then
  if [ "$bin" = "$root/target/release/keepalived-rs" ]; then
    echo "config-parse: building $bin" >&2
    (cd "$root" && cargo build --release)
  else
    echo "config-parse: $bin not found" >&2; exit 2
  fi
fi
bin=$(readlink -f "$bin")

ns=kabench$$
tmp=$(mktemp -d /tmp/config-parse.XXXXXX)
cleanup() { ip netns del "$ns" 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

conf=$tmp/keepalived.conf
python3 "$here/gen-config.py" ${gen[@]+"${gen[@]}"} -o "$conf"

ip netns add "$ns"
ip -n "$ns" link set lo up
for i in eth0 eth1 eth2 ha mgt; do
  ip -n "$ns" link add "$i" type veth peer name "${i}p"
  ip -n "$ns" link set "$i" up
  ip -n "$ns" link set "${i}p" up
done
ip -n "$ns" addr add 192.168.200.2/24 dev eth0
ip -n "$ns" addr add 10.0.0.2/24 dev eth1

echo "config: $(head -1 "$conf" | sed 's/^# //') ($(wc -l <"$conf") lines, $(du -k "$conf" | cut -f1) KiB)"
echo "keepalived:    $ka ($("$ka" --version 2>&1 | head -1))"
echo "keepalived-rs: $bin"
echo "runs: $runs (+1 warm-up each), namespace $ns, $(nproc) CPU"
echo
cd "$tmp"
ip netns exec "$ns" python3 "$here/measure.py" --runs "$runs" \
  --label keepalived -- "$ka" -t -f "$conf" \
  --label keepalived-rs -- "$bin" -t -f "$conf"
