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

from bench.paneltasks import PanelTask, design_tasks, fresh_tasks, held_out_tasks

GRID_POINTS = 17
GRID_LOW = {"sgd": -3.5, "adam": -4.5}  # log10 of the lowest grid peak, per optimizer family
FIND_LR_LOADER_SEED = 500  # the range test sees the batches in another order than training
RULES = ("default", "informed")


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
    """The grid and each call's outcome for one task and seed."""

    task: str
    seed: int
    family: str
    group: str
    run_steps: int
    peaks: list[float]
    grid: list[float]
    suggestions: dict[str, float] = field(default_factory=dict)
    losses: dict[str, float] = field(default_factory=dict)
    steps: dict[str, int] = field(default_factory=dict)
    trials: dict[str, list[tuple[float, int, float]]] = field(default_factory=dict)
    notes: dict[str, list[str]] = field(default_factory=dict)
    slope: float = math.nan
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def held_out(self) -> bool:
        return self.group != "design"

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

    def cost(self, rule: str) -> float:
        """Optimizer steps spent as a fraction of the planned run."""
        return self.steps[rule] / self.run_steps


VAL_BATCHES = 4
DEGENERATE = 1e-3
"""A task whose best validation loss is below this has no meaningful loss ratio (a separable
validation set: the wine task)."""


def val_batches(task: PanelTask) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The task's validation set (what ``evaluate`` scores) in ``VAL_BATCHES`` batches."""
    x, y = task.validation
    return list(zip(x.chunk(VAL_BATCHES), y.chunk(VAL_BATCHES), strict=True))


PROGRESS: list[str] = []
"""Where ``run_panel`` writes the raw cases after each one (set by ``bench.rangetest``)."""
GRID_CACHE: list[str] = []
"""``--grid-cache FILE``: grids are read from and written to this JSON file (set by
``bench.rangetest``), so that a re-run of the panel after a change of method trains only the
calls' suggestions. The key names the task, seed, budget and peaks; a changed task needs a new
file."""


def grid(task: PanelTask, seed: int, peaks: Sequence[float]) -> list[float]:
    """``train`` at every peak: one vmapped ensemble where the task allows it."""
    import json
    from pathlib import Path

    from bench.ensemble import train_grid

    key = f"{task.name}/{seed}/{task.steps}/{peaks[0]:.6g}/{len(peaks)}"
    path = Path(GRID_CACHE[0]) if GRID_CACHE else None
    cache = json.loads(path.read_text()) if path is not None and path.exists() else {}
    if key in cache:
        return [float(v) for v in cache[key]]
    values = (train_grid(task, seed, peaks) if task.batched
              else [train(task, seed, p) for p in peaks])
    if path is not None:
        cache = json.loads(path.read_text()) if path.exists() else {}
        cache[key] = [v if math.isfinite(v) else "inf" for v in values]
        path.write_text(json.dumps(cache, indent=0))
    return values


def run_case(task: PanelTask, seed: int, group: str, log: Callable[[str], None]) -> Case:
    import warnings

    from lrkit.torch import find_lr

    begin = time.perf_counter()
    peaks = grid_peaks(task)
    case = Case(task.name, seed, task.family, group, task.steps, peaks, grid(task, seed, peaks))
    case.seconds["grid"] = time.perf_counter() - begin
    for rule in RULES:
        begin = time.perf_counter()
        model = task.model(seed)
        opt = task.optimizer(model, 1.0)
        kwargs: dict[str, Any] = {}
        if rule == "informed":
            kwargs = {"total_steps": task.steps, "val_loader": val_batches(task)}
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = find_lr(model, opt, task.loss_fn, task.loader(seed + FIND_LR_LOADER_SEED),
                             progress=False, **kwargs)
        case.suggestions[rule] = result.suggestion
        case.steps[rule] = result.steps_used
        case.trials[rule] = result.candidates
        case.notes[rule] = [str(w.message) for w in caught if "find_lr" in str(w.message)]
        if rule == "informed":
            case.slope = result.slope
        case.losses[rule] = train(task, seed, result.suggestion)
        case.seconds[rule] = time.perf_counter() - begin
    log(f"{task.name} seed {seed}: lr* {case.lr_star:.3g} ({case.best:.4g}); "
        + ", ".join(f"{r} {case.suggestions[r] / case.lr_star:.2f}x -> {case.ratio(r):.2f} "
                    f"({case.cost(r):.2f} run)" for r in RULES)
        + f" slope {case.slope:.2f} [" + ", ".join(f"{k} {v:.0f}s"
                                                   for k, v in case.seconds.items()) + "]")
    return case


