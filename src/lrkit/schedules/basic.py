"""The simplest schedules: ``constant`` and ``linear``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lrkit import _validate as v
from lrkit._xp import Namespace, affine, progress
from lrkit.schedules._base import Schedule, States
from lrkit.schedules._registry import register
from lrkit.schedules._scalar import Emitter


@register("constant")
@dataclass(frozen=True, repr=False)
class Constant(Schedule):
    """s(t) = value"""

    value: float = 1.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "value", v.rate("constant", "value", self.value))

    @property
    def is_constant(self) -> bool:
        return True

    def _sup(self) -> float:
        return self.value

    def _eval(self, t: Any, xp: Namespace, states: States) -> Any:
        return self.value

    def _emit(self, e: Emitter, t: str) -> str:
        return e.num(self.value)


@register("linear")
@dataclass(frozen=True, repr=False)
class Linear(Schedule):
    """s(t) = start + (end - start) * min(t, steps) / steps"""

    start: float
    end: float
    steps: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "start", v.rate("linear", "start", self.start))
        object.__setattr__(self, "end", v.rate("linear", "end", self.end))
        object.__setattr__(self, "steps", v.steps("linear", "steps", self.steps))

    @property
    def duration(self) -> float:
        return float(self.steps)

    def _sup(self) -> float:
        return max(self.start, self.end)

    def _eval(self, t: Any, xp: Namespace, states: States) -> Any:
        return affine(self.start, self.end - self.start, progress(xp, t, self.steps))

    def _emit(self, e: Emitter, t: str) -> str:
        return e.finite(self, t, self.steps,
                        lambda x: e.affine(self.start, self.end - self.start, x))
