"""The range test's suggestion against what is known: a grid search on real training tasks
(the panel, ``--panel``) and the stability limit of least squares.

    .venv/bin/python -m bench.rangetest [--panel] [--seeds 3] [--tasks NAME,...]
                                        [--problems 400] [--seed 0] [--out bench/results]

``--panel`` first runs the panel of ``bench/lrpanel.py`` (every task trained at a grid of
peaks and at each rule's suggestion; an hour or more on two cores) and writes it as the first
part of the report, with its chart ``rangetest-panel.png`` and raw numbers
``rangetest-panel.json``. Without it only the least-squares study runs (seconds).

Least squares: plain (mini-batch) SGD on ``0.5 * ||X w - y||^2 / n`` diverges for rates above
``2/L``, ``L`` the largest eigenvalue of ``X^T X / n``. Each problem draws a condition number
(1 to 1000, log-uniform), ``L`` (0.3 to 100), a batch size (full, 32, 8), a sweep length (30, 50,
100, 200, 300 steps) and a sweep range (1e-7..10, 1e-5..10, 1e-4..100), runs ``find_lr`` once
with its default trials, and records ``suggestion / (2/L)`` for lrkit's suggestion and, from the
same sweep, for two others:

- lrkit 0.1: the sweep alone, the edge of the loss minimum / 6 (``lrkit.rangetest.suggest_lr``,
  what ``find_lr(..., trials=0)`` returns);
- fastai ``lr_min``: the rate at the minimum of the EMA-smoothed loss, divided by 10.

A ratio >= 1 is a rate at which SGD diverges; below ~0.1 the rate is needlessly small.

A second set of problems uses heavy-ball momentum (``SGD(momentum=beta)``, beta 0.5 or 0.9),
stable on a quadratic below ``2 (1 + beta) / L``; ratios are taken against that limit.
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import sys
import time
import warnings
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bench.machine import header, write_report

BATCHES: tuple[int | None, ...] = (None, 32, 8)
STEPS = (30, 50, 100, 200, 300)
RANGES = ((1e-7, 10.0), (1e-5, 10.0), (1e-4, 100.0))


def least_squares(
    rng: np.random.Generator, n: int, d: int, cond: float, lmax: float
) -> tuple[torch.Tensor, torch.Tensor, float]:
    """X (n x d) with the eigenvalues of X^T X / n spread log-evenly from ``lmax`` down to
    ``lmax / cond``, y = X w* + noise; returns X, y and the critical rate 2 / L."""
    u, _ = np.linalg.qr(rng.normal(size=(n, d)))
    v, _ = np.linalg.qr(rng.normal(size=(d, d)))
    sv = math.sqrt(n * lmax) * np.geomspace(1.0, 1.0 / math.sqrt(cond), d)
    x = u @ np.diag(sv) @ v.T
    y = x @ rng.normal(size=d) + 0.1 * rng.normal(size=n)
    exact = float(np.linalg.eigvalsh(x.T @ x / n).max())
    return torch.tensor(x), torch.tensor(y), 2.0 / exact


def half_mse(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return 0.5 * ((out.squeeze(-1) - y) ** 2).mean()


def fastai_lr_min(lrs: Sequence[float], smoothed: Sequence[float]) -> float:
    k = min(range(len(smoothed)), key=smoothed.__getitem__)
    return float(lrs[k]) / 10.0


def one_problem(index: int, seed: int, momentum: float = 0.0) -> dict[str, Any]:
    from lrkit.torch import find_lr

    pick = random.Random(seed * 1_000_003 + index + int(1000 * momentum) * 7_919)
    cond = 10 ** pick.uniform(0.0, 3.0)
    lmax = 10 ** pick.uniform(math.log10(0.3), 2.0)
    batch = pick.choice(BATCHES)
    steps = pick.choice(STEPS)
    start, end = pick.choice(RANGES)
    x, y, critical = least_squares(np.random.default_rng([seed, index]), 256, 10, cond, lmax)
    critical *= 1.0 + momentum  # heavy ball on a quadratic: stable below 2 (1 + beta) / L
    loader: Any
    if batch is None:
        loader = [(x, y)]
    else:
        data = torch.utils.data.TensorDataset(x, y)
        gen = torch.Generator().manual_seed(seed * 7919 + index)
        loader = torch.utils.data.DataLoader(data, batch_size=batch, shuffle=True, generator=gen)
    model = torch.nn.Linear(10, 1, bias=False).double()
    with torch.no_grad():
        model.weight.zero_()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=momentum)
    with warnings.catch_warnings():  # "raise end": a few small-L problems never diverge
        warnings.simplefilter("ignore", UserWarning)
        r = find_lr(model, opt, half_mse, loader, start=start, end=end, steps=steps,
                    progress=False)
    return {
        "batch": "full" if batch is None else str(batch),
        "steps": steps,
        "lrkit": r.suggestion / critical,
        "lrkit 0.1 (sweep only)": r.sweep_suggestion / critical,
        "fastai lr_min": fastai_lr_min(r.lrs, r.losses) / critical,
        "cost": r.steps_used,
    }


RULES = ("lrkit", "lrkit 0.1 (sweep only)", "fastai lr_min")
MOMENTA = (0.5, 0.9)


def _row(label: str, values: Sequence[float]) -> str:
    s = sorted(values)
    unstable = sum(v >= 1.0 for v in s)
    small = sum(v < 0.1 for v in s)
    return (
        f"| {label} | {len(s)} | {s[0]:.2g} | {s[len(s) // 20]:.3f} | {statistics.median(s):.3f} "
        f"| {s[(19 * len(s)) // 20]:.3f} | {s[-1]:.3f} | {unstable} | {small} |"
    )


HEAD = [
    "| | problems | min | 5% | median | 95% | max | unstable (>= 1) | < 0.1 |",
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
]


def report(
    rows: list[dict[str, Any]], momentum_rows: dict[float, list[dict[str, Any]]], seconds: float,
    problems: int,
) -> list[str]:
    steps = sorted(r["cost"] for r in rows)
    lines = [
        "## Least squares: the suggestion against the stability limit 2/L",
        "",
        f"{problems} random least-squares problems, plain SGD (n = 256, d = 10; condition number "
        "1 to 1000, "
        "L 0.3 to 100, log-uniform; batch full / 32 / 8; sweeps of 30 to 300 steps over "
        f"1e-7..10, 1e-5..10 or 1e-4..100), one `find_lr` each, and {max(10, problems // 4)} "
        f"more with each momentum; {seconds:.0f} s in all. Every number is "
        "`suggestion / (2/L)`: SGD diverges at 1 and above. lrkit's default cost "
        f"{steps[len(steps) // 2]} optimizer steps (median; {steps[0]} to {steps[-1]}: the "
        "sweep's own length varies from 30 to 300 steps), the two sweep-only rules the sweep's.",
        "",
        "### Three rules on the same sweeps",
        "",
        *HEAD,
        *(_row(rule, [r[rule] for r in rows]) for rule in RULES),
        "",
        "### lrkit's suggestion by batch and sweep length",
        "",
        *HEAD,
    ]
    groups: dict[tuple[str, int], list[float]] = defaultdict(list)
    for r in rows:
        groups[(r["batch"], r["steps"])].append(r["lrkit"])
    order = {b: i for i, b in enumerate(("full", "32", "8"))}
    for batch, steps in sorted(groups, key=lambda k: (order[k[0]], k[1])):
        lines.append(_row(f"batch {batch}, {steps} steps", groups[(batch, steps)]))
    lines += [
        "",
        "### With heavy-ball momentum (ratios against 2 (1 + beta) / L)",
        "",
        "With momentum the sweep's loss rings as the rate rises: it falls to a first minimum, "
        "bounces as the momentum overshoots, and diverges only near the limit. The sweep-only "
        "rules read the first minimum, so at beta = 0.9 they land one to two orders of "
        "magnitude below the limit. lrkit's default does little better: its trials stay below "
        "half of the sweep's ceiling, which the ringing places early, and start at the sweep's "
        "reach, which is early too: the suggestion is then too small, not unstable.",
        "",
        *HEAD,
    ]
    for beta, mrows in momentum_rows.items():
        for rule in RULES:
            lines.append(_row(f"beta {beta:g}: {rule}", [r[rule] for r in mrows]))
    lines.append("")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    doc = __doc__ or ""
    parser = argparse.ArgumentParser(prog="python -m bench.rangetest",
                                     description=doc.split("\n")[0])
    parser.add_argument("--problems", type=int, default=400)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("bench/results"))
    parser.add_argument("--panel", action="store_true",
                        help="first run the training panel (bench/lrpanel.py; an hour or more)")
    parser.add_argument("--seeds", type=int, default=2, help="panel seeds per task")
    parser.add_argument("--grid-cache", default=None,
                        help="read and write the panel's grids in this JSON file (re-runs "
                             "train only the suggestions)")
    parser.add_argument("--tasks", type=lambda t: [x for x in t.split(",") if x], default=None,
                        help="panel tasks, comma-separated (default: all)")
    args = parser.parse_args(argv)
    if args.problems < 20:
        parser.error(f"--problems must be >= 20; got {args.problems}")
    if args.seeds < 1:
        parser.error(f"--seeds must be >= 1; got {args.seeds}")
    torch.set_num_threads(1)
    panel_lines: list[str] = []
    if args.panel:
        panel_lines = run_panel_report(args)
    begin = time.perf_counter()
    rows = []
    for i in range(args.problems):
        rows.append(one_problem(i, args.seed))
        if (i + 1) % 50 == 0:
            print(f"{i + 1} / {args.problems}", flush=True)
    extra = max(10, args.problems // 4)
    momentum_rows = {
        beta: [one_problem(i, args.seed, beta) for i in range(extra)] for beta in MOMENTA
    }
    lines = report(rows, momentum_rows, time.perf_counter() - begin, args.problems)
    title = ("LR range test: the suggestion against a grid search and against 2/L" if args.panel
             else "LR range test: the suggestion on least squares, against 2/L")
    lines = [header(title, ("torch", "numpy")), *panel_lines, *lines]
    print("\n".join(lines))
    write_report(args.out, "rangetest.md", lines)
    return 0


def run_panel_report(args: argparse.Namespace) -> list[str]:
    """The panel's part of the report; its chart and raw numbers are written next to it."""
    import json

    from bench import lrpanel

    if args.grid_cache:
        lrpanel.GRID_CACHE[:] = [args.grid_cache]
    args.out.mkdir(parents=True, exist_ok=True)
    lrpanel.PROGRESS[:] = [str(args.out / "rangetest-panel.json")]
    cases, seconds = lrpanel.run_panel(args.seeds, args.tasks, lambda m: print(m, flush=True))
    args.out.mkdir(parents=True, exist_ok=True)
    chart_name = "rangetest-panel.png"
    lrpanel.chart(cases, str(args.out / chart_name))
    (args.out / "rangetest-panel.json").write_text(json.dumps(lrpanel.raw(cases)))
    return [*lrpanel.report(cases, seconds, chart_name), ""]


if __name__ == "__main__":
    sys.exit(main())
