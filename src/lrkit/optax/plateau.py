"""``plateau_scale``: metric-driven decay as an optax ``GradientTransformation`` (see the
package docstring)."""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from lrkit import _validate as v
from lrkit.schedules._base import Schedule
from lrkit.schedules.plateau import Plateau
from lrkit.spec import parse

MAX_REDUCTIONS = 100_000
"""Upper bound on the reductions counted when the plateau never reaches a floor."""
TABLE_SIZE = 4096
"""The plateau's values after 0 .. TABLE_SIZE - 1 reductions are tabulated in float64 and rounded
once, so the scale equals ``lrkit.Stepper``'s value to the array precision (``factor ** n`` in
float32 would drift by n ulps); beyond the table, ``factor ** n`` is computed on the arrays."""


class PlateauScaleState(NamedTuple):
    """The optax state of ``plateau_scale``: torch's ReduceLROnPlateau counters, as arrays."""

    best: Any
    """Best metric so far (inf for mode='min', -inf for 'max' before the first report)."""
    num_bad_epochs: Any
    """Reports since the last improvement (int32)."""
    cooldown_counter: Any
    """Reports still ignored after the last reduction (int32)."""
    reductions: Any
    """Reductions so far, n (int32)."""
    scale: Any
    """The plateau's value max(start * factor**n, min_value), applied to the updates."""


def max_reductions(plateau: Plateau, eps: float) -> int:
    """How many reductions can happen: the first n with value(n) - value(n+1) <= eps.

    Computed once in float64 with the same expressions as ``lrkit.Stepper``, so the jitted rule
    stops reducing at exactly the same n whatever the array precision.
    """
    n = 0
    while n < MAX_REDUCTIONS:
        if not plateau.value_after(n) - plateau.value_after(n + 1) > eps:
            return n
        n += 1
    return n


def _as_plateau(plateau: Plateau | Schedule | str) -> Plateau:
    s = parse(plateau) if isinstance(plateau, str) else plateau
    if isinstance(s, Plateau):
        return s
    if isinstance(s, Schedule):
        raise ValueError(
            f"plateau_scale: expected a bare plateau(...); got {s}. Give the rest of the schedule "
            "to the optimizer and chain: optax.chain(optax.adam(learning_rate=s), "
            "lrkit.optax.plateau_scale(lk.plateau(...))) follows lrkit's s * plateau(...)"
        )
    raise ValueError(
        f"plateau_scale: plateau must be lk.plateau(...) or its spec string; got "
        f"{type(plateau).__name__} {plateau!r}"
    )


def plateau_scale(plateau: Plateau | str, *, eps: float = 0.0) -> Any:
    """Scale updates by a ``plateau`` schedule whose state lives in the optax state.

    ``update(updates, state, params=None, *, value)`` reports ``value`` with torch's
    ReduceLROnPlateau rules (``mode``, ``threshold``, ``threshold_mode``, ``patience``,
    ``cooldown``; a reduction only when old - new > ``eps``, in schedule units), then returns
    ``updates * max(start * factor**n, min_value)``. Jittable; ``value`` is required.
    Returns an ``optax.GradientTransformationExtraArgs``.
    """
    p = _as_plateau(plateau)
    eps = v.number("plateau_scale", "eps", eps)
    if eps < 0:
        raise v.fail("plateau_scale", "eps", eps, "a finite number >= 0")
    limit = max_reductions(p, eps)
    minimize = p.mode == "min"
    relative = p.threshold_mode == "rel"

    size = min(limit, TABLE_SIZE - 1) + 1
    table = [p.value_after(k) for k in range(size)]

    def value_after(n: Any) -> Any:
        exact = jnp.asarray(table, jnp.result_type(float))[jnp.minimum(n, size - 1)]
        if size > limit:
            return exact
        computed = jnp.maximum(
            p.start * jnp.power(p.factor, n.astype(jnp.result_type(float))), p.min_value
        )
        return jnp.where(n < size, exact, computed)

    def is_better(a: Any, best: Any) -> Any:
        if minimize:
            return a < (best * (1.0 - p.threshold) if relative else best - p.threshold)
        return a > (best * (p.threshold + 1.0) if relative else best + p.threshold)

    def init_fn(params: Any) -> PlateauScaleState:
        del params
        zero = jnp.asarray(0, jnp.int32)
        return PlateauScaleState(
            best=jnp.asarray(math.inf if minimize else -math.inf, jnp.result_type(float)),
            num_bad_epochs=zero,
            cooldown_counter=zero,
            reductions=zero,
            scale=value_after(zero),
        )

    def update_fn(
        updates: Any, state: PlateauScaleState, params: Any = None, *, value: Any, **extra: Any
    ) -> tuple[Any, PlateauScaleState]:
        del params, extra
        metric = jnp.asarray(value, state.best.dtype)
        better = is_better(metric, state.best)
        best = jnp.where(better, metric, state.best)
        bad = jnp.where(better, 0, state.num_bad_epochs + 1)
        cooling = state.cooldown_counter > 0
        cooldown = jnp.where(cooling, state.cooldown_counter - 1, state.cooldown_counter)
        bad = jnp.where(cooling, 0, bad)
        reduce = bad > p.patience
        n = jnp.where(reduce & (state.reductions < limit), state.reductions + 1, state.reductions)
        cooldown = jnp.where(reduce, p.cooldown, cooldown)
        bad = jnp.where(reduce, 0, bad)
        scale = value_after(n)
        new_state = PlateauScaleState(
            best=best,
            num_bad_epochs=bad.astype(jnp.int32),
            cooldown_counter=cooldown.astype(jnp.int32),
            reductions=n.astype(jnp.int32),
            scale=scale,
        )
        scaled = jax.tree.map(lambda g: (scale * g).astype(g.dtype), updates)
        return scaled, new_state

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)


__all__ = ["MAX_REDUCTIONS", "PlateauScaleState", "max_reductions", "plateau_scale"]
