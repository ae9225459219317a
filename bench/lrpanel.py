"""The range-test panel: does ``find_lr``'s suggestion train as well as a grid search?

    .venv/bin/python -m bench.rangetest --panel [--seeds 3] [--tasks NAME,...] [--out DIR]

For every task of ``bench/paneltasks.py`` and seed: a log grid of 17 peaks a quarter of a decade
apart, each trained for the task's budget with linear warmup over 5% of it then cosine to 0
(``lrkit.torch.LRScheduler``-free: the rate is written into the optimizer before each step);
``lr*`` is the grid's best by final validation loss. Then one ``lrkit.torch.find_lr`` with its
defaults, and from the very same sweep the published rules: fastai's ``valley`` (its default
suggestion), the steepest slope of the smoothed loss (pytorch-lr-finder's suggestion and fastai's
``steep``), Lightning's steepest slope against the rate itself, and lrkit 0.1's edge / 6
(``lrkit.rangetest.suggest_lr``). Each suggestion is trained exactly like a grid point; the
report gives its final validation loss over the grid's best and the optimizer steps it cost.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from bench.paneltasks import PanelTask, design_tasks, held_out_tasks

GRID_POINTS = 17
GRID_LOW = {"sgd": -3.5, "adam": -4.5}  # log10 of the lowest grid peak, per optimizer family
FIND_LR_LOADER_SEED = 500  # the range test sees the batches in another order than training
RULES = ("lrkit", "fastai valley", "steepest", "Lightning", "lrkit 0.1")


def grid_peaks(task: PanelTask) -> list[float]:
    lo = GRID_LOW[task.family]
    return [10.0 ** (lo + 0.25 * k) for k in range(GRID_POINTS)]


def train(task: PanelTask, seed: int, peak: float) -> float:
    """Final validation loss after ``task.steps`` steps of warmup 5% + cosine at ``peak``
    (``inf`` if the loss became non-finite)."""
    import lrkit as lk

    model = task.model(seed)
    opt = task.optimizer(model, peak)
    w = max(1, round(0.05 * task.steps))
    schedule = peak * lk.warmup(lk.cosine(task.steps - w), w)
    loader = task.loader(seed)
    batches = iter(loader)
    for step in range(task.steps):
        try:
            x, y = next(batches)
        except StopIteration:
            batches = iter(loader)
            x, y = next(batches)
        for group in opt.param_groups:
            group["lr"] = schedule(step)
        loss = task.loss_fn(model(x), y)
        if not math.isfinite(loss.item()):
            return math.inf
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return task.evaluate(model)


# ---------------------------------------------------------------------------------------------
# the published rules, on lrkit's sweep (lrkit's defaults are fastai's: 1e-7..10, 100 steps,
# EMA 0.98, stop at 4x the best)


def fastai_valley(lrs: Sequence[float], smoothed: Sequence[float]) -> float:
    """fastai's ``valley`` (``fastai.callback.schedule``): the longest descending run of the
    smoothed loss, 2/3 of the way down; on ``[n//10 : -5]`` as ``lr_find`` trims it."""
    lrs, losses = _trim(lrs, smoothed, len(lrs) // 10, 5)
    n = len(losses)
    max_start, max_end = 0, 0
    lds = [1] * n
    for i in range(1, n):
        for j in range(i):
            if losses[i] < losses[j] and lds[i] < lds[j] + 1:
                lds[i] = lds[j] + 1
            if lds[max_end] < lds[i]:
                max_end = i
                max_start = max_end - lds[max_end]
    sections = (max_end - max_start) / 3
    return float(lrs[max_start + int(sections) + int(sections / 2)])


def steepest(lrs: Sequence[float], smoothed: Sequence[float]) -> float:
    """pytorch-lr-finder's suggestion (and fastai's ``steep``): the most negative
    ``numpy.gradient`` of the smoothed loss per step (a step is a constant factor in the rate),
    skipping the first 10 and the last 5 points."""
    import numpy as np

    lrs, losses = _trim(lrs, smoothed, 10, 5)
    return float(lrs[int(np.argmin(np.gradient(np.asarray(losses))))])


def lightning(lrs: Sequence[float], smoothed: Sequence[float]) -> float:
    """Lightning's ``_LRFinder.suggestion``: the most negative ``torch.gradient`` of the
    smoothed loss with respect to the rate itself, skipping the first 10 and the last point."""
    lrs, losses = _trim(lrs, smoothed, 10, 1)
    grad = torch.gradient(torch.tensor(losses), spacing=[torch.tensor(lrs)])[0]
    return float(lrs[int(torch.argmin(grad))])


def _trim(lrs: Sequence[float], losses: Sequence[float], head: int, tail: int
          ) -> tuple[list[float], list[float]]:
    n = len(lrs)
    if n - head - tail >= 2:
        return list(lrs[head : n - tail]), list(losses[head : n - tail])
    return list(lrs), list(losses)


# ---------------------------------------------------------------------------------------------
# one task and seed


@dataclass
class Case:
    """The grid and every rule's outcome for one task and seed."""

    task: str
    seed: int
    family: str
    held_out: bool
    peaks: list[float]
    grid: list[float]
    suggestions: dict[str, float] = field(default_factory=dict)
    losses: dict[str, float] = field(default_factory=dict)
    steps: dict[str, int] = field(default_factory=dict)
    trials: list[tuple[float, float]] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def best(self) -> float:
        return min(self.grid)

    @property
    def lr_star(self) -> float:
        return self.peaks[self.grid.index(self.best)]

    @property
    def at_grid_edge(self) -> bool:
        k = self.grid.index(self.best)
        return k in (0, len(self.grid) - 1)

    def ratio(self, rule: str) -> float:
        return self.losses[rule] / self.best


def run_case(task: PanelTask, seed: int, held_out: bool, log: Callable[[str], None]) -> Case:
    from lrkit.rangetest import smoothed, suggest_lr
    from lrkit.torch import find_lr

    begin = time.perf_counter()
    peaks = grid_peaks(task)
    grid = [train(task, seed, p) for p in peaks]
    case = Case(task.name, seed, task.family, held_out, peaks, grid)
    model = task.model(seed)
    opt = task.optimizer(model, 1.0)
    result = find_lr(model, opt, task.loss_fn, task.loader(seed + FIND_LR_LOADER_SEED),
                     progress=False)
    ema = smoothed(result.raw_losses, 0.98)
    sweep = len(result.lrs)
    case.suggestions = {
        "lrkit": result.suggestion,
        "fastai valley": fastai_valley(result.lrs, ema),
        "steepest": steepest(result.lrs, ema),
        "Lightning": lightning(result.lrs, ema),
        "lrkit 0.1": suggest_lr(result.lrs, result.raw_losses),
    }
    case.steps = {rule: sweep for rule in RULES}
    case.steps["lrkit"] = result.steps_used
    case.trials = [(t.peak, t.score) for t in result.trials]
    done: dict[float, float] = {}
    for rule, peak in case.suggestions.items():
        if peak not in done:
            done[peak] = train(task, seed, peak)
        case.losses[rule] = done[peak]
    case.seconds = time.perf_counter() - begin
    log(f"{task.name} seed {seed}: lr* {case.lr_star:.3g} ({case.best:.4g}); "
        + ", ".join(f"{r} {case.suggestions[r]:.3g} -> {case.ratio(r):.2f}" for r in RULES)
        + f" [{case.seconds:.0f}s]")
    return case


def run_panel(seeds: int, names: Sequence[str] | None, log: Callable[[str], None]
              ) -> tuple[list[Case], float]:
    torch.set_num_threads(1)
    tasks = [(t, False) for t in design_tasks()] + [(t, True) for t in held_out_tasks()]
    if names:
        unknown = set(names) - {t.name for t, _ in tasks}
        if unknown:
            raise ValueError(f"unknown panel tasks {sorted(unknown)}; known: "
                             f"{[t.name for t, _ in tasks]}")
        tasks = [(t, h) for t, h in tasks if t.name in names]
    begin = time.perf_counter()
    cases = [run_case(t, seed, h, log) for t, h in tasks for seed in range(seeds)]
    return cases, time.perf_counter() - begin


# ---------------------------------------------------------------------------------------------
# report


def _summary(values: Sequence[float]) -> str:
    if not values:
        return "-"
    return f"{statistics.median(values):.2f} / {max(values):.2f}"


def _ratio_text(r: float) -> str:
    if not math.isfinite(r):
        return "diverged"
    return f"**{r:.2f}**" if r > 1.5 else f"{r:.2f}"


def report(cases: list[Case], seconds: float, chart_name: str | None) -> list[str]:
    groups = {
        "design": [c for c in cases if not c.held_out],
        "held out": [c for c in cases if c.held_out],
        "all": cases,
    }
    lines = [
        "## The panel: training at each suggestion against a grid search",
        "",
        f"{len({c.task for c in cases})} tasks x {len({c.seed for c in cases})} seeds "
        f"({seconds / 60:.0f} min in all). Each cell: median / worst of the final validation "
        "loss at the rule's suggestion over the best of a 17-point grid of peaks (quarter "
        "decades), every run warmup 5% + cosine over the task's budget from the same initial "
        "weights and batches. The five rules read the same `find_lr` sweep (1e-7..10, 100 steps); "
        "only lrkit's default also runs its trials. The issue's bar: median <= 1.10 and worst "
        "<= 1.5, for momentum SGD and Adam alike.",
        "",
        "| rule | steps (median) | " + " | ".join(
            f"{g}: SGD | {g}: Adam" for g in groups if groups[g]) + " |",
        "|---|---:|" + "---:|---:|" * sum(1 for g in groups if groups[g]),
    ]
    for rule in RULES:
        cells = []
        for cs in groups.values():
            if not cs:
                continue
            for fam in ("sgd", "adam"):
                cells.append(_summary([c.ratio(rule) for c in cs if c.family == fam]))
        steps = statistics.median([c.steps[rule] for c in cases])
        lines.append(f"| {rule} | {steps:.0f} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "Per task and seed: `lr*` the grid's best peak, then each rule's suggestion as a multiple "
        "of `lr*` and, after the arrow, its loss ratio (bold above 1.5). Held-out tasks were run "
        "only after the method was fixed.",
        "",
        "| task | seed | lr* | best loss | " + " | ".join(RULES) + " | lrkit steps |",
        "|---|---:|---:|---:|" + "---|" * len(RULES) + "---:|",
    ]
    for c in cases:
        name = c.task + (" (held out)" if c.held_out else "")
        edge = " (grid edge)" if c.at_grid_edge else ""
        cells = [f"{c.suggestions[r] / c.lr_star:.2f}x -> {_ratio_text(c.ratio(r))}"
                 for r in RULES]
        lines.append(f"| {name} | {c.seed} | {c.lr_star:.3g}{edge} | {c.best:.4g} | "
                     + " | ".join(cells) + f" | {c.steps['lrkit']} |")
    if chart_name:
        lines += ["", f"![grid curves and suggestions]({chart_name})", ""]
    return lines


def chart(cases: list[Case], path: str) -> None:
    """One panel per task: validation loss / best against the peak, a line per seed; the
    suggestions of lrkit, fastai's valley and the steepest slope marked at their losses."""
    from matplotlib.figure import Figure

    from lrkit.plot import save_figure

    names = list(dict.fromkeys(c.task for c in cases))
    cols = 3
    rows = math.ceil(len(names) / cols)
    fig = Figure(figsize=(12, 3.2 * rows), dpi=100, layout="constrained")
    markers = {"lrkit": ("C3", "*", 12), "fastai valley": ("C0", "o", 6),
               "steepest": ("C2", "s", 6)}
    for i, name in enumerate(names):
        ax = fig.add_subplot(rows, cols, i + 1)
        for c in (c for c in cases if c.task == name):
            shown = [min(v / c.best, 4.0) for v in c.grid]
            ax.plot(c.peaks, shown, color="0.5", linewidth=1.0, alpha=0.8)
            for rule, (color, marker, size) in markers.items():
                ax.plot([c.suggestions[rule]], [min(c.ratio(rule), 4.0)], marker, color=color,
                        markersize=size, label=rule if c.seed == 0 else None)
        ax.set_xscale("log")
        ax.set_ylim(0.9, 4.1)
        ax.axhline(1.1, color="C3", linewidth=0.6, linestyle=":")
        ax.set_title(name + (" (held out)" if any(c.held_out for c in cases if c.task == name)
                             else ""), fontsize="small")
        ax.set_xlabel("peak learning rate", fontsize="small")
        ax.set_ylabel("val loss / grid best (cut at 4)", fontsize="small")
        ax.grid(True, which="both", alpha=0.2)
        if i == 0:
            ax.legend(fontsize="x-small", loc="upper left")
    save_figure(fig, path, dpi=100)


def raw(cases: list[Case]) -> list[dict[str, Any]]:
    return [{"task": c.task, "seed": c.seed, "family": c.family, "held_out": c.held_out,
             "peaks": c.peaks, "grid": c.grid, "suggestions": c.suggestions,
             "losses": c.losses, "steps": c.steps, "trials": c.trials,
             "seconds": round(c.seconds, 1)} for c in cases]


def example(task_name: str, seed: int, out: str) -> None:
    """``find_lr``'s own chart (``RangeTestResult.plot``) on one panel task."""
    from lrkit.torch import find_lr

    torch.set_num_threads(1)
    tasks = {t.name: t for t in [*design_tasks(), *held_out_tasks()]}
    task = tasks[task_name]
    model = task.model(seed)
    result = find_lr(model, task.optimizer(model, 1.0), task.loss_fn,
                     task.loader(seed + FIND_LR_LOADER_SEED), progress=False)
    fig = result.plot()
    fig.axes[0].set_title(f"{task.title}: {result.steps_used} steps, suggestion "
                          f"{result.suggestion:.3g}", fontsize="small")
    from lrkit.plot import save_figure

    save_figure(fig, out, dpi=100)
    print(f"wrote {out}: suggestion {result.suggestion:.3g}, {result.steps_used} steps")


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m bench.lrpanel",
        description="find_lr's chart on one panel task (the panel itself: bench.rangetest "
                    "--panel)")
    parser.add_argument("--example", default="digits_cnn_nesterov")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="bench/results/rangetest-example.png")
    args = parser.parse_args()
    example(args.example, args.seed, args.out)
