"""A whole 10-million-step curve from one call: cold and warm against one ``np.cos`` pass, its
peak memory, torch and jax side by side, and stepping torch's schedulers through it.

    .venv/bin/python -m bench.vectorised [--steps 10000000] [--pairs 5] [--repeats 5] [--out DIR]

- **Cold** (``bench.cold``): ``s(np.arange(N))`` for warmup + cosine (int64 and float64 steps)
  in a fresh process against ``np.cos(t * np.pi / N)`` in another fresh process, ``--pairs``
  pairs, median of the pair ratios (acceptance: <= 1.5x, median of 3 pairs); the other
  compositions one pair each (``--composition-pairs``).
- **Warm**: the same calls repeated in this process (median of ``--repeats`` after one warm-up),
  for every composition: warmup + cosine; warmup of cosine_restarts x step_decay; a join of 300
  cosines; maximum(staircase(cosine), floor).
- **Peak memory** (tracemalloc, which sees numpy's buffers): the most memory held during the
  call beyond what was held before it (the result included), against the result's size
  (target ~<= 2x) and against the ``np.cos`` pass.
- **torch and jax**: the schedule on ``torch.arange(N)`` float32 / float64 tensors and under
  ``jax.jit`` (float32, and float64 with x64 enabled), each against the same family's own cos
  pass (``torch.cos(t * pi / N)``, a jitted ``jnp.cos(t * pi / N)``).
- **Stepping torch's schedulers**: build the scheduler, then ``step()`` and read
  ``param_groups[0]["lr"]`` once per step, which is what getting the curve out of a torch
  scheduler takes; timed on ``--torch-steps`` steps and **extrapolated linearly** to N (the
  per-step cost does not grow with the step: the first half is timed on its own to check).
- **Agreement**: the numpy curve (blocked evaluation) against the Python scalar path at sampled
  steps (max relative difference, target <= 1e-12) and at every integer phase boundary and its
  neighbours, where the two must land on the same side (the same segment, the same floor: within
  1e-12, while the two sides of a boundary differ by far more). Bit-identity is counted but not a
  target: numpy's vectorised cos/exp/log (SIMD, chosen by the CPU) are not libm's and may differ
  by an ulp; the curve against the stepped SequentialLR.

Warm timings interleave the methods; clock: this process's CPU time (``--clock wall`` for wall
time). Everything runs on one thread except XLA (jax), whose CPU time is summed over its
threads.
"""

from __future__ import annotations

import argparse
import gc
import math
import statistics
import sys
import tracemalloc
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bench import cold, timing
from bench.machine import header, write_report

WARMUP = cold.WARMUP
AGREEMENT = 1e-12
MEMORY_TARGET = 2.0


def _seconds(fn: Callable[[], object], clock: str) -> float:
    gc.collect()
    tick = timing.CLOCKS_S[clock]
    start = tick()
    fn()
    return tick() - start


def warm(jobs: Mapping[str, Callable[[], object]], repeats: int, clock: str
         ) -> dict[str, float]:
    """Median seconds of each job, after one warm-up run, interleaved."""
    samples: dict[str, list[float]] = {k: [] for k in jobs}
    for fn in jobs.values():
        fn()
    gc.collect()
    gc.freeze()  # the imports' objects out of the collections before each run
    for _ in range(repeats):
        for k, fn in jobs.items():
            samples[k].append(_seconds(fn, clock))
    return {k: statistics.median(v) for k, v in samples.items()}


def peak_bytes(fn: Callable[[], object]) -> int:
    """The most memory (tracemalloc) held during ``fn()`` beyond what was held before, its
    result included."""
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        out = fn()
        peak = tracemalloc.get_traced_memory()[1] - before
        del out
    finally:
        tracemalloc.stop()
    return peak


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
            s = sch.LambdaLR(opt, _hand_written(total))
        else:
            from lrkit.torch import LRScheduler

            s = LRScheduler(opt, cold.compositions(total)[cold.HEADLINE]())
        opt.step()
        group = opt.param_groups[0]
        out = [group["lr"]]
        for _ in range(steps - 1):
            s.step()
            out.append(group["lr"])
        return out

    return run


def _hand_written(total: int) -> Callable[[float], float]:
    def f(t: float) -> float:
        if t < WARMUP:
            return t / WARMUP
        return 0.5 * (1.0 + math.cos(math.pi * min(t - WARMUP, total - WARMUP) / (total - WARMUP)))

    return f


