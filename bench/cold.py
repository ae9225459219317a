"""A cold 10M-step curve: one numpy evaluation in a fresh process, against one ``np.cos`` pass
over the same steps in another fresh process.

    .venv/bin/python -m bench.cold [--steps 10000000] [--pairs 5] [--dtype int64 float64]

Each measurement is a new Python process (``python -m bench.cold --child ...``) that imports
numpy (and lrkit), builds the input ``np.arange(steps, dtype=...)``, then times one call, the
first in that process: ``s(t)`` for lrkit, ``np.cos(t * np.pi / steps)`` for the reference. A
pair is one lrkit process and one reference process run back to back (which goes first
alternates); the ratio of a pair is lrkit / reference; the report gives every pair and the
median of the pair ratios (acceptance: <= 1.5 for warmup + cosine, median of 3 pairs). Both
the process CPU time (user + system: page faults of the fresh memory included) and the wall
time are measured, and the resident memory the call took (``VmHWM``, the peak resident
memory, over the resident memory before the call).
``bench.vectorised`` runs the same pairs and adds them to its report.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bench import timing

WARMUP = 10_000
SEGMENTS = 300
TARGET = 1.5
HEADLINE = "warmup + cosine"


def compositions(n: int) -> dict[str, Callable[[], Any]]:
    """The curves of the vectorised benchmark over ``n`` steps, by name (built lazily)."""
    import lrkit as lk

    seg = n // SEGMENTS

    def join300() -> Any:
        return lk.join([lk.cosine(steps=seg, start=0.99**k) for k in range(SEGMENTS)],
                       [seg * k for k in range(1, SEGMENTS)])

    return {
        HEADLINE: lambda: lk.warmup(lk.cosine(steps=n - WARMUP), steps=WARMUP),
        "warmup(cosine_restarts x step_decay)": lambda: lk.warmup(
            lk.cosine_restarts(period=n // 100, period_mult=2)
            * lk.step_decay(step_size=n // 10, gamma=0.7), steps=WARMUP),
        f"join of {SEGMENTS} cosines": join300,
        "maximum(staircase(cosine), floor)": lambda: lk.maximum(
            lk.staircase(lk.cosine(steps=n), every=1000), 0.05),
    }


def jumps(name: str, n: int) -> list[int]:
    """Integer steps where composition ``name`` jumps that ``breakpoints()`` does not list (a
    restart, a step decay's drop, a staircase's step), to check exactness there."""
    if name.startswith("warmup(cosine_restarts"):
        period, out, i = n // 100, [], 1
        while WARMUP + period * (2**i - 1) < n:
            out.append(WARMUP + period * (2**i - 1))
            i += 1
        return out + [WARMUP + k * (n // 10) for k in range(1, 10)]
    if name.startswith("maximum(staircase"):
        return list(range(1000, n, 1000))
    return []


def child(kind: str, n: int, dtype: str) -> dict[str, float]:
    """One cold measurement in this (fresh) process: ``kind`` is a composition name or
    ``np.cos``."""
    start = time.perf_counter()
    import numpy as np

    if kind == "np.cos":
        setup = 0.0

        def run() -> Any:
            return np.cos(t * np.pi / n)
    else:
        s = compositions(n)[kind]()
        setup = time.perf_counter() - start

        def run() -> Any:
            return s(t)

    t = np.arange(n, dtype=dtype)
    rss = _status_kb("VmRSS")
    w0, c0 = time.perf_counter(), time.process_time()
    out = run()
    w1, c1 = time.perf_counter(), time.process_time()
    grown = _status_kb("VmHWM") - rss
    return {"wall": w1 - w0, "cpu": c1 - c0, "rss_mb": grown / 1024, "setup": setup,
            "nbytes": float(out.nbytes), "probe": float(out[n // 3])}


def _status_kb(key: str) -> float:
    """A ``/proc/self/status`` field in kB (``VmHWM``: this process's peak resident memory;
    unlike ``ru_maxrss`` it is not inherited from the parent at fork); NaN off Linux."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return float(line.split()[1])
    except OSError:
        pass
    return math.nan


