"""A panel task's grid of peaks trained as one batched ensemble (``torch.func``).

Every grid peak starts from the same initial weights and sees the same batches, so the 17 runs
of a grid differ only in their rates: ``torch.func.stack_module_state`` stacks 17 copies of the
model, ``torch.func.vmap`` runs one forward and backward pass for all of them, and the update
rule of the task's optimizer (``bench.paneltasks.OptSpec``: torch's SGD with momentum, Nesterov
and weight decay, Adam, AdamW, written out below with a rate per member) updates each member at
its own rate. The Python overhead of a small model is paid once per step instead of 17 times.

``train_grid(task, seed, peaks)`` returns what ``bench.lrpanel.train(task, seed, peak)`` returns
for each peak (the final validation loss, ``inf`` for a run whose training loss became
non-finite); ``tests/test_bench_ensemble.py`` checks that the two agree. Dropout draws its masks
per member (``randomness="different"``), so a task with dropout agrees only in distribution.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from typing import Any

import torch
from torch.func import functional_call, grad_and_value, stack_module_state, vmap

from bench.paneltasks import OptSpec, PanelTask

WARMUP_FRACTION = 0.05


def warmup_cosine(steps: int) -> list[float]:
    """The panel's shape: linear warmup over 5% of ``steps``, then cosine to 0 (lrkit's own)."""
    import lrkit as lk

    w = max(1, round(WARMUP_FRACTION * steps))
    s = lk.warmup(lk.cosine(steps - w), w)
    return [float(s(t)) for t in range(steps)]


class StackedOptimizer:
    """``OptSpec``'s update rule on stacked parameters (member ``i`` along dim 0), with the rate
    ``lr[i]`` for member ``i``; the same arithmetic as torch's single-tensor implementations."""

    def __init__(self, spec: OptSpec, params: dict[str, torch.Tensor]) -> None:
        self.spec = spec
        self.params = params
        self.state: dict[str, dict[str, torch.Tensor]] = {}
        self.t = 0

    @torch.no_grad()
    def step(self, grads: dict[str, torch.Tensor], lr: torch.Tensor) -> None:
        self.t += 1
        spec = self.spec
        for name, p in self.params.items():
            g = grads[name]
            rate = lr.reshape((-1,) + (1,) * (p.dim() - 1))
            st = self.state.setdefault(name, {})
            if spec.kind == "sgd":
                if spec.weight_decay:
                    g = g.add(p, alpha=spec.weight_decay)
                if spec.momentum:
                    if "buf" not in st:
                        st["buf"] = g.clone()
                    else:
                        st["buf"].mul_(spec.momentum).add_(g)
                    g = g.add(st["buf"], alpha=spec.momentum) if spec.nesterov else st["buf"]
                p.sub_(rate * g)
                continue
            if spec.kind == "adamw" and spec.weight_decay:
                p.mul_(1.0 - rate * spec.weight_decay)
            elif spec.weight_decay:
                g = g.add(p, alpha=spec.weight_decay)
            b1, b2, eps = 0.9, 0.999, 1e-8
            if "m" not in st:
                st["m"] = torch.zeros_like(p)
                st["v"] = torch.zeros_like(p)
            st["m"].lerp_(g, 1.0 - b1)
            st["v"].mul_(b2).addcmul_(g, g, value=1.0 - b2)
            bc1 = 1.0 - b1**self.t
            bc2 = 1.0 - b2**self.t
            denom = (st["v"].sqrt() / math.sqrt(bc2)).add_(eps)
            p.sub_((rate / bc1) * st["m"] / denom)


def train_grid(task: PanelTask, seed: int, peaks: Sequence[float],
               steps: int | None = None) -> list[float]:
    """Final validation loss of ``task`` at each peak after ``steps`` (default the task's
    budget) of warmup 5% + cosine, all peaks in one vmapped ensemble."""
    steps = task.steps if steps is None else steps
    base = task.model(seed)
    members = [copy.deepcopy(base) for _ in peaks]
    params, buffers = stack_module_state(members)  # type: ignore[arg-type]
    params = {k: v.detach().clone() for k, v in params.items()}
    buffers = {k: v.detach().clone() for k, v in buffers.items()}
    skeleton = copy.deepcopy(base).to("meta")
    skeleton.train()

    def loss_one(p: dict[str, torch.Tensor], b: dict[str, torch.Tensor], x: torch.Tensor,
                 y: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        out = functional_call(skeleton, (p, b), (x,))
        return task.loss_fn(out, y), b

    step_fn = vmap(grad_and_value(loss_one, has_aux=True), in_dims=(0, 0, None, None),
                   randomness="different")
    opt = StackedOptimizer(task.optimizer, params)
    shape = warmup_cosine(steps)
    peak_t = torch.tensor(list(peaks), dtype=torch.float32)
    alive = torch.ones(len(peaks), dtype=torch.bool)
    loader = task.loader(seed)
    batches = iter(loader)
    for step in range(steps):
        try:
            x, y = next(batches)
        except StopIteration:
            batches = iter(loader)
            x, y = next(batches)
        grads, (losses, new_buffers) = step_fn(params, buffers, x, y)
        alive &= torch.isfinite(losses.detach())
        with torch.no_grad():
            for k, v in new_buffers.items():
                buffers[k].copy_(v)
        # a dead member keeps training on garbage (its result is inf); zero its rate so that it
        # does not overflow into warnings
        lr = torch.where(alive, peak_t * shape[step], torch.zeros_like(peak_t))
        grads = {k: torch.nan_to_num(g) for k, g in grads.items()}
        opt.step(grads, lr)
    return _evaluate(task, skeleton, params, buffers, alive)


def _evaluate(task: PanelTask, skeleton: torch.nn.Module, params: dict[str, torch.Tensor],
              buffers: dict[str, torch.Tensor], alive: torch.Tensor) -> list[float]:
    xva, yva = task.validation
    skeleton.eval()

    def val_one(p: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> torch.Tensor:
        return task.loss_fn(functional_call(skeleton, (p, b), (xva,)), yva)

    with torch.no_grad():
        losses = vmap(val_one, in_dims=(0, 0))(params, buffers)
    skeleton.train()
    out: list[float] = []
    for ok, v in zip(alive.tolist(), losses.tolist(), strict=True):
        out.append(float(v) if ok and math.isfinite(v) else math.inf)
    return out


def supported(task: PanelTask) -> Any:
    """``None`` if ``train_grid`` runs on ``task`` (two steps tried), else the exception."""
    try:
        train_grid(task, 0, [1e-3, 1e-2], steps=2)
    except Exception as exc:
        return exc
    return None
