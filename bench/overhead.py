"""Per-``step()`` cost of lrkit's PyTorch adapter against the usual warmup + cosine schedulers,
and against its limit: a bare formula written into the param groups.

    .venv/bin/python -m bench.overhead [--steps 2000] [--repeats 31] [--callgrind] [--out DIR]

One schedule, linear warmup over 500 steps then cosine to 0 over 99,500 steps, driven by:

- lrkit: ``lrkit.torch.LRScheduler(opt, lk.warmup(lk.cosine(99_500), 500))``: the headline,
  against torch's ``SequentialLR(LinearLR, CosineAnnealingLR)`` (acceptance: <= 0.5x at 1 and
  at 8 param groups, measured in one process)
- torch LambdaLR with the same closed-form lambda written by hand; Hugging Face
  ``get_cosine_schedule_with_warmup`` (a LambdaLR);
  ``warmup_scheduler.GradualWarmupScheduler(multiplier=1, after_scheduler=CosineAnnealingLR)``;
  ``pytorch_warmup.LinearWarmup`` + CosineAnnealingLR stepped inside ``dampening()``
- the limit: no scheduler object, a hand-written function of the step count whose value times
  each group's base rate is assigned to ``group["lr"]``

and the features the fast path keeps, each next to the torch code that does the same work: one
schedule per param group (a list, as LambdaLR takes one; torch: LambdaLR with a list of
lambdas), ``warmup(plateau)`` with a metric every 100 steps (torch: LinearLR, then
ReduceLROnPlateau fed the metric), momentum scheduled with the rate (torch: OneCycleLR with
``cycle_momentum``), and a tensor lr updated in place (torch: SequentialLR on a tensor lr).

At 1 and 8 param groups (SGD, one 1-element parameter per group: the optimizer itself is not
timed). Each measurement builds a fresh optimizer and scheduler, then times ``--steps``
consecutive ``step()`` calls (through the warmup and into the cosine) with the garbage collector
off. Rows are interleaved in a new random order in every repetition; the report gives the
median (and the min) over repetitions in ns per step, the ratio to SequentialLR (of the medians,
and the median of the ratios within a repetition). ``--callgrind`` adds instructions per step,
counted by callgrind in a child process (deterministic: the load does not change them). The
clock is this process's CPU time (``--clock wall`` for wall time).
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import random
import sys
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from bench import timing
from bench.machine import header, write_report

WARMUP = 500
TOTAL = 100_000
METRIC_EVERY = 100
TARGET = 0.5
Step = Callable[[], object]
REFERENCE = "torch SequentialLR(LinearLR, CosineAnnealingLR)"
HEADLINE = "lrkit LRScheduler"


def _lambda(t: int) -> float:
    if t < WARMUP:
        return t / WARMUP
    return 0.5 * (1.0 + math.cos(math.pi * (t - WARMUP) / (TOTAL - WARMUP)))


def _group_lambda(i: int) -> Callable[[int], float]:
    """Group i's own warmup + cosine (warmup 500 + 10 i steps), as a hand-written lambda."""
    w = WARMUP + 10 * i

    def f(t: int) -> float:
        if t < w:
            return t / w
        return 0.5 * (1.0 + math.cos(math.pi * (t - w) / (TOTAL - w)))

    return f


def _schedule(i: int = 0) -> Any:
    import lrkit as lk

    w = WARMUP + 10 * i
    return lk.warmup(lk.cosine(steps=TOTAL - w), steps=w)


# --- the rows ----------------------------------------------------------------------------------


def lrkit_scheduler(opt: torch.optim.Optimizer) -> Step:
    from lrkit.torch import LRScheduler

    return LRScheduler(opt, _schedule()).step


def lrkit_per_group(opt: torch.optim.Optimizer) -> Step:
    from lrkit.torch import LRScheduler

    return LRScheduler(opt, [_schedule(i) for i in range(len(opt.param_groups))]).step


def lrkit_plateau(opt: torch.optim.Optimizer) -> Step:
    import lrkit as lk
    from lrkit.torch import LRScheduler

    sched = LRScheduler(opt, lk.warmup(lk.plateau(factor=0.5, patience=2), steps=WARMUP))
    count = 0

    def step() -> None:
        nonlocal count
        count += 1
        sched.step(1.0 if count % METRIC_EVERY == 0 else None)

    return step


def lrkit_momentum(opt: torch.optim.Optimizer) -> Step:
    import lrkit as lk
    from lrkit.torch import LRScheduler

    momentum = lk.cosine(steps=TOTAL, start=0.85, end=0.95)
    return LRScheduler(opt, _schedule(), hyperparams={"momentum": momentum}).step


