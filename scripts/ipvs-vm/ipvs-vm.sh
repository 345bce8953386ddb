#!/usr/bin/env bash
# ipvs-vm.sh - run a command in a throw-away qemu VM whose (Debian) kernel has IPVS.
#
# usage: ipvs-vm.sh [OPTIONS] [--payload FILE...] -- GUEST-COMMAND...
#        ipvs-vm.sh [OPTIONS] --runner BINARY [ARGS...]     (a cargo runner)
#        ipvs-vm.sh [OPTIONS] --build-only                  (fill the cache, boot nothing)
#
# The guest boots Debian's linux-image-cloud-amd64 kernel from an initramfs holding busybox,
# dash, ipvsadm, iproute2 and the IPVS, netfilter and virtual-interface (dummy, veth, macvlan,
# ipvlan, vrf, bridge, vlan, bonding, vxlan, tun) modules; modules load on demand, so `ipvsadm`
# and `ip link add ... type dummy` just work. The guest has no network card: nothing it does
# reaches this host's network. Nothing here needs root on the host, only qemu-system-x86_64
# (package qemu-system-x86) and, to fill the cache, apt-get with current package lists.
#
# One GUEST-COMMAND argument is a shell script (run by dash); several are one command, quoting
# kept. It runs as root in /payload (first in PATH), with IPVS_VM=1 in its environment and
# stdin from /dev/null. Its stdout is this script's stdout, its stderr this script's stderr
# (after the harness's own messages, which start with "ipvs-vm: ").
#
# Exit status: the guest command's; 124 if --timeout ran out; 125 if the VM failed (no boot,
# kernel panic, no status reported, cache build failed); 2 on a usage error.
#
# Options:
#   --payload FILE...   copy files or folders into the guest's /payload (repeatable; takes the
#                       following arguments up to one starting with -). Shared libraries of
#                       dynamic executables are found with this host's ldd and copied along.
#   --with-keepalived   put Debian's keepalived into the guest as /usr/sbin/keepalived (the
#                       host's /usr/sbin/keepalived or $IPVS_VM_KEEPALIVED with its libraries,
#                       else the binary of the keepalived .deb, whose libraries the host must have)
#   --env NAME=VALUE    set NAME in the guest command's environment (repeatable)
#   --preload MODS      comma-separated modules to modprobe before the command (default none:
#                       the kernel loads ip_vs and its schedulers on first use)
#   --mem MIB           guest memory (default 1024, $IPVS_VM_MEM); payloads live in RAM
#   --smp N             guest CPUs (default 1, $IPVS_VM_SMP)
#   --timeout SEC       kill the VM after SEC seconds (default 600, $IPVS_VM_TIMEOUT)
#   --boot-timeout SEC  fail when the command has not started after SEC s (default 120)
#   --verbose           show the kernel's messages and the qemu command line
#   --rebuild           re-resolve the kernel, download again and rebuild the cached image
#   --runner BINARY ARGS...   copy BINARY in and run it with ARGS; for cargo:
#        CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUNNER="$PWD/scripts/ipvs-vm/ipvs-vm.sh --runner"
#     (RUST_BACKTRACE, RUST_LOG, RUST_TEST_THREADS, RUST_TEST_NOCAPTURE pass through).
#
# Environment: IPVS_VM_CACHE (default: target/ipvs-vm-cache in the repository),
# IPVS_VM_KERNEL_PKG (default: what linux-image-cloud-amd64 depends on, remembered while its
# .deb is cached), IPVS_VM_EXTRA_DEBS, IPVS_VM_EXTRA_MODULES (see build-image.sh),
# IPVS_VM_ACCEL (auto, tcg or kvm; auto takes KVM only where it is hardware virtualisation and
# falls back to TCG if the guest does not boot), IPVS_VM_QEMU_ARGS (extra qemu arguments).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
# shellcheck source=lib.sh
. "$HERE/lib.sh"

CACHE=${IPVS_VM_CACHE:-$REPO/target/ipvs-vm-cache}
MEM=${IPVS_VM_MEM:-1024}
SMP=${IPVS_VM_SMP:-1}
TIMEOUT=${IPVS_VM_TIMEOUT:-600}
BOOT_TIMEOUT=${IPVS_VM_BOOT_TIMEOUT:-120}
ACCEL=${IPVS_VM_ACCEL:-auto}
PRELOAD=
VERBOSE=0 REBUILD=0 BUILD_ONLY=0 RUNNER=0 KEEPALIVED=0
PAYLOAD=() GUEST_ENV=()

usage() {
  sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}" >&2
  exit 2
}
bad() {
  log "$*"
  exit 2
}
num() { [[ $2 =~ ^[0-9]+$ ]] || bad "$1 needs a number, not '$2'"; }

