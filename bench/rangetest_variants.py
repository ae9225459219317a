"""Post-hoc: what other extrapolation rules would have suggested from the informed call's own
trials, read off each case's grid (no new training).

    .venv/bin/python -m bench.rangetest_variants bench/results/rangetest-panel.json [...]

For every case of the panel's raw numbers: rung 1's and rung 2's optima are recomputed from the
recorded trials (``lrkit.informed.vertex``), each rule's suggestion is formed from them, and its
loss ratio is *interpolated* on the case's 17-point grid (linear in log peak between the two
grid peaks around it; the nearer one when a neighbour diverged). An interpolated ratio is an
estimate, not a training run: it is the evidence for what to try next, not a result. Tasks
whose best validation loss is below ``bench.lrpanel.DEGENERATE`` are left out.
"""

from __future__ import annotations

import json
import math
import statistics
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from bench.lrpanel import DEGENERATE
from lrkit.informed import HALF_DECADE, QUARTER_DECADE, vertex


def grid_ratio(peaks: Sequence[float], grid: Sequence[float], p: float) -> float:
    best = min(grid)
    x = math.log10(p)
    xs = [math.log10(q) for q in peaks]
    if x <= xs[0]:
        return grid[0] / best
    if x >= xs[-1]:
        return grid[-1] / best
    k = max(i for i in range(len(xs)) if xs[i] <= x)
    a, b = grid[k], grid[k + 1]
    f = (x - xs[k]) / (xs[k + 1] - xs[k])
    if not (math.isfinite(a) and math.isfinite(b)):
        return (a if f < 0.5 else b) / best
    return (a + f * (b - a)) / best


def optima(trials: Sequence[Sequence[float]]) -> tuple[tuple[int, float], tuple[int, float]]:
    hs = sorted({int(t[1]) for t in trials})
    out = []
    for h, factor in zip(hs[:2], (HALF_DECADE, QUARTER_DECADE), strict=False):
        scores = {float(t[0]): float(t[2]) for t in trials if int(t[1]) == h}
        finite = {p: s for p, s in scores.items() if math.isfinite(s)}
        best = min(finite, key=lambda p: (finite[p], p))
        out.append((h, vertex(scores, best, factor)))
    return out[0], out[1]


def law(lo: float, hi: float, fixed: float | None = None) -> Callable[..., float]:
    def rule(o1: tuple[int, float], o2: tuple[int, float], total: int) -> float:
        b = fixed if fixed is not None else math.log(o2[1] / o1[1]) / math.log(o2[0] / o1[0])
        b = max(lo, min(hi, b))
        return o2[1] * (total / o2[0]) ** b
    return rule


RULES: dict[str, Callable[..., float]] = {
    "as shipped: b measured, in [-1.5, 0]": law(-1.5, 0.0),
    "b fixed -0.5": law(-1.5, 0.0, -0.5),
    "b fixed -0.25": law(-1.5, 0.0, -0.25),
    "b fixed -0.75": law(-1.5, 0.0, -0.75),
    "b fixed -1": law(-1.5, 0.0, -1.0),
    "b measured, in [-1.5, -0.25]": law(-1.5, -0.25),
    "no extrapolation (rung 2's optimum)": law(0.0, 0.0, 0.0),
}


def main(paths: Sequence[str]) -> int:
    cases = [c for path in paths for c in json.loads(Path(path).read_text())
             if min(float(v) for v in c["grid"]) >= DEGENERATE]
    rows: dict[str, dict[str, list[float]]] = {r: {} for r in RULES}
    for c in cases:
        o1, o2 = optima(c["trials"]["informed"])
        group = "design" if c["group"] == "design" else "held out"
        for name, rule in RULES.items():
            p = rule(o1, o2, c["run_steps"])
            rows[name].setdefault(group, []).append(grid_ratio(c["peaks"], c["grid"], p))
    print("| rule (interpolated on the grid) | " + " | ".join(
        f"{g}: median / worst" for g in ("design", "held out")) + " |")
    print("|---|---:|---:|")
    for name, groups in rows.items():
        cells = [f"{statistics.median(v):.2f} / {max(v):.2f}" if v else "-"
                 for v in (groups.get("design", []), groups.get("held out", []))]
        print(f"| {name} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