def sequential(opt: torch.optim.Optimizer) -> Step:
    sch = torch.optim.lr_scheduler
    ramp = sch.LinearLR(opt, start_factor=1e-8, end_factor=1.0, total_iters=WARMUP)
    decay = sch.CosineAnnealingLR(opt, T_max=TOTAL - WARMUP)
    return sch.SequentialLR(opt, [ramp, decay], milestones=[WARMUP]).step


def lambda_lr(opt: torch.optim.Optimizer) -> Step:
    return torch.optim.lr_scheduler.LambdaLR(opt, _lambda).step


def lambda_lr_per_group(opt: torch.optim.Optimizer) -> Step:
    lambdas = [_group_lambda(i) for i in range(len(opt.param_groups))]
    return torch.optim.lr_scheduler.LambdaLR(opt, lambdas).step


def linear_then_plateau(opt: torch.optim.Optimizer) -> Step:
    """torch's way to write warmup(plateau): LinearLR for the warmup steps, then
    ReduceLROnPlateau fed the metric (after the warmup, as lrkit's warmup routes it)."""
    sch = torch.optim.lr_scheduler
    ramp = sch.LinearLR(opt, start_factor=1e-8, end_factor=1.0, total_iters=WARMUP)
    plateau = sch.ReduceLROnPlateau(opt, factor=0.5, patience=2)
    count = 0

    def step() -> None:
        nonlocal count
        count += 1
        if count % METRIC_EVERY == 0 and count - 1 >= WARMUP:
            plateau.step(1.0)
        if count <= WARMUP:
            ramp.step()

    return step


def one_cycle_momentum(opt: torch.optim.Optimizer) -> Step:
    return torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=0.1, total_steps=TOTAL, cycle_momentum=True, base_momentum=0.85,
        max_momentum=0.95).step


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


def bare_formula(opt: torch.optim.Optimizer) -> Step:
    """The limit: no scheduler, the formula of the count written into the groups."""
    groups = opt.param_groups
    bases = [g["lr"] for g in groups]
    count = 0

    def step() -> None:
        nonlocal count
        count += 1
        value = _lambda(count)
        for group, base in zip(groups, bases, strict=True):
            group["lr"] = base * value

    return step


@dataclass(frozen=True)
class Row:
    name: str
    build: Callable[[torch.optim.Optimizer], Step]
    kind: str = "competitor"  # "lrkit", "competitor", "limit", "feature", "analogue"
    analogue: str | None = None  # the torch row doing the same work, for a feature row
    tensor_lr: bool = False
    momentum: bool = False


ROWS: tuple[Row, ...] = (
    Row(HEADLINE, lrkit_scheduler, "lrkit"),
    Row(REFERENCE, sequential),
    Row("torch LambdaLR (hand-written lambda)", lambda_lr),
    Row("HF get_cosine_schedule_with_warmup", hugging_face),
    Row("warmup_scheduler GradualWarmupScheduler + CosineAnnealingLR", warmup_scheduler),
    Row("pytorch_warmup LinearWarmup + CosineAnnealingLR", pytorch_warmup),
    Row("limit: bare formula written into the groups (no scheduler)", bare_formula, "limit"),
    Row("lrkit, one schedule per group (a list)", lrkit_per_group, "feature",
        "torch LambdaLR, one lambda per group"),
    Row("torch LambdaLR, one lambda per group", lambda_lr_per_group, "analogue"),
    Row("lrkit warmup(plateau), metric every 100 steps", lrkit_plateau, "feature",
        "torch LinearLR then ReduceLROnPlateau, metric every 100 steps"),
    Row("torch LinearLR then ReduceLROnPlateau, metric every 100 steps", linear_then_plateau,
        "analogue"),
    Row("lrkit + momentum schedule (hyperparams)", lrkit_momentum, "feature",
        "torch OneCycleLR, cycle_momentum", momentum=True),
    Row("torch OneCycleLR, cycle_momentum", one_cycle_momentum, "analogue", momentum=True),
    Row("lrkit, tensor lr (in place)", lrkit_scheduler, "feature",
        "torch SequentialLR, tensor lr", tensor_lr=True),
    Row("torch SequentialLR, tensor lr", sequential, "analogue", tensor_lr=True),
)
BY_NAME = {r.name: r for r in ROWS}


