"""lrkit.tf_keras: the schedule as a legacy Keras 2 (tf_keras) LearningRateSchedule, with the
new and the legacy optimizers, serialisation, save/load, a GradientTape loop, the callback
(plateau), ``TF_USE_LEGACY_KERAS=1``, and the polite failure without tf_keras."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from test_keras import BASE, SCHEDULE, reference

import lrkit as lk

tf = pytest.importorskip("tensorflow")
tf_keras = pytest.importorskip("tf_keras")

from lrkit.tf_keras import KerasSchedule, ScheduleCallback  # noqa: E402

OPTIMIZERS = {
    "optimizers.SGD": lambda lr: tf_keras.optimizers.SGD(learning_rate=lr),
    "optimizers.legacy.SGD": lambda lr: tf_keras.optimizers.legacy.SGD(learning_rate=lr),
}


@tf_keras.saving.register_keras_serializable(package="lrkit_tests")
def mean_output(y_true: Any, y_pred: Any) -> Any:
    return tf.reduce_mean(y_pred)


def tiny_model(optimizer: Any) -> Any:
    """y = w * x with x = 1 and loss = mean(y): the gradient is exactly 1, so SGD moves w by -lr
    at every update, which exposes the rate the optimizer really applied."""
    model = tf_keras.Sequential(
        [
            tf_keras.Input(shape=(1,)),
            tf_keras.layers.Dense(1, use_bias=False, kernel_initializer="zeros"),
        ]
    )
    model.compile(optimizer=optimizer, loss=mean_output)
    return model


class RecordWeights(tf_keras.callbacks.Callback):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__()
        self.weights: list[float] = []

    def on_train_batch_begin(self, batch: int, logs: Any = None) -> None:
        self.weights.append(weight(self.model))


def weight(model: Any) -> float:
    return float(model.get_weights()[0].ravel()[0])


def applied_rates(model: Any, rec: RecordWeights) -> np.ndarray:
    return -np.diff([*rec.weights, weight(model)])


def test_is_a_tf_keras_learning_rate_schedule() -> None:
    ks = KerasSchedule(SCHEDULE)
    assert isinstance(ks, tf_keras.optimizers.schedules.LearningRateSchedule)
    for t in [0, 1, 3, 4, 5, 10, 16, 40]:
        out = ks(tf.constant(t, tf.int64))
        assert out.dtype == tf.float32
        assert float(out) == pytest.approx(reference(t), rel=1e-6)
    assert float(ks(tf.Variable(5, dtype=tf.int64))) == pytest.approx(reference(5), rel=1e-6)
    assert float(ks(5.0)) == pytest.approx(reference(5), rel=1e-6)  # legacy optimizers cast


def test_constructors_and_bad_input() -> None:
    assert KerasSchedule("0.05 * warmup(cosine(steps=12), steps=4, start=0.1)").schedule == SCHEDULE
    assert KerasSchedule(SCHEDULE.to_dict()).schedule == SCHEDULE
    with pytest.raises(ValueError, match="schedule must be"):
        KerasSchedule(0.1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"lrkit\.tf_keras\.ScheduleCallback.*tf_keras\.callbacks"):
        KerasSchedule(lk.warmup(lk.plateau(), 10))
    with pytest.raises(ValueError, match="schedule"):
        KerasSchedule.from_config({})
    with pytest.raises(ValueError, match="monitor"):
        ScheduleCallback(lk.plateau(), monitor="")


def test_serialisation_round_trips() -> None:
    ks = KerasSchedule(SCHEDULE)
    assert ks.get_config() == {"schedule": str(SCHEDULE)}
    assert KerasSchedule.from_config(ks.get_config()).schedule == SCHEDULE
    data = tf_keras.optimizers.schedules.serialize(ks)
    assert data["registered_name"] == "lrkit>KerasSchedule"
    back = tf_keras.optimizers.schedules.deserialize(data)
    assert isinstance(back, KerasSchedule) and back.schedule == SCHEDULE
    back2 = tf_keras.saving.deserialize_keras_object(tf_keras.saving.serialize_keras_object(ks))
    assert isinstance(back2, KerasSchedule) and back2.schedule == SCHEDULE
    opt = tf_keras.optimizers.Adam.from_config(tf_keras.optimizers.Adam(ks).get_config())
    assert opt._learning_rate.schedule == SCHEDULE


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_fit_applies_the_schedule(name: str) -> None:
    model = tiny_model(OPTIMIZERS[name](KerasSchedule(SCHEDULE)))
    rec = RecordWeights()
    x = np.ones((20, 1), dtype="float32")
    model.fit(x, x, batch_size=1, epochs=1, shuffle=False, verbose=0, callbacks=[rec])
    np.testing.assert_allclose(
        applied_rates(model, rec), [reference(k) for k in range(20)], rtol=1e-5, atol=1e-8
    )


@pytest.mark.filterwarnings("ignore:You are saving your model as an HDF5 file")
@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
@pytest.mark.parametrize("fmt", ["keras", "h5"])
def test_model_save_and_load_model(name: str, fmt: str, tmp_path: Path) -> None:
    """The schedule comes back from either format; so does the iteration count, and training
    resumes on the same curve, except for a legacy optimizer in the .keras format, whose
    iterations tf_keras does not restore (0 after loading, with its own schedules too)."""
    model = tiny_model(OPTIMIZERS[name](KerasSchedule(SCHEDULE)))
    x = np.ones((6, 1), dtype="float32")
    model.fit(x, x, batch_size=1, epochs=1, verbose=0)
    path = tmp_path / f"model.{fmt}"
    model.save(path)
    loaded = tf_keras.models.load_model(path)  # no custom_objects: importing lrkit.tf_keras does
    opt = loaded.optimizer
    lr = getattr(opt, "_learning_rate", None) or opt._get_hyper("learning_rate")
    assert isinstance(lr, KerasSchedule) and lr.schedule == SCHEDULE
    if "legacy" in name and fmt == "keras":
        return
    assert int(opt.iterations.numpy()) == 6
    rec = RecordWeights()
    loaded.fit(x[:4], x[:4], batch_size=1, epochs=1, shuffle=False, verbose=0, callbacks=[rec])
    want = [reference(k) for k in range(6, 10)]
    np.testing.assert_allclose(applied_rates(loaded, rec), want, rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("jit", [False, True], ids=["tf.function", "XLA"])
def test_gradient_tape_loop_inside_tf_function(jit: bool) -> None:
    model = tf_keras.Sequential(
        [
            tf_keras.Input(shape=(1,)),
            tf_keras.layers.Dense(1, use_bias=False, kernel_initializer="zeros"),
        ]
    )
    optimizer = tf_keras.optimizers.SGD(learning_rate=KerasSchedule(SCHEDULE), jit_compile=jit)
    x = tf.ones((1, 1))

    @tf.function(jit_compile=jit)
    def train_step() -> None:
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(model(x))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))

    weights = []
    for _ in range(20):
        weights.append(weight(model))
        train_step()
    want = [reference(k) for k in range(20)]
    np.testing.assert_allclose(-np.diff([*weights, weight(model)]), want, rtol=1e-5, atol=1e-8)
    # tf_keras' optimizer.learning_rate is the rate of the update just applied: s(iterations - 1)
    assert float(optimizer.learning_rate) == pytest.approx(reference(19), rel=1e-6)


def _mlp_fit(lr: Any) -> list[np.ndarray]:
    tf_keras.utils.set_random_seed(3)
    rng = np.random.default_rng(3)
    x = rng.normal(size=(64, 3)).astype("float32")
    y = (x @ np.array([[2.0], [-1.0], [0.5]])).astype("float32")
    model = tf_keras.Sequential(
        [
            tf_keras.Input(shape=(3,)),
            tf_keras.layers.Dense(8, activation="tanh"),
            tf_keras.layers.Dense(1),
        ]
    )
    model.compile(optimizer=tf_keras.optimizers.Adam(learning_rate=lr), loss="mse")
    model.fit(x, y, batch_size=8, epochs=5, shuffle=False, verbose=0)  # 40 updates
    return [np.asarray(w) for w in model.get_weights()]


def test_fit_ends_with_the_weights_of_tf_keras_own_schedule() -> None:
    ours = KerasSchedule(lk.warmup(lk.cosine(30, start=1e-2, end=1e-4), 10, start=1e-7))
    theirs = tf_keras.optimizers.schedules.CosineDecay(
        1e-7, decay_steps=30, alpha=1e-2, warmup_target=1e-2, warmup_steps=10
    )
    for wa, wb in zip(_mlp_fit(ours), _mlp_fit(theirs), strict=True):
        np.testing.assert_allclose(wa, wb, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_schedule_callback_drives_a_plateau(name: str) -> None:
    sched = BASE * lk.warmup(lk.plateau(factor=0.5, patience=0, mode="max"), 1)
    model = tiny_model(OPTIMIZERS[name](0.0))
    cb = ScheduleCallback(sched, monitor="loss", steps_per_epoch=4)
    rec = RecordWeights()
    x = np.ones((4, 1), dtype="float32")
    model.fit(x, x, batch_size=1, epochs=5, shuffle=False, verbose=0, callbacks=[cb, rec])
    # epoch 0 ramps 0 -> BASE; the loss (= w) falls every epoch, which in mode "max" is never an
    # improvement after the first report: one halving per epoch from epoch 2
    want = [0.0, BASE / 4, BASE / 2, 3 * BASE / 4] + [BASE] * 4 + [BASE / 2] * 4 + [
        BASE / 4
    ] * 4 + [BASE / 8] * 4
    np.testing.assert_allclose(applied_rates(model, rec), want, rtol=1e-5, atol=1e-8)
    assert cb.stepper.count == 20


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_schedule_callback_refuses_a_schedule_learning_rate(name: str) -> None:
    model = tiny_model(OPTIMIZERS[name](KerasSchedule(SCHEDULE)))
    x = np.ones((2, 1), dtype="float32")
    with pytest.raises(ValueError, match="float"):
        model.fit(x, x, epochs=1, verbose=0, callbacks=[ScheduleCallback(lk.plateau(), "loss")])


LEGACY_SCRIPT = """
import numpy as np, tensorflow as tf, tf_keras, lrkit as lk
from lrkit.tf_keras import KerasSchedule
assert tf.keras is tf_keras or tf.keras.__name__.startswith("tf_keras"), tf.keras
m = tf.keras.Sequential([tf.keras.Input(shape=(1,)),
                         tf.keras.layers.Dense(1, use_bias=False, kernel_initializer="zeros")])
