"""Decay schedules: step, multistep, exponential, polynomial, cosine, inverse square root."""

from __future__ import annotations

import bisect
import itertools
import math
from dataclasses import dataclass
from typing import Any

from lrkit import _validate as v
from lrkit._xp import Namespace, affine, floor_div, indicator, progress
from lrkit.schedules._base import Schedule, States
from lrkit.schedules._registry import register
from lrkit.schedules._scalar import Emitter


@register("step_decay")
@dataclass(frozen=True, repr=False)
class StepDecay(Schedule):
    """s(t) = start * gamma ** floor(t / step_size)   (torch's StepLR)"""

    step_size: float
    gamma: float = 0.1
    start: float = 1.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "step_size", v.steps("step_decay", "step_size", self.step_size))
        g = v.in_range("step_decay", "gamma", self.gamma, 0.0, 1.0, lo_open=True, hi_open=False)
        object.__setattr__(self, "gamma", g)
        object.__setattr__(self, "start", v.rate("step_decay", "start", self.start))

    def _sup(self) -> float:
        return self.start

    def _eval(self, t: Any, xp: Namespace, states: States) -> Any:
        return self.start * xp.power(self.gamma, floor_div(xp, t, self.step_size))

    def _emit(self, e: Emitter, t: str) -> str:
        p = e.power(self.gamma, e.floor_div(t, self.step_size))
        return e.tmp(f"{e.num(self.start)} * {p}")


@register("multistep")
@dataclass(frozen=True, repr=False)
class Multistep(Schedule):
    """s(t) = start * gamma ** #{m in milestones : m <= t}   (torch's MultiStepLR)"""

    milestones: tuple[float, ...]
    gamma: float = 0.1
    start: float = 1.0

    def __post_init__(self) -> None:
        ms = v.sequence("multistep", "milestones", self.milestones)
        if not ms:
            raise v.fail("multistep", "milestones", self.milestones, "a non-empty list of steps")
        norm = tuple(v.steps("multistep", "milestones", m, allow_zero=True) for m in ms)
        if any(b < a for a, b in itertools.pairwise(norm)):
            raise v.fail(
                "multistep", "milestones", list(ms), "sorted in non-decreasing order"
            )
        object.__setattr__(self, "milestones", norm)
        g = v.in_range("multistep", "gamma", self.gamma, 0.0, 1.0, lo_open=True, hi_open=False)
        object.__setattr__(self, "gamma", g)
        object.__setattr__(self, "start", v.rate("multistep", "start", self.start))

    def _sup(self) -> float:
        return self.start

    def _eval(self, t: Any, xp: Namespace, states: States) -> Any:
        if xp.is_python:
            return self.start * self.gamma ** bisect.bisect_right(self.milestones, t)
        n = indicator(xp, t >= float(self.milestones[0]), t)
        for m in self.milestones[1:]:
            n = n + indicator(xp, t >= float(m), t)
        return self.start * xp.power(self.gamma, n)

    def _emit(self, e: Emitter, t: str) -> str:
        if len(self.milestones) > e.MAX_CHAIN:
            ms = e.const(self.milestones)
            return e.tmp(f"{e.num(self.start)} * {e.num(self.gamma)} ** _bisect({ms}, {t})")
        # an if/elif chain of the values start * gamma ** k, computed as the generic path does
        r = e.name("r")
        for k, m in enumerate(self.milestones):
            with e.block(f"{'if' if k == 0 else 'elif'} {t} < {e.num(m)}:"):
                e.line(f"{r} = {e.num(self.start * self.gamma**k)}")
        with e.block("else:"):
            e.line(f"{r} = {e.num(self.start * self.gamma ** len(self.milestones))}")
        return r


