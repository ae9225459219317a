"""The Keras rows of docs/equivalence.md, backend-free: for a seed, Keras' own schedule (built
from ``keras.optimizers.schedules``), the lrkit expression the row gives for it, and how to
compare the two. tests/catalogue/test_keras.py evaluates them on the JAX backend,
tests/tf/test_catalogue_keras_tf.py on the tensorflow backend inside ``tf.function``.

Keras evaluates its schedules at ``optimizer.iterations`` (0 for the first update: lrkit's
convention) in float32, so rows compare with float32 tolerances.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

import lrkit as lk

from ._common import assert_curves, rng


@dataclass(frozen=True)
class Row:
    what: str
    keras: Any
    """Keras' schedule object (a ``keras.optimizers.schedules.LearningRateSchedule``)."""
    lrkit: lk.Schedule
    steps: int
    boundaries: tuple[int, ...] = ()
    """Staircase multiples and restart steps, where a vectorised or XLA float32 division in
    Keras may land one step late: tests/catalogue/test_keras.py evaluates Keras eagerly there."""
    restarts: int = 0
    """CosineDecayRestarts' first period (0 for the other rows): Keras' float32 position in
    the cycle loses precision as t grows, and its float32 logarithm (t_mul != 1) may put a
    restart step in the previous cycle, so the tolerance grows with t / period and a restart
    step may differ."""
    first: int | None = None
    """Compare only the first ``first`` steps (PolynomialDecay with cycle=True)."""

    def check(self, got: np.ndarray, ref: np.ndarray) -> None:
        """``got`` (lrkit) against ``ref`` (Keras) at steps 0 .. steps-1."""
        if self.first is not None:
            got, ref = got[: self.first], ref[: self.first]
        scale = float(np.max(np.abs(ref)))
        if not self.restarts:
            assert_curves(got, ref, rtol=5e-6, atol=4 * 1.2e-7 * scale, what=self.what)
            return
        t = np.arange(len(ref))
        atol = 8 * 1.2e-7 * (t / self.restarts + 1.0) * scale
        bad = np.flatnonzero(~np.isclose(got, ref, rtol=5e-6, atol=atol)).tolist()
        assert set(bad) <= set(self.boundaries), f"{self.what}: steps {bad} differ"


def multiples(k: int, steps: int) -> tuple[int, ...]:
    return tuple(range(k, steps, k))


def exponential_decay(ks: Any, seed: int) -> Row:
    r = rng(seed, "ExponentialDecay")
    init, n, rate, stair = r.uniform(0.1, 1), r.randint(1, 40), r.uniform(0.5, 0.99), bool(seed % 2)
    return Row(
        f"ExponentialDecay({init}, {n}, {rate}, {stair})",
        ks.ExponentialDecay(init, n, rate, staircase=stair),
        lk.exponential(rate, start=init, every=n, staircase=stair),
        300,
        multiples(n, 300),
    )


def piecewise_constant_decay(boundaries: list[int], values: list[float]) -> lk.Schedule:
    """Keras switches *after* each boundary (step <= b keeps the old value): join at b + 1."""
    return lk.join([lk.constant(v) for v in values], [b + 1 for b in boundaries])


def piecewise_constant(ks: Any, seed: int) -> Row:
    r = rng(seed, "PiecewiseConstantDecay")
    bs = sorted(set(r.randint(0, 250) for _ in range(r.randint(1, 5))))
    vals = [r.uniform(0, 1) for _ in range(len(bs) + 1)]
    return Row(
        f"PiecewiseConstantDecay({bs}, {vals})",
        ks.PiecewiseConstantDecay(bs, vals),
        piecewise_constant_decay(bs, vals),
        300,
    )


def polynomial_decay(ks: Any, seed: int) -> Row:
    r = rng(seed, "PolynomialDecay")
    init, n, end, p = r.uniform(0.5, 1), r.randint(1, 200), r.uniform(0, 0.4), r.uniform(0.5, 3)
    return Row(
        f"PolynomialDecay({init}, {n}, {end}, {p})",
        ks.PolynomialDecay(init, n, end, p),
        lk.polynomial(n, p, start=init, end=end),
        300,
    )


def polynomial_decay_cycle(ks: Any) -> Row:
    """cycle=True stretches the horizon to the next multiple of decay_steps (the curve jumps up
    and decays ever more slowly): no lrkit equivalent. The first cycle is the plain row."""
    return Row(
        "PolynomialDecay(1.0, 50, 0.1, 2.0, cycle=True)",
        ks.PolynomialDecay(1.0, 50, 0.1, 2.0, cycle=True),
        lk.polynomial(50, 2.0, start=1.0, end=0.1),
        200,
        first=51,
    )


def inverse_time_decay(ks: Any, seed: int) -> Row:
    r = rng(seed, "InverseTimeDecay")
    init, n, rate, stair = r.uniform(0.1, 1), r.randint(1, 50), r.uniform(0.1, 2), bool(seed % 2)
    return Row(
        f"InverseTimeDecay({init}, {n}, {rate}, {stair})",
        ks.InverseTimeDecay(init, n, rate, staircase=stair),
        lk.inverse_time(n, rate=rate, start=init, staircase=stair),
        300,
        multiples(n, 300),
    )


def cosine_decay(ks: Any, seed: int) -> Row:
    r = rng(seed, "CosineDecay")
    init, n, alpha = r.uniform(0.1, 1), r.randint(1, 200), r.choice([0.0, r.uniform(0, 0.5)])
    return Row(
        f"CosineDecay({init}, {n}, {alpha})",
        ks.CosineDecay(init, n, alpha),
        lk.cosine(n, start=init, end=init * alpha),
        260,
    )


def cosine_decay_with_warmup(ks: Any, seed: int) -> Row:
    r = rng(seed, "CosineDecay-warmup")
    init, target = r.uniform(0, 0.1), r.uniform(0.2, 1.0)
    n, w, alpha = r.randint(1, 200), r.randint(1, 60), r.choice([0.0, r.uniform(0, 0.5)])
    return Row(
        f"CosineDecay({init}, {n}, {alpha}, warmup_target={target}, warmup_steps={w})",
        ks.CosineDecay(init, n, alpha, warmup_target=target, warmup_steps=w),
        lk.warmup(lk.cosine(n, start=target, end=target * alpha), w, start=init),
        300,
    )


def cosine_decay_restarts(ks: Any, seed: int) -> Row:
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
    s = lk.cosine_restarts(first, start=(1 - alpha) * init, period_mult=t_mul, decay=m_mul)
    if alpha:
        s = s + alpha * init
    return Row(
        f"CosineDecayRestarts({init}, {first}, {t_mul}, {m_mul}, {alpha})",
        ks.CosineDecayRestarts(init, first, t_mul, m_mul, alpha),
        s,
        400,
        tuple(starts),
        restarts=first,
    )


SEEDED: dict[str, Callable[[Any, int], Row]] = {
    "ExponentialDecay": exponential_decay,
    "PiecewiseConstantDecay": piecewise_constant,
    "PolynomialDecay": polynomial_decay,
    "InverseTimeDecay": inverse_time_decay,
    "CosineDecay": cosine_decay,
    "CosineDecay-warmup": cosine_decay_with_warmup,
    "CosineDecayRestarts": cosine_decay_restarts,
}
"""Every seeded row, by the Keras class it covers."""
