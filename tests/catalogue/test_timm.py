"""Catalogue rows for timm's schedulers (docs/equivalence.md, section timm).

timm's protocol: the constructor sets the lr for t = 0; after epoch e the training loop calls
``scheduler.step(e + 1)`` (or ``step_update(n)`` after update n with ``t_in_epochs=False``), so
the lr used at t is timm's ``_get_lr(t)``: lrkit's ``s(t)``. timm is loaded through
tests/_timm.py (its package __init__ imports torchvision).
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _timm import timm_scheduler  # noqa: E402

import lrkit as lk  # noqa: E402

from ._common import SEEDS, assert_curves, lrkit_curve, random_metrics, rng  # noqa: E402

BASE = 0.05


def timm_curve(
    cls_name: str,
    steps: int,
    *,
    metrics: list[float] | None = None,
    per_update: bool = False,
    **kw: object,
) -> np.ndarray:
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=BASE)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # PlateauLRScheduler is deprecated
        sched = (
            getattr(timm_scheduler(), cls_name)(opt, t_in_epochs=not per_update, **kw)
            if cls_name != "PlateauLRScheduler"
            else getattr(timm_scheduler(), cls_name)(opt, **kw)
        )
    out = []
    for k in range(steps):
        out.append(float(opt.param_groups[0]["lr"]))
        opt.step()
        if per_update:
            sched.step_update(k + 1)
        elif metrics is not None:
            sched.step(k + 1, metrics[k])
        else:
            sched.step(k + 1)
    return np.asarray(out)


def timm_warmup(
    core: lk.Schedule, warmup_t: int, warmup_lr_init: float, prefix: bool
) -> lk.Schedule:
    """timm's linear warmup from warmup_lr_init (relative: / base) over warmup_t steps.

    warmup_prefix=True: the schedule starts after the warmup (``lk.warmup``).
    warmup_prefix=False: the warmup *overlaps* the schedule's first warmup_t steps, which then
    continues on the global step: ramp while t < W, the schedule's own value after.
    """
    if warmup_t == 0:
        return core
    start = warmup_lr_init / BASE
    if prefix:
        return lk.warmup(core, warmup_t, start=start)
    before = lk.join([lk.constant(1.0), lk.constant(0.0)], [warmup_t])
    after = lk.join([lk.constant(0.0), lk.constant(1.0)], [warmup_t])
    return lk.linear(start, 1.0, warmup_t) * before + core * after


def cycles_length(t_initial: float, cycle_mul: float, cycle_limit: int) -> float:
    if cycle_mul == 1:
        return t_initial * cycle_limit
    return t_initial * (cycle_mul**cycle_limit - 1) / (cycle_mul - 1)


def timm_cosine(
    t_initial: int, lr_min: float, cycle_mul: float, cycle_decay: float, cycle_limit: int
) -> lk.Schedule:
    end = lr_min / BASE
    if cycle_limit == 1:
        return lk.cosine(t_initial, end=end)
    restarts = lk.cosine_restarts(t_initial, end=end, period_mult=cycle_mul, decay=cycle_decay)
    return lk.join([restarts, lk.constant(end)], [cycles_length(t_initial, cycle_mul, cycle_limit)])


def with_timm_warmup(core: lk.Schedule, wu: dict[str, object]) -> lk.Schedule:
    """``timm_warmup`` from the warmup keywords given to the timm scheduler (timm's defaults for
    the absent ones: no initial rate, warmup_prefix=False)."""
    return timm_warmup(
        core,
        int(wu["warmup_t"]),  # type: ignore[call-overload]
        float(wu.get("warmup_lr_init", 0.0)),  # type: ignore[arg-type]
        bool(wu.get("warmup_prefix", False)),
    )


def _warmup_params(r: object, seed: int) -> dict[str, object]:
    if seed == 0:
        return dict(warmup_t=0)
    return dict(
        warmup_t=r.randint(1, 20),
        warmup_lr_init=r.choice([0.0, BASE * r.uniform(0, 0.5)]),  # type: ignore[attr-defined]
        warmup_prefix=bool(seed % 2),
    )


@pytest.mark.parametrize("seed", SEEDS)
def test_cosine_lr_scheduler(seed: int) -> None:
    r = rng(seed, "CosineLRScheduler")
    t_initial, lr_min = r.randint(2, 120), r.choice([0.0, BASE * r.uniform(0, 0.3)])
    wu = _warmup_params(r, seed)
    ref = timm_curve("CosineLRScheduler", 200, t_initial=t_initial, lr_min=lr_min, **wu)
    s = with_timm_warmup(timm_cosine(t_initial, lr_min, 1, 1, 1), wu)
    assert_curves(
        lrkit_curve(s, 200, BASE),
        ref,
        rtol=1e-9,
        atol=1e-15,
        what=f"CosineLRScheduler({t_initial}, {lr_min}, {wu})",
    )


@pytest.mark.parametrize("seed", SEEDS)
def test_cosine_lr_scheduler_cycles(seed: int) -> None:
    r = rng(seed, "CosineLRScheduler-cycles")
    t_initial, lr_min = r.randint(2, 40), r.choice([0.0, BASE * r.uniform(0, 0.3)])
    cycle_mul = r.choice([1.0, 2.0, 1.5]) if seed else 1.0
    cycle_decay, cycle_limit = r.uniform(0.3, 1.0), r.randint(2, 5)
    wu = _warmup_params(r, seed)
    kw = dict(
        t_initial=t_initial,
        lr_min=lr_min,
        cycle_mul=cycle_mul,
        cycle_decay=cycle_decay,
        cycle_limit=cycle_limit,
        **wu,
    )
    ref = timm_curve("CosineLRScheduler", 400, **kw)
    s = with_timm_warmup(timm_cosine(t_initial, lr_min, cycle_mul, cycle_decay, cycle_limit), wu)
    assert_curves(
        lrkit_curve(s, 400, BASE), ref, rtol=1e-9, atol=1e-15, what=f"CosineLRScheduler({kw})"
    )


def test_cosine_lr_scheduler_per_update() -> None:
    """t_in_epochs=False with step_update(num_updates): same curve, t counted in updates."""
    ref = timm_curve(
        "CosineLRScheduler",
        300,
        per_update=True,
        t_initial=250,
        lr_min=1e-4,
        warmup_t=20,
        warmup_lr_init=1e-5,
        warmup_prefix=True,
    )
    s = timm_warmup(timm_cosine(250, 1e-4, 1, 1, 1), 20, 1e-5, True)
    assert_curves(lrkit_curve(s, 300, BASE), ref, rtol=1e-9, atol=1e-15)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("cls_name", ["CosineLRScheduler", "PolyLRScheduler"])
def test_k_decay(seed: int, cls_name: str) -> None:
    """``--lr-k-decay``: cos(pi t^k / T^k) and (1 - t^k / T^k) ** power in one cycle are
    ``cosine(T, k_decay=k)`` and ``polynomial(T, power, k_decay=k)``."""
    r = rng(seed, cls_name + "k_decay")
    t_initial, k = r.randint(2, 200), r.choice([0.5, 2.0, r.uniform(0.2, 4.0)])
    lr_min = r.choice([0.0, BASE * r.uniform(0, 0.3)])
    wu = _warmup_params(r, seed)
    kw: dict[str, object] = dict(t_initial=t_initial, lr_min=lr_min, k_decay=k, **wu)
    if cls_name == "PolyLRScheduler":
        power = r.uniform(0.3, 3.0)
        kw["power"] = power
        core = lk.polynomial(t_initial, power, end=lr_min / BASE, k_decay=k)
    else:
        core = lk.cosine(t_initial, end=lr_min / BASE, k_decay=k)
    ref = timm_curve(cls_name, t_initial + 40, **kw)
    got = lrkit_curve(with_timm_warmup(core, wu), t_initial + 40, BASE)
    assert_curves(got, ref, rtol=1e-9, atol=1e-15, what=f"{cls_name}({kw})")


@pytest.mark.parametrize("seed", SEEDS)
def test_step_lr_scheduler(seed: int) -> None:
    r = rng(seed, "StepLRScheduler")
    decay_t = r.choice([r.randint(1, 40), r.uniform(1.0, 30.0)])
    rate = r.uniform(0.1, 1.0)
    wu = _warmup_params(r, seed)
    wu.setdefault("warmup_prefix", True)
    ref = timm_curve("StepLRScheduler", 250, decay_t=decay_t, decay_rate=rate, **wu)
    s = with_timm_warmup(lk.step_decay(decay_t, rate), wu)
    assert_curves(
        lrkit_curve(s, 250, BASE),
        ref,
        rtol=1e-12,
        atol=1e-15,
        what=f"StepLRScheduler({decay_t}, {rate}, {wu})",
    )


@pytest.mark.parametrize("seed", SEEDS)
def test_multistep_lr_scheduler(seed: int) -> None:
    """timm applies milestone m at t = m - 1 (bisect_right(decay_t, t + 1)), one step before
    torch's MultiStepLR: lk.multistep([m - 1 for m in decay_t])."""
    r = rng(seed, "MultiStepLRScheduler")
    decay_t = sorted(r.randint(1, 200) for _ in range(r.randint(1, 5)))
    rate = r.uniform(0.1, 1.0)
    wu = _warmup_params(r, seed)
    wu.setdefault("warmup_prefix", True)
    ref = timm_curve("MultiStepLRScheduler", 250, decay_t=decay_t, decay_rate=rate, **wu)
    s = with_timm_warmup(lk.multistep([m - 1 for m in decay_t], rate), wu)
    assert_curves(
        lrkit_curve(s, 250, BASE),
        ref,
        rtol=1e-12,
        atol=1e-15,
        what=f"MultiStepLRScheduler({decay_t}, {rate}, {wu})",
    )


