#!/usr/bin/env bash
# Quick start 1: set up, then run a TrainingJob end to end with no AWS account and no cluster.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/setup.sh" demo
cd "$root"
exec "$root/.venv/bin/sagemaker-operator" demo "$@"
