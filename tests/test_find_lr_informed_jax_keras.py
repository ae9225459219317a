"""The informed call of ``lrkit.optax.find_lr`` (``val_batches=``) and ``lrkit.keras.find_lr``
(``validation_data=``) on least squares, against a grid search of the planned run computed here
with numpy (full-batch gradient descent, warmup 5% + cosine)."""

from __future__ import annotations

import math

import numpy as np
import pytest

# weak-evidence notes are expected on these small problems (their own tests are in
# tests/test_rangetest_informed.py)
pytestmark = pytest.mark.filterwarnings("ignore:find_lr. weak evidence")


def least_squares(seed: int) -> tuple[np.ndarray, ...]:
    """Train (192) and validation (64) samples, 10 features, eigenvalues of X^T X / n from 3
    down to 0.03; returns x, y, x_val, y_val (float32) and 2 / L of the training set."""
    rng = np.random.default_rng(seed)
    n, d = 256, 10
    u, _ = np.linalg.qr(rng.normal(size=(n, d)))
    v, _ = np.linalg.qr(rng.normal(size=(d, d)))
    x = u @ np.diag(math.sqrt(n * 3.0) * np.geomspace(1.0, 0.1, d)) @ v.T
    y = x @ rng.normal(size=d) + 0.3 * rng.normal(size=n)
    lmax = float(np.linalg.eigvalsh(x[:192].T @ x[:192] / 192).max())
    f = np.float32
    return (x[:192].astype(f), y[:192].astype(f), x[192:].astype(f), y[192:].astype(f),
            np.float64(2.0 / lmax))


def planned_run(x: np.ndarray, y: np.ndarray, xv: np.ndarray, yv: np.ndarray, peak: float,
                total: int) -> float:
    """Full-batch gradient descent on 0.5 * mean((x w - y)^2), warmup 5% + cosine, in float64;
    the validation loss at the end (inf if it blew up)."""
    x64, y64 = x.astype(np.float64), y.astype(np.float64)
    w = np.zeros(x.shape[1])
    warm = round(0.05 * total)
    with np.errstate(all="ignore"):
        for t in range(total):
            rate = peak * (t / warm if t < warm
                           else 0.5 * (1 + math.cos(math.pi * (t - warm) / (total - warm))))
            w = w - rate * x64.T @ (x64 @ w - y64) / len(x64)
        loss = 0.5 * float(np.mean((xv.astype(np.float64) @ w - yv) ** 2))
    return loss if math.isfinite(loss) else math.inf


def grid_best(x: np.ndarray, y: np.ndarray, xv: np.ndarray, yv: np.ndarray, critical: float,
              total: int) -> float:
    return min(planned_run(x, y, xv, yv, critical * 10.0 ** (k / 8), total)
               for k in range(-16, 5))


def test_optax_informed_call_trains_as_well_as_a_grid() -> None:
    jax = pytest.importorskip("jax")
    optax = pytest.importorskip("optax")
    from lrkit.optax import find_lr

    x, y, xv, yv, critical = least_squares(0)
    total = 300

    def loss_fn(params, batch):  # type: ignore[no-untyped-def]
        inputs, targets = batch
        return 0.5 * jax.numpy.mean((inputs @ params["w"] - targets) ** 2)

    val = [(xv[i : i + 16], yv[i : i + 16]) for i in range(0, 64, 16)]
    result = find_lr(loss_fn, {"w": jax.numpy.zeros(10)}, optax.sgd, [(x, y)],
                     total_steps=total, val_batches=val, progress=False)
    assert all(t.judged_on == "validation" and len(t.samples) == 4
               for t in result.trials if t.stop_reason == "completed")
    assert result.steps_used <= result.budget == 450
    best = grid_best(x, y, xv, yv, float(critical), total)
    loss = planned_run(x, y, xv, yv, result.suggestion, total)
    assert loss <= 1.1 * best, (result.suggestion / critical, loss / best)


def test_keras_informed_call_trains_as_well_as_a_grid() -> None:
    keras = pytest.importorskip("keras")
    from lrkit.keras import find_lr

    x, y, xv, yv, critical = least_squares(1)
    total = 300
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((10,)),
                              keras.layers.Dense(1, use_bias=False, kernel_initializer="zeros")])
    model.compile(optimizer=keras.optimizers.SGD(0.01),
                  loss=lambda t, p: 0.5 * keras.ops.mean((p - t) ** 2))
    before = [np.array(keras.ops.convert_to_numpy(v.value)) for v in model.variables]
    result = find_lr(model, x, y[:, None], batch_size=192, total_steps=total,
                     validation_data=(xv, yv[:, None]), progress=False)
    assert all(t.judged_on == "validation" for t in result.trials)
    assert result.steps_used <= result.budget == 450
    after = [np.array(keras.ops.convert_to_numpy(v.value)) for v in model.variables]
    assert all(np.array_equal(a, b) for a, b in zip(before, after, strict=True))
    best = grid_best(x, y, xv, yv, float(critical), total)
    loss = planned_run(x, y, xv, yv, result.suggestion, total)
    assert loss <= 1.1 * best, (result.suggestion / critical, loss / best)


def test_bad_validation_data_names_it() -> None:
    keras = pytest.importorskip("keras")
    from lrkit.keras import find_lr

    x, y, _, _, _ = least_squares(2)
    model = keras.Sequential([keras.Input((10,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
    with pytest.raises(ValueError, match="validation_data"):
        find_lr(model, x, y, total_steps=300, validation_data=np.zeros(3), progress=False)
    with pytest.raises(ValueError, match="validation_data"):
        find_lr(model, x, y, total_steps=300, validation_data=(x[:5], y[:4]), progress=False)
