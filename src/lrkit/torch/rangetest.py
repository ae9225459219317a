"""The LR range test (Smith 2017, "Cyclical Learning Rates", section 3.3; fastai's ``lr_find``).

Train for ``steps`` optimizer steps while the rate grows geometrically,
``lr_i = start * (end / start) ** (i / (steps - 1))``, record the loss of every batch, stop early
when the loss diverges, then put the model, the optimizer and every RNG back as they were.

The suggestion (see ``suggest_lr``): smooth the raw losses with a centred moving average (no lag),
find the last rate whose smoothed loss is still within noise of the minimum, take the rate one
step before it and divide by 6.
"""

from __future__ import annotations

import copy
import math
import random
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from lrkit._validate import WrongTypeError

__all__ = [
    "EDGE_DIVISOR",
    "RangeTestResult",
    "centred_average",
    "divergence_check_start",
    "find_lr",
    "suggest_lr",
]


@dataclass(frozen=True)
class RangeTestResult:
    """What ``find_lr`` measured.

    ``lrs[i]`` is the largest rate used by optimizer step ``i`` (every param group keeps its ratio
    to the largest group rate); ``raw_losses[i]`` is the loss of the batch that step trained on
    (computed before the step); ``losses[i]`` is their bias-corrected exponential moving average
    (``smooth``). ``stop_reason`` is ``"completed"``, ``"diverged"`` (smoothed loss above
    ``diverge`` times the best) or ``"non-finite loss"``.
    """

    lrs: tuple[float, ...]
    losses: tuple[float, ...]
    raw_losses: tuple[float, ...]
    suggestion: float
    stop_reason: str

    @property
    def min_loss_lr(self) -> float:
        """The rate at the lowest smoothed loss (usually too high to train with: divide by ~10)."""
        return self.lrs[min(range(len(self.losses)), key=self.losses.__getitem__)]

    def plot(self, path: str | None = None, *, ax: Any = None) -> Any:
        """Loss against rate (log x), the suggestion marked. Saves to ``path`` (PNG, SVG, PDF
        by its extension) when given; returns the matplotlib Figure."""
        from lrkit.plot import plot_range_test

        return plot_range_test(self, path, ax=ax)


EDGE_DIVISOR = 6.0
"""``suggest_lr`` returns the edge of the loss minimum divided by this (see its docstring)."""


def suggest_lr(lrs: Sequence[float], raw_losses: Sequence[float]) -> float:
    """The suggested rate: a sixth of the largest rate whose loss is still at its minimum.

    1. ``m_j`` = centred moving average of the raw losses, window ``w = 2h + 1`` with
       ``h = max(1, n // 20)`` (no lag, unlike an exponential average, which would place the
       minimum several steps late, at a rate already past the divergence point).
    2. ``k`` = argmin of ``m``; ``sigma`` = the noise of ``m``, estimated from the median absolute
       deviation of successive raw-loss differences up to ``k``, divided by ``sqrt(w)``.
    3. ``j`` = the last index after ``k`` with every ``m`` in ``k..j`` below ``m_k + 2 sigma``
       (on a flat, noisy curve this walks to where the loss really starts to rise).
    4. The edge is ``lrs[j + h - 1]``, one step back, since ``raw_losses[i]`` is measured before
       step ``i`` trains and so shows the effect of the rates up to ``lrs[i - 1]``.
       suggestion = edge / ``EDGE_DIVISOR`` (6).

    Why 6: on least squares, where SGD diverges above ``2/L``, the edge lies between ``0.4`` and
    ``4.8`` times ``2/L`` (a direction that has already converged takes several steps of growth
    before its divergence shows in the loss; most with full batches). 6 is the smallest divisor
    that kept all 400 random problems of ``python -m bench.rangetest`` below ``0.8 * 2/L``; the
    median is ``0.19 * 2/L``, and with sweeps of 50 steps or more none fell below ``0.078 * 2/L``
    (30 steps with batches of 8 can hide the minimum in noise). Smith's "a tenth" applied to this
    edge lands at a median ``0.11 * 2/L``.
    """
    n = len(raw_losses)
    if n != len(lrs) or n == 0:
        raise ValueError(
            f"lrs and raw_losses must be non-empty and of equal length; got {len(lrs)} and {n}"
        )
    h, smoothed = centred_average(raw_losses)
    w = 2 * h + 1
    if not smoothed:
        k = min(range(n), key=raw_losses.__getitem__)
        return float(lrs[k]) / EDGE_DIVISOR
    k = min(range(len(smoothed)), key=smoothed.__getitem__)
    diffs = [raw_losses[i + 1] - raw_losses[i] for i in range(min(k + h, n - 1))]
    sigma = 0.0
    if diffs:
        med = _median(diffs)
        sigma = 1.4826 * _median([abs(d - med) for d in diffs]) / math.sqrt(2.0) / math.sqrt(w)
    limit = smoothed[k] + 2.0 * sigma
    j = k
    while j + 1 < len(smoothed) and smoothed[j + 1] <= limit:
        j += 1
    return float(lrs[max(j + h - 1, 0)]) / EDGE_DIVISOR


