#!/usr/bin/env bash
# Builds what it takes to run the agent as on a Raspberry Pi 4 (arm64) on an x86-64 machine, under qemu-user:
#
#   deploy/arm64/make-sysroot.sh [CACHE_DIR]          build (or reuse) and print where things are
#   deploy/arm64/make-sysroot.sh --check [CACHE_DIR]  exit 0 if a build can succeed here, 75 (and why) if not
#
# CACHE_DIR defaults to ${FER_CACHE_DIR:-~/.cache/fer-edge}/arm64. Two things are built there:
#   <suite>/sysroot   Debian's arm64 nodejs and the libraries it needs, unpacked with dpkg-deb (no dpkg database,
#                     no root needed), plus a /proc/cpuinfo of a Pi 4's Cortex-A72: qemu-user otherwise shows the
#                     host's x86 cpuinfo, and onnxruntime's CPU probe crashes on it.
#   npm/<hash>/node_modules   the package's production dependencies for linux/arm64 (`npm ci --cpu=arm64`),
#                     so sharp and onnxruntime-node bring their arm64 binaries; keyed by package.json + lockfile.
# A private apt configuration (lists and .debs under CACHE_DIR) is used, so the host's apt state, architectures
# and sources are left alone. Each part is built in a temporary folder and renamed into place when complete, so
# reruns reuse it and an interrupted run leaves nothing half-built. Delete CACHE_DIR to start over.
#
# Environment: FER_ARM64_SUITE (default trixie: Node 20, what Raspberry Pi OS based on Debian 13 installs;
# bookworm gives Node 18, which the agent does not support), FER_DEBIAN_MIRROR (default http://deb.debian.org/debian),
# FER_DEBIAN_KEYRING (default /usr/share/keyrings/debian-archive-keyring.gpg).
# Needs: apt-get, dpkg-deb, npm, qemu-aarch64-static (apt-get install qemu-user-static), network to the Debian
# mirror and the npm registry on the first run. Output (stdout, key=value lines): qemu, qemu_cpu, sysroot, node,
# node_modules. Exit 75 means a prerequisite is missing (the message names it); anything else non-zero is a bug.
set -euo pipefail

