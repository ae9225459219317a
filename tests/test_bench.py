"""The benchmark harness stays runnable: every training-quality strategy gives the same rates
through lrkit as through the torch / Hugging Face schedulers a user would write, and a short
training run goes through end to end. (Timings are never asserted: they live in bench/.)"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import quality, strategies, timing
from bench.tasks import digits_task

TOTAL = 120
NAMES = [s.name for s in (*strategies.STRATEGIES, *strategies.WARMUP_EXPERIMENT)
         if s.name != "seed_recipe"]


def _rates(factory: strategies.Factory, peak: float = 0.1) -> list[float]:
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=peak, momentum=0.9)
    sched = factory(opt, TOTAL)
    out = []
    for _ in range(TOTAL):
        out.append(float(opt.param_groups[0]["lr"]))
        opt.step()
        sched.step()
    return out


@pytest.mark.parametrize("name", NAMES)
def test_lrkit_and_torch_backends_give_the_same_rates(name: str) -> None:
    strategy = next(s for s in (*strategies.STRATEGIES, *strategies.WARMUP_EXPERIMENT)
                    if s.name == name)
    ours = _rates(strategy.factory("lrkit"))
    theirs = _rates(strategy.factory("torch"))
    # (torch's warmup ramp starts at 1e-8 x peak, lrkit's at 0: inside abs_tol)
    for k, (a, b) in enumerate(zip(ours, theirs, strict=True)):
        assert math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-9), (name, k, a, b)


def test_a_short_training_run_goes_through() -> None:
    task = digits_task()
    strategy = strategies.STRATEGIES[0]
    run = quality.train(task, strategy, seed=0, steps=6, every=3, backend="lrkit",
                        peak=task.peak_lr)
    assert run.eval_steps == [0, 3, 6]
    assert all(math.isfinite(v) for v in run.val_loss)
    assert run.lr[0] == pytest.approx(task.peak_lr)


def test_range_test_calibration_runs_and_reports(tmp_path: Path) -> None:
    from bench import rangetest

    assert rangetest.main(["--problems", "20", "--out", str(tmp_path)]) == 0
    text = (tmp_path / "rangetest.md").read_text()
    rows = [line for line in text.splitlines() if line.startswith("| lrkit |")]
    assert len(rows) == 1 and "| 20 |" in rows[0]
    # the critical rate really is 2 / largest eigenvalue of X^T X / n
    import numpy as np

    x, _, critical = rangetest.least_squares(np.random.default_rng(0), 64, 5, 10.0, 3.0)
    xn = x.numpy()
    assert critical == pytest.approx(2.0 / np.linalg.eigvalsh(xn.T @ xn / 64).max(), rel=1e-12)
    assert critical == pytest.approx(2.0 / 3.0, rel=1e-9)


# --- the micro-benchmarks: they run, and each compares like with like ---------------------------


def _dense(c: object) -> list[float]:
    """Steps across a scalar case: a grid, its timed steps, and every integer phase boundary
    with its neighbours."""
    import numpy as np

    ts = list(c.ts)  # type: ignore[attr-defined]
    top = 1.2 * max(ts) + 10
    grid = np.linspace(0.0, top, 241).tolist()
    edges = [b + d for b in c.schedule.breakpoints() for d in (-1.0, 0.0, 1.0)  # type: ignore
             if b + d >= 0]
    return sorted({*grid, *ts, *edges, *map(float, range(0, int(top), max(1, int(top) // 97)))})


def test_every_hand_written_scalar_reference_is_the_formula_it_is_timed_against() -> None:
    import lrkit as lk
    from bench import scalar

    cases = scalar.cases()
    assert {c.label.split(" ")[0] for c in cases if not c.composition} == set(lk.registry())
    for c in cases:
        for t in _dense(c):
            if c.states is None:
                ours, theirs = c.schedule(t), c.reference(t)
            else:
                ours, theirs = c.schedule.evaluate(t, c.states), c.reference(t, c.states)
            assert math.isclose(ours, theirs, rel_tol=1e-12, abs_tol=1e-15), (c.label, t)
    assert scalar.check_agreement(cases) <= scalar.AGREEMENT


def test_scalar_bench_reports_every_case(tmp_path: Path) -> None:
    from bench import scalar

    assert scalar.main(["--number", "20", "--repeats", "1", "--out", str(tmp_path)]) == 0
    text = (tmp_path / "scalar.md").read_text()
    for c in scalar.cases():
        rows = [r for r in text.splitlines() if r.startswith(f"| {c.label} |")]
        assert len(rows) == len(c.ts), c.label
    assert "s(t) by time: " in text
    assert f"of {len(scalar.cases())} schedules within 1.5x" in text


def _lrs(opt: torch.optim.Optimizer) -> list[float]:
    return [float(g["lr"]) for g in opt.param_groups]


def test_overhead_rows_do_the_same_work_as_their_torch_analogues() -> None:
    from bench import overhead as ov

    def trace(name: str, groups: int = 3, steps: int = 1500) -> list[list[float]]:
        opt, step = ov.fresh(ov.BY_NAME[name], groups)
        out = [_lrs(opt)]
        for _ in range(steps):
            step()
            out.append(_lrs(opt))
        return out

    def same(a: list[list[float]], b: list[list[float]], rel: float, abs_: float = 0.0) -> None:
        for k, (x, y) in enumerate(zip(a, b, strict=True)):
            for u, v in zip(x, y, strict=True):
                assert math.isclose(u, v, rel_tol=rel, abs_tol=abs_), (k, x, y)

    ours = trace(ov.HEADLINE)
    # (no scheduler object writes s(0) at construction: compare from the first step on)
    same(ours[1:], trace("limit: bare formula written into the groups (no scheduler)")[1:], 1e-12)
    same(ours, trace("torch LambdaLR (hand-written lambda)"), 1e-12)
    same(ours, trace(ov.REFERENCE), 1e-9, 1e-9)  # torch's ramp starts at 1e-8
    same(ours, trace("lrkit, tensor lr (in place)"), 1e-6)  # a float32 tensor lr
    same(trace("lrkit, one schedule per group (a list)"),
         trace("torch LambdaLR, one lambda per group"), 1e-12)
    plateau = trace("lrkit warmup(plateau), metric every 100 steps")
    same(plateau, trace("torch LinearLR then ReduceLROnPlateau, metric every 100 steps"),
         1e-9, 1e-9)
    assert plateau[-1][0] < 0.1 / 4  # the plateau did reduce (several times) in the window
    for name in ("lrkit + momentum schedule (hyperparams)", "torch OneCycleLR, cycle_momentum"):
        opt, step = ov.fresh(ov.BY_NAME[name], 2)
        before = opt.param_groups[0]["momentum"]
        for _ in range(100):
            step()
        assert opt.param_groups[1]["momentum"] != before  # both write momentum every step


def test_overhead_bench_reports_the_headline(tmp_path: Path) -> None:
    from bench import overhead as ov

    args = ["--steps", "10", "--repeats", "1", "--groups", "1", "2", "--out", str(tmp_path)]
    assert ov.main(args) == 0
    text = (tmp_path / "overhead.md").read_text()
    assert "## step() against SequentialLR (target <= 0.5x" in text
    for g in (1, 2):
        assert any(r.startswith(f"| {g} | ") for r in text.splitlines())
    for r in ov.ROWS:
        assert text.count(r.name) >= 2, r.name  # one row per group count


def test_cold_child_computes_the_curve_in_a_fresh_process() -> None:
    from bench import cold

    n = 300_000
    s = cold.compositions(n)[cold.HEADLINE]()
    ours = cold.run_child(cold.HEADLINE, n, "float64")
    theirs = cold.run_child("np.cos", n, "int64")
    assert ours["probe"] == pytest.approx(s(float(n // 3)), rel=1e-12)  # numpy vs libm cos
    assert theirs["probe"] == pytest.approx(math.cos(math.pi * (n // 3) / n), rel=1e-15)
    assert ours["nbytes"] == theirs["nbytes"] == 8 * n
    assert ours["cpu"] > 0 and ours["wall"] > 0


def test_vectorised_bench_reports_every_section(tmp_path: Path) -> None:
    from bench import vectorised

    args = ["--steps", "300000", "--torch-steps", "20001", "--pairs", "1",
            "--composition-pairs", "0", "--repeats", "1", "--samples", "500",
            "--out", str(tmp_path)]
    assert vectorised.main(args) == 0
    text = (tmp_path / "vectorised.md").read_text()
    for section in ("## Cold", "## Warm", "## Peak memory", "## torch and jax",
                    "## Stepping", "## Agreement"):
        assert section in text
    agree = [r for r in text.split("## Agreement")[1].splitlines()
             if r.startswith("| ") and ("| int64 |" in r or "| float64 |" in r)]
    assert len(agree) == 8
    for row in agree:
        cells = [c.strip() for c in row.strip("|").split("|")]
        # the contract: values within 1e-12 relative, and every boundary decided on the same
        # side (a wrong side is off by far more than 1e-12); never bitwise equality of numpy's
        # SIMD cos/exp with libm's, which differs by an ulp on some CPUs (AVX512_ICL)
        assert float(cells[2]) <= 1e-12, row
        assert cells[4] == "0", row


@pytest.mark.skipif(not timing.callgrind_available(), reason="needs valgrind")
def test_callgrind_counts_the_instructions_of_each_phase() -> None:
    code = ("from bench import timing\n"
            "def work(n):\n    x = 0.0\n    for _ in range(n):\n        x = x * 0.5 + 1.0\n"
            "timing.ready()\nwork(100)\ntiming.mark()\nwork(2000)\ntiming.mark()\n"
            "work(4000)\ntiming.mark()\n")
    counts, _ = timing.callgrind_phases(["-c", code], timeout=300)
    assert len(counts) >= 3
    assert counts[2] / counts[1] == pytest.approx(2.0, rel=0.02)
