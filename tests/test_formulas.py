"""Every constructor against its formula written out here (DESIGN.md), and against torch's
schedulers, Hugging Face's and optax's where the semantics coincide.

``reference(s, t)`` below is an independent evaluator: it reads a schedule's parameters and
recomputes the value with plain ``math`` and loops (no closed-form tricks shared with lrkit), so
random trees of any depth are checked against it.
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Callable
from typing import Any

import pytest
from _schedules import LEAVES, examples, horizon, trees
from hypothesis import given, settings
from hypothesis import strategies as st

import lrkit as lk

# --- the independent reference ---------------------------------------------------------------


def _cosine_restarts(s: lk.CosineRestarts, t: float) -> float:
    i, begin, length = 0, 0.0, float(s.period)
    while t >= begin + length:
        begin += length
        i += 1
        length = s.period * s.period_mult**i
    peak = s.start * s.decay**i
    return s.end + (peak - s.end) * (1 + math.cos(math.pi * (t - begin) / length)) / 2


def _one_cycle(s: lk.OneCycle, t: float) -> float:
    """torch.optim.lr_scheduler.OneCycleLR.get_lr, holding its last value after the end."""
    initial = s.peak / s.div_factor
    low = initial / s.final_div_factor
    n = s.steps
    if s.three_phase:
        phases = [
            (s.pct_start * n - 1, initial, s.peak),
            (2 * s.pct_start * n - 2, s.peak, initial),
            (n - 1, initial, low),
        ]
    else:
        phases = [(s.pct_start * n - 1, initial, s.peak), (n - 1, s.peak, low)]
    begin = 0.0
    for i, (end, a, b) in enumerate(phases):
        if t <= end or i == len(phases) - 1:
            pct = min((t - begin) / (end - begin), 1.0)
            if s.anneal == "cos":
                return b + (a - b) / 2 * (math.cos(math.pi * pct) + 1)
            return (b - a) * pct + a
        begin = end
    raise AssertionError("unreachable")


def _cyclic(s: lk.Cyclic, t: float) -> float:
    """torch.optim.lr_scheduler.CyclicLR.get_lr (scale_mode 'cycle' or 'iterations')."""
    up = s.half_period
    down = up if s.down_period is None else s.down_period
    total = up + down
    ratio = up / total
    cycle = math.floor(1 + t / total)
    x = 1.0 + t / total - cycle
    scale = x / ratio if x <= ratio else (x - 1) / (ratio - 1)
    height = (s.high - s.low) * scale
    if s.mode == "triangular":
        return s.low + height
    if s.mode == "triangular2":
        return s.low + height / (2.0 ** (cycle - 1))
    return s.low + height * s.gamma**t


def _wsd(s: lk.Wsd, t: float) -> float:
    w, st_, d = s.warmup, s.stable, s.decay
    if t < w:
        p = t / w
        f = {"linear": p, "cosine": 0.5 * (1 - math.cos(math.pi * p)),
             "1-sqrt": 1 - math.sqrt(1 - p)}[s.warmup_shape]
        return s.start + (1 - s.start) * f
    if t < w + st_:
        return 1.0
    if t < w + st_ + d:
        p = (t - w - st_) / d
        g = {"linear": 1 - p, "cosine": 0.5 * (1 + math.cos(math.pi * p)),
             "1-sqrt": 1 - math.sqrt(p), "exp": 2 * 0.5**p - 1}[s.decay_shape]
        return s.end + (1 - s.end) * g
    return s.end


def _warmup(s: lk.Warmup, t: float) -> float:
    if t >= s.steps:
        return reference(s.schedule, t - s.steps)
    p = reference(s.schedule, 0.0)
    x = t / s.steps
    if s.shape == "linear":
        return s.start + (p - s.start) * x
    if s.shape == "exponential":
        return s.start * (p / s.start) ** x
    if s.shape == "log":  # DeepSpeed's WarmupLR: log(t + 1) / log(W) with W = steps + 1
        return s.start + (p - s.start) * math.log(t + 1) / math.log(s.steps + 1)
    return s.start + (p - s.start) * (1 - math.cos(math.pi * x)) / 2


def _join(s: lk.Join, t: float) -> float:
    i = sum(1 for b in s.boundaries if t >= b)
    local = t - s.boundaries[i - 1] if i else t
    return reference(s.schedules[i], local)


def _exponential(s: lk.Exponential, t: float) -> float:
    k = math.floor(t / s.every) if s.staircase else t / s.every
    # a growth's ceiling, computed in logs so that a huge t does not overflow
    if (
        s.end is not None
        and s.gamma > 1
        and (s.start == 0 or math.log(s.start) + k * math.log(s.gamma) >= math.log(s.end))
    ):
        return s.end if s.start else 0.0
    v = s.start * s.gamma**k
    if s.end is None or s.gamma == 1:  # gamma == 1: constant, `end` bounds nothing
        return v
    return max(v, s.end) if s.gamma < 1 else min(v, s.end)


_FALL = {  # wsd's decay shapes, g(x) for progress x in [0, 1] (DESIGN.md)
    "linear": lambda x: 1 - x,
    "cosine": lambda x: (1 + math.cos(math.pi * x)) / 2,
    "1-sqrt": lambda x: 1 - math.sqrt(x),
    "exp": lambda x: (0.5**x - 0.5) / 0.5,
}


def _cooldown(s: lk.Cooldown, t: float) -> float:
    """schedule(t) before at; end + (schedule(at) - end) * g((t - at) / steps); end after."""
    if t < s.at:
        return reference(s.schedule, t)
    if t >= s.at + s.steps:
        return s.end
    top = reference(s.schedule, s.at)
    return s.end + (top - s.end) * _FALL[s.shape]((t - s.at) / s.steps)


def _splice(s: lk.Splice, t: float) -> float:
    """old(t) before at; new(t) from at + ramp; a straight line between."""
    if t < s.at:
        return reference(s.old, t)
    if t >= s.at + s.ramp:
        return reference(s.new, t)
    a, b = reference(s.old, s.at), reference(s.new, s.at + s.ramp)
    return a + (b - a) * (t - s.at) / s.ramp


REFERENCE: dict[str, Callable[[Any, float], float]] = {
    "constant": lambda s, t: s.value,
    "linear": lambda s, t: s.start + (s.end - s.start) * min(t, s.steps) / s.steps,
    "step_decay": lambda s, t: s.start * s.gamma ** math.floor(t / s.step_size),
    "multistep": lambda s, t: s.start * s.gamma ** sum(1 for m in s.milestones if m <= t),
    "exponential": _exponential,
    # timm's k-decay form: t ** k / T ** k
    "polynomial": lambda s, t: (s.start - s.end)
    * (1 - min(t, s.steps) ** s.k_decay / s.steps**s.k_decay) ** s.power
    + s.end,
    "cosine": lambda s, t: s.end
    + (s.start - s.end)
    * ((1 + math.cos(math.pi * min(t, s.steps) ** s.k_decay / s.steps**s.k_decay)) / 2)
    ** s.exponent,
    "cosine_restarts": _cosine_restarts,
    "one_cycle": _one_cycle,
    "cyclic": _cyclic,
    "inverse_sqrt": lambda s, t: s.start / math.sqrt(1 + t / s.timescale),
    "inverse_time": lambda s, t: s.start
    / (1 + s.rate * (math.floor(t / s.steps) if s.staircase else t / s.steps)),
    "wsd": _wsd,
    "untuned_warmup": lambda s, t: (
        min(1.0, (t + 1) / int(2.0 / (1.0 - s.beta2)))
        if s.shape == "linear"
        else 1 - math.exp(-(t + 1) / int(1.0 / (1.0 - s.beta2)))
    ),
    "warmup_factor": lambda s, t: (
        min(1.0, (t + 1) / s.period) if s.shape == "linear" else 1 - math.exp(-(t + 1) / s.period)
    ),
    "warmup": _warmup,
    "join": _join,
    "mul": lambda s, t: reference(s.left, t) * reference(s.right, t),
    "add": lambda s, t: reference(s.left, t) + reference(s.right, t),
    "maximum": lambda s, t: max(reference(s.left, t), reference(s.right, t)),
    "minimum": lambda s, t: min(reference(s.left, t), reference(s.right, t)),
    "shift": lambda s, t: reference(s.schedule, t + s.steps),
    "staircase": lambda s, t: reference(s.schedule, s.every * math.floor(t / s.every)),
    "cooldown": _cooldown,
    "splice": _splice,
    "pow": lambda s, t: reference(s.base, t) ** s.exponent,
    # Megatron-LM's RampupBatchsizeNumMicroBatchesCalculator.update, written out
    "batch_rampup": lambda s, t: s.end if t > s.samples else s.start + s.increment * int(
        t / (s.samples / ((s.end - s.start) // s.increment))),
}


def reference(s: lk.Schedule, t: float) -> float:
    return float(REFERENCE[s.name](s, t))


def _close(got: float, want: float, rel: float = 1e-9, scale: float = 1.0) -> bool:
    return abs(got - want) <= rel * max(abs(want), 1e-300) + 1e-12 * scale


def _t_values(s: lk.Schedule, data: st.DataObject) -> list[float]:
    h = horizon(s)
    ints = data.draw(st.lists(st.integers(0, int(1.5 * h) + 2), min_size=5, max_size=15))
    fracs = data.draw(st.lists(st.floats(0.0, 1.5 * h + 2), min_size=3, max_size=8))
    edges = [b + d for b in s.breakpoints() for d in (-1.0, -0.5, 0.0, 0.5, 1.0) if b + d >= 0]
    return [0.0, 1.0, *map(float, ints), *fracs, *edges]


# --- the seed's example and basic facts -------------------------------------------------------


def test_seed_worked_example() -> None:
    """lr0 = 0.1, gamma = 0.1, step size 5: optimizer steps 1-5 use 0.1, the 6th 0.01, the 11th
    0.001 (t = steps already taken, so the k-th optimizer step is t = k - 1)."""
    s = lk.step_decay(5, gamma=0.1, start=0.1)
    for t in range(5):
        assert s(t) == pytest.approx(0.1, rel=1e-12)
    for t in range(5, 10):
        assert s(t) == pytest.approx(0.01, rel=1e-12)
    assert s(10) == pytest.approx(0.001, rel=1e-12)
    assert s(4.999) == pytest.approx(0.1, rel=1e-12)


def test_first_step_is_t0() -> None:
    assert lk.cosine(100)(0) == 1.0
    assert lk.warmup(lk.cosine(100), 10)(0) == 0.0
    assert lk.linear(0.5, 1.0, 10)(0) == 0.5


@pytest.mark.parametrize("name", sorted(LEAVES))
@settings(max_examples=examples(25))
@given(data=st.data())
def test_leaf_matches_formula(name: str, data: st.DataObject) -> None:
    s = data.draw(LEAVES[name])
    scale = max(abs(reference(s, 0.0)), 1.0)
    for t in _t_values(s, data):
        got, want = s(t), reference(s, t)
        assert isinstance(got, float)
        assert _close(got, want, scale=scale), f"{s}({t}) = {got!r}, formula gives {want!r}"


@settings(max_examples=examples(80))
@given(trees(max_leaves=6), st.data())
def test_random_trees_match_formula(s: lk.Schedule, data: st.DataObject) -> None:
    scale = max(max(abs(reference(s, float(t))) for t in range(0, 3)), 1.0)
    ts = _t_values(s, data)
    for t in ts:
        got, want = s(t), reference(s, t)
        assert _close(got, want, rel=1e-8, scale=scale), f"{s}({t}) = {got!r}, want {want!r}"
    np = pytest.importorskip("numpy")
    vec = s(np.array(ts, dtype=np.float64))  # the vectorised path, against the reference too
    for t, got in zip(ts, vec.tolist(), strict=True):
        want = reference(s, t)
        assert _close(got, want, rel=1e-8, scale=scale), f"{s}([..{t}..]) = {got!r}, want {want!r}"
    # sorted, boundaries included: numpy's sorted fast path (slices cut by searchsorted) meets
    # the reference too, as does the blocked path with its order hint (a longer sorted input)
    ordered = sorted(set(ts))
    for arr in (np.array(ordered), np.sort(np.concatenate([np.array(ordered),
                                                           np.linspace(0.0, max(ts), 20_000)]))):
        vec = s(arr)
        picks = [i for i, t in enumerate(arr.tolist()) if t in set(ordered)]
        for i in picks:
            t = float(arr[i])
            want = reference(s, t)
            got = float(vec[i])
            assert _close(got, want, rel=1e-8, scale=scale), (
                f"{s}(sorted [..{t}..]) = {got!r}, want {want!r}")


# --- past the end, NaN, negative --------------------------------------------------------------

HUGE = [1e6, 2.0**31, 2.0**32 + 5, 2.0**40, 1e15]


@settings(max_examples=examples(80))
@given(trees(max_leaves=6), st.floats(0.0, 1e4))
def test_finite_schedules_hold_their_final_value(s: lk.Schedule, extra: float) -> None:
    d = s.duration
    if d is None:
        return
    final = s(d)
    for t in (d + extra, d + 1, d + 0.5, 2 * d + 3, *HUGE):
        if t < d:
            continue
        assert s(t) == pytest.approx(final, rel=1e-12, abs=1e-15), f"{s} at {t} (end {d})"


@settings(max_examples=examples(80))
@given(trees(max_leaves=6, stateful=True))
def test_breakpoints_are_sorted_and_within_the_schedule(s: lk.Schedule) -> None:
    bp = s.breakpoints()
    assert list(bp) == sorted(set(bp)), bp
    assert all(isinstance(p, float | int) and p >= 0 for p in bp), bp
    d = s.duration
    if d is not None:
        assert all(p <= d + 1e-9 for p in bp), (bp, d)
    if isinstance(s, lk.Warmup):
        assert s.steps in bp
    if isinstance(s, lk.Join):
        assert set(s.boundaries) <= set(bp)


@settings(max_examples=examples(80))
@given(trees(max_leaves=6), st.lists(st.floats(0.0, 1e5), max_size=5))
def test_never_nan_nor_negative(s: lk.Schedule, ts: list[float]) -> None:
    h = horizon(s)
    for t in [0.0, 0.5, 1.0, h / 2, h, h + 1, 3 * h, *ts, *HUGE]:
        v = s(t)
        assert isinstance(v, float)
        assert not math.isnan(v), f"{s}({t}) is NaN"
        assert v >= 0.0, f"{s}({t}) = {v} < 0"


def test_exponential_growth_with_a_ceiling_does_not_overflow() -> None:
    """A growing exponential capped by ``end`` is the ceiling far out, in every family
    (1.1 ** 7500 overflows a float: the cap must not depend on computing it)."""
    s = lk.exponential(1.1, start=0.01, end=1.0)
    assert s(100) == 1.0
    for t in (7500, 10_000, 1e6, 2.0**40):
        assert s(t) == 1.0
    np = pytest.importorskip("numpy")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "overflow encountered in power"
        assert list(s(np.array([100.0, 7500.0, 1e6]))) == [1.0, 1.0, 1.0]


def test_cosine_restarts_with_period_mult_at_huge_t() -> None:
    """Far out, the restarts go on (finite, within [end, start]) instead of overflowing."""
    s = lk.cosine_restarts(1, start=1.0, end=0.1, period_mult=2)
    for t in (2.0**40, 1e15, 1e300):
        v = s(t)
        assert 0.1 <= v <= 1.0, (t, v)


def test_cosine_does_not_rise_past_its_end() -> None:
    s = lk.cosine(100, start=1.0, end=0.1)
    assert s(100) == pytest.approx(0.1)
    for t in (101, 150, 200, 1e9):
        assert s(t) == pytest.approx(0.1)


def test_durations() -> None:
    assert lk.cosine(100).duration == 100
    assert lk.linear(0.0, 1.0, 7).duration == 7
    assert lk.polynomial(30).duration == 30
    assert lk.wsd(10, 20, 30).duration == 60
    assert lk.warmup(lk.cosine(90), 10).duration == 100
    assert (lk.linear(0.0, 1.0, 10) >> lk.cosine(90)).duration == 100
    assert lk.one_cycle(100).duration == pytest.approx(99)
    for unbounded in (
        lk.constant(), lk.step_decay(5), lk.multistep([10]), lk.exponential(0.9),
        lk.inverse_sqrt(100), lk.cyclic(0.1, 1.0, 10), lk.cosine_restarts(10), lk.plateau(),
        lk.warmup(lk.step_decay(5), 10), lk.cosine(10) * lk.step_decay(3),
    ):
        assert unbounded.duration is None, unbounded


def test_breakpoints() -> None:
    assert 10 in lk.warmup(lk.cosine(90), 10).breakpoints()
    assert set(lk.join([lk.cosine(5), lk.cosine(5), lk.cosine(5)], [5, 10]).breakpoints()) >= {
        5, 10
    }
    assert set(lk.wsd(10, 20, 30).breakpoints()) >= {10, 30}
    bp = lk.one_cycle(100, pct_start=0.3).breakpoints()
    assert bp[0] == pytest.approx(29)


def test_bad_steps_are_rejected() -> None:
    s = lk.cosine(10)
    for bad in (-1, -0.5, math.nan, math.inf, -math.inf, 10**400):
        with pytest.raises(ValueError):
            s(bad)
    with pytest.raises((TypeError, ValueError)):
        s("3")  # type: ignore[arg-type]
    with pytest.raises((TypeError, ValueError)):
        s(True)


# --- warmup, join, >>, algebra -----------------------------------------------------------------


@pytest.mark.parametrize("shape", ["linear", "exponential", "cosine"])
def test_warmup_shapes(shape: str) -> None:
    inner = lk.cosine(90, start=0.5, end=0.05)
    s = lk.warmup(inner, 10, start=0.01, shape=shape)
    for t in [0, 0.5, 1, 3, 7.25, 9.9]:
        x = t / 10
        want = {
            "linear": 0.01 + (0.5 - 0.01) * x,
            "exponential": 0.01 * (0.5 / 0.01) ** x,
            "cosine": 0.01 + (0.5 - 0.01) * (1 - math.cos(math.pi * x)) / 2,
        }[shape]
        assert s(t) == pytest.approx(want, rel=1e-12)
    for t in [10, 10.5, 50, 100, 1000]:
        assert s(t) == pytest.approx(inner(t - 10), rel=1e-12)
    assert s(0) == pytest.approx(0.01)
    # monotone ramp from start to the schedule's first value
    ramp = [s(t / 4) for t in range(41)]
    assert all(b >= a - 1e-15 for a, b in itertools.pairwise(ramp))


def test_warmup_reaches_the_schedule_start_exactly() -> None:
    s = lk.warmup(lk.step_decay(5, start=0.3), 4)
    assert s(4) == pytest.approx(0.3)
    assert s(3.999) == pytest.approx(0.3 * 3.999 / 4)
    assert s(9) == pytest.approx(0.03)


def test_join_uses_local_time_like_optax() -> None:
    a, b, c = lk.cosine(10), lk.linear(1.0, 0.0, 20), lk.step_decay(3, start=0.5)
    s = lk.join([a, b, c], [7, 15])
    for t in range(0, 30):
        want = a(t) if t < 7 else (b(t - 7) if t < 15 else c(t - 15))
        assert s(t) == pytest.approx(want, rel=1e-12)


def test_join_against_optax() -> None:
    optax = pytest.importorskip("optax")
    np = pytest.importorskip("numpy")
    segs = [
        lk.linear(0.0, 1.0, 10),
        lk.cosine(50, start=1.0, end=0.1),
        lk.exponential(0.9, start=0.2),
    ]
    bounds = [10, 40]
    ref = optax.join_schedules(
        [
            optax.linear_schedule(0.0, 1.0, 10),
            optax.cosine_decay_schedule(1.0, 50, alpha=0.1),
            optax.exponential_decay(0.2, 1, 0.9),
        ],
        bounds,
    )
    s = lk.join(segs, bounds)
    ts = np.arange(0, 80)
    want = np.array([float(ref(int(t))) for t in ts])
    got = np.array([s(int(t)) for t in ts])
    np.testing.assert_allclose(got, want, rtol=2e-6, atol=1e-7)


def test_rshift_joins_at_the_end() -> None:
    a, b = lk.linear(0.0, 1.0, 10), lk.cosine(90)
    s = a >> b
    assert isinstance(s, lk.Join)
    assert s.boundaries == (10,)
    assert s(5) == pytest.approx(0.5)
    assert s(10) == pytest.approx(1.0)
    assert s(55) == pytest.approx(0.5 * (1 + math.cos(math.pi * 45 / 90)))
    three = a >> b >> lk.constant(0.01)
    assert three(100) == pytest.approx(0.01)
    assert three(1e6) == pytest.approx(0.01)
    with pytest.raises(ValueError, match=r">>|unbounded|end"):
        lk.step_decay(5) >> b
    with pytest.raises(ValueError):
        lk.constant(1.0) >> b


def test_algebra() -> None:
    a, b = lk.cosine(100, end=0.1), lk.linear(0.0, 1.0, 10)
    for t in [0, 3, 9.5, 10, 50, 150]:
        ca = 0.5 * (1 + math.cos(math.pi * min(t, 100) / 100)) * 0.9 + 0.1
        cb = min(t, 10) / 10
        assert (a * b)(t) == pytest.approx(ca * cb, rel=1e-12)
        assert (0.3 * a)(t) == pytest.approx(0.3 * ca, rel=1e-12)
        assert (a * 0.3)(t) == pytest.approx(0.3 * ca, rel=1e-12)
        assert (a + b)(t) == pytest.approx(ca + cb, rel=1e-12)
        assert (a + 0.01)(t) == pytest.approx(ca + 0.01, rel=1e-12)
        assert (0.01 + a)(t) == pytest.approx(ca + 0.01, rel=1e-12)
    assert (a * b).duration == 100
    with pytest.raises((TypeError, ValueError)):
        a * "x"  # type: ignore[operator]
    with pytest.raises((TypeError, ValueError)):
        a * True  # type: ignore[operator]
    with pytest.raises(ValueError):
        a * -1.0  # a negative rate


def test_schedules_are_immutable_values() -> None:
    s = lk.cosine(100)
    with pytest.raises(AttributeError):
        s.steps = 5  # type: ignore[misc]
    assert lk.cosine(100) == s
    assert hash(lk.cosine(100)) == hash(s)
    assert s(10) == s(10)


# --- torch's schedulers as an oracle ----------------------------------------------------------


def _torch_lrs(make: Callable[[Any], Any], n: int, lr: float = 1.0) -> list[float]:
    """lr of the 1st..n-th optimizer step: param_groups[0]['lr'] after k scheduler steps."""
    torch = pytest.importorskip("torch")
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=lr)
    sched = make(opt)
    out = [opt.param_groups[0]["lr"]]
    for _ in range(n - 1):
        opt.step()
        sched.step()
        out.append(opt.param_groups[0]["lr"])
    return out


def _assert_curve(s: lk.Schedule, lrs: list[float], rel: float = 1e-9) -> None:
    scale = max(map(abs, lrs))
    for k, want in enumerate(lrs):
        got = s(k)
        assert abs(got - want) <= rel * abs(want) + 1e-12 * scale, (
            f"{s} at t={k}: lrkit {got!r}, torch {want!r}"
        )


torch_settings = settings(max_examples=examples(15))
base_lrs = st.floats(1e-4, 2.0)


@torch_settings
@given(base_lrs, st.integers(1, 30), st.floats(0.05, 1.0))
def test_torch_steplr(lr: float, step_size: int, gamma: float) -> None:
    torch = pytest.importorskip("torch")
    lrs = _torch_lrs(lambda o: torch.optim.lr_scheduler.StepLR(o, step_size, gamma), 100, lr)
    _assert_curve(lk.step_decay(step_size, gamma=gamma, start=lr), lrs)


@torch_settings
@given(base_lrs, st.lists(st.integers(0, 80), min_size=1, max_size=5), st.floats(0.05, 1.0))
def test_torch_multisteplr(lr: float, milestones: list[int], gamma: float) -> None:
    torch = pytest.importorskip("torch")
    ms = sorted(milestones)  # torch counts repeated milestones (Counter): so do we
    lrs = _torch_lrs(lambda o: torch.optim.lr_scheduler.MultiStepLR(o, ms, gamma), 100, lr)
    _assert_curve(lk.multistep(ms, gamma=gamma, start=lr), lrs)


@torch_settings
@given(base_lrs, st.floats(0.8, 1.0))
def test_torch_exponentiallr(lr: float, gamma: float) -> None:
    torch = pytest.importorskip("torch")
    lrs = _torch_lrs(lambda o: torch.optim.lr_scheduler.ExponentialLR(o, gamma), 150, lr)
    _assert_curve(lk.exponential(gamma, start=lr), lrs, rel=1e-8)


@torch_settings
@given(base_lrs, st.floats(0.01, 1.0), st.floats(0.0, 1.0), st.integers(1, 60))
def test_torch_linearlr(lr: float, sf: float, ef: float, total: int) -> None:
    torch = pytest.importorskip("torch")
    lrs = _torch_lrs(
        lambda o: torch.optim.lr_scheduler.LinearLR(o, sf, ef, total_iters=total), 100, lr
    )
    _assert_curve(lk.linear(lr * sf, lr * ef, total), lrs, rel=1e-8)


@torch_settings
@given(base_lrs, st.floats(0.1, 4.0), st.integers(1, 60))
def test_torch_polynomiallr(lr: float, power: float, total: int) -> None:
    torch = pytest.importorskip("torch")
    lrs = _torch_lrs(
        lambda o: torch.optim.lr_scheduler.PolynomialLR(o, total_iters=total, power=power), 100, lr
    )
    _assert_curve(lk.polynomial(total, power=power, start=lr), lrs, rel=1e-8)


@torch_settings
@given(base_lrs, st.integers(1, 80), st.floats(0.0, 1.0))
def test_torch_cosineannealinglr_within_t_max(lr: float, t_max: int, eta_frac: float) -> None:
    torch = pytest.importorskip("torch")
    eta = lr * eta_frac
    lrs = _torch_lrs(
        lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, t_max, eta_min=eta), t_max + 1, lr
    )
    s = lk.cosine(t_max, start=lr, end=eta)
    _assert_curve(s, lrs, rel=1e-8)
    assert s(2 * t_max) == pytest.approx(eta, abs=1e-15)  # torch would be back at lr


@torch_settings
@given(base_lrs, st.integers(1, 20), st.integers(1, 3), st.floats(0.0, 1.0))
def test_torch_cosine_warm_restarts(lr: float, t0: int, mult: int, eta_frac: float) -> None:
    torch = pytest.importorskip("torch")
    eta = lr * eta_frac
    lrs = _torch_lrs(
        lambda o: torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(
            o, T_0=t0, T_mult=mult, eta_min=eta
        ),
        200,
        lr,
    )
    _assert_curve(lk.cosine_restarts(t0, start=lr, end=eta, period_mult=mult), lrs)


@settings(max_examples=examples(25))
@given(
    base_lrs,
    st.integers(20, 300),
    st.floats(0.1, 0.45),
    st.floats(1.0, 100.0),
    st.floats(1.0, 1e5),
    st.sampled_from(["cos", "linear"]),
    st.booleans(),
)
def test_torch_onecyclelr(
    peak: float, n: int, pct: float, div: float, fdiv: float, anneal: str, three: bool
) -> None:
    torch = pytest.importorskip("torch")
    if int(pct * n) < 2:
        return
    lrs = _torch_lrs(
        lambda o: torch.optim.lr_scheduler.OneCycleLR(
            o, max_lr=peak, total_steps=n, pct_start=pct, anneal_strategy=anneal,
            div_factor=div, final_div_factor=fdiv, three_phase=three, cycle_momentum=False,
        ),
        n,
    )
    s = lk.one_cycle(n, peak=peak, pct_start=pct, div_factor=div, final_div_factor=fdiv,
                     anneal=anneal, three_phase=three)
    _assert_curve(s, lrs)
    assert s(n + 5) == pytest.approx(lrs[-1], rel=1e-12)  # holds after torch would raise


@settings(max_examples=examples(25))
@given(
    st.floats(1e-4, 0.5),
    st.floats(0.5, 2.0),
    st.integers(1, 30),
    st.one_of(st.none(), st.integers(1, 30)),
    st.sampled_from(["triangular", "triangular2", "exp_range"]),
    st.floats(0.95, 1.0),
)
def test_torch_cycliclr(
    low: float, high: float, up: int, down: int | None, mode: str, gamma: float
) -> None:
    torch = pytest.importorskip("torch")
    lrs = _torch_lrs(
        lambda o: torch.optim.lr_scheduler.CyclicLR(
            o, base_lr=low, max_lr=high, step_size_up=up, step_size_down=down, mode=mode,
            gamma=gamma, cycle_momentum=False,
        ),
        200,
    )
    _assert_curve(
        lk.cyclic(low, high, up, mode=mode, gamma=gamma, down_period=down), lrs, rel=1e-8
    )


# --- Hugging Face transformers ----------------------------------------------------------------


@settings(max_examples=examples(30))
@given(
    st.integers(0, 40), st.integers(0, 40), st.integers(1, 40), st.floats(0.0, 0.5),
    st.sampled_from(["linear", "cosine", "1-sqrt"]),
    st.sampled_from(["linear", "cosine", "1-sqrt"]),
)
def test_hf_wsd(w: int, stable: int, d: int, ratio: float, wshape: str, dshape: str) -> None:
    pytest.importorskip("torch")
    tr = pytest.importorskip("transformers")
    total = w + stable + d
    lrs = _torch_lrs(
        lambda o: tr.get_wsd_schedule(
            o, num_warmup_steps=w, num_decay_steps=d, num_stable_steps=stable,
            warmup_type=wshape, decay_type=dshape, min_lr_ratio=ratio,
        ),
        total + 10,
    )
    s = lk.wsd(w, stable, d, start=ratio, end=ratio, warmup_shape=wshape, decay_shape=dshape)
    _assert_curve(s, lrs)


@settings(max_examples=examples(20))
@given(st.integers(1, 50), st.integers(1, 100), base_lrs)
def test_hf_inverse_sqrt(warm: int, timescale: int, lr: float) -> None:
    pytest.importorskip("torch")
    tr = pytest.importorskip("transformers")
    lrs = _torch_lrs(
        lambda o: tr.get_inverse_sqrt_schedule(o, num_warmup_steps=warm, timescale=timescale),
        200,
        lr,
    )
    _assert_curve(lr * lk.warmup(lk.inverse_sqrt(timescale), warm), lrs)


# --- pytorch_warmup ---------------------------------------------------------------------------


@pytest.mark.parametrize("beta2", [0.999, 0.99, 0.98, 0.9, 0.95, 0.5])
@pytest.mark.parametrize("shape", ["linear", "exponential"])
def test_untuned_warmup_against_pytorch_warmup(beta2: float, shape: str) -> None:
    torch = pytest.importorskip("torch")
    pw = pytest.importorskip("pytorch_warmup")
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.Adam([p], lr=1.0, betas=(0.9, beta2))
    cls = pw.UntunedLinearWarmup if shape == "linear" else pw.UntunedExponentialWarmup
    w = cls(opt)
    s = lk.untuned_warmup(beta2, shape=shape)
    n = min(3 * int(2 / (1 - beta2)) + 5, 2500)
    for t in range(n):
        assert s(t) == pytest.approx(opt.param_groups[0]["lr"], rel=1e-12), t
        with w.dampening():
            pass


@pytest.mark.parametrize("period", [1, 7, 100])
@pytest.mark.parametrize("shape", ["linear", "exponential"])
def test_warmup_factor_against_pytorch_warmup(period: int, shape: str) -> None:
    torch = pytest.importorskip("torch")
    pw = pytest.importorskip("pytorch_warmup")
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=1.0)
    cls = pw.LinearWarmup if shape == "linear" else pw.ExponentialWarmup
    w = cls(opt, warmup_period=period)
    s = lk.warmup_factor(period, shape=shape)
    for t in range(3 * period + 5):
        assert s(t) == pytest.approx(opt.param_groups[0]["lr"], rel=1e-12), t
        with w.dampening():
            pass
