"""Charts: schedules compared on one chart (PNG/SVG with matplotlib, or text with plotext), and
the LR range test's loss curve.

Imported lazily: ``import lrkit`` does not import this module nor matplotlib. The curves are
evaluated at the integer steps ``0..steps-1`` and drawn as steps (the rate is constant during an
optimizer step): the line at ``x`` in ``[t, t+1)`` is ``base_lr * s(t)``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from lrkit._extras import require, require_installed
from lrkit.schedules._base import Schedule

# ``import lrkit.plot`` says at once which extra it needs; the libraries load when first used.
require_installed("plot", "matplotlib", "plotext", "numpy")

if TYPE_CHECKING:
    from lrkit.rangetest import RangeTestResult

__all__ = [
    "FORMATS",
    "MAX_POINTS",
    "Curve",
    "StatefulPlotError",
    "branch_curves",
    "curve",
    "plot_range_test",
    "plot_schedules",
    "save_figure",
    "terminal_chart",
]

FORMATS = ("png", "svg")
"""File formats ``plot_schedules`` writes, chosen by the output file's extension."""


class StatefulPlotError(ValueError):
    """A plateau schedule has no fixed curve: its rate depends on the metrics reported."""


MAX_POINTS = 200_000
"""Longer runs are sampled at this many evenly spaced integer steps (a chart cannot show more)."""


@dataclass(frozen=True)
class Curve:
    """One schedule sampled at integer steps ``xs`` in ``0..steps-1``: ``values[i] = base_lr *
    s(xs[i])``; every step when ``steps <= MAX_POINTS``."""

    label: str
    steps: int
    xs: tuple[int, ...]
    values: tuple[float, ...]
    breakpoints: tuple[float, ...]
    role: str = "plan"
    """``"plan"``; or ``"trunk"`` (drawn in grey) and ``"branch"`` (drawn from its branch point,
    marked with a dot): see ``branch_curves``."""
    branch_at: float | None = None
    """A branch's branch point (a step of the trunk); None otherwise."""


def curve(schedule: Schedule, steps: int, base_lr: float | None = None, *,
          first: int = 0) -> Curve:
    """Sample ``schedule`` at ``t = first..steps-1`` (times ``base_lr`` when given)."""
    if isinstance(steps, bool) or not isinstance(steps, int) or steps <= 0:
        raise ValueError(f"steps must be an integer > 0; got {steps!r}")
    if schedule.has_state:
        raise StatefulPlotError(
            f"{schedule} contains plateau(), whose rate depends on the metrics reported during "
            "training, so it has no fixed curve to draw; plot the schedule without plateau, or "
            "drive it with lrkit.Stepper and record .value()"
        )
    if not 0 <= first < steps:
        raise ValueError(f"first must be a step from 0 to steps - 1 = {steps - 1}; got {first!r}")
    np = require("numpy", "plot")
    if steps - first <= MAX_POINTS:
        ts = np.arange(first, steps, dtype=np.int64)
    else:
        ts = np.unique(np.round(np.linspace(first, steps - 1, MAX_POINTS)).astype(np.int64))
    raw = np.asarray(schedule(ts.astype(np.float64)), dtype=np.float64).reshape(-1)
    if base_lr is not None:
        with np.errstate(over="ignore"):  # an overflow is reported below, as an error
            raw = raw * float(base_lr)
        bad = ~np.isfinite(raw)
        if bad.any():
            t = int(ts[int(np.argmax(bad))])
            raise ValueError(f"cannot draw {schedule}: base_lr={base_lr!r} times the schedule "
                             f"overflows at step {t}; use a smaller base_lr")
    bps = tuple(float(b) for b in schedule.breakpoints() if float(first) < float(b) < steps)
    return Curve(label=str(schedule), steps=steps, xs=tuple(int(t) for t in ts),
                 values=tuple(float(v) for v in raw), breakpoints=bps)


