"""The LR range test for Keras 3: ``find_lr``, a thin runner of ``lrkit.rangetest``.

``find_lr(model, x, y)`` runs the same sweep, trials and suggestion as ``lrkit.torch.find_lr``
(they live, framework-free, in ``lrkit.rangetest``) on a compiled Keras model, one
``train_on_batch`` per step, on any backend (jax, torch, tensorflow), and puts the model's and
the optimizer's variables back afterwards.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Any

import keras
import numpy as np

from lrkit.informed import make_plan
from lrkit.rangetest import (
    TRIAL_STEPS,
    TRIALS,
    Batches,
    GlobalRNGs,
    RangeTestResult,
    check_arguments,
    run,
)

__all__ = ["find_lr"]


class ArrayBatches:
    """Shuffled mini-batches of the arrays ``x`` and ``y`` (``y`` may be ``None``), epoch after
    epoch, each epoch a permutation drawn from ``numpy.random.default_rng(seed)``; ``restart()``
    goes back to the first batch of the first epoch. The last partial batch of an epoch is
    dropped unless the data holds less than one batch."""

    def __init__(self, x: Any, y: Any, batch_size: int, shuffle: bool, seed: int) -> None:
        self.x = x
        self.y = y
        n = _length(x, "x")
        if y is not None and _length(y, "y") != n:
            raise ValueError(f"find_lr: x and y must hold as many samples; got {n} and "
                             f"{_length(y, 'y')}")
        if n == 0:
            raise ValueError("find_lr: x holds no samples")
        self.n = n
        self.batch_size = min(batch_size, n)
        self.shuffle = shuffle
        self.seed = seed
        self._it: Iterator[Any] = iter(())

    def restart(self) -> None:
        self._it = self._epochs()

    def __next__(self) -> Any:
        return next(self._it)

    def _epochs(self) -> Iterator[Any]:
        rng = np.random.default_rng(self.seed)
        while True:
            order = rng.permutation(self.n) if self.shuffle else np.arange(self.n)
            for i in range(0, self.n - self.batch_size + 1, self.batch_size):
                idx = order[i : i + self.batch_size]
                yield _take(self.x, idx), None if self.y is None else _take(self.y, idx)


def _length(a: Any, name: str) -> int:
    if isinstance(a, dict):
        lengths = {len(v) for v in a.values()}
    elif isinstance(a, list | tuple):
        lengths = {len(v) for v in a}
    else:
        lengths = {len(a)}
    if len(lengths) != 1:
        raise ValueError(f"find_lr: every array of {name} must hold as many samples; got "
                         f"{sorted(lengths)}")
    return lengths.pop()


def _take(a: Any, idx: Any) -> Any:
    if isinstance(a, dict):
        return {k: np.asarray(v)[idx] for k, v in a.items()}
    if isinstance(a, list | tuple):
        return type(a)(np.asarray(v)[idx] for v in a)
    return np.asarray(a)[idx]


class _KerasSession:
    """``lrkit.rangetest.Session`` for a compiled Keras model."""

    def __init__(self, model: Any, batches: Any, rngs: GlobalRNGs) -> None:
        self.model = model
        self.optimizer = model.optimizer
        self.batches = batches
        self.rngs = rngs
        self.variables = _state_variables(model)
        self.saved = [np.array(keras.ops.convert_to_numpy(v.value), copy=True)
                      for v in self.variables]
        self.lr_value = float(keras.ops.convert_to_numpy(self.optimizer.learning_rate))
        self.val_batches: list[tuple[Any, Any]] = []

    def restart(self) -> None:
        self.restore()
        self.batches.restart()

    def restore(self) -> None:
        for v, value in zip(self.variables, self.saved, strict=True):
            v.assign(value)
        self.rngs.restore()

    def step(self, lr: float) -> float:
        self.optimizer.learning_rate = lr
        batch = next(self.batches)
        if not isinstance(batch, tuple | list) or len(batch) != 2:
            raise ValueError(
                "find_lr: each batch must be a pair (inputs, targets); got "
                f"{type(batch).__name__}"
            )
        logs = self.model.train_on_batch(batch[0], batch[1], return_dict=True)
        loss = float(keras.ops.convert_to_numpy(logs["loss"]))
        return loss if math.isfinite(loss) else math.nan

    def validate(self) -> list[tuple[float, float]]:
        """``(loss, samples)`` per validation batch (``model.test_on_batch``; no training)."""
        parts = []
        for x, y in self.val_batches:
            logs = self.model.test_on_batch(x, y, return_dict=True)
            size = _length(x, "validation_data")
            parts.append((float(keras.ops.convert_to_numpy(logs["loss"])), float(size)))
        return parts


def _validation_batches(data: Any, batch_size: int) -> list[tuple[Any, Any]]:
    """``validation_data`` as a list of ``(x, y)`` batches: ``(x, y)`` arrays cut in order into
    batches of ``batch_size``, or an iterable of ``(x, y)`` batches read once."""
    if isinstance(data, tuple) and len(data) == 2 and not _is_batch_list(data):
        x, y = data
        n = _length(x, "validation_data")
        if _length(y, "validation_data") != n or n == 0:
            raise ValueError("find_lr: validation_data must be (x, y) with as many samples in "
                             f"each, at least one; got {n} and {_length(y, 'validation_data')}")
        idx = np.arange(n)
        return [(_take(x, idx[i : i + batch_size]), _take(y, idx[i : i + batch_size]))
                for i in range(0, n, batch_size)]
    if isinstance(data, np.ndarray) or not hasattr(data, "__iter__"):
        raise ValueError("find_lr: validation_data must be (x, y) arrays or an iterable of "
                         f"(x, y) batches; got {type(data).__name__}")
    batches = list(data)
    if not batches or any(not isinstance(b, tuple | list) or len(b) != 2 for b in batches):
        raise ValueError("find_lr: validation_data must hold (x, y) batches, at least one")
    return [(b[0], b[1]) for b in batches]


def _is_batch_list(data: tuple[Any, Any]) -> bool:
    """``((x0, y0), (x1, y1))``: two batches, not one pair of arrays."""
    return all(isinstance(b, tuple | list) and len(b) == 2 and not isinstance(b, np.ndarray)
               and hasattr(b[0], "shape") for b in data)


def _build(model: Any, batches: Any) -> None:
    """Create every variable a train step would (model, compiled metrics, optimizer) without
    training, as ``train_on_batch`` does before its first step, so that all are saved."""
    batches.restart()
    first = next(batches)
    batches.restart()
    if not isinstance(first, tuple | list) or len(first) != 2:
        raise ValueError(
            f"find_lr: each batch must be a pair (inputs, targets); got {type(first).__name__}"
        )
    symbolic_build = getattr(model, "_symbolic_build", None)
    if callable(symbolic_build):  # Keras 3's own build step of fit and train_on_batch
        symbolic_build(data_batch=(first[0], first[1], None))
    elif not model.built:
        model(first[0])
    if not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)


def _state_variables(model: Any) -> list[Any]:
    """Every variable a training step changes: the model's (weights, non-trainable state such
    as BatchNorm statistics, seed generators), the optimizer's (iterations, learning rate,
    moments) and the compiled metrics'."""
    seen: set[int] = set()
    out = []
    for v in [*model.variables, *model.optimizer.variables, *model.metrics_variables]:
        if id(v) not in seen:
            seen.add(id(v))
            out.append(v)
    return out