def optimizer(groups: int, tensor_lr: bool = False, momentum: bool = False
              ) -> torch.optim.Optimizer:
    # a tensor lr: one tensor per group, which the scheduler fills in place
    params = [{"params": [torch.zeros(1, requires_grad=True)],
               "lr": torch.tensor(0.1) if tensor_lr else 0.1} for _ in range(groups)]
    return torch.optim.SGD(params, lr=0.1, momentum=0.9 if momentum else 0.0)


def fresh(row: Row, groups: int) -> tuple[torch.optim.Optimizer, Step]:
    """A new optimizer with ``groups`` param groups and ``row``'s scheduler on it."""
    opt = optimizer(groups, row.tensor_lr, row.momentum)
    step = row.build(opt)
    opt.step()  # no grads: changes nothing, but the scheduler then sees a stepped optimizer
    return opt, step


def time_one(row: Row, groups: int, steps: int, clock: Callable[[], int],
             collect: bool = True) -> float:
    """ns per step of ``steps`` consecutive calls on a fresh scheduler."""
    _, step = fresh(row, groups)
    if collect:
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


def measure(rows: Sequence[Row], groups: int, steps: int, repeats: int, clock: str,
            seed: int = 0) -> dict[str, list[float]]:
    tick = timing.CLOCKS_NS[clock]
    order = list(rows)
    samples: dict[str, list[float]] = {r.name: [] for r in rows}
    rng = random.Random(seed + groups)
    for r in order:  # warm up imports and caches
        time_one(r, groups, 50, tick, collect=False)
    # what the imports left (transformers: millions of objects) out of every collection, which
    # would otherwise take ~0.3 s before each measurement; timing runs with the GC off anyway
    gc.collect()
    gc.freeze()
    for _ in range(repeats):
        rng.shuffle(order)
        for r in order:
            samples[r.name].append(time_one(r, groups, steps, tick))
    return samples


# --- instruction counts (callgrind child) --------------------------------------------------------


def child(groups_list: Sequence[int], steps: int) -> None:
    """Under callgrind: per (groups, row), warm up on one scheduler, then mark, ``steps`` steps
    of a fresh one, mark."""
    warnings.filterwarnings("ignore", category=UserWarning)
    torch.set_num_threads(1)
    for g in groups_list:  # imports and first constructions before counting
        for r in ROWS:
            fresh(r, g)
    timing.ready()
    keys = []
    for g in groups_list:
        for r in ROWS:
            _, warm = fresh(r, g)
            for _ in range(50):
                warm()
            _, step = fresh(r, g)
            gc.collect()
            gc.disable()
            timing.mark()
            for _ in range(steps):
                step()
            timing.mark()
            gc.enable()
            keys.append([g, r.name])
    print(json.dumps(keys))


def instructions(groups_list: Sequence[int], steps: int) -> dict[tuple[int, str], float]:
    args = ["-m", "bench.overhead", "--child", "--steps", str(steps), "--groups",
            *map(str, groups_list)]
    counts, stdout = timing.callgrind_phases(args)
    keys = [tuple(k) for k in json.loads(stdout.strip().splitlines()[-1])]
    phases = counts[1::2]
    return {(int(k[0]), str(k[1])): phases[j] / steps for j, k in enumerate(keys)}


# --- the report ----------------------------------------------------------------------------------


def headline(groups: int, samples: dict[str, list[float]],
             instr: dict[tuple[int, str], float] | None) -> tuple[str, float]:
    ours, ref = samples[HEADLINE], samples[REFERENCE]
    ratio = timing.median(ours) / timing.median(ref)
    paired = timing.paired_ratio(ours, ref)
    row = (f"| {groups} | {timing.median(ours):,.0f} | {timing.median(ref):,.0f} | "
           f"**{ratio:.2f}x** | {paired:.2f}x | {min(ours) / min(ref):.2f}x |")
    if instr is not None:
        a, b = instr[(groups, HEADLINE)], instr[(groups, REFERENCE)]
        row += f" {a:,.0f} | {b:,.0f} | {a / b:.2f}x |"
    met = "yes" if ratio <= TARGET else "**no**"
    return row + f" {met} |", ratio


