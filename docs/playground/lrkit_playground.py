"""The playground's Python side: run in the browser by Pyodide, next to the real lrkit package.

Every number the page shows comes from here, and every rate from lrkit itself: the page's
JavaScript only places what this module returns (the chart's axes and boundaries as SVG, the
canonical specs, the errors, the code snippets, each curve's steps and rates from
``series(i)``) and asks ``at(t)`` for the rates under the cursor. No schedule formula is
written in JavaScript: it maps steps and rates to pixels, nothing else.

The chart evaluates each schedule at the integer steps ``0..steps-1`` (lrkit plot's
convention: ``t`` steps already taken): every step up to ``POINTS`` steps, else ``POINTS``
evenly spaced steps plus the two steps on either side of every phase boundary
(``s.breakpoints()``), so a boundary is drawn where it is. The page keeps each curve's steps
and rates, ``peak * s(t)``, as text in its polyline's ``data-t`` and ``data-v`` attributes
(JavaScript's shortest round-trip form of the doubles: exact)."""

from __future__ import annotations

import json
import math
from typing import Any

import lrkit as lk
from lrkit.display import _label, _num, nice_ticks

WIDTH, HEIGHT = 880, 400
"""Chart size in pixels."""
LEFT, RIGHT, TOP, BOTTOM = 74.0, 18.0, 14.0, 44.0
POINTS = 1200
"""Steps evaluated per curve over a long run (1.5 per pixel of the plot); boundaries come on top."""
MAX_STEPS = 2**53
"""Beyond this, integer steps are no longer exact doubles."""
COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b",
          "#e377c2")

_state: dict[str, Any] = {"curves": [], "steps": 1, "peak": 1.0, "ymax": 1.0}


def parse_steps(text: str) -> int:
    """The number of steps: a whole number from 1 to 2**53."""
    raw = str(text).strip().replace("_", "")
    try:
        value = float(raw) if any(c in raw for c in ".eE") else int(raw)
    except ValueError:
        value = math.nan
    if not (isinstance(value, int) or (math.isfinite(value) and value == int(value))) or not (
            1 <= value <= MAX_STEPS):
        raise ValueError(f"steps must be a whole number from 1 to 2**53; got {text!r}")
    return int(value)


def parse_peak(text: str) -> float:
    """The peak rate that multiplies the schedule: a finite number > 0."""
    try:
        value = float(str(text).strip())
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"peak must be a finite number > 0; got {text!r}")
    return value


