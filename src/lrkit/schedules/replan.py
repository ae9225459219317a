"""Plans that change mid-run: ``cooldown`` (a decay branched from any step of a schedule) and
``splice`` (switch from one plan to another at a step, optionally over a linear ramp).

Both keep the first schedule exactly up to the branch step ``at`` and are closed-form functions
of the global step, so a run that changed its plan resumes exactly from a checkpoint.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from lrkit import _validate as v
from lrkit._xp import PY, Namespace, affine, lift, progress
from lrkit.schedules._base import SCHEDULE, Schedule, States
from lrkit.schedules._registry import register
from lrkit.schedules._scalar import Emitter
from lrkit.schedules.wsd import _DECAY_SHAPES, _FALL_CODE, _fall


def _check_schedule(owner: str, name: str, value: Any) -> None:
    if not isinstance(value, Schedule):
        raise v.fail(owner, name, value, "a schedule")


def _check_span(owner: str, at: float, name: str, span: float) -> None:
    """``at + span`` must be a step after ``at`` in floating point (or span == 0)."""
    if span > 0 and float(at) + float(span) <= float(at):
        raise v.fail(owner, name, span,
                     f"0 or a length that moves past at={at!r} in floating point")


def _value_at(s: Schedule, t: float, states: States) -> float:
    """``s(t)`` for a Python float ``t``, with the given plateau states."""
    return float(s._eval(t, PY, states))


def _frozen_value(node: Schedule, s: Schedule, t: float, states: States, key: str) -> float:
    """``s(t)``: computed once and kept for a stateless ``s``; with plateau states, from them."""
    if not s._n_states:
        cached: float | None = node.__dict__.get(key)
        if cached is None:
            cached = _value_at(s, t, ())
            object.__setattr__(node, key, cached)
        return cached
    return _value_at(s, t, states)


@register("cooldown")
@dataclass(frozen=True, repr=False)
class Cooldown(Schedule):
    """A cooldown branched from step ``at`` of ``schedule``.

    s(t) = schedule(t) for t < at; then end + (schedule(at) - end) * g((t - at) / steps) until
    at + steps, and end after. g is one of wsd's decay shapes: linear 1 - x, cosine
    (1 + cos(pi x)) / 2, 1-sqrt 1 - sqrt(x) (Hagele et al. 2024), exp (0.5 ** x - 0.5) / 0.5.
    ``steps=0`` drops to ``end`` at ``at``.
    """

    schedule: Schedule = field(metadata=SCHEDULE)
    at: float
    steps: float
    end: float = 0.0
    shape: str = "1-sqrt"

    def __post_init__(self) -> None:
        n = "cooldown"
        _check_schedule(n, "schedule", self.schedule)
        object.__setattr__(self, "at", v.steps(n, "at", self.at, allow_zero=True))
        object.__setattr__(self, "steps", v.steps(n, "steps", self.steps, allow_zero=True))
        object.__setattr__(self, "end", v.rate(n, "end", self.end))
        object.__setattr__(self, "shape", v.choice(n, "shape", self.shape, _DECAY_SHAPES))
        _check_span(n, self.at, "steps", self.steps)

    @property
    def duration(self) -> float:
        return float(self.at + self.steps)

    def _sup(self) -> float | None:
        top = self.schedule._sup()  # the cooldown runs between schedule(at) and end
        return None if top is None else max(top, self.end)

    def breakpoints(self) -> tuple[float, ...]:
        at = float(self.at)
        inner = [b for b in self.schedule.breakpoints() if b < at]
        return tuple(sorted({*inner, at, at + float(self.steps)} - {0.0}))

    def _top(self, states: States) -> float:
        return _frozen_value(self, self.schedule, float(self.at), states, "_top_cache")

    def _eval(self, t: Any, xp: Namespace, states: States) -> Any:
        at, steps, end = float(self.at), float(self.steps), self.end
        top = self._top(states)
        if xp is PY:
            if t < at:
                return self.schedule._eval(t, xp, states)
            if t < at + steps:
                return end + (top - end) * _fall(xp, self.shape, (t - at) / steps)
            return end
        before = lift(xp, self.schedule._eval(t, xp, states), t)
        out = xp.full_like(t, end)
        if steps > 0:
            x = progress(xp, xp.maximum(t - at, 0.0), steps)
            down = affine(end, top - end, _fall(xp, self.shape, x))
            out = xp.where(t < at + steps, down, out)
        return xp.where(t < at, before, out)

    def _emit(self, e: Emitter, t: str) -> str:
        if self._n_states:  # the value at `at` depends on the plateau states: generic path
            return e.generic(self, t)
        at, steps, end = float(self.at), float(self.steps), self.end
        top = self._top(())
        r = e.name("r")
        with e.block(f"if {t} < {e.num(at)}:"):
            e.line(f"{r} = {e.emit(self.schedule, t)}")
        if steps > 0:
            with e.block(f"elif {t} < {e.num(at + steps)}:"):
                x = e.tmp(f"({t} - {e.num(at)}) / {e.num(steps)}")
                g = _FALL_CODE[self.shape].format(p=x, pi=e.num(math.pi))
                e.line(f"{r} = {e.num(end)} + {e.num(top - end)} * ({g})")
        with e.block("else:"):
            e.line(f"{r} = {e.num(end)}")
        return r

    def _report(self, t: float, metric: float, states: States, eps: float) -> None:
        if states and t < self.at:  # the schedule is frozen from `at` on
            self.schedule._report(t, metric, states, eps)


@register("splice")
@dataclass(frozen=True, repr=False)
class Splice(Schedule):
    """A change of plan at step ``at``: old(t) for t < at, new(t) for t >= at + ramp (``new`` on
    the global step, not restarted), and in between the straight line from old(at) to
    new(at + ramp): old(at) + (new(at + ramp) - old(at)) * (t - at) / ramp. ``ramp=0`` switches
    at once (a jump where old(at) != new(at)).
    """

    old: Schedule = field(metadata=SCHEDULE)
    new: Schedule = field(metadata=SCHEDULE)
    at: float
    ramp: float = 0

    def __post_init__(self) -> None:
        n = "splice"
        _check_schedule(n, "old", self.old)
        _check_schedule(n, "new", self.new)
        object.__setattr__(self, "at", v.steps(n, "at", self.at, allow_zero=True))
        object.__setattr__(self, "ramp", v.steps(n, "ramp", self.ramp, allow_zero=True))
        _check_span(n, self.at, "ramp", self.ramp)

    def _sup(self) -> float | None:
        a, b = self.old._sup(), self.new._sup()  # the ramp runs between values of both
        return None if a is None or b is None else max(a, b)

    @property
    def duration(self) -> float | None:
        if self.new.is_constant:
            return float(self.at + self.ramp)
        d = self.new.duration
        return None if d is None else max(float(self.at + self.ramp), float(d))

    def breakpoints(self) -> tuple[float, ...]:
        at, to = float(self.at), float(self.at + self.ramp)
        pts = {b for b in self.old.breakpoints() if b < at}
        pts |= {b for b in self.new.breakpoints() if b > to}
        pts |= {at, to}
        return tuple(sorted(pts - {0.0}))

    def _ends(self, states: States) -> tuple[float, float]:
        """old(at) and new(at + ramp), the ends of the ramp."""
        if states:
            old_st, new_st = self._child_states(states)
        else:
            old_st = new_st = ()
        a = _frozen_value(self, self.old, float(self.at), old_st, "_from_cache")
        b = _frozen_value(self, self.new, float(self.at + self.ramp), new_st, "_to_cache")
        return a, b

    def _eval(self, t: Any, xp: Namespace, states: States) -> Any:
        at, ramp = float(self.at), float(self.ramp)
        old_st, new_st = self._child_states(states) if states else ((), ())
        if xp is PY:
            if t < at:
                return self.old._eval(t, xp, old_st)
            if t < at + ramp:
                a, b = self._ends(states)
                return a + (b - a) * ((t - at) / ramp)
            return self.new._eval(t, xp, new_st)
        out = lift(xp, self.new._eval(t, xp, new_st), t)
        if ramp > 0:
            a, b = self._ends(states)
            line = affine(a, b - a, progress(xp, xp.maximum(t - at, 0.0), ramp))
            out = xp.where(t < at + ramp, line, out)
        before = lift(xp, self.old._eval(t, xp, old_st), t)
        return xp.where(t < at, before, out)

    def _emit(self, e: Emitter, t: str) -> str:
        if self._n_states:  # the ramp's ends depend on the plateau states: generic path
            return e.generic(self, t)
        at, ramp = float(self.at), float(self.ramp)
        r = e.name("r")
        with e.block(f"if {t} < {e.num(at)}:"):
            e.line(f"{r} = {e.emit(self.old, t)}")
        if ramp > 0:
            a, b = self._ends(())
            with e.block(f"elif {t} < {e.num(at + ramp)}:"):
                x = e.tmp(f"({t} - {e.num(at)}) / {e.num(ramp)}")
                e.line(f"{r} = {e.num(a)} + {e.num(b - a)} * {x}")
        with e.block("else:"):
            e.line(f"{r} = {e.emit(self.new, t)}")
        return r

    def _report(self, t: float, metric: float, states: States, eps: float) -> None:
        if not states:
            return
        old_st, new_st = self._child_states(states)
        if t < self.at:
            if old_st:
                self.old._report(t, metric, old_st, eps)
        elif new_st:
            self.new._report(t, metric, new_st, eps)


def branches_of(schedule: Schedule) -> tuple[Schedule, list[Splice | Cooldown]]:
    """Unwind a chain of splices and cooldowns: the innermost plan and the changes made to it,
    oldest first (``splice(splice(p, a, at=1), b, at=2)`` gives ``p, [inner, outer]``)."""
    chain: list[Splice | Cooldown] = []
    node = schedule
    while isinstance(node, Splice | Cooldown):
        chain.append(node)
        node = node.old if isinstance(node, Splice) else node.schedule
    chain.reverse()
    return node, chain
