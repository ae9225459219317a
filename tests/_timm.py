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


TRAIN_ONE_EPOCH = Path(__file__).with_name("data") / "timm" / "train_one_epoch.py.txt"
"""``train_one_epoch`` of timm's train.py, verbatim (pytorch-image-models aa4b585, Apache-2.0).
train.py is a script of timm's repository, not part of the timm wheel, and cannot be imported
here: it imports torchvision and timm.data (torchvision) at module level."""


def timm_train_one_epoch() -> Any:
    """train.py's ``train_one_epoch``, compiled from its own source, with the globals it reads
    from train.py's module: timm's own ``AverageMeter`` and ``dispatch_clip_grad``
    (torchvision-free modules of ``timm.utils``), and stand-ins for ``utils.is_primary`` /
    ``utils.reduce_tensor`` (timm.utils.distributed imports torchvision; a one-process run is
    primary and never reduces) and for ``torchvision`` (used only with ``--save-images``)."""
    import logging
    import os
    import time
    from collections import OrderedDict
    from contextlib import suppress

    import torch

    root = _timm_root()
    _bare_package("timm", root)
    _bare_package("timm.utils", root / "utils")
    metrics = importlib.import_module("timm.utils.metrics")
    clip_grad = importlib.import_module("timm.utils.clip_grad")

    def reduce_tensor(tensor: Any, n: int) -> Any:
        raise AssertionError("a one-process run never reduces")

    utils = types.SimpleNamespace(
        AverageMeter=metrics.AverageMeter,
        dispatch_clip_grad=clip_grad.dispatch_clip_grad,
        is_primary=lambda args, local=False: getattr(args, "rank", 0) == 0,
        reduce_tensor=reduce_tensor,
    )
    namespace: dict[str, Any] = {
        "torch": torch, "time": time, "os": os, "OrderedDict": OrderedDict, "suppress": suppress,
        "utils": utils, "torchvision": None, "_logger": logging.getLogger("train"),
    }
    source = TRAIN_ONE_EPOCH.read_text(encoding="utf-8")
    exec(compile(source, str(TRAIN_ONE_EPOCH), "exec"), namespace)
    return namespace["train_one_epoch"]
