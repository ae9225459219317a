"""What each learning-rate strategy does to real training, on two tasks that run on 2 CPU cores.

    .venv/bin/python -m bench.quality [--quick] [--seeds N] [--out bench/results]

Tasks (bench/tasks.py): a small CNN on scikit-learn's digits (SGD + Nesterov momentum) and a
post-LN character transformer on the Python Language Reference text (Adam). Strategies
(bench/strategies.py): constant, step, exponential, polynomial, cosine, warmup + cosine, WSD,
one-cycle, the seed's recipe through the original ``warmup_scheduler`` package, and lrkit's
recipe (``find_lr`` for the peak, then warmup + cosine); plus the seed's central claim, a high
peak without warmup against the same peak with warmup. Every strategy runs with every seed; the
seed fixes the initial weights and the batch order, so strategies see identical data.

Writes ``quality.md`` (``quality-quick.md`` with ``--quick``), one PNG per task (validation loss
and rate against steps, one panel per strategy) and the raw numbers as JSON.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from bench.machine import header
from bench.strategies import STRATEGIES, WARMUP_EXPERIMENT, Strategy, warmup_steps
from bench.tasks import TASKS, Task

# steps, evaluate every, per task and mode
SETTINGS: dict[str, dict[str, tuple[int, int]]] = {
    "quick": {"digits": (300, 20), "charlm": (150, 15)},
    "full": {"digits": (1000, 25), "charlm": (600, 30)},
}
# task options per mode: --quick trains the language model on a 32-character context
TASK_OPTIONS: dict[str, dict[str, dict[str, float]]] = {
    "quick": {"charlm": {"context": 32, "eval_windows": 128, "target_loss": 2.4}},
    "full": {"charlm": {"context": 64, "eval_windows": 128}},
}
RANGE_TEST_STEPS = 100


@dataclass
class Run:
    task: str
    strategy: str
    seed: int
    peak: float
    steps: int
    eval_steps: list[int] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_acc: list[float] = field(default_factory=list)
    curve_steps: list[int] = field(default_factory=list)  # where lr/train loss were sampled
    lr: list[float] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)  # EMA (0.9) of the batch loss
    diverged_at: int | None = None
    seconds: float = 0.0

    @property
    def final_loss(self) -> float:
        return self.val_loss[-1] if self.diverged_at is None else math.inf

    @property
    def final_acc(self) -> float:
        return self.val_acc[-1] if self.diverged_at is None else 0.0

    def steps_to(self, target: float) -> int | None:
        return next(
            (s for s, v in zip(self.eval_steps, self.val_loss, strict=True) if v <= target), None
        )


def _lr(opt: torch.optim.Optimizer) -> float:
    return float(opt.param_groups[0]["lr"])


def range_test_peak(task: Task, seed: int) -> float:
    """lrkit's recipe, step 1: the peak rate that ``lrkit.torch.find_lr`` suggests."""
    from lrkit.torch import find_lr

    model = task.model(seed)
    opt = task.optimizer(model, 1.0)
    feed = task.batches(seed + 777)
    loader = [next(feed) for _ in range(RANGE_TEST_STEPS)]
    start, end = task.range_test
    result = find_lr(
        model,
        opt,
        task.loss_fn,
        loader,
        start=start,
        end=end,
        steps=RANGE_TEST_STEPS,
        progress=False,
    )
    return result.suggestion