while [ $# -gt 0 ]; do
  case "$1" in
    --payload)
      shift
      [ $# -gt 0 ] && [[ $1 != -* ]] || bad "--payload needs a file"
      while [ $# -gt 0 ] && [[ $1 != -* ]]; do
        PAYLOAD+=("$1")
        shift
      done
      continue
      ;;
    --with-keepalived) KEEPALIVED=1 ;;
    --env)
      [[ ${2:-} == [A-Za-z_]*=* ]] || bad "--env needs NAME=VALUE"
      GUEST_ENV+=("$2")
      shift
      ;;
    --preload) PRELOAD=${2?--preload needs a value} && shift ;;
    --mem | --smp | --timeout | --boot-timeout)
      num "$1" "${2:-}"
      case "$1" in
        --mem) MEM=$2 ;;
        --smp) SMP=$2 ;;
        --timeout) TIMEOUT=$2 ;;
        --boot-timeout) BOOT_TIMEOUT=$2 ;;
      esac
      shift
      ;;
    --verbose) VERBOSE=1 ;;
    --rebuild) REBUILD=1 ;;
    --build-only) BUILD_ONLY=1 ;;
    --runner)
      shift
      [ $# -gt 0 ] || bad "--runner needs a binary"
      RUNNER=1
      PAYLOAD+=("$1")
      break
      ;;
    -h | --help) usage ;;
    --)
      shift
      break
      ;;
    *) bad "unknown option '$1' (the guest command goes after --; see --help)" ;;
  esac
  shift
