"""What ``lrkit.keras`` (Keras 3) and ``lrkit.tf_keras`` (legacy Keras 2) share, framework-free:
the schedule a ``KerasSchedule`` or ``ScheduleCallback`` accepts, and the callback's driving
logic (a mixin the two ``Callback`` subclasses put before the framework's base class)."""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from typing import Any

from lrkit.schedules._base import Schedule
from lrkit.spec import from_dict, parse
from lrkit.stepper import Stepper


def as_schedule(schedule: Any, owner: str = "KerasSchedule") -> Schedule:
    """An lrkit schedule from a schedule, a spec string or a ``to_dict()`` mapping."""
    if isinstance(schedule, Schedule):
        return schedule
    if isinstance(schedule, str):
        return parse(schedule)
    if isinstance(schedule, Mapping):
        return from_dict(dict(schedule))
    raise ValueError(
        f"{owner}: schedule must be an lrkit schedule, a spec string or a dict from "
        f"Schedule.to_dict(); got {type(schedule).__name__} {schedule!r}"
    )


def stateless_schedule(schedule: Any, module: str, keras: str) -> Schedule:
    """``as_schedule(schedule)``, refusing a schedule with ``plateau`` (a Keras
    ``LearningRateSchedule`` only ever sees the step count). ``module`` is the lrkit module
    (``lrkit.keras``), ``keras`` the framework module (``keras``, ``tf_keras``) for the message.
    """
    s = as_schedule(schedule)
    if s.has_state:
        raise ValueError(
            f"KerasSchedule: {s} contains plateau(), whose value depends on reported metrics; "
            "a Keras LearningRateSchedule only sees the step count. Give the optimizer a "
            f"float learning rate and pass {module}.ScheduleCallback(schedule, "
            f"monitor='val_loss') to model.fit (or use {keras}.callbacks.ReduceLROnPlateau)"
        )
    return s


def spec_config(schedule: Schedule) -> dict[str, Any]:
    """A ``KerasSchedule``'s ``get_config()``: the canonical spec string."""
    return {"schedule": str(schedule)}


def schedule_from_config(config: Any) -> Any:
    """The ``schedule`` entry of a ``KerasSchedule`` config."""
    if not isinstance(config, Mapping) or "schedule" not in config:
        raise ValueError(
            f"KerasSchedule.from_config: expected a dict with key 'schedule'; got {config!r}"
        )
    return config["schedule"]


class ScheduleDriver:
    """The logic of ``ScheduleCallback`` in both Keras versions: before each batch the
    optimizer's ``learning_rate`` is set to ``stepper.value()``, after it the stepper advances,
    and at the end of each epoch ``logs[monitor]`` is reported when the schedule has a plateau.

    The subclass sets ``_schedule_types``, the framework's ``LearningRateSchedule`` class(es),
    and calls ``_setup`` from its ``__init__`` after the framework ``Callback.__init__``.
    """

    _schedule_types: tuple[type, ...] = ()
    model: Any
    stepper: Stepper
    monitor: str
    eps: float

    def _setup(
        self,
        schedule: Schedule | str | Mapping[str, Any],
        monitor: str,
        steps_per_epoch: int | None,
        eps: float,
    ) -> None:
        if not isinstance(monitor, str) or not monitor:
            raise ValueError(f"ScheduleCallback: monitor must be a metric name; got {monitor!r}")
        if not (isinstance(eps, int | float) and math.isfinite(eps) and eps >= 0):
            raise ValueError(f"ScheduleCallback: eps must be a finite number >= 0; got {eps!r}")
        self.stepper = Stepper(as_schedule(schedule, "ScheduleCallback"), steps_per_epoch)
        self.monitor = monitor
        self.eps = float(eps)

    def _optimizer_schedule(self, optimizer: Any) -> Any:
        """The optimizer's learning-rate object: a variable, or a schedule (refused)."""
        lr = getattr(optimizer, "_learning_rate", None)
        if lr is None:  # tf_keras' legacy optimizers keep it among their hyperparameters
            lr = getattr(optimizer, "_hyper", {}).get("learning_rate")
        return lr

    def on_train_batch_begin(self, batch: int, logs: Mapping[str, Any] | None = None) -> None:
        optimizer = self.model.optimizer
        if isinstance(self._optimizer_schedule(optimizer), self._schedule_types):
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
