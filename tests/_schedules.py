"""Hypothesis strategies that build random, valid schedules from the registry.

``LEAVES`` has one strategy per leaf constructor and ``COMPOSITES`` names the constructors that
take schedules; ``test_spec.test_every_registered_name_has_a_strategy`` fails when a constructor
is registered without a strategy here, so every new schedule joins the random round-trip and
array-family tests.

Step-like parameters (step sizes, periods, boundaries, durations) are integers or multiples of
1/4: exactly representable in float32, so boundary comparisons mean the same in every family.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from hypothesis import strategies as st

import lrkit as lk


def examples(n: int) -> int:
    """``n`` hypothesis examples, times 20 under ``HYPOTHESIS_PROFILE=thorough`` (a long random
    run: ``HYPOTHESIS_PROFILE=thorough pytest tests/test_spec.py``)."""
    return n * 20 if os.environ.get("HYPOTHESIS_PROFILE") == "thorough" else n


SHAPES_WARMUP = ("linear", "exponential", "cosine", "log")
SHAPES_WSD = ("linear", "cosine", "1-sqrt")
SHAPES_WSD_DECAY = (*SHAPES_WSD, "exp")

# --- parameter strategies -------------------------------------------------------------------


def steps(lo: int = 1, hi: int = 400) -> st.SearchStrategy[float]:
    """A positive step count: mostly an integer, sometimes a multiple of 1/4."""
    return st.one_of(
        st.integers(lo, hi),
        st.integers(4 * lo, 4 * hi).map(lambda q: q / 4),
    )


def int_steps(lo: int = 1, hi: int = 400) -> st.SearchStrategy[int]:
    return st.integers(lo, hi)


rates = st.one_of(
    st.sampled_from([0.0, 1.0, 0.1, 1e-3]),
    st.floats(1e-6, 10.0, allow_nan=False, allow_infinity=False),
)
positive_rates = st.floats(1e-4, 10.0, allow_nan=False, allow_infinity=False)
unit = st.one_of(st.just(1.0), st.floats(1e-3, 1.0, allow_nan=False, exclude_min=False))
"""A factor in (0, 1]."""
open_unit = st.floats(0.01, 0.99)
k_decays = st.one_of(st.just(1.0), st.sampled_from([0.5, 2.0]), st.floats(0.1, 4.0))
"""timm's k-decay exponent: mostly 1 (off)."""


# --- leaves --------------------------------------------------------------------------------


@st.composite
def _multistep(draw: Any) -> lk.Schedule:
    ms = sorted(draw(st.lists(steps(0, 300), min_size=1, max_size=5)))
    return lk.multistep(ms, gamma=draw(unit), start=draw(rates))


@st.composite
def _exponential(draw: Any) -> lk.Schedule:
    start = draw(positive_rates)
    every = draw(steps(1, 50))
    staircase = draw(st.booleans())
    if draw(st.booleans()):  # decay, optionally with a floor
        gamma = draw(st.floats(0.5, 1.0))
        end = draw(st.one_of(st.none(), st.floats(0.0, 1.0).map(lambda f: f * start)))
    else:  # growth, always with a ceiling (an unbounded growth overflows by design)
        gamma = draw(st.floats(1.001, 1.5))
        end = draw(st.floats(1.0, 100.0).map(lambda f: f * start))
    return lk.exponential(gamma, start=start, every=every, staircase=staircase, end=end)


@st.composite
def _cosine_restarts(draw: Any) -> lk.Schedule:
    return lk.cosine_restarts(
        draw(steps(1, 100)),
        start=draw(rates),
        end=draw(rates),
        period_mult=draw(st.sampled_from([1, 1, 2, 3])),
        decay=draw(unit),
    )


@st.composite
def _one_cycle(draw: Any) -> lk.Schedule:
    three = draw(st.booleans())
    n = draw(st.integers(20, 2000))
    pct = draw(st.floats(0.15, 0.45) if three else st.floats(0.15, 0.9))
    return lk.one_cycle(
        n,
        peak=draw(positive_rates),
        pct_start=pct,
        div_factor=draw(st.floats(1.0, 1e3)),
        final_div_factor=draw(st.floats(1.0, 1e5)),
        anneal=draw(st.sampled_from(["cos", "linear"])),
        three_phase=three,
    )