def sample_steps(s: lk.Schedule, steps: int) -> list[int]:
    """The integer steps a curve is drawn at (see the module's docstring)."""
    last = steps - 1
    if steps <= POINTS:
        return list(range(steps))
    ts = {k * last // (POINTS - 1) for k in range(POINTS)}
    for b in s.breakpoints():
        if 0 < b <= last:
            up = math.ceil(b)
            ts.update(t for t in (up - 1, up) if 0 <= t <= last)
    return sorted(ts)


def snippets(spec: str, peak: float) -> dict[str, str]:
    """The schedule ``peak * s`` in each framework, as code to copy."""
    p, q = repr(peak), repr(spec)
    return {
        "PyTorch": (
            "import torch\n"
            "from lrkit.torch import LRScheduler\n\n"
            f"optimizer = torch.optim.AdamW(model.parameters(), lr={p})\n"
            f"scheduler = LRScheduler(optimizer, {q})  # lr * s(t)\n"
            "# in the training loop: optimizer.step(); scheduler.step()\n"
        ),
        "optax": (
            "import lrkit as lk\n"
            "import optax\n\n"
            f"schedule = {p} * lk.parse({q})\n"
            "optimizer = optax.adamw(learning_rate=schedule)\n"
        ),
        "Keras": (
            "import keras\n"
            "import lrkit as lk\n"
            "from lrkit.keras import KerasSchedule\n\n"
            f"schedule = KerasSchedule({p} * lk.parse({q}))\n"
            "optimizer = keras.optimizers.AdamW(learning_rate=schedule)\n"
        ),
        "TensorFlow": (
            "import tensorflow as tf\n"
            "import lrkit as lk\n\n"
            f"schedule = {p} * lk.parse({q})\n"
            "step = tf.Variable(0.0, dtype=tf.float64)  # updates already applied\n\n\n"
            "@tf.function(jit_compile=True)\n"
            "def rate() -> tf.Tensor:\n"
            "    return schedule(step)  # float64; step.assign_add(1.0) after each update\n"
        ),
    }


_parsed: dict[str, lk.Schedule | str] = {}
"""Spec text -> its schedule (or its error) from the last render: a schedule is an immutable
value, so an unchanged line is neither parsed nor specialised again."""


def _parse(text: str, cache: dict[str, lk.Schedule | str]) -> lk.Schedule | str:
    if text in _parsed:
        cache[text] = _parsed[text]
        return cache[text]
    try:
        found: lk.Schedule | str = lk.parse(text)
    except ValueError as exc:
        found = str(exc)
    except RecursionError:
        found = "the spec is nested too deeply to read"
    cache[text] = found
    return found


def _rates(s: lk.Schedule, ts: list[int], peak: float) -> tuple[list[int], list[float], int | None]:
    """``peak * s(t)`` at ``ts``, up to the first step where it is not a finite number."""
    f = s.scalar_path()[0]  # what s(t) calls for a float t: the same number, one call less
    try:
        vs = [peak * f(float(t)) for t in ts]
        if all(map(math.isfinite, vs)):
            return ts, vs, None
    except (OverflowError, ZeroDivisionError):
        pass
    vs = []
    for t in ts:  # find where it stops
        try:
            v = peak * float(s(float(t)))
        except (OverflowError, ZeroDivisionError):
            v = math.inf
        if not math.isfinite(v):
            return ts[:len(vs)], vs, t
        vs.append(v)
    return ts, vs, None


def _curve(text: str, steps: int, peak: float, cache: dict[str, lk.Schedule | str]) -> dict[
        str, Any]:
    out: dict[str, Any] = {"input": text, "canonical": None, "error": None, "note": None}
    s = _parse(text, cache)
    if isinstance(s, str):
        out["error"] = s
        return out
    out["canonical"] = str(s)
    out["snippets"] = snippets(str(s), peak)
    if s.has_state:
        out["note"] = ("contains plateau(): its rate depends on the metrics reported during "
                       "training, so it has no curve to draw before a run")
        return out
    ts, vs, stop = _rates(s, sample_steps(s, steps), peak)
    if stop is not None:
        out["note"] = f"the rate overflows at step {stop}: the curve ends there"
    out["schedule"] = s
    out["ts"], out["vs"] = ts, vs
    out["boundaries"] = sorted({b for b in s.breakpoints() if 0 < b <= steps - 1})
    d = s.duration
    if d is not None and out["note"] is None:
        out["note"] = (f"ends at step {_label(d)}, then holds {_label(peak * float(s(d)))}"
                       if d > 0 else "constant")
    return out


def _svg(curves: list[dict[str, Any]], steps: int, ymax: float) -> str:
    pw, ph = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    xmax = float(max(steps - 1, 1))

    def px(t: float) -> float:
        return LEFT + pw * t / xmax

    def py(v: float) -> float:
        return TOP + ph * (1.0 - v / ymax)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="pg-svg" width="{WIDTH}" '
             f'height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" data-left="{LEFT}" '
             f'data-width="{pw}" data-top="{TOP}" data-height="{ph}" data-xmax="{xmax!r}" '
             f'data-ymax="{ymax!r}" data-steps="{steps}">',
             f'<rect width="{WIDTH}" height="{HEIGHT}" fill="#ffffff"/>']
    for y in nice_ticks(ymax, 5):
        yy = _num(py(y))
        parts.append(f'<line x1="{LEFT}" y1="{yy}" x2="{_num(LEFT + pw)}" y2="{yy}" '
                     'stroke="#eeeeee"/>')
        parts.append(f'<text x="{_num(LEFT - 6)}" y="{yy}" text-anchor="end" '
                     f'dominant-baseline="middle" fill="#444444">{_label(y)}</text>')
    for x in nice_ticks(xmax, 7):
        if x > xmax * (1 + 1e-9):
            continue
        xx = _num(px(x))
        parts.append(f'<line x1="{xx}" y1="{_num(TOP + ph)}" x2="{xx}" y2="{_num(TOP + ph + 4)}" '
                     'stroke="#444444"/>')
        parts.append(f'<text x="{xx}" y="{_num(TOP + ph + 16)}" text-anchor="middle" '
                     f'fill="#444444">{_label(x)}</text>')
    for i, c in enumerate(curves):
        for b in c.get("boundaries", ()):
            xx = _num(px(b))
            parts.append(f'<line class="pg-boundary" data-curve="{i}" data-step="{b!r}" '
                         f'x1="{xx}" y1="{TOP}" x2="{xx}" y2="{_num(TOP + ph)}" '
                         f'stroke="{c["color"]}" stroke-opacity="0.5" stroke-dasharray="4 3">'
                         f"<title>phase boundary at step {_label(b)}</title></line>")
    parts.append(f'<path d="M{LEFT},{TOP} V{_num(TOP + ph)} H{_num(LEFT + pw)}" fill="none" '
                 'stroke="#444444"/>')
    parts.append('<g class="pg-lines"></g>')  # the page draws series(i) here
    parts.append(f'<text x="{_num(LEFT + pw / 2)}" y="{HEIGHT - 6}" text-anchor="middle" '
                 'fill="#222222">step</text>')
    cy = _num(TOP + ph / 2)
    parts.append(f'<text x="14" y="{cy}" text-anchor="middle" transform="rotate(-90 14 {cy})" '
                 'fill="#222222">rate</text>')
    parts.append(f'<line class="pg-cursor" x1="0" y1="{TOP}" x2="0" y2="{_num(TOP + ph)}" '
                 'stroke="#888888" visibility="hidden"/>')
    for i, c in enumerate(curves):
        if "ts" in c:
            parts.append(f'<circle class="pg-dot" data-curve="{i}" r="3.5" fill="{c["color"]}" '
                         'visibility="hidden"/>')
    parts.append("</svg>")
    return "".join(parts)


