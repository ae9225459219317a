"""Keras 3 integration: ``KerasSchedule``, an lrkit schedule as a Keras ``LearningRateSchedule``.

    import keras, lrkit as lk
    from lrkit.keras import KerasSchedule

    lr = KerasSchedule(3e-4 * lk.warmup(lk.cosine(9000), 1000))     # or a spec string
    model.compile(optimizer=keras.optimizers.AdamW(learning_rate=lr), loss=...)

Keras calls the schedule with ``optimizer.iterations``, the number of updates already applied,
which is lrkit's ``t``: the first update uses ``s(0)``. The formula runs on the backend's own
arrays (jax, torch or numpy), traced into the compiled train step. ``get_config`` stores the
canonical spec string, so ``model.save(...)``/``keras.models.load_model`` and
``keras.saving.serialize_keras_object``/``deserialize_keras_object`` round-trip.

Importing this module imports keras; ``import lrkit`` alone does not. When Keras would use
tensorflow (no ``KERAS_BACKEND``, and ``~/.keras/keras.json`` absent or naming tensorflow) but
tensorflow is not installed, it selects the jax backend (else torch) before importing keras.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lrkit._extras import require


def _default_backend() -> None:
    """Pick a backend lrkit supports when the configured one is tensorflow and it is absent.

    Keras 3 defaults to tensorflow (and writes that into ``~/.keras/keras.json`` on its first
    import), whose tensors lrkit does not evaluate. If ``KERAS_BACKEND`` is unset, the config
    file names no backend or tensorflow, and tensorflow is not installed, this sets
    ``KERAS_BACKEND`` to the first installed of jax and torch before keras is imported. Any
    other explicit choice (the variable, another backend in the config, keras already
    imported) is left alone.
    """
    import importlib.util
    import json
    import os
    import sys

    if "keras" in sys.modules or os.environ.get("KERAS_BACKEND"):
        return
    home = os.environ.get("KERAS_HOME", os.path.expanduser("~/.keras"))
    try:
        with open(os.path.join(home, "keras.json"), encoding="utf-8") as f:
            configured = json.load(f).get("backend", "tensorflow")
    except (OSError, ValueError, AttributeError):
        configured = "tensorflow"
    if configured != "tensorflow" or importlib.util.find_spec("tensorflow") is not None:
        return
    for backend in ("jax", "torch"):
        if importlib.util.find_spec(backend) is not None:
            os.environ["KERAS_BACKEND"] = backend
            return


_default_backend()
keras = require("keras", "keras")

import math  # noqa: E402
import warnings  # noqa: E402

from lrkit.schedules._base import Schedule  # noqa: E402
from lrkit.spec import from_dict, parse  # noqa: E402
from lrkit.stepper import Stepper  # noqa: E402

SUPPORTED_BACKENDS = ("jax", "torch", "numpy")
"""Backends whose native arrays lrkit evaluates (tensorflow tensors are not an lrkit family)."""


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


__all__ = ["SUPPORTED_BACKENDS", "KerasSchedule", "ScheduleCallback", "as_schedule"]
