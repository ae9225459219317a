"""Schedules that change the clock of another: ``shift`` (start part-way into it) and
``staircase`` (hold each value for ``every`` steps)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from lrkit import _validate as v
from lrkit._xp import INTEGRAL, MAX_FLOAT, PY, Namespace, floor_div
from lrkit.schedules._base import SCHEDULE, Schedule, States
from lrkit.schedules._registry import register
from lrkit.schedules._scalar import Emitter


def _ceil_to(b: float, k: float) -> float:
    """The first multiple of ``k`` at or after ``b``; ``b`` itself where ``b / k`` is beyond
    2**52 (every float there is an integer; ``math.ceil`` raises at inf)."""
    q = b / k
    if q >= INTEGRAL:
        return b
    up = k * math.ceil(q)
    return up if math.isfinite(up) else b


def _check_schedule(owner: str, value: Any) -> None:
    if not isinstance(value, Schedule):
        raise v.fail(owner, "schedule", value, "a schedule")


@register("shift")
@dataclass(frozen=True, repr=False)
class Shift(Schedule):
    """s(t) = schedule(t + steps)

    The decay of a recipe that runs on the global step under an overlapping warmup (timm without
    ``warmup_prefix``, the original BERT, Detectron2), or that starts part-way into its curve.
    """

    schedule: Schedule = field(metadata=SCHEDULE)
    steps: float

    def __post_init__(self) -> None:
        _check_schedule("shift", self.schedule)
        object.__setattr__(self, "steps", v.steps("shift", "steps", self.steps, allow_zero=True))

    @property
    def duration(self) -> float | None:
        if self.schedule.is_constant:
            return None
        d = self.schedule.duration
        return None if d is None else max(d - self.steps, 0.0)

    @property
    def is_constant(self) -> bool:
        return self.schedule.is_constant

    def breakpoints(self) -> tuple[float, ...]:
        return tuple(b - self.steps for b in self.schedule.breakpoints() if b > self.steps)

    def _sup(self) -> float | None:
        return self.schedule._sup()

    def _eval(self, t: Any, xp: Namespace, states: States) -> Any:
        if not self.steps:
            return self.schedule._eval(t, xp, states)
        # capped at the largest float: t + steps may overflow, and no schedule takes inf
        return self.schedule._eval(xp.cap(t + float(self.steps)), xp, states)

    def _emit(self, e: Emitter, t: str) -> str:
        if not self.steps:
            return e.emit(self.schedule, t)
        local = e.minimum(e.tmp(f"{t} + {e.num(self.steps)}"), e.num(MAX_FLOAT))
        return e.emit(self.schedule, local)

    def _report(self, t: float, metric: float, states: States, eps: float) -> None:
        if states:
            self.schedule._report(min(t + self.steps, MAX_FLOAT), metric, states, eps)


@register("staircase")
@dataclass(frozen=True, repr=False)
class Staircase(Schedule):
    """s(t) = schedule(every * floor(t / every))

    Holds each value for ``every`` steps: a per-epoch schedule inside a per-iteration one (YOLO's
    LambdaLR stepped per epoch under a per-iteration warmup). Exact at multiples of ``every`` in
    every array family, float32 under XLA included.
    """

    schedule: Schedule = field(metadata=SCHEDULE)
    every: float

    def __post_init__(self) -> None:
        _check_schedule("staircase", self.schedule)
        object.__setattr__(self, "every", v.steps("staircase", "every", self.every))

    @property
    def duration(self) -> float | None:
        if self.schedule.is_constant:
            return None
        d = self.schedule.duration
        end = None if d is None else _ceil_to(d, float(self.every))
        return end if end is None or math.isfinite(end) else None

    @property
    def is_constant(self) -> bool:
        return self.schedule.is_constant

    def breakpoints(self) -> tuple[float, ...]:
        k = float(self.every)
        return tuple(sorted({_ceil_to(b, k) for b in self.schedule.breakpoints()}))

    def _sup(self) -> float | None:
        return self.schedule._sup()

    def _held(self, t: Any, xp: Namespace) -> Any:
        k = float(self.every)
        held = floor_div(xp, t, k) * k
        # t itself where t / every overflows (every tiny): the floor is inf there
        return xp.where(held <= t, held, t)

    def _eval(self, t: Any, xp: Namespace, states: States) -> Any:
        return self.schedule._eval(self._held(t, xp), xp, states)

    def _emit(self, e: Emitter, t: str) -> str:
        q = e.floor_div(t, self.every)
        held = e.tmp(f"{q} * {e.num(self.every)}")
        return e.emit(self.schedule, e.tmp(f"{held} if {held} <= {t} else {t}"))

    def _report(self, t: float, metric: float, states: States, eps: float) -> None:
        if states:
            self.schedule._report(self._held(t, PY), metric, states, eps)
