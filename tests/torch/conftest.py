"""tests/torch set-up: this folder on ``sys.path`` for the shared ``_torch_testing`` helpers
(pytest runs with --import-mode=importlib, which does not add test folders)."""

from __future__ import annotations

import sys
from pathlib import Path

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)
