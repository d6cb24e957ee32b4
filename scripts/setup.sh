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
# The built-in base model's weights (fixed seed; the server and the worker also generate them at start when missing).
if [ ! -f models/tiny-mistral/consolidated.safetensors ]; then
  echo "atelier: generating the built-in tiny-mistral weights" >&2
  .venv/bin/python -m trainer.tiny_model --out models/tiny-mistral
fi
# The built-in vision base (Pixtral architecture, mistral-common's Pixtral tokenizer), likewise;
# a built-in is provided when its generator is in the checkout (src/models/base-models.ts).
if [ -f trainer/tiny_pixtral.py ] && [ ! -f models/tiny-pixtral/consolidated.safetensors ]; then
  echo "atelier: generating the built-in tiny-pixtral weights" >&2
  .venv/bin/python -m trainer.tiny_pixtral --out models/tiny-pixtral
fi
# The web console (console/ → console/dist, served at `/`): rebuilt when missing or older than a source.
if [ ! -f console/dist/index.html ] || [ -n "$(find console/src console/index.html console/vite.config.ts -newer console/dist/index.html -print -quit)" ]; then
  echo "atelier: building the web console" >&2
  npm run --silent console:build
fi
