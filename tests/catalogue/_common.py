"""Helpers shared by the catalogue modules: drive a library's scheduler, evaluate lrkit, compare."""

from __future__ import annotations

import os
import random
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

SEEDS = range(int(os.environ.get("LRKIT_CATALOGUE_SEEDS", "6")))
"""Seeded random parameter sets per row (each row draws its own parameters from the seed).
``LRKIT_CATALOGUE_SEEDS=200`` runs a deeper sweep."""


def rng(seed: int, row: str) -> random.Random:
    """A generator private to one (row, seed) pair, so rows do not share draws."""
    return random.Random(f"{row}:{seed}")


def lrkit_curve(schedule: Any, steps: int, scale: float = 1.0) -> np.ndarray:
    """``scale * schedule(t)`` for t = 0 .. steps-1, evaluated on a float64 numpy array, and
    checked against the Python-float path on every step (the two must agree to 1e-12)."""
    t = np.arange(steps, dtype=np.float64)
    vec = np.asarray(schedule(t), dtype=np.float64)
    scalar = np.array([schedule(k) for k in range(steps)], dtype=np.float64)
    np.testing.assert_allclose(vec, scalar, rtol=1e-12, atol=1e-300)
    return scale * vec


def assert_curves(
    lrkit: Sequence[float] | np.ndarray,
    reference: Sequence[float] | np.ndarray,
    *,
    rtol: float = 1e-9,
    atol: float = 1e-15,
    what: str = "",
) -> None:
    """Every step equal within tolerance; the message names the first differing step."""
    a = np.asarray(lrkit, dtype=np.float64)
    b = np.asarray(reference, dtype=np.float64)
    assert a.shape == b.shape, f"{what}: {a.shape} != {b.shape}"
    bad = ~np.isclose(a, b, rtol=rtol, atol=atol)
    if bad.any():
        k = int(np.argmax(bad))
        raise AssertionError(
            f"{what}: {int(bad.sum())} of {a.size} steps differ; first at step {k}: "
            f"lrkit {a[k]!r} vs library {b[k]!r} (rtol={rtol}, atol={atol})"
        )


def torch_curve(
    make: Callable[[Any], Any],
    steps: int,
    *,
    lr: float = 0.1,
    metrics: Iterable[float] | None = None,
    momentum: float = 0.0,
) -> np.ndarray:
    """The lr a torch scheduler gives the optimizer at steps 0 .. steps-1.

    Loop: read the lr, ``optimizer.step()``, then ``scheduler.step()`` (or
    ``scheduler.step(metric)`` for metric-driven schedulers): the lr at step k is the one after
    k scheduler steps, lrkit's ``s(k)``.
    """
    import torch

    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=lr, momentum=momentum)
    sched = make(opt)
    it = iter(metrics) if metrics is not None else None
    out = []
    for _ in range(steps):
        out.append(float(opt.param_groups[0]["lr"]))
        opt.step()
        if it is None:
            sched.step()
        else:
            sched.step(next(it))
    return np.asarray(out)


def random_metrics(r: random.Random, n: int, mode: str = "min") -> list[float]:
    """A noisy metric with long plateaus, so that plateau reductions actually happen."""
    out: list[float] = []
    level = 10.0
    for _ in range(n):
        if r.random() < 0.15:
            level *= 0.5 if mode == "min" else 1.5
        out.append(level * (1.0 + 0.02 * r.random()) if r.random() < 0.7 else level * 1.3)
    return out
