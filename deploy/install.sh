#!/usr/bin/env bash
# fer-edge installer for Raspberry Pi OS (Bookworm), Debian, Ubuntu and NVIDIA Jetson (L4T).
#
#   sudo deploy/install.sh                 install or upgrade from this source tree, enable and start the service
#   sudo deploy/install.sh --uninstall     remove the program and the service; keep config, state and the user
#   sudo deploy/install.sh --uninstall --purge   also remove /etc/fer-agent, /var/lib/fer-agent and the user
#   deploy/install.sh --detect-camera      print the camera this machine would be configured for
#
# Idempotent: a second run with the same sources changes nothing. It never overwrites a config you edited.
# How the program is built: the sources are copied to a staging folder next to the install folder, `npm ci`
# installs the exact lockfile versions there (dev dependencies too: the TypeScript compiler), `npm run build`
# compiles, `npm prune --omit=dev` drops the build tools, and the staging folder replaces the old install in one
# rename. Why: no build output has to be committed or shipped, there is one download step (which `npm ci
# --prefer-offline` serves from the npm cache when it can, so a prepared cache installs offline), and a failed
# download or build never touches the running install.
set -euo pipefail

NODE_MIN_MAJOR=20
APP=fer-agent
UNIT=fer-agent.service
HEALTH_PORT_DEFAULT=9464

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ROOT=/
PREFIX=/opt/fer-agent
MODE=install
PURGE=0
CAMERA=auto
VIDEO_DEVICE=
START=1
HEALTH_PORT=$HEALTH_PORT_DEFAULT
MQTT_URL=
MQTT_USERNAME=

CONF_DIR=/etc/fer-agent
STATE_DIR=/var/lib/fer-agent
UNIT_DIR=/etc/systemd/system
BIN_LINK=/usr/local/bin/fer-agent

say() { printf 'fer-agent install: %s\n' "$*" >&2; }
warn() { printf 'fer-agent install: warning: %s\n' "$*" >&2; }
die() {
  local code=$1
  shift
  printf 'fer-agent install: error: %s\n' "$*" >&2
  exit "$code"
}

usage() {
  cat <<EOF
usage: install.sh [options]
  --uninstall          remove the program and the service (config, state and user are kept)
  --purge              with --uninstall: also remove $CONF_DIR, $STATE_DIR and the $APP user
  --camera KIND        auto (default), pi-csi, usb-webcam, jetson-csi, rtsp or demo
  --video-device DEV   V4L2 device for usb-webcam (default: the one detected, else /dev/video0)
  --mqtt-url URL       broker for the generated config (default: the example's, mqtt://homeassistant.local:1883)
  --mqtt-username NAME broker user for the generated config (password: $CONF_DIR/credentials/mqtt_password)
  --health-port PORT   port for /healthz and /metrics on 127.0.0.1 in the generated config (default $HEALTH_PORT_DEFAULT, 0: off)
  --prefix DIR         install folder (default /opt/fer-agent)
  --root DIR           install into another root file system (image building, tests); implies --no-start
  --no-start           enable the service but do not start or restart it
  --detect-camera      print the detected camera kind and device, then exit
  -h, --help           this help
EOF
}

while [ $# -gt 0 ]; do
  case $1 in
    --uninstall) MODE=uninstall ;;
    --purge) PURGE=1 ;;
    --detect-camera) MODE=detect ;;
    --camera) CAMERA=${2:?--camera needs a kind}; shift ;;
    --camera=*) CAMERA=${1#*=} ;;
    --video-device) VIDEO_DEVICE=${2:?--video-device needs a path}; shift ;;
    --video-device=*) VIDEO_DEVICE=${1#*=} ;;
    --mqtt-url) MQTT_URL=${2?--mqtt-url needs a URL}; shift ;;
    --mqtt-url=*) MQTT_URL=${1#*=} ;;
    --mqtt-username) MQTT_USERNAME=${2?--mqtt-username needs a name}; shift ;;
    --mqtt-username=*) MQTT_USERNAME=${1#*=} ;;
    --health-port) HEALTH_PORT=${2:?--health-port needs a number}; shift ;;
    --health-port=*) HEALTH_PORT=${1#*=} ;;
    --prefix) PREFIX=${2:?--prefix needs a folder}; shift ;;
    --prefix=*) PREFIX=${1#*=} ;;
    --root) ROOT=${2:?--root needs a folder}; shift ;;
    --root=*) ROOT=${1#*=} ;;
    --no-start) START=0 ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die 64 "unknown option $1" ;;
  esac
  shift
