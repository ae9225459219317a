"""Polite failures for optional dependencies."""

from __future__ import annotations

import importlib
from types import ModuleType


def require(module: str, extra: str) -> ModuleType:
    """Import ``module`` or raise ImportError naming the pip command that installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:  # pragma: no cover - exercised only without the extra
        raise ImportError(
            f"this part of lrkit needs {module!r}, which is not installed; "
            f"install it with: pip install 'lrkit[{extra}]'"
        ) from exc
