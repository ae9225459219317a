"""GradualWarmupScheduler against the original warmup_scheduler package where its behaviour is
intended (the warmup ramp, the hand-over timing, no after_scheduler, after_schedulers it drives
correctly), and against a fresh torch after-scheduler started from the peak for the rest (the
original overshoots with chainable ones such as CosineAnnealingLR)."""

from __future__ import annotations

import io
import math
import random
import warnings

import pytest
import torch
import warmup_scheduler
from _torch_testing import assert_rates_close, drive, make_optimizer
from torch.optim import lr_scheduler as tl

import lrkit as lk
from lrkit.torch.compat import GradualWarmupScheduler
from lrkit.torch.scheduler import LRScheduler

AFTERS = {
    "step": lambda o: tl.StepLR(o, step_size=3, gamma=0.5),
    "multistep": lambda o: tl.MultiStepLR(o, milestones=[2, 7], gamma=0.3),
    "exponential": lambda o: tl.ExponentialLR(o, gamma=0.9),
    "cosine": lambda o: tl.CosineAnnealingLR(o, T_max=10, eta_min=1e-6),
    "restarts": lambda o: tl.CosineAnnealingWarmRestarts(o, T_0=4, T_mult=2),
    "lambda": lambda o: tl.LambdaLR(o, lambda t: 1.0 / (1.0 + t)),
    "polynomial": lambda o: tl.PolynomialLR(o, total_iters=8, power=2.0),
    "linear": lambda o: tl.LinearLR(o, start_factor=1.0, end_factor=0.2, total_iters=6),
}


@pytest.fixture(autouse=True)
def _quiet_original():  # type: ignore[no-untyped-def]
    # the original calls get_lr() itself, which torch warns about; not what is tested here
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="To get the last learning rate")
        yield


@pytest.mark.parametrize("seed", range(12))
def test_without_after_scheduler_matches_the_original(seed: int) -> None:
    rng = random.Random(seed)
    lrs = [10 ** rng.uniform(-4, 0) for _ in range(rng.randint(1, 3))]
    multiplier = rng.choice([1.0, rng.uniform(1.0, 20.0), 10])
    total = rng.randint(1, 20)
    opt_o = make_optimizer(lrs)
    original = drive(opt_o, warmup_scheduler.GradualWarmupScheduler(opt_o, multiplier, total),
                     total + 10)
    opt = make_optimizer(lrs)
    ours = drive(opt, GradualWarmupScheduler(opt, multiplier, total), total + 10)
    assert_rates_close(ours, original, rtol=1e-13)


@pytest.mark.parametrize("name", sorted(AFTERS))
@pytest.mark.parametrize("multiplier", [1.0, 4.0])
def test_after_scheduler_starts_from_the_peak(name: str, multiplier: float) -> None:
    lrs, total, extra = [0.01, 0.002], 5, 25
    # the warmup ramp: the original, up to and including the peak at step `total`
    opt_o = make_optimizer(lrs)
    original = drive(opt_o, warmup_scheduler.GradualWarmupScheduler(
        opt_o, multiplier, total, AFTERS[name](opt_o)), total + 1)
    # the rest: a fresh after_scheduler of the same kind built on rates = the peak
    peaks = [lr * multiplier for lr in lrs]
    opt_f = make_optimizer(peaks)
    fresh = drive(opt_f, AFTERS[name](opt_f), extra + 1)
    opt = make_optimizer(lrs)
    ours = drive(opt, GradualWarmupScheduler(opt, multiplier, total, AFTERS[name](opt)),
                 total + extra + 1)
    assert_rates_close(ours[: total + 1], original, rtol=1e-13)
    # the original's timing: the peak at `total`, the after_scheduler's step 0 at `total + 1`
    assert_rates_close(ours[total + 1 :], fresh[:extra], rtol=1e-9)


@pytest.mark.parametrize("name", ["step", "multistep", "restarts", "lambda", "linear"])
@pytest.mark.parametrize("multiplier", [1.0, 4.0])
def test_matches_the_original_where_it_drives_the_after_scheduler_correctly(
    name: str, multiplier: float
) -> None:
    lrs, total, steps = [0.01, 0.002], 5, 30
    opt_o = make_optimizer(lrs)
    original = drive(opt_o, warmup_scheduler.GradualWarmupScheduler(
        opt_o, multiplier, total, AFTERS[name](opt_o)), steps)
    opt = make_optimizer(lrs)
    ours = drive(opt, GradualWarmupScheduler(opt, multiplier, total, AFTERS[name](opt)), steps)
    assert_rates_close(ours, original, rtol=1e-12)