def render(specs: list[str], steps_text: str, peak_text: str) -> str:
    """The page's state as JSON: ``{"error", "svg", "curves": [{"input", "canonical", "error",
    "note", "color", "snippets"}]}``. ``error`` is set when steps or peak are wrong."""
    try:
        steps = parse_steps(steps_text)
        peak = parse_peak(peak_text)
    except ValueError as exc:
        return json.dumps({"error": str(exc), "svg": "", "curves": []})
    cache: dict[str, lk.Schedule | str] = {}
    curves = [_curve(text, steps, peak, cache) for text in specs]
    _parsed.clear()
    _parsed.update(cache)
    for i, c in enumerate(curves):
        c["color"] = COLORS[i % len(COLORS)]
    top = max((v for c in curves for v in c.get("vs", ())), default=0.0)
    ymax = nice_ticks(top if top > 0 else peak, 5)[-1]
    _state.update(curves=curves, steps=steps, peak=peak, ymax=ymax)
    public = [{k: c.get(k) for k in ("input", "canonical", "error", "note", "color", "snippets")}
              | {"drawn": "ts" in c} for c in curves]
    return json.dumps({"error": None, "svg": _svg(curves, steps, ymax), "curves": public})


def series(i: int) -> tuple[list[int], list[float]]:
    """The steps and rates ``peak * s(t)`` of curve ``i`` as drawn last: the page places them
    (a polyline, and the numbers as they are in its ``data-t`` and ``data-v`` attributes)."""
    c = _state["curves"][i]
    return c["ts"], c["vs"]


def at(t: int) -> str:
    """The rates at step ``t`` (clamped to the chart) of the curves drawn last, as JSON
    ``{"t", "x", "rows": [{"curve", "value", "text", "y"}]}``: ``peak * s(t)``, from lrkit."""
    steps, peak, ymax = _state["steps"], _state["peak"], _state["ymax"]
    t = min(max(int(t), 0), steps - 1)
    pw, ph = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    rows = []
    for i, c in enumerate(_state["curves"]):
        if "ts" not in c or (c["ts"] and t > c["ts"][-1]):
            continue
        v = peak * float(c["schedule"](float(t)))
        rows.append({"curve": i, "value": repr(v), "text": f"{v:.6g}",
                     "y": TOP + ph * (1.0 - v / ymax)})
    return json.dumps({"t": t, "x": LEFT + pw * t / max(steps - 1, 1), "rows": rows})


def lrkit_version() -> str:
    """The version of the lrkit package the page runs."""
    return str(lk.__version__)
