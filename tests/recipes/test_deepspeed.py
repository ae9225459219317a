"""DeepSpeed's schedulers (deepspeed/runtime/lr_schedules.py, edaa722 / release 0.19.8).

The oracles are its formulas written out, as functions of ``last_batch_iteration``. The real
classes are driven too: the installed ``deepspeed.runtime.lr_schedules`` (scripts/setup-env.sh
installs deepspeed 0.19.8 from its sdist, ``DS_BUILD_OPS=0``; importing that module starts no
process group), or, where DeepSpeed is not installed, the file named by
``LRKIT_DEEPSPEED_LR_SCHEDULES`` (e.g. from ``pip download --no-deps deepspeed``), loaded by path
with a stub ``deepspeed.utils`` (it needs only torch and a logger).
"""

from __future__ import annotations

import importlib.util
import logging
import math
import os
import sys
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ._harness import check, compare, rates, recipe


def _warmup_gamma(t: int, warmup_num_steps: int, warmup_type: str) -> float:
    """``WarmupLR._get_gamma`` during the warmup (``warmup_num_steps = max(2, ...)``)."""
    w = max(2, warmup_num_steps)
    if warmup_type == "log":
        return (1.0 / math.log(w)) * math.log(t + 1)
    return t / w


def _warmup_lr(min_lr: float, max_lr: float, w: int, warmup_type: str) -> Callable[[int], float]:
    """``WarmupLR.get_lr``: ``min_lr + delta_lr * gamma``, gamma 1 after the warmup."""
    def get_lr(t: int) -> float:
        gamma = _warmup_gamma(t, w, warmup_type) if t < max(2, w) else 1.0
        return min_lr + (max_lr - min_lr) * gamma
    return get_lr


def _warmup_decay_lr(min_lr: float, max_lr: float, w: int, total: int) -> Callable[[int], float]:
    """``WarmupDecayLR._get_gamma`` (log warmup)."""
    w = max(2, w)

    def get_lr(t: int) -> float:
        if t < w:
            gamma = _warmup_gamma(t, w, "log")
        else:
            gamma = max(0.0, float(total - t) / float(max(1.0, total - w)))
        return min_lr + (max_lr - min_lr) * gamma
    return get_lr


def _warmup_cosine_lr(org_lr: float, w0: float, cos_min: float, w: int,
                      total: int) -> Callable[[int], float]:
    """``WarmupCosineLR.get_lr_ratio`` (log warmup), times the optimizer's lr."""
    w = max(2, w)

    def get_lr(t: int) -> float:
        if t < w:
            ratio = w0 + (1.0 / math.log(w)) * math.log(t + 1) * (1.0 - w0)
        else:
            progress = min(1.0, (t - w + 1) / max(1, total - w))
            ratio = max(0.0, cos_min + (1.0 - cos_min) * (1 + math.cos(math.pi * progress)) / 2)
        return org_lr * ratio
    return get_lr


def _one_cycle(min_lr: float, max_lr: float, first: float, second: float, stairs: int,
               decay_rate: float, decay_step: float) -> Callable[[int], float]:
    """``OneCycle._get_scale_factor`` / ``_get_cycle_lr`` / ``_get_decay_lr``."""
    total = first + second
    ratio = first / total

    def scale(last: int) -> float:
        b = last + 1
        cycle = math.floor(1 + b / total)
        x = 1.0 + b / total - cycle
        s = x / ratio if x <= ratio else (x - 1) / (ratio - 1)
        if stairs > 0:
            ci = b % total
            pos = ci * stairs / first if ci <= first else (total - ci) * stairs / second
            s = math.floor(pos) / stairs
        return s

    def get_lr(last: int) -> float:
        if last < total:
            return min_lr + (max_lr - min_lr) * scale(last)
        return min_lr / (1 + decay_rate * ((last - total + 1) / decay_step))
    return get_lr


ORACLES: dict[str, tuple[Callable[[int], float], int]] = {
    "deepspeed-warmuplr": (_warmup_lr(0.0, 0.001, 1000, "log"), 3000),
    "deepspeed-warmuplr-linear": (_warmup_lr(0.0, 0.001, 1000, "linear"), 3000),
    "deepspeed-warmupdecaylr": (_warmup_decay_lr(0.0, 2e-5, 37, 1218), 1400),
    "deepspeed-warmupcosinelr": (_warmup_cosine_lr(2e-5, 0.0, 1e-4, 37, 1218), 1400),
    "deepspeed-onecycle": (_one_cycle(1e-4, 1e-3, 1000, 1000, 500, 1e-3, 1000), 30_000),
}