done

case $CAMERA in auto | pi-csi | usb-webcam | jetson-csi | rtsp | demo) ;; *) die 64 "--camera $CAMERA is invalid: expected auto, pi-csi, usb-webcam, jetson-csi, rtsp or demo" ;; esac
case $HEALTH_PORT in '' | *[!0-9]*) die 64 "--health-port $HEALTH_PORT is invalid: expected a port number" ;; esac
case $PREFIX in /*) ;; *) die 64 "--prefix $PREFIX is invalid: expected an absolute path" ;; esac
[ -d "$ROOT" ] || die 64 "--root $ROOT is not a folder"
ROOT=$(cd "$ROOT" && pwd)
[ "$ROOT" = / ] || START=0
# useradd, usermod, userdel and groupadd edit the target's /etc/passwd and /etc/group with --root.
ROOT_OPT=()
[ "$ROOT" = / ] || ROOT_OPT=(--root "$ROOT")

# A path inside the target root.
r() { if [ "$ROOT" = / ]; then printf '%s' "$1"; else printf '%s%s' "$ROOT" "$1"; fi; }

# ---------------------------------------------------------------------------------------------------------------
# Board and camera detection. Reads only sysfs (and /etc/nv_tegra_release), through r(), so a test can hand it a
# folder shaped like /sys. Prints "KIND [DEVICE]".

board() {
  local model=
  [ -r "$(r /sys/firmware/devicetree/base/model)" ] && model=$(tr -d '\0' <"$(r /sys/firmware/devicetree/base/model)")
  case $model in
    *Raspberry\ Pi*) echo raspberrypi ;;
    *NVIDIA\ Jetson* | *NVIDIA\ Orin* | *Jetson*) echo jetson ;;
    *) if [ -e "$(r /etc/nv_tegra_release)" ]; then echo jetson; else echo other; fi ;;
  esac
}

# One line per V4L2 capture node: "videoN driver index".
v4l2_nodes() {
  local d name drv idx
  for d in "$(r /sys/class/video4linux)"/video*; do
    [ -e "$d" ] || continue
    name=$(basename "$d")
    drv=unknown
    if [ -L "$d/device/driver" ]; then drv=$(basename "$(readlink "$d/device/driver")"); fi
    idx=0
    [ -r "$d/index" ] && idx=$(cat "$d/index")
    echo "$name $drv $idx"
  done | sort -V
}

# A camera sensor bound to an I2C driver (imx219, imx477, imx708, ov5647, ...): a Pi CSI camera even before its
# V4L2 node appears.
csi_sensor_bound() {
  local d dev
  for d in "$(r /sys/bus/i2c/drivers)"/imx* "$(r /sys/bus/i2c/drivers)"/ov*; do
    for dev in "$d"/[0-9]*-00[0-9a-f][0-9a-f]; do
      [ -e "$dev" ] && return 0
    done
  done
  return 1
}

detect_camera() {
  local b nodes usb csi
  b=$(board)
  nodes=$(v4l2_nodes)
  # USB webcams (uvcvideo) expose a capture node (index 0) and a metadata node (index 1): take the capture one.
  usb=$(printf '%s\n' "$nodes" | awk '$2 == "uvcvideo" && $3 == 0 { print "/dev/" $1; exit }')
  case $b in
    raspberrypi)
      csi=$(printf '%s\n' "$nodes" | awk '$2 == "unicam" || $2 == "rp1-cfe" { print "/dev/" $1; exit }')
      if [ -n "$csi" ] || csi_sensor_bound; then echo pi-csi; return; fi
      ;;
    jetson)
      # Tegra's capture driver (tegra-video / tegra-camrtc-*) means a CSI sensor behind Argus.
      csi=$(printf '%s\n' "$nodes" | awk '$2 ~ /^tegra/ { print "/dev/" $1; exit }')
      if [ -n "$csi" ]; then echo jetson-csi; return; fi
      ;;
  esac
  if [ -n "$usb" ]; then echo "usb-webcam $usb"; return; fi
  echo demo
}

if [ "$MODE" = detect ]; then
  echo "board: $(board)"
  echo "camera: $(detect_camera)"
  exit 0
fi

[ "$(id -u)" -eq 0 ] || die 77 "run as root: sudo $0 $*"

# ---------------------------------------------------------------------------------------------------------------
# Users and files inside the target root, read directly so --root works without the target's tools.

has_user() { grep -q "^$1:" "$(r /etc/passwd)"; }
has_group() { grep -q "^$1:" "$(r /etc/group)"; }
gid_of() { awk -F: -v n="$1" '$1 == n { print $3 }' "$(r /etc/group)"; }
uid_of() { awk -F: -v n="$1" '$1 == n { print $3 }' "$(r /etc/passwd)"; }
in_group() { awk -F: -v g="$2" -v u="$1" '$1 == g { n = split($4, m, ","); for (i = 1; i <= n; i++) if (m[i] == u) f = 1 } END { exit !f }' "$(r /etc/group)"; }
systemd_running() { [ "$ROOT" = / ] && [ -d /run/systemd/system ]; }

sha_of() { sha256sum "$1" | cut -d' ' -f1; }

# Installs $1 as $2 with mode $3 and owner $4 (uid:gid) only when content or metadata differ; returns 0 if it changed.
put_file() {
  local src=$1 dst=$2 mode=$3 owner=$4
  if [ -f "$dst" ] && cmp -s "$src" "$dst" && [ "$(stat -c '%a %u:%g' "$dst")" = "${mode#0} $owner" ]; then return 1; fi
  install -D -m "$mode" -o "${owner%:*}" -g "${owner#*:}" "$src" "$dst"
  return 0
}

ensure_dir() {
  local dir=$1 mode=$2 owner=$3
  if [ -d "$dir" ] && [ "$(stat -c '%a %u:%g' "$dir")" = "${mode#0} $owner" ]; then return 0; fi
  install -d -m "$mode" -o "${owner%:*}" -g "${owner#*:}" "$dir"
}

# ---------------------------------------------------------------------------------------------------------------
uninstall() {
  say "uninstalling from $(r "$PREFIX")"
  if systemd_running; then
    systemctl disable --now "$UNIT" 2>/dev/null || true
    systemctl disable --now fer-agent-firstboot.service 2>/dev/null || true
  elif command -v systemctl >/dev/null 2>&1 && [ -e "$(r "$UNIT_DIR/$UNIT")" ]; then
    systemctl --root="$ROOT" disable "$UNIT" >/dev/null 2>&1 || true
  fi
  rm -f "$(r "$UNIT_DIR/multi-user.target.wants/$UNIT")" "$(r "$UNIT_DIR/$UNIT")"
  rm -f "$(r "$UNIT_DIR/$UNIT.d/10-jetson.conf")" "$(r "$UNIT_DIR/$UNIT.d/20-compat32.conf")"
  rmdir "$(r "$UNIT_DIR/$UNIT.d")" 2>/dev/null || true
  rm -f "$(r "$UNIT_DIR/multi-user.target.wants/fer-agent-firstboot.service")" "$(r "$UNIT_DIR/fer-agent-firstboot.service")"
  rm -rf "$(r /usr/local/lib/fer-agent-firstboot)"
  rmdir "$(r "$UNIT_DIR/multi-user.target.wants")" 2>/dev/null || true
  if [ -L "$(r "$BIN_LINK")" ] && [ "$(readlink "$(r "$BIN_LINK")")" = "$PREFIX/bin/fer-agent" ]; then rm -f "$(r "$BIN_LINK")"; fi
  rm -rf "$(r "$PREFIX")" "$(r "$PREFIX").new" "$(r "$PREFIX").old"
  if systemd_running; then systemctl daemon-reload; fi
  if [ "$PURGE" = 1 ]; then
    rm -rf "$(r "$CONF_DIR")" "$(r "$STATE_DIR")"
    if has_user "$APP"; then
      userdel "${ROOT_OPT[@]}" "$APP"
    fi
    if has_group "$APP"; then
      groupdel "${ROOT_OPT[@]}" "$APP"
    fi
    say "purged: program, service, $CONF_DIR, $STATE_DIR and the $APP user are gone"
  else
    say "removed the program and the service; kept $CONF_DIR (your config and credentials), $STATE_DIR (installed models) and the $APP user (use --uninstall --purge to remove them too)"
  fi
}

if [ "$MODE" = uninstall ]; then
  uninstall
  exit 0
fi
[ "$PURGE" = 0 ] || die 64 "--purge only goes with --uninstall"

# ---------------------------------------------------------------------------------------------------------------
# Node.js: 20 or newer, from a path the hardened service can reach (ProtectHome hides /home and /root).

node_help() {
  cat >&2 <<'EOF'
  fer-agent needs Node.js 20 or newer (with npm). Debian 12 / Raspberry Pi OS Bookworm ship Node.js 18 and
  Ubuntu 20.04/22.04 (Jetson) ship 10/12, which are too old. Any of these works:
    - NodeSource packages (Raspberry Pi OS, Debian, Ubuntu, Jetson; arm64, armhf and x64):
        curl -fsSL https://deb.nodesource.com/setup_22.x | sudo -E bash - && sudo apt-get install -y nodejs
    - the official binaries from https://nodejs.org/en/download (Linux ARM64 on a Pi 4/5 or Jetson), unpacked
      into /usr/local:  sudo tar -xJf node-v22.*-linux-arm64.tar.xz -C /usr/local --strip-components=1
    - Debian 13 (Trixie) and newer: sudo apt-get install nodejs npm   (Node.js 20)
  Node installed with nvm under a home folder cannot be used: the service cannot see home folders.
EOF
}

NODE_BIN=$(command -v node || true)
[ -n "$NODE_BIN" ] || { node_help; die 69 "Node.js is not installed (no node on PATH)"; }
NODE_VERSION=$("$NODE_BIN" --version 2>/dev/null || true)
NODE_MAJOR=${NODE_VERSION#v}
NODE_MAJOR=${NODE_MAJOR%%.*}
case $NODE_MAJOR in '' | *[!0-9]*) node_help; die 69 "cannot tell the version of $NODE_BIN (it printed '$NODE_VERSION')" ;; esac
if [ "$NODE_MAJOR" -lt "$NODE_MIN_MAJOR" ]; then
  node_help
  die 69 "Node.js $NODE_VERSION at $NODE_BIN is too old: fer-agent needs $NODE_MIN_MAJOR or newer"
fi
NODE_BIN=$(readlink -f "$NODE_BIN")
case $NODE_BIN in /home/* | /root/* | /run/user/*) node_help; die 69 "Node.js at $NODE_BIN is inside a home folder, which the hardened service cannot read" ;; esac
command -v npm >/dev/null 2>&1 || { node_help; die 69 "npm is not installed (Debian: apt-get install npm; NodeSource and nodejs.org include it)"; }
if [ "$ROOT" != / ] && [ ! -x "$(r "$NODE_BIN")" ]; then die 69 "the target root $ROOT has no $NODE_BIN (the service runs the same Node.js as this installer)"; fi
say "Node.js $NODE_VERSION at $NODE_BIN"

# ---------------------------------------------------------------------------------------------------------------
BOARD=$(board)
if [ "$CAMERA" = auto ]; then
  read -r CAMERA DETECTED_DEVICE <<<"$(detect_camera) "
  say "board: $BOARD, camera detected: $CAMERA${DETECTED_DEVICE:+ at $DETECTED_DEVICE}"
  VIDEO_DEVICE=${VIDEO_DEVICE:-$DETECTED_DEVICE}
else
  say "board: $BOARD, camera: $CAMERA (from --camera)"
fi
[ "$CAMERA" != demo ] || warn "no camera found: configuring the built-in demo frames; edit $CONF_DIR/config.json or rerun with --camera"

# ---------------------------------------------------------------------------------------------------------------
# The service user: a system account without a login, in the video group for the cameras.
if ! has_group video; then
  groupadd "${ROOT_OPT[@]}" --system video
fi
if ! has_user "$APP"; then
  useradd "${ROOT_OPT[@]}" --system --user-group --no-create-home --no-log-init --home-dir "$STATE_DIR" --shell /usr/sbin/nologin --comment "fer-edge agent" "$APP"
  say "created system user $APP"
fi
if ! in_group "$APP" video; then
  usermod "${ROOT_OPT[@]}" --append --groups video "$APP"
fi
APP_UID=$(uid_of "$APP")
APP_GID=$(gid_of "$APP")

# ---------------------------------------------------------------------------------------------------------------
# The program: build in a staging folder, swap it in only when the sources (or Node.js) changed.
SOURCES=(package.json npm-shrinkwrap.json tsconfig.json agent configs systemd deploy)
for f in "${SOURCES[@]}"; do [ -e "$SRC/$f" ] || die 66 "source tree $SRC is incomplete: $f is missing"; done
OPTIONAL_SOURCES=()
for f in README.md LICENSE; do [ -e "$SRC/$f" ] && OPTIONAL_SOURCES+=("$f"); done

source_stamp() {
  {
    echo "node $NODE_VERSION $NODE_BIN $(uname -m)"
    (cd "$SRC" && find "${SOURCES[@]}" "${OPTIONAL_SOURCES[@]}" -type f ! -path '*/node_modules/*' ! -path '*/__pycache__/*' -print0 |
      LC_ALL=C sort -z | xargs -0 sha256sum)
  } | sha256sum | cut -d' ' -f1
}

TARGET=$(r "$PREFIX")
STAMP=$(source_stamp)
CHANGED=0
if [ -f "$TARGET/.install-stamp" ] && [ "$(cat "$TARGET/.install-stamp")" = "$STAMP" ] && [ -f "$TARGET/dist/agent/cli/main.js" ]; then
  say "program in $PREFIX is up to date"
else
  STAGE=$TARGET.new
  say "building into $STAGE (npm ci, TypeScript build, production dependencies only)"
  rm -rf "$STAGE"
  mkdir -p "$STAGE"
  (cd "$SRC" && tar -cf - --exclude=node_modules --exclude=__pycache__ "${SOURCES[@]}" "${OPTIONAL_SOURCES[@]}") | tar -xf - -C "$STAGE" --no-same-owner
  (
    cd "$STAGE"
    export ONNXRUNTIME_NODE_INSTALL=skip npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false
    npm ci --prefer-offline --loglevel=warn || die 75 "npm ci failed in $STAGE (no network and no npm cache?); the installed program was not touched"
    npm run --silent build || die 70 "the TypeScript build failed in $STAGE; the installed program was not touched"
    [ -f dist/agent/cli/main.js ] || die 70 "the build did not produce dist/agent/cli/main.js"
    npm prune --omit=dev --loglevel=warn || die 75 "npm prune failed in $STAGE"
    rm -rf dist/test
    # onnxruntime-node ships its native library for every OS and CPU (~280 MB); keep only this machine's.
    ort=node_modules/onnxruntime-node/bin
    if [ -d "$ort" ]; then
      keep_os=$("$NODE_BIN" -p process.platform)
      keep_arch=$("$NODE_BIN" -p process.arch)
      for d in "$ort"/napi-v*/*/*; do
        [ -d "$d" ] || continue
        case $d in */"$keep_os"/"$keep_arch") ;; *) rm -rf "$d" ;; esac
      done
      find "$ort" -mindepth 2 -maxdepth 2 -type d -empty -delete
    fi
  )
  mkdir -p "$STAGE/bin"
  cat >"$STAGE/bin/fer-agent" <<EOF
