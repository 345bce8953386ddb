# shellcheck shell=bash
# Shared by ipvs-vm.sh and build-image.sh (sourced, not run).

log() { printf 'ipvs-vm: %s\n' "$*" >&2; }
# 125 = "the VM machinery failed", as opposed to a status of the guest command
die() { log "error: $*"; exit 125; }

# rootfs_path /host/abs/path -> the same file's path inside the guest rootfs, relative.
# The rootfs is merged-/usr (bin, sbin, lib, lib64 are symlinks into usr/), so libraries
# copied from any host location land where the guest's loader looks for them.
rootfs_path() {
  local p=${1#/}
  case "$p" in
    bin/* | sbin/* | lib/* | lib64/*) p=usr/$p ;;
  esac
  printf '%s\n' "$p"
}

# copy_libs ROOT FILE...: copies the shared libraries (and the ELF interpreter) that the
# dynamically linked FILEs need, as resolved by this host's ldd, into ROOT. Libraries already
# under ROOT (found through LD_LIBRARY_PATH on ROOT's lib dirs) are not copied again.
copy_libs() {
  local root=$1 f line lib dst out
  shift
  local lp="$root/usr/lib/x86_64-linux-gnu:$root/usr/lib"
  for f in "$@"; do
    [ -f "$f" ] && [ ! -L "$f" ] || continue
    [ "$(head -c 4 "$f" | od -An -tx1 | tr -d ' \n')" = 7f454c46 ] || continue # ELF only
    out=$(LD_LIBRARY_PATH=$lp ldd "$f" 2>/dev/null) || continue                 # static
    while IFS= read -r line; do
      case "$line" in
        *"=> not found"*)
          MISSING_LIBS+=("$(basename "$f"): ${line%% =>*}")
          continue
          ;;
        *"=> /"*) lib=${line#*=> } lib=${lib%% (*} ;;
        *"/"*" ("*) lib=${line%% (*} lib=${lib//[[:space:]]/} ;; # the interpreter
        *) continue ;;
      esac
      case "$lib" in "$root"/*) continue ;; esac
      dst="$root/$(rootfs_path "$lib")"
      [ -e "$dst" ] && continue
      mkdir -p "$(dirname "$dst")"
      cp -L "$lib" "$dst"
    done <<<"$out"
  done
}
MISSING_LIBS=()

# cpio_dev_nodes: a "newc" cpio archive holding /dev, /dev/console and /dev/null, written by
# hand so that neither mknod nor root is needed (without /dev/console, init's output is lost).
cpio_dev_nodes() {
  local entry
  for entry in 'dev 040755 0 0' 'dev/console 020600 5 1' 'dev/null 020666 1 3' 'TRAILER!!! 0 0 0'; do
    # shellcheck disable=SC2086
    set -- $entry
    local namesize=$((${#1} + 1))
    # magic ino mode uid gid nlink mtime filesize devmajor devminor rdevmajor rdevminor namesize check
    printf '070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X' \
      $((0x700 + ${#1})) $((8#$2)) 0 0 1 0 0 0 0 "$3" "$4" "$namesize" 0
    printf '%s\0' "$1"
    head -c $(((4 - (110 + namesize) % 4) % 4)) /dev/zero
  done
}

# cpio_tree DIR BUSYBOX: a "newc" archive of everything under DIR, owned by root.
cpio_tree() {
  (cd "$1" && find . -mindepth 1 | LC_ALL=C sort | "$2" cpio -o -H newc -R 0:0 2>/dev/null)
}