@pytest.mark.parametrize("rid", sorted(ORACLES))
def test_formula(rid: str) -> None:
    oracle, steps = ORACLES[rid]
    check(rid, oracle, steps)


def test_onecycle_holds_each_stair_for_two_steps() -> None:
    got = rates("deepspeed-onecycle", np.arange(2000))
    assert got[1] == got[2] != got[3] == got[4]
    assert got[1999] == pytest.approx(1e-4) and got[999] == pytest.approx(1e-3)


# --- the real module, where it can be had -------------------------------------------------

def _lr_schedules_path() -> Path | None:
    env = os.environ.get("LRKIT_DEEPSPEED_LR_SCHEDULES")
    return Path(env) if env else None


def _installed_lr_schedules() -> Any:
    """The installed ``deepspeed.runtime.lr_schedules``; the environment is left as it was
    (DeepSpeed picks its CPU accelerator here and sets PYTORCH_NVML_BASED_CUDA_CHECK)."""
    saved = dict(os.environ)
    os.environ.setdefault("DS_ACCELERATOR", "cpu")
    try:
        return importlib.import_module("deepspeed.runtime.lr_schedules")
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _lr_schedules_by_path(path: Path) -> Any:
    saved = {k: sys.modules.get(k) for k in ("deepspeed", "deepspeed.utils")}
    if "deepspeed" not in sys.modules:
        pkg = types.ModuleType("deepspeed")
        pkg.__path__ = []
        utils = types.ModuleType("deepspeed.utils")
        utils.logger = logging.getLogger("deepspeed-stub")  # type: ignore[attr-defined]
        sys.modules["deepspeed"], sys.modules["deepspeed.utils"] = pkg, utils
    try:
        spec = importlib.util.spec_from_file_location("_deepspeed_lr_schedules", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        for k, v in saved.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v
    return module


@pytest.fixture(scope="module")
def lr_schedules() -> Any:
    pytest.importorskip("torch")
    if importlib.util.find_spec("deepspeed") is not None:
        return _installed_lr_schedules()
    path = _lr_schedules_path()
    if path is None:
        pytest.skip("DeepSpeed is not installed (scripts/setup-env.sh installs it) and "
                    "LRKIT_DEEPSPEED_LR_SCHEDULES is not set (see the module docstring)")
    return _lr_schedules_by_path(path)


def test_the_installed_deepspeed_is_the_one_pinned(lr_schedules: Any) -> None:
    """The classes driven below are DeepSpeed's own, from the release the oracles were read in."""
    if lr_schedules.__name__ != "deepspeed.runtime.lr_schedules":
        pytest.skip("DeepSpeed's lr_schedules.py loaded by path (not installed)")
    from importlib.metadata import version

    assert version("deepspeed") == "0.19.8"
    for name in ("WarmupLR", "WarmupDecayLR", "WarmupCosineLR", "OneCycle"):
        assert getattr(lr_schedules, name).__module__ == "deepspeed.runtime.lr_schedules"


def _drive(make: Callable[[Any], Any], steps: int, lr: float) -> np.ndarray:
    """``get_lr()`` at ``last_batch_iteration`` = 0 .. steps-1 (``step()`` before reading)."""
    import torch

    opt = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=lr)
    sched = make(opt)
    out = []
    for _ in range(steps):
        sched.step()
        out.append(opt.param_groups[0]["lr"])
    return np.asarray(out)


def test_real_deepspeed_schedulers(lr_schedules: Any) -> None:
    m = lr_schedules
    makers = {
        "deepspeed-warmuplr": lambda o: m.WarmupLR(o, 0.0, 0.001, 1000),
        "deepspeed-warmuplr-linear": lambda o: m.WarmupLR(o, 0.0, 0.001, 1000, "linear"),
        "deepspeed-warmupdecaylr": lambda o: m.WarmupDecayLR(o, 1218, 0.0, 2e-5, 37),
        "deepspeed-warmupcosinelr": lambda o: m.WarmupCosineLR(o, 1218, 0.0, 37, 1e-4),
        "deepspeed-onecycle": lambda o: m.OneCycle(
            o, 1e-4, 1e-3, decay_lr_rate=1e-3, cycle_first_step_size=1000,
            cycle_second_step_size=1000, cycle_first_stair_count=500,
            cycle_second_stair_count=500, decay_step_size=1000),
    }
    for rid, make in makers.items():
        lr, _ = recipe(rid)
        steps = ORACLES[rid][1]
        want = _drive(make, steps, lr)
        ts = np.arange(steps)
        compare(rates(rid, ts), want, ts, what=f"{rid} vs deepspeed")
