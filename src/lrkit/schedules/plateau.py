"""Metric-driven decay: ``plateau``, with torch's ReduceLROnPlateau rules, framework-free.

The schedule is an immutable description; its state (best metric, bad-epoch count, cooldown,
number of reductions) lives in a ``PlateauState`` owned by a driver (``lrkit.Stepper``,
``lrkit.torch.LRScheduler``). The value is closed form in the number of reductions n:
max(start * factor ** n, min_value).
"""

from __future__ import annotations

import math
import numbers
import operator
from dataclasses import asdict, dataclass
from typing import Any

from lrkit import _validate as v
from lrkit._xp import Namespace
from lrkit.schedules._base import Schedule, StatefulScheduleError, States
from lrkit.schedules._registry import register
from lrkit.schedules._scalar import Emitter


@dataclass
class PlateauState:
    """The mutable state of one ``plateau`` node (plain data)."""

    best: float
    num_bad_epochs: int = 0
    cooldown_counter: int = 0
    reductions: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Any, plateau: Plateau | None = None) -> PlateauState:
        """The state ``to_dict`` wrote, checked: ``best`` a real number (NaN refused; +-inf only
        as a fresh state's), the counts integers from 0 to ``MAX_COUNT`` (no silent truncation
        of 2.9). With ``plateau``, also within its ``patience`` and ``cooldown`` and ``best``
        not the other mode's infinity. A ``ValueError`` naming the key otherwise."""
        keys = ("best", "num_bad_epochs", "cooldown_counter", "reductions")
        if not isinstance(d, dict) or set(d) != set(keys):
            shown = v._describe(d)
            raise ValueError(
                "plateau state must be a dict with keys best, num_bad_epochs, cooldown_counter, "
                f"reductions; got {shown}"
            )
        owner = "plateau state"
        best = d["best"]
        if isinstance(best, bool) or not isinstance(best, numbers.Real):
            raise v.fail(owner, "best", best, "a real number (inf or -inf for a fresh state)")
        try:
            best = float(best)
        except OverflowError:
            raise v.fail(owner, "best", d["best"], "a real number within float range") from None
        if math.isnan(best):
            raise v.fail(owner, "best", best,
                         "a real number (NaN would stop every later improvement)")
        counts = {k: _count(owner, k, d[k]) for k in keys[1:]}
        if plateau is not None:
            fresh = math.inf if plateau.mode == "min" else -math.inf
            if math.isinf(best) and best != fresh:
                raise v.fail(owner, "best", best,
                             f"finite, or {fresh!r} (a fresh state in mode {plateau.mode!r})")
            if counts["num_bad_epochs"] > plateau.patience:
                raise v.fail(owner, "num_bad_epochs", counts["num_bad_epochs"],
                             f"an integer from 0 to patience = {plateau.patience}")
            if counts["cooldown_counter"] > plateau.cooldown:
                raise v.fail(owner, "cooldown_counter", counts["cooldown_counter"],
                             f"an integer from 0 to cooldown = {plateau.cooldown}")
        return cls(best=best, **counts)


MAX_COUNT = 2**53
"""The largest count a plateau state holds (floats count exactly up to here)."""


def _count(owner: str, name: str, value: Any) -> int:
    allowed = "an integer from 0 to 2**53 (no fraction: nothing is truncated)"
    if isinstance(value, bool) or not isinstance(value, numbers.Real):  # numpy ints included
        raise v.fail(owner, name, value, allowed)
    if not isinstance(value, numbers.Integral):
        try:
            whole = float(value).is_integer()
        except (OverflowError, ValueError):
            whole = False
        if not whole:
            raise v.fail(owner, name, value, allowed)
    n = operator.index(value) if isinstance(value, numbers.Integral) else int(float(value))
    if not 0 <= n <= MAX_COUNT:
        raise v.fail(owner, name, value, allowed)
    return n


