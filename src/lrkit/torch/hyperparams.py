"""Schedules for hyperparameters other than the rate, to pass as
``LRScheduler(..., hyperparams={"momentum": ...})``."""

from __future__ import annotations

import math
import numbers

import lrkit as lk
from lrkit import Schedule

__all__ = ["one_cycle_momentum"]


def _is_real(x: object) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, bool)


def one_cycle_momentum(
    steps: float,
    base_momentum: float = 0.85,
    max_momentum: float = 0.95,
    pct_start: float = 0.3,
    anneal: str = "cos",
    three_phase: bool = False,
) -> Schedule:
    """torch OneCycleLR's momentum curve (``cycle_momentum=True``), in momentum units.

    It moves inversely to the rate: ``max_momentum -> base_momentum`` while the rate rises,
    back to ``max_momentum`` while it falls (three_phase: and holds ``max_momentum`` in the
    last phase). It is ``one_cycle`` with ``peak=base_momentum``,
    ``div_factor=base_momentum / max_momentum`` (below 1: the curve dips instead of rising)
    and ``final_div_factor=1``. Use it as an absolute hyperparameter schedule; on Adam-family
    optimizers ``"momentum"`` drives ``betas[0]``.
    """
    for name, value in (("base_momentum", base_momentum), ("max_momentum", max_momentum)):
        if not (_is_real(value) and math.isfinite(value) and value > 0):
            raise ValueError(
                f"one_cycle_momentum: {name} must be a finite number > 0; got {value!r}"
            )
    return lk.one_cycle(
        steps,
        peak=float(base_momentum),
        pct_start=pct_start,
        div_factor=float(base_momentum) / float(max_momentum),
        final_div_factor=1.0,
        anneal=anneal,
        three_phase=three_phase,
    )
