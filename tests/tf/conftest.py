"""Set-up for tests/tf/: TensorFlow tensors as an lrkit array family, Keras 3 on the tensorflow
backend, legacy tf_keras. They run in a pytest process of their own (``KERAS_BACKEND=tensorflow
pytest tests/tf``, the second run of scripts/test.sh): Keras picks its backend once per process.

Two logical CPU devices are configured before TensorFlow runs anything, so that
``tf.distribute.MirroredStrategy`` has two replicas on a CPU-only machine."""

from __future__ import annotations

import os
import sys

import pytest

if "keras" in sys.modules and os.environ.get("KERAS_BACKEND") != "tensorflow":
    raise pytest.UsageError(
        "tests/tf needs Keras on the tensorflow backend, but keras is already imported with "
        f"KERAS_BACKEND={os.environ.get('KERAS_BACKEND')!r}: run "
        "`KERAS_BACKEND=tensorflow pytest tests/tf` in a process of its own"
    )
os.environ["KERAS_BACKEND"] = "tensorflow"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # no oneDNN / XLA banner on every worker

tf = pytest.importorskip("tensorflow")

_cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(
    _cpu, [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()]
)
