"""Pointwise algebra: ``a * b``, ``a + b``, ``a ** p`` (``p`` a number), ``maximum(a, b)`` and
``minimum(a, b)`` (numbers become ``constant``)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from lrkit import _validate as v
from lrkit._validate import MAX_RATE
from lrkit._xp import Namespace, lift
from lrkit.schedules._base import SCHEDULE, Schedule, States
from lrkit.schedules._registry import register
from lrkit.schedules._scalar import Emitter


def _check(owner: str, name: str, value: Any) -> None:
    if not isinstance(value, Schedule):
        raise ValueError(f"{owner}: {name} must be a schedule; got {value!r}")


def _operand(owner: str, name: str, value: Any) -> Schedule:
    """A schedule, or a number as ``constant(number)`` (rates are never negative)."""
    if isinstance(value, Schedule):
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{owner}: {name} must be a schedule or a number; got {value!r}")
    from lrkit.schedules.basic import Constant

    try:
        return Constant(value)
    except ValueError:
        raise ValueError(
            f"{owner}: {name} must be a schedule or a finite number >= 0; got {value!r}"
        ) from None


class _Pointwise(Schedule):
    left: Schedule
    right: Schedule

    def __post_init__(self) -> None:
        _check(self.name, "left", self.left)
        _check(self.name, "right", self.right)
        a, b = self.left._sup(), self.right._sup()
        if a is not None and b is not None:
            top = self._bound(a, b)
            if not top <= MAX_RATE:
                raise ValueError(
                    f"{self.name}: {self.left} {self.symbol} {self.right} can reach "
                    f"{a!r} {self.symbol} {b!r} = {top!r}, beyond the largest rate "
                    f"{MAX_RATE:.4g} (float32's largest); allowed: operands whose maxima "
                    f"{'multiply' if self.symbol == '*' else 'add'} to at most that"
                )

    symbol = ""

    def _bound(self, a: float, b: float) -> float:
        """The operation's upper bound from its operands' (``_sup``)."""
        raise NotImplementedError

    def _sup(self) -> float | None:
        a, b = self.left._sup(), self.right._sup()
        return None if a is None or b is None else self._bound(a, b)

    @property
    def duration(self) -> float | None:
        ends: list[float] = []
        for c in (self.left, self.right):
            if c.is_constant:
                continue
            d = c.duration
            if d is None:
                return None
            ends.append(d)
        return max(ends) if ends else None

    @property
    def is_constant(self) -> bool:
        return self.left.is_constant and self.right.is_constant

    def breakpoints(self) -> tuple[float, ...]:
        return tuple(sorted(set(self.left.breakpoints()) | set(self.right.breakpoints())))

    def _eval(self, t: Any, xp: Namespace, states: States) -> Any:
        if states:
            sl, sr = self._child_states(states)
        else:
            sl = sr = ()
        return self._combine(self.left._eval(t, xp, sl), self.right._eval(t, xp, sr), xp, t)

    def _emit(self, e: Emitter, t: str) -> str:
        return e.tmp(self._source(e.emit(self.left, t), e.emit(self.right, t)))

    def _combine(self, a: Any, b: Any, xp: Namespace, t: Any) -> Any:
        """The operation on the two values (any array family)."""
        raise NotImplementedError

    def _source(self, a: str, b: str) -> str:
        """The same operation as Python source, for the scalar path."""
        raise NotImplementedError


@register("mul")
@dataclass(frozen=True, repr=False)
class Mul(_Pointwise):
    """s(t) = left(t) * right(t)   (written ``a * b``; a number is a constant)"""

    left: Schedule = field(metadata=SCHEDULE)
    right: Schedule = field(metadata=SCHEDULE)

    symbol = "*"

    def _bound(self, a: float, b: float) -> float:
        return a * b

    def _combine(self, a: Any, b: Any, xp: Namespace, t: Any) -> Any:
        return a * b

    def _source(self, a: str, b: str) -> str:
        return f"{a} * {b}"


@register("add")
@dataclass(frozen=True, repr=False)
class Add(_Pointwise):
    """s(t) = left(t) + right(t)   (written ``a + b``; a number is a constant)"""

    left: Schedule = field(metadata=SCHEDULE)
    right: Schedule = field(metadata=SCHEDULE)

    symbol = "+"

    def _bound(self, a: float, b: float) -> float:
        return a + b

    def _combine(self, a: Any, b: Any, xp: Namespace, t: Any) -> Any:
        return a + b

    def _source(self, a: str, b: str) -> str:
        return f"{a} + {b}"


class _Extremum(_Pointwise):
    """Shared by ``maximum`` and ``minimum``: a number operand becomes a constant and prints as
    the bare number (``maximum(cosine(steps=100), 0.1)``)."""

    bare_constants = True
    keep_left = ">="
    """Python comparison under which the left value is the result."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "left", _operand(self.name, "left", self.left))
        object.__setattr__(self, "right", _operand(self.name, "right", self.right))

    def _bound(self, a: float, b: float) -> float:
        return max(a, b) if self.keep_left == ">=" else min(a, b)

    def _combine(self, a: Any, b: Any, xp: Namespace, t: Any) -> Any:
        if xp.is_python:
            return a if (a >= b if self.keep_left == ">=" else a <= b) else b
        a, b = lift(xp, a, t), lift(xp, b, t)
        return xp.where(a >= b if self.keep_left == ">=" else a <= b, a, b)

    def _source(self, a: str, b: str) -> str:
        return f"{a} if {a} {self.keep_left} {b} else {b}"