def branch_curves(
    schedules: Sequence[Schedule],
    steps: int,
    base_lr: float | None = None,
    *,
    branches: Sequence[float] = (),
    cooldown: float | None = None,
    fraction: float | None = None,
    shape: str = "1-sqrt",
    end: float = 0.0,
) -> list[Curve]:
    """A plan and its branches, ready for ``plot_schedules``: the first schedule is the trunk;
    each step ``at`` of ``branches`` adds ``cooldown(trunk, at, n, end, shape)`` with ``n =
    cooldown`` steps, or ``n = at * fraction / (1 - fraction)`` (the cooldown is ``fraction`` of
    the branched run's length ``at + n``, Hagele et al. 2024's convention); every later schedule
    that is a cooldown or splice of the trunk is a branch too. When there is a branch, the trunk
    is drawn in grey and each branch only from its branch point (the step of its first change)
    on; other schedules are drawn whole. Without branches: ``[curve(s) for s in schedules]``."""
    from lrkit.schedules.replan import branches_of

    if not schedules:
        raise ValueError("nothing to plot: give at least one schedule")
    trunk = schedules[0]
    made = cooldown_branches(trunk, steps, branches, cooldown=cooldown, fraction=fraction,
                             shape=shape, end=end)
    rest = [*schedules[1:], *made]
    if not any(_branch_point(s, trunk) is not None for s in rest):
        return [curve(s, steps, base_lr) for s in schedules]
    out = [replace(curve(trunk, steps, base_lr), role="trunk")]
    for s in rest:
        point = _branch_point(s, trunk)
        if point is None:
            out.append(curve(s, steps, base_lr))
            continue
        if point >= steps:
            raise ValueError(f"{s} branches off at step {point:g}, not below steps={steps}")
        c = curve(s, steps, base_lr, first=math.floor(point))
        _, chain = branches_of(s)
        out.append(replace(c, label=_branch_label(chain), role="branch", branch_at=point,
                           breakpoints=()))
    return out


def cooldown_branches(
    trunk: Schedule,
    steps: int,
    branches: Sequence[float],
    *,
    cooldown: float | None = None,
    fraction: float | None = None,
    shape: str = "1-sqrt",
    end: float = 0.0,
) -> list[Schedule]:
    """``cooldown(trunk, at, n, end, shape)`` for each ``at`` in ``branches`` (below ``steps``),
    ``n = cooldown`` or ``n = at * fraction / (1 - fraction)`` (``lrkit plot --branches``)."""
    from fractions import Fraction

    from lrkit.schedules.replan import Cooldown

    if (cooldown is None) == (fraction is None) and branches:
        raise ValueError("branches need the cooldown length: give cooldown (steps) or fraction "
                         "(of the branched run), not both")
    if not branches and (cooldown is not None or fraction is not None):
        raise ValueError("cooldown and fraction describe branches: give the branch steps too")
    if fraction is not None and not (isinstance(fraction, int | float) and 0 < fraction < 1):
        raise ValueError(f"fraction must be a number between 0 and 1 (the cooldown's share of "
                         f"the branched run); got {fraction!r}")
    made: list[Schedule] = []
    for at in branches:
        if isinstance(at, bool) or not isinstance(at, int | float) or not 0 <= at < steps:
            raise ValueError(f"a branch step must be a number from 0 to below steps={steps}; "
                             f"got {at!r}")
        if fraction is not None:
            share = Fraction(repr(float(fraction)))  # 0.2 is 1/5: 4000 * 1/5 / (4/5) is 1000
            n = float(Fraction(repr(float(at))) * share / (1 - share))
        else:
            n = float(cooldown)  # type: ignore[arg-type]
        made.append(Cooldown(trunk, at, n, end, shape))
    return made


def _branch_point(s: Schedule, trunk: Schedule) -> float | None:
    """The step where ``s`` leaves ``trunk`` (``s`` a chain of splices/cooldowns of it), or
    None."""
    from lrkit.schedules.replan import branches_of

    base, chain = branches_of(s)
    if not chain or base != trunk:
        return None
    return float(min(c.at for c in chain))


