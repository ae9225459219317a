"""LightningCLI with lrkit: the documented command and YAML (examples/lightning_cli.py,
examples/configs/lightning_cli.yaml) run as written; plain LightningCLI steps per epoch (the
pitfall); the two-line subclass for pytorch_lightning. Oracles: the warmup formula and torch's
ReduceLROnPlateau fed the validations the plateau's segment saw."""

from __future__ import annotations

import csv
import math
import os
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import pytest
import torch
from _torch_testing import LIGHTNING_WARNINGS
from torch.optim.lr_scheduler import ReduceLROnPlateau

pytest.importorskip("jsonargparse")
pytest.importorskip("lightning")
pytest.importorskip("pytorch_lightning")

pytestmark = [
    pytest.mark.slow,
    *LIGHTNING_WARNINGS,
    pytest.mark.filterwarnings("ignore::DeprecationWarning:lightning.pytorch.cli"),  # jsonargparse
]

ROOT = Path(__file__).resolve().parents[2]
SCRIPT, CONFIG = ROOT / "examples" / "lightning_cli.py", ROOT / "examples" / "configs" / \
    "lightning_cli.yaml"
BATCHES = 16  # 64 samples, batch_size 4


def _expected(lrs: dict[int, float], vals: dict[int, float], base: float, warm: int,
              rule: dict[str, Any]) -> dict[int, float]:
    """warmup(plateau(**rule), warm) times base: the ramp, then ReduceLROnPlateau fed the
    validations made after ``warm`` or more steps (``vals``: steps taken -> val_loss)."""
    dummy = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    rop = ReduceLROnPlateau(dummy, **rule)
    out = {}
    for k in sorted(lrs):
        if k >= warm and k in vals:
            rop.step(vals[k])
        out[k] = base * (k / warm if k < warm else dummy.param_groups[0]["lr"])
    return out


def _read_csv(root: Path, column: str) -> dict[int, float]:
    """``column`` of metrics.csv by step; val_loss by the optimizer steps taken before it (a
    validation after n optimizer steps is logged at step n - 1)."""
    with open(next(root.rglob("metrics.csv"))) as f:
        rows = list(csv.DictReader(f))
    shift = 1 if column == "val_loss" else 0
    return {int(r["step"]) + shift: float(r[column]) for r in rows if r.get(column)}


def test_the_documented_command_and_yaml_run_as_written(tmp_path: Path) -> None:
    command = CONFIG.read_text().splitlines()[0]
    assert command == "# python examples/lightning_cli.py fit --config " \
                      "examples/configs/lightning_cli.yaml"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT / "src"),
                                                       os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "fit", "--config", str(CONFIG),
         f"--trainer.default_root_dir={tmp_path}",
         f"--trainer.logger.init_args.save_dir={tmp_path}"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    lrs, vals = _read_csv(tmp_path, "lr-SGD"), _read_csv(tmp_path, "val_loss")
    assert len(lrs) == 8 * BATCHES and len(vals) == 8
    # the YAML's schedule: warmup(plateau(factor=0.5, patience=0, threshold=0.1), steps=20)
    expected = _expected(lrs, vals, 0.05, 20, {"factor": 0.5, "patience": 0, "threshold": 0.1})
    assert lrs == pytest.approx(expected, rel=1e-12, abs=1e-15)
    assert len(set(lrs.values())) > 20 + 2  # a ramp per batch, then reductions
    # hyperparams: weight_decay: [cosine(steps=128), relative] on SGD's weight_decay 1.0e-4
    decays = _read_csv(tmp_path, "lr-SGD-weight_decay")
    assert decays == pytest.approx(
        {k: 1e-4 * 0.5 * (1 + math.cos(math.pi * min(k, 128) / 128)) for k in lrs},
        rel=1e-12, abs=1e-18)


class _Record:
    """Builds a callback (for the given package) recording the rate at every batch."""

    @staticmethod
    def make(pl: Any) -> Any:
        class Record(pl.Callback):  # type: ignore[misc,name-defined]
            def __init__(self) -> None:
                self.rates: list[float] = []

            def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):  # type: ignore[no-untyped-def]
                self.rates.append(float(trainer.optimizers[0].param_groups[0]["lr"]))

        return Record()


