#!/usr/bin/env bash
# The whole test suite: sets up .venv, then lint, types and two pytest runs: tests/ with Keras on
# the jax backend, then tests/tf/ (TensorFlow tensors, Keras on the tensorflow backend, tf_keras)
# in a process of its own, since Keras picks its backend once per process. Arguments go to both
# runs. Exit code 5 (no tests collected) is a failure, never a silent pass; a failure in either
# run fails the script.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-env.sh
.venv/bin/python -m ruff check src tests bench examples scripts
.venv/bin/python -m mypy

status=0
run() {
    local rc=0
    env "$@" || rc=$?
    if [ "$rc" -eq 5 ]; then
        echo "pytest collected no tests: failing" >&2
        rc=1
    fi
    if [ "$rc" -ne 0 ] && [ "$status" -eq 0 ]; then
        status=$rc
    fi
}
run KERAS_BACKEND=jax .venv/bin/python -m pytest -n 2 "$@"
run KERAS_BACKEND=tensorflow .venv/bin/python -m pytest -n 2 tests/tf "$@"
exit "$status"