@st.composite
def _cyclic(draw: Any) -> lk.Schedule:
    return lk.cyclic(
        draw(rates),
        draw(rates),
        draw(steps(1, 100)),
        mode=draw(st.sampled_from(["triangular", "triangular2", "exp_range"])),
        gamma=draw(st.floats(0.9, 1.0)),
        down_period=draw(st.one_of(st.none(), steps(1, 100))),
    )


@st.composite
def _wsd(draw: Any) -> lk.Schedule:
    w, s, d = draw(steps(0, 200)), draw(steps(0, 200)), draw(steps(0, 200))
    if w + s + d == 0:
        d = 1
    return lk.wsd(
        w, s, d,
        start=draw(rates), end=draw(rates),
        warmup_shape=draw(st.sampled_from(SHAPES_WSD)),
        decay_shape=draw(st.sampled_from(SHAPES_WSD_DECAY)),
    )


@st.composite
def _batch_rampup(draw: Any) -> lk.Schedule:
    """Megatron's ramp, small enough for the random trees: batch sizes up to 80 over at most 400
    samples, some with fewer samples than increments (an increment every fraction of a sample)."""
    start, increment = draw(st.integers(1, 16)), draw(st.integers(1, 8))
    n = draw(st.integers(1, 8))
    return lk.batch_rampup(start, increment, draw(st.integers(1, 400)), start + n * increment)


def _pow(draw: Any, a: lk.Schedule, top: float) -> lk.Schedule:
    """``a ** p`` with p in [0, top] (mostly 0.5, 1, 2); below 1 the base gets a floor, so that
    float32's absolute error near 0 is not magnified by the infinite slope of x ** p there."""
    p = draw(st.one_of(st.sampled_from([0, 0.5, 1, 2]), st.floats(0.0, top)))
    if p > top:
        p = top
    if 0 < p < 1:
        a = lk.maximum(a, draw(st.floats(0.01, 1.0)))
    return a**p


@st.composite
def _pow_of(draw: Any, children: st.SearchStrategy[lk.Schedule], top: float) -> lk.Schedule:
    return _pow(draw, draw(children), top)


def _builds(fn: Callable[..., lk.Schedule], **kw: st.SearchStrategy[Any]) -> Any:
    return st.builds(fn, **kw)


LEAVES: dict[str, st.SearchStrategy[lk.Schedule]] = {
    "constant": _builds(lk.constant, value=rates),
    "linear": _builds(lk.linear, start=rates, end=rates, steps=steps()),
    "step_decay": _builds(lk.step_decay, step_size=steps(1, 100), gamma=unit, start=rates),
    "multistep": _multistep(),
    "exponential": _exponential(),
    "polynomial": _builds(
        lk.polynomial, steps=steps(), power=st.floats(0.1, 5.0), start=rates, end=rates,
        k_decay=k_decays,
    ),
    "cosine": _builds(
        lk.cosine, steps=steps(), start=rates, end=rates,
        exponent=st.one_of(st.just(1.0), st.floats(0.2, 4.0)), k_decay=k_decays,
    ),
    "cosine_restarts": _cosine_restarts(),
    "one_cycle": _one_cycle(),
    "cyclic": _cyclic(),
    "inverse_sqrt": _builds(lk.inverse_sqrt, timescale=steps(1, 1000), start=rates),
    "inverse_time": _builds(
        lk.inverse_time, steps=steps(1, 100), rate=st.floats(0.0, 5.0), start=rates,
        staircase=st.booleans(),
    ),
    "wsd": _wsd(),
    "untuned_warmup": _builds(
        lk.untuned_warmup,
        beta2=st.one_of(st.sampled_from([0.999, 0.99, 0.98, 0.9, 0.0]), st.floats(0.0, 0.999)),
        shape=st.sampled_from(["linear", "exponential"]),
    ),
    "warmup_factor": _builds(
        lk.warmup_factor, period=steps(1, 300), shape=st.sampled_from(["linear", "exponential"])
    ),
    "batch_rampup": _batch_rampup(),
}