m.compile(optimizer=tf.keras.optimizers.SGD(KerasSchedule(0.05 * lk.step_decay(3, gamma=0.5))),
          loss=lambda a, b: tf.reduce_mean(b))
x = np.ones((7, 1), "float32")
m.fit(x, x, batch_size=1, epochs=1, shuffle=False, verbose=0)
print(float(m.get_weights()[0].ravel()[0]))
"""


@pytest.mark.slow
def test_tf_use_legacy_keras() -> None:
    """``TF_USE_LEGACY_KERAS=1``: tf.keras is tf_keras, and its optimizers take the schedule."""
    env = {**os.environ, "TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}
    out = subprocess.run(
        [sys.executable, "-c", LEGACY_SCRIPT], capture_output=True, text=True, env=env, timeout=300
    )
    assert out.returncode == 0, out.stderr[-3000:]
    want = -sum(0.05 * 0.5 ** (k // 3) for k in range(7))
    assert float(out.stdout.strip().splitlines()[-1]) == pytest.approx(want, rel=1e-6)


def test_missing_tf_keras_fails_politely() -> None:
    code = (
        "import sys\n"
        "class Hide:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'tf_keras' or name.startswith('tf_keras.'):\n"
        "            raise ModuleNotFoundError(f'No module named {name!r}', name=name)\n"
        "sys.meta_path.insert(0, Hide())\n"
        "try:\n"
        "    import lrkit.tf_keras\n"
        "except ImportError as e:\n"
        "    print(e)\n"
        "print('tensorflow' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.strip().splitlines()
    assert "pip install 'lrkit[tf-keras]'" in lines[0], lines
    assert lines[1] == "False"  # failed before importing TensorFlow
