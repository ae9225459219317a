#!/usr/bin/env bash
# Builds the documentation site into site/ with MkDocs (Material, mkdocstrings), strict: a broken
# link, a page missing from the nav or a docstring warning fails it. Extra arguments go to
# `mkdocs build` (e.g. --site-dir DIR). DOCS_PYTHON picks the interpreter; by default the one of
# .venv, set up by scripts/setup-env.sh. Browse the result with: python -m http.server -d site
# The playground (site/playground/) gets Pyodide from node_modules/pyodide (`npm ci`, done by
# setup-env.sh) and lrkit.zip from src/, both added by scripts/docs_playground.py at build time.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${DOCS_PYTHON:-}" ]; then
    bash scripts/setup-env.sh
    DOCS_PYTHON=.venv/bin/python
fi
export NO_MKDOCS_2_WARNING=1  # Material's banner about its successor, on every build
"$DOCS_PYTHON" -m mkdocs build --strict --clean "$@"
