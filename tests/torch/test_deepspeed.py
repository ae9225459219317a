"""An lrkit ``LRScheduler`` handed to ``deepspeed.initialize``: DeepSpeed's engine steps it, saves
it in ``save_checkpoint`` and restores it in ``load_checkpoint``.

DeepSpeed runs in a child process (tests/torch/_deepspeed_child.py: its CPU accelerator, gloo,
world size 1), so its process group never reaches other tests. There, with gradient accumulation
2 (``engine.step()`` after every micro-batch, the scheduler stepped once per update):

- ``cosine``: ``LRScheduler(opt, spec)`` given as an instance; the rate of every update equals
  the schedule's formula, written out below;
- ``plateau``: given as a callable (DeepSpeed builds it on its optimizer), metrics passed through
  ``engine.step(lr_kwargs={"metric": m})``; the rates equal torch's ``ReduceLROnPlateau`` fed the
  same metrics;
- both: ``save_checkpoint`` mid-run, ``load_checkpoint`` into a fresh engine whose optimizer has
  another lr; the rate right after loading, the rates and the weights of the rest of the run
  equal the uninterrupted run's.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")
if importlib.util.find_spec("deepspeed") is None:
    pytest.skip("DeepSpeed is not installed (scripts/setup-env.sh installs it)",
                allow_module_level=True)

pytestmark = pytest.mark.slow  # a child process running DeepSpeed

CHILD = Path(__file__).with_name("_deepspeed_child.py")
SRC = Path(__file__).resolve().parents[2] / "src"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def result(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    work = tmp_path_factory.mktemp("deepspeed")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(SRC), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    proc = subprocess.run(
        [sys.executable, str(CHILD), str(work), str(_free_port())],
        capture_output=True, text=True, env=env, timeout=300, cwd=work,
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads(lines[-1][len("RESULT "):])  # type: ignore[no-any-return]


def _close(got: list[float], want: list[float], what: str) -> None:
    assert len(got) == len(want), (what, len(got), len(want))
    for k, (a, b) in enumerate(zip(got, want, strict=True)):
        assert math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-18), f"{what}: update {k}: {a} != {b}"


def test_runs_on_deepspeeds_cpu_accelerator_with_gloo(result: dict[str, Any]) -> None:
    assert result["version"] == "0.19.8"
    assert result["accelerator"] == "cpu"
    assert result["backend"] == "gloo"
    assert result["cosine"]["global_steps"] == 30  # updates, not micro-batches


def test_every_update_uses_the_schedule(result: dict[str, Any]) -> None:
    """warmup(cosine(20, end=0.01), 5, start=0.1) times the optimizer's lr, written out."""
    lr = result["lr"]

    def formula(t: int) -> float:
        if t < 5:
            return lr * (0.1 + 0.9 * t / 5)
        x = min(t - 5, 20) / 20
        return lr * (0.01 + 0.99 * (1 + math.cos(math.pi * x)) / 2)

    _close(result["cosine"]["full"], [formula(t) for t in range(30)], "cosine")


def test_metrics_through_lr_kwargs_drive_a_plateau(result: dict[str, Any]) -> None:
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=result["lr"])
    ref = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=2)
    want = []
    for m in result["metrics"]:
        want.append(opt.param_groups[0]["lr"])
        opt.step()
        ref.step(m)
    _close(result["plateau"]["full"], want, "plateau vs ReduceLROnPlateau")
    assert want[-1] < result["lr"] / 50  # it reduced, several times


@pytest.mark.parametrize(("name", "save_at"), [("cosine", 12), ("plateau", 14)])
def test_load_checkpoint_resumes_exactly(result: dict[str, Any], name: str, save_at: int
                                         ) -> None:
    run = result[name]
    full = run["full"]
    assert run["after_load"] == pytest.approx(full[save_at], rel=1e-12)
    assert run["after_load"] != 0.7  # the fresh optimizer's own lr was replaced
    _close(run["resumed"], full[save_at:], f"{name} resumed at update {save_at}")
    assert run["weights_equal"]
    assert len(set(full[save_at:])) > 3  # the rate moves after the checkpoint