def test_seed_example_has_no_overshoot() -> None:
    # the seed's own example: base 0.01, multiplier 10, 5 warmup epochs, then cosine
    def run(cls):  # type: ignore[no-untyped-def]
        opt = make_optimizer([0.01])
        after = tl.CosineAnnealingLR(opt, T_max=10, eta_min=1e-6)
        return [r[0] for r in drive(opt, cls(opt, multiplier=10, total_epoch=5,
                                             after_scheduler=after), 16)]

    original = run(warmup_scheduler.GradualWarmupScheduler)
    ours = run(GradualWarmupScheduler)
    assert max(original) > 0.1 * (1 + 1e-3)  # the original's overshoot at the hand-over
    assert max(ours) == pytest.approx(0.1, rel=1e-15)
    expected = [0.01 * (1 + 9 * e / 5) for e in range(6)] + [
        1e-6 + (0.1 - 1e-6) * (1 + math.cos(math.pi * k / 10)) / 2 for k in range(10)]
    assert ours == pytest.approx(expected, rel=1e-12)


def test_equals_the_lrkit_expression_in_the_migration_table() -> None:
    opt_c = make_optimizer([0.01])
    compat = drive(opt_c, GradualWarmupScheduler(
        opt_c, 10, 5, tl.CosineAnnealingLR(opt_c, T_max=10, eta_min=1e-6)), 16)
    opt = make_optimizer([0.01])
    peak = 0.1
    expression = peak * lk.join(
        [lk.warmup(lk.constant(), 5, start=0.1), lk.cosine(10, end=1e-6 / peak)], [6])
    ours = drive(opt, LRScheduler(opt, expression, mode="absolute"), 16)
    assert_rates_close(compat, ours, rtol=1e-12)


@pytest.mark.parametrize("seed", range(8))
def test_reduce_lr_on_plateau_after_warmup(seed: int) -> None:
    rng = random.Random(seed)
    total, patience = rng.randint(1, 6), rng.randint(0, 2)
    metrics = [rng.uniform(0, 1) for _ in range(30)]
    opt = make_optimizer([0.02])
    sched = GradualWarmupScheduler(opt, 3.0, total,
                                   tl.ReduceLROnPlateau(opt, patience=patience, factor=0.5))
    seen = []
    for i, m in enumerate(metrics):
        seen.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step(metrics=m) if i % 2 else sched.step(m)  # keyword or positional metric
    # reference: the ramp, then torch's ReduceLROnPlateau from the peak, fed the metrics
    # measured from the peak on (step `total` and later)
    opt_r = make_optimizer([0.06])
    ref_sched = tl.ReduceLROnPlateau(opt_r, patience=patience, factor=0.5)
    expected = []
    for i, m in enumerate(metrics):
        expected.append(0.02 * (1 + 2 * i / total) if i <= total else opt_r.param_groups[0]["lr"])
        if i >= total:
            ref_sched.step(m)
    assert seen == pytest.approx(expected, rel=1e-13)


def test_plateau_after_needs_the_metric() -> None:
    opt = make_optimizer([0.02])
    sched = GradualWarmupScheduler(opt, 2.0, 1, tl.ReduceLROnPlateau(opt))
    sched.step()  # warmup: no metric needed
    with pytest.raises(ValueError, match="metric"):
        sched.step()


def test_state_dict_is_plain_data_and_resumes_exactly() -> None:
    def build():  # type: ignore[no-untyped-def]
        opt = make_optimizer([0.01, 0.03])
        return opt, GradualWarmupScheduler(opt, 10, 5, tl.CosineAnnealingLR(opt, T_max=10))

    opt, sched = build()
    reference = drive(opt, sched, 20)
    for stop in (3, 5, 6, 12):
        opt, sched = build()
        seen = drive(opt, sched, stop)
        buf = io.BytesIO()
        torch.save(sched.state_dict(), buf)
        buf.seek(0)
        state = torch.load(buf, weights_only=True)  # the original's state holds an object
        opt, sched = build()
        sched.load_state_dict(state)
        seen += drive(opt, sched, 20 - stop)
        assert seen == reference, stop
    opt_o = make_optimizer([0.01])
    original = warmup_scheduler.GradualWarmupScheduler(
        opt_o, 10, 5, tl.CosineAnnealingLR(opt_o, T_max=10))
    assert isinstance(original.state_dict()["after_scheduler"], tl.LRScheduler)


