#!/usr/bin/env bash
# Creates .venv with lrkit (editable) and everything the demo, tests and benchmarks need.
# Idempotent: re-running only installs what changed. Works offline except for the package index.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null 2>&1 || PY=python3
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
# The docs playground (docs/playground/): Pyodide from the npm package pinned in package.json,
# copied into the site by scripts/docs_playground.py, and Debian's chromium, which the browser
# test drives with Playwright (no browser download). Each is installed only when missing.
pyodide=$(sed -n 's/.*"pyodide": *"\([^"]*\)".*/\1/p' package.json)
if ! grep -qs "\"version\": \"$pyodide\"" node_modules/pyodide/package.json \
        || [ ! -f node_modules/pyodide/pyodide.asm.wasm ]; then
    npm ci --no-audit --no-fund --loglevel=error
fi
if [ ! -x /usr/bin/chromium ]; then
    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium
fi
stamp=.venv/.lrkit-installed
want=$(cat pyproject.toml constraints.txt scripts/setup-env.sh | sha256sum | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    exit 0
fi
echo "setting up .venv (torch CPU, jax, keras, optax, transformers, timm...)" >&2
.venv/bin/python -m pip install -q --upgrade "pip>=25.1"
# torch is pinned to 2.13.0 through constraints.txt: an unpinned torch pulls the CUDA build.
.venv/bin/python -m pip install -q -c constraints.txt -e ".[all]" --group test --group docs
# timm's package __init__ imports torchvision, which has no CPU build here: install timm without
# its dependencies; tests load only its torch-only modules (see tests/_timm.py, docs/timm.md).
.venv/bin/python -m pip install -q --no-deps -c constraints.txt timm
# DeepSpeed (tests/torch/test_deepspeed.py, tests/recipes/test_deepspeed.py) is an sdist whose
# setup.py imports torch: installed after torch, without build isolation and without compiling
# its C++ ops (DS_BUILD_OPS=0: its CPU accelerator runs initialize/step/checkpoints without them).
# Already installed at the pinned version, pip only checks it (a few seconds).
DS_BUILD_OPS=0 .venv/bin/python -m pip install -q --no-build-isolation -c constraints.txt deepspeed
# tf-keras requires the `tensorflow` distribution; tensorflow-cpu (from the test group) provides
# the same package, so install tf-keras without its dependencies.
.venv/bin/python -m pip install -q --no-deps -c constraints.txt tf-keras
# megatron-core: tests/test_batch_rampup.py's oracle, Megatron-LM's batch-size ramp-up calculator.
# The test loads that one standard-library-only module from its file, so no dependency is needed.
.venv/bin/python -m pip install -q --no-deps -c constraints.txt megatron-core
echo "$want" > "$stamp"
