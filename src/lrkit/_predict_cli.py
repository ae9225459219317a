"""``lrkit predict``: fit the Multi-Power Law on logged runs, rank candidate schedules.

    lrkit predict --run "3e-4*wsd(warmup=500, stable=8000, decay=1500)=run1.csv" \\
        "3e-4*warmup(cosine(steps=9500), steps=500)" "3e-4*wsd(...)" --steps 10000 -o chart.png

A run is ``SPEC=FILE.csv`` (a CSV with ``step`` and ``loss`` columns; SPEC the absolute
schedule that produced it) or ``FILE.csv`` alone with ``step``, ``lr`` and ``loss`` columns and a
row for every step from 0 (``loss`` may be empty where it was not measured). Candidates are
specs (absolute, or unitless with ``--base-lr``). Prints the predicted final loss of each
candidate with its band, best first; ``-o`` also charts the predicted curves.

This module imports numpy and SciPy only when the command runs (``lrkit[losscurve]``).
"""

from __future__ import annotations

import argparse
import csv
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

SPEC_NOTE = "absolute (3e-4*cosine(steps=9000)) or unitless with --base-lr"


class PredictError(Exception):
    """A one-line error of ``lrkit predict`` (the CLI prints it and exits 2)."""


def read_run(path: str, with_spec: bool) -> tuple[list[int], list[float], list[float] | None]:
    """(steps, losses, per-step rates or None) from a CSV with step, loss (and lr) columns."""
    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
    except OSError as exc:
        raise PredictError(f"--run {path}: {exc.strerror or exc}") from None
    if not rows:
        raise PredictError(f"--run {path}: no rows (expected a header and step,loss rows)")
    columns = set(rows[0])
    need = {"step", "loss"} if with_spec else {"step", "lr", "loss"}
    if not need <= columns:
        what = "step,loss" if with_spec else "step,lr,loss (or give the schedule: SPEC=FILE)"
        raise PredictError(f"--run {path}: expected columns {what}; got {','.join(rows[0])}")
    steps: list[int] = []
    losses: list[float] = []
    lrs: list[float] = []
    for line, row in enumerate(rows, start=2):
        try:
            step = float(row["step"])
            loss_text = (row["loss"] or "").strip()
            loss = float(loss_text) if loss_text else None
            lr = float(row["lr"]) if not with_spec else 0.0
        except (TypeError, ValueError):
            raise PredictError(f"--run {path}: line {line}: expected numbers; got {row}") from None
        if not step.is_integer() or step < 0:
            raise PredictError(f"--run {path}: line {line}: step must be an integer >= 0")
        if not with_spec:
            if int(step) != len(lrs):
                raise PredictError(
                    f"--run {path}: line {line}: step {int(step)} where step {len(lrs)} was "
                    "expected; a step,lr,loss file needs a row for every step from 0 (the rate "
                    "of each step), or give the schedule as SPEC=FILE"
                )
            lrs.append(lr)
        if loss is not None:
            if not math.isfinite(loss) or loss <= 0:
                raise PredictError(f"--run {path}: line {line}: loss must be finite and > 0")
            steps.append(int(step))
            losses.append(loss)
    if not steps:
        raise PredictError(f"--run {path}: no measured loss")
    return steps, losses, (lrs if not with_spec else None)


def _split_run(text: str) -> tuple[str | None, str]:
    spec, sep, path = text.rpartition("=")
    if not sep or not path.strip():
        return None, text
    if not path.lower().endswith(".csv"):
        # a spec alone (keyword arguments hold '='): no file given
        raise PredictError(f"--run {text}: expected SPEC=FILE.csv or FILE.csv")
    return spec.strip(), path.strip()


def _fmt(x: float) -> str:
    return f"{x:.4f}"