def _args(tmp_path: Path, schedule: str, callbacks: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "seed_everything": 0,
        "trainer": {"max_epochs": 3, "accelerator": "cpu", "devices": 1, "logger": False,
                    "enable_checkpointing": False, "enable_progress_bar": False,
                    "enable_model_summary": False, "default_root_dir": str(tmp_path),
                    "callbacks": callbacks},
        "optimizer": {"class_path": "torch.optim.SGD", "init_args": {"lr": 0.05}},
        "lr_scheduler": {"class_path": "lrkit.torch.LRScheduler",
                         "init_args": {"schedule": schedule}},
    }


def _lightning_example() -> Any:
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        import lightning_cli
    finally:
        sys.path.remove(str(SCRIPT.parent))
    return lightning_cli


def test_plain_lightning_cli_steps_per_epoch(tmp_path: Path) -> None:
    """The pitfall lrkit.lightning.cli.LightningCLI fixes."""
    import lightning.pytorch as pl
    from lightning.pytorch.cli import LightningCLI

    example = _lightning_example()
    record = _Record.make(pl)
    LightningCLI(example.Regressor, example.NoisySine, save_config_callback=None,
                 trainer_defaults={"callbacks": [record]},
                 args={"fit": _args(tmp_path, "warmup(constant(), steps=40)", [])})
    assert record.rates == [0.05 * (e / 40) for e in range(3) for _ in range(BATCHES)]


def _pl_module() -> tuple[Any, Any]:
    import pytorch_lightning as pl

    example = _lightning_example()

    class Regressor(pl.LightningModule):  # type: ignore[misc,name-defined]
        def __init__(self) -> None:
            super().__init__()
            self.net = example.Regressor().net

        def training_step(self, batch, batch_idx):  # type: ignore[no-untyped-def]
            x, y = batch
            return torch.nn.functional.mse_loss(self.net(x), y)

        def validation_step(self, batch, batch_idx):  # type: ignore[no-untyped-def]
            x, y = batch
            self.log("val_loss", torch.nn.functional.mse_loss(self.net(x), y))

    class Data(pl.LightningDataModule):  # type: ignore[misc,name-defined]
        def __init__(self) -> None:
            super().__init__()
            self.inner = example.NoisySine()

        def train_dataloader(self):  # type: ignore[no-untyped-def]
            return self.inner.train_dataloader()

        def val_dataloader(self):  # type: ignore[no-untyped-def]
            return self.inner.val_dataloader()

    return Regressor, Data


def test_the_two_line_subclass_for_pytorch_lightning(tmp_path: Path) -> None:
    import pytorch_lightning as pl
    from pytorch_lightning.cli import LightningCLI

    from lrkit.lightning import configure_optimizers as lrkit_configure_optimizers

    class CLI(LightningCLI):  # type: ignore[misc]
        # at module level, as in the docs, the right-hand name is configure_optimizers itself
        configure_optimizers = staticmethod(lrkit_configure_optimizers)

    model, data = _pl_module()
    record = _Record.make(pl)
    report = {"class_path": "lrkit.lightning.ReportMetric", "init_args": {"monitor": "val_loss"}}
    schedule = "warmup(plateau(factor=0.5, patience=0, threshold=0.3), steps=10)"
    cli = CLI(model, data, save_config_callback=None, trainer_defaults={"callbacks": [record]},
              args={"fit": _args(tmp_path, schedule, [report])})
    assert [type(c).__name__ for c in cli.trainer.callbacks].count("ReportMetric") == 1
    assert record.rates[:10] == pytest.approx([0.05 * k / 10 for k in range(10)], rel=1e-12)
    # the plateau heard the validations after the warmup (epochs 1 and 2): reductions happen
    # right after a validation, never inside an epoch
    changes = [k for k in range(11, len(record.rates)) if record.rates[k] != record.rates[k - 1]]
    assert changes and set(changes) <= {BATCHES, 2 * BATCHES}


def test_a_plateau_without_report_metric_warns(tmp_path: Path) -> None:
    from lrkit.lightning.cli import LightningCLI

    example = _lightning_example()
    args = _args(tmp_path, "plateau()", [])
    args["trainer"]["max_steps"] = 1
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        LightningCLI(example.Regressor, example.NoisySine, save_config_callback=None,
                     args={"fit": args})
    messages = [str(w.message) for w in caught if "ReportMetric" in str(w.message)]
    assert len(messages) == 1 and "class_path: lrkit.lightning.ReportMetric" in messages[0]
