"""Composition: ``join`` (optax's join_schedules), ``warmup``, and ``a >> b``."""

from __future__ import annotations

import bisect
import itertools
import math
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from lrkit import _validate as v
from lrkit._xp import PY, Namespace, affine, pieces, progress
from lrkit.schedules._base import SCHEDULE, SCHEDULES, Schedule, States
from lrkit.schedules._registry import register
from lrkit.schedules._scalar import Emitter


def _end_of(s: Schedule) -> float | None:
    """Where ``s`` stops changing: its duration; 0 for a constant; None if unbounded."""
    if s.is_constant:
        return 0.0
    return s.duration


def _shifted(points: tuple[float, ...], offset: float, limit: float | None) -> list[float]:
    return [offset + p for p in points
            if (limit is None or offset + p < limit) and math.isfinite(offset + p)]


def _finite(d: float | None) -> float | None:
    """A duration, or None (unbounded) where the sum overflowed: no float step reaches it."""
    return d if d is None or math.isfinite(d) else None


@register("join")
@dataclass(frozen=True, repr=False)
class Join(Schedule):
    """Runs schedules one after another: segment i on local time t - boundaries[i-1].

    Segment i is active while boundaries[i-1] <= t < boundaries[i] (segment 0 from t = 0), as
    optax's join_schedules.
    """

    schedules: tuple[Schedule, ...] = field(metadata=SCHEDULES)
    boundaries: tuple[float, ...]

    def __post_init__(self) -> None:
        segs = v.sequence("join", "schedules", self.schedules)
        if not segs:
            raise v.fail("join", "schedules", self.schedules, "a non-empty list of schedules")
        for s in segs:
            if not isinstance(s, Schedule):
                raise v.fail("join", "schedules", list(segs), "a list of schedules")
        bs = v.sequence("join", "boundaries", self.boundaries)
        if len(bs) != len(segs) - 1:
            raise v.fail(
                "join", "boundaries", list(bs),
                f"a list of {len(segs) - 1} steps (one fewer than the {len(segs)} schedules)",
            )
        norm = tuple(v.steps("join", "boundaries", b) for b in bs)
        if any(b <= a for a, b in itertools.pairwise(norm)):
            raise v.fail("join", "boundaries", list(bs), "strictly increasing steps > 0")
        object.__setattr__(self, "schedules", tuple(segs))
        object.__setattr__(self, "boundaries", norm)
        object.__setattr__(self, "_bounds", [float(b) for b in norm])

    def _sup(self) -> float | None:
        return _max_sup(self.schedules)

    @property
    def duration(self) -> float | None:
        last = _end_of(self.schedules[-1])
        if last is None:
            return None
        return _finite((self.boundaries[-1] if self.boundaries else 0.0) + last)

    def breakpoints(self) -> tuple[float, ...]:
        pts: list[float] = [float(b) for b in self.boundaries]
        begins = (0.0, *self.boundaries)
        ends: tuple[float | None, ...] = (*self.boundaries, None)
        for s, b, e in zip(self.schedules, begins, ends, strict=True):
            pts.extend(_shifted(s.breakpoints(), float(b), e))
        return tuple(sorted(set(pts)))

    def _eval(self, t: Any, xp: Namespace, states: States) -> Any:
        if xp is PY:
            i = bisect.bisect_right(self.boundaries, t)
            local = t - self.boundaries[i - 1] if i else t
            st = self._child_states(states)[i] if states else ()
            return self.schedules[i]._eval(local, xp, st)
        funcs: list[Any] | None
        if states:
            funcs = [partial(s._eval, xp=xp, states=st)
                     for s, st in zip(self.schedules, self._child_states(states), strict=True)]
        else:  # kept: numpy evaluates a long curve block by block, a join with many segments
            cache: dict[int, list[Any]] = self.__dict__.setdefault("_pieces", {})
            funcs = cache.get(id(xp))
            if funcs is None:
                funcs = cache[id(xp)] = [partial(s._eval, xp=xp, states=())
                                         for s in self.schedules]
        # float(): a Python int above 2**31 would overflow jax's int32 weak type
        return pieces(xp, t, self.__dict__["_bounds"], funcs)

    def _emit(self, e: Emitter, t: str) -> str:
        bounds: list[float] = self.__dict__["_bounds"]
        if len(self.schedules) > e.MAX_CHAIN:  # bisect, then one generated function a segment
            segs = e.table([e.function(s) for s in self.schedules])
            starts = e.const((0.0, *bounds))
            i = e.tmp(f"_bisect({e.const(tuple(bounds))}, {t})")
            args = f"{t} - {starts}[{i}], s" if e.stateful else f"{t} - {starts}[{i}]"
            return e.tmp(f"{segs}[{i}]({args})")
        r = e.name("r")
        for k, seg in enumerate(self.schedules):
            if k == 0:
                header = f"if {t} < {e.num(bounds[0])}:" if bounds else "if True:"
            elif k < len(bounds):
                header = f"elif {t} < {e.num(bounds[k])}:"
            else:
                header = "else:"
            with e.block(header):
                local = t if k == 0 else e.tmp(f"{t} - {e.num(bounds[k - 1])}")
                e.line(f"{r} = {e.emit(seg, local)}")
        return r

    def _report(self, t: float, metric: float, states: States, eps: float) -> None:
        i = bisect.bisect_right(self.boundaries, t)
        st = self._child_states(states)[i]
        if st:
            local = t - self.boundaries[i - 1] if i else t
            self.schedules[i]._report(local, metric, st, eps)