def run(args: argparse.Namespace, load: Callable[[str], Any]) -> int:
    """Execute ``lrkit predict`` (``load`` turns a spec argument into a schedule)."""
    try:
        from lrkit.losscurve import fit
    except ImportError as exc:
        raise PredictError(
            f"lrkit predict needs numpy and SciPy: pip install 'lrkit[losscurve]' ({exc})"
        ) from None
    if args.output is not None and Path(args.output).suffix.lower() not in (".png", ".svg"):
        raise PredictError(f"-o {args.output}: expected a .png or .svg file name")
    if args.band < 0:
        raise PredictError(f"--band: expected an integer >= 0; got {args.band}")
    scale = args.base_lr if args.base_lr is not None else 1.0
    runs = []
    for text in args.run:
        spec, path = _split_run(text)
        steps, losses, lrs = read_run(path, with_spec=spec is not None)
        rates: Any = scale * load(spec) if spec is not None else lrs
        runs.append((rates, steps, losses))
    candidates = [(text, scale * load(text)) for text in args.specs]
    law = fit(runs, form=args.form, method=args.method, band=args.band)
    last = args.steps - 1
    every = max(1, args.steps // 200)
    grid = sorted(set(range(every, args.steps, every)) | {last})
    rows = []
    curves = []
    for text, sched in candidates:
        pred = law.predict(sched, grid)
        lows, highs = law.band(sched, [last])
        rows.append((float(pred[-1]), float(lows[0]), float(highs[0]), text))
        curves.append((text, pred))
    rows.sort(key=lambda r: r[0])
    print(f"{args.form} law fitted on {len(runs)} run(s): rms log residual "
          f"{law.rms_residual:.2g}; predicted loss at step {last}:")
    width = max(len(r[3]) for r in rows)
    print(f"  {'rank':>4}  {'schedule':<{width}}  {'loss':>8}  band")
    for i, (value, low, high, text) in enumerate(rows, start=1):
        print(f"  {i:>4}  {text:<{width}}  {_fmt(value):>8}  [{_fmt(low)}, {_fmt(high)}]")
    if args.output is not None:
        _chart(args.output, grid, curves, runs)
        print(f"wrote {args.output}")
    return 0


def _chart(path: str, grid: list[int], curves: list[tuple[str, Any]], runs: list[Any]) -> None:
    suffix = Path(path).suffix.lower()
    if suffix not in (".png", ".svg"):
        raise PredictError(f"-o {path}: expected a .png or .svg file name")
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise PredictError("-o needs matplotlib: pip install 'lrkit[plot]'") from None
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=100)
    for text, pred in curves:
        ax.plot(grid, pred, label=text if len(text) < 60 else text[:57] + "...")
    for i, (_, steps, losses) in enumerate(runs):
        ax.plot(steps, losses, ".", ms=3, color="0.4", label="logged runs" if i == 0 else None)
    ax.set_xlabel("step")
    ax.set_ylabel("loss (predicted)")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    try:
        fig.savefig(path)
    except OSError as exc:
        raise PredictError(f"-o {path}: {exc.strerror or exc}") from None
    finally:
        plt.close(fig)


def add_parser(sub: Any, spec_help: str, steps_type: Callable[[str], int],
               lr_type: Callable[[str], float]) -> argparse.ArgumentParser:
    """Register ``predict`` on the CLI's subparsers."""
    p: argparse.ArgumentParser = sub.add_parser(
        "predict",
        help="fit the Multi-Power Law on logged runs and rank candidate schedules",
        description="Fit a loss-curve law (Luo et al. 2025) on one or more logged runs, then "
        "predict each candidate's loss curve; prints the final losses with a band, best first.",
    )
    p.add_argument("specs", nargs="+", metavar="SPEC", help=f"candidate schedules: {spec_help}")
    p.add_argument("--run", action="append", required=True, metavar="[SPEC=]FILE.csv",
                   help="a logged run: SPEC=FILE.csv (columns step,loss; SPEC the schedule "
                   "that produced it) or FILE.csv (columns step,lr,loss, a row per step from "
                   "0); repeat for more runs")
    p.add_argument("--steps", type=steps_type, required=True, metavar="N",
                   help="candidates run N optimizer steps; the final loss is at step N-1")
    p.add_argument("--base-lr", type=lr_type, default=None, metavar="X",
                   help="multiply every spec (runs and candidates) by this rate")
    p.add_argument("--form", choices=("multi-power", "annealing"), default="multi-power",
                   help="the law (default multi-power)")
    p.add_argument("--method", choices=("paper", "lsq"), default="paper",
                   help="the fit: the paper's procedure (default) or SciPy least squares")
    p.add_argument("--band", type=int, default=8, metavar="K",
                   help="refits on resampled points for the band (default 8; 0: none)")
    p.add_argument("-o", "--output", metavar="FILE", help="chart the predicted curves (.png/.svg)")
    return p