@register("exponential")
@dataclass(frozen=True, repr=False)
class Exponential(Schedule):
    """s(t) = start * gamma ** (t / every)   (floor(t / every) if staircase)

    ``end`` bounds it: a floor when gamma < 1, a ceiling when gamma > 1.
    """

    gamma: float
    start: float = 1.0
    every: float = 1
    staircase: bool = False
    end: float | None = None

    def __post_init__(self) -> None:
        g = v.positive("exponential", "gamma", self.gamma)
        object.__setattr__(self, "gamma", g)
        object.__setattr__(self, "start", v.rate("exponential", "start", self.start))
        object.__setattr__(self, "every", v.steps("exponential", "every", self.every))
        object.__setattr__(
            self, "staircase", v.boolean("exponential", "staircase", self.staircase)
        )
        if self.end is not None:
            # As optax's end_value: a floor when gamma < 1, a ceiling when gamma > 1 (a floor
            # above start simply holds end from t = 0).
            object.__setattr__(self, "end", v.rate("exponential", "end", self.end))
        elif self.gamma > 1.0 and self.start > 0.0:
            raise v.fail(
                "exponential", "end", self.end,
                f"a ceiling (a finite number >= 0) when gamma > 1 (gamma={self.gamma!r}): a "
                "growth without a ceiling overflows to inf",
            )

    def _sup(self) -> float:
        if self.start == 0.0 or self.gamma == 1.0:
            return self.start
        return max(self.start, self.end or 0.0)  # gamma > 1 always has an end

    def _eval(self, t: Any, xp: Namespace, states: States) -> Any:
        if self.start == 0.0 or self.gamma == 1.0:
            return self.start
        k = floor_div(xp, t, self.every) if self.staircase else t / float(self.every)
        if self.end is not None and self.end > 0.0 and self.gamma > 1.0:
            # Stop the exponent where the ceiling is reached: gamma ** k would overflow.
            k = xp.minimum(k, math.log(self.end / self.start) / math.log(self.gamma) + 1.0)
        out = self.start * xp.power(self.gamma, k)
        if self.end is None:
            return out
        if self.gamma < 1.0:
            return xp.maximum(out, self.end)
        return xp.minimum(out, self.end)

    def _emit(self, e: Emitter, t: str) -> str:
        if self.start == 0.0 or self.gamma == 1.0:
            return e.num(self.start)
        k = e.floor_div(t, self.every) if self.staircase else e.tmp(f"{t} / {e.num(self.every)}")
        if self.end is not None and self.end > 0.0 and self.gamma > 1.0:
            top = math.log(self.end / self.start) / math.log(self.gamma) + 1.0
            k = e.minimum(k, e.num(top))
        out = e.tmp(f"{e.num(self.start)} * {e.power(self.gamma, k)}")
        if self.end is None:
            return out
        if self.gamma < 1.0:
            return e.maximum(out, e.num(self.end))
        return e.minimum(out, e.num(self.end))


@register("polynomial")
@dataclass(frozen=True, repr=False)
class Polynomial(Schedule):
    """s(t) = (start - end) * (1 - x ** k_decay) ** power + end,   x = min(t, steps) / steps

    ``k_decay`` is timm's ``--lr-k-decay`` (1: the usual polynomial decay).
    """

    steps: float
    power: float = 1.0
    start: float = 1.0
    end: float = 0.0
    k_decay: float = 1.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "steps", v.steps("polynomial", "steps", self.steps))
        object.__setattr__(self, "power", v.positive("polynomial", "power", self.power))
        object.__setattr__(self, "start", v.rate("polynomial", "start", self.start))
        object.__setattr__(self, "end", v.rate("polynomial", "end", self.end))
        object.__setattr__(self, "k_decay", v.positive("polynomial", "k_decay", self.k_decay))

    @property
    def duration(self) -> float:
        return float(self.steps)

    def _sup(self) -> float:
        return max(self.start, self.end)

    def _eval(self, t: Any, xp: Namespace, states: States) -> Any:
        x = progress(xp, t, self.steps)
        if self.k_decay != 1.0:
            x = x**self.k_decay
        return affine(self.end, self.start - self.end, (1.0 - x) ** self.power)

    def _emit(self, e: Emitter, t: str) -> str:
        def formula(x: str) -> str:
            if self.k_decay != 1.0:
                x = e.tmp(f"{x} ** {e.num(self.k_decay)}")
            y = e.tmp(f"(1.0 - {x}) ** {e.num(self.power)}")
            return e.affine(self.end, self.start - self.end, y)

        return e.finite(self, t, self.steps, formula)


