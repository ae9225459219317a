"""LARS / LARC (layer-wise adaptive rate scaling) with timm's ``Lars`` keywords, and the
large-batch learning-rate scaling rules that go with it.

Update rule for every parameter ``p`` with gradient ``g`` (timm's, after NVIDIA apex's LARC):

* when ``weight_decay != 0`` or ``always_adapt``::

      ratio = trust_coeff * |p| / (|g| + weight_decay * |p| + eps)   (1.0 if |p| == 0 or |g| == 0)
      ratio = min(ratio / lr, 1.0)                                     (LARC, only with trust_clip)
      g     = (g + weight_decay * p) * ratio

* then SGD with momentum: ``buf = g`` on the first step, else ``buf = momentum * buf +
  (1 - dampening) * g``; the direction is ``g + momentum * buf`` (nesterov) or ``buf``;
* ``p -= lr * direction``.

``lr`` may be a 0-dim tensor (updated in place by :class:`lrkit.torch.LRScheduler`), so a
``torch.compile``d step does not recompile when the rate changes.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Iterable
from typing import Any, Literal

import torch
from torch import Tensor
from torch.optim import Optimizer

__all__ = ["LARS", "scale_lr"]


def _check(name: str, value: Any, ok: bool, allowed: str) -> None:
    if not ok:
        raise ValueError(f"LARS: {name} must be {allowed}; got {value!r}")


def _is_real(x: object) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, bool)


def _is_integer(x: object) -> bool:
    return isinstance(x, numbers.Integral) and not isinstance(x, bool)


def _as_float(value: float | Tensor) -> float:
    return float(value.item()) if isinstance(value, Tensor) else float(value)


class LARS(Optimizer):
    """LARS (``trust_clip=False``) or LARC (``trust_clip=True``) on top of SGD with momentum.

    Same keywords, defaults and update rule as ``timm.optim.Lars``; see the module docstring
    for the formulas. ``foreach=None`` picks the multi-tensor path on CUDA and the per-tensor
    path elsewhere (and always with a tensor ``lr``), like timm.
    """

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict[str, Any]],
        lr: float | Tensor = 1.0,
        momentum: float = 0.0,
        dampening: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
        trust_coeff: float = 0.001,
        eps: float = 1e-8,
        trust_clip: bool = False,
        always_adapt: bool = False,
        foreach: bool | None = None,
    ) -> None:
        lr_value = _as_float(lr)
        _check("lr", lr, math.isfinite(lr_value) and lr_value >= 0.0, "a finite number >= 0")
        _check("momentum", momentum, math.isfinite(momentum) and momentum >= 0.0,
               "a finite number >= 0")
        _check("dampening", dampening, math.isfinite(dampening), "a finite number")
        _check("weight_decay", weight_decay, math.isfinite(weight_decay) and weight_decay >= 0.0,
               "a finite number >= 0")
        _check("trust_coeff", trust_coeff, math.isfinite(trust_coeff) and trust_coeff > 0.0,
               "a finite number > 0")
        _check("eps", eps, math.isfinite(eps) and eps >= 0.0, "a finite number >= 0")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError(
                "LARS: nesterov=True needs momentum > 0 and dampening == 0; "
                f"got momentum={momentum!r}, dampening={dampening!r}"
            )
        defaults = {
            "lr": lr,
            "momentum": momentum,
            "dampening": dampening,
            "weight_decay": weight_decay,
            "nesterov": nesterov,
            "trust_coeff": trust_coeff,
            "eps": eps,
            "trust_clip": trust_clip,
            "always_adapt": always_adapt,
            "foreach": foreach,
        }
        super().__init__(params, defaults)

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        for group in self.param_groups:
            group.setdefault("nesterov", False)
            group.setdefault("foreach", None)

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:  # type: ignore[override]
        """One LARS/LARC update of every parameter that has a gradient."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            params: list[Tensor] = []
            grads: list[Tensor] = []
            bufs: list[Tensor | None] = []
            for p in group["params"]:
                if p.grad is None:
                    continue
                params.append(p)
                grads.append(p.grad)
                if group["momentum"] != 0:
                    bufs.append(self.state[p].get("momentum_buffer"))
            if not params:
                continue
            use_foreach = _use_foreach(group["foreach"], group["lr"], params)
            update = _multi_tensor_lars if use_foreach else _single_tensor_lars
            update(params, grads, bufs, group)
            if group["momentum"] != 0:
                for p, buf in zip(params, bufs, strict=True):
                    self.state[p]["momentum_buffer"] = buf
        return loss