GROUPS = ("design", "held out", "held out (new)")


def panel_tasks(names: Sequence[str] | None) -> list[tuple[PanelTask, str]]:
    tasks = ([(t, GROUPS[0]) for t in design_tasks()] + [(t, GROUPS[1]) for t in held_out_tasks()]
             + [(t, GROUPS[2]) for t in fresh_tasks()])
    if names:
        known = {t.name for t, _ in tasks} | set(GROUPS)
        unknown = set(names) - known
        if unknown:
            raise ValueError(f"unknown panel tasks {sorted(unknown)}; known: {sorted(known)}")
        tasks = [(t, g) for t, g in tasks if t.name in names or g in names]
    return tasks


def run_panel(seeds: int, names: Sequence[str] | None, log: Callable[[str], None]
              ) -> tuple[list[Case], float]:
    torch.set_num_threads(1)
    import json
    from pathlib import Path

    begin = time.perf_counter()
    cases = []
    for t, g in panel_tasks(names):
        for seed in range(seeds):
            cases.append(run_case(t, seed, g, log))
            if PROGRESS:  # the cases so far, in case the run is cut short
                Path(PROGRESS[0]).write_text(json.dumps(raw(cases)))
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
    groups = {g: [c for c in cases if c.group == g] for g in GROUPS}
    groups = {g: cs for g, cs in groups.items() if cs}
    groups["all held out"] = [c for c in cases if c.held_out]
    degenerate = {c.task for c in cases if c.best < DEGENERATE}
    if degenerate:
        groups["all held out but " + ", ".join(sorted(degenerate))] = [
            c for c in cases if c.held_out and c.task not in degenerate]
    lines = [
        "## The panel: training at each suggestion against a grid search",
        "",
        f"{len({c.task for c in cases})} tasks x {len({c.seed for c in cases})} seeds "
        f"({seconds / 60:.1f} min in all). Each cell: median / worst of the final validation "
        "loss at the call's suggestion over the best of a 17-point grid of peaks (quarter "
        "decades), every run warmup 5% + cosine over the task's budget from the same initial "
        "weights and batches. `default`: `find_lr(model, opt, loss_fn, loader)`; `informed`: "
        "`find_lr(..., total_steps=T, val_loader=val)` (schedule and budget left at their "
        "defaults: warmup 5% + cosine, 1.5 T), `val` the validation set in 4 batches. "
        "Cost: optimizer steps spent as a fraction of the planned run (median / worst). The "
        "issue's bar for the informed call: median <= 1.10 and worst <= 1.5, at most 2x the run. "
        f"A task whose best validation loss is below {DEGENERATE:g} has no meaningful ratio "
        "and gets a column without it.",
        "",
        "| call | " + " | ".join(f"{g}" for g in groups) + " | cost (runs) |",
        "|---|" + "---:|" * len(groups) + "---:|",
    ]
    for rule in RULES:
        cells = [_summary([c.ratio(rule) for c in cs]) for cs in groups.values()]
        lines.append(f"| {rule} | " + " | ".join(cells) + " | "
                     + _summary([c.cost(rule) for c in cases]) + " |")
    lines += [
        "",
        "Per task and seed: `lr*` the grid's best peak, then each call's suggestion as a "
        "multiple of `lr*`, after the arrow its loss ratio (bold above 1.5), and its cost in "
        "runs; `b` the exponent of the optimal peak in the run's length that the informed call "
        "measured; `notes` how many weak-evidence warnings it gave.",
        "",
        "| task | group | seed | T | lr* | best loss | default | informed | b | notes |",
        "|---|---|---:|---:|---:|---:|---|---|---:|---:|",
    ]
    for c in cases:
        edge = " (grid edge)" if c.at_grid_edge else ""
        cells = [f"{c.suggestions[r] / c.lr_star:.2f}x -> {_ratio_text(c.ratio(r))} "
                 f"({c.cost(r):.2f})" for r in RULES]
        lines.append(f"| {c.task} | {c.group} | {c.seed} | {c.run_steps} | {c.lr_star:.3g}{edge} "
                     f"| {c.best:.4g} | " + " | ".join(cells)
                     + f" | {c.slope:.2f} | {len(c.notes['informed'])} |")
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
    markers = {"informed": ("C3", "*", 12), "default": ("C0", "o", 6)}
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
        group = next(c.group for c in cases if c.task == name)
        ax.set_title(f"{name} ({group})", fontsize="small")
        ax.set_xlabel("peak learning rate", fontsize="small")
        ax.set_ylabel("val loss / grid best (cut at 4)", fontsize="small")
        ax.grid(True, which="both", alpha=0.2)
        if i == 0:
            ax.legend(fontsize="x-small", loc="upper left")
    save_figure(fig, path, dpi=100)


