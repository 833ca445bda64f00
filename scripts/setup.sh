#!/usr/bin/env bash
# Create .venv (Python >= 3.11) and install the project with the given extra (demo or dev).
# Sourced by demo.sh and test.sh; safe to run again (pip only installs what changed).
set -euo pipefail
extra="${1:-demo}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="${PYTHON:-python3}"
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "error: Python 3.11 or newer is needed (found: $("$python" --version 2>&1)); set PYTHON=/path/to/python3.11" >&2
  exit 1
fi
if [ ! -x "$root/.venv/bin/python" ]; then
  "$python" -m venv "$root/.venv"
fi
"$root/.venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip >/dev/null
"$root/.venv/bin/python" -m pip install --quiet --disable-pip-version-check -e "$root[$extra]"