def _branch_label(chain: Sequence[Schedule]) -> str:
    """``cooldown at 4000: 1000 steps, 1-sqrt`` / ``splice at 600: cosine(...), ramp 50``."""
    from lrkit.schedules.replan import Cooldown

    parts = []
    for c in chain:
        if isinstance(c, Cooldown):
            to = "" if c.end == 0 else f" to {c.end:g}"
            parts.append(f"cooldown at {c.at:g}: {c.steps:g} steps, {c.shape}{to}")
        else:
            ramp = f", ramp {c.ramp:g}" if c.ramp else ""  # type: ignore[attr-defined]
            parts.append(f"splice at {c.at:g}: {c.new}{ramp}")  # type: ignore[attr-defined]
    return "; then ".join(parts)


def _check_finite(curves: Sequence[Curve]) -> None:
    for c in curves:
        for t, v in zip(c.xs, c.values, strict=True):
            if not math.isfinite(v):
                raise ValueError(f"cannot draw {c.label}: the rate at step {t} is {v!r}")


def _check_log(curves: Sequence[Curve]) -> None:
    if not any(v > 0.0 for c in curves for v in c.values):
        raise ValueError("a log axis needs a positive rate, and every rate to draw is 0")


def _output_format(path: str) -> str:
    ext = os.path.splitext(path)[1].lower().lstrip(".")
    if ext not in FORMATS:
        shown = f"'.{ext}'" if ext else "no extension"
        raise ValueError(
            f"cannot tell the chart format of {path!r} ({shown}); use a file name ending in "
            + " or ".join(f".{f}" for f in FORMATS)
        )
    return ext


def plot_schedules(
    curves: Sequence[Curve],
    path: str,
    *,
    log: bool = False,
    width: int = 800,
    height: int = 450,
    dpi: int = 100,
    title: str | None = None,
) -> Any:
    """Write one chart comparing ``curves`` to ``path`` (PNG or SVG by extension), ``width`` x
    ``height`` pixels at ``dpi``; phase boundaries are light dashed lines in each curve's colour.
    Returns the matplotlib Figure.
    """
    _output_format(path)
    if not curves:
        raise ValueError("nothing to plot: give at least one schedule")
    _check_finite(curves)
    if width < 50 or height < 50 or dpi < 10:
        raise ValueError(f"chart size must be at least 50x50 pixels at dpi >= 10; got "
                         f"{width}x{height} at dpi {dpi}")
    if log:
        _check_log(curves)
    require("matplotlib", "plot")
    import matplotlib
    from matplotlib.figure import Figure

    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "lrkit"}):
        fig = Figure(figsize=(width / dpi, height / dpi), dpi=dpi, layout="constrained")
        ax = fig.add_subplot()
        long_labels = max(len(c.label) for c in curves) > 60 or len(curves) > 4
        colours = (f"C{i}" for i in range(10**6))  # a trunk takes no colour of the cycle
        for c in curves:
            xs = [*c.xs, c.steps]
            ys = [*c.values, c.values[-1]]
            label = _wrap_label(c.label, width, dpi) if long_labels else c.label
            style: dict[str, Any] = {"linewidth": 1.6}
            if c.role == "trunk":
                style = {"color": "0.55", "linewidth": 2.4, "zorder": 1}
            elif any(k.role == "trunk" for k in curves):
                style["color"] = next(colours)
            (line,) = ax.plot(xs, ys, drawstyle="steps-post", label=label, **style)
            if c.branch_at is not None:
                ax.plot([c.branch_at], [c.values[0]], "o", color=line.get_color(), markersize=4,
                        zorder=3)
            for b in c.breakpoints:
                ax.axvline(b, color=line.get_color(), alpha=0.35, linewidth=0.9, linestyle="--",
                           zorder=0)
        ax.set_xlim(0, max(c.steps for c in curves))
        if log:
            ax.set_yscale("log", nonpositive="mask")
        else:
            ax.set_ylim(bottom=min(0.0, *(min(c.values) for c in curves)))
        if not log:
            ax.ticklabel_format(axis="y", style="sci", scilimits=(-3, 4), useMathText=True)
        ax.set_xlabel("step")
        ax.set_ylabel("learning rate")
        ax.grid(True, which="major", alpha=0.25)
        if title:
            ax.set_title(title, fontsize="medium")
        if long_labels:
            fig.legend(loc="outside lower center", fontsize="x-small", frameon=False)
        else:
            ax.legend(loc="best", fontsize="small")
        try:
            save_figure(fig, path, dpi=dpi)
        except OSError as exc:
            raise OSError(exc.errno, f"cannot write {path!r}: {exc.strerror or exc}") from None
    return fig


