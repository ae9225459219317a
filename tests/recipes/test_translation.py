"""fairseq's schedulers (formulas from fairseq/optim/lr_scheduler/, 3d262bb; fairseq is not
installable here) and the Annotated Transformer's Noam rate, which is a torch ``LambdaLR``:
there the oracle is torch itself, and lrkit's ``LRScheduler`` is driven next to it."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ._harness import check, compare, recipe


def test_fairseq_transformer_wmt() -> None:
    """``InverseSquareRootSchedule.__init__`` / ``step_update``."""
    lr, warmup_updates, warmup_init_lr = 5e-4, 4000, 1e-7
    lr_step = (lr - warmup_init_lr) / warmup_updates
    decay_factor = lr * warmup_updates**0.5

    def step_update(num_updates: int) -> float:
        if num_updates < warmup_updates:
            return warmup_init_lr + num_updates * lr_step
        return decay_factor * num_updates**-0.5

    check("fairseq-transformer-wmt", step_update, 300_000)


def test_wav2vec2_base_10h() -> None:
    """``TriStageLRSchedule._decide_stage`` / ``step_update`` with ``phase_ratio``."""
    peak, max_update = 5e-5, 20_000
    init_lr, final_lr = 0.01 * peak, 0.05 * peak
    warmup, hold, decay = (int(max_update * r) for r in (0.1, 0.4, 0.5))
    warmup_rate = (peak - init_lr) / warmup
    decay_factor = -math.log(0.05) / decay

    def step_update(update_step: int) -> float:
        if update_step < warmup:
            return init_lr + warmup_rate * update_step
        offset = warmup
        if update_step < offset + hold:
            return peak
        offset += hold
        if update_step <= offset + decay:
            return peak * math.exp(-decay_factor * (update_step - offset))
        return final_lr

    check("wav2vec2-base-10h", step_update, 25_000)


def test_roberta_base() -> None:
    """``PolynomialDecayLRSchedule.step_update``."""
    lr, warmup, total, power, end = 5e-4, 10_000, 125_000, 1.0, 0.0

    def step_update(num_updates: int) -> float:
        if warmup > 0 and num_updates <= warmup:
            return num_updates / float(warmup) * lr
        if num_updates >= total:
            return end
        pct_remaining = 1 - (num_updates - warmup) / (total - warmup)
        return (lr - end) * pct_remaining**power + end

    check("roberta-base", step_update, 130_000)


def _noam(step: int, model_size: int = 512, factor: float = 1.0, warmup: int = 3000) -> float:
    """harvardnlp/annotated-transformer the_annotated_transformer.py ``rate``."""
    if step == 0:
        step = 1
    return factor * (model_size ** (-0.5) * min(step ** (-0.5), step * warmup ** (-1.5)))


def test_annotated_transformer() -> None:
    check("annotated-transformer", _noam, 200_000)


def test_annotated_transformer_through_lrscheduler() -> None:
    """The notebook's training set-up: Adam at ``lr = base_lr = 1.0`` and ``LambdaLR(rate)``,
    stepped once per batch; lrkit's ``LRScheduler`` on a second copy of the optimizer."""
    torch = pytest.importorskip("torch")
    from lrkit.torch import LRScheduler

    lr, s = recipe("annotated-transformer")
    steps = 8000

    def run(make):  # type: ignore[no-untyped-def]
        p = torch.nn.Parameter(torch.zeros(2))
        opt = torch.optim.Adam([p], lr=lr, betas=(0.9, 0.98), eps=1e-9)
        sched = make(opt)
        out = []
        for _ in range(steps):
            out.append(opt.param_groups[0]["lr"])
            p.grad = torch.ones_like(p)
            opt.step()
            sched.step()
        return np.asarray(out)

    want = run(lambda o: torch.optim.lr_scheduler.LambdaLR(o, lambda k: _noam(k)))
    got = run(lambda o: LRScheduler(o, s))
    compare(got, want, np.arange(steps), what="annotated-transformer through LRScheduler")