def timm_poly(
    t_initial: int,
    power: float,
    lr_min: float,
    cycle_mul: float,
    cycle_decay: float,
    cycle_limit: int,
) -> lk.Schedule:
    """One polynomial per cycle (cycle i: length t_initial * cycle_mul**i, peak
    cycle_decay**i), then lr_min."""
    end = lr_min / BASE
    segs: list[lk.Schedule] = []
    bounds: list[float] = []
    t = 0.0
    for i in range(cycle_limit):
        n = t_initial * cycle_mul**i
        segs.append(lk.polynomial(n, power, start=cycle_decay**i, end=end))
        t += n
        bounds.append(t)
    segs.append(lk.constant(end))
    return lk.join(segs, bounds)


@pytest.mark.parametrize("seed", SEEDS)
def test_poly_lr_scheduler(seed: int) -> None:
    r = rng(seed, "PolyLRScheduler")
    t_initial, power = r.randint(2, 60), r.uniform(0.3, 3.0)
    lr_min = r.choice([0.0, BASE * r.uniform(0, 0.3)])
    cycle_limit = 1 if seed < 2 else r.randint(2, 4)
    cycle_mul = 1.0 if seed < 4 else 2.0
    cycle_decay = r.uniform(0.3, 1.0)
    wu = _warmup_params(r, seed)
    kw = dict(
        t_initial=t_initial,
        power=power,
        lr_min=lr_min,
        cycle_mul=cycle_mul,
        cycle_decay=cycle_decay,
        cycle_limit=cycle_limit,
        **wu,
    )
    ref = timm_curve("PolyLRScheduler", 300, **kw)
    core = timm_poly(t_initial, power, lr_min, cycle_mul, cycle_decay, cycle_limit)
    s = with_timm_warmup(core, wu)
    assert_curves(
        lrkit_curve(s, 300, BASE), ref, rtol=1e-9, atol=1e-15, what=f"PolyLRScheduler({kw})"
    )


