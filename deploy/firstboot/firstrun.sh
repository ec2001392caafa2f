#!/bin/bash
# fer-edge first boot: a freshly flashed Raspberry Pi OS / Debian / Ubuntu card comes up with fer-agent running.
#
# Use it as
#  - Raspberry Pi Imager's first-run script:  rpi-imager --cli --first-run-script firstrun.sh IMAGE DEVICE
#    (Imager puts it on the boot partition and runs it once, early, from the kernel command line), or
#  - cloud-init user-data (see user-data.yaml next to this file), or
#  - by hand as root on a running system.
# Put the fer-edge sources on the boot partition as fer-edge/ (the FAT partition any PC can write), or set
# FER_SOURCE to a git URL. Settings below can be edited here or given in fer-agent.env on the boot partition.
#
# This script runs before the network is up, so it only installs fer-agent-firstboot.service; that unit waits for
# the network, makes sure Node.js 20+ is there, runs deploy/install.sh, and disables itself when it succeeded
# (after a failure it tries again on the next boot: journalctl -u fer-agent-firstboot says why).
set -euo pipefail

# ---- settings ------------------------------------------------------------------------------------------------
FER_SOURCE=${FER_SOURCE:-}                 # sources folder or git URL; empty: fer-edge/ on the boot partition
FER_CAMERA=${FER_CAMERA:-auto}             # auto, pi-csi, usb-webcam, jetson-csi, rtsp, demo
FER_MQTT_URL=${FER_MQTT_URL:-}             # e.g. mqtt://homeassistant.local:1883; empty: as in the example config
FER_MQTT_USERNAME=${FER_MQTT_USERNAME:-}
FER_MQTT_PASSWORD=${FER_MQTT_PASSWORD:-}   # stored root-only in /etc/fer-agent/credentials/mqtt_password
FER_NODE_MAJOR=${FER_NODE_MAJOR:-22}       # Node.js line fetched from nodejs.org when the system has none >= 20
# --------------------------------------------------------------------------------------------------------------

LIB=/usr/local/lib/fer-agent-firstboot
UNIT=/etc/systemd/system/fer-agent-firstboot.service

say() { printf 'fer-agent firstboot: %s\n' "$*" >&2; }

[ "$(id -u)" -eq 0 ] || { say "run as root"; exit 77; }

install -d -m 0700 "$LIB"
# The settings go to a root-only file for the unit; it is deleted once the install succeeded (it may hold a password).
umask 077
{
  for v in FER_SOURCE FER_CAMERA FER_MQTT_URL FER_MQTT_USERNAME FER_MQTT_PASSWORD FER_NODE_MAJOR; do printf '%s=%q\n' "$v" "${!v}"; done
} >"$LIB/settings.env"
umask 022

cat >"$LIB/run.sh" <<'EOF'
#!/bin/bash
# Run by fer-agent-firstboot.service once the network is online (written by deploy/firstboot/firstrun.sh).
set -euo pipefail
LIB=/usr/local/lib/fer-agent-firstboot
say() { printf 'fer-agent firstboot: %s\n' "$*" >&2; }
BOOT=/boot/firmware
[ -d "$BOOT" ] || BOOT=/boot
# shellcheck disable=SC1091
. "$LIB/settings.env"
if [ -f "$BOOT/fer-agent.env" ]; then
  # shellcheck disable=SC1091
  . "$BOOT/fer-agent.env"
fi

retry() {
  local n
  for n in 1 2 3 4 5 6 7 8 9 10; do
    "$@" && return 0
    say "attempt $n of '$*' failed; retrying in 30 s (network or clock not ready yet?)"
    sleep 30
  done
  return 1
}

node_ok() { command -v node >/dev/null 2>&1 && [ "$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)" -ge 20 ] && command -v npm >/dev/null 2>&1; }

install_node() {
  # The distribution's package when it is new enough (Debian 13+), else the official build from nodejs.org.
  if command -v apt-get >/dev/null 2>&1; then
    retry apt-get update -qq || true
    local cand
    cand=$(apt-cache policy nodejs 2>/dev/null | awk '/Candidate:/ { print $2 }' | sed 's/^[0-9]*://; s/[.~+-].*//')
    if [ -n "$cand" ] && [ "$cand" != "(none)" ] && [ "$cand" -ge 20 ] 2>/dev/null; then
      DEBIAN_FRONTEND=noninteractive retry apt-get install -y -qq nodejs npm && return 0
    fi
  fi
  local arch
  case $(uname -m) in
    aarch64) arch=arm64 ;; armv7l) arch=armv7l ;; x86_64) arch=x64 ;;
    *) say "no Node.js build for $(uname -m) on nodejs.org"; return 1 ;;
  esac
  local base="https://nodejs.org/dist/latest-v${FER_NODE_MAJOR}.x" tmp file
  tmp=$(mktemp -d)
  retry curl -fsSL -o "$tmp/SHASUMS256.txt" "$base/SHASUMS256.txt"
  file=$(awk -v a="linux-$arch.tar.xz" '$2 ~ a"$" { print $2; exit }' "$tmp/SHASUMS256.txt")
  [ -n "$file" ] || { say "no linux-$arch build listed at $base"; return 1; }
  retry curl -fsSL -o "$tmp/$file" "$base/$file"
  (cd "$tmp" && grep " $file\$" SHASUMS256.txt | sha256sum -c -) || { say "checksum mismatch for $file"; return 1; }
  tar -xJf "$tmp/$file" -C /usr/local --strip-components=1 --no-same-owner --exclude='*/CHANGELOG.md' --exclude='*/README.md' --exclude='*/LICENSE'
  rm -rf "$tmp"
  hash -r
  say "installed Node.js $(node --version) from nodejs.org into /usr/local"
}