@register("maximum")
@dataclass(frozen=True, repr=False)
class Maximum(_Extremum):
    """s(t) = max(left(t), right(t))   (``maximum(s, 0.1)``: s with a floor at 0.1)"""

    left: Schedule = field(metadata=SCHEDULE)
    right: Schedule = field(metadata=SCHEDULE)


@register("minimum")
@dataclass(frozen=True, repr=False)
class Minimum(_Extremum):
    """s(t) = min(left(t), right(t))   (``minimum(s, 0.5)``: s with a ceiling at 0.5)"""

    left: Schedule = field(metadata=SCHEDULE)
    right: Schedule = field(metadata=SCHEDULE)

    keep_left = "<="


def _power(x: Any, p: float, xp: Namespace) -> Any:
    """``x ** p`` for ``x >= 0``: exact for ``p`` in 0, 1, 2 and correctly rounded for 0.5 (a
    square root) in every family; inf on overflow (Python raises ``OverflowError`` instead)."""
    if p == 1:
        return x
    if p == 0:
        return 1.0
    if p == 2:
        return x * x
    if xp.is_python or isinstance(x, float | int):  # a constant under an array family
        if p == 0.5:
            return math.sqrt(x)
        try:
            return float(x**p)
        except OverflowError:
            return math.inf
    return xp.sqrt(x) if p == 0.5 else x ** float(p)


@register("pow")
@dataclass(frozen=True, repr=False)
class Pow(Schedule):
    """s(t) = base(t) ** exponent   (written ``a ** 0.5``; the exponent is a number >= 0)

    Rescales a rate by a power of another schedule: ``(batch / 1024) ** 0.5`` is the square-root
    rule for Adam, ``** 1`` the linear rule for SGD (see ``batch_rampup``).
    """

    base: Schedule = field(metadata=SCHEDULE)
    exponent: float

    def __post_init__(self) -> None:
        _check("pow", "base", self.base)
        object.__setattr__(
            self, "exponent", v.steps("pow", "exponent", self.exponent, allow_zero=True)
        )
        top = self._sup()
        if top is not None and not top <= MAX_RATE:
            raise ValueError(
                f"pow: {self.base} ** {self.exponent!r} can reach {self.base._sup()!r} ** "
                f"{self.exponent!r}, beyond the largest rate {MAX_RATE:.4g} (float32's largest); "
                "allowed: a base and exponent whose power stays at most that")

    def _sup(self) -> float | None:
        a = self.base._sup()
        if a is None:
            return None
        if self.exponent == 0:
            return 1.0
        try:
            return float(a**self.exponent)  # x ** p grows with x >= 0 for p > 0
        except OverflowError:
            return float("inf")

    @property
    def duration(self) -> float | None:
        return None if self.base.is_constant else self.base.duration

    @property
    def is_constant(self) -> bool:
        return self.base.is_constant

    def breakpoints(self) -> tuple[float, ...]:
        return self.base.breakpoints()

    def _eval(self, t: Any, xp: Namespace, states: States) -> Any:
        return _power(self.base._eval(t, xp, states), self.exponent, xp)

    def _emit(self, e: Emitter, t: str) -> str:
        x = e.emit(self.base, t)
        p = self.exponent
        if p == 1:
            return x
        if p == 0:
            return "1.0"
        if p == 2:
            return e.tmp(f"{x} * {x}")
        if p == 0.5:
            return e.tmp(f"_sqrt({x})")
        return e.tmp(f"_pow({x}, {e.num(p)})")