def _max_sup(schedules: Any) -> float | None:
    sups = [s._sup() for s in schedules]
    return None if any(x is None for x in sups) else max(sups)


def sequence(a: Schedule, b: Schedule) -> Join:
    """``a >> b``: ``b`` starts (on local time 0) where ``a`` ends."""
    end = a.duration
    if end is None or a.is_constant:
        raise ValueError(
            f"a >> b: a = {a} has no end (it is unbounded), so b cannot follow it; "
            "use join([a, b], boundaries=[N]) to switch at step N"
        )
    if isinstance(a, Join) and a.schedules[-1].is_constant:
        raise ValueError(
            f"a >> b: a = {a} ends with {a.schedules[-1]}, which has no end, so b cannot "
            "follow it; use join([...], boundaries=[...]) to switch at a given step"
        )
    if end <= 0:
        raise ValueError(f"a >> b: a = {a} ends at step {end!r}; allowed: an end > 0")
    segs: tuple[Schedule, ...] = (a,)
    bounds: tuple[float, ...] = ()
    if isinstance(a, Join):
        segs, bounds = a.schedules, a.boundaries
    if isinstance(b, Join):
        return Join((*segs, *b.schedules), (*bounds, end, *(end + x for x in b.boundaries)))
    return Join((*segs, b), (*bounds, end))


_WARMUP_SHAPES = ("linear", "exponential", "cosine", "log")