@register("cosine")
@dataclass(frozen=True, repr=False)
class Cosine(Schedule):
    """s(t) = end + (start - end) * ((1 + cos(pi * x ** k_decay)) / 2) ** exponent,
    x = min(t, steps) / steps

    ``exponent`` is optax's cosine_decay_schedule exponent; ``k_decay`` is timm's
    ``--lr-k-decay`` (both 1: the usual cosine annealing).
    """

    steps: float
    start: float = 1.0
    end: float = 0.0
    exponent: float = 1.0
    k_decay: float = 1.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "steps", v.steps("cosine", "steps", self.steps))
        object.__setattr__(self, "start", v.rate("cosine", "start", self.start))
        object.__setattr__(self, "end", v.rate("cosine", "end", self.end))
        object.__setattr__(self, "exponent", v.positive("cosine", "exponent", self.exponent))
        object.__setattr__(self, "k_decay", v.positive("cosine", "k_decay", self.k_decay))

    @property
    def duration(self) -> float:
        return float(self.steps)

    def _sup(self) -> float:
        return max(self.start, self.end)

    def _eval(self, t: Any, xp: Namespace, states: States) -> Any:
        x = progress(xp, t, self.steps)
        if self.k_decay != 1.0:
            x = x**self.k_decay
        c = 0.5 + 0.5 * xp.cos(x * math.pi)
        if self.exponent != 1.0:
            c = xp.maximum(c, 0.0) ** self.exponent
        return affine(self.end, self.start - self.end, c)

    def _emit(self, e: Emitter, t: str) -> str:
        def formula(x: str) -> str:
            if self.k_decay != 1.0:
                x = e.tmp(f"{x} ** {e.num(self.k_decay)}")
            c = e.tmp(f"0.5 + 0.5 * _cos({x} * {e.num(math.pi)})")
            if self.exponent != 1.0:
                c = e.tmp(f"{e.maximum(c, '0.0')} ** {e.num(self.exponent)}")
            return e.affine(self.end, self.start - self.end, c)

        return e.finite(self, t, self.steps, formula)


@register("inverse_sqrt")
@dataclass(frozen=True, repr=False)
class InverseSqrt(Schedule):
    """s(t) = start / sqrt(1 + t / timescale)"""

    timescale: float
    start: float = 1.0

    def __post_init__(self) -> None:
        ts = v.steps("inverse_sqrt", "timescale", self.timescale)
        object.__setattr__(self, "timescale", ts)
        object.__setattr__(self, "start", v.rate("inverse_sqrt", "start", self.start))

    def _sup(self) -> float:
        return self.start

    def _eval(self, t: Any, xp: Namespace, states: States) -> Any:
        return self.start / xp.sqrt(1.0 + t / float(self.timescale))

    def _emit(self, e: Emitter, t: str) -> str:
        return e.tmp(f"{e.num(self.start)} / _sqrt(1.0 + {t} / {e.num(self.timescale)})")


@register("inverse_time")
@dataclass(frozen=True, repr=False)
class InverseTime(Schedule):
    """s(t) = start / (1 + rate * t / steps)   (floor(t / steps) if staircase)

    Keras' InverseTimeDecay.
    """

    steps: float
    rate: float = 1.0
    start: float = 1.0
    staircase: bool = False

    def __post_init__(self) -> None:
        n = "inverse_time"
        object.__setattr__(self, "steps", v.steps(n, "steps", self.steps))
        object.__setattr__(self, "rate", v.rate(n, "rate", self.rate))
        object.__setattr__(self, "start", v.rate(n, "start", self.start))
        object.__setattr__(self, "staircase", v.boolean(n, "staircase", self.staircase))

    def _sup(self) -> float:
        return self.start

    def _eval(self, t: Any, xp: Namespace, states: States) -> Any:
        if self.rate == 0.0:  # rate * p would be 0 * inf = NaN where t / steps overflows
            return self.start
        p = floor_div(xp, t, self.steps) if self.staircase else t / float(self.steps)
        return self.start / (1.0 + self.rate * p)

    def _emit(self, e: Emitter, t: str) -> str:
        if self.rate == 0.0:
            return e.num(self.start)
        p = e.floor_div(t, self.steps) if self.staircase else e.tmp(f"{t} / {e.num(self.steps)}")
        return e.tmp(f"{e.num(self.start)} / (1.0 + {e.num(self.rate)} * {p})")