def test_tanh_lr_scheduler_is_not_expressible() -> None:
    """TanhLRScheduler: lr_min + (lr_max - lr_min) * (1 - tanh(lb (1 - x) + ub x)) / 2 with
    x = t / t_initial: no lrkit equivalent (documented); the formula in the docs is pinned here."""
    t_initial, lb, ub = 100, -7.0, 3.0
    ref = timm_curve("TanhLRScheduler", 100, t_initial=t_initial, lb=lb, ub=ub)
    x = np.arange(100) / t_initial
    want = BASE * 0.5 * (1 - np.tanh(lb * (1 - x) + ub * x))
    # the constructor sets the base lr; the formula applies from the first step() on
    assert ref[0] == BASE
    assert_curves(want[1:], ref[1:], rtol=1e-12)


@pytest.mark.parametrize("seed", SEEDS)
def test_plateau_lr_scheduler(seed: int) -> None:
    """Stepped once per epoch with the epoch's metric: warmup(plateau(...)) driven by a
    Stepper; metrics reported during the warmup are ignored by both."""
    r = rng(seed, "PlateauLRScheduler")
    mode = "max" if seed % 2 else "min"
    rate, patience, cooldown = r.uniform(0.1, 0.9), r.randint(0, 5), r.randint(0, 3)
    threshold = r.choice([1e-4, 0.01])
    lr_min = r.choice([0.0, BASE * 1e-3])
    warmup_t = 0 if seed < 2 else r.randint(1, 10)
    warmup_lr_init = BASE * r.uniform(0, 0.5)
    metrics = random_metrics(r, 150, mode)
    ref = timm_curve(
        "PlateauLRScheduler",
        150,
        metrics=metrics,
        decay_rate=rate,
        patience_t=patience,
        threshold=threshold,
        cooldown_t=cooldown,
        warmup_t=warmup_t,
        warmup_lr_init=warmup_lr_init,
        lr_min=lr_min,
        mode=mode,
    )
    plateau = lk.plateau(
        factor=rate,
        patience=patience,
        mode=mode,
        threshold=threshold,
        cooldown=cooldown,
        min_value=lr_min / BASE,
    )
    sched = lk.warmup(plateau, warmup_t, start=warmup_lr_init / BASE) if warmup_t else plateau
    stepper = lk.Stepper(sched)
    got = []
    for m in metrics:
        got.append(BASE * stepper.value())
        stepper.report(m, eps=1e-8 / BASE)
        stepper.step()
    assert_curves(got, ref, rtol=1e-12, atol=1e-18, what=f"PlateauLRScheduler seed={seed}")
    assert min(ref[warmup_t:]) < BASE


