#!/usr/bin/env bash
# Runs every test: type check, the TypeScript suites (node:test through tsx) and the trainer's
# pytest suite. Prepares what it needs first, so it works on a fresh clone.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
echo "== typecheck" >&2
npx tsc --noEmit -p .
npx tsc --noEmit -p console
echo "== TypeScript tests" >&2
ts_status=0
node --import tsx --test --test-concurrency=1 --test-reporter=spec \
  $(find src test -name '*.test.ts' | sort) || ts_status=$?
echo "== Python tests" >&2
py_status=0
.venv/bin/python -m pytest -q trainer/tests || py_status=$?
if [ "$ts_status" -ne 0 ] || [ "$py_status" -ne 0 ]; then
  echo "tests failed: typescript=$ts_status python=$py_status" >&2
  exit 1
fi
