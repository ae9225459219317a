"""Catalogue rows for Keras 3's ``keras.optimizers.schedules`` (docs/equivalence.md) on the JAX
backend. The rows themselves (Keras' schedule, the lrkit expression, the comparison) are in
``_keras_rows.py``; tests/tf/test_catalogue_keras_tf.py runs them on the tensorflow backend.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "jax")
keras = pytest.importorskip("keras")
jax = pytest.importorskip("jax")
import jax.numpy as jnp  # noqa: E402
from keras.optimizers import schedules as ks  # noqa: E402

from . import _keras_rows as rows  # noqa: E402
from ._common import SEEDS, lrkit_curve  # noqa: E402

pytestmark = pytest.mark.skipif(keras.backend.backend() != "jax", reason="needs the JAX backend")


def keras_curve(schedule: object, steps: int, eager_at: object = ()) -> np.ndarray:
    """Keras' values at steps 0 .. steps-1 in float32.

    Vectorised with ``jax.vmap`` for speed, except at the steps in ``eager_at`` (staircase and
    restart boundaries), which are evaluated one eager scalar call each: XLA's vectorised
    float32 division is not exact (41 / 41 can give 0.99999994), so a vectorised or jitted
    Keras staircase can land one step late at some multiples of decay_steps. The eager scalar
    path is Keras' intended curve. (Under ``jax.jit`` Keras' PolynomialDecay even returns NaN
    past decay_steps: (1 - 1.0000001) ** power.)
    """
    counts = jnp.arange(steps, dtype=jnp.int32)
    out = np.asarray(jax.vmap(schedule)(counts), dtype=np.float64)  # type: ignore[arg-type]
    for k in eager_at:  # type: ignore[attr-defined]
        if 0 <= k < steps:
            out[k] = float(schedule(jnp.asarray(k, jnp.int32)))  # type: ignore[operator]
    return out


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("row", sorted(rows.SEEDED))
def test_row(row: str, seed: int) -> None:
    r = rows.SEEDED[row](ks, seed)
    r.check(lrkit_curve(r.lrkit, r.steps), keras_curve(r.keras, r.steps, r.boundaries))


def test_polynomial_decay_cycle_is_only_matched_on_the_first_cycle() -> None:
    r = rows.polynomial_decay_cycle(ks)
    got, ref = lrkit_curve(r.lrkit, r.steps), keras_curve(r.keras, r.steps)
    r.check(got, ref)
    assert ref[51] > got[51] + 0.1  # keras jumps back up after step 50; lrkit holds 0.1
