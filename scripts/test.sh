#!/usr/bin/env bash
# The whole test suite: sets up .venv, then lint, types and pytest. Exit code 5 (no tests
# collected) is a failure, never a silent pass.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-env.sh
export KERAS_BACKEND=jax
.venv/bin/python -m ruff check src tests bench
.venv/bin/python -m mypy
set +e
.venv/bin/python -m pytest -n 2 "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
    echo "pytest collected no tests: failing" >&2
    exit 1
fi
exit "$rc"
