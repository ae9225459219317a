"""Catalogue rows for Hugging Face transformers' ``get_scheduler`` names (docs/equivalence.md).

Every name except ``reduce_lr_on_plateau`` and ``greedy`` builds a ``LambdaLR``, so the lr at
optimizer step k is ``base * lr_lambda(k)``: lrkit's ``base * s(k)``.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
from transformers import get_scheduler  # noqa: E402

import lrkit as lk  # noqa: E402

from ._common import SEEDS, assert_curves, lrkit_curve, random_metrics, rng, torch_curve  # noqa: E402

BASE = 3e-4


def hf_curve(
    name: str, steps: int, warmup: int | None, total: int | None, **kw: object
) -> np.ndarray:
    return torch_curve(
        lambda o: get_scheduler(
            name,
            o,
            num_warmup_steps=warmup,
            num_training_steps=total,
            scheduler_specific_kwargs=kw or None,
        ),
        steps,
        lr=BASE,
    )


def with_warmup(s: lk.Schedule, warmup: int) -> lk.Schedule:
    """HF's linear warmup from 0 (``current_step / num_warmup_steps``); none when it is 0."""
    return lk.warmup(s, warmup) if warmup > 0 else s


def _wt(seed: int, row: str) -> tuple[int, int]:
    r = rng(seed, row)
    total = r.randint(5, 300)
    warmup = 0 if seed == 0 else r.randint(1, total - 1)
    return warmup, total


@pytest.mark.parametrize("seed", SEEDS)
def test_linear(seed: int) -> None:
    w, t = _wt(seed, "linear")
    ref = hf_curve("linear", t + 30, w, t)
    got = lrkit_curve(with_warmup(lk.linear(1.0, 0.0, t - w), w), t + 30, BASE)
    assert_curves(got, ref, rtol=1e-12, atol=1e-18, what=f"linear w={w} T={t}")


@pytest.mark.parametrize("seed", SEEDS)
def test_cosine(seed: int) -> None:
    """Same curve on [0, T]; past T HF's cosine rises again, lrkit holds 0 (documented)."""
    w, t = _wt(seed, "cosine")
    ref = hf_curve("cosine", 2 * t, w, t)
    got = lrkit_curve(with_warmup(lk.cosine(t - w), w), 2 * t, BASE)
    assert_curves(got[: t + 1], ref[: t + 1], rtol=1e-9, atol=1e-15, what=f"cosine w={w} T={t}")
    np.testing.assert_array_equal(got[t:], 0.0)
    if t - w >= 2:
        assert ref[t + 1] > 0.0  # HF: 0.5 * (1 + cos(pi * progress)) for progress > 1


@pytest.mark.parametrize("seed", range(3))
def test_cosine_num_cycles(seed: int) -> None:
    """num_cycles = c != 0.5: alternating falling and rising half-cosines of length (T-W)/(2c)."""
    r = rng(seed, "cosine-cycles")
    c = r.choice([1.0, 1.5, 2.0])
    w = r.randint(1, 20)
    half = r.randint(5, 60)
    t = w + int(2 * c * half)
    ref = hf_curve("cosine", t + 1, w, t, num_cycles=c)
    n = int(2 * c)
    segs = [
        lk.cosine(half) if i % 2 == 0 else lk.cosine(half, start=0.0, end=1.0) for i in range(n)
    ]
    s = lk.warmup(lk.join(segs, [half * i for i in range(1, n)]), w)
    assert_curves(lrkit_curve(s, t + 1, BASE), ref, rtol=1e-9, atol=1e-15, what=f"cosine c={c}")


@pytest.mark.parametrize("seed", SEEDS)
def test_cosine_with_restarts(seed: int) -> None:
    r = rng(seed, "cosine_with_restarts")
    cycles = r.randint(1, 5)
    period = r.randint(2, 60)
    w = 0 if seed == 0 else r.randint(1, 40)
    t = w + cycles * period
    ref = hf_curve("cosine_with_restarts", t + 20, w, t, num_cycles=cycles)
    s = lk.join([with_warmup(lk.cosine_restarts(period), w), lk.constant(0.0)], [t])
    assert_curves(
        lrkit_curve(s, t + 20, BASE),
        ref,
        rtol=1e-9,
        atol=1e-15,
        what=f"cosine_with_restarts w={w} cycles={cycles} period={period}",
    )


