#!/usr/bin/env bash
# Set up .venv (scripts/setup.sh) and run the main job.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/rnnzoo list
exec .venv/bin/rnnzoo bench --suite quick "$@"
