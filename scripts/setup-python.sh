#!/usr/bin/env bash
# Creates .venv with the trainer's run-time and test dependencies. Idempotent: a venv whose
# stamp matches the requirement files is left alone. Works offline against a local wheel store.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
stamp=$(cat trainer/requirements.txt trainer/requirements-dev.txt scripts/setup-python.sh | sha256sum | cut -c1-16)
if [ -x .venv/bin/python ] && [ "$(cat .venv/.atelier-stamp 2>/dev/null)" = "$stamp" ]; then
  exit 0
fi
echo "atelier: preparing the Python environment in .venv (one time)" >&2
$PY -m venv .venv
# Offline wheel stores answer at once; a default index that cannot be reached should fail fast.
export PIP_RETRIES=${PIP_RETRIES:-0} PIP_TIMEOUT=${PIP_TIMEOUT:-15}
pip() { .venv/bin/python -m pip install -q --disable-pip-version-check "$@"; }
# On CPU-only machines pin the CPU wheel (the store's newest torch is a multi-GB CUDA build).
if [ -z "${ATELIER_TORCH_SPEC:-}" ] && ! command -v nvidia-smi >/dev/null 2>&1; then
  ATELIER_TORCH_SPEC="torch==2.13.0+cpu"
fi
pip "${ATELIER_TORCH_SPEC:-torch}" || pip torch
pip -r trainer/requirements.txt -r trainer/requirements-dev.txt
# mistral-common's hard dependency pydantic-extra-types is only used for audio and is not in
# every offline store: install the oracle without it.
pip --no-deps mistral-common
# wandb (the W&B integration's client, run offline in tests): its OTLP exporter's own dependency is
# missing from some offline stores and is only used for online telemetry, so install around it.
pip click packaging platformdirs protobuf pyyaml xxhash
pip --no-deps wandb opentelemetry-api opentelemetry-sdk opentelemetry-exporter-otlp-proto-http opentelemetry-exporter-otlp-proto-common opentelemetry-proto
echo "$stamp" > .venv/.atelier-stamp