def agreement(s: Any, curve: Any, n: int, rng: np.random.Generator, jumps: Sequence[int],
              samples: int) -> tuple[float, int, int, int]:
    """(max relative difference between ``curve`` = s(np.arange(n)) and the Python scalar path
    at ``samples`` random steps; integer boundary steps checked (the schedule's breakpoints and
    ``jumps``, each with its neighbours); of which beyond ``AGREEMENT`` relative (a boundary
    decided on the other side); of which not bit-identical (ulps of numpy's SIMD functions
    against libm's: informational, depends on the CPU))."""
    idx = rng.integers(0, n, samples)
    worst = 0.0
    for i in idx.tolist():
        a, b = float(curve[i]), s(float(i))
        if a != b:
            worst = max(worst, abs(a - b) / max(abs(a), abs(b)))
    points = [int(b) for b in s.breakpoints() if float(b).is_integer()] + list(jumps)
    bounds = sorted({b + d for b in points for d in (-1, 0, 1) if 0 <= b + d < n})
    pairs = [(float(curve[b]), s(float(b))) for b in bounds]
    wrong = sum(abs(a - b) > AGREEMENT * max(abs(a), abs(b)) for a, b in pairs)
    differ = sum(a != b for a, b in pairs)
    return worst, len(bounds), wrong, differ


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.vectorised", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--steps", type=int, default=10_000_000)
    parser.add_argument("--torch-steps", type=int, default=200_000)
    parser.add_argument("--pairs", type=int, default=5, help="cold pairs for warmup + cosine")
    parser.add_argument("--composition-pairs", type=int, default=1,
                        help="cold pairs for each other composition")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--samples", type=int, default=20_000,
                        help="random steps of the Python/numpy agreement check")
    parser.add_argument("--clock", choices=list(timing.CLOCKS_S), default="cpu")
    parser.add_argument("--out", type=Path, default=Path("bench/results"))
    args = parser.parse_args(argv)
    n, m, clock = args.steps, args.torch_steps, args.clock
    if (n < 300 * 1000 or not 2 * WARMUP < m <= n or args.repeats < 1 or args.pairs < 1
            or args.composition_pairs < 0 or args.samples < 1):
        parser.error(f"need --steps >= 300000, {2 * WARMUP} < --torch-steps <= --steps, "
                     "--repeats >= 1, --pairs >= 1")
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore", category=UserWarning)
    top = header(f"Vectorised evaluation: {n:,}-step curves in one call",
                 ("torch", "numpy", "jax", "jaxlib"))

    # 1. cold, each in a fresh process
    cold_lines, cold_medians = cold.report(n, ("int64", "float64"), args.pairs)
    comp_rows = ["| composition | pairs | median ratio (CPU) | median ratio (wall) | "
                 "lrkit CPU s | RSS growth MB (lrkit / np.cos) |", "|---|---:|---:|---:|---:|---:|"]
    builders = cold.compositions(n)
    for name in builders:
        if name == cold.HEADLINE or args.composition_pairs == 0:
            continue
        res = cold.pairs(name, n, "int64", args.composition_pairs)
        _, rc, rw = cold.pair_table(res)
        comp_rows.append(
            f"| {name} | {len(res)} | {rc:.2f}x | {rw:.2f}x | "
            f"{statistics.median(a['cpu'] for a, _ in res):.3f} | "
            f"{statistics.median(a['rss_mb'] for a, _ in res):.0f} / "
            f"{statistics.median(b['rss_mb'] for _, b in res):.0f} |")

    # 2. warm numpy, every composition, both dtypes
    schedules = {k: b() for k, b in builders.items()}
    inputs = {"int64": np.arange(n), "float64": np.arange(n, dtype=np.float64)}
    jobs: dict[str, Callable[[], object]] = {}
    for dt, t in inputs.items():
        jobs[f"np.cos {dt}"] = lambda t=t: np.cos(t * np.pi / n)
        for k, s in schedules.items():
            jobs[f"{k} {dt}"] = lambda s=s, t=t: s(t)
    med = warm(jobs, args.repeats, clock)
    warm_rows = ["| composition | int64 s | ratio to np.cos | float64 s | ratio to np.cos |",
                 "|---|---:|---:|---:|---:|"]
    for k in ("np.cos", *schedules):
        label = "*np.cos(t * np.pi / N) (the limit)*" if k == "np.cos" else k
        warm_rows.append(
            f"| {label} | {med[f'{k} int64']:.3f} | {med[f'{k} int64'] / med['np.cos int64']:.2f}x "
            f"| {med[f'{k} float64']:.3f} | {med[f'{k} float64'] / med['np.cos float64']:.2f}x |")

    # 3. peak memory
    result_bytes = n * 8
    mem_rows = ["| composition | input | peak MB | / result size | / np.cos pass |",
                "|---|---|---:|---:|---:|"]
    worst_mem = 0.0
    for dt, t in inputs.items():
        ref = peak_bytes(lambda t=t: np.cos(t * np.pi / n))
        mem_rows.append(f"| *np.cos(t * np.pi / N)* | {dt} | {ref / 1e6:,.0f} | "
                        f"{ref / result_bytes:.2f}x | 1.00x |")
        for k, s in schedules.items():
            p = peak_bytes(lambda s=s, t=t: s(t))
            worst_mem = max(worst_mem, p / result_bytes)
            mem_rows.append(f"| {k} | {dt} | {p / 1e6:,.0f} | {p / result_bytes:.2f}x | "
                            f"{p / ref:.2f}x |")

    # 4. torch and jax, side by side with their own cos pass
    s = schedules[cold.HEADLINE]
    fam: dict[str, Callable[[], object]] = {}
    for tdt in (torch.float32, torch.float64):
        tt = torch.arange(n, dtype=tdt)
        name = str(tdt).replace("torch.", "")
        fam[f"torch {name} lrkit"] = lambda tt=tt: s(tt)
        fam[f"torch {name} cos pass"] = lambda tt=tt: torch.cos(tt * math.pi / n)
    compile_s: dict[str, float] = {}
    x64_was: bool | None = None
    try:
        import jax
        import jax.numpy as jnp

        x64_was = bool(jax.config.jax_enable_x64)
        jax.config.update("jax_enable_x64", True)  # put back below: main() runs in-process in tests
        jitted = jax.jit(s)
        jcos = jax.jit(lambda x: jnp.cos(x * jnp.pi / n))
        for jdt in (jnp.float32, jnp.float64):
            tj = jnp.arange(n, dtype=jdt)
            name = jnp.dtype(jdt).name
            compile_s[name] = _seconds(lambda tj=tj: jitted(tj).block_until_ready(), clock)
            jcos(tj).block_until_ready()
            fam[f"jax.jit {name} lrkit"] = lambda tj=tj: jitted(tj).block_until_ready()
            fam[f"jax.jit {name} cos pass"] = lambda tj=tj: jcos(tj).block_until_ready()
    except ImportError:
        pass
    try:
        fmed = warm(fam, args.repeats, clock)
    finally:
        if x64_was is not None:
            jax.config.update("jax_enable_x64", x64_was)
    numpy_s = med[f"{cold.HEADLINE} int64"]
    fam_rows = ["| family | dtype | lrkit s(t) s | its cos pass s | ratio | vs lrkit numpy int64 |",
                "|---|---|---:|---:|---:|---:|"]
    for k in fmed:
        if k.endswith(" lrkit"):
            family, fdt = k.rsplit(" ", 2)[:2]
            ours, theirs = fmed[k], fmed[k.replace(" lrkit", " cos pass")]
            fam_rows.append(f"| {family} | {fdt} | {ours:.3f} | {theirs:.3f} | "
                            f"{ours / theirs:.2f}x | "
                            f"{ours / numpy_s:.2f}x |")
    fam_rows.append(f"| numpy | int64 steps, float64 | {numpy_s:.3f} | {med['np.cos int64']:.3f} "
                    f"| {numpy_s / med['np.cos int64']:.2f}x | 1.00x |")

    # 5. stepping torch's schedulers through the curve
    stepping = {
        "torch SequentialLR": torch_curve("SequentialLR", n, m),
        "torch LambdaLR": torch_curve("LambdaLR", n, m),
        "lrkit LRScheduler": torch_curve("lrkit", n, m),
    }
    smed = warm(stepping, args.repeats, clock)
    half = _seconds(torch_curve("SequentialLR", n, m // 2), clock)
    scale = n / m
    step_rows = [f"| method | measured s ({m:,} steps) | for N = {n:,} steps (s) | "
                 "ratio to lrkit numpy |", "|---|---:|---:|---:|"]
    step_rows.append(f"| lrkit numpy s(np.arange(N)) (warm) | {numpy_s:.3f} | {numpy_s:.3f} | "
                     "1.0x |")
    for k, v in sorted(smed.items(), key=lambda kv: kv[1]):
        step_rows.append(f"| {k} stepped (x{scale:g} extrapolated) | {v:.3f} | {v * scale:.3f} "
                         f"| {v * scale / numpy_s:.0f}x |")
    fastest_torch = min(v for k, v in smed.items() if k.startswith("torch")) * scale

    # 6. agreement
    rng = np.random.default_rng(0)
    agree_rows = ["| composition | input | max rel. difference numpy vs Python "
                  f"({args.samples:,} random steps) | "
                  "integer boundary steps checked | beyond 1e-12 (other side) | "
                  "not bit-identical (informational) |", "|---|---|---:|---:|---:|---:|"]
    worst_rel = 0.0
    for k, sch in schedules.items():
        for dt, t in inputs.items():
            rel, checked, wrong, differ = agreement(sch, sch(t), n, rng, cold.jumps(k, n),
                                                    args.samples)
            worst_rel = max(worst_rel, rel)
            agree_rows.append(f"| {k} | {dt} | {rel:.1e} | {checked} | {wrong} | {differ} |")
    stepped = np.asarray(torch_curve("SequentialLR", n, m)())
    seq_err = float(np.max(np.abs(s(inputs["int64"][:m]) - stepped)))

    # the report
    ci, cf = cold_medians["int64 cpu"], cold_medians["float64 cpu"]
    wi, wf = cold_medians["int64 wall"], cold_medians["float64 wall"]
    worst_cold = max(ci, cf, wi, wf)
    verdict = [
        f"- **Cold {n:,}-step warmup + cosine against a cold np.cos pass** (median of "
        f"{args.pairs} pairs of fresh processes): int64 steps {ci:.2f}x CPU / {wi:.2f}x wall, "
        f"float64 steps {cf:.2f}x CPU / {wf:.2f}x wall; target <= {cold.TARGET}x: "
        + ("**met**" if worst_cold <= cold.TARGET else "**missed**") + ".",
        f"- **Peak memory**: at most {worst_mem:.2f}x the result's size over every composition "
        f"and input (target ~<= {MEMORY_TARGET:g}x: "
        + ("**met**" if worst_mem <= MEMORY_TARGET else "**missed**") + ").",
        f"- **Agreement**: numpy and Python differ by at most {worst_rel:.1e} (relative; target "
        f"<= {AGREEMENT:g}: " + ("**met**" if worst_rel <= AGREEMENT else "**missed**") + "); "
        f"the numpy curve equals the stepped SequentialLR to {seq_err:.1e} (max abs over the "
        f"first {m:,} steps; torch's ramp starts at 1e-8, lrkit's at 0).",
        f"- **Stepping**: the warm numpy curve is {fastest_torch / numpy_s:.0f}x faster than the "
        f"fastest torch scheduler stepped through the same {n:,} steps.",
    ]
    lines = [
        top,
        f"Clock for the in-process (warm) rows: {timing.CLOCK_TEXT[clock]}; median of "
        f"{args.repeats} runs after a warm-up run, interleaved. Load average at the end: "
        f"{timing.load_now()}. Compositions over N = {n:,} steps: "
        + "; ".join(f"{k}: `{v}`" if len(str(v)) < 160 else f"{k}: `{str(v)[:120]}...`"
                    for k, v in schedules.items()) + ".",
        "",
        *verdict,
        "",
        "## Cold: one call in a fresh process against one np.cos pass in another",
        "",
        *cold_lines,
        "### The other compositions, cold (int64 steps)",
        "",
        *comp_rows,
        "",
        "## Warm: the same calls repeated in this process",
        "",
        *warm_rows,
        "",
        "## Peak memory (tracemalloc: everything numpy allocates during the call, the result "
        "included)",
        "",
        f"The result is {result_bytes / 1e6:,.0f} MB (float64).",
        "",
        *mem_rows,
        "",
        "## torch and jax side by side (warm)",
        "",
        *fam_rows,
        "",
        "jax.jit compile time of `s` (first call, not in the table): "
        + ", ".join(f"{k} {v:.2f} s" for k, v in compile_s.items()) + ". jax runs float64 "
        "with `jax_enable_x64`.",
        "",
        "## Stepping torch's schedulers through the curve",
        "",
        f"The first {m // 2:,} SequentialLR steps took {half:.3f} s, "
        f"{half / smed['torch SequentialLR'] * 100:.0f}% of the {m:,}-step time (50% = linear).",
        "",
        *step_rows,
        "",
        "## Agreement: numpy (blocked) against the Python scalar path",
        "",
        *agree_rows,
        "",
    ]
    print("\n".join(lines))
    write_report(args.out, "vectorised.md", lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