#!/bin/sh
# Written by deploy/install.sh: runs fer-agent on the Node.js found at install time ($NODE_VERSION).
exec $NODE_BIN $PREFIX/dist/agent/cli/main.js "\$@"
EOF
  chmod 0755 "$STAGE/bin/fer-agent"
  echo "$STAMP" >"$STAGE/.install-stamp"
  chown -R 0:0 "$STAGE"
  chmod -R u+rwX,go+rX,go-w "$STAGE"
  rm -rf "$TARGET.old"
  [ ! -e "$TARGET" ] || mv "$TARGET" "$TARGET.old"
  mv "$STAGE" "$TARGET"
  rm -rf "$TARGET.old"
  CHANGED=1
  say "installed the program to $PREFIX"
fi
if [ "$(readlink "$(r "$BIN_LINK")" 2>/dev/null)" != "$PREFIX/bin/fer-agent" ]; then
  mkdir -p "$(dirname "$(r "$BIN_LINK")")"
  ln -sfn "$PREFIX/bin/fer-agent" "$(r "$BIN_LINK")"
fi

# ---------------------------------------------------------------------------------------------------------------
# Folders: config readable by the service, credentials by root only (systemd hands them over), state writable.
ensure_dir "$(r "$CONF_DIR")" 0755 0:0
ensure_dir "$(r "$CONF_DIR/credentials")" 0700 0:0
for c in mqtt_password ha_token; do
  # Empty means unset; the unit's LoadCredential= needs the file to exist.
  [ -e "$(r "$CONF_DIR/credentials/$c")" ] || install -m 0600 -o 0 -g 0 /dev/null "$(r "$CONF_DIR/credentials/$c")"
