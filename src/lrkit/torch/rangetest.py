"""The LR range test for PyTorch: ``find_lr``, a thin runner of ``lrkit.rangetest``.

The sweep, the trials, the stop rule and the suggestion are framework-free (``lrkit.rangetest``,
shared with ``lrkit.optax.find_lr`` and ``lrkit.keras.find_lr``); this module trains a torch
model and optimizer through them and puts everything back afterwards.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import torch

from lrkit._validate import WrongTypeError
from lrkit.informed import make_plan
from lrkit.rangetest import (
    TRIAL_STEPS,
    TRIALS,
    Batches,
    GlobalRNGs,
    RangeTestResult,
    centred_average,
    check_arguments,
    divergence_check_start,
    run,
    suggest_lr,
)

__all__ = [
    "RangeTestResult",
    "centred_average",
    "divergence_check_start",
    "find_lr",
    "suggest_lr",
]


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


def loader_generators(loader: Any) -> list[torch.Generator]:
    """The ``torch.Generator`` objects that shuffle ``loader``: its own ``generator`` and those
    of its sampler and batch sampler, two levels deep (a ``BatchSampler`` over a
    ``RandomSampler``)."""
    found: list[torch.Generator] = []
    todo, seen = [(loader, 0)], set()
    while todo:
        obj, depth = todo.pop()
        if id(obj) in seen or obj is None:
            continue
        seen.add(id(obj))
        if isinstance(obj, torch.Generator):
            found.append(obj)
            continue
        if depth > 2:
            continue
        for name in ("generator", "sampler", "batch_sampler"):
            child = getattr(obj, name, None)
            if child is not None:
                todo.append((child, depth + 1))
    return found


class _Snapshot:
    """Everything ``find_lr`` changes: model (parameters, buffers, grads, train/eval modes),
    optimizer (state and param groups), the python, numpy and torch RNGs and the generators
    that shuffle the loader."""

    def __init__(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                 generators: list[torch.Generator]) -> None:
        self.model_state = copy.deepcopy(model.state_dict())
        self.grads = [
            None if p.grad is None else p.grad.detach().clone() for p in model.parameters()
        ]
        self.modes = [m.training for m in model.modules()]
        self.optimizer_state = copy.deepcopy(optimizer.state_dict())
        self.lr_objects = [g["lr"] for g in optimizer.param_groups]
        self.lr_values = [_get_lr(g) for g in optimizer.param_groups]
        self.rngs = GlobalRNGs()
        self.torch_rng = torch.get_rng_state()
        cuda = torch.cuda.is_available() and torch.cuda.is_initialized()  # type: ignore[no-untyped-call]
        self.cuda_rng = torch.cuda.get_rng_state_all() if cuda else None
        self.generators = [(g, g.get_state()) for g in generators]

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
        # a copy: load_state_dict keeps the tensors it is given, and the next phase updates
        # them in place
        optimizer.load_state_dict(copy.deepcopy(self.optimizer_state))
        for group, obj, value in zip(
            optimizer.param_groups, self.lr_objects, self.lr_values, strict=True
        ):
            if isinstance(obj, torch.Tensor):  # the same tensor object, its value restored
                obj.fill_(value)
                group["lr"] = obj
        self.rngs.restore()
        torch.set_rng_state(self.torch_rng)
        if self.cuda_rng is not None:
            torch.cuda.set_rng_state_all(self.cuda_rng)
        for generator, state in self.generators:
            generator.set_state(state)


class _TorchSession:
    """``lrkit.rangetest.Session`` for a torch model, optimizer and loader."""

    def __init__(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                 loss_fn: Callable[[Any, Any], torch.Tensor], batches: Batches,
                 snapshot: _Snapshot, device: Any) -> None:
        self.model = model
        self.optimizer = optimizer
        self.loss_fn = loss_fn
        self.batches = batches
        self.snapshot = snapshot
        self.device = device
        self.val_loader: Iterable[Any] | None = None
        initial = [_get_lr(g) for g in optimizer.param_groups]
        top = max(initial)
        self.ratios = [lr / top for lr in initial] if top > 0 else [1.0] * len(initial)

    def restart(self) -> None:
        self.snapshot.restore(self.model, self.optimizer)
        self.model.train()
        self.batches.restart()

    def step(self, lr: float) -> float:
        for group, ratio in zip(self.optimizer.param_groups, self.ratios, strict=True):
            _set_lr(group, lr * ratio)
        batch = next(self.batches)
        if not isinstance(batch, tuple | list) or len(batch) != 2:
            raise WrongTypeError(
                "find_lr: each batch of loader must be a pair (inputs, targets); got "
                f"{type(batch).__name__}"
                + (f" of length {len(batch)}" if isinstance(batch, tuple | list) else "")
            )
        inputs, targets = _to(batch[0], self.device), _to(batch[1], self.device)
        self.optimizer.zero_grad()
        loss = self.loss_fn(self.model(inputs), targets)
        value = float(loss.item())
        if math.isfinite(value):  # a non-finite loss ends the phase; no step on it
            loss.backward()  # type: ignore[no-untyped-call]
            self.optimizer.step()
        return value

    def validate(self) -> list[tuple[float, float]]:
        """``(mean loss, batch size)`` for each batch of the validation loader, in eval mode."""
        parts = []
        self.model.eval()
        try:
            with torch.no_grad():
                for batch in self.val_loader or ():
                    if not isinstance(batch, tuple | list) or len(batch) != 2:
                        raise WrongTypeError(
                            "find_lr: each batch of val_loader must be a pair (inputs, "
                            f"targets); got {type(batch).__name__}")
                    inputs, targets = _to(batch[0], self.device), _to(batch[1], self.device)
                    value = float(self.loss_fn(self.model(inputs), targets).item())
                    size = len(targets) if hasattr(targets, "__len__") else 1
                    parts.append((value, float(size)))
        finally:
            self.model.train()
        if not parts:
            raise ValueError("find_lr: val_loader yielded no batches")
        return parts


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
    trials: int = TRIALS,
    trial_steps: int = TRIAL_STEPS,
    progress: bool = True,
    device: Any = None,
    total_steps: int | None = None,
    schedule: Callable[[float], float] | None = None,
    val_loader: Iterable[Any] | None = None,
    budget: int | None = None,
) -> RangeTestResult:
    """LR range test: a sweep of ``steps`` optimizer steps at
    ``lr_i = start * (end/start) ** (i/(steps-1))``, then up to ``trials`` short warmup + cosine
    runs of ``trial_steps`` steps at peaks below the sweep's ceiling; ``.suggestion`` is the
    peak to train with (see ``lrkit.rangetest``). Costs at most
    ``steps + trials * trial_steps`` optimizer steps (``.steps_used``: what it took).

    Each batch of ``loader`` is ``(inputs, targets)``; the loss is ``loss_fn(model(inputs),
    targets)`` (moved to ``device`` first when given). A re-iterable loader (a ``DataLoader``, a
    list) is iterated again whenever it runs out and afresh for each trial, with the RNGs that
    shuffle it restored, so every trial sees the same batches; a one-shot iterator's first
    ``trial_steps`` batches are kept and replayed. Every param group gets the rate times its
    initial ratio to the largest group rate (one group: exactly the rate; if every group starts
    at 0, all get it). The model is in train mode throughout.

    The sweep stops after a step whose smoothed loss (bias-corrected EMA, ``smooth``) exceeds
    ``diverge`` times the best since step ``max(10, steps // 10)``, or at a non-finite loss (not
    recorded); a trial stops the same way and scores ``inf``. Afterwards the model's
    parameters, buffers, gradients and train/eval modes, the optimizer's state and param groups,
    the python, numpy and torch (CPU and initialised CUDA) RNG states and the loader's own
    generators are exactly what they were, also when the test raises. A tqdm bar is shown when
    ``progress`` and stderr is a terminal.

    The informed call (``lrkit.informed``): told the planned run, ``total_steps`` (its length
    in optimizer steps) and ``schedule`` (its shape: the rate at step ``t`` is ``peak *
    schedule(t)``, peak 1; default linear warmup over 5% then cosine to 0), the trials run that
    schedule squeezed into two shortened horizons (successive halving over candidate peaks) and
    the optimum is extrapolated to ``total_steps``; ``.suggestion`` is the peak for that run.
    ``budget`` caps the optimizer steps spent, sweep included (default ``1.5 * total_steps``).
    With ``val_loader`` (an iterable of ``(inputs, targets)`` batches, scored in eval mode
    under ``torch.no_grad()`` after each trial; its batches are forward passes, not counted in
    the budget) trials are judged on validation loss, else on their last training losses.
    ``val_loader`` without ``total_steps`` judges the default call's trials the same way.
    """
    if val_loader is not None:
        if isinstance(val_loader, Iterator):
            val_loader = list(val_loader)  # one-shot: read once, scored after every trial
        elif not isinstance(val_loader, Iterable):
            raise ValueError("find_lr: val_loader must be an iterable of (inputs, targets) "
                             f"batches (a DataLoader, a list); got {type(val_loader).__name__}")
    check_arguments("find_lr", start, end, steps, smooth, diverge, trials, trial_steps)
    plan = make_plan("find_lr", total_steps, schedule, budget, val_loader is not None, steps)
    generators = loader_generators(loader)
    if val_loader is not None:
        generators += [g for g in loader_generators(val_loader) if g not in generators]
    snapshot = _Snapshot(model, optimizer, generators)
    keep = trial_steps if plan is None else plan.horizons(steps)[1]
    batches = Batches(loader, keep, "find_lr")
    session = _TorchSession(model, optimizer, loss_fn, batches, snapshot, device)
    session.val_loader = val_loader
    try:
        return run(session, start=start, end=end, steps=steps, smooth=smooth, diverge=diverge,
                   trials=trials, trial_steps=trial_steps, progress=progress, owner="find_lr",
                   plan=plan, validate=val_loader is not None)
    finally:
        snapshot.restore(model, optimizer)