@register("plateau")
@dataclass(frozen=True, repr=False)
class Plateau(Schedule):
    """Reduce on plateau: s = max(start * factor**n, min_value), n = reductions so far.

    torch's ReduceLROnPlateau rules: one more reduction after more than ``patience`` reported
    metrics without an improvement beyond ``threshold``, then ``cooldown`` metrics ignored.
    """

    factor: float = 0.1
    patience: int = 10
    mode: str = "min"
    threshold: float = 1e-4
    threshold_mode: str = "rel"
    cooldown: int = 0
    min_value: float = 0.0
    start: float = 1.0

    def __post_init__(self) -> None:
        n = "plateau"
        f = v.in_range(n, "factor", self.factor, 0.0, 1.0, lo_open=True, hi_open=True)
        object.__setattr__(self, "factor", f)
        object.__setattr__(self, "patience", v.integer(n, "patience", self.patience))
        object.__setattr__(self, "mode", v.choice(n, "mode", self.mode, ("min", "max")))
        th = v.number(n, "threshold", self.threshold)
        if th < 0:
            raise v.fail(n, "threshold", self.threshold, "a finite number >= 0")
        object.__setattr__(self, "threshold", th)
        tm = v.choice(n, "threshold_mode", self.threshold_mode, ("rel", "abs"))
        object.__setattr__(self, "threshold_mode", tm)
        object.__setattr__(self, "cooldown", v.integer(n, "cooldown", self.cooldown))
        object.__setattr__(self, "start", v.rate(n, "start", self.start))
        mv = v.rate(n, "min_value", self.min_value)
        if mv > self.start:
            raise v.fail(n, "min_value", self.min_value, f"<= start ({self.start!r})")
        object.__setattr__(self, "min_value", mv)

    @property
    def _n_states(self) -> int:
        return 1

    def _initial_states(self) -> list[Any]:
        return [PlateauState(best=math.inf if self.mode == "min" else -math.inf)]

    def _sup(self) -> float:
        return self.start

    def value_after(self, reductions: int) -> float:
        """max(start * factor ** reductions, min_value)"""
        return max(self.start * self.factor**reductions, self.min_value)

    def _eval(self, t: Any, xp: Namespace, states: States) -> Any:
        if not states:
            raise StatefulScheduleError(
                "plateau() depends on reported metrics; drive it with lrkit.Stepper or "
                "lrkit.torch.LRScheduler"
            )
        state: PlateauState = states[0]
        return self.value_after(state.reductions)

    def _emit(self, e: Emitter, t: str) -> str:
        index = e.state
        e.states(self)  # claims this plateau's state
        v = e.tmp(f"{e.num(self.start)} * {e.num(self.factor)} ** s[{index}].reductions")
        low = e.num(self.min_value)
        return e.tmp(f"{low} if {low} > {v} else {v}")  # max(v, min_value)

    def is_better(self, metric: float, best: float) -> bool:
        """torch's rule: rel/min a < best*(1-th); abs/min a < best-th; max mirrored."""
        if self.mode == "min":
            if self.threshold_mode == "rel":
                return metric < best * (1.0 - self.threshold)
            return metric < best - self.threshold
        if self.threshold_mode == "rel":
            return metric > best * (self.threshold + 1.0)
        return metric > best + self.threshold

    def _report(self, t: float, metric: float, states: States, eps: float) -> None:
        state: PlateauState = states[0]
        if self.is_better(metric, state.best):
            state.best = metric
            state.num_bad_epochs = 0
        else:
            state.num_bad_epochs += 1
        if state.cooldown_counter > 0:
            state.cooldown_counter -= 1
            state.num_bad_epochs = 0
        if state.num_bad_epochs > self.patience:
            old = self.value_after(state.reductions)
            if old - self.value_after(state.reductions + 1) > eps:
                state.reductions += 1
            state.cooldown_counter = self.cooldown
            state.num_bad_epochs = 0
