"""Hugging Face ``Trainer`` with an lrkit schedule from a YAML file (``HfArgumentParser``): the
file holds ``TrainingArguments`` fields and the lrkit ones below. Run it with its config:

    python examples/hf_trainer.py examples/configs/hf_trainer.yaml

The Trainer uses the optimizer and scheduler given in ``optimizers=(opt, sched)``; its own
``learning_rate``/``lr_scheduler_type``/``warmup_steps`` settings would build others, so the
script reads ``learning_rate`` and ``weight_decay`` into the optimizer itself.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any

import torch
from transformers import HfArgumentParser, Trainer, TrainingArguments

from lrkit.torch import LRScheduler
from lrkit.transformers import ReportMetric


@dataclass
class ScheduleArguments:
    """The lrkit part of the config."""

    lr_schedule: str = field(default="warmup(cosine(steps=900), steps=100)",
                             metadata={"help": "an lrkit spec string"})
    lr_mode: str = field(default="relative", metadata={"help": "relative or absolute"})
    lr_monitor: str = field(default="eval_loss",
                            metadata={"help": "the evaluation metric a plateau hears"})
    lr_hyperparams: dict[str, Any] = field(
        default_factory=dict,
        metadata={"help": "other settings on schedules: {name: spec or [spec, mode]}"})


class Regressor(torch.nn.Module):
    """A two-layer regressor returning HF-style outputs."""

    def __init__(self, features: int = 4, hidden: int = 8) -> None:
        super().__init__()
        self.net = torch.nn.Sequential(torch.nn.Linear(features, hidden), torch.nn.Tanh(),
                                       torch.nn.Linear(hidden, 1))

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
        out = self.net(x)
        return {"loss": torch.nn.functional.mse_loss(out, labels), "logits": out}


def noisy_sine(n: int, seed: int, features: int = 4) -> list[dict[str, torch.Tensor]]:
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, features, generator=gen)
    y = x.sum(1, keepdim=True).sin() + 0.3 * torch.randn(n, 1, generator=gen)
    return [{"x": a, "labels": b} for a, b in zip(x, y, strict=True)]


def main(config: str) -> Trainer:
    args, lr = HfArgumentParser((TrainingArguments, ScheduleArguments)).parse_yaml_file(config)
    torch.manual_seed(args.seed)
    model = Regressor()
    opt = torch.optim.AdamW(model.parameters(), lr=args.learning_rate,
                            weight_decay=args.weight_decay)
    sched = LRScheduler(opt, lr.lr_schedule, lr.lr_mode, hyperparams=lr.lr_hyperparams)
    trainer = Trainer(model=model, args=args, train_dataset=noisy_sine(64, 1),
                      eval_dataset=noisy_sine(16, 2), optimizers=(opt, sched),
                      callbacks=[ReportMetric(lr.lr_monitor)])
    trainer.train(resume_from_checkpoint=args.resume_from_checkpoint)  # None: from the start
    return trainer


if __name__ == "__main__":
    main(sys.argv[1])
