"""Plateau schedules driven by LRScheduler against torch's ReduceLROnPlateau (the oracle) on
random metric sequences, alone and composed (warmup then plateau, cosine times plateau)."""

from __future__ import annotations

import math
import random

import pytest
import torch
from _torch_testing import assert_rates_close, drive, make_optimizer
from torch.optim.lr_scheduler import ReduceLROnPlateau

import lrkit as lk
from lrkit.torch.scheduler import LRScheduler


def _metrics(rng: random.Random, n: int) -> list[float]:
    """A noisy, mostly flat loss curve with occasional improvements, ties and NaN-free."""
    value, out = rng.uniform(0.5, 5.0), []
    for _ in range(n):
        r = rng.random()
        if r < 0.3:
            value *= rng.uniform(0.8, 0.9999)
        elif r < 0.4:
            pass  # exact tie
        else:
            value *= rng.uniform(0.99995, 1.2)
        out.append(value if rng.random() < 0.8 else -value if rng.random() < 0.1 else value)
    return out


def _settings(rng: random.Random) -> dict[str, object]:
    return {
        "factor": rng.uniform(0.05, 0.9),
        "patience": rng.randint(0, 4),
        "mode": rng.choice(["min", "max"]),
        "threshold": rng.choice([0.0, 1e-4, rng.uniform(0.0, 0.1)]),
        "threshold_mode": rng.choice(["rel", "abs"]),
        "cooldown": rng.randint(0, 3),
    }


@pytest.mark.parametrize("seed", range(40))
def test_relative_plateau_matches_reduce_lr_on_plateau(seed: int) -> None:
    rng = random.Random(seed)
    kw = _settings(rng)
    # small rates on purpose: torch's eps=1e-8 (absolute) stops reductions at different
    # points in different groups, which lrkit must reproduce per group
    lrs = [10 ** rng.uniform(-6, -1) for _ in range(rng.randint(1, 3))]
    min_ratio = rng.choice([0.0, rng.uniform(0.0, 0.2)])
    metrics = _metrics(rng, 80)
    opt_t = make_optimizer(lrs)
    torch_sched = ReduceLROnPlateau(opt_t, min_lr=[min_ratio * lr for lr in lrs], **kw)
    theirs = drive(opt_t, torch_sched, 80, metrics)
    opt_l = make_optimizer(lrs)
    ours = drive(opt_l, LRScheduler(opt_l, lk.plateau(min_value=min_ratio, **kw)), 80, metrics)
    assert_rates_close(ours, theirs, rtol=1e-12)


@pytest.mark.parametrize("seed", range(15))
def test_absolute_plateau_matches_reduce_lr_on_plateau(seed: int) -> None:
    rng = random.Random(seed)
    kw = _settings(rng)
    lr = 10 ** rng.uniform(-6, 0)
    min_lr = rng.choice([0.0, lr * rng.uniform(0.0, 0.3)])
    n_groups = rng.randint(1, 3)
    metrics = _metrics(rng, 60)
    opt_t = make_optimizer([lr] * n_groups)
    theirs = drive(opt_t, ReduceLROnPlateau(opt_t, min_lr=min_lr, **kw), 60, metrics)
    opt_l = make_optimizer([0.5] * n_groups)  # absolute: the groups' own rates are ignored
    sched = LRScheduler(opt_l, lk.plateau(start=lr, min_value=min_lr, **kw), mode="absolute")
    ours = drive(opt_l, sched, 60, metrics)
    assert_rates_close(ours, theirs, rtol=1e-12)


@pytest.mark.parametrize("seed", range(15))
def test_warmup_then_plateau(seed: int) -> None:
    # torch cannot chain a warmup with ReduceLROnPlateau; the reference is written out: a
    # linear ramp for `warm` steps, then a ReduceLROnPlateau fed only the metrics measured
    # once the ramp is over (the metric reported at step c was measured at rate lr(c)).
    rng = random.Random(seed)
    kw = _settings(rng)
    lr, warm, n = 10 ** rng.uniform(-4, -1), rng.randint(1, 15), 60
    metrics = _metrics(rng, n)
    opt_ref = make_optimizer([lr])
    ref_sched = ReduceLROnPlateau(opt_ref, **kw)
    expected = []
    for c in range(n):
        expected.append([lr * c / warm if c < warm else float(opt_ref.param_groups[0]["lr"])])
        if c >= warm:
            ref_sched.step(metrics[c])
    opt = make_optimizer([lr])
    ours = drive(opt, LRScheduler(opt, lk.warmup(lk.plateau(**kw), warm)), n, metrics)
    assert_rates_close(ours, expected, rtol=1e-12)


@pytest.mark.parametrize("seed", range(15))
def test_cosine_times_plateau(seed: int) -> None:
    rng = random.Random(seed)
    kw = _settings(rng)
    lr, steps, n = 10 ** rng.uniform(-4, -1), rng.randint(10, 80), 70
    metrics = _metrics(rng, n)
    opt_ref = make_optimizer([lr])
    ref_sched = ReduceLROnPlateau(opt_ref, **kw)
    expected = []
    for c in range(n):
        cos = 0.5 * (1 + math.cos(math.pi * min(c, steps) / steps))
        expected.append([cos * float(opt_ref.param_groups[0]["lr"])])
        ref_sched.step(metrics[c])
    opt = make_optimizer([lr])
    ours = drive(opt, LRScheduler(opt, lk.cosine(steps) * lk.plateau(**kw)), n, metrics)
    assert_rates_close(ours, expected, rtol=1e-12, atol=1e-18)


def test_report_without_step_reduces_now() -> None:
    opt = make_optimizer([0.1])
    sched = LRScheduler(opt, lk.plateau(patience=0, factor=0.5))
    sched.report(1.0)
    sched.report(2.0)  # worse, patience 0: reduce at once
    assert opt.param_groups[0]["lr"] == pytest.approx(0.05, rel=1e-15)
    assert sched.count == 0


def test_tensor_metric_is_accepted() -> None:
    opt = make_optimizer([0.1])
    sched = LRScheduler(opt, lk.plateau(patience=0, factor=0.5))
    opt.step()
    sched.step(torch.tensor(1.0))
    opt.step()
    sched.step(torch.tensor(3.0))
    assert sched.get_last_lr() == [pytest.approx(0.05, rel=1e-15)]
