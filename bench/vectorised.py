"""A whole 10-million-step curve from one call, against stepping torch's scheduler through it.

    .venv/bin/python -m bench.vectorised [--steps 10000000] [--torch-steps 200000] [--out DIR]

Schedule: linear warmup over 10,000 steps from 0, then cosine to 0; ``--steps`` in all.

- lrkit + numpy: ``s(np.arange(steps))`` (int64 steps in, float64 rates out), one call.
- lrkit + torch tensor / jax.jit: the same schedule on a tensor / a jitted function (reference).
- torch: build the scheduler, then ``step()`` and read ``param_groups[0]["lr"]`` once per step,
  which is what getting the curve out of a torch scheduler takes. Timed on ``--torch-steps``
  steps and **extrapolated linearly** to ``--steps`` (the per-step cost does not grow with the
  step number: checked by timing the first and the second half separately).
- scalar: one Python-float evaluation ``s(t)`` (ns per call, inside the warmup and inside the
  cosine), against the same formula hand-written as a Python function.

Every timing is the median of ``--repeats`` runs after one warm-up run; the competitors are
interleaved. The clock is this process's CPU time (``time.process_time``; ``--clock wall`` for
wall time): the machine is shared, and wall time would also count waiting for a core. Everything
runs on one thread except XLA (jax), whose CPU time is summed over its threads.
"""

from __future__ import annotations

import argparse
import gc
import math
import statistics
import sys
import time
import timeit
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bench.machine import header, write_report

WARMUP = 10_000


def schedule(steps: int) -> Any:
    import lrkit as lk

    return lk.warmup(lk.cosine(steps=steps - WARMUP), steps=WARMUP)


def hand_written(steps: int) -> Callable[[float], float]:
    def f(t: float) -> float:
        if t < WARMUP:
            return t / WARMUP
        return 0.5 * (1.0 + math.cos(math.pi * min(t - WARMUP, steps - WARMUP) / (steps - WARMUP)))

    return f


CLOCKS = {"cpu": time.process_time, "wall": time.perf_counter}
clock = CLOCKS["cpu"]


def _seconds(fn: Callable[[], object]) -> float:
    gc.collect()
    start = clock()
    fn()
    return clock() - start


