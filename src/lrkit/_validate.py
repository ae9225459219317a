"""Construction-time checks. Every failure is a ``ValueError`` naming the parameter, the value
received and what is allowed."""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any


class WrongTypeError(TypeError, ValueError):
    """A value of the wrong type. A ``TypeError``, as Python raises for one, and a ``ValueError``,
    so that ``except ValueError`` catches every bad input lrkit reports."""

    if not TYPE_CHECKING:
        # Exception's own __init__: TensorFlow's autograph re-raises an error from inside a
        # tf.function as its own type only then (otherwise as a StagingError, not a ValueError).
        __init__ = Exception.__init__


class ParameterError(ValueError):
    """A bad value for one named parameter; ``parameter`` names it (the spec parser puts its
    caret under that argument)."""

    parameter: str | None = None

    if not TYPE_CHECKING:
        __init__ = Exception.__init__


MAX_RATE = 3.4028234663852886e38
"""The largest rate a schedule may reach: float32's largest number, so that every value is
finite in every array family (Python and numpy float64, float32 tensors)."""


def _describe(value: Any) -> str:
    try:
        text = repr(value)
    except Exception:  # a broken __repr__ must not hide the real error
        text = f"<{type(value).__name__}>"
    return text if len(text) <= 200 else text[:197] + "..."


def fail(owner: str, name: str, value: Any, allowed: str) -> ValueError:
    exc = ParameterError(f"{owner}: {name} must be {allowed}; got {_describe(value)}")
    exc.parameter = name
    return exc


METRIC_ALLOWED = "a real number within float range (NaN counts as no improvement), or a " \
    "one-element tensor or array"


def metric(owner: str, value: Any) -> float:
    """A reported metric: a real number or a one-element tensor/array (NaN allowed: it counts as
    no improvement, torch's rule)."""
    allowed = METRIC_ALLOWED
    if not isinstance(value, numbers.Real) and not hasattr(value, "item"):
        to_numpy = getattr(value, "numpy", None)  # TensorFlow eager tensors and variables
        if callable(to_numpy):
            original = value
            try:
                value = to_numpy()
            except (ValueError, RuntimeError, TypeError, AttributeError, NotImplementedError):
                raise fail(owner, "metric", original, allowed) from None
    if not isinstance(value, numbers.Real) and callable(getattr(value, "item", None)):
        try:
            value = value.item()
        except (ValueError, RuntimeError, TypeError):
            raise fail(owner, "metric", value, allowed) from None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise fail(owner, "metric", value, allowed)
    try:
        out = float(value)
    except (OverflowError, ValueError, TypeError):  # 10**400, Fraction(10**400, 1)...
        raise fail(owner, "metric", value, allowed) from None
    if math.isinf(out) and not _infinite(value):  # a finite number beyond float range
        raise fail(owner, "metric", value, allowed)
    return out


def _infinite(value: Any) -> bool:
    """True if ``value`` itself is infinite (not a finite number that rounds to inf)."""
    try:
        return math.isinf(value)
    except (OverflowError, TypeError, ValueError):
        return False


def number(owner: str, name: str, value: Any) -> float:
    """A finite real number (bool rejected)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise fail(owner, name, value, "a finite real number")
    try:
        f = float(value)
    except (OverflowError, ValueError, TypeError):
        raise fail(owner, name, value, "a finite real number") from None
    if not math.isfinite(f):
        raise fail(owner, name, value, "a finite real number")
    return f


def steps(owner: str, name: str, value: Any, *, allow_zero: bool = False) -> int | float:
    """A finite step count: > 0 (or >= 0); integral values below 2**53 are stored as int
    (larger ones stay floats, so that sums of them overflow to inf, not to an int no float
    holds)."""
    v = number(owner, name, value)
    if v < 0 or (v == 0 and not allow_zero):
        allowed = "a finite number >= 0" if allow_zero else "a finite number > 0"
        raise fail(owner, name, value, allowed)
    return int(v) if v.is_integer() and v <= 2.0**53 else v


def integer(owner: str, name: str, value: Any, *, minimum: int = 0) -> int:
    v = number(owner, name, value)
    if not v.is_integer() or v < minimum:
        raise fail(owner, name, value, f"an integer >= {minimum}")
    return int(v)


RATE_ALLOWED = f"a finite number from 0 to {MAX_RATE:.4g} (rates are never negative, and " \
    "float32 holds none larger)"


def rate(owner: str, name: str, value: Any) -> float:
    """A finite rate, 0 <= rate <= MAX_RATE."""
    v = number(owner, name, value)
    if not 0.0 <= v <= MAX_RATE:
        raise fail(owner, name, value, RATE_ALLOWED)
    return v


def positive(owner: str, name: str, value: Any) -> float:
    v = number(owner, name, value)
    if v <= 0:
        raise fail(owner, name, value, "a finite number > 0")
    return v


def in_range(
    owner: str, name: str, value: Any, lo: float, hi: float, *, lo_open: bool, hi_open: bool
) -> float:
    v = number(owner, name, value)
    ok_lo = v > lo if lo_open else v >= lo
    ok_hi = v < hi if hi_open else v <= hi
    if not (ok_lo and ok_hi):
        lb = "(" if lo_open else "["
        rb = ")" if hi_open else "]"
        raise fail(owner, name, value, f"in {lb}{lo:g}, {hi:g}{rb}")
    return v


def choice(owner: str, name: str, value: Any, options: Sequence[str]) -> str:
    if not isinstance(value, str) or value not in options:
        allowed = "one of " + ", ".join(repr(o) for o in options)
        raise fail(owner, name, value, allowed)
    return value


def boolean(owner: str, name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise fail(owner, name, value, "True or False")
    return value


def sequence(owner: str, name: str, value: Any) -> tuple[Any, ...]:
    """A list, tuple or other iterable (a string is not a list of its characters)."""
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise fail(owner, name, value, "a list")
    return tuple(value)