@pytest.mark.parametrize("decay_fn", ["linear", "cosine", "1-sqrt", "exp"])
@pytest.mark.parametrize("seed", range(3))
def test_wsd_lr_scheduler(seed: int, decay_fn: str) -> None:
    """decay_fn "exp" is timm's (r ** x - r) / (1 - r) at decay_ratio r = 0.5: lrkit's
    decay_shape "exp" (Megatron's 2 * 0.5 ** x - 1)."""
    r = rng(seed, "WSDLRScheduler" + decay_fn)
    t_initial = r.randint(2, 200)
    decay_t = r.randint(1, t_initial)
    lr_min = r.choice([0.0, BASE * r.uniform(0, 0.3)])
    warmup_t = 0 if seed == 0 else r.randint(1, 30)
    init = BASE * r.uniform(0, 0.5)
    ref = timm_curve(
        "WSDLRScheduler",
        warmup_t + t_initial + 20,
        t_initial=t_initial,
        decay_t=decay_t,
        lr_min=lr_min,
        decay_fn=decay_fn,
        warmup_t=warmup_t,
        warmup_lr_init=init,
        **({"decay_ratio": 0.5} if decay_fn == "exp" else {}),
    )
    s = lk.wsd(
        warmup_t,
        t_initial - decay_t,
        decay_t,
        start=init / BASE,
        end=lr_min / BASE,
        decay_shape=decay_fn,
    )
    assert_curves(
        lrkit_curve(s, warmup_t + t_initial + 20, BASE),
        ref,
        rtol=1e-9,
        atol=1e-15,
        what=f"WSDLRScheduler({t_initial}, {decay_t}, {lr_min}, {decay_fn}, {warmup_t})",
    )
