#!/usr/bin/env bash
# Creates the Python venv with Home Assistant Core that test/homeassistant/ha-e2e.test.ts runs against:
#   test/homeassistant/setup-ha.sh VENV_DIR        then   FER_HA_VENV=VENV_DIR npx ava dist/test/homeassistant/
# Home Assistant 2025.4.4 is the newest release that installs on Python 3.13 here (see
# shared notes: home-assistant-core.md). Takes a few minutes; does nothing when VENV_DIR already has it.
set -euo pipefail

VENV="${1:?usage: setup-ha.sh VENV_DIR}"
HA_VERSION="${FER_HA_VERSION:-2025.4.4}"

if [ -x "$VENV/bin/hass" ] && "$VENV/bin/python" -c "import homeassistant.const as c, sys, paho.mqtt, hass_frontend; sys.exit(c.__version__ != '$HA_VERSION')" 2>/dev/null; then
  echo "Home Assistant $HA_VERSION already in $VENV"
  exit 0
fi

# Python 3.13: FER_HA_PYTHON, else python3.13 on PATH, else pyenv's.
# A pyenv shim on PATH may exist without 3.13 being active, so each candidate must actually run.
PY=""
for p in "${FER_HA_PYTHON:-}" "$(command -v python3.13 || true)" "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.13*/bin/python3.13; do
  if [ -n "$p" ] && [ -x "$p" ] && "$p" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 13))' >/dev/null 2>&1; then PY="$p"; break; fi
done
if [ -z "$PY" ]; then
  echo "setup-ha.sh: no Python 3.13 found (set FER_HA_PYTHON, or install it e.g. with pyenv)" >&2
  exit 1
fi

[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
"$VENV/bin/pip" install --disable-pip-version-check -q "homeassistant==$HA_VERSION"

# Home Assistant pip-installs the requirements of the integrations it loads (frontend, backup, mqtt, ...) at
# startup. Install them now, read from the manifests of the integrations it always sets up plus the ones the test
# uses, so the test can start it with --skip-pip and needs no network.
REQS="$(mktemp)"
trap 'rm -f "$REQS"' EXIT
"$VENV/bin/python" - > "$REQS" <<'PY'
import json, pathlib
import homeassistant.bootstrap as b
comp = pathlib.Path(b.__file__).parent / "components"
todo = set(b.CORE_INTEGRATIONS) | set(b.LOGGING_AND_HTTP_DEPS_INTEGRATIONS) | set(b.FRONTEND_INTEGRATIONS) | set(b.DEFAULT_INTEGRATIONS)
todo |= {"mqtt", "api", "config", "http", "onboarding", "auth", "websocket_api", "automation", "recorder", "zeroconf", "cloud"}
seen, reqs = set(), set()
while todo:
    d = todo.pop()
    if d in seen:
        continue
    seen.add(d)
    f = comp / d / "manifest.json"
    if f.exists():
        m = json.loads(f.read_text())
        reqs.update(m.get("requirements", []))
        todo.update(m.get("dependencies", []))
print("\n".join(sorted(reqs)))
PY
"$VENV/bin/pip" install --disable-pip-version-check -q -r "$REQS"
"$VENV/bin/python" -c "import homeassistant.const as c; print('Home Assistant', c.__version__, 'in $VENV')"
