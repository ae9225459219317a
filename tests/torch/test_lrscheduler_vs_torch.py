"""lrkit's LRScheduler against torch's own schedulers (the oracles), with random settings, on
the same optimizer setup, step by step. torch's rates are chainable (each from the previous
one), so they drift by a few ulps; the tolerance is far below any real difference."""

from __future__ import annotations

import random

import pytest
from _torch_testing import assert_rates_close, drive, make_optimizer
from torch.optim import lr_scheduler as tl

import lrkit as lk
from lrkit.torch.scheduler import LRScheduler

SEEDS = range(12)


def _lrs(rng: random.Random) -> list[float]:
    return [10 ** rng.uniform(-4, 0) for _ in range(rng.randint(1, 3))]


def _compare(rng: random.Random, make_torch, schedule: lk.Schedule, steps: int,
             lrs: list[float] | None = None, mode: str = "relative", rtol: float = 1e-9) -> None:
    lrs = lrs if lrs is not None else _lrs(rng)
    opt_t = make_optimizer(lrs)
    theirs = drive(opt_t, make_torch(opt_t), steps)
    opt_l = make_optimizer(lrs)
    ours = drive(opt_l, LRScheduler(opt_l, schedule, mode=mode), steps)
    assert_rates_close(ours, theirs, rtol=rtol, atol=1e-15)


@pytest.mark.parametrize("seed", SEEDS)
def test_step_lr(seed: int) -> None:
    rng = random.Random(seed)
    size, gamma = rng.randint(1, 15), rng.uniform(0.05, 0.99)
    _compare(rng, lambda o: tl.StepLR(o, step_size=size, gamma=gamma),
             lk.step_decay(size, gamma=gamma), 120)


@pytest.mark.parametrize("seed", SEEDS)
def test_multistep_lr(seed: int) -> None:
    rng = random.Random(seed)
    milestones = sorted(rng.sample(range(1, 100), rng.randint(1, 5)))
    gamma = rng.uniform(0.05, 0.99)
    _compare(rng, lambda o: tl.MultiStepLR(o, milestones=milestones, gamma=gamma),
             lk.multistep(milestones, gamma=gamma), 120)


@pytest.mark.parametrize("seed", SEEDS)
def test_exponential_lr(seed: int) -> None:
    rng = random.Random(seed)
    gamma = rng.uniform(0.9, 0.999)
    _compare(rng, lambda o: tl.ExponentialLR(o, gamma=gamma), lk.exponential(gamma), 200)


@pytest.mark.parametrize("seed", SEEDS)
def test_linear_lr(seed: int) -> None:
    rng = random.Random(seed)
    start, end, total = rng.uniform(0.01, 1.0), rng.uniform(0.01, 1.0), rng.randint(1, 60)
    _compare(rng, lambda o: tl.LinearLR(o, start_factor=start, end_factor=end, total_iters=total),
             lk.linear(start, end, total), 90)


@pytest.mark.parametrize("seed", SEEDS)
def test_constant_lr(seed: int) -> None:
    rng = random.Random(seed)
    factor, total = rng.uniform(0.01, 1.0), rng.randint(1, 40)
    schedule = lk.join([lk.constant(factor), lk.constant(1.0)], [total])
    _compare(rng, lambda o: tl.ConstantLR(o, factor=factor, total_iters=total), schedule, 60)


@pytest.mark.parametrize("seed", SEEDS)
def test_polynomial_lr(seed: int) -> None:
    rng = random.Random(seed)
    total, power = rng.randint(1, 80), rng.uniform(0.3, 3.0)
    # torch's chainable ratio loses a little precision as (1 - t/T) nears 0
    _compare(rng, lambda o: tl.PolynomialLR(o, total_iters=total, power=power),
             lk.polynomial(total, power=power), 100, rtol=1e-7)


@pytest.mark.parametrize("seed", SEEDS)
def test_cosine_annealing_within_t_max(seed: int) -> None:
    rng = random.Random(seed)
    lr, t_max = 10 ** rng.uniform(-4, 0), rng.randint(1, 150)
    eta_min = rng.choice([0.0, lr * rng.uniform(0.0, 0.5)])
    _compare(rng, lambda o: tl.CosineAnnealingLR(o, T_max=t_max, eta_min=eta_min),
             lk.cosine(t_max, end=eta_min / lr), t_max + 1, lrs=[lr], rtol=1e-7)


def test_cosine_annealing_does_not_rise_after_t_max() -> None:
    # documented difference: torch's CosineAnnealingLR rises again past T_max, lrkit holds
    opt = make_optimizer([0.1])
    sched = LRScheduler(opt, lk.cosine(10, end=0.01))
    lrs = drive(opt, sched, 30)
    assert all(row[0] == pytest.approx(0.001, rel=1e-12) for row in lrs[10:])


@pytest.mark.parametrize("seed", SEEDS)
def test_cosine_warm_restarts(seed: int) -> None:
    rng = random.Random(seed)
    lr, t0, mult = 10 ** rng.uniform(-4, 0), rng.randint(1, 20), rng.randint(1, 3)
    eta_min = rng.choice([0.0, lr * rng.uniform(0.0, 0.5)])
    _compare(rng, lambda o: tl.CosineAnnealingWarmRestarts(o, T_0=t0, T_mult=mult, eta_min=eta_min),
             lk.cosine_restarts(t0, end=eta_min / lr, period_mult=mult), 150, lrs=[lr])