plateaus = st.builds(
    lk.plateau,
    factor=st.floats(0.01, 0.99),
    patience=st.integers(0, 20),
    mode=st.sampled_from(["min", "max"]),
    threshold=st.one_of(st.just(0.0), st.floats(0.0, 0.5)),
    threshold_mode=st.sampled_from(["rel", "abs"]),
    cooldown=st.integers(0, 5),
    min_value=st.floats(0.0, 1e-3),
    start=st.floats(1e-3, 10.0),
)

COMPOSITES = ("warmup", "join", "mul", "add", "maximum", "minimum", "shift", "staircase",
              "cooldown", "splice", "pow")
"""Registered names whose fields hold schedules (built by ``trees``), plus ``plateau``."""
STATEFUL = ("plateau",)

leaves = st.one_of(*LEAVES.values())


def _ends(s: lk.Schedule) -> float | None:
    """Where ``a >> b`` may join after ``s`` (None: it cannot)."""
    d = s.duration
    if d is None or s.is_constant or d <= 0:
        return None
    return d


@st.composite
def _combine(draw: Any, children: st.SearchStrategy[lk.Schedule]) -> lk.Schedule:
    kind = draw(
        st.sampled_from(["warmup", "join", "seq", "nested_seq", "mul", "add", "cmul", "cadd",
                         "maximum", "minimum", "shift", "staircase", "cooldown", "splice",
                         "pow"])
    )
    a = draw(children)
    if kind == "warmup":
        shape = draw(st.sampled_from(SHAPES_WARMUP))
        start = draw(st.floats(1e-4, 1.0) if shape == "exponential" else rates)
        n = draw(steps(1, 200))
        try:
            return lk.warmup(a, n, start=start, shape=shape)
        except ValueError:  # exponential ramp towards a schedule starting at 0
            return lk.warmup(a, n, start=start, shape="linear")
    if kind == "join":
        rest = draw(st.lists(children, min_size=0, max_size=2))
        gaps = draw(st.lists(steps(1, 200), min_size=len(rest), max_size=len(rest)))
        bounds: list[float] = []
        at = 0.0
        for g in gaps:
            at += g
            bounds.append(at)
        return lk.join([a, *rest], bounds)
    if kind == "seq":
        b = draw(children)
        if _ends(a) is not None:
            try:
                return a >> b
            except ValueError:  # see bugs: a join ending in a constant, then >>
                pass
        return lk.join([a, b], [draw(steps(1, 200))])
    if kind == "nested_seq":  # join([a, b], [end of a]) built directly: a may itself be a join
        b = draw(children)
        end = _ends(a)
        if end is None:
            return lk.join([b, a], [draw(steps(1, 200))])
        return lk.join([a, b], [end])
    if kind in ("maximum", "minimum"):
        make = lk.maximum if kind == "maximum" else lk.minimum
        b = draw(st.one_of(children, rates))
        return make(a, b) if draw(st.booleans()) else make(b, a)
    if kind == "shift":
        return lk.shift(a, draw(st.one_of(st.just(0), steps(1, 300))))
    if kind == "staircase":
        return lk.staircase(a, draw(steps(1, 50)))
    if kind == "cooldown":
        return draw(_cooldown(st.just(a)))
    if kind == "splice":
        return draw(_splice(st.just(a), children))
    if kind == "pow":  # at most 1.5: nested powers of products stay far from float32's range
        return _pow(draw, a, 1.5)
    if kind == "mul":
        return a * draw(children)
    if kind == "add":
        return a + draw(children)
    c = draw(st.floats(0.0, 4.0))
    if kind == "cmul":
        return c * a if draw(st.booleans()) else a * c
    return c + a if draw(st.booleans()) else a + c


