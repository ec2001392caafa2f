#!/usr/bin/env bash
# Creates the Python venv with Home Assistant Core that test/homeassistant/ha-e2e.test.ts runs against:
#   test/homeassistant/setup-ha.sh VENV_DIR        then   FER_HA_VENV=VENV_DIR npx ava dist/test/homeassistant/
# Home Assistant 2025.4.4 is the newest release that installs on Python 3.13 here (see
# shared notes: home-assistant-core.md). Takes a few minutes; does nothing when VENV_DIR already has it.
set -euo pipefail

VENV="${1:?usage: setup-ha.sh VENV_DIR}"
HA_VERSION="${FER_HA_VERSION:-2025.4.4}"

if [ -x "$VENV/bin/hass" ] && "$VENV/bin/python" -c "import homeassistant.const as c, sys; sys.exit(c.__version__ != '$HA_VERSION')" 2>/dev/null; then
  echo "Home Assistant $HA_VERSION already in $VENV"
  exit 0
fi

# Python 3.13: FER_HA_PYTHON, else python3.13 on PATH, else pyenv's.
PY="${FER_HA_PYTHON:-}"
if [ -z "$PY" ]; then PY="$(command -v python3.13 || true)"; fi
if [ -z "$PY" ]; then
  for p in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.13*/bin/python3.13; do
    if [ -x "$p" ]; then PY="$p"; break; fi
  done
fi
if [ -z "$PY" ]; then
  echo "setup-ha.sh: no Python 3.13 found (set FER_HA_PYTHON, or install it e.g. with pyenv)" >&2
  exit 1
fi

"$PY" -m venv "$VENV"
"$VENV/bin/pip" install --disable-pip-version-check -q "homeassistant==$HA_VERSION"
# The MQTT integration's requirement, installed now so Home Assistant can start with --skip-pip (no network).
"$VENV/bin/pip" install --disable-pip-version-check -q "paho-mqtt==2.1.0"
"$VENV/bin/python" -c "import homeassistant.const as c; print('Home Assistant', c.__version__, 'in $VENV')"
