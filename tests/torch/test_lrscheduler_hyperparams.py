"""Other hyperparameters following schedules: momentum (Adam's beta1) against torch's
OneCycleLR with cycle_momentum (the oracle), weight decay in relative mode, resume."""

from __future__ import annotations

import io
import math
import random

import pytest
import torch
from _torch_testing import assert_rates_close, make_optimizer
from torch.optim.lr_scheduler import OneCycleLR

import lrkit as lk
from lrkit.torch.hyperparams import one_cycle_momentum
from lrkit.torch.scheduler import LRScheduler


def _read(opt: torch.optim.Optimizer) -> list[float]:
    row = []
    for g in opt.param_groups:
        momentum = g["momentum"] if "momentum" in g else g["betas"][0]
        row += [float(g["lr"]), float(momentum)]
    return row


def _drive(opt: torch.optim.Optimizer, sched: object, steps: int) -> list[list[float]]:
    out = []
    for _ in range(steps):
        out.append(_read(opt))
        opt.step()
        sched.step()  # type: ignore[attr-defined]
    return out


@pytest.mark.parametrize("seed", range(16))
def test_one_cycle_momentum_matches_torch(seed: int) -> None:
    rng = random.Random(seed)
    total = rng.randint(20, 150)
    pct, anneal, three = rng.uniform(0.1, 0.45), rng.choice(["cos", "linear"]), rng.random() < 0.5
    base_m, max_m = rng.uniform(0.5, 0.85), rng.uniform(0.86, 0.99)
    max_lr, div, fdiv = 10 ** rng.uniform(-4, 0), rng.uniform(2, 50), rng.uniform(1, 1e4)
    adam = rng.random() < 0.5
    n_groups = rng.randint(1, 2)

    def make() -> torch.optim.Optimizer:
        if adam:
            return make_optimizer([0.1] * n_groups, torch.optim.Adam, betas=(0.9, 0.999))
        return make_optimizer([0.1] * n_groups, momentum=0.9)

    opt_t = make()
    torch_sched = OneCycleLR(opt_t, max_lr=max_lr, total_steps=total, pct_start=pct,
                             anneal_strategy=anneal, three_phase=three, div_factor=div,
                             final_div_factor=fdiv, base_momentum=base_m, max_momentum=max_m)
    theirs = _drive(opt_t, torch_sched, total)
    opt_l = make()
    sched = LRScheduler(
        opt_l,
        lk.one_cycle(total, peak=max_lr, pct_start=pct, div_factor=div, final_div_factor=fdiv,
                     anneal=anneal, three_phase=three),
        mode="absolute",
        hyperparams={"momentum": one_cycle_momentum(total, base_m, max_m, pct_start=pct,
                                                    anneal=anneal, three_phase=three)},
    )
    ours = _drive(opt_l, sched, total)
    assert_rates_close(ours, theirs, rtol=1e-12)
    if adam:  # beta2 untouched
        assert all(g["betas"][1] == 0.999 for g in opt_l.param_groups)


def test_weight_decay_relative_keeps_zero_decay_groups_at_zero() -> None:
    opt = torch.optim.AdamW([
        {"params": [torch.nn.Parameter(torch.zeros(1))], "weight_decay": 0.05},
        {"params": [torch.nn.Parameter(torch.zeros(1))], "weight_decay": 0.0},
    ], lr=1e-3)
    sched = LRScheduler(opt, lk.constant(), hyperparams={
        "weight_decay": (lk.linear(1.0, 10.0, 8), "relative")})
    for t in range(10):
        wd = [g["weight_decay"] for g in opt.param_groups]
        assert wd == pytest.approx([0.05 * (1 + 9 * min(t, 8) / 8), 0.0], rel=1e-14)
        opt.step()
        sched.step()
    assert opt.param_groups[0]["initial_weight_decay"] == 0.05


def test_absolute_momentum_on_sgd() -> None:
    opt = make_optimizer([0.1, 0.2], momentum=0.5)
    sched = LRScheduler(opt, lk.constant(), hyperparams={"momentum": lk.linear(0.95, 0.85, 4)})
    for t in range(6):
        assert [g["momentum"] for g in opt.param_groups] == pytest.approx(
            [0.95 - 0.1 * min(t, 4) / 4] * 2, rel=1e-14)
        opt.step()
        sched.step()


def test_hyperparams_resume_exactly() -> None:
    def build() -> tuple[torch.optim.Optimizer, LRScheduler]:
        opt = make_optimizer([0.1], torch.optim.Adam, betas=(0.9, 0.999), weight_decay=0.01)
        return opt, LRScheduler(opt, lk.one_cycle(30), hyperparams={
            "momentum": one_cycle_momentum(30),
            "weight_decay": (lk.cosine(30, end=0.1), "relative")})

    opt, sched = build()
    reference = _drive(opt, sched, 30)
    opt, sched = build()
    resumed = _drive(opt, sched, 13)
    buf = io.BytesIO()
    torch.save({"opt": opt.state_dict(), "sched": sched.state_dict()}, buf)
    buf.seek(0)
    saved = torch.load(buf, weights_only=True)
    opt, sched = build()
    sched.load_state_dict(saved["sched"])
    opt.load_state_dict(saved["opt"])
    resumed += _drive(opt, sched, 17)
    assert resumed == reference


def test_one_cycle_momentum_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="base_momentum"):
        one_cycle_momentum(10, base_momentum=0.0)
    with pytest.raises(ValueError, match="max_momentum"):
        one_cycle_momentum(10, max_momentum=math.nan)
