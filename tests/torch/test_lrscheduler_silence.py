"""LRScheduler with a plateau stepped without metrics warns once (NoMetricWarning), with the
fix for a plain loop, HF Trainer and Lightning; never when metrics arrive every epoch."""

from __future__ import annotations

import warnings

import pytest
from _torch_testing import make_optimizer

import lrkit as lk
from lrkit._silence import QUIET_STEPS
from lrkit.torch import LRScheduler


def _drive(sched: LRScheduler, steps: int, every: int | None) -> list[str]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for k in range(steps):
            sched.optimizer.step()
            sched.step(1.0 if every and k % every == every - 1 else None)
    return [str(w.message) for w in caught if issubclass(w.category, lk.NoMetricWarning)]


def test_thousands_of_steps_without_a_metric_warn_once() -> None:
    sched = LRScheduler(make_optimizer([0.1, 0.01]), lk.warmup(lk.plateau(factor=0.5), 500))
    messages = _drive(sched, 5 * QUIET_STEPS, None)
    assert len(messages) == 1
    assert "ReportMetric(monitor='eval_loss')" in messages[0]
    assert "ReportMetric(monitor='val_loss')" in messages[0]
    assert "sched.step(val_loss)" in messages[0]


@pytest.mark.parametrize("every", [1, 50, 999])
def test_metrics_every_epoch_never_warn(every: int) -> None:
    sched = LRScheduler(make_optimizer([0.1]), lk.warmup(lk.plateau(), 10))
    assert _drive(sched, 5 * QUIET_STEPS, every) == []


def test_per_epoch_schedules_know_their_epoch() -> None:
    sched = LRScheduler(make_optimizer([0.1]), lk.plateau(), steps_per_epoch=3000)
    assert _drive(sched, 5500, None) == []  # within two epochs of 3000 steps
    assert len(_drive(sched, 1000, None)) == 1


def test_without_plateau_nothing_is_watched() -> None:
    assert _drive(LRScheduler(make_optimizer([0.1]), lk.cosine(100)), 3 * QUIET_STEPS, None) == []
