"""Polite failures for optional dependencies."""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType


def _missing(module: str, extra: str) -> ImportError:
    return ImportError(
        f"this part of lrkit needs {module!r}, which is not installed; "
        f"install it with: pip install 'lrkit[{extra}]'"
    )


def require(module: str, extra: str) -> ModuleType:
    """Import ``module`` or raise ImportError naming the pip command that installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:  # pragma: no cover - exercised only without the extra
        raise _missing(module, extra) from exc


def require_installed(extra: str, *modules: str) -> None:
    """Raise ``require``'s ImportError for the first of ``modules`` that is not installed,
    without importing any of them (a module imports them when it needs them)."""
    for module in modules:
        if importlib.util.find_spec(module) is None:
            raise _missing(module, extra)
