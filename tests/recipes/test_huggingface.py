"""Hugging Face transformers (installed: the oracle is the library), torchtune and diffusers
(not installed: their formulas written out), and two of them driven through
``lrkit.torch.LRScheduler`` next to the recipe's own ``LambdaLR`` in a training loop."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest

from ._harness import check, check_holds, compare, recipe

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")


def _hf_factor(name: str, warmup: int, total: int) -> Callable[[int], float]:
    """The ``LambdaLR`` factor that transformers' ``get_scheduler`` builds."""
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = transformers.get_scheduler(name, opt, num_warmup_steps=warmup,
                                       num_training_steps=total)
    fn = sched.lr_lambdas[0]
    return lambda k: float(fn(k))


def test_alpaca() -> None:
    lr, total, warmup = 2e-5, 3 * 406, 37
    assert math.ceil(0.03 * total) == warmup  # the Trainer's get_warmup_steps
    factor = _hf_factor("cosine", warmup, total)
    check("alpaca", lambda k: lr * factor(k), total + 1)
    # Past num_training_steps HF's cosine rises again; lrkit holds 0.
    assert factor(total + 100) > 0
    assert check_holds("alpaca", total, total + 300) == 0.0


def test_hf_glue_mrpc() -> None:
    lr, total = 2e-5, 3 * 115
    assert math.ceil(3668 / 32) == 115
    factor = _hf_factor("linear", 0, total)
    check("hf-glue-mrpc", lambda k: lr * factor(k), total + 100)


def _torchtune_lambda(num_warmup_steps: int, num_training_steps: int,
                      num_cycles: float = 0.5) -> Callable[[int], float]:
    """pytorch/torchtune torchtune/training/lr_schedulers.py
    ``get_cosine_schedule_with_warmup.lr_lambda`` (bd2a0fc)."""

    def lr_lambda(current_step: int) -> float:
        if current_step < num_warmup_steps:
            return current_step / max(1, num_warmup_steps)
        progress = (current_step - num_warmup_steps) / max(
            1, num_training_steps - num_warmup_steps)
        return max(0.0, 0.5 * (1.0 + math.cos(math.pi * num_cycles * 2.0 * progress)))

    return lr_lambda


def test_torchtune_llama3_lora() -> None:
    lr, warmup, total = 3e-4, 100, 3235
    assert total == 51_760 // 2 // 8  # batches of 2, 8 accumulation steps, one epoch
    lam = _torchtune_lambda(warmup, total)
    check("torchtune-llama3-lora", lambda k: lr * lam(k), total + 1)
    assert lam(total + 200) > 0  # torchtune's cosine rises again; lrkit holds 0
    assert check_holds("torchtune-llama3-lora", total, total + 300) == 0.0


def test_diffusers_lora() -> None:
    """huggingface/diffusers src/diffusers/optimization.py ``get_cosine_schedule_with_warmup``
    (``num_cycles=0.5``), with the accelerate scaling of train_text_to_image_lora.py: the
    scheduler sees ``num_processes`` times the steps and is stepped that often."""
    lr, steps = 1e-4, 15_000

    def lr_lambda(current_step: int, num_warmup_steps: int, num_training_steps: int) -> float:
        if current_step < num_warmup_steps:
            return float(current_step) / float(max(1, num_warmup_steps))
        progress = float(current_step - num_warmup_steps) / float(
            max(1, num_training_steps - num_warmup_steps))
        return max(0.0, 0.5 * (1.0 + math.cos(math.pi * 0.5 * 2.0 * progress)))

    for num_processes in (1, 8):
        check("diffusers-lora",
              lambda k, n=num_processes: lr * lr_lambda(n * k, 0, n * steps), steps + 1)


def _drive(make: Callable[[torch.optim.Optimizer], object], steps: int, lr: float) -> np.ndarray:
    """The rate the optimizer holds at each of ``steps`` training steps (read, step the
    optimizer, step the scheduler)."""
    p = torch.nn.Parameter(torch.zeros(3))
    opt = torch.optim.AdamW([p], lr=lr)
    sched = make(opt)
    out = []
    for _ in range(steps):
        out.append(opt.param_groups[0]["lr"])
        p.grad = torch.ones_like(p)
        opt.step()
        sched.step()  # type: ignore[attr-defined]
    return np.asarray(out, dtype=np.float64)


@pytest.mark.parametrize("rid", ["alpaca", "torchtune-llama3-lora"])
def test_lrscheduler_against_the_recipes_lambdalr(rid: str) -> None:
    from lrkit.torch import LRScheduler

    lr, s = recipe(rid)
    if rid == "alpaca":
        def theirs(o: torch.optim.Optimizer) -> object:
            return transformers.get_cosine_schedule_with_warmup(o, 37, 1218)
        steps = 1218
    else:
        def theirs(o: torch.optim.Optimizer) -> object:
            return torch.optim.lr_scheduler.LambdaLR(o, _torchtune_lambda(100, 3235))
        steps = 3235
    want = _drive(theirs, steps, lr)
    got = _drive(lambda o: LRScheduler(o, s), steps, lr)
    compare(got, want, np.arange(steps), what=f"{rid} through LRScheduler")