@register("warmup")
@dataclass(frozen=True, repr=False)
class Warmup(Schedule):
    """Ramps from start to p = schedule(0) over steps, then s(t) = schedule(t - steps).

    linear: start + (p - start) * t / steps; exponential: start * (p / start) ** (t / steps)
    (needs start > 0); cosine: start + (p - start) * (1 - cos(pi * t / steps)) / 2;
    log: start + (p - start) * ln(1 + t) / ln(1 + steps) (DeepSpeed's WarmupLR default, whose
    warmup_num_steps W is steps = W - 1).
    """

    schedule: Schedule = field(metadata=SCHEDULE)
    steps: float
    start: float = 0.0
    shape: str = "linear"

    def __post_init__(self) -> None:
        if not isinstance(self.schedule, Schedule):
            raise v.fail("warmup", "schedule", self.schedule, "a schedule")
        object.__setattr__(self, "steps", v.steps("warmup", "steps", self.steps))
        object.__setattr__(self, "start", v.rate("warmup", "start", self.start))
        object.__setattr__(self, "shape", v.choice("warmup", "shape", self.shape, _WARMUP_SHAPES))
        # The ramp's target: the schedule's first value. A plateau inside sees no metric before
        # the warmup ends, so its initial state gives the value the ramp must reach.
        peak = float(self.schedule._eval(0.0, PY, self.schedule._initial_states()))
        object.__setattr__(self, "_peak", peak)
        if self.shape == "exponential":
            if self.start <= 0:
                raise v.fail(
                    "warmup", "start", self.start,
                    "> 0 for shape='exponential' (a geometric ramp cannot start from 0)",
                )
            if peak <= 0:
                raise ValueError(
                    f"warmup: shape='exponential' needs the schedule's first value > 0; "
                    f"{self.schedule} starts at {peak!r}"
                )
            object.__setattr__(self, "_ratio", peak / self.start)
            if not peak / self.start <= v.MAX_RATE:
                # a ramp over more than 38 decades: ratio ** x overflows (float32 sooner, and
                # 0 * inf is NaN), so it runs in logarithms, exp(ln start + x ln ratio)
                a = math.log(self.start)
                object.__setattr__(self, "_log_ramp", (a, math.log(peak) - a))
        if self.shape == "log":
            # log1p where 1 + steps rounds to 1 (steps < 1e-16): ln(1 + t) is then 0 below it
            span = math.log(1.0 + float(self.steps)) or math.log1p(float(self.steps))
            object.__setattr__(self, "_log_span", span)

    @property
    def duration(self) -> float | None:
        inner = _end_of(self.schedule)
        return None if inner is None else _finite(self.steps + inner)

    def _sup(self) -> float | None:
        inner = self.schedule._sup()
        return None if inner is None else max(inner, self.start)

    def breakpoints(self) -> tuple[float, ...]:
        return (float(self.steps), *_shifted(self.schedule.breakpoints(), self.steps, None))

    def _ramp(self, t: Any, xp: Namespace) -> Any:
        x = progress(xp, t, self.steps)
        peak: float = self.__dict__["_peak"]
        if self.shape == "linear":
            return affine(self.start, peak - self.start, x)
        if self.shape == "exponential":
            log_ramp = self.__dict__.get("_log_ramp")
            if log_ramp is not None:
                return xp.exp(log_ramp[0] + log_ramp[1] * x)
            return self.start * xp.power(self.__dict__["_ratio"], x)
        if self.shape == "log":
            # ln(1 + t) / ln(1 + steps), never above 1 (XLA may divide by multiplying)
            frac = xp.minimum(xp.log(1.0 + t) / self.__dict__["_log_span"], 1.0)
            return affine(self.start, peak - self.start, frac)
        return affine(self.start, peak - self.start, 0.5 - 0.5 * xp.cos(x * math.pi))

    def _emit(self, e: Emitter, t: str) -> str:
        steps = e.num(self.steps)
        start = e.num(self.start)
        peak: float = self.__dict__["_peak"]

        def ramp() -> str:
            x = e.tmp(f"{t} / {steps}")  # progress(): t < steps here
            if self.shape == "linear":
                return e.affine(self.start, peak - self.start, x)
            if self.shape == "exponential":
                log_ramp = self.__dict__.get("_log_ramp")
                if log_ramp is not None:
                    return f"_exp({e.num(log_ramp[0])} + {e.num(log_ramp[1])} * {x})"
                return f"{start} * {e.power(self.__dict__['_ratio'], x)}"
            if self.shape == "log":
                span = e.num(self.__dict__["_log_span"])
                frac = e.minimum(e.tmp(f"_log(1.0 + {t}) / {span}"), "1.0")
                return e.affine(self.start, peak - self.start, frac)
            cos = e.tmp(f"0.5 - 0.5 * _cos({x} * {e.num(math.pi)})")
            return e.affine(self.start, peak - self.start, cos)

        return e.choose(f"{t} < {steps}", ramp,
                        lambda: e.emit(self.schedule, e.tmp(f"{t} - {steps}")))

    def _eval(self, t: Any, xp: Namespace, states: States) -> Any:
        if xp is PY:
            if t < self.steps:
                return self._ramp(t, xp)
            return self.schedule._eval(t - self.steps, xp, states)
        inner = partial(self.schedule._eval, xp=xp, states=states)
        return pieces(xp, t, [float(self.steps)], [partial(self._ramp, xp=xp), inner])

    def _report(self, t: float, metric: float, states: States, eps: float) -> None:
        if states and t >= self.steps:
            self.schedule._report(t - self.steps, metric, states, eps)


