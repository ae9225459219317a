"""Shared helpers for the PyTorch adapter tests: tiny optimizers and a driver that records the
rate of every param group before each optimizer step."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pytest
import torch


def make_optimizer(lrs: Sequence[float], cls: type = torch.optim.SGD, **kwargs: Any) -> Any:
    """An optimizer with one 1-element parameter per group, group i at ``lrs[i]``."""
    groups = [{"params": [torch.nn.Parameter(torch.zeros(1))], "lr": lr} for lr in lrs]
    return cls(groups, **kwargs)


def group_lrs(optimizer: Any, key: str = "lr") -> list[float]:
    return [float(g[key]) for g in optimizer.param_groups]


def drive(
    optimizer: Any,
    scheduler: Any,
    steps: int,
    metrics: Sequence[float] | None = None,
    read: Callable[[Any], list[float]] = group_lrs,
) -> list[list[float]]:
    """Rates in effect at optimizer steps 0..steps-1 (recorded before each optimizer step);
    the scheduler is stepped after every optimizer step, with ``metrics[i]`` when given."""
    out = []
    for i in range(steps):
        out.append(read(optimizer))
        optimizer.step()
        if metrics is None:
            scheduler.step()
        else:
            scheduler.step(metrics[i])
    return out


def assert_rates_close(ours: list[list[float]], theirs: list[list[float]], rtol: float = 1e-9,
                       atol: float = 1e-15) -> None:
    assert len(ours) == len(theirs)
    for step, (a, b) in enumerate(zip(ours, theirs, strict=True)):
        assert len(a) == len(b), f"step {step}: {len(a)} vs {len(b)} groups"
        for g, (x, y) in enumerate(zip(a, b, strict=True)):
            assert abs(x - y) <= atol + rtol * abs(y), f"step {step} group {g}: {x!r} != {y!r}"


# -- a tiny regression model for Hugging Face's Trainer (two param groups: body and head) -------


class HFRegressor(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = torch.nn.Linear(4, 8)
        self.head = torch.nn.Linear(8, 1)

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
        out = self.head(torch.tanh(self.body(x)))
        return {"loss": torch.nn.functional.mse_loss(out, labels), "logits": out}


def hf_data(n: int, seed: int) -> list[dict[str, torch.Tensor]]:
    """``n`` examples ``{"x", "labels"}`` of a noisy sine of the sum, from ``seed``."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 4, generator=gen)
    y = x.sum(1, keepdim=True).sin() + 0.3 * torch.randn(n, 1, generator=gen)
    return [{"x": a, "labels": b} for a, b in zip(x, y, strict=True)]


LIGHTNING_WARNINGS = [
    pytest.mark.filterwarnings("ignore::UserWarning:pytorch_lightning.*"),
    pytest.mark.filterwarnings("ignore::UserWarning:lightning.*"),
    pytest.mark.filterwarnings("ignore::UserWarning:lightning_fabric.*"),
    pytest.mark.filterwarnings("ignore:.*LeafSpec.*:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:.*LeafSpec.*:FutureWarning"),
]
"""Lightning's own notes, which say nothing about lrkit."""