done
[ "$BUILD_ONLY" = 1 ] || [ $# -gt 0 ] || bad "no guest command (see --help)"
for f in "${PAYLOAD[@]+"${PAYLOAD[@]}"}"; do [ -e "$f" ] || bad "no such payload: $f"; done
[ "$BUILD_ONLY" = 1 ] || command -v qemu-system-x86_64 >/dev/null ||
  die "qemu-system-x86_64 not found (apt-get install --no-install-recommends qemu-system-x86)"

mkdir -p "$CACHE/debs"
[ -f "$CACHE/.gitignore" ] || printf '*\n' >"$CACHE/.gitignore"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/ipvs-vm.XXXXXX")
QEMU_PID=
# shellcheck disable=SC2317 # (a trap)
cleanup() {
  if [ -n "$QEMU_PID" ]; then kill "$QEMU_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- the cached image
kernel_pkg() {
  if [ -n "${IPVS_VM_KERNEL_PKG:-}" ]; then
    echo "$IPVS_VM_KERNEL_PKG"
    return
  fi
  # keep the kernel already downloaded: the archive drops superseded ABI packages, so a name
  # resolved once may later be gone from the lists
  local p
  p=$(cat "$CACHE/kernel-pkg" 2>/dev/null || true)
  if [ "$REBUILD" = 0 ] && [ -n "$p" ] && compgen -G "$CACHE/debs/${p}_*.deb" >/dev/null; then
    echo "$p"
    return
  fi
  p=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null |
    sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*-cloud-amd64\)$/\1/p' | head -n1)
  [ -n "$p" ] || die "apt-cache cannot resolve linux-image-cloud-amd64 (run apt-get update)"
  echo "$p" >"$CACHE/kernel-pkg"
  echo "$p"
}

# Builds the image once (under a lock, so parallel runs wait for one build) and sets IMG.
# Its name hashes everything it is built from; images of other versions are removed.
ensure_image() {
  exec 9>"$CACHE/.lock"
  flock 9
  [ "$REBUILD" = 0 ] || rm -rf "$CACHE/debs" "$CACHE"/img-*
  mkdir -p "$CACHE/debs"
  local kpkg key
  kpkg=$(kernel_pkg)
  key=$({
    cat "$HERE/build-image.sh" "$HERE/lib.sh" "$HERE/init"
    echo "$kpkg|${IPVS_VM_EXTRA_DEBS:-}|${IPVS_VM_EXTRA_MODULES:-}"
  } | sha256sum | cut -c1-16)
  IMG="$CACHE/img-$key"
  if [ ! -f "$IMG/ready" ]; then
    local t0=$EPOCHREALTIME
    rm -rf "$IMG" "$IMG.tmp"
    mkdir -p "$IMG.tmp"
    "$HERE/build-image.sh" "$CACHE/debs" "$IMG.tmp" "$kpkg" || die "building the image failed"
    touch "$IMG.tmp/ready"
    mv "$IMG.tmp" "$IMG"
    find "$CACHE" -maxdepth 1 -name 'img-*' ! -path "$IMG" -exec rm -rf {} +
    log "$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "built %s in %.1f s", "'"$IMG"'", b - a }')"
  fi
  # Debian's keepalived, if wanted and not on this host: from its .deb (kept in the cache)
  if [ "$KEEPALIVED" = 1 ] && [ ! -x "${IPVS_VM_KEEPALIVED:-/usr/sbin/keepalived}" ] &&
    [ ! -x "$CACHE/keepalived/usr/sbin/keepalived" ]; then
    log "downloading keepalived"
    (cd "$WORK" && apt-get download -q keepalived 2>&1 | grep -v -e unsandboxed -e '^Get:' -e '^Fetched' >&2) || true
    compgen -G "$WORK/keepalived_*.deb" >/dev/null || die "apt-get download keepalived failed"
    rm -rf "$CACHE/keepalived"
    dpkg-deb -x "$WORK"/keepalived_*.deb "$CACHE/keepalived"
  fi
  flock -u 9
}
ensure_image
if [ "$BUILD_ONLY" = 1 ]; then
  log "cache ready: $IMG ($(du -sh "$CACHE" | cut -f1) in $CACHE)"
  exit 0
fi

# ---------------------------------------------------------------- this run's archive
P="$WORK/p"
mkdir -p "$P/payload" "$P/etc/ipvs-vm"
for f in "${PAYLOAD[@]+"${PAYLOAD[@]}"}"; do cp -RL "$f" "$P/payload/"; done
mapfile -t exes < <(find "$P/payload" -type f -perm -u+x)
copy_libs "$P" "${exes[@]+"${exes[@]}"}"
if [ "$KEEPALIVED" = 1 ]; then
  ka=${IPVS_VM_KEEPALIVED:-/usr/sbin/keepalived}
  [ -x "$ka" ] || ka="$CACHE/keepalived/usr/sbin/keepalived"
  install -D -m 755 "$ka" "$P/usr/sbin/keepalived"
  copy_libs "$P" "$P/usr/sbin/keepalived"
fi
if [ ${#MISSING_LIBS[@]} -gt 0 ]; then
  printf 'ipvs-vm: library not found on this host: %s\n' "${MISSING_LIBS[@]}" >&2
  die "install the missing libraries (for keepalived: apt-get install keepalived; it need not run)"
fi

# POSIX single quoting (bash's printf %q can produce $'...', which dash lacks)
quote() {
  local a out=
  for a in "$@"; do out+="'${a//\'/\'\\\'\'}' "; done
  printf '%s\n' "${out% }"
}
if [ "$RUNNER" = 1 ]; then
  quote "/payload/$(basename "$1")" "${@:2}" >"$P/etc/ipvs-vm/cmd"
  for v in RUST_BACKTRACE RUST_LIB_BACKTRACE RUST_LOG RUST_TEST_THREADS RUST_TEST_NOCAPTURE \
    RUST_MIN_STACK; do
    if [ -n "${!v+x}" ]; then GUEST_ENV=("$v=${!v}" "${GUEST_ENV[@]+"${GUEST_ENV[@]}"}"); fi
  done
elif [ $# -eq 1 ]; then
  printf '%s\n' "$1" >"$P/etc/ipvs-vm/cmd"
else
  quote "$@" >"$P/etc/ipvs-vm/cmd"
fi
# markers with a per-run nonce, so that no guest output can fake them
NONCE=$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
BOOTED="ipvs-vm-booted-$NONCE" EXIT_MARK="ipvs-vm-exit-$NONCE="
{
  printf 'IPVS_VM_BOOTED=%s\nIPVS_VM_EXIT=%s\nIPVS_VM_PRELOAD=%s\n' "$BOOTED" "$EXIT_MARK" "$PRELOAD"
  echo 'export IPVS_VM=1'
  for e in "${GUEST_ENV[@]+"${GUEST_ENV[@]}"}"; do echo "export ${e%%=*}=$(quote "${e#*=}")"; done
} >"$P/etc/ipvs-vm/env"
# the kernel unpacks concatenated archives in order; later files win
{
  cat "$IMG/base.cpio.gz"
  cpio_tree "$P" "$IMG/busybox"
} >"$WORK/initrd"

# ---------------------------------------------------------------- boot
# KVM only where it is hardware virtualisation: not the "PVM" flavour (module kvm_pvm), which
# cannot run an unmodified kernel (it hangs, then stops with "KVM internal error").
kvm_usable() {
  [ -r /dev/kvm ] && [ -w /dev/kvm ] && grep -qwE 'vmx|svm' /proc/cpuinfo && [ ! -d /sys/module/kvm_pvm ]
}
case "$ACCEL" in
  auto) if kvm_usable; then ACCELS="kvm tcg"; else ACCELS=tcg; fi ;;
  kvm | tcg) ACCELS=$ACCEL ;;
  *) bad "IPVS_VM_ACCEL must be auto, kvm or tcg" ;;
esac
if [ "$VERBOSE" = 1 ]; then KLOG=loglevel=7; else KLOG="quiet loglevel=3"; fi

# boot ACCEL: one VM run. Console (ttyS0: kernel, init and the command's stdout) goes through a
# FIFO to awk, which prints what follows the boot marker and notes the boot and the status;
# ttyS1 (the command's stderr) goes through another FIFO to our stderr.
boot() {
  local accel
  # shellcheck disable=SC2054 # "tcg,thread=multi" is one argument
  if [ "$1" = kvm ]; then accel=(-accel kvm -cpu host); else accel=(-accel tcg,thread=multi -cpu max); fi
  local extra=()
  read -r -a extra <<<"${IPVS_VM_QEMU_ARGS:-}"
  local qemu=(qemu-system-x86_64 "${accel[@]}" -M pc -m "$MEM" -smp "$SMP"
    -nodefaults -no-user-config -display none -no-reboot -monitor none
    -serial stdio -serial "file:$WORK/err.fifo"
    -kernel "$IMG/vmlinuz" -initrd "$WORK/initrd" "${extra[@]+"${extra[@]}"}"
    -append "console=ttyS0 $KLOG panic=-1 oops=panic rdinit=/init tsc=reliable no_timer_check i8042.noaux i8042.nokbd")
  [ "$VERBOSE" = 0 ] || log "${qemu[*]}"
  rm -f "$WORK"/{out.fifo,err.fifo,booted,status,boot-failed,console.log,qemu.log}
  : >"$WORK/console.log"
  mkfifo "$WORK/out.fifo" "$WORK/err.fifo"
  awk -v b="$BOOTED" -v m="$EXIT_MARK" -v v="$VERBOSE" -v w="$WORK" '
    { sub(/\r$/, ""); print > (w "/console.log") }
    $0 == b { booted = 1; print "" > (w "/booted"); close(w "/booted"); next }
    (i = index($0, m)) {
      if (i > 1 && (booted || v)) printf "%s\n", substr($0, 1, i - 1)
      print substr($0, i + length(m)) > (w "/status"); close(w "/status"); done = 1; next
    }
    !done && (booted || v) { print; fflush() }' <"$WORK/out.fifo" &
  local reader=$!
  cat <"$WORK/err.fifo" >&2 &
  local err_reader=$!
  timeout -k 5 "$TIMEOUT" "${qemu[@]}" </dev/null >"$WORK/out.fifo" 2>>"$WORK/qemu.log" &
  QEMU_PID=$!
  # watchdog: the command must start within BOOT_TIMEOUT
  (
    for ((i = 0; i < BOOT_TIMEOUT * 4; i++)); do
      [ ! -e "$WORK/booted" ] && kill -0 "$QEMU_PID" 2>/dev/null || exit 0
      sleep 0.25
    done
    touch "$WORK/boot-failed"
    kill "$QEMU_PID" 2>/dev/null
  ) &
  local watchdog=$!
  set +e
  wait "$QEMU_PID"
  QRC=$?
  QEMU_PID=
  kill "$watchdog" 2>/dev/null
  wait "$reader" "$err_reader" "$watchdog"
  set -e
}

T0=$EPOCHREALTIME
for accel in $ACCELS; do
  boot "$accel"
  [ -e "$WORK/booted" ] && break
  [ "$accel" = tcg ] || log "the guest did not boot under $accel; trying tcg"
done
log "$(awk -v a="$T0" -v b="$EPOCHREALTIME" -v k="$accel" 'BEGIN { printf "VM (%s) ran %.1f s", k, b - a }')"
if [ -s "$WORK/status" ]; then exit "$(cat "$WORK/status")"; fi
if [ "$QRC" = 124 ] || [ "$QRC" = 137 ]; then
  [ -e "$WORK/booted" ] || tail -n 40 "$WORK/console.log" "$WORK/qemu.log" >&2 || true
  log "timed out after $TIMEOUT s"
  exit 124
fi
if [ -e "$WORK/booted" ]; then
  log "the VM stopped without reporting a status (qemu status $QRC)"
elif [ -e "$WORK/boot-failed" ]; then
  log "the guest command did not start within $BOOT_TIMEOUT s"
else
  log "the VM stopped before the guest command started (qemu status $QRC)"
fi
log "end of the console:"
tail -n 40 "$WORK/console.log" "$WORK/qemu.log" >&2 || true
exit 125
