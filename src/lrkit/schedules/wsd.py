"""Warmup-stable-decay, with the shapes of Hugging Face's ``get_wsd_schedule``."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from lrkit import _validate as v
from lrkit._xp import Namespace
from lrkit.schedules._base import Schedule, States
from lrkit.schedules._registry import register
from lrkit.schedules._scalar import Emitter

_SHAPES = ("linear", "cosine", "1-sqrt")
_DECAY_SHAPES = (*_SHAPES, "exp")


_RISE_CODE = {"linear": "{p}", "cosine": "0.5 - 0.5 * _cos({pi} * {p})",
              "1-sqrt": "1.0 - _sqrt(1.0 - {p})"}
_FALL_CODE = {"linear": "1.0 - {p}", "cosine": "0.5 + 0.5 * _cos({pi} * {p})",
              "exp": "(0.5 ** {p} - 0.5) / 0.5", "1-sqrt": "1.0 - _sqrt({p})"}
"""_rise and _fall as the scalar path's source (the same operations)."""


def _rise(xp: Namespace, shape: str, p: Any) -> Any:
    """Warmup factor in [0, 1] at progress p."""
    if shape == "linear":
        return p
    if shape == "cosine":
        return 0.5 - 0.5 * xp.cos(math.pi * p)
    return 1.0 - xp.sqrt(1.0 - p)


def _fall(xp: Namespace, shape: str, p: Any) -> Any:
    """Decay factor in [0, 1] at progress p."""
    if shape == "linear":
        return 1.0 - p
    if shape == "cosine":
        return 0.5 + 0.5 * xp.cos(math.pi * p)
    if shape == "exp":  # Megatron's exponential anneal, 2 * 0.5 ** p - 1
        return (xp.power(0.5, p) - 0.5) / 0.5
    return 1.0 - xp.sqrt(p)


@register("wsd")
@dataclass(frozen=True, repr=False)
class Wsd(Schedule):
    """Warmup-stable-decay (peak 1): up over warmup, 1 for stable, down to end over decay.

    Ramps start + (1 - start) * f(p) and end + (1 - end) * g(p), p the phase's progress;
    f = p, (1 - cos(pi p)) / 2 or 1 - sqrt(1 - p); g = 1 - p, (1 + cos(pi p)) / 2,
    1 - sqrt(p) (shapes linear, cosine, 1-sqrt, as Hugging Face's get_wsd_schedule) or
    (0.5 ** p - 0.5) / 0.5 (decay_shape "exp", Megatron's exponential anneal).
    """

    warmup: float
    stable: float
    decay: float
    start: float = 0.0
    end: float = 0.0
    warmup_shape: str = "linear"
    decay_shape: str = "linear"

    def __post_init__(self) -> None:
        n = "wsd"
        object.__setattr__(self, "warmup", v.steps(n, "warmup", self.warmup, allow_zero=True))
        object.__setattr__(self, "stable", v.steps(n, "stable", self.stable, allow_zero=True))
        object.__setattr__(self, "decay", v.steps(n, "decay", self.decay, allow_zero=True))
        if self.warmup + self.stable + self.decay <= 0:
            raise ValueError(
                "wsd: warmup + stable + decay must be > 0; got "
                f"warmup={self.warmup!r}, stable={self.stable!r}, decay={self.decay!r}"
            )
        object.__setattr__(self, "start", v.rate(n, "start", self.start))
        object.__setattr__(self, "end", v.rate(n, "end", self.end))
        ws = v.choice(n, "warmup_shape", self.warmup_shape, _SHAPES)
        object.__setattr__(self, "warmup_shape", ws)
        ds = v.choice(n, "decay_shape", self.decay_shape, _DECAY_SHAPES)
        object.__setattr__(self, "decay_shape", ds)

    @property
    def duration(self) -> float | None:
        end = float(self.warmup) + float(self.stable) + float(self.decay)
        return end if math.isfinite(end) else None  # beyond every float step: unbounded

    def _sup(self) -> float:
        return max(1.0, self.start, self.end)

    def breakpoints(self) -> tuple[float, ...]:
        a = float(self.warmup)
        b = a + self.stable
        return tuple(sorted({p for p in (a, b, b + self.decay) if 0 < p < math.inf}))

    def _eval(self, t: Any, xp: Namespace, states: States) -> Any:
        w, s, d = float(self.warmup), float(self.stable), float(self.decay)
        b = w + s
        if xp.is_python:
            if t < w:
                return self.start + (1.0 - self.start) * _rise(xp, self.warmup_shape, t / w)
            if t < b:
                return 1.0
            if t < b + d:
                return self.end + (1.0 - self.end) * _fall(xp, self.decay_shape, (t - b) / d)
            return self.end
        out = xp.full_like(t, self.end)
        if d > 0:
            p = xp.clip((t - b) / d, 0.0, 1.0)
            down = self.end + (1.0 - self.end) * _fall(xp, self.decay_shape, p)
            out = xp.where(t < b + d, down, out)
        if s > 0:
            out = xp.where(t < b, 1.0, out)
        if w > 0:
            p = xp.clip(t / w, 0.0, 1.0)
            up = self.start + (1.0 - self.start) * _rise(xp, self.warmup_shape, p)
            out = xp.where(t < w, up, out)
        return out

    def _emit(self, e: Emitter, t: str) -> str:
        w, s, d = float(self.warmup), float(self.stable), float(self.decay)
        b = w + s
        r = e.name("r")
        pi = e.num(math.pi)
        with e.block(f"if {t} < {e.num(w)}:"):
            f = _RISE_CODE[self.warmup_shape].format(p=e.tmp(f"{t} / {e.num(w)}"), pi=pi)
            e.line(f"{r} = {e.num(self.start)} + {e.num(1.0 - self.start)} * ({f})")
        with e.block(f"elif {t} < {e.num(b)}:"):
            e.line(f"{r} = 1.0")
        with e.block(f"elif {t} < {e.num(b + d)}:"):
            p = e.tmp(f"({t} - {e.num(b)}) / {e.num(d)}")
            g = _FALL_CODE[self.decay_shape].format(p=p, pi=pi)
            e.line(f"{r} = {e.num(self.end)} + {e.num(1.0 - self.end)} * ({g})")
        with e.block("else:"):
            e.line(f"{r} = {e.num(self.end)}")
        return r
