#!/usr/bin/env bash
# The README's demo: set up .venv (idempotent), then train a small character transformer with
# lrkit's warmup + cosine, showing a progress bar, and write the chart to out/demo.png.
# Extra arguments go to examples/demo.py (e.g. --steps 300 --out out/demo.png).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-env.sh
export KERAS_BACKEND="${KERAS_BACKEND:-jax}"
exec .venv/bin/python examples/demo.py "$@"
