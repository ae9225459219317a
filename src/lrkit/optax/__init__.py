"""optax integration: metric-driven decay as an optax ``GradientTransformation``, and the LR
range test for JAX (``find_lr``).

A stateless lrkit schedule needs no adapter: it is a jittable function of the update count, so
``optax.adam(learning_rate=3e-4 * s)``, ``optax.scale_by_schedule(s)`` and
``optax.inject_hyperparams(optax.adam)(learning_rate=s)`` work as they are.

``plateau`` is different: its value depends on the metrics reported so far, so it needs state.
``plateau_scale(lk.plateau(...))`` keeps that state inside the optax state and reads the metric
from ``update(..., value=loss)``, like ``optax.contrib.reduce_on_plateau``, but with lrkit's
(torch's ``ReduceLROnPlateau``) rules and parameters::

    opt = optax.chain(
        optax.adam(learning_rate=3e-4 * lk.warmup(lk.constant(), 500)),
        lrkit.optax.plateau_scale(lk.plateau(factor=0.5, patience=5)),
    )
    updates, state = opt.update(grads, state, params, value=val_loss)

Each ``update`` first reports ``value`` (exactly ``lrkit.Stepper.report(value, eps)``), then
multiplies the updates by the plateau's value ``max(start * factor**n, min_value)``, n the
reductions so far. Chained after an optimizer whose learning rate is the schedule ``s``, the
effective rate is lrkit's ``s * plateau(...)``.

``find_lr(loss_fn, params, optimizer_factory, batches)`` is ``lrkit.torch.find_lr``'s range test
(the same sweep, trials and suggestion, from ``lrkit.rangetest``) for a jitted optax step.

Importing this module imports jax and optax; ``import lrkit`` alone does not.
"""

from __future__ import annotations

from lrkit._extras import require

require("jax", "jax")
require("optax", "jax")

from lrkit.optax.plateau import (  # noqa: E402
    MAX_REDUCTIONS,
    PlateauScaleState,
    max_reductions,
    plateau_scale,
)
from lrkit.optax.rangetest import find_lr  # noqa: E402
from lrkit.rangetest import RangeTestResult  # noqa: E402

__all__ = [
    "MAX_REDUCTIONS",
    "PlateauScaleState",
    "RangeTestResult",
    "find_lr",
    "max_reductions",
    "plateau_scale",
]
