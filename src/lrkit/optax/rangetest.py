"""The LR range test for JAX and optax: ``find_lr``, a thin runner of ``lrkit.rangetest``.

``find_lr(loss_fn, params, optimizer_factory, batches)`` runs the same sweep, trials and
suggestion as ``lrkit.torch.find_lr`` (they live, framework-free, in ``lrkit.rangetest``). The
optimizer is ``optax.inject_hyperparams(optimizer_factory)(learning_rate=...)``, so its rate is
part of its state and one jitted step serves every rate: the step compiles once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import jax
import jax.numpy as jnp
import optax

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


def _injected(optimizer_factory: Callable[..., Any], start: float) -> Any:
    if not callable(optimizer_factory):
        raise ValueError(
            "find_lr: optimizer_factory must be a callable taking learning_rate= and returning "
            f"an optax GradientTransformation (optax.adam, functools.partial(optax.sgd, "
            f"momentum=0.9)); got {optimizer_factory!r}"
        )
    try:
        return optax.inject_hyperparams(optimizer_factory)(learning_rate=float(start))
    except TypeError as exc:
        raise ValueError(
            "find_lr: optimizer_factory must accept the keyword learning_rate (optax.adam, "
            "functools.partial(optax.sgd, momentum=0.9), or a function of learning_rate); "
            f"calling it failed: {exc}"
        ) from None


class _OptaxSession:
    """``lrkit.rangetest.Session`` for a loss function, parameters and an optax optimizer."""

    def __init__(self, loss_fn: Callable[[Any, Any], Any], params: Any, tx: Any,
                 batches: Batches, rngs: GlobalRNGs) -> None:
        self.initial = params
        self.tx = tx
        self.batches = batches
        self.rngs = rngs
        self.params = params
        self.state: Any = None
        self.lr_dtype: Any = None

        @jax.jit
        def train_step(params: Any, state: Any, batch: Any, lr: Any) -> tuple[Any, Any, Any]:
            state = state._replace(hyperparams={**state.hyperparams, "learning_rate": lr})
            loss, grads = jax.value_and_grad(loss_fn)(params, batch)
            updates, state = tx.update(grads, state, params)
            return optax.apply_updates(params, updates), state, loss

        self.train_step = train_step
        self.eval_loss = jax.jit(loss_fn)
        self.val_batches: list[Any] = []

    def restart(self) -> None:
        self.rngs.restore()
        self.params = self.initial
        self.state = self.tx.init(self.initial)
        self.lr_dtype = jnp.asarray(self.state.hyperparams["learning_rate"]).dtype
        self.batches.restart()

    def step(self, lr: float) -> float:
        batch = next(self.batches)
        self.params, self.state, loss = self.train_step(
            self.params, self.state, batch, jnp.asarray(lr, dtype=self.lr_dtype)
        )
        return float(loss)

    def validate(self) -> list[tuple[float, float]]:
        """``(loss_fn(params, batch), 1)`` for each validation batch."""
        parts = [(float(self.eval_loss(self.params, batch)), 1.0) for batch in self.val_batches]
        if not parts:
            raise ValueError("find_lr: val_batches yielded no batches")
        return parts


def find_lr(
    loss_fn: Callable[[Any, Any], Any],
    params: Any,
    optimizer_factory: Callable[..., Any],
    batches: Iterable[Any],
    start: float = 1e-7,
    end: float = 10.0,
    steps: int = 100,
    *,
    smooth: float = 0.98,
    diverge: float = 4.0,
    trials: int = TRIALS,
    trial_steps: int = TRIAL_STEPS,
    progress: bool = True,
    total_steps: int | None = None,
    schedule: Callable[[float], float] | None = None,
    val_batches: Iterable[Any] | None = None,
    budget: int | None = None,
) -> RangeTestResult:
    """LR range test for JAX: ``lrkit.torch.find_lr``'s sweep, trials and suggestion.

    ``loss_fn(params, batch)`` returns the scalar loss of one batch (it is differentiated with
    ``jax.value_and_grad`` and jitted); ``params`` is any pytree; ``optimizer_factory`` takes
    ``learning_rate=`` and returns an optax ``GradientTransformation`` (``optax.adam``,
    ``functools.partial(optax.sgd, momentum=0.9)``, ``lambda learning_rate:
    optax.chain(optax.clip_by_global_norm(1.0), optax.adamw(learning_rate))``): it is wrapped
    in ``optax.inject_hyperparams``, and every phase starts from a fresh
    ``optimizer.init(params)``. ``batches`` is a re-iterable of batches (a list, a data loader),
    iterated again when it runs out and afresh for every trial, or a one-shot iterator whose
    first ``trial_steps`` batches are kept and replayed. ``params`` is never modified (JAX
    arrays are immutable); the Python and NumPy global RNGs are restored afterwards.

    Returns ``lrkit.rangetest.RangeTestResult``: ``.suggestion`` is the peak rate to train
    with, ``.steps_used`` the optimizer steps it cost (at most ``steps + trials *
    trial_steps``). The arguments mean what they mean for ``lrkit.torch.find_lr``.

    The informed call (``total_steps``, ``schedule``, ``budget``) is ``lrkit.torch.find_lr``'s;
    ``val_batches`` (an iterable of batches, read once) judges each trial by the mean of
    ``loss_fn(params, batch)`` over them.
    """
    check_arguments("find_lr", start, end, steps, smooth, diverge, trials, trial_steps)
    val: list[Any] | None = None
    if val_batches is not None:
        if not isinstance(val_batches, Iterable):
            raise ValueError("find_lr: val_batches must be an iterable of batches; got "
                             f"{type(val_batches).__name__}")
        val = list(val_batches)
    plan = make_plan("find_lr", total_steps, schedule, budget, val is not None, steps)
    tx = _injected(optimizer_factory, start)
    rngs = GlobalRNGs()
    keep = trial_steps if plan is None else plan.horizons(steps)[1]
    session = _OptaxSession(loss_fn, params, tx, Batches(batches, keep, "find_lr"), rngs)
    session.val_batches = val or []
    try:
        return run(session, start=start, end=end, steps=steps, smooth=smooth, diverge=diverge,
                   trials=trials, trial_steps=trial_steps, progress=progress, owner="find_lr",
                   plan=plan, validate=val is not None)
    finally:
        rngs.restore()