def find_lr(
    model: Any,
    x: Any,
    y: Any = None,
    start: float = 1e-7,
    end: float = 10.0,
    steps: int = 100,
    *,
    batch_size: int = 32,
    shuffle: bool = True,
    seed: int = 0,
    smooth: float = 0.98,
    diverge: float = 4.0,
    trials: int = TRIALS,
    trial_steps: int = TRIAL_STEPS,
    progress: bool = True,
    total_steps: int | None = None,
    schedule: Callable[[float], float] | None = None,
    validation_data: Any = None,
    budget: int | None = None,
) -> RangeTestResult:
    """LR range test for a compiled Keras 3 model: ``lrkit.torch.find_lr``'s sweep, trials and
    suggestion, one ``model.train_on_batch`` per step.

    ``x`` and ``y`` are arrays (or lists/dicts of arrays, as ``fit`` takes them) cut into
    shuffled batches of ``batch_size`` (a permutation per epoch from
    ``numpy.random.default_rng(seed)``: every trial sees the same batches); or ``x`` is an
    iterable (a list included) of ``(inputs, targets)`` batches and ``y`` is ``None`` (a
    re-iterable one is iterated afresh for every trial, a one-shot iterator's first
    ``trial_steps`` batches are kept and replayed). The model must be compiled with an
    optimizer whose ``learning_rate`` is a number (the test sets it before every step; use
    ``lrkit.keras.KerasSchedule`` for the training afterwards). Afterwards every variable of
    the model (weights, BatchNorm statistics, seed generators), of the optimizer (iterations,
    rate, moments) and of the compiled metrics holds its value from before, as do the Python
    and NumPy global RNGs.

    Returns ``lrkit.rangetest.RangeTestResult``: ``.suggestion`` is the peak rate to train
    with, ``.steps_used`` the optimizer steps it cost.

    The informed call (``total_steps``, ``schedule``, ``budget``) is ``lrkit.torch.find_lr``'s;
    ``validation_data`` (``(x_val, y_val)`` arrays, cut into batches of ``batch_size``, or an
    iterable of ``(x, y)`` batches) judges each trial by ``model.test_on_batch``'s loss,
    averaged over the batches by their sizes.
    """
    check_arguments("find_lr", start, end, steps, smooth, diverge, trials, trial_steps)
    val = None if validation_data is None else _validation_batches(validation_data,
                                                                   max(1, int(batch_size)))
    plan = make_plan("find_lr", total_steps, schedule, budget, val is not None, steps)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"find_lr: batch_size must be an integer >= 1; got {batch_size!r}")
    optimizer = getattr(model, "optimizer", None)
    if not isinstance(model, keras.Model) or optimizer is None:
        raise ValueError(
            "find_lr: model must be a compiled keras.Model (model.compile(optimizer=..., "
            f"loss=...)); got {type(model).__name__}"
            + (" that is not compiled" if isinstance(model, keras.Model) else "")
        )
    if isinstance(optimizer._learning_rate, keras.optimizers.schedules.LearningRateSchedule):
        raise ValueError(
            "find_lr: the optimizer's learning_rate is a schedule; compile with a number (the "
            "range test sets the rate before every step) and use the schedule for training"
        )
    batches: Any
    if y is not None:
        batches = ArrayBatches(x, y, batch_size, shuffle, seed)
    elif isinstance(x, np.ndarray) or not hasattr(x, "__iter__"):
        raise ValueError("find_lr: y is None and x is not an iterable of (inputs, targets) "
                         f"batches (got {type(x).__name__}); pass the targets as y")
    else:
        keep = trial_steps if plan is None else plan.horizons(steps)[1]
        batches = Batches(x, keep, "find_lr")
    _build(model, batches)
    rngs = GlobalRNGs()
    session = _KerasSession(model, batches, rngs)
    session.val_batches = val or []
    try:
        return run(session, start=start, end=end, steps=steps, smooth=smooth, diverge=diverge,
                   trials=trials, trial_steps=trial_steps, progress=progress, owner="find_lr",
                   plan=plan, validate=val is not None)
    finally:
        session.restore()
        optimizer.learning_rate = session.lr_value