def test_epoch_argument_jumps_like_the_original_during_warmup() -> None:
    opt_o, opt = make_optimizer([0.05]), make_optimizer([0.05])
    original = warmup_scheduler.GradualWarmupScheduler(opt_o, 4.0, 8)
    ours = GradualWarmupScheduler(opt, 4.0, 8)
    for epoch in (3, 1, 7, 8, 12):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            original.step(epoch)
        ours.step(epoch)
        assert opt.param_groups[0]["lr"] == pytest.approx(opt_o.param_groups[0]["lr"], rel=1e-14)


def test_no_order_warnings() -> None:
    opt = make_optimizer([0.01])
    sched = GradualWarmupScheduler(opt, 2.0, 2, tl.StepLR(opt, step_size=2))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for _ in range(6):
            sched.step()  # even without optimizer.step(): GradScaler may skip every one


@pytest.mark.parametrize(
    ("args", "name"),
    [((0.5, 5), "multiplier"), ((2.0, 0), "total_epoch"), ((2.0, 2.5), "total_epoch"),
     ((2.0, 5, "cosine"), "after_scheduler")],
)
def test_bad_input(args: tuple[object, ...], name: str) -> None:
    with pytest.raises(ValueError, match=name):
        GradualWarmupScheduler(make_optimizer([0.1]), *args)  # type: ignore[arg-type]


def test_after_scheduler_on_another_optimizer_is_rejected() -> None:
    other = make_optimizer([0.1])
    with pytest.raises(ValueError, match="same optimizer"):
        GradualWarmupScheduler(make_optimizer([0.1]), 2.0, 3, tl.StepLR(other, 2))


@pytest.mark.parametrize("multiplier", [1.0, 4.0])
@pytest.mark.parametrize("row", ["none", "step", "plateau"])
def test_migration_table_rows(row: str, multiplier: float) -> None:
    lr, m, total = 0.02, multiplier, 5
    # improving until step 6, then worse: the first reduction's step tells a boundary of T
    # from one of T + 1 (random metrics often do not)
    metrics = [1.0 - 0.01 * i if i < 6 else 2.0 for i in range(30)] if row == "plateau" else None
    afters = {
        "none": (None, lk.constant()),
        "step": (lambda o: tl.StepLR(o, 3, 0.5), lk.step_decay(3, 0.5)),
        "plateau": (lambda o: tl.ReduceLROnPlateau(o, patience=1, factor=0.5, min_lr=0.01),
                    lk.plateau(patience=1, factor=0.5, min_value=0.01 / (m * lr))),
    }
    make_after, expr = afters[row]
    opt_c = make_optimizer([lr])
    compat = drive(opt_c, GradualWarmupScheduler(
        opt_c, m, total, make_after(opt_c) if make_after else None), 30, metrics)
    ramp = lk.warmup(lk.constant(), total, start=1 / m if m > 1 else 0.0)
    # docs/migration.md: the after_scheduler's step 0 at T + 1; a plateau's first metric is the
    # one measured at the peak, step T
    table = m * lk.join([ramp, expr], [total if row == "plateau" else total + 1])
    opt = make_optimizer([lr])
    assert_rates_close(compat, drive(opt, LRScheduler(opt, table), 30, metrics), rtol=1e-12)


@pytest.mark.parametrize("stop", [2, 4, 5, 9, 17])
def test_plateau_after_scheduler_resumes_exactly(stop: int) -> None:
    rng = random.Random(stop)
    metrics = [rng.random() for _ in range(24)]

    def build():  # type: ignore[no-untyped-def]
        opt = make_optimizer([0.01])
        return opt, GradualWarmupScheduler(
            opt, 5.0, 4, tl.ReduceLROnPlateau(opt, patience=1, factor=0.5, cooldown=1))

    opt, sched = build()
    reference = drive(opt, sched, 24, metrics)
    opt, sched = build()
    seen = drive(opt, sched, stop, metrics[:stop])
    buf = io.BytesIO()
    torch.save({"opt": opt.state_dict(), "sched": sched.state_dict()}, buf)
    buf.seek(0)
    state = torch.load(buf, weights_only=True)
    opt, sched = build()
    opt.load_state_dict(state["opt"])
    sched.load_state_dict(state["sched"])
    seen += drive(opt, sched, 24 - stop, metrics[stop:])
    assert seen == reference
    assert min(r[0] for r in reference) < 0.05  # reductions happened


def test_numpy_numbers_are_accepted() -> None:
    np = pytest.importorskip("numpy")
    opt = make_optimizer([0.1])
    sched = GradualWarmupScheduler(opt, np.float64(2.0), np.int64(4))
    sched.step(np.int64(2))
    assert opt.param_groups[0]["lr"] == pytest.approx(0.1 * 1.5, rel=1e-15)
