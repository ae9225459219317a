"""The token-clock patterns of docs/plan-changes.md, checked by what the optimizer did: optax's
``inject_hyperparams`` with the rate set from a host token count (under ``jax.jit``, one
compilation, counts past 2**32), and a Keras callback that sets the rate from a Stepper advanced
by the tokens of each batch. Each applied SGD step is compared with ``rate * gradient``, the rate
written out from the schedule's formula."""

from __future__ import annotations

import math
import os

import numpy as np
import pytest

import lrkit as lk

PEAK = 6e-4
WARMUP, TOTAL = 1_000_000_000, 20_000_000_000  # tokens


def rate(tokens: int) -> float:
    """PEAK * warmup(cosine(TOTAL - WARMUP, end=0.1), WARMUP) written out."""
    if tokens < WARMUP:
        return PEAK * tokens / WARMUP
    u = min(tokens - WARMUP, TOTAL - WARMUP) / (TOTAL - WARMUP)
    return PEAK * (0.1 + 0.9 * (1 + math.cos(math.pi * u)) / 2)


SCHEDULE = lk.warmup(lk.cosine(TOTAL - WARMUP, end=0.1), WARMUP)
F32 = 2.0**-23  # float32's relative precision

# Keras' own variables trip numpy 2's __array__(copy=...) deprecation; not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


def test_optax_inject_hyperparams_on_a_host_token_count() -> None:
    jax = pytest.importorskip("jax")
    optax = pytest.importorskip("optax")
    import jax.numpy as jnp

    target = jnp.array([1.0, -2.0, 3.0])
    opt = optax.inject_hyperparams(optax.sgd)(learning_rate=PEAK)
    params = jnp.zeros(3)
    state = opt.init(params)

    @jax.jit
    def train_step(params, state):  # type: ignore[no-untyped-def]
        grads = jax.grad(lambda p: 0.5 * jnp.sum((p - target) ** 2))(params)
        updates, state = opt.update(grads, state, params)
        return optax.apply_updates(params, updates), state

    rng = np.random.default_rng(0)
    tokens = 0
    checked = 0
    # through the warmup, past 2**32 tokens and past the end of the cosine
    for jump in (0, 700_000_000, 4_000_000_000, 9_000_000_000, 8_000_000_000):
        tokens += jump
        for _ in range(5):
            lr = PEAK * SCHEDULE(tokens)
            state.hyperparams["learning_rate"] = jnp.asarray(lr, jnp.float32)
            before = np.asarray(params, dtype=np.float64)
            params, state = train_step(params, state)
            applied = (before - np.asarray(params, dtype=np.float64)) / (
                before - np.asarray(target, dtype=np.float64))
            want = rate(tokens)
            assert float(state.hyperparams["learning_rate"]) == pytest.approx(want, rel=F32)
            np.testing.assert_allclose(applied, want, rtol=1e-5)
            tokens += int(rng.integers(1, 9)) * 2048 * 16
            checked += 1
    assert tokens > 2**34 and checked == 25
    assert train_step._cache_size() == 1  # the rate is data, not a constant: one compilation


def test_keras_callback_on_a_token_count() -> None:
    os.environ.setdefault("KERAS_BACKEND", "jax")
    keras = pytest.importorskip("keras")

    class TokenSchedule(keras.callbacks.Callback):  # type: ignore[misc]
        """The page's callback, recording the weights around each batch."""

        def __init__(self, schedule: lk.Schedule, peak: float, tokens_per_batch: int) -> None:
            super().__init__()
            self.stepper = lk.Stepper(schedule)
            self.peak, self.tokens_per_batch = peak, tokens_per_batch
            self.seen: list[tuple[int, np.ndarray, np.ndarray]] = []

        def on_train_batch_begin(self, batch: int, logs: object = None) -> None:
            self.model.optimizer.learning_rate.assign(self.peak * self.stepper.value())
            self._w = np.array(self.model.get_weights()[0], dtype=np.float64)

        def on_train_batch_end(self, batch: int, logs: object = None) -> None:
            w = np.array(self.model.get_weights()[0], dtype=np.float64)
            self.seen.append((self.stepper.count, self._w, w))
            self.stepper.step(by=self.tokens_per_batch)

    rng = np.random.default_rng(1)
    x = rng.normal(size=(64, 4)).astype("float32")
    y = rng.normal(size=(64, 1)).astype("float32")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1, use_bias=False)])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.0), loss="mse")
    per_batch = 300_000_000  # tokens: the warmup ends inside the run
    cb = TokenSchedule(SCHEDULE, PEAK, per_batch)
    model.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0, callbacks=[cb])
    assert len(cb.seen) == 12 and cb.stepper.count == 12 * per_batch
    for k, (tokens, before, after) in enumerate(cb.seen):
        assert tokens == k * per_batch
        xb = x[(k % 4) * 16:(k % 4 + 1) * 16].astype(np.float64)
        yb = y[(k % 4) * 16:(k % 4 + 1) * 16].astype(np.float64)
        grad = 2.0 / 16 * xb.T @ (xb @ before - yb)  # mse's gradient
        # float32 gradients: each component to 1e-4 of the largest (cancellation in x @ w - y)
        want = rate(tokens) * grad
        np.testing.assert_allclose(before - after, want, rtol=1e-4,
                                   atol=1e-4 * float(np.abs(want).max()))
