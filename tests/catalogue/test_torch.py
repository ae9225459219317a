"""Catalogue rows for ``torch.optim.lr_scheduler`` (docs/equivalence.md, section PyTorch).

Convention: the lr of optimizer step k is the lr after k ``scheduler.step()`` calls, which is
lrkit's ``s(k)``; relative schedules are multiplied by the optimizer's initial lr.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch.optim import lr_scheduler as tls  # noqa: E402

import lrkit as lk  # noqa: E402

from ._common import SEEDS, assert_curves, lrkit_curve, random_metrics, rng, torch_curve  # noqa: E402

BASE = 0.1


@pytest.mark.parametrize("seed", SEEDS)
def test_step_lr(seed: int) -> None:
    r = rng(seed, "StepLR")
    step_size, gamma = r.randint(1, 40), r.uniform(0.05, 0.99)
    ref = torch_curve(lambda o: tls.StepLR(o, step_size, gamma), 300, lr=BASE)
    got = lrkit_curve(lk.step_decay(step_size, gamma), 300, BASE)
    assert_curves(got, ref, what=f"StepLR({step_size}, {gamma})")


@pytest.mark.parametrize("seed", SEEDS)
def test_multistep_lr(seed: int) -> None:
    r = rng(seed, "MultiStepLR")
    milestones = sorted(r.randint(1, 250) for _ in range(r.randint(1, 5)))
    if seed % 2:
        milestones.append(milestones[-1])  # a repeated milestone decays twice in torch
    gamma = r.uniform(0.05, 0.99)
    ref = torch_curve(lambda o: tls.MultiStepLR(o, milestones, gamma), 300, lr=BASE)
    got = lrkit_curve(lk.multistep(milestones, gamma), 300, BASE)
    assert_curves(got, ref, what=f"MultiStepLR({milestones}, {gamma})")


@pytest.mark.parametrize("seed", SEEDS)
def test_constant_lr(seed: int) -> None:
    r = rng(seed, "ConstantLR")
    factor, total = r.uniform(0.0, 1.0), r.randint(1, 100)
    ref = torch_curve(lambda o: tls.ConstantLR(o, factor, total), 200, lr=BASE)
    got = lrkit_curve(lk.join([lk.constant(factor), lk.constant(1.0)], [total]), 200, BASE)
    assert_curves(got, ref, what=f"ConstantLR({factor}, {total})")


@pytest.mark.parametrize("seed", SEEDS)
def test_linear_lr(seed: int) -> None:
    r = rng(seed, "LinearLR")
    start, end, total = r.uniform(0.01, 1.0), r.uniform(0.0, 1.0), r.randint(1, 150)
    ref = torch_curve(lambda o: tls.LinearLR(o, start, end, total), 250, lr=BASE)
    got = lrkit_curve(lk.linear(start, end, total), 250, BASE)
    assert_curves(got, ref, rtol=1e-9, what=f"LinearLR({start}, {end}, {total})")


@pytest.mark.parametrize("seed", SEEDS)
def test_exponential_lr(seed: int) -> None:
    r = rng(seed, "ExponentialLR")
    gamma = r.uniform(0.9, 0.999)
    ref = torch_curve(lambda o: tls.ExponentialLR(o, gamma), 400, lr=BASE)
    got = lrkit_curve(lk.exponential(gamma), 400, BASE)
    # torch multiplies by gamma once per step (chainable form): rounding accumulates.
    assert_curves(got, ref, rtol=1e-11, what=f"ExponentialLR({gamma})")


@pytest.mark.parametrize("seed", SEEDS)
def test_polynomial_lr(seed: int) -> None:
    r = rng(seed, "PolynomialLR")
    total, power = r.randint(1, 200), r.uniform(0.3, 3.0)
    ref = torch_curve(lambda o: tls.PolynomialLR(o, total, power), 260, lr=BASE)
    got = lrkit_curve(lk.polynomial(total, power), 260, BASE)
    assert_curves(got, ref, rtol=1e-8, atol=1e-14, what=f"PolynomialLR({total}, {power})")


@pytest.mark.parametrize("seed", SEEDS)
def test_cosine_annealing_lr(seed: int) -> None:
    """Same curve up to T_max; past T_max torch rises again, lrkit holds eta_min (documented)."""
    r = rng(seed, "CosineAnnealingLR")
    t_max, eta_min = r.randint(2, 150), r.choice([0.0, r.uniform(0.0, BASE)])
    n = 3 * t_max + 5
    ref = torch_curve(lambda o: tls.CosineAnnealingLR(o, t_max, eta_min), n, lr=BASE)
    got = lrkit_curve(lk.cosine(t_max, end=eta_min / BASE), n, BASE)
    assert_curves(
        got[: t_max + 1],
        ref[: t_max + 1],
        rtol=1e-9,
        atol=1e-12,
        what=f"CosineAnnealingLR({t_max}, {eta_min})",
    )
    # Documented difference: lrkit holds eta_min after T_max; torch's curve rises again
    # (eta_min + (base - eta_min) * (1 + cos(pi t / T_max)) / 2 continued past pi).
    np.testing.assert_allclose(got[t_max:], eta_min, rtol=1e-12, atol=1e-15)
    k = 2 * t_max  # a full period later torch is back at its peak
    assert ref[k] == pytest.approx(BASE, rel=1e-6)


@pytest.mark.parametrize("seed", SEEDS)
def test_cosine_annealing_warm_restarts(seed: int) -> None:
    r = rng(seed, "CosineAnnealingWarmRestarts")
    t0, t_mult = r.randint(1, 40), r.choice([1, 1, 2, 3])
    eta_min = r.choice([0.0, r.uniform(0.0, BASE)])
    ref = torch_curve(
        lambda o: tls.CosineAnnealingWarmRestarts(o, t0, t_mult, eta_min), 400, lr=BASE
    )
    got = lrkit_curve(lk.cosine_restarts(t0, end=eta_min / BASE, period_mult=t_mult), 400, BASE)
    assert_curves(
        got,
        ref,
        rtol=1e-9,
        atol=1e-15,
        what=f"CosineAnnealingWarmRestarts({t0}, {t_mult}, {eta_min})",
    )


@pytest.mark.parametrize("mode", ["triangular", "triangular2", "exp_range"])
@pytest.mark.parametrize("seed", range(4))
def test_cyclic_lr(seed: int, mode: str) -> None:
    """CyclicLR(base_lr=low, max_lr=high, step_size_up, step_size_down): absolute rates."""
    r = rng(seed, "CyclicLR" + mode)
    low, high = r.uniform(1e-4, 0.05), r.uniform(0.06, 1.0)
    up, gamma = r.randint(1, 30), r.uniform(0.95, 1.0)
    down = None if seed < 2 else r.randint(1, 30)
    ref = torch_curve(
        lambda o: tls.CyclicLR(
            o, low, high, up, down, mode=mode, gamma=gamma, cycle_momentum=False
        ),
        300,
        lr=low,
    )
    got = lrkit_curve(lk.cyclic(low, high, up, mode=mode, gamma=gamma, down_period=down), 300)
    assert_curves(
        got,
        ref,
        rtol=1e-9,
        atol=1e-15,
        what=f"CyclicLR({low}, {high}, {up}, {down}, {mode}, {gamma})",
    )


@pytest.mark.parametrize("three_phase", [False, True])
@pytest.mark.parametrize("anneal", ["cos", "linear"])
@pytest.mark.parametrize("seed", range(3))
def test_one_cycle_lr(seed: int, anneal: str, three_phase: bool) -> None:
    r = rng(seed, f"OneCycleLR{anneal}{three_phase}")
    total = r.randint(20, 300)
    pct = r.uniform(0.1, 0.45)
    div, fdiv, peak = r.uniform(5, 50), r.uniform(10, 1e4), r.uniform(0.01, 1.0)
    ref = torch_curve(
        lambda o: tls.OneCycleLR(
            o,
            max_lr=peak,
            total_steps=total,
            pct_start=pct,
            anneal_strategy=anneal,
            div_factor=div,
            final_div_factor=fdiv,
            three_phase=three_phase,
            cycle_momentum=False,
        ),
        total,
        lr=peak,
    )
    s = lk.one_cycle(
        total,
        peak=peak,
        pct_start=pct,
        div_factor=div,
        final_div_factor=fdiv,
        anneal=anneal,
        three_phase=three_phase,
    )
    got = lrkit_curve(s, total + 20)
    assert_curves(
        got[:total],
        ref,
        rtol=1e-9,
        atol=1e-15,
        what=f"OneCycleLR({total}, {pct}, {anneal}, {three_phase})",
    )
    # torch refuses to step past total_steps; lrkit holds the final value.
    np.testing.assert_allclose(got[total - 1 :], got[total - 1], rtol=0, atol=0)


@pytest.mark.parametrize("seed", SEEDS)
def test_sequential_linear_then_cosine(seed: int) -> None:
    """SequentialLR([LinearLR(f, 1, W), CosineAnnealingLR(T, eta_min)], [W])."""
    r = rng(seed, "SequentialLR-cos")
    w, t, f = r.randint(1, 50), r.randint(2, 200), r.uniform(0.001, 0.9)
    eta_min = r.choice([0.0, r.uniform(0, BASE / 2)])

    def make(o: object) -> object:
        return tls.SequentialLR(
            o, [tls.LinearLR(o, f, 1.0, w), tls.CosineAnnealingLR(o, t, eta_min)], [w]
        )

    ref = torch_curve(make, w + t + 1, lr=BASE)
    got = lrkit_curve(lk.warmup(lk.cosine(t, end=eta_min / BASE), w, start=f), w + t + 1, BASE)
    assert_curves(got, ref, rtol=1e-9, atol=1e-12, what=f"Sequential(Linear {w}, Cosine {t})")
    # the same curve written as a join
    joined = lk.join([lk.linear(f, 1.0, w), lk.cosine(t, end=eta_min / BASE)], [w])
    assert_curves(lrkit_curve(joined, w + t + 1, BASE), ref, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("seed", SEEDS)
def test_sequential_constant_then_exponential(seed: int) -> None:
    r = rng(seed, "SequentialLR-exp")
    w, f, g = r.randint(1, 50), r.uniform(0.01, 1.0), r.uniform(0.9, 0.999)

    def make(o: object) -> object:
        return tls.SequentialLR(
            o, [tls.ConstantLR(o, f, total_iters=w), tls.ExponentialLR(o, g)], [w]
        )

    ref = torch_curve(make, 250, lr=BASE)
    got = lrkit_curve(lk.join([lk.constant(f), lk.exponential(g)], [w]), 250, BASE)
    assert_curves(got, ref, rtol=1e-11, what=f"Sequential(Constant {f} x{w}, Exponential {g})")


@pytest.mark.parametrize("seed", SEEDS)
def test_sequential_linear_then_step(seed: int) -> None:
    r = rng(seed, "SequentialLR-step")
    w, f = r.randint(1, 40), r.uniform(0.01, 1.0)
    size, g = r.randint(1, 40), r.uniform(0.1, 0.9)

    def make(o: object) -> object:
        return tls.SequentialLR(o, [tls.LinearLR(o, f, 1.0, w), tls.StepLR(o, size, g)], [w])

    ref = torch_curve(make, 250, lr=BASE)
    got = lrkit_curve(lk.warmup(lk.step_decay(size, g), w, start=f), 250, BASE)
    assert_curves(got, ref, rtol=1e-9, what=f"Sequential(Linear {w}, Step {size} {g})")


@pytest.mark.parametrize("seed", range(3))
def test_lambda_lr_takes_an_lrkit_schedule(seed: int) -> None:
    """LambdaLR multiplies the initial lr by lr_lambda(k): an lrkit schedule is such a callable."""
    r = rng(seed, "LambdaLR")
    s = lk.warmup(
        lk.cosine(r.randint(10, 200), end=r.uniform(0, 0.5)),
        r.randint(1, 30),
        start=r.uniform(0, 0.5),
    )
    ref = torch_curve(lambda o: tls.LambdaLR(o, s), 300, lr=BASE)
    want = [BASE * s(k) for k in range(300)]  # LambdaLR's documented rule: base * lambda(k)
    assert_curves(ref, want, rtol=1e-15, atol=0)


@pytest.mark.parametrize("seed", range(3))
def test_multiplicative_lr_constant_factor(seed: int) -> None:
    """MultiplicativeLR(lambda k: g) is exponential(g); a general factor f(k) has the closed form
    prod_{j=1..k} f(j), which lrkit does not model (write it as a schedule of your own)."""
    g = rng(seed, "MultiplicativeLR").uniform(0.9, 0.999)
    ref = torch_curve(lambda o: tls.MultiplicativeLR(o, lambda _k: g), 300, lr=BASE)
    assert_curves(lrkit_curve(lk.exponential(g), 300, BASE), ref, rtol=1e-11)


@pytest.mark.parametrize("seed", SEEDS)
def test_chained_scheduler_is_a_product(seed: int) -> None:
    r = rng(seed, "ChainedScheduler")
    f, n, g = r.uniform(0.05, 1.0), r.randint(1, 60), r.uniform(0.95, 0.999)
    w, start = r.randint(1, 60), r.uniform(0.05, 1.0)

    def make(o: object) -> object:
        return tls.ChainedScheduler(
            [
                tls.ConstantLR(o, f, total_iters=n),
                tls.ExponentialLR(o, g),
                tls.LinearLR(o, start, 1.0, w),
            ]
        )

    ref = torch_curve(make, 250, lr=BASE)
    s = (
        lk.join([lk.constant(f), lk.constant(1.0)], [n])
        * lk.exponential(g)
        * lk.linear(start, 1.0, w)
    )
    assert_curves(lrkit_curve(s, 250, BASE), ref, rtol=1e-10, what="ChainedScheduler")


PLATEAU_CASES = [
    dict(mode="min", threshold_mode="rel"),
    dict(mode="min", threshold_mode="abs"),
    dict(mode="max", threshold_mode="rel"),
    dict(mode="max", threshold_mode="abs"),
]


@pytest.mark.parametrize("case", PLATEAU_CASES, ids=lambda c: f"{c['mode']}-{c['threshold_mode']}")
@pytest.mark.parametrize("seed", range(3))
def test_reduce_lr_on_plateau(seed: int, case: dict[str, str]) -> None:
    r = rng(seed, "ReduceLROnPlateau" + str(case))
    factor, patience, cooldown = r.uniform(0.1, 0.9), r.randint(0, 6), r.randint(0, 4)
    threshold = (
        r.choice([1e-4, 0.01, 0.1]) if case["threshold_mode"] == "rel" else r.uniform(0, 0.5)
    )
    min_lr = r.choice([0.0, BASE * 1e-3])
    metrics = random_metrics(r, 300, case["mode"])
    kw = dict(factor=factor, patience=patience, threshold=threshold, cooldown=cooldown, **case)
    ref = torch_curve(
        lambda o: tls.ReduceLROnPlateau(o, min_lr=min_lr, **kw), 300, lr=BASE, metrics=metrics
    )
    stepper = lk.Stepper(lk.plateau(min_value=min_lr / BASE, **kw))
    got = []
    for m in metrics:
        got.append(BASE * stepper.value())
        stepper.report(m, eps=1e-8 / BASE)  # torch's eps is in lr units
        stepper.step()
    assert_curves(got, ref, rtol=1e-12, what=f"ReduceLROnPlateau({kw})")
    assert min(ref) < BASE, "the metric sequence should trigger at least one reduction"