def _use_foreach(foreach: bool | None, lr: float | Tensor, params: list[Tensor]) -> bool:
    if foreach is not None:
        return foreach
    if isinstance(lr, Tensor):
        return False
    return all(p.is_cuda for p in params)


def _trust_ratio(
    w_norm: Tensor, g_norm: Tensor, group: dict[str, Any]
) -> Tensor:
    """trust_coeff * |w| / (|g| + wd * |w| + eps), 1 where a norm is 0; LARC: min(ratio/lr, 1)."""
    ratio = group["trust_coeff"] * w_norm / (g_norm + w_norm * group["weight_decay"] + group["eps"])
    ratio = torch.where(w_norm > 0, torch.where(g_norm > 0, ratio, 1.0), 1.0)
    if group["trust_clip"]:
        ratio = torch.clamp(ratio / group["lr"], max=1.0)
    return ratio


def _adapts(group: dict[str, Any]) -> bool:
    return bool(group["weight_decay"] != 0 or group["always_adapt"])


def _single_tensor_lars(
    params: list[Tensor], grads: list[Tensor], bufs: list[Tensor | None], group: dict[str, Any]
) -> None:
    lr = group["lr"]
    momentum = group["momentum"]
    for i, p in enumerate(params):
        grad = grads[i]
        if _adapts(group):
            ratio = _trust_ratio(p.norm(2.0), grad.norm(2.0), group)
            grad = grad.add(p, alpha=group["weight_decay"]).mul_(ratio)
        if momentum != 0:
            buf = bufs[i]
            if buf is None:
                buf = torch.clone(grad).detach()
                bufs[i] = buf
            else:
                buf.mul_(momentum).add_(grad, alpha=1.0 - group["dampening"])
            grad = grad.add(buf, alpha=momentum) if group["nesterov"] else buf
        if isinstance(lr, Tensor):
            p.sub_(grad * lr)
        else:
            p.add_(grad, alpha=-lr)


def _multi_tensor_lars(
    params: list[Tensor], grads: list[Tensor], bufs: list[Tensor | None], group: dict[str, Any]
) -> None:
    lr = group["lr"]
    momentum = group["momentum"]
    if _adapts(group):
        w_norms = torch._foreach_norm(params)
        g_norms = torch._foreach_norm(grads)
        ratios = [_trust_ratio(w, g, group) for w, g in zip(w_norms, g_norms, strict=True)]
        grads = list(torch._foreach_add(grads, params, alpha=group["weight_decay"]))
        torch._foreach_mul_(grads, ratios)
    if momentum != 0:
        old = [b for b in bufs if b is not None]
        existing = [i for i, b in enumerate(bufs) if b is not None]
        if existing:
            torch._foreach_mul_(old, momentum)
            torch._foreach_add_(old, [grads[i] for i in existing], alpha=1.0 - group["dampening"])
        for i, b in enumerate(bufs):
            if b is None:
                bufs[i] = torch.clone(grads[i]).detach()
        full = [b for b in bufs if b is not None]
        grads = list(torch._foreach_add(grads, full, alpha=momentum)) if group["nesterov"] else full
    if isinstance(lr, Tensor):
        torch._foreach_add_(params, torch._foreach_mul(grads, -lr))
    else:
        torch._foreach_add_(params, grads, alpha=-lr)


def scale_lr(
    base_lr: float,
    batch_size: int,
    base_batch_size: int = 256,
    rule: Literal["linear", "sqrt"] = "linear",
) -> float:
    """The learning rate for ``batch_size``, given one tuned at ``base_batch_size``.

    ``linear`` (Goyal et al. 2017): ``base_lr * batch_size / base_batch_size``.
    ``sqrt`` (Krizhevsky 2014; Hoffer et al. 2017):
    ``base_lr * sqrt(batch_size / base_batch_size)``.
    Pair it with a warmup (``lk.warmup``) and, for very large batches, ``LARS``.
    """
    if not _is_real(base_lr) or not (math.isfinite(base_lr) and base_lr >= 0):
        raise ValueError(f"scale_lr: base_lr must be a finite number >= 0; got {base_lr!r}")
    for name, value in (("batch_size", batch_size), ("base_batch_size", base_batch_size)):
        if not _is_integer(value) or value < 1:
            raise ValueError(f"scale_lr: {name} must be an integer >= 1; got {value!r}")
    ratio = batch_size / base_batch_size
    if rule == "linear":
        return float(base_lr) * ratio
    if rule == "sqrt":
        return float(base_lr) * math.sqrt(ratio)
    raise ValueError(f"scale_lr: rule must be 'linear' or 'sqrt'; got {rule!r}")
