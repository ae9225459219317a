"""``ScheduleCallback``: any lrkit schedule, ``plateau`` included, driven from ``model.fit``."""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from typing import Any

import keras

from lrkit.keras.schedule import as_schedule
from lrkit.schedules._base import Schedule
from lrkit.stepper import Stepper

__all__ = ["ScheduleCallback"]


class ScheduleCallback(keras.callbacks.Callback):  # type: ignore[misc,name-defined]
    """Drives any lrkit schedule, ``plateau`` included, from ``model.fit`` through a
    ``lrkit.Stepper``: before each batch the optimizer's ``learning_rate`` is set to the
    schedule's value, after it the step count advances, and at the end of each epoch the
    ``monitor``-ed metric from the logs is reported (``Stepper.report(metric, eps)``).

    ``steps_per_epoch``: when given, ``t`` counts epochs (fractional within an epoch), so
    ``plateau(patience=5)`` and ``warmup(..., steps=2)`` are in epochs. The optimizer must have
    a float learning rate (not a schedule). The stepper lives in ``self.stepper``: its count
    carries over successive ``fit`` calls, and ``stepper.state_dict()`` is plain data.
    """

    def __init__(
        self,
        schedule: Schedule | str | Mapping[str, Any],
        monitor: str = "val_loss",
        steps_per_epoch: int | None = None,
        eps: float = 0.0,
    ) -> None:
        super().__init__()
        if not isinstance(monitor, str) or not monitor:
            raise ValueError(f"ScheduleCallback: monitor must be a metric name; got {monitor!r}")
        if not (isinstance(eps, int | float) and math.isfinite(eps) and eps >= 0):
            raise ValueError(f"ScheduleCallback: eps must be a finite number >= 0; got {eps!r}")
        self.stepper = Stepper(as_schedule(schedule, "ScheduleCallback"), steps_per_epoch)
        self.monitor = monitor
        self.eps = float(eps)

    def on_train_batch_begin(self, batch: int, logs: Mapping[str, Any] | None = None) -> None:
        optimizer = self.model.optimizer
        if isinstance(optimizer._learning_rate, keras.optimizers.schedules.LearningRateSchedule):
            raise ValueError(
                "ScheduleCallback: the optimizer's learning_rate is a schedule; give it a float "
                "(the callback sets the rate before every batch)"
            )
        optimizer.learning_rate = self.stepper.value()

    def on_train_batch_end(self, batch: int, logs: Mapping[str, Any] | None = None) -> None:
        self.stepper.step()

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        if not self.stepper.schedule.has_state:
            return
        value = (logs or {}).get(self.monitor)
        if value is None:
            warnings.warn(
                f"ScheduleCallback: metric {self.monitor!r} is not in the logs (available: "
                f"{sorted(logs or {})}); nothing reported this epoch",
                stacklevel=2,
            )
            return
        self.stepper.report(value, self.eps)