@pytest.mark.parametrize("seed", SEEDS)
def test_polynomial(seed: int) -> None:
    w, t = _wt(seed, "polynomial")
    r = rng(seed, "polynomial-p")
    lr_end, power = r.choice([1e-7, BASE * r.uniform(0, 0.5)]), r.uniform(0.5, 3.0)
    ref = hf_curve("polynomial", t + 30, w, t, lr_end=lr_end, power=power)
    s = with_warmup(lk.polynomial(t - w, power, end=lr_end / BASE), w)
    assert_curves(
        lrkit_curve(s, t + 30, BASE),
        ref,
        rtol=1e-9,
        atol=1e-15,
        what=f"polynomial w={w} T={t} end={lr_end} p={power}",
    )


def test_constant() -> None:
    ref = hf_curve("constant", 100, None, None)
    assert_curves(lrkit_curve(lk.constant(), 100, BASE), ref, rtol=0, atol=0)


@pytest.mark.parametrize("seed", SEEDS)
def test_constant_with_warmup(seed: int) -> None:
    w = rng(seed, "constant_with_warmup").randint(1, 100)
    ref = hf_curve("constant_with_warmup", 150, w, None)
    assert_curves(lrkit_curve(lk.warmup(lk.constant(), w), 150, BASE), ref, rtol=1e-12)


@pytest.mark.parametrize("seed", SEEDS)
def test_inverse_sqrt(seed: int) -> None:
    r = rng(seed, "inverse_sqrt")
    w = r.randint(1, 100)
    timescale = None if seed % 2 else r.randint(1, 200)
    kw = {} if timescale is None else {"timescale": timescale}
    ref = hf_curve("inverse_sqrt", 400, w, None, **kw)
    s = lk.warmup(lk.inverse_sqrt(timescale if timescale is not None else w), w)
    assert_curves(
        lrkit_curve(s, 400, BASE), ref, rtol=1e-12, what=f"inverse_sqrt w={w} ts={timescale}"
    )


@pytest.mark.parametrize("seed", range(3))
def test_reduce_lr_on_plateau(seed: int) -> None:
    """HF returns torch's ReduceLROnPlateau: lk.plateau driven by a Stepper."""
    r = rng(seed, "hf-plateau")
    factor, patience = r.uniform(0.1, 0.9), r.randint(0, 5)
    metrics = random_metrics(r, 200)
    ref = torch_curve(
        lambda o: get_scheduler(
            "reduce_lr_on_plateau",
            o,
            scheduler_specific_kwargs={"factor": factor, "patience": patience},
        ),
        200,
        lr=BASE,
        metrics=metrics,
    )
    stepper = lk.Stepper(lk.plateau(factor=factor, patience=patience))
    got = []
    for m in metrics:
        got.append(BASE * stepper.value())
        stepper.report(m, eps=1e-8 / BASE)
        stepper.step()
    assert_curves(got, ref, rtol=1e-12)
    assert min(ref) < BASE


@pytest.mark.parametrize("seed", SEEDS)
def test_cosine_with_min_lr(seed: int) -> None:
    w, t = _wt(seed, "cosine_with_min_lr")
    rate = rng(seed, "cosine_with_min_lr-r").uniform(0.0, 0.5)
    ref = hf_curve("cosine_with_min_lr", t + 1, w, t, min_lr_rate=rate)
    s = with_warmup(lk.cosine(t - w, end=rate), w)
    assert_curves(
        lrkit_curve(s, t + 1, BASE),
        ref,
        rtol=1e-9,
        atol=1e-15,
        what=f"cosine_with_min_lr w={w} T={t} rate={rate}",
    )
    # min_lr (absolute) is min_lr_rate = min_lr / base
    ref2 = hf_curve("cosine_with_min_lr", t + 1, w, t, min_lr=rate * BASE)
    assert_curves(lrkit_curve(s, t + 1, BASE), ref2, rtol=1e-9, atol=1e-15)


