"""Notebook display: a schedule as its spec string and its curve in a small inline SVG.

``Schedule._repr_html_`` calls ``schedule_html``, so a schedule shows its curve in Jupyter,
JupyterLab and VS Code notebooks right after ``pip install lrkit``: pure Python, no dependency
(the curve is ``s(t)`` on Python floats at a few hundred steps). Phase boundaries
(``s.breakpoints()``) are dashed lines; both axes have ticks and labels. A schedule holding a
``plateau`` has no curve (its rate depends on the metrics reported): it shows its spec and why.

``schedule_html(s, steps=5000)`` draws another range of steps.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable
from typing import Any

from lrkit.schedules._base import Schedule

__all__ = ["HEIGHT", "POINTS", "WIDTH", "horizon", "nice_ticks", "schedule_html"]

WIDTH = 480
"""Chart width in pixels."""
HEIGHT = 220
"""Chart height in pixels."""
POINTS = 300
"""Evenly spaced steps at which the curve is evaluated (phase boundaries are added)."""
DEFAULT_STEPS = 100.0
"""Steps shown for a schedule that never changes (a constant)."""

_LEFT, _RIGHT, _TOP, _BOTTOM = 62.0, 24.0, 12.0, 42.0
_FONT = "font-family:-apple-system,'Segoe UI',Helvetica,Arial,sans-serif"
_MONO = "font-family:SFMono-Regular,Menlo,Consolas,monospace"


# --- how many steps to show ----------------------------------------------------------------------

_SCALES: dict[str, Callable[[Any], float]] = {
    "step_decay": lambda s: 4.0 * s.step_size,
    "multistep": lambda s: 1.25 * max(s.milestones),
    "cosine_restarts": lambda s: s.period * (1.0 + s.period_mult + s.period_mult**2),
    "cyclic": lambda s: 2.0 * (s.half_period + (s.down_period or s.half_period)),
    "inverse_sqrt": lambda s: 100.0 * s.timescale,  # about start / 10
    "inverse_time": lambda s: 9.0 * s.steps / s.rate if s.rate > 0 else s.steps,
    "warmup_factor": lambda s: 5.0 * s.period,
    "untuned_warmup": lambda s: 5.0 * s.period,
}
"""For unbounded leaves: the steps over which the schedule shows what it does."""


def _exponential_scale(s: Any) -> float:
    every, gamma, start, end = float(s.every), float(s.gamma), float(s.start), s.end
    if gamma == 1.0:
        return 10.0 * every
    if end is not None and end > 0 and start > 0 and end != start:
        reach = math.log(end / start) / math.log(gamma)  # where the floor/ceiling is hit
        return 1.25 * every * reach if reach > 0 else 10.0 * every
    return every * math.log(20.0) / abs(math.log(gamma))  # a factor 20 down (or up)


def _scale(s: Schedule) -> float:
    """Steps after which an unbounded schedule has shown its character (0: nothing to show)."""
    if s.name == "exponential":
        return _exponential_scale(s)
    if s.name in _SCALES:
        return float(_SCALES[s.name](s))
    if s.name == "warmup":
        return float(getattr(s, "steps", 0.0)) + _scale(s.children()[0])
    if s.name == "join":
        bounds = getattr(s, "boundaries", ())
        return (float(bounds[-1]) if bounds else 0.0) + _scale(s.children()[-1])
    return max((_scale(c) for c in s.children()), default=0.0)


def horizon(s: Schedule) -> float:
    """The steps ``schedule_html`` shows by default: a finite schedule to a little past its end,
    an unbounded one over its phase boundaries and a few of its periods, drops or decades;
    rounded up to two significant digits."""
    d = s.duration
    points = [p for p in s.breakpoints() if p > 0]
    if d is not None and d > 0:
        h = 1.05 * max([d, *points])
    else:
        h = max([_scale(s), *points])
        if d is not None:  # a finite schedule that is over at once: show where it holds
            h = max(h, 10.0)
    if not (h > 0 and math.isfinite(h)):
        h = DEFAULT_STEPS
    unit = 10.0 ** (math.floor(math.log10(h)) - 1)
    return _clean(math.ceil(h / unit - 1e-9) * unit, unit)


# --- axes ----------------------------------------------------------------------------------------


def nice_ticks(hi: float, n: int = 5) -> list[float]:
    """Ticks ``0, d, 2d, ...`` up to the first one >= ``hi``, with d = 1, 2 or 5 times a power
    of ten, about ``n`` of them."""
    if not hi > 0:
        return [0.0, 1.0]
    raw = hi / n
    mag = 10.0 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1.0, 2.0, 5.0, 10.0) if m * mag >= raw)
    count = math.ceil(hi / step - 1e-9)
    return [_clean(k * step, step) for k in range(count + 1)]


def _clean(x: float, step: float) -> float:
    """``x`` rounded to the precision of ``step`` (no 0.30000000000000004 on an axis)."""
    digits = max(0, -math.floor(math.log10(step)) + 1)
    return round(x, digits)


def _label(x: float) -> str:
    if x == 0:
        return "0"
    if abs(x) >= 1e6 or abs(x) < 1e-3:
        return f"{x:.3g}"
    return f"{x:g}"


def _num(x: float) -> str:
    return f"{x:.2f}".rstrip("0").rstrip(".")


# --- the chart -----------------------------------------------------------------------------------


def _sample(s: Schedule, steps: float) -> tuple[list[tuple[float, float]], float | None]:
    """(t, s(t)) at POINTS even steps over [0, steps] and at each side of every phase boundary;
    the step where the rate stops being a finite number, if it does."""
    ts = {steps * k / POINTS for k in range(POINTS + 1)}
    for b in s.breakpoints():
        if 0 < b < steps:
            ts.update({b, max(0.0, b - steps * 1e-6)})
    out: list[tuple[float, float]] = []
    for t in sorted(ts):
        try:
            value = float(s(t))
        except (OverflowError, ZeroDivisionError):
            return out, t
        if not math.isfinite(value):
            return out, t
        out.append((t, value))
    return out, None


def _svg(s: Schedule, steps: float, points: list[tuple[float, float]]) -> str:
    w, h = float(WIDTH), float(HEIGHT)
    pw, ph = w - _LEFT - _RIGHT, h - _TOP - _BOTTOM
    xticks = nice_ticks(steps, 6)
    xmax = steps
    xticks = [x for x in xticks if x <= xmax * (1 + 1e-9)]
    vmax = max((v for _, v in points), default=0.0)
    yticks = nice_ticks(vmax if vmax > 0 else 1.0, 4)
    ymax = yticks[-1]

    def px(t: float) -> float:
        return _LEFT + pw * t / xmax

    def py(v: float) -> float:
        return _TOP + ph * (1.0 - v / ymax)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" style="{_FONT};font-size:11px">',
        f"<title>{html.escape(str(s))}</title>",
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="#ffffff"/>',
    ]
    for y in yticks:
        yy = _num(py(y))
        parts.append(f'<line class="grid" x1="{_num(_LEFT)}" y1="{yy}" x2="{_num(_LEFT + pw)}" '
                     f'y2="{yy}" stroke="#eeeeee"/>')
        parts.append(f'<text class="ytick" x="{_num(_LEFT - 6)}" y="{yy}" text-anchor="end" '
                     f'dominant-baseline="middle" fill="#444444">{_label(y)}</text>')
    for x in xticks:
        xx = _num(px(x))
        parts.append(f'<line x1="{xx}" y1="{_num(_TOP + ph)}" x2="{xx}" '
                     f'y2="{_num(_TOP + ph + 4)}" stroke="#444444"/>')
        parts.append(f'<text class="xtick" x="{xx}" y="{_num(_TOP + ph + 16)}" '
                     f'text-anchor="middle" fill="#444444">{_label(x)}</text>')
    for b in s.breakpoints():
        if 0 < b < xmax:
            xx = _num(px(b))
            parts.append(f'<line class="boundary" x1="{xx}" y1="{_num(_TOP)}" x2="{xx}" '
                         f'y2="{_num(_TOP + ph)}" stroke="#999999" stroke-dasharray="4 3">'
                         f"<title>phase boundary at step {_label(b)}</title></line>")
    parts.append(f'<path d="M{_num(_LEFT)},{_num(_TOP)} V{_num(_TOP + ph)} '
                 f'H{_num(_LEFT + pw)}" fill="none" stroke="#444444"/>')
    line = " ".join(f"{_num(px(t))},{_num(py(v))}" for t, v in points)
    parts.append(f'<polyline class="curve" points="{line}" fill="none" stroke="#1f77b4" '
                 'stroke-width="1.8" stroke-linejoin="round"/>')
    parts.append(f'<text x="{_num(_LEFT + pw / 2)}" y="{_num(h - 6)}" text-anchor="middle" '
                 'fill="#222222">step</text>')
    cy = _num(_TOP + ph / 2)
    parts.append(f'<text x="12" y="{cy}" text-anchor="middle" transform="rotate(-90 12 {cy})" '
                 'fill="#222222">rate</text>')
    parts.append("</svg>")
    return "".join(parts)


def _caption(s: Schedule, steps: float, stop: float | None) -> str:
    d = s.duration
    if stop is not None:
        return f"the rate overflows at step {_label(stop)}: the curve ends there"
    if d is not None and d > 0:
        return f"ends at step {_label(d)}, then holds {_label(float(s(d)))}"
    if s.is_constant:
        return "constant"
    return f"first {_label(steps)} steps (unbounded)"


def schedule_html(s: Schedule, steps: float | None = None) -> str:
    """HTML for a notebook: the spec string and the curve over ``[0, steps]`` as inline SVG
    (``steps`` defaults to ``horizon(s)``). Well-formed XML, no script, no dependency."""
    if not isinstance(s, Schedule):
        raise ValueError(f"schedule_html: s must be an lrkit schedule; got {s!r:.80}")
    if steps is not None and (isinstance(steps, bool) or not isinstance(steps, int | float)
                              or not 0 < steps < math.inf):
        raise ValueError(f"schedule_html: steps must be a finite number > 0; got {steps!r}")
    spec = (f'<code style="{_MONO};font-size:12px;white-space:pre-wrap;word-break:break-all">'
            f"{html.escape(str(s))}</code>")
    note_style = f'style="{_FONT};font-size:11px;color:#666666;margin:2px 0"'
    if s.has_state:
        note = ("contains plateau(): its rate depends on the metrics reported during training, "
                "so it has no curve to draw before a run; drive it with lrkit.Stepper or "
                "lrkit.torch.LRScheduler and record the rates")
        return (f'<div class="lrkit-schedule">{spec}<div class="lrkit-note" {note_style}>'
                f"{html.escape(note)}</div></div>")
    span = float(steps) if steps is not None else horizon(s)
    points, stop = _sample(s, span)
    caption = html.escape(_caption(s, span, stop))
    return (f'<div class="lrkit-schedule">{spec}<div class="lrkit-note" {note_style}>'
            f"{caption}</div>{_svg(s, span, points)}</div>")
