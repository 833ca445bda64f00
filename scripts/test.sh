#!/usr/bin/env bash
# Quick start 2: set up, then run every check CI runs (lint, types, the whole test suite).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/setup.sh" dev
cd "$root"
.venv/bin/ruff check .
.venv/bin/mypy
.venv/bin/pytest "$@"
