"""Batch-size schedules: ``batch_rampup``, Megatron-LM's ``--rampup-batch-size``.

The value is a global batch size, not a rate: evaluate it on the samples (or tokens) consumed so
far to get the next step's batch, and rescale a rate by it with the algebra,
``lr * (batch_rampup(...) * (1 / end)) ** 0.5`` (docs/strategies/batch-rampup.md).
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from typing import Any

from lrkit import _validate as v
from lrkit._xp import Namespace, NumpyMath, affine
from lrkit.schedules._base import Schedule, States
from lrkit.schedules._registry import register
from lrkit.schedules._scalar import Emitter

_EXACT = 2**53
"""Largest integer parameter accepted: every count up to it is exact in float64."""


def _count(owner: str, name: str, value: Any) -> int:
    n = v.number(owner, name, value)
    if not n.is_integer() or not 1 <= n <= _EXACT:
        raise v.fail(owner, name, value, "an integer >= 1 and <= 2**53")
    return int(n)


def _stage(t: float, per: float) -> int:
    """Megatron's stage index, ``int(consumed_samples / rampup_samples_per_increment)``."""
    return math.floor(t / per)


def _threshold(k: int, per: float, past: float) -> float:
    """The smallest float64 ``t`` with ``_stage(t, per) >= k``, at most ``past`` (the first step
    past the ramp, where Megatron switches to the final batch size whatever the division says).
    The float division is monotonic in ``t``, so a walk of a few ulps from ``k * per`` finds it.
    """
    x = min(k * per, past)
    while x > 0.0 and _stage(math.nextafter(x, -math.inf), per) >= k:
        x = math.nextafter(x, -math.inf)
    while _stage(x, per) < k and x < past:
        x = math.nextafter(x, math.inf)
    return min(x, past)


def _ceil_float32(x: float) -> float:
    """The smallest float32 number >= ``x`` (``inf`` past float32's range)."""
    try:
        (f,) = struct.unpack("f", struct.pack("f", x))
    except OverflowError:
        return math.inf
    if f < x:
        (bits,) = struct.unpack("I", struct.pack("f", f))
        (f,) = struct.unpack("f", struct.pack("I", bits + 1))  # x > 0: the next float32 up
    return float(f)


_TABLES: dict[tuple[int, int], tuple[tuple[float, ...], tuple[float, ...]]] = {}
"""``_thresholds``' results (a plain dict: torch.compile traces through ``functools`` caches)."""


def _thresholds(samples: int, n: int) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Where each of the ``n`` increments happens: float64 steps, and the same rounded up to
    float32 (a float32 step reaches a threshold exactly when it reaches the float32 one)."""
    key = (samples, n)
    out = _TABLES.get(key)
    if out is None:
        per = samples / n
        past = math.nextafter(float(samples), math.inf)
        f64 = tuple(_threshold(k, per, past) for k in range(1, n + 1))
        out = (f64, tuple(_ceil_float32(x) for x in f64))
        if len(_TABLES) >= 32:
            _TABLES.clear()
        _TABLES[key] = out
    return out


@register("batch_rampup")
@dataclass(frozen=True, repr=False)
class BatchRampup(Schedule):
    """s(t) = end if t > samples else start + increment * floor(t / (samples / n)),
    with n = (end - start) / increment

    The global batch size after ``t`` consumed samples under Megatron-LM's
    ``--rampup-batch-size start increment samples`` and ``--global-batch-size end``: ``n`` equal
    increments of ``increment``, one every ``samples / n`` samples (a float division, then the
    integer part, as Megatron computes it), and ``end`` once more than ``samples`` have been
    consumed. ``t`` counts whatever unit the ramp is written in (samples or tokens); the value is
    a batch size, not a rate.
    """

    start: int
    increment: int
    samples: int
    end: int

    def __post_init__(self) -> None:
        name = "batch_rampup"
        start = _count(name, "start", self.start)
        increment = _count(name, "increment", self.increment)
        samples = _count(name, "samples", self.samples)
        end = _count(name, "end", self.end)
        if end <= start:
            raise v.fail(name, "end", self.end,
                         f"greater than start ({start}): a batch size that never grows is "
                         f"constant({end})")
        if (end - start) % increment:
            raise v.fail(name, "increment", self.increment,
                         f"a divisor of end - start ({end} - {start} = {end - start})")
        for key, value in (("start", start), ("increment", increment), ("samples", samples),
                           ("end", end)):
            object.__setattr__(self, key, value)

    @property
    def increments(self) -> int:
        """n: how many times the batch grows, ``(end - start) / increment``."""
        return (self.end - self.start) // self.increment

    @property
    def _per(self) -> float:
        """Megatron's ``rampup_samples_per_increment``: ``samples / n`` in floating point."""
        return self.samples / self.increments

    def _sup(self) -> float:
        return float(self.end)  # the batch only grows, up to end

    @property
    def duration(self) -> float:
        """The first step at the final batch size (``samples``, or a float next to it when the
        division rounds below the last increment there)."""
        return _threshold(self.increments, self._per, math.nextafter(self.samples, math.inf))

    def _eval(self, t: Any, xp: Namespace, states: States) -> Any:
        if xp.is_python:
            if t > self.samples:
                return float(self.end)
            return self.start + self.increment * float(_stage(t, self._per))
        if isinstance(xp, NumpyMath):  # float64: Megatron's own division, element-wise
            q = xp.floor(t / self._per)
            return xp.where(t > self.samples, float(self.end), self.start + self.increment * q)
        # torch, jax, TensorFlow: float32 steps and compilers that divide by multiplying with
        # the reciprocal would move the stage boundaries; compare with exact thresholds instead.
        f64, f32 = _thresholds(self.samples, self.increments)
        return affine(float(self.start), float(self.increment), xp.count_reached(t, f64, f32))

    def _emit(self, e: Emitter, t: str) -> str:
        per = e.num(self._per)
        return e.choose(
            f"{t} > {e.num(self.samples)}",
            lambda: e.num(self.end),
            lambda: e.tmp(f"{e.num(self.start)} + {e.num(self.increment)}"
                          f" * float(_floor({t} / {per}))"),
        )