def trees(max_leaves: int = 6, *, stateful: bool = False) -> st.SearchStrategy[lk.Schedule]:
    """Random nested schedules: leaves combined by warmup, join, >>, *, + (numbers included).
    ``stateful``: plateaus may appear among the leaves."""
    base = st.one_of(leaves, plateaus) if stateful else leaves
    return st.recursive(base, _combine, max_leaves=max_leaves)


def named(name: str) -> st.SearchStrategy[lk.Schedule]:
    """Random instances of the registered constructor ``name`` (composites: random children)."""
    if name in LEAVES:
        return LEAVES[name]
    child = leaves
    if name == "warmup":
        return st.builds(
            lambda a, n, start, shape: _safe_warmup(a, n, start, shape),
            child, steps(1, 200), st.floats(1e-4, 1.0), st.sampled_from(SHAPES_WARMUP),
        )
    if name == "join":
        return st.builds(
            lambda segs, gaps: lk.join(segs, _cumsum(gaps[: len(segs) - 1])),
            st.lists(child, min_size=1, max_size=3),
            st.lists(steps(1, 200), min_size=2, max_size=2),
        )
    if name == "mul":
        return st.builds(lambda a, b: a * b, child, child)
    if name == "add":
        return st.builds(lambda a, b: a + b, child, child)
    if name in ("maximum", "minimum"):
        make = lk.maximum if name == "maximum" else lk.minimum
        return st.builds(make, st.one_of(child, rates), st.one_of(child, rates))
    if name == "shift":
        return st.builds(lk.shift, child, st.one_of(st.just(0), steps(1, 300)))
    if name == "staircase":
        return st.builds(lk.staircase, child, steps(1, 50))
    if name == "cooldown":
        return _cooldown(child)
    if name == "splice":
        return _splice(child, child)
    if name == "pow":
        return _pow_of(child, 3.0)
    if name == "plateau":
        return plateaus
    raise KeyError(f"no strategy for registered schedule {name!r}: add one to tests/_schedules.py")


@st.composite
def _cooldown(draw: Any, children: st.SearchStrategy[lk.Schedule]) -> lk.Schedule:
    """A cooldown branched at a random step (0 and phase boundaries included)."""
    a = draw(children)
    at = draw(st.one_of(st.just(0), steps(0, 300), st.sampled_from(a.breakpoints() or (7,))))
    n = draw(st.one_of(st.just(0), steps(1, 200)))
    end = draw(st.one_of(st.just(0.0), st.floats(0.0, 0.5)))
    return lk.cooldown(a, at, n, end=end, shape=draw(st.sampled_from(SHAPES_WSD_DECAY)))


@st.composite
def _splice(draw: Any, olds: st.SearchStrategy[lk.Schedule],
            news: st.SearchStrategy[lk.Schedule]) -> lk.Schedule:
    """A splice at a random step, with or without a ramp."""
    a, b = draw(olds), draw(news)
    at = draw(st.one_of(st.just(0), steps(0, 300), st.sampled_from(a.breakpoints() or (7,))))
    return lk.splice(a, b, at, ramp=draw(st.one_of(st.just(0), steps(1, 200))))


def _cumsum(gaps: list[float]) -> list[float]:
    out: list[float] = []
    for g in gaps:
        out.append((out[-1] if out else 0) + g)
    return out


def _safe_warmup(a: lk.Schedule, n: float, start: float, shape: str) -> lk.Schedule:
    try:
        return lk.warmup(a, n, start=start, shape=shape)
    except ValueError:
        return lk.warmup(a, n, start=start, shape="linear")


def horizon(s: lk.Schedule, default: float = 120.0) -> float:
    """A step range that covers the interesting part of ``s``: its end, or its last phase
    boundary, plus some room; ``default`` for an unbounded schedule without breakpoints."""
    d = s.duration
    pts = [p for p in s.breakpoints() if p > 0]
    h = max([default if d is None else d, *pts])
    return float(min(h, 3000.0))
