#!/usr/bin/env bash
# Set up .venv (scripts/setup.sh), lint (ruff check, configured in pyproject.toml) and run the default test
# suite (slow tests excluded; add -m slow for them).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check --quiet .
exec .venv/bin/python -m pytest "$@"
