"""lrkit.keras on Keras 3's tensorflow backend: the Keras tests of the jax run (imported below,
collected here) plus what only TensorFlow has: XLA train steps, a ``tf.GradientTape`` loop inside
``tf.function``, ``tf.distribute.MirroredStrategy``, and a ``fit`` that ends with the same
weights as the same ``fit`` with Keras' own equivalent schedule."""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")

# The backend-independent Keras tests, run again on this backend (pytest collects the names).
from test_keras import (  # noqa: E402, F401
    BASE,
    SCHEDULE,
    RecordRates,
    _tiny_model,
    reference,
    test_bad_input_is_a_value_error,
    test_exact_boundaries_in_the_compiled_train_step,
    test_get_config_round_trip,
    test_is_a_keras_learning_rate_schedule,
    test_keras_serialize_deserialize,
    test_model_save_and_load_model,
    test_schedule_callback_drives_a_plateau_in_model_fit,
    test_schedule_callback_refuses_a_schedule_learning_rate,
    test_spec_string_and_dict_constructors,
    test_trains_in_model_fit_with_the_schedule_rates,
)

import lrkit as lk  # noqa: E402
from lrkit.keras import KerasSchedule, ScheduleCallback  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


def test_the_backend_is_tensorflow() -> None:
    assert keras.backend.backend() == "tensorflow"
    # since TF 2.16 tf.keras is Keras 3: the same schedule class
    assert issubclass(KerasSchedule, tf.keras.optimizers.schedules.LearningRateSchedule)
    lr = KerasSchedule(SCHEDULE)(tf.constant(5, tf.int64))
    assert isinstance(lr, tf.Tensor) and lr.dtype == tf.float32
    assert float(lr) == pytest.approx(reference(5), rel=1e-6)


def _weight(model: Any) -> float:
    return float(model.get_weights()[0].ravel()[0])


def test_fit_with_an_xla_train_step_lands_boundaries_exactly() -> None:
    """jit_compile=True (Keras leaves XLA off on a CPU-only machine by default): step_decay(41),
    where XLA's float32 t / 41 is inexact at t = 41, drops exactly at multiples of 41."""
    model = _tiny_model(KerasSchedule(0.05 * lk.step_decay(41, gamma=0.5)))
    model.compile(optimizer=model.optimizer, loss=model.loss, jit_compile=True)
    rec = RecordRates()
    x = np.ones((84, 1), dtype="float32")
    model.fit(x, x, batch_size=1, epochs=1, shuffle=False, verbose=0, callbacks=[rec])
    want = [0.05 * 0.5 ** (k // 41) for k in range(84)]
    np.testing.assert_allclose(rec.rates, want, rtol=1e-7)
    steps = -np.diff([*rec.weights, _weight(model)])  # gradient 1: each update moves w by -lr
    np.testing.assert_allclose(steps, want, rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("jit", [False, True], ids=["tf.function", "XLA"])
def test_gradient_tape_loop_inside_tf_function(jit: bool) -> None:
    """The seed's four steps in a custom loop: an optimizer, a schedule, a train step under
    ``tf.function`` that applies gradients (and so advances ``iterations``), and
    ``optimizer.learning_rate`` read as the rate of the next update."""
    model = keras.Sequential(
        [keras.Input(shape=(1,)), keras.layers.Dense(1, use_bias=False, kernel_initializer="zeros")]
    )
    optimizer = keras.optimizers.SGD(learning_rate=KerasSchedule(SCHEDULE))
    x = tf.ones((1, 1))

    @tf.function(jit_compile=jit)
    def train_step() -> Any:
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(model(x))  # d loss / d w = 1
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))
        return loss

    rates, weights = [], []
    for _ in range(20):
        rates.append(float(optimizer.learning_rate))
        weights.append(_weight(model))
        train_step()
    want = [reference(k) for k in range(20)]
    assert int(optimizer.iterations) == 20
    np.testing.assert_allclose(rates, want, rtol=2e-6)
    np.testing.assert_allclose(-np.diff([*weights, _weight(model)]), want, rtol=1e-5, atol=1e-8)


def _mlp_fit(lr: Any, jit: bool) -> list[np.ndarray]:
    """A small regression MLP trained with Adam: the same data and initial weights every call."""
    keras.utils.set_random_seed(7)
    rng = np.random.default_rng(7)
    x = rng.normal(size=(96, 4)).astype("float32")
    y = (x @ np.array([[1.0], [-2.0], [0.5], [3.0]]) + 0.1 * rng.normal(size=(96, 1))).astype(
        "float32"
    )
    model = keras.Sequential(
        [keras.Input(shape=(4,)), keras.layers.Dense(8, activation="tanh"), keras.layers.Dense(1)]
    )
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=lr), loss="mse", jit_compile=jit)
    model.fit(x, y, batch_size=8, epochs=5, shuffle=False, verbose=0)  # 60 updates
    assert int(model.optimizer.iterations) == 60
    return [np.asarray(w) for w in model.get_weights()]


