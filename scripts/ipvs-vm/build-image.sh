#!/usr/bin/env bash
# build-image.sh DEBDIR OUTDIR KERNEL-PKG: builds the cached part of the ipvs-vm guest.
# Called by ipvs-vm.sh under its cache lock; not meant to be run by hand.
#
# Downloads (apt-get download, no installation, no root needed) the kernel package and the
# Debian packages of the guest's userland into DEBDIR (kept across builds), then writes into
# OUTDIR: vmlinuz, base.cpio.gz (the initramfs: busybox, dash, ipvsadm, iproute2, the kernel
# modules listed below, /init), busybox (a static one, for the host side's cpio), kver.
#
# Environment: IPVS_VM_EXTRA_DEBS (more packages for the guest), IPVS_VM_EXTRA_MODULES (more
# module globs or folders relative to lib/modules/KVER/kernel).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$HERE/lib.sh"

DEBDIR=$1 OUT=$2 KPKG=$3
# Userland of the guest. Libraries that no package here provides (glibc above all) are copied
# from this host through ldd.
DEBS="busybox-static dash ipvsadm libnl-3-200 libnl-genl-3-200 libpopt0 iproute2 libbpf1
  libelf1 libmnl0 libbsd0 libcap2 libmd0 zlib1g ${IPVS_VM_EXTRA_DEBS:-}"
# Kernel modules shipped (with their dependencies); all of them load on demand in the guest.
MODULES="net/netfilter net/ipv4 net/ipv6 net/bridge net/8021q net/sched
  drivers/net/dummy.ko drivers/net/macvlan.ko drivers/net/veth.ko drivers/net/ipvlan
  drivers/net/vrf.ko drivers/net/ifb.ko drivers/net/tun.ko drivers/net/vxlan drivers/net/bonding
  drivers/net/nlmon.ko crypto/crc32c_generic.ko arch/x86/crypto/crc32c-intel.ko
  ${IPVS_VM_EXTRA_MODULES:-}"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/ipvs-vm-build.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

deb_of() { compgen -G "$DEBDIR/${1}_*.deb" | head -n1 || true; }

# ---- download what is not cached yet, in one apt-get call
missing=()
for p in $KPKG $DEBS; do
  [ -n "$(deb_of "$p")" ] || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "downloading ${missing[*]}"
  mkdir -p "$WORK/dl"
  (cd "$WORK/dl" && apt-get download -q "${missing[@]}" 2>&1 |
    grep -v -e unsandboxed -e '^Get:' -e '^Fetched' >&2) || true
  for p in "${missing[@]}"; do
    f=$(compgen -G "$WORK/dl/${p}_*.deb" | head -n1) ||
      die "apt-get download $p failed (stale package lists? run apt-get update)"
    mv "$f" "$DEBDIR/"
  done
fi

# older kernels (superseded ABI packages) are of no further use
for f in "$DEBDIR"/linux-image-*.deb; do
  case "$(basename "$f")" in "${KPKG}_"*) ;; *) rm -f "$f" ;; esac
done

# ---- unpack: userland folded into a merged /usr, kernel apart
R="$WORK/root" K="$WORK/kernel"
mkdir -p "$R" "$K" "$WORK/u"
for p in $DEBS; do dpkg-deb -x "$(deb_of "$p")" "$WORK/u"; done
for d in bin sbin lib lib64; do
  if [ -d "$WORK/u/$d" ] && [ ! -L "$WORK/u/$d" ]; then
    mkdir -p "$WORK/u/usr/$d"
    cp -a "$WORK/u/$d/." "$WORK/u/usr/$d/"
    rm -rf "${WORK:?}/u/$d"
  fi
done
rm -rf "$WORK"/u/usr/share/{doc,man,info,lintian,locale,bash-completion} "$WORK"/u/etc/{init.d,default}
mkdir -p "$R"/{usr/bin,usr/sbin,usr/lib,usr/lib64,etc/ipvs-vm,proc,sys,dev,run,tmp,payload,root,var,mnt}
for d in bin sbin lib lib64; do ln -s "usr/$d" "$R/$d"; done
ln -s ../run "$R/var/run"
cp -a "$WORK/u/." "$R/"

# /bin/sh is dash: Debian's busybox-static prefers its own applets to PATH (SH_STANDALONE), so
# under busybox sh `ip` would be busybox's, without netns or veth. Busybox provides every
# command no package provides.
BB="$R/usr/bin/busybox"
[ -x "$BB" ] && [ -x "$R/usr/bin/dash" ] || die "busybox or dash missing after unpacking"
ln -sf dash "$R/usr/bin/sh"
for a in $("$BB" --list-full); do
  a=$(rootfs_path "/$a")
  [ -e "$R/$a" ] || [ -L "$R/$a" ] || ln -s /usr/bin/busybox "$R/$a"
done
copy_libs "$R" "$R"/usr/bin/* "$R"/usr/sbin/*
for m in "${MISSING_LIBS[@]+"${MISSING_LIBS[@]}"}"; do log "warning: library not found: $m"; done

# ---- kernel and the chosen modules (plus dependencies)
dpkg-deb -x "$(deb_of "$KPKG")" "$K"
KVER=$(ls "$K/lib/modules")
KM="$K/lib/modules/$KVER"
"$BB" depmod -b "$K" "$KVER" # the .deb has no modules.dep (postinst makes it)
(
  cd "$KM/kernel"
  for pat in $MODULES; do
    for m in $pat; do # a .ko glob or a folder taken whole
      if [ -d "$m" ]; then
        find "$m" -name '*.ko' | sed 's|^|kernel/|'
      elif [ -f "$m" ]; then echo "kernel/$m"; fi
    done
  done
) >"$WORK/want"
# busybox's modules.dep lists each module's whole dependency closure
awk -F': *' 'NR == FNR { want[$1] = 1; next }
  $1 in want { print $1; n = split($2, d, " "); for (i = 1; i <= n; i++) print d[i] }' \
  "$WORK/want" "$KM/modules.dep" | sort -u >"$WORK/ship"
RM="$R/usr/lib/modules/$KVER"
mkdir -p "$RM"
(cd "$KM" && tar -cf - -T "$WORK/ship") | (cd "$RM" && tar -xf -)
cp "$KM/modules.builtin" "$KM/modules.order" "$RM/" 2>/dev/null || true
"$BB" depmod -b "$R" "$KVER"

# ---- configuration and init
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$R/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$R/etc/group"
printf '127.0.0.1\tlocalhost ipvs-vm\n::1\tlocalhost ip6-localhost\n' >"$R/etc/hosts"
printf 'passwd: files\ngroup: files\nhosts: files\n' >"$R/etc/nsswitch.conf"
install -m 755 "$HERE/init" "$R/init"

# ---- the archive. A second, uncompressed archive (the payload) is appended at run time; the
# kernel only finds it if it starts at a 4-byte aligned offset, hence the zero padding.
{
  cpio_dev_nodes
  cpio_tree "$R" "$BB"
} | gzip -6 >"$OUT/base.cpio.gz"
size=$(stat -c %s "$OUT/base.cpio.gz")
head -c $(((4 - size % 4) % 4)) /dev/zero >>"$OUT/base.cpio.gz"
cp "$K/boot/vmlinuz-$KVER" "$OUT/vmlinuz"
cp "$BB" "$OUT/busybox"
echo "$KVER" >"$OUT/kver"
log "image: kernel $KVER, $(wc -l <"$WORK/ship") modules, initramfs $((size / 1024 / 1024)) MiB"
