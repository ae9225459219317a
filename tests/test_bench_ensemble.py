"""bench/ensemble.py: a grid trained as one vmapped ensemble gives the losses of separate runs."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from bench import ensemble, lrpanel, paneltasks


def small_task(opt: paneltasks.OptSpec, norm: bool) -> paneltasks.PanelTask:
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(300, 6, generator=gen)
    y = (x[:, 0] - 2 * x[:, 1] + 0.5 * torch.randn(300, generator=gen) > 0).long()
    return paneltasks._task(
        "small", "small", "sgd", lambda: paneltasks.mlp([6, 16, 16, 2], norm=norm), opt,
        (x[:200], y[:200], x[200:], y[200:]), torch.nn.functional.cross_entropy, 40, 20)


@pytest.mark.parametrize(
    ("opt", "norm"),
    [(paneltasks.OptSpec("sgd", 0.9, True, 1e-3), False),
     (paneltasks.OptSpec("sgd", 0.9, False, 0.0), True),
     (paneltasks.OptSpec("sgd"), False),
     (paneltasks.OptSpec("adam"), False),
     (paneltasks.OptSpec("adamw", weight_decay=0.05), False)],
)
def test_the_ensemble_gives_the_losses_of_separate_runs(opt: paneltasks.OptSpec,
                                                        norm: bool) -> None:
    torch.set_num_threads(1)
    task = small_task(opt, norm)
    peaks = [1e-3, 3e-2, 0.3, 1e3] if opt.kind == "sgd" else [1e-4, 3e-3, 3e-2, 1e3]
    # (the last one diverges)
    together = ensemble.train_grid(task, 0, peaks)
    separate = [lrpanel.train(task, 0, p) for p in peaks]
    for a, b in zip(together, separate, strict=True):
        if math.isinf(b):
            assert math.isinf(a)
        else:
            assert a == pytest.approx(b, rel=1e-4)


def test_the_ensemble_uses_the_task_budget_or_a_given_length() -> None:
    task = dataclasses.replace(small_task(paneltasks.OptSpec("sgd", 0.9), False), steps=10)
    assert ensemble.train_grid(task, 1, [0.1]) == pytest.approx([lrpanel.train(task, 1, 0.1)],
                                                                rel=1e-4)
    assert ensemble.warmup_cosine(40)[:3] == pytest.approx([0.0, 0.5, 1.0])