@pytest.mark.parametrize("seed", SEEDS)
def test_cosine_warmup_with_min_lr(seed: int) -> None:
    """HF's lr_rate variant counts warmup from (k+1)/W and starts the cosine one step early:
    warmup over W-1 steps from 1/W (or from warmup_lr_rate), cosine over T-W steps."""
    r = rng(seed, "cosine_warmup_with_min_lr")
    t = r.randint(10, 300)
    w = r.randint(2, t - 1)
    rate = r.uniform(0.0, 0.5)
    wr = None if seed % 2 else r.uniform(0.0, 0.5)
    kw: dict[str, object] = {"min_lr_rate": rate}
    if wr is not None:
        kw["warmup_lr_rate"] = wr
    ref = hf_curve("cosine_warmup_with_min_lr", t, w, t, **kw)
    start = 1.0 / w if wr is None else wr
    cos = lk.cosine(t - w, end=rate)
    s = lk.warmup(cos, w - 1, start=start)
    assert_curves(
        lrkit_curve(s, t, BASE),
        ref,
        rtol=1e-9,
        atol=1e-15,
        what=f"cosine_warmup_with_min_lr w={w} T={t} rate={rate} wr={wr}",
    )


@pytest.mark.parametrize("decay_shape", ["linear", "cosine", "1-sqrt"])
@pytest.mark.parametrize("warmup_shape", ["linear", "cosine", "1-sqrt"])
@pytest.mark.parametrize("seed", range(2))
def test_warmup_stable_decay(seed: int, warmup_shape: str, decay_shape: str) -> None:
    r = rng(seed, f"wsd{warmup_shape}{decay_shape}")
    w, st, d = r.randint(1, 50), r.randint(0, 80), r.randint(1, 80)
    m = r.choice([0.0, r.uniform(0.0, 0.5)])
    n = w + st + d + 20
    ref = torch_curve(
        lambda o: get_scheduler(
            "warmup_stable_decay",
            o,
            num_warmup_steps=w,
            num_training_steps=w + st + d,
            scheduler_specific_kwargs={
                "num_decay_steps": d,
                "warmup_type": warmup_shape,
                "decay_type": decay_shape,
                "min_lr_ratio": m,
            },
        ),
        n,
        lr=BASE,
    )
    s = lk.wsd(w, st, d, start=m, end=m, warmup_shape=warmup_shape, decay_shape=decay_shape)
    assert_curves(
        lrkit_curve(s, n, BASE),
        ref,
        rtol=1e-9,
        atol=1e-15,
        what=f"wsd({w}, {st}, {d}, m={m}, {warmup_shape}, {decay_shape})",
    )


def test_every_scheduler_type_is_catalogued() -> None:
    """A new SchedulerType in a future transformers release must get a row here and in the docs."""
    from transformers.trainer_utils import SchedulerType

    catalogued = {
        "linear",
        "cosine",
        "cosine_with_restarts",
        "polynomial",
        "constant",
        "constant_with_warmup",
        "inverse_sqrt",
        "reduce_lr_on_plateau",
        "cosine_with_min_lr",
        "cosine_warmup_with_min_lr",
        "warmup_stable_decay",
        "greedy",
    }
    assert {t.value for t in SchedulerType} == catalogued


def test_greedy_raises_the_rate_so_it_is_not_a_plateau() -> None:
    """GreedyLR divides the rate by ``factor`` after consistent improvements: it rises above
    the initial rate, which no lrkit schedule does from a metric (documented as not
    expressible)."""
    metrics = [10.0 / (k + 1) for k in range(60)]  # improving every step
    ref = torch_curve(
        lambda o: get_scheduler(
            "greedy", o, scheduler_specific_kwargs={"patience": 2, "factor": 0.5, "max_lr": 1.0}
        ),
        60,
        lr=BASE,
        metrics=metrics,
    )
    assert max(ref) > BASE
    stepper = lk.Stepper(lk.plateau(factor=0.5, patience=2))
    got = []
    for m in metrics:
        got.append(BASE * stepper.value())
        stepper.step(m)
    assert max(got) == BASE  # a plateau never rises