def torch_curve(kind: str, total: int, steps: int) -> Callable[[], list[float]]:
    """A function that steps a fresh torch scheduler ``steps`` times, collecting the rate."""

    def run() -> list[float]:
        opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
        sch = torch.optim.lr_scheduler
        if kind == "SequentialLR":
            ramp = sch.LinearLR(opt, start_factor=1e-8, end_factor=1.0, total_iters=WARMUP)
            decay = sch.CosineAnnealingLR(opt, T_max=total - WARMUP)
            s: Any = sch.SequentialLR(opt, [ramp, decay], milestones=[WARMUP])
        elif kind == "LambdaLR":
            s = sch.LambdaLR(opt, hand_written(total))
        else:
            from lrkit.torch import LRScheduler

            s = LRScheduler(opt, schedule(total))
        opt.step()
        group = opt.param_groups[0]
        out = [group["lr"]]
        for _ in range(steps - 1):
            s.step()
            out.append(group["lr"])
        return out

    return run


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.vectorised", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--steps", type=int, default=10_000_000)
    parser.add_argument("--torch-steps", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--clock", choices=list(CLOCKS), default="cpu")
    parser.add_argument("--out", type=Path, default=Path("bench/results"))
    args = parser.parse_args(argv)
    global clock
    clock = CLOCKS[args.clock]
    if (
        args.steps <= 2 * WARMUP
        or not 2 * WARMUP < args.torch_steps <= args.steps
        or args.repeats < 1
    ):
        parser.error(
            f"need --steps > {2 * WARMUP}, {2 * WARMUP} < --torch-steps <= --steps, --repeats >= 1"
        )
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore", category=UserWarning)
    n, m = args.steps, args.torch_steps
    s = schedule(n)
    t_np = np.arange(n)
    t_torch64 = torch.arange(n, dtype=torch.float64)
    t_torch32 = torch.arange(n, dtype=torch.float32)

    # correctness first: the vectorised curve equals the stepped one
    curve = s(t_np)
    stepped = torch_curve("SequentialLR", n, m)()
    err = float(np.max(np.abs(curve[:m] - np.asarray(stepped))))

    jobs: dict[str, Callable[[], object]] = {
        "lrkit numpy s(np.arange(N))": lambda: s(t_np),
        "lrkit torch s(torch.arange(N, float64))": lambda: s(t_torch64),
        "lrkit torch s(torch.arange(N, float32))": lambda: s(t_torch32),
        "torch SequentialLR stepped (M steps)": torch_curve("SequentialLR", n, m),
        "torch LambdaLR stepped (M steps)": torch_curve("LambdaLR", n, m),
        "lrkit LRScheduler stepped (M steps)": torch_curve("lrkit", n, m),
    }
    try:
        import jax
        import jax.numpy as jnp

        jitted = jax.jit(s)
        t_jax = jnp.arange(n, dtype=jnp.float32)
        compile_s = _seconds(lambda: jitted(t_jax).block_until_ready())
        jobs["lrkit jax.jit(s)(jnp.arange(N, float32))"] = lambda: jitted(t_jax).block_until_ready()
    except ImportError:
        compile_s = math.nan

    samples: dict[str, list[float]] = {k: [] for k in jobs}
    for fn in jobs.values():
        fn()  # warm-up
    for _ in range(args.repeats):
        for k, fn in jobs.items():
            samples[k].append(_seconds(fn))
    med = {k: statistics.median(v) for k, v in samples.items()}
    scale = n / m
    full = {k: v * (scale if "(M steps)" in k else 1.0) for k, v in med.items()}

    # linearity check of the torch extrapolation: the first and second half cost the same
    half = _seconds(torch_curve("SequentialLR", n, m // 2))

    numpy_s = full["lrkit numpy s(np.arange(N))"]
    rows = [
        f"| method | measured (median s) | for N = {n:,} steps (s) | ratio to lrkit numpy |",
        "|---|---:|---:|---:|",
    ]
    for k in sorted(full, key=full.__getitem__):
        label = k.replace("(M steps)", f"({m:,} steps, x{scale:g} extrapolated)")
        label = label.replace("(N", f"({n:,}")
        rows.append(f"| {label} | {med[k]:.3f} | {full[k]:.3f} | {full[k] / numpy_s:.1f}x |")

    # scalar evaluation
    f = hand_written(n)
    scalar_rows = ["| call | t | ns per call (median) |", "|---|---:|---:|"]
    for name, fn in (("lrkit s(t)", s), ("hand-written Python function", f)):
        for t in (1234.0, 5_000_000.0):
            runs = [
                timeit.timeit(lambda fn=fn, t=t: fn(t), number=100_000, timer=clock) / 100_000
                for _ in range(args.repeats)
            ]
            scalar_rows.append(f"| {name} | {t:,.0f} | {statistics.median(runs) * 1e9:,.0f} |")
    for t in (1234, 5_000_000):
        runs = [
            timeit.timeit(lambda t=t: s(t), number=100_000, timer=clock) / 100_000
            for _ in range(args.repeats)
        ]
        scalar_rows.append(
            f"| lrkit s(t), t a Python int | {t:,} | {statistics.median(runs) * 1e9:,.0f} |"
        )

    fastest_torch = min(v for k, v in full.items() if k.startswith("torch"))
    verdict = (
        f"**lrkit numpy is {fastest_torch / numpy_s:.0f}x faster** than the fastest torch "
        "scheduler "
        f"stepped through the same {n:,} steps (target: >= 100x)."
    )
    lines = [
        header(
            f"Vectorised evaluation: a {n:,}-step warmup + cosine curve in one call",
            ("torch", "numpy", "jax", "jaxlib"),
        ),
        f"Schedule: `{s}` (linear warmup over {WARMUP:,} steps from 0, then cosine to 0). "
        f"Median of {args.repeats} runs after a warm-up run, methods interleaved; clock: "
        f"{'process CPU time' if args.clock == 'cpu' else 'wall time'}. The torch rows "
        f"are timed on the first {m:,} steps and **extrapolated linearly** (x{scale:g}); one "
        f"run of the first {m // 2:,} SequentialLR steps took {half:.3f} s, "
        f"{half / med['torch SequentialLR stepped (M steps)'] * 100:.0f}% of the {m:,}-step time "
        "(50% = linear). The numpy curve equals the stepped SequentialLR curve to "
        f"{err:.1e} (max abs difference over the first {m:,} steps).",
        "",
        verdict,
        "",
        *rows,
        "",
        f"jax.jit compile time (first call, not in the table): {compile_s:.2f} s. jax computes "
        "in float32 unless x64 is enabled; numpy in float64.",
        "",
        "## Scalar evaluation (one Python float in, one float out)",
        "",
        *scalar_rows,
        "",
    ]
    print("\n".join(lines))
    write_report(args.out, "vectorised.md", lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
