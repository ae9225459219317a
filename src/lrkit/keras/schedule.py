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

from lrkit._keras_common import (
    as_schedule,
    schedule_from_config,
    spec_config,
    stateless_schedule,
)
from lrkit.schedules._base import Schedule

SUPPORTED_BACKENDS = ("tensorflow", "jax", "torch", "numpy")
"""Keras backends whose native tensors are lrkit array families."""


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
        s = stateless_schedule(schedule, "lrkit.keras", "keras")
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
        return spec_config(self.schedule)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> KerasSchedule:
        return cls(schedule_from_config(config))

    def __repr__(self) -> str:
        return f"KerasSchedule({str(self.schedule)!r})"


__all__ = ["SUPPORTED_BACKENDS", "KerasSchedule", "as_schedule"]
