"""``lrkit.optax.find_lr``: the range test for JAX, on least squares (plain gradient descent
diverges above ``2/L``, heavy ball above ``2 (1 + beta) / L``), against lrkit.torch.find_lr on
the same batches, and its contract (params untouched, one compilation, clear errors)."""

from __future__ import annotations

import functools
import math
import random
from pathlib import Path

import numpy as np
import pytest

jax = pytest.importorskip("jax")
optax = pytest.importorskip("optax")
jnp = jax.numpy

import lrkit.rangetest as rt  # noqa: E402
from lrkit.optax import RangeTestResult, find_lr  # noqa: E402


def least_squares(seed: int, n: int = 256, d: int = 10, cond: float = 30.0, lmax: float = 3.0):
    """X (n x d) with the eigenvalues of X^T X / n log-spaced from lmax down to lmax / cond,
    y = X w + noise; returns X, y (float32) and the critical rate 2 / L of gradient descent."""
    rng = np.random.default_rng(seed)
    u, _ = np.linalg.qr(rng.normal(size=(n, d)))
    v, _ = np.linalg.qr(rng.normal(size=(d, d)))
    x = u @ np.diag(math.sqrt(n * lmax) * np.geomspace(1.0, 1.0 / math.sqrt(cond), d)) @ v.T
    y = x @ rng.normal(size=d) + 0.1 * rng.normal(size=n)
    L = float(np.linalg.eigvalsh(x.T @ x / n).max())
    return x.astype(np.float32), y.astype(np.float32), 2.0 / L


def half_mse(params, batch):  # type: ignore[no-untyped-def]
    x, y = batch
    return 0.5 * jnp.mean((x @ params["w"] - y) ** 2)


def zeros(d: int = 10) -> dict:
    return {"w": jnp.zeros(d, dtype=jnp.float32)}


@pytest.mark.parametrize(("seed", "batch"), [(0, None), (1, 32), (2, 64)])
def test_sgd_suggestion_is_stable_and_not_tiny(seed: int, batch: int | None) -> None:
    x, y, critical = least_squares(seed, lmax=[0.5, 3.0, 20.0][seed])
    size = batch or len(x)
    batches = [(x[i : i + size], y[i : i + size]) for i in range(0, len(x), size)]
    r = find_lr(half_mse, zeros(), optax.sgd, batches, end=100.0, progress=False)
    assert isinstance(r, RangeTestResult) and isinstance(r, rt.RangeTestResult)
    assert r.lrs[-1] > critical
    assert critical / 5 < r.suggestion < 0.8 * critical  # 2 / L known: a 4x band
    assert r.steps_used == len(r.lrs) + sum(t.steps for t in r.trials) <= 100 + 3 * 64


def test_heavy_ball_suggestion_is_stable() -> None:
    x, y, critical = least_squares(3)
    beta = 0.9
    limit = critical * (1 + beta)  # heavy ball on a quadratic: stable below 2 (1 + beta) / L
    batches = [(x[i : i + 32], y[i : i + 32]) for i in range(0, len(x), 32)]
    r = find_lr(half_mse, zeros(), functools.partial(optax.sgd, momentum=beta), batches,
                progress=False)
    assert limit / 1000 < r.suggestion < 0.8 * limit


def test_params_are_untouched_and_global_rngs_restored() -> None:
    x, y, _ = least_squares(4)
    params = {"w": jnp.linspace(-1.0, 1.0, 10, dtype=jnp.float32)}
    copy = np.asarray(params["w"]).copy()

    def shuffled():  # type: ignore[no-untyped-def]
        # a data pipeline on numpy's and python's global RNGs, drawn as it is iterated
        while True:
            order = np.random.permutation(len(x))
            random.random()
            for i in range(0, len(x), 32):
                yield x[order[i : i + 32]], y[order[i : i + 32]]

    random.seed(1)
    np.random.seed(1)
    state = (random.getstate(), np.random.get_state())
    find_lr(half_mse, params, optax.adam, shuffled(), steps=40, trial_steps=16, progress=False)
    np.testing.assert_array_equal(np.asarray(params["w"]), copy)
    assert random.getstate() == state[0]
    assert np.array_equal(np.random.get_state()[1], state[1][1])


def test_the_step_compiles_once() -> None:
    x, y, _ = least_squares(5)
    traces = []

    def loss(params, batch):  # type: ignore[no-untyped-def]
        traces.append(1)  # runs only while jax traces the jitted step
        return half_mse(params, batch)

    batches = [(x[i : i + 32], y[i : i + 32]) for i in range(0, len(x), 32)]
    r = find_lr(loss, zeros(), optax.adam, batches, progress=False)
    assert r.steps_used > 150 and len(traces) == 1


def test_the_same_range_test_as_torch() -> None:
    torch = pytest.importorskip("torch")
    from lrkit.torch import find_lr as torch_find_lr

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny matrices: one thread is faster than two contended ones

    x, y, _ = least_squares(6)
    batches = [(x[i : i + 32], y[i : i + 32]) for i in range(0, len(x), 32)]
    with jax.enable_x64(True):
        batches64 = [(jnp.asarray(a, jnp.float64), jnp.asarray(b, jnp.float64))
                     for a, b in batches]
        r_jax = find_lr(half_mse, {"w": jnp.zeros(10, jnp.float64)}, optax.sgd, batches64,
                        progress=False)
    model = torch.nn.Linear(10, 1, bias=False).double()
    torch.nn.init.zeros_(model.weight)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    tbatches = [(torch.from_numpy(a).double(), torch.from_numpy(b).double()) for a, b in batches]
    r_torch = torch_find_lr(model, opt, lambda out, t: 0.5 * ((out.squeeze(-1) - t) ** 2).mean(),
                            tbatches, progress=False)
    assert r_jax.lrs == pytest.approx(r_torch.lrs, rel=1e-12)
    assert r_jax.raw_losses == pytest.approx(r_torch.raw_losses, rel=1e-6)
    assert [t.peak for t in r_jax.trials] == pytest.approx([t.peak for t in r_torch.trials])
    assert r_jax.suggestion == pytest.approx(r_torch.suggestion, rel=1e-6)
    torch.set_num_threads(threads)


def test_bad_factories_and_arguments() -> None:
    x, y, _ = least_squares(7)
    batches = [(x, y)]
    with pytest.raises(ValueError, match="learning_rate"):
        find_lr(half_mse, zeros(), lambda lr: optax.sgd(lr), batches, progress=False)
    with pytest.raises(ValueError, match="optimizer_factory"):
        find_lr(half_mse, zeros(), "adam", batches, progress=False)
    with pytest.raises(ValueError, match="trials"):
        find_lr(half_mse, zeros(), optax.sgd, batches, trials=1, progress=False)
    with pytest.raises(ValueError, match="start"):
        find_lr(half_mse, zeros(), optax.sgd, batches, start=0.0, progress=False)
    with pytest.raises(ValueError, match="no batches"):
        find_lr(half_mse, zeros(), optax.sgd, [], progress=False)


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
    for block in _doc_examples("from lrkit.optax import"):
        exec(compile(block, "docs/range-test.md", "exec"), {})
