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

from bench import quality, strategies
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