def raw(cases: list[Case]) -> list[dict[str, Any]]:
    return [{"task": c.task, "seed": c.seed, "family": c.family, "group": c.group,
             "run_steps": c.run_steps, "peaks": c.peaks, "grid": c.grid,
             "suggestions": c.suggestions, "losses": c.losses, "steps": c.steps,
             "trials": c.trials, "notes": c.notes, "slope": c.slope,
             "seconds": {k: round(v, 1) for k, v in c.seconds.items()}} for c in cases]


def example(task_name: str, seed: int, out: str) -> None:
    """``find_lr``'s own chart (``RangeTestResult.plot``) on one panel task."""
    from lrkit.torch import find_lr

    torch.set_num_threads(1)
    tasks = {t.name: t for t, _ in panel_tasks(None)}
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


def horizon_study(names: Sequence[str], seed: int = 0) -> list[str]:
    """The grid's best peak when the same schedule is squeezed into 1/8, 1/4, 1/2 and all of
    each task's budget: how the optimal peak moves with the run's length."""
    torch.set_num_threads(1)
    tasks = {t.name: t for t, _ in panel_tasks(None)}
    lines = ["| task | T | best peak at T/8 | T/4 | T/2 | T |", "|---|---:|---:|---:|---:|---:|"]
    for name in names:
        task = tasks[name]
        peaks = grid_peaks(task)
        cells = []
        for frac in (8, 4, 2, 1):
            from bench.ensemble import train_grid

            g = train_grid(task, seed, peaks, steps=task.steps // frac)
            cells.append(f"{peaks[g.index(min(g))]:.3g}")
        lines.append(f"| {name} | {task.steps} | " + " | ".join(cells) + " |")
        print(lines[-1], flush=True)
    return lines


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m bench.lrpanel",
        description="find_lr's chart on one panel task (the panel itself: bench.rangetest "
                    "--panel)")
    parser.add_argument("--example", default="digits_cnn_nesterov")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="bench/results/rangetest-example.png")
    parser.add_argument("--horizons", default=None,
                        help="comma-separated tasks: print the grid's best peak at 1/8, 1/4, 1/2 "
                             "and all of each task's budget (seed --seed) instead")
    args = parser.parse_args()
    if args.horizons:
        horizon_study(args.horizons.split(","), args.seed)
    else:
        example(args.example, args.seed, args.out)
