"""LRScheduler inside Hugging Face's ``Trainer(optimizers=(opt, sched))`` with a tiny model
built from a config (no network): the learning rate the Trainer logs is the schedule's,
formula written out."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import pytest
import torch

import lrkit as lk
from lrkit.torch.scheduler import LRScheduler

transformers = pytest.importorskip("transformers")
pytestmark = pytest.mark.slow

STEPS, WARM, BASE = 20, 5, 3e-3


def test_trainer_logs_the_schedule(tmp_path: Path) -> None:
    torch.manual_seed(0)
    config = transformers.GPT2Config(vocab_size=32, n_positions=8, n_embd=8, n_layer=1,
                                     n_head=2)
    model = transformers.GPT2LMHeadModel(config)
    gen = torch.Generator().manual_seed(0)
    data = [{"input_ids": ids, "labels": ids}
            for ids in torch.randint(0, 32, (STEPS * 2, 8), generator=gen)]
    opt = torch.optim.AdamW(model.parameters(), lr=BASE)
    sched = LRScheduler(opt, lk.warmup(lk.linear(1.0, 0.0, STEPS - WARM), WARM))
    args = transformers.TrainingArguments(
        output_dir=str(tmp_path), max_steps=STEPS, per_device_train_batch_size=2,
        logging_steps=1, report_to=[], use_cpu=True, save_strategy="no",
        disable_tqdm=True, dataloader_num_workers=0,
    )
    trainer = transformers.Trainer(model=model, args=args, train_dataset=data,
                                   optimizers=(opt, sched))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer.train()
    logged = [(e["step"], e["learning_rate"]) for e in trainer.state.log_history
              if "learning_rate" in e]
    assert len(logged) == STEPS

    def rate(t: int) -> float:  # HF's get_linear_schedule_with_warmup, written out
        return BASE * (t / WARM if t < WARM else max(0.0, (STEPS - t) / (STEPS - WARM)))

    # the Trainer's global step k (1-based) logs the rate its k-th optimizer step used: s(k-1)
    for step, lr in logged:
        assert lr == pytest.approx(rate(step - 1), rel=1e-12, abs=1e-15), step
    assert sched.count == STEPS
    assert not math.isnan(trainer.state.log_history[-1].get("train_loss", 0.0))
