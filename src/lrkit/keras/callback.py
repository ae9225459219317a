"""``ScheduleCallback``: any lrkit schedule, ``plateau`` included, driven from ``model.fit``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import keras

from lrkit._keras_common import ScheduleDriver
from lrkit.schedules._base import Schedule

__all__ = ["ScheduleCallback"]


class ScheduleCallback(ScheduleDriver, keras.callbacks.Callback):  # type: ignore[misc,name-defined]
    """Drives any lrkit schedule, ``plateau`` included, from ``model.fit`` through a
    ``lrkit.Stepper``: before each batch the optimizer's ``learning_rate`` is set to the
    schedule's value, after it the step count advances, and at the end of each epoch the
    ``monitor``-ed metric from the logs is reported (``Stepper.report(metric, eps)``).

    ``steps_per_epoch``: when given, ``t`` counts epochs (fractional within an epoch), so
    ``plateau(patience=5)`` and ``warmup(..., steps=2)`` are in epochs. The optimizer must have
    a float learning rate (not a schedule). The stepper lives in ``self.stepper``: its count
    carries over successive ``fit`` calls, and ``stepper.state_dict()`` is plain data.
    """

    _schedule_types = (keras.optimizers.schedules.LearningRateSchedule,)

    def __init__(
        self,
        schedule: Schedule | str | Mapping[str, Any],
        monitor: str = "val_loss",
        steps_per_epoch: int | None = None,
        eps: float = 0.0,
    ) -> None:
        super().__init__()
        self._setup(schedule, monitor, steps_per_epoch, eps)