def table(groups: int, samples: dict[str, list[float]],
          instr: dict[tuple[int, str], float] | None) -> list[str]:
    med = {n: timing.median(v) for n, v in samples.items()}
    ref = samples[REFERENCE]
    head = ("| scheduler | median ns/step | min ns/step | ratio to SequentialLR | paired ratio "
            "| ratio to its torch analogue |")
    sep = "|---|---:|---:|---:|---:|---:|"
    if instr is not None:
        head += " instr/step | instr ratio to SequentialLR |"
        sep += "---:|---:|"
    rows = [head, sep]
    for r in ROWS:
        n = r.name
        name = f"**{n}**" if r.kind in ("lrkit", "feature") else n
        if r.kind == "limit":
            name = f"*{n}*"
        analogue = ""
        if r.analogue is not None:
            analogue = (f"{med[n] / med[r.analogue]:.2f}x "
                        f"(paired {timing.paired_ratio(samples[n], samples[r.analogue]):.2f}x)")
        line = (f"| {name} | {med[n]:,.0f} | {min(samples[n]):,.0f} | "
                f"{med[n] / med[REFERENCE]:.2f}x | {timing.paired_ratio(samples[n], ref):.2f}x "
                f"| {analogue} |")
        if instr is not None:
            a = instr[(groups, n)]
            line += f" {a:,.0f} | {a / instr[(groups, REFERENCE)]:.2f}x |"
        rows.append(line)
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.overhead", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--steps", type=int, default=2000, help="step() calls per measurement")
    parser.add_argument("--repeats", type=int, default=31, help="interleaved repetitions")
    parser.add_argument("--groups", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--clock", choices=list(timing.CLOCKS_NS), default="cpu")
    parser.add_argument("--callgrind", action="store_true",
                        help="also count instructions per step under valgrind's callgrind")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=Path("bench/results"))
    args = parser.parse_args(argv)
    if args.steps < 1 or args.repeats < 1 or min(args.groups) < 1:
        parser.error("--steps, --repeats and --groups must be >= 1")
    if args.child:
        child(args.groups, args.steps)
        return 0
    if args.callgrind and not timing.callgrind_available():
        parser.error("--callgrind needs valgrind and callgrind_control on PATH")
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore", category=UserWarning)  # warmup_scheduler's get_lr warning
    top = header(
        "Per-step() overhead: lrkit.torch.LRScheduler against the usual schedulers",
        ("torch", "transformers", "warmup_scheduler", "pytorch-warmup"),
    )
    results = {g: measure(ROWS, g, args.steps, args.repeats, args.clock) for g in args.groups}
    instr = instructions(args.groups, min(args.steps, 2000)) if args.callgrind else None
    head = ("| param groups | lrkit step() ns | SequentialLR ns | ratio (medians) | paired ratio "
            "| ratio (mins) |")
    sep = "|---:|---:|---:|---:|---:|---:|"
    if instr is not None:
        head += " lrkit instr | SequentialLR instr | instr ratio |"
        sep += "---:|---:|---:|"
    head += f" <= {TARGET}x |"
    sep += "---|"
    heads = [headline(g, results[g], instr) for g in args.groups]
    verdict = ("**Target met**" if all(r <= TARGET for _, r in heads) else "**Target missed**")
    lines = [
        top,
        f"Schedule: linear warmup over {WARMUP} steps from 0, then cosine to 0 over "
        f"{TOTAL - WARMUP:,} steps. Each measurement: a fresh SGD optimizer (one 1-element "
        f"parameter per group) and scheduler, then {args.steps:,} consecutive `step()` calls "
        f"(GC off); {args.repeats} repetitions, rows interleaved in a new random order each "
        "time. Ratio = median / median of torch's SequentialLR (below 1: faster); paired ratio = "
        "median over repetitions of the ratio within one repetition. Clock: "
        f"{timing.CLOCK_TEXT[args.clock]}. Load average at the end: {timing.load_now()}."
        + (" Instructions: callgrind, per step over the same "
           f"{min(args.steps, 2000):,} steps of a fresh scheduler after a warm-up run "
           "(deterministic)." if instr is not None else ""),
        "",
        f"## step() against SequentialLR (target <= {TARGET}x at every group count)",
        "",
        head,
        sep,
        *(row for row, _ in heads),
        "",
        f"{verdict} by time (ratio of the medians, measured side by side in this process).",
        "",
        "The *limit* row is a hand-written function of the count assigned to each group's lr, no "
        "scheduler object: what any scheduler costs on top of the formula. Feature rows (bold) "
        "are lrkit with what its fast path must keep, each next to the torch code that does the "
        "same work.",
        "",
    ]
    for g in args.groups:
        rows = table(g, results[g], instr)
        print(f"\n{g} param group(s)")
        print("\n".join(rows))
        lines += [f"## {g} param group{'s' if g > 1 else ''}", "", *rows, ""]
    print("\n".join(lines[:20]))
    write_report(args.out, "overhead.md", lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
