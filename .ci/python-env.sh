# Sourced by .ci/run: installs training/requirements.txt for the python3 on PATH, or, where that Python is Debian's
# "externally managed" system Python (PEP 668: pip refuses to install into it), into a venv made from it, whose bin/
# then goes first on PATH so that npm test's python3, ruff, mypy and pytest are the venv's.
fer_python_env() {
  local venv="${FER_PY_VENV:-$HOME/.cache/fer-edge/py-venv}"
  if python3 -c 'import os, sys, sysconfig; sys.exit(0 if sys.prefix == sys.base_prefix and os.path.exists(os.path.join(sysconfig.get_path("stdlib"), "EXTERNALLY-MANAGED")) else 1)'; then
    if [ ! -x "$venv/bin/python3" ]; then
      echo "python3 ($(command -v python3)) is externally managed: installing the training requirements into $venv" >&2
      python3 -m venv "$venv" || { echo "python3 -m venv failed: install Debian's python3-venv" >&2; return 1; }
    fi
    export PATH="$venv/bin:$PATH"
    hash -r
  fi
  python3 -m pip install -q -r training/requirements.txt
}