def centred_average(raw_losses: Sequence[float]) -> tuple[int, list[float]]:
    """``(h, m)``: the centred moving average of window ``2h + 1``, ``h = max(1, n // 20)``;
    ``m[j]`` is centred on index ``j + h`` (empty when there are fewer than ``2h + 1`` losses)."""
    n = len(raw_losses)
    h = max(1, n // 20)
    w = 2 * h + 1
    if n < w:
        return h, []
    return h, [math.fsum(raw_losses[j : j + w]) / w for j in range(n - w + 1)]


def _median(values: Sequence[float]) -> float:
    s = sorted(values)
    mid = len(s) // 2
    return s[mid] if len(s) % 2 else 0.5 * (s[mid - 1] + s[mid])


def divergence_check_start(steps: int) -> int:
    """The first step index whose smoothed loss counts for the early stop: ``max(10, steps // 10)``.

    Before it the smoothed loss averages only a few batches, and with small batches one lucky or
    unlucky batch is many times another (batches of 8 from least squares: 1.9 then 22.6), which
    would end the sweep at its first rates."""
    return max(10, steps // 10)


def _check_args(start: Any, end: Any, steps: Any, smooth: Any, diverge: Any) -> None:
    def real(x: Any) -> bool:
        return isinstance(x, int | float) and not isinstance(x, bool)

    if not real(start) or not (0.0 < start < math.inf):
        raise ValueError(f"find_lr: start must be a finite number > 0; got {start!r}")
    if not real(end) or not (start < end < math.inf):
        raise ValueError(f"find_lr: end must be a finite number > start ({start!r}); got {end!r}")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 2:
        raise ValueError(f"find_lr: steps must be an integer >= 2; got {steps!r}")
    if not real(smooth) or not (0.0 <= smooth < 1.0):
        raise ValueError(f"find_lr: smooth must be a number in [0, 1); got {smooth!r}")
    if not real(diverge) or not diverge > 1.0:
        raise ValueError(
            f"find_lr: diverge must be a number > 1 (math.inf: never stop); got {diverge!r}"
        )


def _cycle(loader: Iterable[Any]) -> Iterator[Any]:
    """Batches of ``loader`` forever, re-iterating it whenever it is exhausted."""
    total = 0
    while True:
        count = 0
        for batch in loader:
            count += 1
            yield batch
        if count == 0:
            if total:
                raise ValueError(
                    f"find_lr: the loader gave {total} batches, then nothing when iterated again "
                    "(a generator or iterator?); pass a re-iterable loader (a DataLoader, a "
                    "list) or lower steps"
                )
            raise ValueError("find_lr: loader yielded no batches")
        total += count


def _to(x: Any, device: Any) -> Any:
    if device is None:
        return x
    if isinstance(x, torch.Tensor):
        return x.to(device)
    if isinstance(x, tuple | list):
        return type(x)(_to(v, device) for v in x)
    if isinstance(x, dict):
        return {k: _to(v, device) for k, v in x.items()}
    return x


def _get_lr(group: dict[str, Any]) -> float:
    lr = group["lr"]
    return float(lr.item()) if isinstance(lr, torch.Tensor) else float(lr)


def _set_lr(group: dict[str, Any], value: float) -> None:
    lr = group["lr"]
    if isinstance(lr, torch.Tensor):
        lr.fill_(value)  # in place: a compiled optimizer step keeps its graph
    else:
        group["lr"] = value


class _Snapshot:
    """Everything ``find_lr`` changes: model (parameters, buffers, grads, train/eval modes),
    optimizer (state and param groups) and the python, numpy and torch RNGs."""

    def __init__(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> None:
        self.model_state = copy.deepcopy(model.state_dict())
        self.grads = [
            None if p.grad is None else p.grad.detach().clone() for p in model.parameters()
        ]
        self.modes = [m.training for m in model.modules()]
        self.optimizer_state = copy.deepcopy(optimizer.state_dict())
        self.lr_objects = [g["lr"] for g in optimizer.param_groups]
        self.lr_values = [_get_lr(g) for g in optimizer.param_groups]
        self.python_rng = random.getstate()
        np = sys.modules.get("numpy")
        self.numpy_rng = np.random.get_state() if np is not None else None
        self.torch_rng = torch.get_rng_state()
        cuda = torch.cuda.is_available() and torch.cuda.is_initialized()  # type: ignore[no-untyped-call]
        self.cuda_rng = torch.cuda.get_rng_state_all() if cuda else None

    def restore(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> None:
        model.load_state_dict(self.model_state)
        with torch.no_grad():
            for p, g in zip(model.parameters(), self.grads, strict=True):
                if g is None:
                    p.grad = None
                elif p.grad is None:
                    p.grad = g.clone()
                else:
                    p.grad.copy_(g)
        for m, training in zip(model.modules(), self.modes, strict=True):
            m.training = training
        optimizer.load_state_dict(self.optimizer_state)
        for group, obj, value in zip(
            optimizer.param_groups, self.lr_objects, self.lr_values, strict=True
        ):
            if isinstance(obj, torch.Tensor):  # the same tensor object, its value restored
                obj.fill_(value)
                group["lr"] = obj
        random.setstate(self.python_rng)
        np = sys.modules.get("numpy")
        if np is not None and self.numpy_rng is not None:
            np.random.set_state(self.numpy_rng)
        torch.set_rng_state(self.torch_rng)
        if self.cuda_rng is not None:
            torch.cuda.set_rng_state_all(self.cuda_rng)


def _progress_bar(total: int, enabled: bool) -> Any:
    if not enabled or not sys.stderr.isatty():
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:  # the bar is cosmetic: no tqdm, no bar
        return None
    return tqdm(total=total, desc="find_lr", unit="step", leave=False)


def find_lr(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    loss_fn: Callable[[Any, Any], torch.Tensor],
    loader: Iterable[Any],
    start: float = 1e-7,
    end: float = 10.0,
    steps: int = 100,
    *,
    smooth: float = 0.98,
    diverge: float = 4.0,
    progress: bool = True,
    device: Any = None,
) -> RangeTestResult:
    """LR range test: ``steps`` optimizer steps at ``lr_i = start * (end/start) ** (i/(steps-1))``.

    Each batch of ``loader`` is ``(inputs, targets)``; the loss is ``loss_fn(model(inputs),
    targets)`` (moved to ``device`` first when given). The loader is re-iterated whenever it runs
    out. Every param group gets ``lr_i`` times its initial ratio to the largest group rate (one
    group: exactly ``lr_i``; if every group starts at 0, all get ``lr_i``). The model is put in
    train mode for the sweep.

    The smoothed loss is ``avg_i / (1 - smooth ** (i + 1))`` with
    ``avg_i = smooth * avg_{i-1} + (1 - smooth) * loss_i`` (bias-corrected EMA). The sweep stops
    after a step whose smoothed loss exceeds ``diverge`` times the best smoothed loss since step
    ``max(10, steps // 10)`` (``divergence_check_start``: before it the average holds too few
    batches to be trusted, and no early stop happens), or at a
    non-finite loss (not recorded). Afterwards the model's parameters, buffers, gradients and
    train/eval modes, the optimizer's state and param groups, and the python, numpy and torch
    (CPU and initialised CUDA) RNG states are exactly what they were, also when the sweep raises.
    A tqdm bar is shown when ``progress`` and stderr is a terminal.
    """
    _check_args(start, end, steps, smooth, diverge)
    groups = optimizer.param_groups
    initial = [_get_lr(g) for g in groups]
    top = max(initial)
    ratios = [lr / top for lr in initial] if top > 0 else [1.0] * len(groups)

    lrs: list[float] = []
    losses: list[float] = []
    raw: list[float] = []
    reason = "completed"
    snapshot = _Snapshot(model, optimizer)
    bar = _progress_bar(steps, progress)
    try:
        model.train()
        batches = _cycle(loader)
        avg = 0.0
        best = math.inf
        settle = divergence_check_start(steps)
        for i in range(steps):
            lr = start * (end / start) ** (i / (steps - 1))
            for group, ratio in zip(groups, ratios, strict=True):
                _set_lr(group, lr * ratio)
            batch = next(batches)
            if not isinstance(batch, tuple | list) or len(batch) != 2:
                raise WrongTypeError(
                    "find_lr: each batch of loader must be a pair (inputs, targets); got "
                    f"{type(batch).__name__}"
                    + (f" of length {len(batch)}" if isinstance(batch, tuple | list) else "")
                )
            inputs, targets = _to(batch[0], device), _to(batch[1], device)
            optimizer.zero_grad()
            loss = loss_fn(model(inputs), targets)
            value = float(loss.item())
            if not math.isfinite(value):
                reason = "non-finite loss"
                break
            loss.backward()  # type: ignore[no-untyped-call]
            optimizer.step()
            avg = smooth * avg + (1.0 - smooth) * value
            smoothed = avg / (1.0 - smooth ** (i + 1))
            lrs.append(lr)
            raw.append(value)
            losses.append(smoothed)
            if bar is not None:
                bar.update(1)
                bar.set_postfix(lr=f"{lr:.2e}", loss=f"{smoothed:.4g}")
            if i >= settle:
                best = min(best, smoothed)
            if smoothed > diverge * best:
                reason = "diverged"
                break
    finally:
        if bar is not None:
            bar.close()
        snapshot.restore(model, optimizer)
    if not lrs:
        raise ValueError(
            f"find_lr: the very first loss was not finite (at lr={start!r}); check the model "
            "and loss_fn, or lower start"
        )
    return RangeTestResult(
        lrs=tuple(lrs),
        losses=tuple(losses),
        raw_losses=tuple(raw),
        suggestion=suggest_lr(lrs, raw),
        stop_reason=reason,
    )