def train(
    task: Task, strategy: Strategy, seed: int, steps: int, every: int, backend: str, peak: float
) -> Run:
    """Train ``steps`` optimizer steps; evaluate at 0, every ``every`` steps and at the end."""
    model = task.model(seed)
    opt = task.optimizer(model, strategy.base_lr(peak))
    scheduler = strategy.factory(backend)(opt, steps)
    batches = task.batches(seed)
    run = Run(task.name, strategy.name, seed, peak, steps)
    sample = max(1, steps // 200)
    ema = math.nan
    start = time.perf_counter()

    def evaluate(step: int) -> None:
        loss, acc = task.evaluate(model)
        run.eval_steps.append(step)
        run.val_loss.append(loss)
        run.val_acc.append(acc)

    evaluate(0)
    for step in range(steps):
        x, y = next(batches)
        lr = _lr(opt)
        loss = task.loss_fn(model(x), y)
        value = loss.item()
        if not math.isfinite(value):
            run.diverged_at = step
            break
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        scheduler.step()
        ema = value if math.isnan(ema) else 0.9 * ema + 0.1 * value
        if step % sample == 0 or step == steps - 1:
            run.curve_steps.append(step)
            run.lr.append(lr)
            run.train_loss.append(ema)
        if (step + 1) % every == 0 or step + 1 == steps:
            evaluate(step + 1)
            if not math.isfinite(run.val_loss[-1]):
                run.diverged_at = step + 1
                break
    run.seconds = time.perf_counter() - start
    return run


# ---------------------------------------------------------------------------------------------
# report


def _mean_std(values: Sequence[float], fmt: str) -> str:
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return "diverged"
    mean = statistics.fmean(finite)
    std = statistics.stdev(finite) if len(finite) > 1 else 0.0
    text = f"{mean:{fmt}} ± {std:{fmt}}"
    if len(finite) < len(values):
        text += f" ({len(values) - len(finite)} diverged)"
    return text


def _steps_to(runs: Sequence[Run], target: float) -> str:
    reached = [s for s in (r.steps_to(target) for r in runs) if s is not None]
    if not reached:
        return f"not reached (0/{len(runs)})"
    return f"{statistics.fmean(reached):.0f} ({len(reached)}/{len(runs)} seeds)"


def _peak_text(strategy: Strategy, runs: Sequence[Run]) -> str:
    peaks = [r.peak for r in runs]
    if strategy.range_test:
        return (
            f"find_lr: {statistics.fmean(peaks):.3g} (min {min(peaks):.3g}, max {max(peaks):.3g})"
        )
    return f"{peaks[0]:.3g}"


def _table(task: Task, strategies: Sequence[Strategy], runs: dict[str, list[Run]]) -> list[str]:
    rows = [
        f"| strategy | peak lr | final val loss | final {task.accuracy_name} | best val loss "
        f"| steps to val loss <= {task.target_loss} | s/run |",
        "|---|---|---|---|---|---|---|",
    ]
    for s in strategies:
        rs = runs[s.name]
        best = [min(r.val_loss) for r in rs]
        rows.append(
            f"| {s.label} | {_peak_text(s, rs)} | {_mean_std([r.final_loss for r in rs], '.4f')} "
            f"| {_mean_std([100 * r.final_acc for r in rs], '.2f')}% "
            f"| {_mean_std(best, '.4f')} | {_steps_to(rs, task.target_loss)} "
            f"| {statistics.fmean(r.seconds for r in rs):.1f} |"
        )
    return rows


def _welch(a: Sequence[float], b: Sequence[float]) -> str:
    """Difference of means of a and b and Welch's t statistic, as text."""
    if len(a) < 2 or len(b) < 2 or not all(map(math.isfinite, [*a, *b])):
        return "not comparable (a run diverged or fewer than 2 seeds)"
    diff = statistics.fmean(a) - statistics.fmean(b)
    se = math.sqrt(statistics.variance(a) / len(a) + statistics.variance(b) / len(b))
    t = diff / se if se > 0 else math.inf
    return f"difference {diff:+.4f} (Welch t = {t:.1f})"


def _observations(task: Task, runs: dict[str, list[Run]]) -> list[str]:
    """Statements computed from the numbers (no hand-written conclusions)."""
    means = {
        s.name: statistics.fmean(r.final_loss for r in runs[s.name])
        if all(math.isfinite(r.final_loss) for r in runs[s.name])
        else math.inf
        for s in STRATEGIES
    }
    order = sorted(means, key=means.__getitem__)
    labels = {s.name: s.label for s in (*STRATEGIES, *WARMUP_EXPERIMENT)}
    final = {k: [r.final_loss for r in v] for k, v in runs.items()}
    return [
        "- ranking by mean final validation loss (best first): "
        + ", ".join(f"{labels[k]} ({means[k]:.4f})" for k in order),
        f"- warmup + cosine minus cosine at the same peak: "
        f"{_welch(final['warmup_cosine'], final['cosine'])}",
        f"- lrkit recipe minus warmup + cosine at the hand-set peak: "
        f"{_welch(final['lrkit_recipe'], final['warmup_cosine'])}",
        "- seed recipe minus warmup + cosine: "
        f"{_welch(final['seed_recipe'], final['warmup_cosine'])}",
        f"- high peak ({task.high_lr:g}): with warmup minus without warmup: "
        f"{_welch(final['with_warmup'], final['no_warmup'])}"
        " (negative: warmup helps; |t| < ~2.8 with 3 seeds is within noise)",
    ]


def chart(task: Task, runs: dict[str, list[Run]], path: Path) -> None:
    """One panel per strategy: validation loss (mean, min-max band over seeds), the smoothed
    training loss of seed 0, and the rate (right axis)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    strategies = (*STRATEGIES, *WARMUP_EXPERIMENT)
    cols = 4
    rows = math.ceil(len(strategies) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.0 * rows), sharex=True, sharey=True)
    finite = [v for rs in runs.values() for r in rs for v in r.val_loss if math.isfinite(v)]
    lo = min(finite)
    hi = min(max(finite), 3.0 * runs["constant"][0].val_loss[0])
    for ax, s in zip(axes.flat, strategies, strict=False):
        rs = runs[s.name]
        steps = rs[0].eval_steps
        n = min(len(r.val_loss) for r in rs)
        cols_ = [[r.val_loss[i] for r in rs] for i in range(n)]
        mean = [statistics.fmean(c) if all(map(math.isfinite, c)) else math.nan for c in cols_]
        ax.fill_between(steps[:n], [min(c) for c in cols_], [max(c) for c in cols_], alpha=0.25)
        ax.plot(steps[:n], mean, label="val loss (mean of seeds)")
        ax.plot(rs[0].curve_steps, rs[0].train_loss, lw=0.8, alpha=0.6, label="train loss (EMA)")
        ax.axhline(task.target_loss, color="grey", lw=0.6, ls=":")
        ax.set_ylim(lo * 0.9, hi)
        ax.set_yscale("log")
        ax.set_title(s.label, fontsize=8)
        twin = ax.twinx()
        twin.plot(rs[0].curve_steps, rs[0].lr, color="tab:red", lw=1.0, ls="--", label="lr")
        twin.set_ylim(bottom=0)
        twin.tick_params(labelsize=7, colors="tab:red")
        ax.tick_params(labelsize=7)
    for ax in axes.flat[len(strategies) :]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=6, loc="upper right")
    fig.suptitle(
        f"{task.title}: validation loss (log, left) and lr (red dashed, right) vs step", fontsize=10
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def report(
    tasks: Sequence[Task],
    all_runs: dict[str, dict[str, list[Run]]],
    args: argparse.Namespace,
    mode: str,
    out: Path,
    seconds: float,
) -> str:
    title = "Training quality of learning-rate strategies" + (" (--quick)" if args.quick else "")
    lines = [
        header(title, ("torch", "numpy", "scikit-learn", "warmup_scheduler", "transformers")),
        f"Total wall time: {seconds / 60:.1f} min for {args.seeds} seeds x "
        f"{len(STRATEGIES) + len(WARMUP_EXPERIMENT)} strategies x {len(tasks)} tasks "
        f"(torch threads: {torch.get_num_threads()}; schedulers: {args.backend}).",
        "",
        "Every strategy trains the same model from the same initial weights on the same batches "
        "for each seed; only the rate differs. Warmup is 10% of the steps, linear from 0. "
        "`mean ± std` over seeds. The hand-set peak is the same for every strategy of a task; "
        "the seed recipe builds the optimizer at peak/10 and lets GradualWarmupScheduler "
        "(multiplier=10) ramp to the peak; lrkit's recipe takes its peak from "
        f"`lrkit.torch.find_lr` ({RANGE_TEST_STEPS} steps, run per seed), then warmup + cosine.",
        "",
    ]
    for task in tasks:
        runs = all_runs[task.name]
        steps, every = SETTINGS[mode][task.name]
        lines += [
            f"## {task.title}",
            "",
            f"{steps} steps ({warmup_steps(steps)} warmup), validation every {every} steps"
            f"{_options_text(mode, task)}. "
            f"Hand-set peak {task.peak_lr:g}; the warmup experiment's high peak {task.high_lr:g}.",
            "",
            f"![{task.name}]({_png_name(task, args.quick)})",
            "",
            *_table(task, STRATEGIES, runs),
            "",
            f"Warmup experiment (the seed's central claim) at peak {task.high_lr:g}:",
            "",
            *_table(task, WARMUP_EXPERIMENT, runs),
            "",
            "Observations (computed):",
            "",
            *_observations(task, runs),
            "",
        ]
    return "\n".join(lines)


def _rounded(value: object) -> object:
    """Floats to 6 significant digits (the raw JSON stays small), recursively."""
    if isinstance(value, float):
        return float(f"{value:.6g}")
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    return value


def _options_text(mode: str, task: Task) -> str:
    options = TASK_OPTIONS[mode].get(task.name, {})
    return "".join(f", {k} {v}" for k, v in options.items())


def _png_name(task: Task, quick: bool) -> str:
    return f"quality{'-quick' if quick else ''}-{task.name}.png"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.quality", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="fewer steps (within 10 minutes)")
    parser.add_argument("--seeds", type=int, default=3, help="seeds per strategy (default 3)")
    parser.add_argument("--out", type=Path, default=Path("bench/results"))
    parser.add_argument("--tasks", nargs="+", default=list(TASKS), choices=list(TASKS))
    parser.add_argument(
        "--backend",
        choices=["lrkit", "torch"],
        default="lrkit",
        help="drive the strategies with lrkit.torch.LRScheduler or torch's own",
    )
    names = [s.name for s in (*STRATEGIES, *WARMUP_EXPERIMENT)]
    parser.add_argument(
        "--strategies",
        nargs="+",
        default=names,
        choices=names,
        metavar="NAME",
        help="run only these (the report needs all: for debugging)",
    )
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    args = parser.parse_args(argv)
    if args.seeds < 1:
        parser.error(f"--seeds must be >= 1; got {args.seeds}")
    torch.set_num_threads(args.threads)
    # warmup_scheduler calls get_lr() itself, which torch flags on every step: not our doing
    warnings.filterwarnings("ignore", message="To get the last learning rate")
    mode = "quick" if args.quick else "full"
    args.out.mkdir(parents=True, exist_ok=True)
    tasks = [TASKS[name](**TASK_OPTIONS[mode].get(name, {})) for name in args.tasks]
    all_runs: dict[str, dict[str, list[Run]]] = {}
    begin = time.perf_counter()
    for task in tasks:
        steps, every = SETTINGS[mode][task.name]
        runs: dict[str, list[Run]] = {}
        for strategy in (*STRATEGIES, *WARMUP_EXPERIMENT):
            if strategy.name not in args.strategies:
                continue
            for seed in range(args.seeds):
                if strategy.range_test:
                    peak = range_test_peak(task, seed)
                else:
                    peak = task.high_lr if strategy.high_peak else task.peak_lr
                run = train(task, strategy, seed, steps, every, args.backend, peak)
                runs.setdefault(strategy.name, []).append(run)
                print(
                    f"[{time.perf_counter() - begin:6.0f}s] {task.name:7s} {strategy.name:14s} "
                    f"seed {seed} peak {peak:.3g}: val loss {run.final_loss:.4f} "
                    f"acc {run.final_acc:.4f} ({run.seconds:.1f}s)",
                    flush=True,
                )
        all_runs[task.name] = runs
        if len(runs) < len(names):
            continue
        chart(task, runs, args.out / _png_name(task, args.quick))
    seconds = time.perf_counter() - begin
    if len(args.strategies) < len(names):
        print(f"partial run ({seconds:.0f}s): no report written")
        return 0
    stem = "quality-quick" if args.quick else "quality"
    (args.out / f"{stem}.md").write_text(report(tasks, all_runs, args, mode, args.out, seconds))
    raw = {
        t: {s: [_rounded(asdict(r)) for r in rs] for s, rs in runs.items()}
        for t, runs in all_runs.items()
    }
    (args.out / f"{stem}.json").write_text(json.dumps(raw, allow_nan=True))
    print(f"wrote {args.out / (stem + '.md')} in {seconds / 60:.1f} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
