"""What the trainer callbacks (``lrkit.transformers``, ``lrkit.lightning``) share: finding the
lrkit scheduler behind a trainer's wrappers, telling it how often metrics come, and checking
a monitor's name."""

from __future__ import annotations

import math
from typing import Any

from lrkit.torch.scheduler import LRScheduler

__all__ = ["check_monitor", "describe", "expect_reports_every", "unwrap"]


def check_monitor(owner: str, monitor: Any) -> str:
    """A metric name: a non-empty string."""
    if not isinstance(monitor, str) or not monitor:
        raise ValueError(
            f"{owner}: monitor must be the name of a logged metric (a non-empty string); "
            f"got {monitor!r}"
        )
    return monitor


def unwrap(scheduler: Any) -> LRScheduler | None:
    """The ``LRScheduler`` behind ``scheduler`` (accelerate's ``AcceleratedScheduler`` and
    similar wrappers keep it as ``.scheduler``), or None when there is none."""
    seen = 0
    while scheduler is not None and seen < 8:
        if isinstance(scheduler, LRScheduler):
            return scheduler
        scheduler = getattr(scheduler, "scheduler", None)
        seen += 1
    return None


def expect_reports_every(scheduler: LRScheduler, steps: float | None) -> None:
    """Tells the scheduler's ``NoMetricWarning`` watch that the trainer evaluates every
    ``steps`` scheduler steps (ignored when unknown: None, 0, inf or NaN)."""
    if steps is not None and 0 < steps < float("inf"):
        scheduler._watch.expect(math.ceil(steps))


def describe(scheduler: Any) -> str:
    """A short name for a scheduler in an error message."""
    inner = getattr(scheduler, "scheduler", None)
    name = type(scheduler).__name__
    if inner is not None and not isinstance(scheduler, LRScheduler):
        return f"{name} wrapping {type(inner).__name__}"
    return name
