#!/usr/bin/env bash
# Installs what the tests need (Debian packages) and runs every test of keepalived-rs.
# Run as root on a Debian machine with a Rust toolchain:   ./scripts/test-all.sh
#
# The namespace tests need root; without it they fail under CI=true and skip loudly otherwise.
# This script never creates /etc/keepalived/keepalived.conf nor a keepalived_script user: the
# Debian keepalived package is installed only as a test oracle and is never started.
set -euo pipefail
cd "$(dirname "$0")/.."

# systemd (systemd-analyze) and man-db: tests/packaging.rs verifies the unit and its man page.
# qemu-system-x86: the IPVS tests boot a Debian kernel in a VM (scripts/ipvs-vm); its kernel and
# userland are fetched with `apt-get download` into target/ipvs-vm-cache, never installed.
packages=(keepalived psmisc iproute2 tcpdump tshark arping iputils-ping python3 nftables
  libssl-dev pkg-config openssl
  qemu-system-x86 systemd man-db)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "== installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
  apt-get -o DPkg::Lock::Timeout=600 update -q
  apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends "${missing[@]}"
fi
if [ -e /etc/keepalived/keepalived.conf ]; then
  echo "warning: /etc/keepalived/keepalived.conf exists on this machine (not created by us)" >&2
fi

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== IPVS VM image (once per run; every VM test then boots from the cache)"
if ! scripts/ipvs-vm/ipvs-vm.sh --build-only; then
  echo "== retrying after apt-get update (the kernel package may have been superseded)"
  apt-get -o DPkg::Lock::Timeout=600 update -q
  scripts/ipvs-vm/ipvs-vm.sh --build-only
fi
echo "== cargo test"
cargo test --workspace --locked
# The IPVS netlink client against a real kernel: the test binary itself runs inside the VM
# (on this host those tests only print SKIPPED: its kernel has no IPVS).
echo "== IPVS kernel tests, in the VM"
CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUNNER="$PWD/scripts/ipvs-vm/ipvs-vm.sh --runner" \
  cargo test -p ka-lvs --test kernel --locked
echo "== all tests passed"
