"""``KerasSchedule``: an lrkit schedule as a Keras 3 ``LearningRateSchedule``.

Keras calls the schedule with ``optimizer.iterations``, the number of updates already applied,
which is lrkit's ``t``: the first update uses ``s(0)``. The formula runs on the backend's own
tensors (tensorflow, jax, torch or numpy), traced into the compiled train step (``tf.function``,
XLA or ``jax.jit``). ``get_config`` stores the canonical spec string, so
``model.save(...)``/``keras.models.load_model`` and ``keras.saving.serialize_keras_object``/
``deserialize_keras_object`` round-trip.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import keras

from lrkit.schedules._base import Schedule
from lrkit.spec import from_dict, parse

SUPPORTED_BACKENDS = ("tensorflow", "jax", "torch", "numpy")
"""Keras backends whose native tensors are lrkit array families."""


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


@keras.saving.register_keras_serializable(package="lrkit")
class KerasSchedule(keras.optimizers.schedules.LearningRateSchedule):  # type: ignore[misc,name-defined]
    """A Keras learning-rate schedule that evaluates an lrkit schedule at ``optimizer.iterations``.

    ``schedule`` is an lrkit schedule (absolute: multiply a unitless schedule by the base rate),
    a spec string such as ``"3e-4 * warmup(cosine(steps=9000), steps=1000)"``, or a dict from
    ``Schedule.to_dict()``. A schedule containing ``plateau`` depends on reported metrics, which
    Keras' schedule protocol cannot pass: it is rejected with a ``ValueError``.
    """

    def __init__(self, schedule: Schedule | str | Mapping[str, Any]) -> None:
        super().__init__()
        s = as_schedule(schedule)
        if s.has_state:
            raise ValueError(
                f"KerasSchedule: {s} contains plateau(), whose value depends on reported metrics; "
                "a Keras LearningRateSchedule only sees the step count. Give the optimizer a "
                "float learning rate and pass lrkit.keras.ScheduleCallback(schedule, "
                "monitor='val_loss') to model.fit (or use keras.callbacks.ReduceLROnPlateau)"
            )
        backend = keras.backend.backend()
        if backend not in SUPPORTED_BACKENDS:
            raise ValueError(
                f"KerasSchedule: the Keras backend is {backend!r}; lrkit evaluates schedules on "
                f"the {', '.join(SUPPORTED_BACKENDS)} backends (set KERAS_BACKEND)"
            )
        self.schedule = s

    def __call__(self, step: Any) -> Any:
        """The learning rate for the update after ``step`` updates: ``schedule(step)``."""
        t = keras.ops.convert_to_tensor(step)
        return keras.ops.cast(self.schedule(t), keras.backend.floatx())

    def get_config(self) -> dict[str, Any]:
        """``{"schedule": canonical spec string}``; ``from_config`` parses it back."""
        return {"schedule": str(self.schedule)}

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> KerasSchedule:
        if not isinstance(config, Mapping) or "schedule" not in config:
            raise ValueError(
                f"KerasSchedule.from_config: expected a dict with key 'schedule'; got {config!r}"
            )
        return cls(config["schedule"])

    def __repr__(self) -> str:
        return f"KerasSchedule({str(self.schedule)!r})"


__all__ = ["SUPPORTED_BACKENDS", "KerasSchedule", "as_schedule"]
