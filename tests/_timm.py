"""Loads timm's torch-only modules without running timm/__init__.py (which imports torchvision,
for which there is no CPU build here). Bare parent packages are registered in sys.modules with
timm's real path, so ``timm.scheduler`` and ``timm.optim.lars`` import normally."""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import sys
import types
from pathlib import Path
from typing import Any


def _bare_package(name: str, path: Path) -> None:
    if name in sys.modules:
        return
    module = types.ModuleType(name)
    module.__path__ = [str(path)]
    module.__package__ = name
    module.__spec__ = importlib.machinery.ModuleSpec(name, None, is_package=True)
    module.__spec__.submodule_search_locations = [str(path)]
    sys.modules[name] = module


def _timm_root() -> Path:
    if "timm" in sys.modules:
        return Path(sys.modules["timm"].__path__[0])
    spec = importlib.util.find_spec("timm")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("timm is not installed (scripts/setup-env.sh installs it with --no-deps)")
    return Path(next(iter(spec.submodule_search_locations)))


def timm_scheduler() -> Any:
    """The ``timm.scheduler`` package (CosineLRScheduler, StepLRScheduler, ...)."""
    root = _timm_root()
    _bare_package("timm", root)
    return importlib.import_module("timm.scheduler")


def timm_lars() -> Any:
    """The ``timm.optim.lars`` module (class ``Lars``)."""
    root = _timm_root()
    _bare_package("timm", root)
    _bare_package("timm.optim", root / "optim")
    return importlib.import_module("timm.optim.lars")