def _wrap_label(label: str, width: int, dpi: int) -> str:
    """A legend label below the chart, broken at spaces into lines that fit ``width`` pixels
    (x-small text: about 0.6 of its 6.9 pt size per character)."""
    import textwrap

    per_char = 0.6 * 6.9 / 72 * dpi
    return "\n".join(textwrap.wrap(label, width=max(20, int(0.92 * width / per_char)),
                                    break_long_words=False, break_on_hyphens=False))


def save_figure(fig: Any, path: str, *, dpi: float = 100) -> None:
    """Save a matplotlib Figure by the extension of ``path``. PNG: opaque RGB, losslessly
    optimised (about 10% smaller than matplotlib's RGBA); SVG: text kept as text, no date (the
    same chart gives the same file); other formats as matplotlib writes them."""
    import io

    import matplotlib

    ext = os.path.splitext(path)[1].lower().lstrip(".")
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "lrkit"}):
        if ext == "png":
            from PIL import Image

            buf = io.BytesIO()
            fig.savefig(buf, format="png", dpi=dpi, facecolor="white")
            buf.seek(0)
            with Image.open(buf) as img:
                img.convert("RGB").save(path, format="PNG", optimize=True)
        elif ext == "svg":
            fig.savefig(path, format="svg", dpi=dpi, metadata={"Date": None})
        else:
            fig.savefig(path, dpi=dpi)


_TERMINAL_MARKERS = ("hd", "•", "x", "+", "o", "*")
_TERMINAL_SYMBOLS = ("▚", "•", "x", "+", "o", "*")


def terminal_chart(
    curves: Sequence[Curve],
    *,
    log: bool = False,
    width: int = 100,
    height: int = 25,
    color: bool = False,
    title: str | None = None,
) -> str:
    """The chart as text (plotext), ``width`` x ``height`` characters; ANSI colours if ``color``."""
    if not curves:
        raise ValueError("nothing to plot: give at least one schedule")
    _check_finite(curves)  # plotext aborts the process (a C++ error) on NaN or inf
    if log:
        _check_log(curves)
    plt = require("plotext", "plot")
    fig = plt.figure
    limits = list(getattr(plt.terminal, "_limit", (True, True)))
    plt.terminal.limit(False, False)  # our width and height, not plotext's idea of the terminal
    try:
        return _terminal_chart(plt, fig, curves, log, width, height, color, title)
    finally:
        plt.terminal.limit(*limits)
        fig.clear.all()


def _terminal_chart(plt: Any, fig: Any, curves: Sequence[Curve], log: bool, width: int,
                    height: int, color: bool, title: str | None) -> str:
    fig.clear.all()
    legend_lines = [f"  {_TERMINAL_SYMBOLS[i % len(_TERMINAL_MARKERS)]} {c.label}"
                    for i, c in enumerate(curves)]
    fig.plot_size(max(width, 40), max(height - len(legend_lines), 8))
    if not color:
        fig.theme("colorless")
    for i, c in enumerate(curves):
        stride = max(1, math.ceil(len(c.xs) / 2000))
        idx = [*range(0, len(c.xs), stride), len(c.xs) - 1]
        pts = [(float(c.xs[k]), c.values[k]) for k in idx]
        if log:
            pts = [(x, y) for x, y in pts if y > 0.0]
        if not pts:
            continue
        marker = _TERMINAL_MARKERS[i % len(_TERMINAL_MARKERS)]
        sig = fig.signal([p[0] for p in pts], [p[1] for p in pts], marker=marker).lines()
        fig.draw(sig)
        for b in c.breakpoints:
            fig.line(b, orientation=1, relative=True, style="dotted")
    fig.legend(False)
    if log:
        fig.ruler(1).scale("log")
    if title:
        fig.title(title)
    fig.label("step", axis=0)
    fig.label("learning rate", axis=1)
    out = fig.build()
    text: str = out.string(colorless=not color)
    return text.rstrip("\n") + "\n" + "\n".join(legend_lines) + "\n"


