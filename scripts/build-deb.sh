#!/usr/bin/env bash
# Builds keepalived-rs_<version>_<arch>.deb with dpkg-deb (no cargo-deb, no debhelper).
#
#   scripts/build-deb.sh [OUTDIR]            # cargo build --release, then package (OUTDIR: target/deb)
#   BIN=path/to/keepalived-rs scripts/build-deb.sh OUTDIR   # package an already built binary
#
# The package installs beside Debian's keepalived (own binary, unit and /etc/default names),
# ships /etc/default/keepalived-rs as a conffile, never writes /etc/keepalived/keepalived.conf,
# and its maintainer scripts only run `systemctl daemon-reload`: installing or upgrading it
# never enables, starts or restarts a service (a restart is a VRRP failover).
# See docs/packaging.md. Prints the path of the .deb on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
root_dir=$PWD
outdir=${1:-target/deb}
mkdir -p "$outdir"
outdir=$(cd "$outdir" && pwd)

if [ -z "${BIN:-}" ]; then
  cargo build --release -p keepalived-rs >&2
  BIN=$root_dir/target/release/keepalived-rs
fi
[ -x "$BIN" ] || { echo "build-deb: $BIN is not an executable" >&2; exit 1; }

version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
arch=$(dpkg --print-architecture)
[ -n "$version" ] || { echo "build-deb: no version in Cargo.toml" >&2; exit 1; }

tree=$(mktemp -d "$outdir/tree.XXXXXX")
trap 'rm -rf "$tree"' EXIT
chmod 0755 "$tree"
doc=$tree/usr/share/doc/keepalived-rs

install -D -m 0755 "$BIN" "$tree/usr/sbin/keepalived-rs"
strip --strip-unneeded "$tree/usr/sbin/keepalived-rs" 2>/dev/null || true
install -D -m 0644 packaging/keepalived-rs.service "$tree/lib/systemd/system/keepalived-rs.service"
install -D -m 0644 packaging/default/keepalived-rs "$tree/etc/default/keepalived-rs"
mkdir -p "$tree/usr/share/man/man8"
"$BIN" --man | gzip -9n > "$tree/usr/share/man/man8/keepalived-rs.8.gz"
install -D -m 0644 README.md "$doc/README.md"
for f in docs/*.md; do
  install -m 0644 "$f" "$doc/"
done
gzip -9n "$doc"/*.md
# Examples that `keepalived-rs -t` accepts cleanly (crates/daemon/tests/packaging.rs checks).
mkdir -p "$doc/examples"
for f in sample HTTP_GET.port IPv6 quorum; do
  install -m 0644 "tests/fixtures/configs/ka-sample-$f.conf" "$doc/examples/keepalived.conf.$f"
done
cat > "$doc/copyright" <<COPYRIGHT
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: keepalived-rs

Files: *
Copyright: keepalived-rs contributors
License: MIT or Apache-2.0
COPYRIGHT
chmod 0644 "$doc/copyright"

mkdir -p "$tree/DEBIAN"
installed_size=$(du -sk --exclude=DEBIAN "$tree" | cut -f1)
cat > "$tree/DEBIAN/control" <<CONTROL
Package: keepalived-rs
Version: $version
Architecture: $arch
Maintainer: keepalived-rs developers <keepalived-rs@example.invalid>
Installed-Size: $installed_size
Depends: libc6 (>= 2.34), libgcc-s1, libssl3 | libssl3t64
Suggests: ipvsadm
Section: admin
Priority: optional
Homepage: https://example.invalid/keepalived-rs
Description: VRRP and LVS high availability, a drop-in for keepalived
 keepalived-rs reads keepalived 2.2.7 configurations (/etc/keepalived/keepalived.conf)
 and runs VRRP instances and LVS health checkers, rebuilt in Rust.
 .
 It installs beside Debian's keepalived package; its unit keepalived-rs.service
 conflicts with keepalived.service. Installing or upgrading this package never
 enables, starts or restarts a service.
CONTROL
echo /etc/default/keepalived-rs > "$tree/DEBIAN/conffiles"
# The maintainer scripts only make systemd re-read units: no service is ever enabled,
# (re)started or stopped by dpkg (a restart is a VRRP failover; the operator decides).
for script in postinst postrm; do
  cat > "$tree/DEBIAN/$script" <<'SCRIPT'
#!/bin/sh
set -e
# Only re-read unit files; never touch the service itself.
if [ -d /run/systemd/system ]; then
  systemctl daemon-reload >/dev/null 2>&1 || true
fi
exit 0
SCRIPT
  chmod 0755 "$tree/DEBIAN/$script"
done
chmod 0644 "$tree/DEBIAN/control" "$tree/DEBIAN/conffiles"

deb=$outdir/keepalived-rs_${version}_${arch}.deb
dpkg-deb --root-owner-group -Zxz --build "$tree" "$deb" >&2
echo "$deb"
