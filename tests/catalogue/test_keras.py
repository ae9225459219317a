"""Catalogue rows for Keras 3's ``keras.optimizers.schedules`` (docs/equivalence.md).

Keras evaluates its schedules at ``optimizer.iterations`` (0 for the first update: lrkit's
convention) in float32, so rows compare with float32 tolerances.
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

import lrkit as lk  # noqa: E402

from ._common import SEEDS, assert_curves, lrkit_curve, rng  # noqa: E402

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


def multiples(k: int, steps: int) -> list[int]:
    return list(range(k, steps, k))


def f32(got: np.ndarray, ref: np.ndarray, what: str = "", rtol: float = 5e-6) -> None:
    assert_curves(got, ref, rtol=rtol, atol=4 * 1.2e-7 * float(np.max(np.abs(ref))), what=what)


@pytest.mark.parametrize("seed", SEEDS)
def test_exponential_decay(seed: int) -> None:
    r = rng(seed, "ExponentialDecay")
    init, steps, rate, stair = (
        r.uniform(0.1, 1),
        r.randint(1, 40),
        r.uniform(0.5, 0.99),
        bool(seed % 2),
    )
    ref = keras_curve(
        ks.ExponentialDecay(init, steps, rate, staircase=stair), 300, multiples(steps, 300)
    )
    got = lrkit_curve(lk.exponential(rate, start=init, every=steps, staircase=stair), 300)
    f32(got, ref, f"ExponentialDecay({init}, {steps}, {rate}, {stair})")


def piecewise_constant_decay(boundaries: list[int], values: list[float]) -> lk.Schedule:
    """Keras switches *after* each boundary (step <= b keeps the old value): join at b + 1."""
    return lk.join([lk.constant(v) for v in values], [b + 1 for b in boundaries])


@pytest.mark.parametrize("seed", SEEDS)
def test_piecewise_constant_decay(seed: int) -> None:
    r = rng(seed, "PiecewiseConstantDecay")
    bs = sorted(set(r.randint(0, 250) for _ in range(r.randint(1, 5))))
    vals = [r.uniform(0, 1) for _ in range(len(bs) + 1)]
    ref = keras_curve(ks.PiecewiseConstantDecay(bs, vals), 300)
    f32(lrkit_curve(piecewise_constant_decay(bs, vals), 300), ref, f"PiecewiseConstantDecay({bs})")


@pytest.mark.parametrize("seed", SEEDS)
def test_polynomial_decay(seed: int) -> None:
    r = rng(seed, "PolynomialDecay")
    init, n, end, p = r.uniform(0.5, 1), r.randint(1, 200), r.uniform(0, 0.4), r.uniform(0.5, 3)
    ref = keras_curve(ks.PolynomialDecay(init, n, end, p), 300)
    f32(
        lrkit_curve(lk.polynomial(n, p, start=init, end=end), 300),
        ref,
        f"PolynomialDecay({init}, {n}, {end}, {p})",
    )


def test_polynomial_decay_cycle_is_only_matched_on_the_first_cycle() -> None:
    """cycle=True stretches the horizon to the next multiple of decay_steps (the curve jumps up
    and decays ever more slowly): no lrkit equivalent. The first cycle is the plain row."""
    ref = keras_curve(ks.PolynomialDecay(1.0, 50, 0.1, 2.0, cycle=True), 200)
    got = lrkit_curve(lk.polynomial(50, 2.0, start=1.0, end=0.1), 200)
    f32(got[:51], ref[:51])
    assert ref[51] > got[51] + 0.1  # keras jumps back up after step 50; lrkit holds 0.1


@pytest.mark.parametrize("seed", SEEDS)
def test_inverse_time_decay(seed: int) -> None:
    r = rng(seed, "InverseTimeDecay")
    init, n, rate, stair = r.uniform(0.1, 1), r.randint(1, 50), r.uniform(0.1, 2), bool(seed % 2)
    ref = keras_curve(ks.InverseTimeDecay(init, n, rate, staircase=stair), 300, multiples(n, 300))
    s = lk.inverse_time(n, rate=rate, start=init, staircase=stair)
    f32(lrkit_curve(s, 300), ref, f"InverseTimeDecay({init}, {n}, {rate}, {stair})")


@pytest.mark.parametrize("seed", SEEDS)
def test_cosine_decay(seed: int) -> None:
    r = rng(seed, "CosineDecay")
    init, n, alpha = r.uniform(0.1, 1), r.randint(1, 200), r.choice([0.0, r.uniform(0, 0.5)])
    ref = keras_curve(ks.CosineDecay(init, n, alpha), 260)
    f32(
        lrkit_curve(lk.cosine(n, start=init, end=init * alpha), 260),
        ref,
        f"CosineDecay({init}, {n}, {alpha})",
    )


@pytest.mark.parametrize("seed", SEEDS)
def test_cosine_decay_with_warmup(seed: int) -> None:
    r = rng(seed, "CosineDecay-warmup")
    init, target = r.uniform(0, 0.1), r.uniform(0.2, 1.0)
    n, w, alpha = r.randint(1, 200), r.randint(1, 60), r.choice([0.0, r.uniform(0, 0.5)])
    ref = keras_curve(ks.CosineDecay(init, n, alpha, warmup_target=target, warmup_steps=w), 300)
    s = lk.warmup(lk.cosine(n, start=target, end=target * alpha), w, start=init)
    f32(lrkit_curve(s, 300), ref, f"CosineDecay({init}, {n}, {alpha}, {target}, {w})")


@pytest.mark.parametrize("seed", SEEDS)
def test_cosine_decay_restarts(seed: int) -> None:
    """lrkit's cosine_restarts decays the peak towards ``end`` (timm's cycle_decay); Keras decays
    the whole cosine above alpha: alpha * init + cosine_restarts(start=(1 - alpha) * init)."""
    r = rng(seed, "CosineDecayRestarts")
    init, first = r.uniform(0.1, 1), r.randint(2, 40)
    t_mul = r.choice([1.0, 2.0, 1.5]) if seed else 1.0
    m_mul = r.choice([1.0, r.uniform(0.5, 1.0)])
    alpha = r.choice([0.0, r.uniform(0, 0.3)])
    starts, length, b = [], float(first), 0.0
    while b < 400:
        b += length
        starts.append(round(b))
        length *= t_mul
    ref = keras_curve(ks.CosineDecayRestarts(init, first, t_mul, m_mul, alpha), 400)
    s = lk.cosine_restarts(first, start=(1 - alpha) * init, period_mult=t_mul, decay=m_mul)
    if alpha:
        s = s + alpha * init
    got = lrkit_curve(s, 400)
    # Keras computes the position in the cycle as t / first_decay_steps - i in float32, whose
    # error grows like ulp(t / first_decay_steps): the tolerance grows with it. Its vectorised
    # float32 division (and, for t_mul != 1, its float32 logarithm) can put a restart step in the
    # previous cycle; every other step must match.
    t = np.arange(400)
    atol = 8 * 1.2e-7 * (t / first + 1.0) * float(np.max(np.abs(ref)))
    bad = ~np.isclose(got, ref, rtol=5e-6, atol=atol)
    assert set(np.flatnonzero(bad).tolist()) <= set(starts), np.flatnonzero(bad).tolist()