node_ok || install_node
node_ok || { say "Node.js 20+ with npm is still missing"; exit 1; }

SRC=${FER_SOURCE:-$BOOT/fer-edge}
case $SRC in
  http://* | https://* | git@* | *.git)
    command -v git >/dev/null 2>&1 || DEBIAN_FRONTEND=noninteractive retry apt-get install -y -qq git
    rm -rf "$LIB/src"
    retry git clone --depth 1 "$SRC" "$LIB/src"
    SRC=$LIB/src
    ;;
esac
[ -x "$SRC/deploy/install.sh" ] || [ -f "$SRC/deploy/install.sh" ] || { say "no fer-edge sources at $SRC (copy them to the boot partition as fer-edge/, or set FER_SOURCE)"; exit 1; }

if [ -n "$FER_MQTT_PASSWORD" ] && [ ! -s /etc/fer-agent/credentials/mqtt_password ]; then
  install -d -m 0755 /etc/fer-agent
  install -d -m 0700 /etc/fer-agent/credentials
  (umask 077 && printf '%s' "$FER_MQTT_PASSWORD" >/etc/fer-agent/credentials/mqtt_password)
fi

args=(--camera "$FER_CAMERA")
[ -z "$FER_MQTT_URL" ] || args+=(--mqtt-url "$FER_MQTT_URL")
[ -z "$FER_MQTT_USERNAME" ] || args+=(--mqtt-username "$FER_MQTT_USERNAME")
retry bash "$SRC/deploy/install.sh" "${args[@]}"

# Done: never again, and forget the settings (they may hold the broker password).
rm -f "$LIB/settings.env"
[ ! -f "$BOOT/fer-agent.env" ] || sed -i '/^FER_MQTT_PASSWORD=/d' "$BOOT/fer-agent.env" || true
touch /var/lib/fer-agent/.firstboot-done
if [ -d /run/systemd/system ]; then systemctl disable fer-agent-firstboot.service 2>/dev/null || true; else rm -f /etc/systemd/system/multi-user.target.wants/fer-agent-firstboot.service; fi
rm -rf "$LIB/src"
say "fer-agent is installed and running"
EOF
chmod 0700 "$LIB/run.sh"

cat >"$UNIT" <<'EOF'
# Written by deploy/firstboot/firstrun.sh: installs fer-agent once the network is up, then disables itself.
[Unit]
Description=fer-edge first-boot install of fer-agent
Wants=network-online.target
After=network-online.target time-sync.target
ConditionPathExists=!/var/lib/fer-agent/.firstboot-done

[Service]
Type=oneshot
ExecStart=/usr/local/lib/fer-agent-firstboot/run.sh
# npm ci and the TypeScript build take a while on a Pi Zero 2 / Pi 3.
TimeoutStartSec=2h

[Install]
WantedBy=multi-user.target
EOF
chmod 0644 "$UNIT"

if [ -d /run/systemd/system ]; then
  systemctl daemon-reload
  systemctl enable fer-agent-firstboot.service
  # Run now when the system is already up (cloud-init, by hand); during Imager's early first run this just queues it.
  systemctl start --no-block fer-agent-firstboot.service || true
elif command -v systemctl >/dev/null 2>&1; then
  systemctl --root=/ enable fer-agent-firstboot.service
else
  mkdir -p /etc/systemd/system/multi-user.target.wants
  ln -sfn "$UNIT" /etc/systemd/system/multi-user.target.wants/fer-agent-firstboot.service
fi
say "fer-agent-firstboot.service installed: fer-agent is installed on the next boot with network"

# Raspberry Pi Imager runs this script from the kernel command line (systemd.run=...firstrun.sh); like Imager's
# own first-run script, it must remove itself and that entry, or it would run on every boot. Imager appends
# " systemd.run=... systemd.run_success_action=reboot systemd.unit=kernel-command-line.target" to the line, so
# this cuts from " systemd.run" to the end, exactly as Imager's script does.
self=$(readlink -f "$0")
for boot in /boot/firmware /boot; do
  if [ "$self" = "$boot/firstrun.sh" ] && [ -f "$boot/cmdline.txt" ] && grep -q 'systemd.run=' "$boot/cmdline.txt"; then
    sed -i 's| systemd.run.*||g' "$boot/cmdline.txt"
    rm -f "$self"
  fi
done
exit 0
