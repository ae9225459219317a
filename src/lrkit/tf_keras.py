"""Legacy Keras 2 (``tf_keras``, what ``tf.keras`` is under ``TF_USE_LEGACY_KERAS=1``):
``KerasSchedule`` as a ``tf_keras`` ``LearningRateSchedule`` and ``ScheduleCallback``.

    import tf_keras, lrkit as lk
    from lrkit.tf_keras import KerasSchedule

    lr = KerasSchedule(3e-4 * lk.warmup(lk.cosine(9000), 1000))     # or a spec string
    model.compile(optimizer=tf_keras.optimizers.AdamW(learning_rate=lr), loss=...)

The schedule is evaluated on TensorFlow tensors at the optimizer's iteration count (the first
update uses ``s(0)``); ``get_config`` stores the canonical spec string, so the optimizer,
``model.save`` (``.keras``, ``.h5``) and ``tf_keras.optimizers.schedules.serialize`` round-trip
once this module is imported. Keras 3 users want ``lrkit.keras``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lrkit._extras import require

tf_keras: Any = require("tf_keras", "tf-keras")  # tf-keras pulls in tensorflow

import tensorflow as tf  # noqa: E402

from lrkit._keras_common import (  # noqa: E402
    ScheduleDriver,
    schedule_from_config,
    spec_config,
    stateless_schedule,
)
from lrkit.schedules._base import Schedule  # noqa: E402

__all__ = ["KerasSchedule", "ScheduleCallback"]

_LearningRateSchedule: Any = tf_keras.optimizers.schedules.LearningRateSchedule


@tf_keras.saving.register_keras_serializable(package="lrkit")
class KerasSchedule(_LearningRateSchedule):  # type: ignore[misc]
    """A ``tf_keras`` learning-rate schedule that evaluates an lrkit schedule at the optimizer's
    iteration count.

    ``schedule`` is an lrkit schedule (absolute: multiply a unitless schedule by the base rate),
    a spec string, or a dict from ``Schedule.to_dict()``. A schedule containing ``plateau`` is
    rejected with a ``ValueError``: use ``ScheduleCallback``.
    """

    def __init__(self, schedule: Schedule | str | Mapping[str, Any]) -> None:
        super().__init__()
        self.schedule = stateless_schedule(schedule, "lrkit.tf_keras", "tf_keras")

    def __call__(self, step: Any) -> Any:
        """The learning rate for the update after ``step`` updates, in ``floatx()``."""
        with tf.name_scope("lrkit_schedule"):
            rate = self.schedule(tf.convert_to_tensor(step))
            return tf.cast(rate, tf_keras.backend.floatx())

    def get_config(self) -> dict[str, Any]:
        """``{"schedule": canonical spec string}``; ``from_config`` parses it back."""
        return spec_config(self.schedule)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> KerasSchedule:
        return cls(schedule_from_config(config))

    def __repr__(self) -> str:
        return f"KerasSchedule({str(self.schedule)!r})"


# tf_keras reads an .h5 file's optimizer config by the bare class name, not the registered
# "lrkit>KerasSchedule": make that name known too, unless something else already holds it.
tf_keras.saving.get_custom_objects().setdefault("KerasSchedule", KerasSchedule)


class ScheduleCallback(ScheduleDriver, tf_keras.callbacks.Callback):  # type: ignore[misc]
    """Drives any lrkit schedule, ``plateau`` included, from ``tf_keras`` ``model.fit``: the
    same as ``lrkit.keras.ScheduleCallback`` (the optimizer needs a float learning rate; before
    each batch it is set to ``stepper.value()``; ``logs[monitor]`` is reported each epoch)."""

    _schedule_types = (_LearningRateSchedule,)

    def __init__(
        self,
        schedule: Schedule | str | Mapping[str, Any],
        monitor: str = "val_loss",
        steps_per_epoch: int | None = None,
        eps: float = 0.0,
    ) -> None:
        super().__init__()
        self._setup(schedule, monitor, steps_per_epoch, eps)
