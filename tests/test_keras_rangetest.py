"""``lrkit.keras.find_lr``: the range test for a compiled Keras 3 model, on least squares (a
Dense layer without bias under plain SGD diverges above ``2/L`` for the half mean squared error),
against lrkit.torch.find_lr on the same batches, restoring every variable, on the jax backend
here and on torch and tensorflow in subprocesses."""

from __future__ import annotations

import math
import os
import random
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

keras = pytest.importorskip("keras")

import lrkit.rangetest as rt  # noqa: E402
from lrkit.keras import RangeTestResult, find_lr  # noqa: E402


def least_squares(seed: int, n: int = 256, d: int = 10, cond: float = 30.0, lmax: float = 3.0):
    rng = np.random.default_rng(seed)
    u, _ = np.linalg.qr(rng.normal(size=(n, d)))
    v, _ = np.linalg.qr(rng.normal(size=(d, d)))
    x = u @ np.diag(math.sqrt(n * lmax) * np.geomspace(1.0, 1.0 / math.sqrt(cond), d)) @ v.T
    y = x @ rng.normal(size=d) + 0.1 * rng.normal(size=n)
    L = float(np.linalg.eigvalsh(x.T @ x / n).max())
    return x.astype(np.float32), y[:, None].astype(np.float32), 2.0 / L


def value(v):  # type: ignore[no-untyped-def]
    """A variable's value as numpy (``Variable.numpy`` warns under numpy 2)."""
    return np.array(keras.ops.convert_to_numpy(v.value), copy=True)


def half_mse(y_true, y_pred):  # type: ignore[no-untyped-def]
    return 0.5 * keras.ops.mean(keras.ops.square(y_pred - y_true), axis=-1)


def linear(d: int = 10, optimizer=None):  # type: ignore[no-untyped-def]
    model = keras.Sequential([keras.Input((d,)),
                              keras.layers.Dense(1, use_bias=False, kernel_initializer="zeros")])
    model.compile(optimizer=optimizer or keras.optimizers.SGD(0.1), loss=half_mse)
    return model


@pytest.mark.parametrize(("seed", "batch"), [(0, 256), (1, 32)])
def test_suggestion_is_stable_and_not_tiny(seed: int, batch: int) -> None:
    x, y, critical = least_squares(seed, lmax=[0.5, 5.0][seed])
    r = find_lr(linear(), x, y, batch_size=batch, end=100.0, progress=False)
    assert isinstance(r, RangeTestResult) and RangeTestResult is rt.RangeTestResult
    assert r.lrs[-1] > critical
    assert critical / 5 < r.suggestion < 0.8 * critical  # 2 / L known: a 4x band
    assert len(r.trials) >= 2


def test_every_variable_and_the_global_rngs_are_restored() -> None:
    keras.utils.set_random_seed(0)
    x = np.random.default_rng(1).normal(size=(128, 6)).astype(np.float32)
    y = (x.sum(axis=1, keepdims=True) > 0).astype(np.float32)
    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(16),
                              keras.layers.BatchNormalization(), keras.layers.Dropout(0.3),
                              keras.layers.Activation("relu"), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse", metrics=["mae"])
    model.fit(x, y, batch_size=32, epochs=1, verbose=0)  # moments, iterations, metric state
    variables = [*model.variables, *model.optimizer.variables, *model.metrics_variables]
    before = [value(v) for v in variables]
    random.seed(2)
    np.random.seed(2)
    state = (random.getstate(), np.random.get_state())
    r = find_lr(model, x, y, steps=30, trial_steps=16, progress=False)
    assert len(r.trials) >= 2
    after = [*model.variables, *model.optimizer.variables, *model.metrics_variables]
    assert len(after) == len(before)
    for a, v in zip(before, after, strict=True):
        np.testing.assert_array_equal(a, value(v), err_msg=v.path)
    assert float(value(model.optimizer.learning_rate)) == pytest.approx(1e-3)
    assert random.getstate() == state[0]
    assert np.array_equal(np.random.get_state()[1], state[1][1])
    model.fit(x, y, batch_size=32, epochs=1, verbose=0)  # and it still trains