def run_child(kind: str, n: int, dtype: str) -> dict[str, float]:
    """``child`` in a fresh interpreter (same Python, same environment)."""
    cmd = [sys.executable, "-m", "bench.cold", "--child", kind, "--steps", str(n),
           "--dtype", dtype]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False,
                          env=timing.child_env())
    if done.returncode != 0:
        raise RuntimeError(f"cold child {kind} failed: {done.stderr[-2000:]}")
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def pairs(kind: str, n: int, dtype: str, count: int) -> list[tuple[dict[str, float],
                                                                   dict[str, float]]]:
    """``count`` pairs (lrkit ``kind``, np.cos), the first of each pair alternating."""
    out = []
    for i in range(count):
        if i % 2 == 0:
            a = run_child(kind, n, dtype)
            b = run_child("np.cos", n, dtype)
        else:
            b = run_child("np.cos", n, dtype)
            a = run_child(kind, n, dtype)
        out.append((a, b))
    return out


def pair_table(results: Sequence[tuple[dict[str, float], dict[str, float]]]
               ) -> tuple[list[str], float, float]:
    """Markdown rows for the pairs, and the median pair ratio by CPU time and by wall time."""
    rows = ["| pair | lrkit CPU s | np.cos CPU s | ratio (CPU) | lrkit wall s | np.cos wall s "
            "| ratio (wall) | lrkit RSS growth MB | np.cos RSS growth MB |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    cpu, wall = [], []
    for i, (a, b) in enumerate(results, 1):
        rc, rw = a["cpu"] / b["cpu"], a["wall"] / b["wall"]
        cpu.append(rc)
        wall.append(rw)
        rows.append(f"| {i} | {a['cpu']:.3f} | {b['cpu']:.3f} | {rc:.2f}x | {a['wall']:.3f} | "
                    f"{b['wall']:.3f} | {rw:.2f}x | {a['rss_mb']:.0f} | {b['rss_mb']:.0f} |")
    return rows, timing.median(cpu), timing.median(wall)


def report(n: int, dtypes: Sequence[str], count: int) -> tuple[list[str], dict[str, float]]:
    """The section for ``bench.vectorised``: pairs per dtype, and the median ratios."""
    lines: list[str] = []
    medians: dict[str, float] = {}
    for dtype in dtypes:
        rows, cpu, wall = pair_table(pairs(HEADLINE, n, dtype, count))
        medians[f"{dtype} cpu"], medians[f"{dtype} wall"] = cpu, wall
        met = "met" if max(cpu, wall) <= TARGET else (
            "met by CPU time only" if cpu <= TARGET else
            "met by wall time only" if wall <= TARGET else "**missed**")
        lines += [
            f"### `{dtype}` steps: `s(np.arange({n:_}, dtype={dtype}))` against "
            f"`np.cos(t * np.pi / {n:_})`",
            "",
            *rows,
            "",
            f"Median of the {count} pair ratios: **{cpu:.2f}x** (CPU), **{wall:.2f}x** (wall); "
            f"target <= {TARGET}x: {met}.",
            "",
        ]
    return lines, medians


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cold",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=10_000_000)
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--dtype", nargs="+", default=["int64", "float64"])
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=None,
                        help="also write cold.md there (default: print only)")
    args = parser.parse_args(argv)
    if args.child is not None:
        print(json.dumps(child(args.child, args.steps, args.dtype[0])))
        return 0
    if args.steps <= 2 * WARMUP or args.pairs < 1:
        parser.error(f"need --steps > {2 * WARMUP} and --pairs >= 1")
    from bench.machine import header, write_report

    top = header(f"Cold {args.steps:,}-step curve against a cold np.cos pass", ("numpy",))
    lines, _ = report(args.steps, args.dtype, args.pairs)
    lines = [top, f"Load average at the end: {timing.load_now()}.", "", *lines]
    print("\n".join(lines))
    if args.out is not None:
        write_report(args.out, "cold.md", lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
