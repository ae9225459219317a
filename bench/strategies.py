"""The learning-rate strategies of the quality benchmark, as injectable scheduler factories.

A strategy turns ``(optimizer, total_steps)`` into a scheduler-like object with ``.step()``
(called once after every optimizer step). The optimizer has already been built with
``base_lr(peak)`` as its rate. Every strategy is written once with lrkit (``backend="lrkit"``,
driven by ``lrkit.torch.LRScheduler`` in relative mode) and once with what a PyTorch user writes
without lrkit (``backend="torch"``: torch's own schedulers, Hugging Face's WSD); the seed's recipe
always goes through the original ``warmup_scheduler`` package, as the seed wrote it.

Shared shape parameters, for ``T`` total steps: warmup ``W = round(0.1 T)`` steps from 0,
step decay x0.1 every ``ceil(T/3)`` steps, exponential down to 1% at ``T``, polynomial of power 2,
WSD with a 20% ``1-sqrt`` decay, torch's one-cycle defaults (30% up from peak/25, down to
peak/25e4). Both backends give the same rates up to rounding (step, WSD and warmup + cosine gave
identical validation losses on digits), except one-cycle: torch's ``OneCycleLR`` also cycles
SGD's momentum (``cycle_momentum=True``); lrkit's sets the rate only.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import torch


class Stepper(Protocol):
    def step(self) -> Any: ...


Factory = Callable[[torch.optim.Optimizer, int], Stepper]


def warmup_steps(total: int) -> int:
    return max(1, round(0.1 * total))


def _shapes(total: int) -> dict[str, Any]:
    w = warmup_steps(total)
    decay = max(1, round(0.2 * total))
    return {
        "W": w,
        "step_size": math.ceil(total / 3),
        "gamma": 0.01 ** (1.0 / total),
        "decay": decay,
        "stable": total - w - decay,
    }


def lrkit_schedule(name: str, total: int) -> Any:
    """The unitless lrkit schedule (peak 1.0) of strategy ``name`` over ``total`` steps."""
    import lrkit as lk

    p = _shapes(total)
    w = p["W"]
    if name == "constant":
        return lk.constant()
    if name == "step":
        return lk.step_decay(step_size=p["step_size"], gamma=0.1)
    if name == "exponential":
        return lk.exponential(gamma=p["gamma"])
    if name == "polynomial":
        return lk.polynomial(steps=total, power=2.0)
    if name in ("cosine", "no_warmup"):
        return lk.cosine(steps=total)
    if name in ("warmup_cosine", "lrkit_recipe", "with_warmup"):
        return lk.warmup(lk.cosine(steps=total - w), steps=w)
    if name == "wsd":
        return lk.wsd(warmup=w, stable=p["stable"], decay=p["decay"], decay_shape="1-sqrt")
    if name == "one_cycle":
        return lk.one_cycle(steps=total)
    raise ValueError(f"no lrkit schedule for strategy {name!r}")


def _torch_native(name: str, opt: torch.optim.Optimizer, total: int) -> Stepper:
    """What a PyTorch user writes without lrkit (torch's schedulers, Hugging Face's WSD)."""
    sch = torch.optim.lr_scheduler
    p = _shapes(total)
    w = p["W"]
    if name == "constant":
        return sch.LambdaLR(opt, lambda t: 1.0)
    if name == "step":
        return sch.StepLR(opt, step_size=p["step_size"], gamma=0.1)
    if name == "exponential":
        return sch.ExponentialLR(opt, gamma=p["gamma"])
    if name == "polynomial":
        return sch.PolynomialLR(opt, total_iters=total, power=2.0)
    if name in ("cosine", "no_warmup"):
        return sch.CosineAnnealingLR(opt, T_max=total)
    if name in ("warmup_cosine", "lrkit_recipe", "with_warmup"):
        ramp = sch.LinearLR(opt, start_factor=1e-8, end_factor=1.0, total_iters=w)
        decay = sch.CosineAnnealingLR(opt, T_max=total - w)
        return sch.SequentialLR(opt, [ramp, decay], milestones=[w])
    if name == "wsd":
        from transformers import get_wsd_schedule

        return get_wsd_schedule(  # type: ignore[no-any-return]
            opt,
            num_warmup_steps=w,
            num_stable_steps=p["stable"],
            num_decay_steps=p["decay"],
            decay_type="1-sqrt",
        )
    if name == "one_cycle":
        peak = opt.param_groups[0]["lr"]
        return sch.OneCycleLR(opt, max_lr=float(peak), total_steps=total)
    raise ValueError(f"no torch scheduler for strategy {name!r}")


def _seed_recipe(opt: torch.optim.Optimizer, total: int) -> Stepper:
    """The seed's code: warmup_scheduler.GradualWarmupScheduler(multiplier=10, total_epoch=W,
    after_scheduler=CosineAnnealingLR(T_max=T-W)); the optimizer starts at peak/10."""
    from warmup_scheduler import GradualWarmupScheduler

    w = warmup_steps(total)
    after = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total - w)
    return GradualWarmupScheduler(opt, multiplier=10, total_epoch=w, after_scheduler=after)


@dataclass(frozen=True)
class Strategy:
    name: str
    label: str
    range_test: bool = False  # the peak comes from lrkit.torch.find_lr
    peak_divisor: float = 1.0  # the optimizer is built with peak / peak_divisor
    high_peak: bool = False  # the warmup experiment's too-high peak

    def base_lr(self, peak: float) -> float:
        return peak / self.peak_divisor

    def factory(self, backend: str) -> Factory:
        if self.name == "seed_recipe":
            return _seed_recipe
        if backend == "torch":
            return lambda opt, total: _torch_native(self.name, opt, total)
        if backend == "lrkit":
            from lrkit.torch import LRScheduler

            return lambda opt, total: LRScheduler(opt, lrkit_schedule(self.name, total))
        raise ValueError(f"backend must be 'lrkit' or 'torch'; got {backend!r}")


STRATEGIES: tuple[Strategy, ...] = (
    Strategy("constant", "constant"),
    Strategy("step", "step decay (x0.1 every T/3)"),
    Strategy("exponential", "exponential (to 1% at T)"),
    Strategy("polynomial", "polynomial (power 2)"),
    Strategy("cosine", "cosine"),
    Strategy("warmup_cosine", "warmup 10% + cosine"),
    Strategy("wsd", "WSD (10% warmup, 20% 1-sqrt decay)"),
    Strategy("one_cycle", "one-cycle"),
    Strategy("seed_recipe", "seed recipe: GradualWarmupScheduler x10 + cosine", peak_divisor=10.0),
    Strategy("lrkit_recipe", "lrkit recipe: find_lr peak, warmup + cosine", range_test=True),
)

# the seed's central claim: a high peak needs warmup
WARMUP_EXPERIMENT: tuple[Strategy, ...] = (
    Strategy("no_warmup", "high peak, cosine, no warmup", high_peak=True),
    Strategy("with_warmup", "high peak, warmup 10% + cosine", high_peak=True),
)