def test_an_iterable_of_batches_and_the_same_test_as_torch() -> None:
    torch = pytest.importorskip("torch")
    from lrkit.torch import find_lr as torch_find_lr

    x, y, _ = least_squares(2)
    batches = [(x[i : i + 32], y[i : i + 32]) for i in range(0, len(x), 32)]
    r_keras = find_lr(linear(), batches, trial_steps=16, progress=False)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    model = torch.nn.Linear(10, 1, bias=False)
    torch.nn.init.zeros_(model.weight)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    tb = [(torch.from_numpy(a), torch.from_numpy(b)) for a, b in batches]
    r_torch = torch_find_lr(model, opt, lambda out, t: 0.5 * ((out - t) ** 2).mean(), tb,
                            trial_steps=16, progress=False)
    torch.set_num_threads(threads)
    assert r_keras.lrs == pytest.approx(r_torch.lrs, rel=1e-12)
    n = next((i for i, v in enumerate(r_torch.raw_losses) if v > 10 * r_torch.raw_losses[0]),
             len(r_torch.raw_losses))  # float32 on both sides: equal until it blows up
    assert r_keras.raw_losses[:n] == pytest.approx(r_torch.raw_losses[:n], rel=1e-3)
    assert r_keras.ceiling == pytest.approx(r_torch.ceiling, rel=1e-6)


def test_bad_models_and_arguments() -> None:
    x, y, _ = least_squares(3)
    uncompiled = keras.Sequential([keras.Input((10,)), keras.layers.Dense(1)])
    with pytest.raises(ValueError, match="compiled"):
        find_lr(uncompiled, x, y, progress=False)
    with pytest.raises(ValueError, match="compiled"):
        find_lr(object(), x, y, progress=False)
    schedule = keras.optimizers.schedules.ExponentialDecay(0.1, 10, 0.9)
    with pytest.raises(ValueError, match="schedule"):
        find_lr(linear(optimizer=keras.optimizers.SGD(schedule)), x, y, progress=False)
    with pytest.raises(ValueError, match="y is None"):
        find_lr(linear(), x, progress=False)
    with pytest.raises(ValueError, match="pair"):
        find_lr(linear(), [x[:8], x[8:16]], progress=False)
    with pytest.raises(ValueError, match="as many samples"):
        find_lr(linear(), x, y[:10], progress=False)
    with pytest.raises(ValueError, match="batch_size"):
        find_lr(linear(), x, y, batch_size=0, progress=False)
    with pytest.raises(ValueError, match="trial_steps"):
        find_lr(linear(), x, y, trial_steps=2, progress=False)


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["torch", "tensorflow"])
def test_other_backends(backend: str) -> None:
    pytest.importorskip(backend)
    code = textwrap.dedent(
        """
        import math, numpy as np, keras
        from lrkit.keras import find_lr
        assert keras.backend.backend() == BACKEND, keras.backend.backend()
        rng = np.random.default_rng(0)
        x = rng.normal(size=(256, 10)).astype("float32")
        y = (x @ rng.normal(size=(10, 1))).astype("float32")
        L = float(np.linalg.eigvalsh(x.T @ x / 256).max())
        model = keras.Sequential([keras.Input((10,)), keras.layers.Dense(
            1, use_bias=False, kernel_initializer="zeros")])
        model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")  # Hessian 2 X^T X / n
        r = find_lr(model, x, y, batch_size=32, steps=60, trial_steps=16, progress=False)
        assert (1 / L) / 15 < r.suggestion < 0.8 / L, (r.suggestion, 1 / L)
        assert not np.any(model.layers[0].kernel.numpy())  # restored to zeros
        print("ok", r.steps_used)
        """
    ).replace("BACKEND", repr(backend))
    env = {**os.environ, "KERAS_BACKEND": backend}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=600, env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.startswith("ok")


def _doc_examples(marker: str) -> list[str]:
    """The ```python blocks of docs/range-test.md that contain ``marker``."""
    import re

    text = (Path(__file__).resolve().parents[1] / "docs" / "range-test.md").read_text(
        encoding="utf-8")
    blocks = re.findall(r"^```python\n(.*?)^```", text, re.M | re.S)
    found = [b for b in blocks if marker in b]
    assert found, marker
    return found


def test_the_docs_example_runs() -> None:
    for block in _doc_examples("from lrkit.keras import"):
        exec(compile(block, "docs/range-test.md", "exec"), {})