EX_UNAVAILABLE=75
CHECK=0
if [[ ${1:-} == --check ]]; then CHECK=1; shift; fi
CACHE=${1:-${FER_CACHE_DIR:-$HOME/.cache/fer-edge}/arm64}
SUITE=${FER_ARM64_SUITE:-trixie}
MIRROR=${FER_DEBIAN_MIRROR:-http://deb.debian.org/debian}
KEYRING=${FER_DEBIAN_KEYRING:-/usr/share/keyrings/debian-archive-keyring.gpg}
QEMU_CPU=cortex-a72
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

say() { echo "make-sysroot: $*" >&2; }
unavailable() {
  say "unavailable: $*"
  exit "$EX_UNAVAILABLE"
}

mkdir -p "$CACHE"
CACHE=$(cd "$CACHE" && pwd)
SYSROOT=$CACHE/$SUITE/sysroot
NPM_KEY=$(cat "$REPO/package.json" "$REPO/npm-shrinkwrap.json" | sha256sum | cut -c1-16)
NPM_DIR=$CACHE/npm/$NPM_KEY

QEMU=$(command -v qemu-aarch64-static || true)
[[ -n $QEMU ]] || unavailable "qemu-aarch64-static is not installed (apt-get install qemu-user-static)"

need_tools() {
  local tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null || unavailable "$tool is not installed"
  done
}

# apt pointed at files under $CACHE only: arm64 as the native architecture, an empty dpkg status (so it resolves
# the full dependency closure of nodejs rather than what the host has installed) and no locking of host dirs.
APT_DIR=$CACHE/$SUITE/apt
APT_OPTS=(
  -o "Dir::Etc::sourcelist=$APT_DIR/sources.list" -o Dir::Etc::sourceparts=-
  -o "Dir::State=$APT_DIR" -o "Dir::State::lists=$APT_DIR/lists" -o "Dir::State::status=$APT_DIR/status"
  -o "Dir::Cache=$APT_DIR/cache" -o "Dir::Cache::archives=$APT_DIR/archives"
  -o Dir::Cache::pkgcache= -o Dir::Cache::srcpkgcache=
  -o APT::Architecture=arm64 -o APT::Architectures::=arm64
  -o Debug::NoLocking=1 -o Acquire::Languages=none -o APT::Install-Recommends=false
  -o "APT::Sandbox::User=$(id -un)"
)

sysroot_ok() { [[ -f $SYSROOT/.complete && -x $SYSROOT/usr/bin/node ]]; }
npm_ok() { [[ -f $NPM_DIR/.complete ]]; }

check() {
  if ! sysroot_ok; then
    need_tools apt-get dpkg-deb
    [[ -r $KEYRING ]] || unavailable "the Debian archive keyring $KEYRING is missing (apt-get install debian-archive-keyring)"
    apt_update
  fi
  if ! npm_ok; then
    need_tools npm
    timeout 60 npm ping >/dev/null 2>&1 || unavailable "the npm registry is not reachable (npm ping failed)"
  fi
}

# A Raspberry Pi 4's /proc/cpuinfo: four Cortex-A72 cores (ARM implementer 0x41, part 0xd08).
write_cpuinfo() {
  local f=$1 i
  : >"$f"
  for i in 0 1 2 3; do
    printf 'processor\t: %d\nBogoMIPS\t: 108.00\nFeatures\t: fp asimd evtstrm crc32 cpuid\nCPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x0\nCPU part\t: 0xd08\nCPU revision\t: 3\n\n' "$i" >>"$f"
  done
  printf 'Hardware\t: BCM2835\nRevision\t: c03114\nModel\t\t: Raspberry Pi 4 Model B Rev 1.4\n' >>"$f"
}

# Also the reachability probe for --check: the lists are needed anyway, and a rerun only revalidates them.
apt_update() {
  mkdir -p "$APT_DIR/lists/partial" "$APT_DIR/archives/partial" "$APT_DIR/cache"
  : >"$APT_DIR/status"
  echo "deb [arch=arm64 signed-by=$KEYRING] $MIRROR $SUITE main" >"$APT_DIR/sources.list"
  say "fetching the $SUITE arm64 package lists from $MIRROR"
  # apt-get update exits 0 on some fetch errors; -o APT::Update::Error-Mode=any is too new for Bookworm's apt.
  apt-get "${APT_OPTS[@]}" -q update >"$APT_DIR/update.log" 2>&1 && ! grep -Eq '^(E:|W: Failed|Err:)' "$APT_DIR/update.log" ||
    unavailable "the Debian mirror $MIRROR is not reachable or not usable (apt-get update for $SUITE arm64: $(grep -E '^(E|W|Err):' "$APT_DIR/update.log" | head -1))"
}

build_sysroot() {
  rm -f "$APT_DIR"/archives/*.deb
  say "downloading nodejs:arm64 and its dependencies"
  apt-get "${APT_OPTS[@]}" -q -y --download-only install nodejs >&2
  local tmp=$SYSROOT.tmp deb
  rm -rf "$tmp"
  mkdir -p "$tmp"
  for deb in "$APT_DIR"/archives/*.deb; do dpkg-deb -x "$deb" "$tmp"; done
  # Debian 13 is merged-/usr, and the /lib -> usr/lib links come from base-files, which nodejs does not pull in;
  # the dynamic loader is looked up as /lib/ld-linux-aarch64.so.1.
  local d
  for d in bin sbin lib; do [[ -e $tmp/$d ]] || ln -s "usr/$d" "$tmp/$d"; done
  # An empty loader cache: without one the arm64 loader would read the host's x86-64 /etc/ld.so.cache.
  mkdir -p "$tmp/etc" "$tmp/proc"
  : >"$tmp/etc/ld.so.cache"
  write_cpuinfo "$tmp/proc/cpuinfo"
  (cd "$APT_DIR/archives" && ls ./*.deb) >"$tmp/.complete"
  rm -rf "$SYSROOT"
  mv "$tmp" "$SYSROOT"
  rm -f "$APT_DIR"/archives/*.deb
}

build_node_modules() {
  local tmp=$NPM_DIR.tmp
  rm -rf "$tmp"
  mkdir -p "$tmp"
  cp "$REPO/package.json" "$REPO/npm-shrinkwrap.json" "$tmp/"
  say "installing the production npm dependencies for linux/arm64 into $NPM_DIR"
  # --ignore-scripts: install scripts would run on this x86-64 host (onnxruntime-node's would fetch x64 CUDA
  # libraries); the arm64 binaries come as prebuilt optional packages chosen by --cpu/--os/--libc.
  (cd "$tmp" && ONNXRUNTIME_NODE_INSTALL=skip npm ci --omit=dev --cpu=arm64 --os=linux --libc=glibc \
    --ignore-scripts --no-audit --no-fund --loglevel=error >&2)
  [[ -d $tmp/node_modules/@img/sharp-linux-arm64 ]] || { say "sharp's linux-arm64 binary is missing after npm ci"; exit 1; }
  touch "$tmp/.complete"
  rm -rf "$NPM_DIR"
  mv "$tmp" "$NPM_DIR"
  # Older dependency sets are dead weight once the lockfile has moved on.
  find "$CACHE/npm" -mindepth 1 -maxdepth 1 ! -name "$NPM_KEY" -exec rm -rf {} +
}

check
if ((CHECK)); then exit 0; fi
# check has refreshed the package lists when the sysroot is missing.
sysroot_ok || build_sysroot
npm_ok || build_node_modules

echo "qemu=$QEMU"
echo "qemu_cpu=$QEMU_CPU"
echo "sysroot=$SYSROOT"
echo "node=$SYSROOT/usr/bin/node"
echo "node_modules=$NPM_DIR/node_modules"
