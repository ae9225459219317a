"""Schedules that rise again by design: cosine with warm restarts (SGDR), one-cycle, cyclic."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from lrkit import _validate as v
from lrkit._xp import MAX_FLOAT, Namespace, floor_div
from lrkit.schedules._base import Schedule, States
from lrkit.schedules._registry import register
from lrkit.schedules._scalar import Emitter


@register("cosine_restarts")
@dataclass(frozen=True, repr=False)
class CosineRestarts(Schedule):
    """SGDR: cosine with warm restarts; cycle i lasts ``period * period_mult ** i``.

    In cycle i (length L_i, local time u), peaking at ``start * decay ** i``:
    ``s(t) = end + (start * decay ** i - end) * (1 + cos(pi * u / L_i)) / 2``.
    """

    period: float
    start: float = 1.0
    end: float = 0.0
    period_mult: float = 1
    decay: float = 1.0

    def __post_init__(self) -> None:
        n = "cosine_restarts"
        object.__setattr__(self, "period", v.steps(n, "period", self.period))
        object.__setattr__(self, "start", v.rate(n, "start", self.start))
        object.__setattr__(self, "end", v.rate(n, "end", self.end))
        m = v.number(n, "period_mult", self.period_mult)
        if m < 1.0:
            raise v.fail(n, "period_mult", self.period_mult, "a finite number >= 1")
        object.__setattr__(self, "period_mult", int(m) if m.is_integer() else m)
        d = v.in_range(n, "decay", self.decay, 0.0, 1.0, lo_open=True, hi_open=False)
        object.__setattr__(self, "decay", d)
        if m > 1.0:
            object.__setattr__(self, "_lasts", {MAX_FLOAT: _last_cycle(float(self.period), m)})

    def _last(self, top: float) -> float:
        """The last cycle whose numbers stay below ``top`` (the dtype's largest float)."""
        cache: dict[float, float] = self.__dict__["_lasts"]
        last = cache.get(top)
        if last is None:
            last = cache[top] = _last_cycle(float(self.period), float(self.period_mult), top)
        return last

    def _sup(self) -> float:
        return max(self.start, self.end)

    def _cycle(self, t: Any, xp: Namespace) -> tuple[Any, Any, Any]:
        """(cycle index i, local time u, cycle length) at t."""
        p, m = float(self.period), float(self.period_mult)
        if m == 1.0:
            i = floor_div(xp, t, p)
            u = t - i * p
            # the floor is inf where t / period overflows: then u would be -inf
            u = (0.0 if u < 0.0 else u) if xp.is_python else xp.maximum(u, 0.0)
            return i, u, p
        # the last cycle whose end is a finite float holds on (past it, (m ** i) overflows)
        i = xp.minimum(xp.floor(xp.log(1.0 + t * (m - 1.0) / p) / math.log(m)),
                       self._last(MAX_FLOAT if xp.is_python else xp.largest(t)))

        def begin(k: Any) -> Any:
            return p * (xp.power(m, k) - 1.0) / (m - 1.0)

        if xp.is_python:
            if t >= begin(i + 1.0):
                i += 1.0
            elif t < begin(i):
                i -= 1.0
        else:
            i = xp.where(t >= begin(i + 1.0), i + 1.0, i)
            i = xp.where(t < begin(i), i - 1.0, i)
        return i, t - begin(i), p * xp.power(m, i)

    def _eval(self, t: Any, xp: Namespace, states: States) -> Any:
        i, u, length = self._cycle(t, xp)
        peak = self.start * xp.power(self.decay, i) if self.decay != 1.0 else self.start
        # the position in the cycle, kept in [0, 1]: past the last cycle whose start is a float
        # (period_mult ** i overflows) u / length grows without bound, to inf
        x = u / length
        x = (0.0 if x < 0.0 else (1.0 if x > 1.0 else x)) if xp.is_python else xp.clip(x, 0.0, 1.0)
        return self.end + (peak - self.end) * (0.5 + 0.5 * xp.cos(x * math.pi))

    def _emit(self, e: Emitter, t: str) -> str:
        p, m = float(self.period), float(self.period_mult)
        if m == 1.0:
            i = e.floor_div(t, p)
            u = e.tmp(f"{t} - {i} * {e.num(p)}")
            e.line(f"{u} = 0.0 if {u} < 0.0 else {u}")
            length = e.num(p)
        else:
            mm, pp, lm = e.num(m - 1.0), e.num(p), e.num(math.log(m))
            i = e.minimum(e.floor(f"_log(1.0 + {t} * {mm} / {pp}) / {lm}"),
                          e.num(self._last(MAX_FLOAT)))
            begin = "{p} * ({pw} - 1.0) / {mm}"
            nxt = e.tmp(f"{i} + 1.0")
            with e.block(f"if {t} >= " + begin.format(p=pp, pw=e.power(m, nxt), mm=mm) + ":"):
                e.line(f"{i} = {i} + 1.0")
            with e.block("else:"):
                late = begin.format(p=pp, pw=e.power(m, i), mm=mm)  # emitted inside the else
                e.line(f"if {t} < {late}:")
                e.line(f"    {i} = {i} - 1.0")
            u = e.tmp(f"{t} - " + begin.format(p=pp, pw=e.power(m, i), mm=mm))
            length = e.tmp(f"{pp} * {e.power(m, i)}")
        start = e.num(self.start)
        peak = e.tmp(f"{start} * {e.power(self.decay, i)}") if self.decay != 1.0 else start
        end = e.num(self.end)
        x = e.clip(e.tmp(f"{u} / {length}"), "0.0", "1.0")
        cos = f"(0.5 + 0.5 * _cos({x} * {e.num(math.pi)}))"
        return e.tmp(f"{end} + ({peak} - {end}) * {cos}")


def _last_cycle(p: float, m: float, top: float = MAX_FLOAT) -> float:
    """The largest cycle index i for which ``m ** (i + 1)``, the cycle's length ``p * m ** i``
    and the next cycle's start ``p * (m ** (i + 1) - 1) / (m - 1)`` stay below ``top`` (the
    largest float of the dtype computed in)."""

    def ok(i: float) -> bool:
        try:
            power: float = m ** (i + 1.0)
            nxt = p * (power - 1.0) / (m - 1.0)
            return power <= top and nxt <= top and p * power <= top
        except OverflowError:
            return False

    lo, hi = 0, math.floor(math.log(top) / math.log(m)) + 2  # m ** hi is beyond top
    if not ok(float(lo)):
        return 0.0
    while hi - lo > 1:  # ok() holds up to some i and fails after: bisect for it
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if ok(float(mid)) else (lo, mid)
    return float(lo)


def _anneal(xp: Namespace, kind: str, a: float, b: float, pct: Any) -> Any:
    if kind == "cos":
        return b + (a - b) / 2.0 * (xp.cos(math.pi * pct) + 1.0)
    return (b - a) * pct + a


@register("one_cycle")
@dataclass(frozen=True, repr=False)
class OneCycle(Schedule):
    """torch's OneCycleLR curve: up from peak/div_factor to peak, then down; holds after.

    Phase 1 ends at pct_start * steps - 1, the last at steps - 1, where the value is
    peak / div_factor / final_div_factor (three_phase: up, back to the initial value, then down
    to the minimum). ``anneal`` is "cos" or "linear", as in torch.
    """

    steps: float
    peak: float = 1.0
    pct_start: float = 0.3
    div_factor: float = 25.0
    final_div_factor: float = 1e4
    anneal: str = "cos"
    three_phase: bool = False

    def __post_init__(self) -> None:
        n = "one_cycle"
        object.__setattr__(self, "steps", v.steps(n, "steps", self.steps))
        object.__setattr__(self, "peak", v.rate(n, "peak", self.peak))
        pct = v.in_range(n, "pct_start", self.pct_start, 0.0, 1.0, lo_open=True, hi_open=True)
        object.__setattr__(self, "pct_start", pct)
        object.__setattr__(self, "div_factor", v.positive(n, "div_factor", self.div_factor))
        fdf = v.positive(n, "final_div_factor", self.final_div_factor)
        object.__setattr__(self, "final_div_factor", fdf)
        object.__setattr__(self, "anneal", v.choice(n, "anneal", self.anneal, ("cos", "linear")))
        object.__setattr__(self, "three_phase", v.boolean(n, "three_phase", self.three_phase))
        initial = self.peak / self.div_factor
        if not initial <= v.MAX_RATE:
            raise v.fail(n, "div_factor", self.div_factor,
                         f"such that peak / div_factor is at most {v.MAX_RATE:.4g} (the initial "
                         f"rate; peak={self.peak!r})")
        if not initial / self.final_div_factor <= v.MAX_RATE:
            raise v.fail(n, "final_div_factor", self.final_div_factor,
                         f"such that peak / div_factor / final_div_factor is at most "
                         f"{v.MAX_RATE:.4g} (the final rate)")
        ends = self._phase_ends()
        begin = 0.0
        for e in ends:
            if not e > begin:
                raise ValueError(
                    f"one_cycle: pct_start={self.pct_start!r} with steps={self.steps!r} leaves a "
                    f"phase of zero or negative length (phase ends {list(ends)}); allowed: "
                    "pct_start * steps > 1 and steps - 1 beyond every earlier phase end"
                )
            begin = e

    def _phase_ends(self) -> tuple[float, ...]:
        e1 = float(self.pct_start * self.steps) - 1.0
        if self.three_phase:
            return (e1, float(2.0 * self.pct_start * self.steps) - 2.0, float(self.steps) - 1.0)
        return (e1, float(self.steps) - 1.0)

    def _phases(self) -> list[tuple[float, float, float]]:
        """(end step, start value, end value) per phase."""
        initial = self.peak / self.div_factor
        low = initial / self.final_div_factor
        ends = self._phase_ends()
        if self.three_phase:
            return [(ends[0], initial, self.peak), (ends[1], self.peak, initial),
                    (ends[2], initial, low)]
        return [(ends[0], initial, self.peak), (ends[1], self.peak, low)]

    @property
    def duration(self) -> float:
        return float(self.steps) - 1.0

    def _sup(self) -> float:
        return max(self.peak, *(max(a, b) for _, a, b in self._phases()))

    def breakpoints(self) -> tuple[float, ...]:
        return self._phase_ends()

    def _eval(self, t: Any, xp: Namespace, states: States) -> Any:
        phases = self._phases()
        if xp.is_python:
            begin = 0.0
            for k, (end, a, b) in enumerate(phases):
                if t <= end or k == len(phases) - 1:
                    pct = min((t - begin) / (end - begin), 1.0)
                    return _anneal(xp, self.anneal, a, b, pct)
                begin = end
        begins = [0.0] + [end for end, _, _ in phases[:-1]]
        out: Any = None
        for (end, a, b), begin in reversed(list(zip(phases, begins, strict=True))):
            pct = xp.clip((t - begin) / (end - begin), 0.0, 1.0)
            val = _anneal(xp, self.anneal, a, b, pct)
            out = val if out is None else xp.where(t <= end, val, out)
        return out

    def _emit(self, e: Emitter, t: str) -> str:
        phases = self._phases()
        result = e.name("r")
        begin = 0.0
        for k, (end, a, b) in enumerate(phases):
            last = k == len(phases) - 1
            with e.block("else:" if last else f"{'if' if k == 0 else 'elif'} {t} <= "
                         f"{e.num(end)}:"):
                pct = e.tmp(f"({t} - {e.num(begin)}) / {e.num(end - begin)}")
                e.line(f"{pct} = {pct} if {pct} <= 1.0 else 1.0")  # min(pct, 1.0)
                if self.anneal == "cos":
                    half = e.num((a - b) / 2.0)
                    e.line(f"{result} = {e.num(b)} + {half} * (_cos({e.num(math.pi)} * {pct}) "
                           "+ 1.0)")
                else:
                    e.line(f"{result} = {e.num(b - a)} * {pct} + {e.num(a)}")
            begin = end
        return result


@register("cyclic")
@dataclass(frozen=True, repr=False)
class Cyclic(Schedule):
    """torch's CyclicLR: triangular waves between low and high.

    Up over ``half_period`` steps, down over ``down_period`` (default: half_period). With x the
    position in the cycle and r the rising fraction: s(t) = low + (high - low) * h(x) * scale,
    h = x / r rising, (1 - x) / (1 - r) falling; scale = 1 (triangular), ``0.5 ** cycle``
    (triangular2), ``gamma ** t`` (exp_range).
    """

    low: float
    high: float
    half_period: float
    mode: str = "triangular"
    gamma: float = 1.0
    down_period: float | None = None

    def __post_init__(self) -> None:
        n = "cyclic"
        object.__setattr__(self, "low", v.rate(n, "low", self.low))
        object.__setattr__(self, "high", v.rate(n, "high", self.high))
        object.__setattr__(self, "half_period", v.steps(n, "half_period", self.half_period))
        modes = ("triangular", "triangular2", "exp_range")
        object.__setattr__(self, "mode", v.choice(n, "mode", self.mode, modes))
        g = v.in_range(n, "gamma", self.gamma, 0.0, 1.0, lo_open=True, hi_open=False)
        object.__setattr__(self, "gamma", g)
        if self.down_period is not None:
            object.__setattr__(self, "down_period", v.steps(n, "down_period", self.down_period))
        down = self.half_period if self.down_period is None else self.down_period
        if not math.isfinite(float(self.half_period) + float(down)):
            raise v.fail(n, "half_period", self.half_period,
                         f"such that the cycle, half_period + down_period ({down!r}), is finite")

    def _sup(self) -> float:
        return max(self.low, self.high)

    def _eval(self, t: Any, xp: Namespace, states: States) -> Any:
        up = float(self.half_period)
        total = up + (up if self.down_period is None else float(self.down_period))
        down = total - up
        q = floor_div(xp, t, total)
        u = t - q * total  # the step within the cycle: exact for integer steps and periods
        # torch's x / r and (x - 1) / (r - 1) with x = u / total, r = up / total:
        if xp.is_python:
            # u leaves [0, total] where q * total rounds (t beyond 2**53) or t / total overflows
            u = 0.0 if u < 0.0 else (total if u > total else u)
            scale = u / up if u <= up else (total - u) / down
        else:
            # In float32 past 2**24 steps q * total rounds: u may leave [0, total] (by up to
            # ulp(t), more than a cycle past 2**40), which would give a negative rate.
            u = xp.clip(u, 0.0, total)
            scale = xp.where(u <= up, u / up, (total - u) / down)
        height = (self.high - self.low) * scale
        if self.mode == "triangular2":
            height = height * xp.power(0.5, q)
        elif self.mode == "exp_range":
            height = height * xp.power(self.gamma, t)
        return self.low + height

    def _emit(self, e: Emitter, t: str) -> str:
        up = float(self.half_period)
        total = up + (up if self.down_period is None else float(self.down_period))
        down = total - up
        q = e.floor_div(t, total)
        u = e.tmp(f"{t} - {q} * {e.num(total)}")
        e.line(f"{u} = {e.clip(u, '0.0', e.num(total))}")
        scale = e.tmp(f"{u} / {e.num(up)} if {u} <= {e.num(up)} else "
                      f"({e.num(total)} - {u}) / {e.num(down)}")
        height = e.tmp(f"{e.num(self.high - self.low)} * {scale}")
        if self.mode == "triangular2":
            height = e.tmp(f"{height} * {e.power(0.5, q)}")
        elif self.mode == "exp_range":
            height = e.tmp(f"{height} * {e.power(self.gamma, t)}")
        return e.tmp(f"{e.num(self.low)} + {height}")
