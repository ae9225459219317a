"""LRScheduler inside PyTorch Lightning's Trainer (``interval: "step"``): the rate that
Lightning's LearningRateMonitor logs at every step is the schedule's, formula written out."""

from __future__ import annotations

import csv
import math
import warnings
from pathlib import Path

import pytest
import torch

import lrkit as lk
from lrkit.torch.scheduler import LRScheduler

pl = pytest.importorskip("pytorch_lightning")
pytestmark = pytest.mark.slow

STEPS, WARM, BASE = 24, 4, 0.05


class _Tiny(pl.LightningModule):  # type: ignore[misc]
    def __init__(self, schedule: lk.Schedule, plateau: bool) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(3, 1)
        self.schedule = schedule
        self.plateau = plateau

    def training_step(self, batch, batch_idx):  # type: ignore[no-untyped-def]
        x, y = batch
        loss = torch.nn.functional.mse_loss(self.layer(x), y)
        # a "loss" that never improves after the first step: plateau reductions happen
        self.log("flat", 1.0 + (batch_idx == 0) * -0.5, on_step=True, on_epoch=False)
        return loss

    def configure_optimizers(self):  # type: ignore[no-untyped-def]
        opt = torch.optim.SGD(self.parameters(), lr=BASE)
        config = {"scheduler": LRScheduler(opt, self.schedule), "interval": "step"}
        if self.plateau:
            config |= {"reduce_on_plateau": True, "monitor": "flat"}
        return {"optimizer": opt, "lr_scheduler": config}


def _fit(tmp_path: Path, schedule: lk.Schedule, plateau: bool = False) -> list[float]:
    gen = torch.Generator().manual_seed(0)
    data = torch.utils.data.TensorDataset(torch.randn(STEPS * 2, 3, generator=gen),
                                          torch.randn(STEPS * 2, 1, generator=gen))
    loader = torch.utils.data.DataLoader(data, batch_size=2)
    trainer = pl.Trainer(
        max_steps=STEPS, accelerator="cpu", devices=1, default_root_dir=tmp_path,
        logger=pl.loggers.CSVLogger(tmp_path), log_every_n_steps=1,
        callbacks=[pl.callbacks.LearningRateMonitor(logging_interval="step")],
        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
    )
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=UserWarning, module="pytorch_lightning")
        warnings.filterwarnings("ignore", category=UserWarning, module="lightning_fabric")
        trainer.fit(_Tiny(schedule, plateau), loader)
    with open(next(Path(tmp_path).rglob("metrics.csv"))) as f:
        rows = list(csv.DictReader(f))
    column = next(k for k in rows[0] if k.startswith("lr-"))
    return [float(r[column]) for r in rows if r.get(column)]


def test_logged_rate_follows_the_schedule(tmp_path: Path) -> None:
    logged = _fit(tmp_path, lk.warmup(lk.cosine(STEPS - WARM), WARM))
    expected = [BASE * (t / WARM if t < WARM else
                        0.5 * (1 + math.cos(math.pi * (t - WARM) / (STEPS - WARM))))
                for t in range(STEPS)]
    assert logged == pytest.approx(expected, rel=1e-12, abs=1e-15)


def test_plateau_gets_the_monitored_metric(tmp_path: Path) -> None:
    logged = _fit(tmp_path, lk.plateau(patience=2, factor=0.5), plateau=True)
    # metric 0.5 at step 0, then 1.0 forever: the 3rd bad report (after step 3) reduces,
    # then every 3 more (patience 2): rates for steps 0..23 written out
    expected = [BASE * 0.5 ** ((t - 1) // 3) if t >= 4 else BASE for t in range(STEPS)]
    assert logged == pytest.approx(expected, rel=1e-12)
