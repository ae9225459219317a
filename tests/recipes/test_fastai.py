"""fastai's one-cycle and flat-cos (fastai/callback/schedule.py, 0a049e8): fastai needs
torchvision, which does not install here, so its formulas are written out: ``SchedCos``,
``combine_scheds`` and ``pct_train`` as ``TrainEvalCallback`` accumulates it."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from ._harness import compare, rates


def _sched_cos(start: float, end: float) -> Callable[[float], float]:
    return lambda pos: start + (1 + math.cos(math.pi * (1 - pos))) * (end - start) / 2


def _combine_scheds(pcts: list[float], scheds: list[Callable[[float], float]]
                    ) -> Callable[[float], float]:
    edges = np.cumsum([0.0, *pcts])
    last = len(edges) - 2

    def inner(pos: float) -> float:
        idx = min(int(np.nonzero(pos >= edges)[0].max()), last)
        return scheds[idx]((pos - edges[idx]) / (edges[idx + 1] - edges[idx]))

    return inner


def _fit(sched: Callable[[float], float], n_epoch: int, n_iter: int) -> np.ndarray:
    """The rate of each batch: ``ParamScheduler.before_batch`` reads ``pct_train``, which
    ``TrainEvalCallback.after_batch`` advances by ``1 / (n_iter * n_epoch)``."""
    pct, out = 0.0, []
    for _ in range(n_epoch * n_iter):
        out.append(sched(pct))
        pct += 1.0 / (n_iter * n_epoch)
    return np.asarray(out)


def test_fit_one_cycle() -> None:
    lr_max = 1e-3
    sched = _combine_scheds([0.25, 0.75], [_sched_cos(lr_max / 25.0, lr_max),
                                            _sched_cos(lr_max, lr_max / 1e5)])
    want = _fit(sched, 5, 92)
    ts = np.arange(want.size)
    compare(rates("fastai-one-cycle", ts), want, ts, what="fastai-one-cycle")


def test_fit_flat_cos() -> None:
    lr = 8e-3
    sched = _combine_scheds([0.75, 0.25], [_sched_cos(lr, lr), _sched_cos(lr, lr / 1e5)])
    want = _fit(sched, 5, 147)
    ts = np.arange(want.size)
    compare(rates("fastai-flat-cos", ts), want, ts, what="fastai-flat-cos")
