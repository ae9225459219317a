"""Keras 3 integration: ``KerasSchedule``, an lrkit schedule as a Keras ``LearningRateSchedule``;
``ScheduleCallback`` (any schedule, plateau included, driven from ``fit``); ``find_lr``, the LR
range test of ``lrkit.rangetest`` for a compiled model.

    import keras, lrkit as lk
    from lrkit.keras import KerasSchedule

    lr = KerasSchedule(3e-4 * lk.warmup(lk.cosine(9000), 1000))     # or a spec string
    model.compile(optimizer=keras.optimizers.AdamW(learning_rate=lr), loss=...)

Keras calls the schedule with ``optimizer.iterations``, the number of updates already applied,
which is lrkit's ``t``: the first update uses ``s(0)``. The formula runs on the backend's own
tensors (tensorflow, jax, torch or numpy), traced into the compiled train step. ``get_config``
stores the canonical spec string, so ``model.save(...)``/``keras.models.load_model`` and
``keras.saving.serialize_keras_object``/``deserialize_keras_object`` round-trip.

Importing this module imports keras; ``import lrkit`` alone does not. When Keras would use
tensorflow (no ``KERAS_BACKEND``, and ``~/.keras/keras.json`` absent or naming tensorflow) but
tensorflow is not installed, it selects the jax backend (else torch) before importing keras.
For legacy Keras 2 (``tf_keras``, ``TF_USE_LEGACY_KERAS=1``) use ``lrkit.tf_keras``.
"""

from __future__ import annotations

from lrkit._extras import require
from lrkit.keras._backend import _default_backend

_default_backend()
require("keras", "keras")

from lrkit.keras.callback import ScheduleCallback  # noqa: E402
from lrkit.keras.rangetest import find_lr  # noqa: E402
from lrkit.keras.schedule import SUPPORTED_BACKENDS, KerasSchedule, as_schedule  # noqa: E402
from lrkit.rangetest import RangeTestResult  # noqa: E402

__all__ = [
    "SUPPORTED_BACKENDS",
    "KerasSchedule",
    "RangeTestResult",
    "ScheduleCallback",
    "as_schedule",
    "find_lr",
]