@pytest.mark.parametrize("seed", SEEDS)
def test_one_cycle(seed: int) -> None:
    rng = random.Random(seed)
    total = rng.randint(20, 200)
    kw = {
        "pct_start": rng.uniform(0.1, 0.45),
        "div_factor": rng.uniform(2.0, 50.0),
        "final_div_factor": rng.uniform(1.0, 1e4),
        "three_phase": rng.random() < 0.5,
    }
    anneal = rng.choice(["cos", "linear"])
    max_lr = 10 ** rng.uniform(-4, 0)
    _compare(
        rng,
        lambda o: tl.OneCycleLR(o, max_lr=max_lr, total_steps=total, anneal_strategy=anneal,
                                cycle_momentum=False, **kw),
        lk.one_cycle(total, peak=max_lr, anneal=anneal, **kw),
        total,  # torch raises past total_steps
        lrs=[0.123] * rng.randint(1, 3),
        mode="absolute",
    )


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("mode", ["triangular", "triangular2", "exp_range"])
def test_cyclic(seed: int, mode: str) -> None:
    rng = random.Random(seed)
    low = 10 ** rng.uniform(-5, -2)
    high = low * rng.uniform(1.5, 100.0)
    half = rng.randint(1, 25)
    down = None if seed % 2 else rng.randint(1, 25)  # asymmetric cycles on odd seeds
    gamma = rng.uniform(0.95, 1.0) if mode == "exp_range" else 1.0
    _compare(
        rng,
        lambda o: tl.CyclicLR(o, base_lr=low, max_lr=high, step_size_up=half,
                              step_size_down=down, mode=mode, gamma=gamma,
                              cycle_momentum=False),
        lk.cyclic(low, high, half, mode=mode, gamma=gamma, down_period=down),
        200,
        lrs=[0.5] * rng.randint(1, 2),
        mode="absolute",
    )


@pytest.mark.parametrize("seed", SEEDS)
def test_sequential_linear_then_cosine(seed: int) -> None:
    rng = random.Random(seed)
    lr = 10 ** rng.uniform(-4, 0)
    warm, t_max, start = rng.randint(1, 30), rng.randint(1, 100), rng.uniform(0.001, 0.9)
    eta_min = rng.choice([0.0, lr * 0.01])

    def make(o):
        return tl.SequentialLR(o, [tl.LinearLR(o, start_factor=start, total_iters=warm),
                                   tl.CosineAnnealingLR(o, T_max=t_max, eta_min=eta_min)],
                               milestones=[warm])

    schedule = lk.warmup(lk.cosine(t_max, end=eta_min / lr), warm, start=start)
    _compare(rng, make, schedule, warm + t_max + 1, lrs=[lr], rtol=1e-7)


@pytest.mark.parametrize("seed", SEEDS)
def test_sequential_constant_then_exponential(seed: int) -> None:
    rng = random.Random(seed)
    hold, factor, gamma = rng.randint(1, 30), rng.uniform(0.1, 1.0), rng.uniform(0.9, 0.999)

    def make(o):
        return tl.SequentialLR(o, [tl.ConstantLR(o, factor=factor, total_iters=hold),
                                   tl.ExponentialLR(o, gamma=gamma)], milestones=[hold])

    schedule = lk.join([lk.constant(factor), lk.exponential(gamma)], [hold])
    _compare(rng, make, schedule, 120)


@pytest.mark.parametrize("seed", SEEDS)
def test_chained_step_times_exponential(seed: int) -> None:
    rng = random.Random(seed)
    size, g1, g2 = rng.randint(1, 20), rng.uniform(0.1, 0.9), rng.uniform(0.95, 0.999)

    def make(o):
        return tl.ChainedScheduler([tl.StepLR(o, step_size=size, gamma=g1),
                                    tl.ExponentialLR(o, gamma=g2)])

    _compare(rng, make, lk.step_decay(size, gamma=g1) * lk.exponential(g2), 100)


@pytest.mark.parametrize("seed", SEEDS)
def test_lambda_lr_warmup_inverse_sqrt(seed: int) -> None:
    rng = random.Random(seed)
    warm, scale = rng.randint(1, 30), rng.uniform(1.0, 100.0)

    def factor(t: int) -> float:  # the usual transformer recipe, written out
        return t / warm if t < warm else (1.0 + (t - warm) / scale) ** -0.5

    _compare(rng, lambda o: tl.LambdaLR(o, factor), lk.warmup(lk.inverse_sqrt(scale), warm), 150)


@pytest.mark.parametrize("seed", SEEDS)
def test_lambda_lr_with_steps_per_epoch(seed: int) -> None:
    # a schedule written in epochs, stepped every iteration: t = count / steps_per_epoch
    rng = random.Random(seed)
    spe, epochs = rng.randint(1, 12), rng.randint(2, 10)
    lr = 10 ** rng.uniform(-3, 0)
    opt_t = make_optimizer([lr])
    import math

    theirs = drive(opt_t, tl.LambdaLR(opt_t, lambda n: 0.5 * (1 + math.cos(math.pi * min(
        n / spe, epochs) / epochs))), spe * epochs + 5)
    opt_l = make_optimizer([lr])
    ours = drive(opt_l, LRScheduler(opt_l, lk.cosine(epochs), steps_per_epoch=spe),
                 spe * epochs + 5)
    assert_rates_close(ours, theirs, rtol=1e-12)
