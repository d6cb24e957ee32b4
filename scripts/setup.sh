#!/usr/bin/env bash
# Prepares a fresh checkout: npm packages (better-sqlite3 builds from source where its prebuilt
# binary cannot be downloaded) and the Python environment in .venv. Safe to run repeatedly.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "atelier: installing npm packages" >&2
  npm ci --no-audit --no-fund --loglevel=error
fi
bash scripts/setup-python.sh
