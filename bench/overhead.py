"""Per-``step()`` cost of lrkit's PyTorch adapter against the usual warmup + cosine schedulers.

    .venv/bin/python -m bench.overhead [--steps 2000] [--repeats 15] [--out bench/results]

One schedule, linear warmup over 500 steps then cosine to 0 over 99,500 steps, written seven ways:

- lrkit: ``lrkit.torch.LRScheduler(opt, lk.warmup(lk.cosine(99_500), 500))``
- torch SequentialLR(LinearLR, CosineAnnealingLR)
- torch LambdaLR with the same closed-form lambda written by hand
- Hugging Face ``get_cosine_schedule_with_warmup`` (a LambdaLR)
- ``warmup_scheduler.GradualWarmupScheduler(multiplier=1, after_scheduler=CosineAnnealingLR)``
- ``pytorch_warmup.LinearWarmup`` + CosineAnnealingLR, stepped inside ``dampening()``

at 1 and 8 param groups (SGD, one 1-element parameter per group: the optimizer itself is not
timed). Each measurement builds a fresh optimizer and scheduler, then times ``--steps``
consecutive ``step()`` calls (through the warmup and into the cosine) with the garbage collector
off. Competitors are interleaved in a new random order in every repetition; the report gives the
median (and the min) over repetitions in ns per step, and the ratio to the fastest competitor.
The clock is this process's CPU time (``time.process_time_ns``; ``--clock wall`` for
``perf_counter_ns``): on a machine shared with other jobs, wall time also counts the time the
process waits for a core.
"""

from __future__ import annotations

import argparse
import gc
import math
import random
import statistics
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import torch

from bench.machine import header, write_report

WARMUP = 500
TOTAL = 100_000
Step = Callable[[], object]


def _optimizer(groups: int) -> torch.optim.Optimizer:
    params = [{"params": [torch.zeros(1, requires_grad=True)]} for _ in range(groups)]
    return torch.optim.SGD(params, lr=0.1)


def _lambda(t: int) -> float:
    if t < WARMUP:
        return t / WARMUP
    return 0.5 * (1.0 + math.cos(math.pi * (t - WARMUP) / (TOTAL - WARMUP)))


def lrkit_scheduler(opt: torch.optim.Optimizer) -> Step:
    import lrkit as lk
    from lrkit.torch import LRScheduler

    return LRScheduler(opt, lk.warmup(lk.cosine(steps=TOTAL - WARMUP), steps=WARMUP)).step


def sequential(opt: torch.optim.Optimizer) -> Step:
    sch = torch.optim.lr_scheduler
    ramp = sch.LinearLR(opt, start_factor=1e-8, end_factor=1.0, total_iters=WARMUP)
    decay = sch.CosineAnnealingLR(opt, T_max=TOTAL - WARMUP)
    return sch.SequentialLR(opt, [ramp, decay], milestones=[WARMUP]).step


def lambda_lr(opt: torch.optim.Optimizer) -> Step:
    return torch.optim.lr_scheduler.LambdaLR(opt, _lambda).step


def hugging_face(opt: torch.optim.Optimizer) -> Step:
    from transformers import get_cosine_schedule_with_warmup

    return get_cosine_schedule_with_warmup(opt, WARMUP, TOTAL).step  # type: ignore[no-any-return]


def warmup_scheduler(opt: torch.optim.Optimizer) -> Step:
    from warmup_scheduler import GradualWarmupScheduler

    after = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=TOTAL - WARMUP)
    return GradualWarmupScheduler(opt, multiplier=1, total_epoch=WARMUP, after_scheduler=after).step


def pytorch_warmup(opt: torch.optim.Optimizer) -> Step:
    import pytorch_warmup as pw

    cosine = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=TOTAL)
    warm = pw.LinearWarmup(opt, warmup_period=WARMUP)

    def step() -> None:
        with warm.dampening():
            cosine.step()

    return step


COMPETITORS: dict[str, Callable[[torch.optim.Optimizer], Step]] = {
    "lrkit LRScheduler": lrkit_scheduler,
    "torch SequentialLR(LinearLR, CosineAnnealingLR)": sequential,
    "torch LambdaLR (hand-written lambda)": lambda_lr,
    "HF get_cosine_schedule_with_warmup": hugging_face,
    "warmup_scheduler GradualWarmupScheduler + CosineAnnealingLR": warmup_scheduler,
    "pytorch_warmup LinearWarmup + CosineAnnealingLR": pytorch_warmup,
}


