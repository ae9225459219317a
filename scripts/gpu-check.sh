#!/usr/bin/env bash
# The checks that need a CUDA GPU (CI has none): run on a GPU machine whose Python already has
# torch, numpy, jax, pytest and hypothesis (lrkit itself is taken from src/, nothing installed).
#
#     bash scripts/gpu-check.sh [RESULTS_DIR]
#
# 1. tests that run on CUDA: tests/torch/test_cuda.py (compiled kernels, a compiled capturable
#    Adam on CUDA rates, resume, find_lr), the array-family and torch-scheduler tests;
# 2. bench/compiled.py on the GPU, its report written to RESULTS_DIR (default bench/results).
set -euo pipefail
cd "$(dirname "$0")/.."
results="${1:-bench/results}"
python="${PYTHON:-python3}"
export PYTHONPATH="$PWD/src:$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
"$python" - <<'EOF'
import torch
assert torch.cuda.is_available(), "no CUDA device visible"
print("torch", torch.__version__, "on", torch.cuda.get_device_name(0))
EOF
"$python" -m pytest -q -p no:cacheprovider -o addopts="-ra --import-mode=importlib" \
    tests/torch/test_cuda.py tests/test_families.py tests/torch/test_lrscheduler_compile.py \
    tests/torch/test_lrscheduler_vs_torch.py tests/torch/test_lrscheduler_resume.py
"$python" -m bench.compiled --device cuda --out "$results"
