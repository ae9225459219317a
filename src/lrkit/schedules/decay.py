"""Decay schedules: step, multistep, exponential, polynomial, cosine, inverse square root."""

from __future__ import annotations

import bisect
import itertools
import math
from dataclasses import dataclass
from typing import Any

from lrkit import _validate as v
from lrkit._xp import Namespace, floor_div
from lrkit.schedules._base import Schedule, States
from lrkit.schedules._registry import register


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

    def _eval(self, t: Any, xp: Namespace, states: States) -> Any:
        return self.start * xp.power(self.gamma, floor_div(xp, t, self.step_size))


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

    def _eval(self, t: Any, xp: Namespace, states: States) -> Any:
        if xp.is_python:
            return self.start * self.gamma ** bisect.bisect_right(self.milestones, t)
        n = xp.where(t >= self.milestones[0], 1.0, 0.0)
        for m in self.milestones[1:]:
            n = n + xp.where(t >= m, 1.0, 0.0)
        return self.start * xp.power(self.gamma, n)


@register("exponential")
@dataclass(frozen=True, repr=False)
class Exponential(Schedule):
    """s(t) = start * gamma ** (t / every), floor(t / every) if staircase; ``end`` bounds it
    (a floor when gamma < 1, a ceiling when gamma > 1)."""

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
            end = v.rate("exponential", "end", self.end)
            if g < 1.0 and end > self.start:
                raise v.fail(
                    "exponential", "end", self.end,
                    f"<= start ({self.start!r}): with gamma < 1 it is a floor",
                )
            if g > 1.0 and end < self.start:
                raise v.fail(
                    "exponential", "end", self.end,
                    f">= start ({self.start!r}): with gamma > 1 it is a ceiling",
                )
            object.__setattr__(self, "end", end)

    def _eval(self, t: Any, xp: Namespace, states: States) -> Any:
        k = floor_div(xp, t, self.every) if self.staircase else t / self.every
        out = self.start * xp.power(self.gamma, k)
        if self.end is None:
            return out
        if self.gamma < 1.0:
            return xp.maximum(out, self.end)
        return xp.minimum(out, self.end)


@register("polynomial")
@dataclass(frozen=True, repr=False)
class Polynomial(Schedule):
    """s(t) = (start - end) * (1 - min(t, steps) / steps) ** power + end"""

    steps: float
    power: float = 1.0
    start: float = 1.0
    end: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "steps", v.steps("polynomial", "steps", self.steps))
        object.__setattr__(self, "power", v.positive("polynomial", "power", self.power))
        object.__setattr__(self, "start", v.rate("polynomial", "start", self.start))
        object.__setattr__(self, "end", v.rate("polynomial", "end", self.end))

    @property
    def duration(self) -> float:
        return float(self.steps)

    def _eval(self, t: Any, xp: Namespace, states: States) -> Any:
        frac = 1.0 - xp.minimum(t, self.steps) / self.steps
        return (self.start - self.end) * frac**self.power + self.end


@register("cosine")
@dataclass(frozen=True, repr=False)
class Cosine(Schedule):
    """s(t) = end + (start - end) * (1 + cos(pi * min(t, steps) / steps)) / 2"""

    steps: float
    start: float = 1.0
    end: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "steps", v.steps("cosine", "steps", self.steps))
        object.__setattr__(self, "start", v.rate("cosine", "start", self.start))
        object.__setattr__(self, "end", v.rate("cosine", "end", self.end))

    @property
    def duration(self) -> float:
        return float(self.steps)

    def _eval(self, t: Any, xp: Namespace, states: States) -> Any:
        x = (xp.minimum(t, self.steps) / self.steps) * math.pi
        return self.end + (self.start - self.end) * (0.5 + 0.5 * xp.cos(x))


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

    def _eval(self, t: Any, xp: Namespace, states: States) -> Any:
        return self.start / xp.sqrt(1.0 + t / self.timescale)