CLOCKS = {"cpu": time.process_time_ns, "wall": time.perf_counter_ns}
clock = CLOCKS["cpu"]
CLOCK_TEXT = {
    "cpu": "process CPU time (leaves out time spent waiting for a core on a shared machine)",
    "wall": "wall time (perf_counter_ns)",
}


def time_one(build: Callable[[torch.optim.Optimizer], Step], groups: int, steps: int) -> float:
    """ns per step of ``steps`` consecutive calls on a fresh scheduler."""
    opt = _optimizer(groups)
    step = build(opt)
    opt.step()  # no grads: changes nothing, but the scheduler then sees a stepped optimizer
    gc.collect()
    gc.disable()
    try:
        start = clock()
        for _ in range(steps):
            step()
        elapsed = clock() - start
    finally:
        gc.enable()
    return elapsed / steps


def measure(groups: int, steps: int, repeats: int, seed: int = 0) -> dict[str, list[float]]:
    names = list(COMPETITORS)
    samples: dict[str, list[float]] = {n: [] for n in names}
    rng = random.Random(seed + groups)
    for n in names:  # warm up imports and caches
        time_one(COMPETITORS[n], groups, 50)
    for _ in range(repeats):
        rng.shuffle(names)
        for n in names:
            samples[n].append(time_one(COMPETITORS[n], groups, steps))
    return samples


def table(samples: dict[str, list[float]]) -> list[str]:
    medians = {n: statistics.median(v) for n, v in samples.items()}
    mins = {n: min(v) for n, v in samples.items()}
    fastest_median = min(v for n, v in medians.items() if not n.startswith("lrkit"))
    fastest_min = min(v for n, v in mins.items() if not n.startswith("lrkit"))
    rows = [
        "| scheduler | median ns/step | ratio (median) to fastest competitor | min ns/step "
        "| ratio (min) |",
        "|---|---:|---:|---:|---:|",
    ]
    for n in sorted(medians, key=medians.__getitem__):
        name = f"**{n}**" if n.startswith("lrkit") else n
        rows.append(
            f"| {name} | {medians[n]:,.0f} | {medians[n] / fastest_median:.2f}x "
            f"| {mins[n]:,.0f} | {mins[n] / fastest_min:.2f}x |"
        )
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.overhead", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--steps", type=int, default=2000, help="step() calls per measurement")
    parser.add_argument("--repeats", type=int, default=31, help="interleaved repetitions")
    parser.add_argument("--groups", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--clock", choices=list(CLOCKS), default="cpu")
    parser.add_argument("--out", type=Path, default=Path("bench/results"))
    args = parser.parse_args(argv)
    global clock
    clock = CLOCKS[args.clock]
    if args.steps < 1 or args.repeats < 1 or min(args.groups) < 1:
        parser.error("--steps, --repeats and --groups must be >= 1")
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore", category=UserWarning)  # warmup_scheduler's get_lr warning
    lines = [
        header(
            "Per-step() overhead: lrkit.torch.LRScheduler against the usual schedulers",
            ("torch", "transformers", "warmup_scheduler", "pytorch-warmup"),
        ),
        f"Schedule: linear warmup over {WARMUP} steps from 0, then cosine to 0 over "
        f"{TOTAL - WARMUP:,} steps. Each measurement: a fresh SGD optimizer (one 1-element "
        f"parameter per group) and scheduler, then {args.steps:,} consecutive `step()` calls "
        f"(GC off); {args.repeats} repetitions, competitors interleaved in a random order each "
        "time. Ratio = median / median of the fastest non-lrkit scheduler (below 1: lrkit is "
        f"faster); the same for the min. Clock: {CLOCK_TEXT[args.clock]}.",
        "",
    ]
    for groups in args.groups:
        samples = measure(groups, args.steps, args.repeats)
        rows = table(samples)
        print(f"\n{groups} param group(s)")
        print("\n".join(rows))
        lines += [f"## {groups} param group{'s' if groups > 1 else ''}", "", *rows, ""]
    write_report(args.out, "overhead.md", lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