def plot_range_test(result: RangeTestResult, path: str | None = None, *, ax: Any = None) -> Any:
    """Loss against rate (log x): the sweep's raw losses faint, their EMA and their running
    median (what reach and ceiling are read from), each trial's score at its peak, reach, the
    ceiling and the suggestion marked.

    Draws on ``ax`` when given, else on a new 800x450 Figure; saves to ``path`` when given (format
    from its extension). Returns the Figure.
    """
    require("matplotlib", "plot")
    from lrkit.rangetest import running_median

    if ax is None:
        from matplotlib.figure import Figure

        fig = Figure(figsize=(8, 4.5), dpi=100, layout="constrained")
        ax = fig.add_subplot()
    else:
        fig = ax.figure
    lrs, losses, raw = result.lrs, result.losses, result.raw_losses
    ax.plot(lrs, raw, color="0.6", alpha=0.5, linewidth=0.8, label="sweep: loss")
    ax.plot(lrs, losses, color="C0", linewidth=1.6, label="sweep: smoothed loss (EMA)")
    median = running_median(raw, max(2, len(raw) // 20))
    ax.plot(lrs, median, color="C1", linewidth=1.2, label="sweep: running median")
    shown = [*losses, *median]
    horizons = sorted({t.horizon or t.steps for t in result.trials})
    for i, h in enumerate(horizons):  # the informed call runs two horizons
        scored = [(t.peak, t.score) for t in result.trials
                  if (t.horizon or t.steps) == h and math.isfinite(t.score)]
        if not scored:
            continue
        judged = ("validation loss" if result.trials[0].judged_on == "validation"
                  else "final loss")
        ax.plot([p for p, _ in scored], [s for _, s in scored], "os^"[i % 3],
                color=f"C{2 + i}", markersize=6, label=f"trials: {judged} ({h} steps each)",
                zorder=3)
        shown += [s for _, s in scored]
    ax.set_xscale("log")
    k = min(range(len(losses)), key=losses.__getitem__)
    top = max(max(losses[: k + 1]), *shown[:1])
    bottom = min(min(shown), min(raw))
    span = max(top - bottom, abs(top) * 1e-3, 1e-12)
    ax.set_ylim(bottom - 0.05 * span, top + 0.15 * span)
    if math.isfinite(result.reach):
        ax.axvline(result.reach, color="0.6", linestyle=":", linewidth=1.0,
                   label=f"reach {result.reach:.3g}")
    if math.isfinite(result.ceiling):
        ax.axvline(result.ceiling, color="0.3", linestyle=":", linewidth=1.0,
                   label=f"ceiling {result.ceiling:.3g}")
    s = result.suggestion
    ax.axvline(s, color="C3", linestyle="--", linewidth=1.2, label=f"suggestion {s:.3g}")
    ax.set_xlabel("learning rate")
    ax.set_ylabel("loss")
    ax.set_title(f"LR range test: sweep of {len(lrs)} steps ({result.stop_reason}), "
                 f"{len(result.trials)} trials, {result.steps_used} steps in all",
                 fontsize="medium")
    ax.grid(True, which="both", alpha=0.2)
    ax.legend(loc="best", fontsize="small")
    if path is not None:
        save_figure(fig, path, dpi=round(fig.dpi))
    return fig
