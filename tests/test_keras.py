"""lrkit.keras.KerasSchedule: Keras' schedule protocol, serialisation, and training in model.fit."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "jax")
keras = pytest.importorskip("keras")
import lrkit as lk  # noqa: E402
from lrkit.keras import KerasSchedule  # noqa: E402

BASE = 0.05

# Keras' own variables trip numpy 2's __array__(copy=...) deprecation; not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


def warmup_cosine_reference(t: float, warmup: int, steps: int, start: float) -> float:
    """warmup(cosine(steps), warmup, start) written out from its definition."""
    if t < warmup:
        return start + (1.0 - start) * t / warmup
    u = min(t - warmup, steps)
    return 0.5 * (1.0 + math.cos(math.pi * u / steps))


SCHEDULE = BASE * lk.warmup(lk.cosine(12), 4, start=0.1)


def reference(t: float) -> float:
    return BASE * warmup_cosine_reference(t, 4, 12, 0.1)


def test_is_a_keras_learning_rate_schedule() -> None:
    ks = KerasSchedule(SCHEDULE)
    assert isinstance(ks, keras.optimizers.schedules.LearningRateSchedule)
    for t in [0, 1, 3, 4, 5, 10, 16, 40]:
        assert float(ks(t)) == pytest.approx(reference(t), rel=1e-6)


def test_spec_string_and_dict_constructors() -> None:
    text = "0.05 * warmup(cosine(steps=12), steps=4, start=0.1)"
    assert KerasSchedule(text).schedule == SCHEDULE
    assert KerasSchedule(SCHEDULE.to_dict()).schedule == SCHEDULE


def test_bad_input_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="schedule must be"):
        KerasSchedule(0.1)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        KerasSchedule("cosine(steps=")  # a spec error names the column
    with pytest.raises(ValueError, match="ReduceLROnPlateau"):
        KerasSchedule(lk.warmup(lk.plateau(), 10))


def test_get_config_round_trip() -> None:
    ks = KerasSchedule(SCHEDULE)
    config = ks.get_config()
    assert config == {"schedule": str(SCHEDULE)}
    back = KerasSchedule.from_config(config)
    assert back.schedule == SCHEDULE
    with pytest.raises(ValueError, match="schedule"):
        KerasSchedule.from_config({})


def test_keras_serialize_deserialize() -> None:
    ks = KerasSchedule(SCHEDULE)
    data = keras.saving.serialize_keras_object(ks)
    assert data["registered_name"] == "lrkit>KerasSchedule"
    back = keras.saving.deserialize_keras_object(data)
    assert isinstance(back, KerasSchedule) and back.schedule == SCHEDULE
    back2 = keras.optimizers.schedules.deserialize(keras.optimizers.schedules.serialize(ks))
    assert back2.schedule == SCHEDULE


@keras.saving.register_keras_serializable(package="lrkit_tests")
def mean_output(y_true: object, y_pred: object) -> object:
    return keras.ops.mean(y_pred)


def _tiny_model(lr: object) -> object:
    """y = w * x with x = 1 and loss = mean(y): the gradient is exactly 1, so plain SGD moves
    w by -lr at every update, which exposes the rate Keras really applied."""
    model = keras.Sequential(
        [keras.Input(shape=(1,)), keras.layers.Dense(1, use_bias=False, kernel_initializer="zeros")]
    )
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=lr),
        loss=mean_output,
    )
    return model


class RecordRates(keras.callbacks.Callback):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__()
        self.rates: list[float] = []
        self.weights: list[float] = []

    def on_train_batch_begin(self, batch: int, logs: object = None) -> None:
        lr = self.model.optimizer.learning_rate
        self.rates.append(float(keras.ops.convert_to_numpy(lr)))
        self.weights.append(float(self.model.get_weights()[0].ravel()[0]))


def test_trains_in_model_fit_with_the_schedule_rates() -> None:
    model = _tiny_model(KerasSchedule(SCHEDULE))
    rec = RecordRates()
    x = np.ones((20, 1), dtype="float32")
    model.fit(x, x, batch_size=1, epochs=1, shuffle=False, verbose=0, callbacks=[rec])  # type: ignore[attr-defined]
    want = [reference(k) for k in range(20)]
    np.testing.assert_allclose(rec.rates, want, rtol=2e-6)
    # the rate the optimizer applied: w_{k+1} - w_k = -lr_k (gradient 1)
    final = float(model.get_weights()[0].ravel()[0])  # type: ignore[attr-defined]
    steps = -np.diff([*rec.weights, final])
    np.testing.assert_allclose(steps, want, rtol=1e-5, atol=1e-7)


def test_model_save_and_load_model(tmp_path: Path) -> None:
    model = _tiny_model(KerasSchedule(SCHEDULE))
    x = np.ones((6, 1), dtype="float32")
    model.fit(x, x, batch_size=1, epochs=1, verbose=0)  # type: ignore[attr-defined]
    path = tmp_path / "model.keras"
    model.save(path)  # type: ignore[attr-defined]
    loaded = keras.models.load_model(path)
    lr = loaded.optimizer._learning_rate
    assert isinstance(lr, KerasSchedule) and lr.schedule == SCHEDULE
    assert int(keras.ops.convert_to_numpy(loaded.optimizer.iterations)) == 6
    lr_now = float(keras.ops.convert_to_numpy(loaded.optimizer.learning_rate))
    assert lr_now == pytest.approx(reference(6), rel=1e-6)


def test_exact_boundaries_in_the_compiled_train_step() -> None:
    """step_decay under Keras' jitted train step: the drop lands on the multiple of step_size
    (41 is a size for which XLA's float32 t / 41 is inexact at t = 41)."""
    model = _tiny_model(KerasSchedule(lk.step_decay(41, gamma=0.5)))
    rec = RecordRates()
    x = np.ones((84, 1), dtype="float32")
    model.fit(x, x, batch_size=1, epochs=1, shuffle=False, verbose=0, callbacks=[rec])  # type: ignore[attr-defined]
    assert rec.rates == [0.5 ** (k // 41) for k in range(84)]


def test_import_lrkit_imports_no_framework() -> None:
    code = (
        "import sys, lrkit\n"
        "s = lrkit.warmup(lrkit.cosine(100), 10)\n"
        "s(5); str(s); lrkit.parse(str(s))\n"
        "bad = [m for m in ('torch', 'jax', 'keras', 'optax', 'matplotlib', 'tensorflow')"
        " if m in sys.modules]\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == ""


def test_importing_lrkit_keras_does_not_import_torch() -> None:
    code = "import sys, lrkit.keras\nprint('torch' in sys.modules)\n"
    env = {**os.environ, "KERAS_BACKEND": "jax"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "False"


class RecordEpochs(keras.callbacks.Callback):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__()
        self.losses: list[float] = []

    def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        self.losses.append(float((logs or {})["loss"]))


def test_schedule_callback_drives_a_plateau_in_model_fit() -> None:
    from lrkit.keras import ScheduleCallback

    sched = BASE * lk.warmup(lk.plateau(factor=0.5, patience=0, mode="max"), 1)
    model = _tiny_model(0.0)
    rates, epochs = RecordRates(), RecordEpochs()
    cb = ScheduleCallback(sched, monitor="loss", steps_per_epoch=4)
    x = np.ones((4, 1), dtype="float32")
    model.fit(
        x,
        x,
        batch_size=1,
        epochs=5,
        shuffle=False,
        verbose=0,  # type: ignore[attr-defined]
        callbacks=[cb, rates, epochs],
    )
    # the same schedule driven by hand: 4 steps per epoch, the epoch's loss reported after it
    stepper = lk.Stepper(sched, steps_per_epoch=4)
    want = []
    for loss in epochs.losses:
        for _ in range(4):
            want.append(stepper.value())
            stepper.step()
        stepper.report(loss)
    np.testing.assert_allclose(rates.rates, want, rtol=1e-6)
    # written out: epoch 0 ramps 0 -> BASE; the loss (= w) falls every epoch, which in mode
    # "max" is never an improvement after the first report: one halving per epoch from epoch 2
    assert want[:4] == pytest.approx([0.0, BASE / 4, BASE / 2, 3 * BASE / 4])
    assert want[4::4] == pytest.approx([BASE, BASE / 2, BASE / 4, BASE / 8])
    final = float(model.get_weights()[0].ravel()[0])  # type: ignore[attr-defined]
    np.testing.assert_allclose(-np.diff([*rates.weights, final]), want, rtol=1e-5, atol=1e-7)
    assert cb.stepper.count == 20


def test_schedule_callback_refuses_a_schedule_learning_rate() -> None:
    from lrkit.keras import ScheduleCallback

    model = _tiny_model(KerasSchedule(SCHEDULE))
    x = np.ones((2, 1), dtype="float32")
    with pytest.raises(ValueError, match="float"):
        model.fit(
            x,
            x,
            batch_size=1,
            epochs=1,
            verbose=0,  # type: ignore[attr-defined]
            callbacks=[ScheduleCallback(lk.plateau(), monitor="loss")],
        )
    with pytest.raises(ValueError, match="monitor"):
        ScheduleCallback(lk.plateau(), monitor="")


TORCH_BACKEND_SCRIPT = """
import numpy as np, keras, lrkit as lk
from lrkit.keras import KerasSchedule
assert keras.backend.backend() == "torch"
s = 0.05 * lk.step_decay(3, gamma=0.5)
m = keras.Sequential([keras.Input(shape=(1,)),
                      keras.layers.Dense(1, use_bias=False, kernel_initializer="zeros")])
m.compile(optimizer=keras.optimizers.SGD(learning_rate=KerasSchedule(s)),
          loss=lambda a, b: keras.ops.mean(b))
x = np.ones((7, 1), "float32")
m.fit(x, x, batch_size=1, epochs=1, shuffle=False, verbose=0)
print(float(m.get_weights()[0].ravel()[0]))
"""


@pytest.mark.slow
def test_trains_on_the_torch_backend() -> None:
    pytest.importorskip("torch")
    out = subprocess.run(
        [sys.executable, "-c", TORCH_BACKEND_SCRIPT],
        capture_output=True,
        text=True,
        env={**os.environ, "KERAS_BACKEND": "torch"},
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    # gradient 1 at every step: w = -sum of the rates 0.05 * 0.5 ** (k // 3), k = 0..6
    want = -sum(0.05 * 0.5 ** (k // 3) for k in range(7))
    assert float(out.stdout.strip().splitlines()[-1]) == pytest.approx(want, rel=1e-6)


NO_TENSORFLOW = """
import sys


class HideTensorflow:
    \"\"\"Wraps a meta-path finder: tensorflow is not found, as where it is not installed.\"\"\"

    def __init__(self, inner):
        self.inner = inner

    def find_spec(self, name, path=None, target=None):
        if name == "tensorflow" or name.startswith("tensorflow."):
            return None
        find = getattr(self.inner, "find_spec", None)
        return None if find is None else find(name, path, target)

    def __getattr__(self, attr):
        return getattr(self.inner, attr)


sys.meta_path[:] = [HideTensorflow(f) for f in sys.meta_path]
"""


def _backend_chosen(tmp_path: Path, prelude: str = "") -> str:
    """The backend of ``import lrkit.keras, keras`` in a fresh process with no KERAS_BACKEND and
    no keras.json (Keras' own default is then tensorflow)."""
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    env["KERAS_HOME"] = str(tmp_path)
    code = prelude + "\nimport lrkit.keras, keras\nprint(keras.backend.backend())\n"
    proc = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout.strip().splitlines()[-1]


def test_import_without_a_configured_backend_picks_an_installed_one(tmp_path: Path) -> None:
    """Keras defaults to tensorflow; where it is absent, lrkit.keras selects jax before import."""
    pytest.importorskip("jax")
    assert _backend_chosen(tmp_path, NO_TENSORFLOW) == "jax"


@pytest.mark.slow
def test_keras_default_tensorflow_is_kept_where_installed(tmp_path: Path) -> None:
    import importlib.util

    if importlib.util.find_spec("tensorflow") is None:
        pytest.skip("tensorflow is not installed")
    assert _backend_chosen(tmp_path) == "tensorflow"