done
ensure_dir "$(r "$STATE_DIR")" 0750 "$APP_UID:$APP_GID"
ensure_dir "$(r "$STATE_DIR/models")" 0750 "$APP_UID:$APP_GID"

# ---------------------------------------------------------------------------------------------------------------
# The config: generated from configs/<camera>.example.json unless one exists that the user edited. The hash of
# what we generated sits next to it, so an untouched config follows a new camera, an edited one is never touched.
CONF=$(r "$CONF_DIR/config.json")
MARK=$(r "$CONF_DIR/.config.json.generated-sha256")
TMP_CONF=$(mktemp)
trap 'rm -f "$TMP_CONF"' EXIT
"$NODE_BIN" "$SRC/deploy/lib/render-config.mjs" --example "$SRC/configs/$CAMERA.example.json" \
  ${VIDEO_DEVICE:+--video-device "$VIDEO_DEVICE"} ${MQTT_URL:+--mqtt-url "$MQTT_URL"} ${MQTT_USERNAME:+--mqtt-username "$MQTT_USERNAME"} --state-dir "$STATE_DIR/models" --health-port "$HEALTH_PORT" >"$TMP_CONF"

validate_config() {
  # The installed agent's own loader: the same strict checks `fer-agent run` applies.
  (cd "$TARGET" && "$NODE_BIN" --input-type=module -e "
    const { loadConfig } = await import('./dist/agent/config/load.js');
    try { loadConfig({ file: process.argv[1], env: {} }); } catch (e) { console.error(e.message); process.exit(1); }
  " "$1")
}
if [ "$ROOT" = / ] || [ -x "$(r "$NODE_BIN")" ]; then
  validate_config "$TMP_CONF" || die 70 "the generated config is invalid (a bug in configs/$CAMERA.example.json or deploy/lib/render-config.mjs)"
fi

CONF_CHANGED=0
if [ ! -e "$CONF" ]; then
  put_file "$TMP_CONF" "$CONF" 0640 "0:$APP_GID" || true
  sha_of "$CONF" >"$MARK"
  CONF_CHANGED=1
  say "wrote $CONF_DIR/config.json for camera $CAMERA"
elif [ -f "$MARK" ] && [ "$(sha_of "$CONF")" = "$(cat "$MARK")" ]; then
  if put_file "$TMP_CONF" "$CONF" 0640 "0:$APP_GID"; then
    sha_of "$CONF" >"$MARK"
    CONF_CHANGED=1
    say "updated $CONF_DIR/config.json (you had not edited it)"
  fi
else
  say "kept your edited $CONF_DIR/config.json (the one this run would write is configs/$CAMERA.example.json)"
  if ! validate_config "$CONF"; then warn "$CONF_DIR/config.json is invalid: the service will not start until it is fixed"; fi
fi

# ---------------------------------------------------------------------------------------------------------------
# The unit, board-specific drop-ins, and enabling it (offline when systemd is not running: chroot, image build).
UNIT_CHANGED=0
put_file "$SRC/systemd/$UNIT" "$(r "$UNIT_DIR/$UNIT")" 0644 0:0 && UNIT_CHANGED=1
DROPIN=$(r "$UNIT_DIR/$UNIT.d")
if [ "$BOARD" = jetson ]; then
  put_file "$SRC/systemd/fer-agent-jetson.conf" "$DROPIN/10-jetson.conf" 0644 0:0 && UNIT_CHANGED=1
fi
# 32-bit Node.js on a 64-bit kernel (32-bit Raspberry Pi OS on a Pi 4/5): allow its ABI next to the native one.
if [ "$("$NODE_BIN" -p process.arch)" = arm ] && [ "$(uname -m)" = aarch64 ]; then
  put_file "$SRC/systemd/fer-agent-compat32.conf" "$DROPIN/20-compat32.conf" 0644 0:0 && UNIT_CHANGED=1
fi

if systemd_running; then
  systemctl daemon-reload
  systemctl enable "$UNIT" >/dev/null 2>&1
  if [ "$START" = 1 ]; then
    if [ $((CHANGED + CONF_CHANGED + UNIT_CHANGED)) -gt 0 ] || ! systemctl is-active --quiet "$UNIT"; then
      systemctl restart "$UNIT"
      say "started $UNIT (journalctl -u $APP -f to follow it)"
    fi
  fi
elif command -v systemctl >/dev/null 2>&1; then
  # Without a running systemd, --root makes systemctl only create the [Install] symlinks.
  systemctl --root="$ROOT" enable "$UNIT" >/dev/null 2>&1
  say "enabled $UNIT (systemd is not running here: it starts on the next boot)"
else
  mkdir -p "$(r "$UNIT_DIR/multi-user.target.wants")"
  ln -sfn "$UNIT_DIR/$UNIT" "$(r "$UNIT_DIR/multi-user.target.wants/$UNIT")"
  say "enabled $UNIT by symlink (no systemctl here)"
fi

cat >&2 <<EOF

fer-agent is installed.
  config:       $CONF_DIR/config.json      (camera: $CAMERA; see $PREFIX/configs/README.md for every key)
  secrets:      $CONF_DIR/credentials/mqtt_password and ha_token (root-only; systemd passes them to the agent)
  models/state: $STATE_DIR
  health:       curl http://127.0.0.1:$HEALTH_PORT/healthz   and   /metrics
  logs:         journalctl -u $APP -f
  after editing the config: sudo systemctl restart $APP
EOF