@pytest.mark.parametrize("jit", [False, True], ids=["tf.function", "XLA"])
def test_fit_ends_with_the_weights_of_keras_own_schedule(jit: bool) -> None:
    """The seed's recipe, warmup 1e-7 -> 1e-2 then cosine: lrkit's schedule and Keras'
    CosineDecay(warmup_target=...) train the same model to the same weights."""
    ours = KerasSchedule(lk.warmup(lk.cosine(45, start=1e-2, end=1e-4), 15, start=1e-7))
    theirs = keras.optimizers.schedules.CosineDecay(
        1e-7, decay_steps=45, alpha=1e-2, warmup_target=1e-2, warmup_steps=15
    )
    a, b = _mlp_fit(ours, jit), _mlp_fit(theirs, jit)
    for wa, wb in zip(a, b, strict=True):
        np.testing.assert_allclose(wa, wb, rtol=1e-5, atol=1e-6)
    # and the schedule matters: a constant rate ends elsewhere
    c = _mlp_fit(1e-2, jit)
    assert max(float(np.max(np.abs(wa - wc))) for wa, wc in zip(a, c, strict=True)) > 1e-3


@functools.cache
def _strategy() -> Any:
    """One two-replica strategy for the whole process: two MirroredStrategy objects in one
    process reuse collective instance keys, and all-reduces of different shapes then abort
    (TensorFlow's behaviour, without lrkit too)."""
    devices = [d.name for d in tf.config.list_logical_devices("CPU")]
    assert len(devices) >= 2, "tests/tf/conftest.py configures two logical CPU devices"
    return tf.distribute.MirroredStrategy(devices[:2])


def _strategy_fit(lr: Any, callbacks: list[Any], epochs: int = 1) -> Any:
    """The tiny model (gradient 1 per sample) under a two-replica MirroredStrategy, one sample
    per replica and step."""
    strategy = _strategy()
    assert strategy.num_replicas_in_sync == 2
    with strategy.scope():
        model = _tiny_model(lr)
    x = np.ones((24 // epochs, 1), dtype="float32")
    model.fit(x, x, batch_size=2, epochs=epochs, shuffle=False, verbose=0, callbacks=callbacks)
    return model


def _proportional(steps: np.ndarray, rates: list[float]) -> None:
    """Each update moved w by the same multiple of the rate (Keras' cross-replica gradient
    aggregation fixes the multiple; the schedule fixes the rate)."""
    ratio = steps / np.asarray(rates)
    np.testing.assert_allclose(ratio, ratio[0], rtol=1e-5)
    assert ratio[0] == pytest.approx(1.0, rel=1e-5) or ratio[0] == pytest.approx(2.0, rel=1e-5)


def test_mirrored_strategy_fit() -> None:
    rec = RecordRates()
    model = _strategy_fit(KerasSchedule(SCHEDULE), [rec])
    want = [reference(k) for k in range(12)]
    np.testing.assert_allclose(rec.rates, want, rtol=2e-6)
    _proportional(-np.diff([*rec.weights, _weight(model)]), want)
    # the oracle: Keras' own warmup + cosine under the same strategy ends at the same weight
    keras_own = keras.optimizers.schedules.CosineDecay(
        0.1 * BASE, decay_steps=12, alpha=0.0, warmup_target=BASE, warmup_steps=4
    )
    assert _weight(model) == pytest.approx(_weight(_strategy_fit(keras_own, [])), rel=1e-6)


def test_mirrored_strategy_custom_loop() -> None:
    strategy = _strategy()
    with strategy.scope():
        model = keras.Sequential(
            [
                keras.Input(shape=(1,)),
                keras.layers.Dense(1, use_bias=False, kernel_initializer="zeros"),
            ]
        )
        optimizer = keras.optimizers.SGD(learning_rate=KerasSchedule(SCHEDULE))
    data = strategy.experimental_distribute_dataset(
        tf.data.Dataset.from_tensor_slices(tf.ones((20, 1))).batch(2)
    )

    def replica_step(x: Any) -> None:
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(model(x)) / 2.0  # mean over the global batch of 2
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))

    @tf.function
    def train_step(x: Any) -> None:
        strategy.run(replica_step, args=(x,))

    for batch in data:
        train_step(batch)
    assert int(optimizer.iterations.numpy()) == 10
    # each replica's gradient is 1/2, summed over the two replicas: 1 per update
    assert _weight(model) == pytest.approx(-sum(reference(k) for k in range(10)), rel=1e-5)


def test_mirrored_strategy_plateau_callback() -> None:
    sched = BASE * lk.plateau(factor=0.5, patience=0, mode="max")
    cb = ScheduleCallback(sched, monitor="loss")
    rec = RecordRates()
    model = _strategy_fit(0.0, [cb, rec], epochs=4)  # 3 steps per epoch
    # the loss (= w) falls every epoch, never an improvement in mode "max": a halving per epoch
    # from the second report on
    want = [BASE] * 6 + [BASE / 2] * 3 + [BASE / 4] * 3
    np.testing.assert_allclose(rec.rates, want, rtol=1e-6)
    _proportional(-np.diff([*rec.weights, _weight(model)]), want)
    assert cb.stepper.count == 12
