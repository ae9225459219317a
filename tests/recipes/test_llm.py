"""LLM pretraining recipes: nanoGPT, GPT-NeoX/Pythia, Megatron-LM, OLMo, torchtitan, MiniCPM.

None of these libraries installs here, so each oracle is the recipe's formula written out from
the source file and function named in its docstring (the commit read is noted), evaluated in
float64 at every step of the run and past its end.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest

from ._harness import check, check_holds, compare, rates, recipes


def test_nanogpt() -> None:
    """karpathy/nanoGPT train.py ``get_lr`` (3adf61e), config/train_gpt2.py."""
    learning_rate, min_lr, warmup, decay_iters = 6e-4, 6e-5, 2000, 600_000

    def get_lr(it: int) -> float:
        if it < warmup:
            return learning_rate * (it + 1) / (warmup + 1)
        if it > decay_iters:
            return min_lr
        ratio = (it - warmup) / (decay_iters - warmup)
        return min_lr + 0.5 * (1.0 + math.cos(math.pi * ratio)) * (learning_rate - min_lr)

    check("nanogpt", get_lr, 630_000)


def test_pythia() -> None:
    """EleutherAI/gpt-neox, Pythia branch (e15d923) and v2.0: megatron/learning_rates.py
    ``AnnealingLR.get_lr``; ``warmup_iter = warmup * num_iters`` in megatron/training.py;
    pythia-160m.yml. The cosine runs over the whole ``end_iter`` and the floor is
    ``max(lr, min_lr)`` outside the warmup."""
    start_lr, min_lr, end_iter = 6e-4, 6e-5, 143_000
    warmup_iter = 0.01 * end_iter

    def get_lr(num_iters: int) -> float:
        n = min(num_iters, end_iter - warmup_iter)
        if num_iters <= warmup_iter:
            return start_lr * n / warmup_iter
        n -= warmup_iter
        lr = start_lr / 2.0 * (math.cos(math.pi * n / end_iter) + 1)
        return max(lr, min_lr)

    got = check("pythia", get_lr, 160_000)
    # The floor is what shapes the end of the run: from ~80% on the rate sits at min_lr.
    assert np.all(got[120_000:] == pytest.approx(min_lr, rel=1e-12))
    assert got[100_000] > min_lr


def _megatron(*, max_lr: float, min_lr: float, warmup: float, decay_steps: float, style: str,
              wsd_steps: float = 0.0, wsd_style: str = "") -> Callable[[float], float]:
    """NVIDIA/Megatron-LM megatron/core/optimizer_param_scheduler.py
    ``OptimizerParamScheduler.get_lr`` (d98e8a6) as a function of ``num_steps``, ``init_lr = 0``."""
    anneal_start = decay_steps - wsd_steps

    def get_lr(num_steps: float) -> float:
        if warmup > 0 and num_steps <= warmup:
            return max_lr * num_steps / warmup
        if num_steps > decay_steps:
            return min_lr
        if style == "cosine":
            ratio = (num_steps - warmup) / (decay_steps - warmup)
            coeff = 0.5 * (math.cos(math.pi * ratio) + 1.0)
        elif num_steps <= anneal_start:  # WSD, stable
            coeff = 1.0
        else:  # WSD, anneal
            r = (num_steps - anneal_start) / wsd_steps
            coeff = 2.0 * 0.5**r - 1.0 if wsd_style == "exponential" else 1.0 - math.sqrt(r)
        return min_lr + coeff * (max_lr - min_lr)

    return get_lr


def test_megatron_gpt3() -> None:
    """Megatron-LM examples/gpt3/train_gpt3_175b_distributed.sh through
    ``get_optimizer_param_scheduler`` (lengths in samples, stepped by the global batch)."""
    gbs = 1536
    decay = 430_000 * gbs
    get_lr = _megatron(max_lr=6e-5, min_lr=6e-6, warmup=0.001 * decay, decay_steps=decay,
                       style="cosine")
    # Every iteration at the full batch size, up to past train_iters = 500000.
    check("megatron-gpt3", get_lr, 520_000 * gbs, stride=gbs)
    # Under the example's batch-size ramp the clock takes other values: any sample count works.
    ts = np.sort(np.random.default_rng(0).integers(0, 520_000 * gbs, 20_000))
    want = np.array([get_lr(float(t)) for t in ts])
    compare(rates("megatron-gpt3", ts), want, ts, what="megatron-gpt3 at ramp sample counts")


@pytest.mark.parametrize(
    ("rid", "wsd_style"),
    [("megatron-wsd-1-sqrt", "minus_sqrt"), ("megatron-wsd-exp", "exponential")],
)
def test_megatron_wsd(rid: str, wsd_style: str) -> None:
    """Nemotron 3 Super's functional-test config (lengths in samples). The tests step the clock
    by a global batch of 3072 samples: about a million scheduler steps, and past the end."""
    gbs = 3072
    get_lr = _megatron(max_lr=4.5e-4, min_lr=4.5e-6, warmup=24_414_063,
                       decay_steps=3_048_706_055, style="WSD", wsd_steps=610_351_563,
                       wsd_style=wsd_style)
    check(rid, get_lr, 3_100_000_000, stride=gbs)
    # The phase boundaries themselves, sample by sample.
    for edge in (24_414_063, 3_048_706_055 - 610_351_563, 3_048_706_055):
        check(rid, get_lr, edge + 3, start=edge - 3)


def _olmo_linear_warmup(initial_lr: float, step: int, warmup_steps: int) -> float:
    """allenai/OLMo olmo/optim.py ``Scheduler._linear_warmup`` (59a53e3) with
    ``warmup_min_lr`` unset: from 10% of the rate."""
    warmup_min_lr = initial_lr * 0.10
    return warmup_min_lr + (initial_lr - warmup_min_lr) * min(step, warmup_steps) / warmup_steps


def test_olmo_1b() -> None:
    """olmo/optim.py ``CosWithWarmup.get_lr``; olmo/train.py increments ``global_step`` before
    ``train_step``, so optimizer step k uses ``get_lr(lr, k + 1, max_steps)``."""
    lr, warmup, alpha_f, max_steps = 4.0e-4, 2000, 0.1, 739_328

    def get_lr(step: int) -> float:
        eta_min = lr * alpha_f
        if step < warmup:
            return _olmo_linear_warmup(lr, step, warmup)
        if step >= max_steps:
            return eta_min
        x = (step - warmup) / (max_steps - warmup)
        return eta_min + (lr - eta_min) * (1 + math.cos(math.pi * x)) / 2

    check("olmo-1b", lambda k: get_lr(k + 1), 760_000)


def test_olmo_7b() -> None:
    """olmo/optim.py ``LinearWithWarmup.get_lr``; ``Trainer.max_steps`` for
    ``max_duration: 2e12T`` at 2048 x 2048 tokens per batch."""
    lr, warmup, alpha_f = 3.0e-4, 5000, 0.1
    max_steps = math.ceil(2e12 / (2048 * 2048))
    assert recipes()["olmo-7b"]["max_steps"] == max_steps

    def get_lr(step: int) -> float:
        eta_min = lr * alpha_f
        if step < warmup:
            return _olmo_linear_warmup(lr, step, warmup)
        if step >= max_steps:
            return eta_min
        return lr - (lr - eta_min) * ((step - warmup) / (max_steps - warmup))

    check("olmo-7b", lambda k: get_lr(k + 1), 490_000)


def test_torchtitan_llama3_8b() -> None:
    """pytorch/torchtitan torchtitan/components/optimizer/lr_scheduler.py
    ``linear_warmup_stable_decay`` (b5bcd76) with the ``Config.build`` step counts."""
    lr, warmup, total = 3e-4, 200, 1000
    decay = total - warmup
    stable = total + 1 - warmup - decay

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        if step < warmup + stable:
            return 1.0
        progress = (step + 1 - (warmup + stable)) / decay
        return 1 - progress  # linear, min_lr_factor = 0

    check("torchtitan-llama3-8b", lambda k: lr * factor(k), total + 1)
    # Past the run torchtitan's factor goes negative; lrkit holds 0.
    assert factor(total + 5) < 0
    assert check_holds("torchtitan-llama3-8b", total, total + 500) == 0.0


def test_minicpm_wsd() -> None:
    """OpenBMB bmtrain scheduler ``WarmupStableExp.get_lr`` (MiniCPM's WSD with exponential
    decay, arXiv:2404.06395 section 4): warmup ``t / warmup_iter``, stable, then
    ``drop_rate ** ((t - drop_begin) / drop_iter)``."""
    lr, warmup, drop_begin, half_life = 1e-2, 2000, 90_000, 2000

    def get_lr(num_iter: int) -> float:
        if num_iter < warmup:
            return lr * num_iter / warmup
        if num_iter > drop_begin:
            return lr * 0.5 ** ((num_iter - drop_begin) / half_life)
        return lr

    check("minicpm-wsd", get_lr, 130_000)