_FACTOR_SHAPES = ("linear", "exponential")


@register("warmup_factor")
@dataclass(frozen=True, repr=False)
class WarmupFactor(Schedule):
    """pytorch_warmup's warmup factor, to multiply a schedule with: s * warmup_factor(period).

    linear: min(1, (t + 1) / period); exponential: 1 - exp(-(t + 1) / period).
    """

    period: float
    shape: str = "linear"

    def __post_init__(self) -> None:
        object.__setattr__(self, "period", v.steps("warmup_factor", "period", self.period))
        shape = v.choice("warmup_factor", "shape", self.shape, _FACTOR_SHAPES)
        object.__setattr__(self, "shape", shape)

    @property
    def duration(self) -> float | None:
        return max(self.period - 1.0, 0.0) if self.shape == "linear" else None

    def _sup(self) -> float:
        return 1.0

    def _eval(self, t: Any, xp: Namespace, states: States) -> Any:
        return _factor(xp, self.shape, float(self.period), t)

    def _emit(self, e: Emitter, t: str) -> str:
        return _emit_factor(e, self.shape, float(self.period), t)


def _factor(xp: Namespace, shape: str, period: float, t: Any) -> Any:
    if shape == "linear":
        return xp.minimum((t + 1.0) / period, 1.0)
    return 1.0 - xp.exp(-(t + 1.0) / period)


def _emit_factor(e: Emitter, shape: str, period: float, t: str) -> str:
    if shape == "linear":
        return e.minimum(e.tmp(f"({t} + 1.0) / {e.num(period)}"), "1.0")
    return e.tmp(f"1.0 - _exp(-({t} + 1.0) / {e.num(period)})")


@register("untuned_warmup")
@dataclass(frozen=True, repr=False)
class UntunedWarmup(Schedule):
    """Untuned warmup factor for Adam (Ma & Yarats 2019): s * untuned_warmup(beta2).

    linear: min(1, (t + 1) / floor(2 / (1 - beta2))); exponential:
    1 - exp(-(t + 1) / floor(1 / (1 - beta2))), as pytorch_warmup's Untuned*Warmup.
    """

    beta2: float = 0.999
    shape: str = "linear"

    def __post_init__(self) -> None:
        b2 = v.in_range("untuned_warmup", "beta2", self.beta2, 0.0, 1.0, lo_open=False,
                        hi_open=True)
        object.__setattr__(self, "beta2", b2)
        shape = v.choice("untuned_warmup", "shape", self.shape, _FACTOR_SHAPES)
        object.__setattr__(self, "shape", shape)
        object.__setattr__(self, "_period", float(self.period))

    @property
    def period(self) -> int:
        """The warmup period: int(2 / (1 - beta2)) (linear) or int(1 / (1 - beta2))."""
        return int((2.0 if self.shape == "linear" else 1.0) / (1.0 - self.beta2))

    @property
    def duration(self) -> float | None:
        return max(self.period - 1.0, 0.0) if self.shape == "linear" else None

    def _sup(self) -> float:
        return 1.0

    def _eval(self, t: Any, xp: Namespace, states: States) -> Any:
        return _factor(xp, self.shape, self.__dict__["_period"], t)

    def _emit(self, e: Emitter, t: str) -> str:
        return _emit_factor(e, self.shape, self.__dict__["_period"], t)
