"""Catalogue rows for optax's schedules (docs/equivalence.md, section optax).

optax schedules are functions of the update count k (``s(0)`` is the first update's rate), the
same convention as lrkit. optax evaluates in float32, so rows compare with float32 tolerances;
schedule boundaries (joins, staircases, piecewise constants) must still land on the same step.
"""

from __future__ import annotations

import numpy as np
import pytest

jax = pytest.importorskip("jax")
optax = pytest.importorskip("optax")
import jax.numpy as jnp  # noqa: E402

import lrkit as lk  # noqa: E402

from ._common import SEEDS, assert_curves, lrkit_curve, rng  # noqa: E402

RTOL = 2e-6


def f32(got: np.ndarray, ref: np.ndarray, what: str = "", rtol: float = RTOL) -> None:
    """Equal to float32 precision: relative, plus a few float32 ulps of the curve's largest
    value (optax computes (init - end) * frac + end in float32, which cancels)."""
    assert_curves(got, ref, rtol=rtol, atol=4 * 1.2e-7 * float(np.max(np.abs(ref))), what=what)


def optax_curve(fn: object, steps: int) -> np.ndarray:
    """optax's values at counts 0 .. steps-1 (int32 counts, as optax's optimizers pass them)."""
    counts = jnp.arange(steps, dtype=jnp.int32)
    return np.asarray(jax.vmap(fn)(counts), dtype=np.float64)  # type: ignore[arg-type]


def begin(s: lk.Schedule, value: float, transition_begin: int) -> lk.Schedule:
    """optax's transition_begin: hold ``value`` for that many steps, then run ``s``."""
    return lk.join([lk.constant(value), s], [transition_begin]) if transition_begin > 0 else s


def test_constant_schedule() -> None:
    ref = optax_curve(optax.constant_schedule(0.3), 50)
    f32(lrkit_curve(lk.constant(0.3), 50), ref)


@pytest.mark.parametrize("seed", SEEDS)
def test_linear_schedule(seed: int) -> None:
    r = rng(seed, "linear_schedule")
    a, b, n, tb = (
        r.uniform(0, 1),
        r.uniform(0, 1),
        r.randint(1, 200),
        r.choice([0, r.randint(1, 50)]),
    )
    ref = optax_curve(optax.linear_schedule(a, b, n, tb), 300)
    got = lrkit_curve(begin(lk.linear(a, b, n), a, tb), 300)
    f32(got, ref, what=f"linear_schedule({a}, {b}, {n}, {tb})")


@pytest.mark.parametrize("seed", SEEDS)
def test_polynomial_schedule(seed: int) -> None:
    r = rng(seed, "polynomial_schedule")
    a, b = r.uniform(0.5, 1), r.uniform(0, 0.5)
    p, n, tb = r.uniform(0.5, 3), r.randint(1, 200), r.choice([0, r.randint(1, 50)])
    ref = optax_curve(optax.polynomial_schedule(a, b, p, n, tb), 300)
    got = lrkit_curve(begin(lk.polynomial(n, p, start=a, end=b), a, tb), 300)
    f32(got, ref, what=f"polynomial_schedule({a}, {b}, {p}, {n})")


@pytest.mark.parametrize("seed", SEEDS)
def test_exponential_decay(seed: int) -> None:
    r = rng(seed, "exponential_decay")
    init, every = r.uniform(0.1, 1.0), r.randint(1, 30)
    rate = r.uniform(0.5, 0.99) if seed != 5 else r.uniform(1.001, 1.02)
    tb = r.choice([0, r.randint(1, 40)])
    staircase = bool(seed % 2)
    end = None
    if seed >= 3:
        end = init * (r.uniform(0.05, 0.5) if rate < 1 else r.uniform(1.5, 3.0))
    ref = optax_curve(optax.exponential_decay(init, every, rate, tb, staircase, end), 300)
    s = begin(lk.exponential(rate, start=init, every=every, staircase=staircase, end=end), init, tb)
    f32(
        lrkit_curve(s, 300),
        ref,
        what=f"exponential_decay({init}, {every}, {rate}, {tb}, {staircase}, {end})",
    )


@pytest.mark.parametrize("seed", SEEDS)
def test_cosine_decay_schedule(seed: int) -> None:
    r = rng(seed, "cosine_decay_schedule")
    init, n, alpha = r.uniform(0.1, 1.0), r.randint(1, 200), r.choice([0.0, r.uniform(0, 0.5)])
    p = r.choice([1.0, r.uniform(0.3, 3.0)])
    ref = optax_curve(optax.cosine_decay_schedule(init, n, alpha, exponent=p), 260)
    got = lrkit_curve(lk.cosine(n, start=init, end=init * alpha, exponent=p), 260)
    f32(got, ref, what=f"cosine_decay_schedule({init}, {n}, {alpha}, exponent={p})")


@pytest.mark.parametrize("seed", SEEDS)
def test_warmup_cosine_decay_schedule(seed: int) -> None:
    r = rng(seed, "warmup_cosine_decay_schedule")
    init, peak, end = r.uniform(0, 0.1), r.uniform(0.2, 1.0), r.uniform(0, 0.1)
    w = r.randint(1, 50)
    d = w + r.randint(1, 200)
    p = r.choice([1.0, r.uniform(0.3, 3.0)])
    ref = optax_curve(
        optax.warmup_cosine_decay_schedule(init, peak, w, d, end, exponent=p), d + 30
    )
    s = lk.warmup(lk.cosine(d - w, start=peak, end=end, exponent=p), w, start=init)
    f32(
        lrkit_curve(s, d + 30),
        ref,
        what=f"warmup_cosine_decay_schedule({init}, {peak}, {w}, {d}, {end}, exponent={p})",
    )


@pytest.mark.parametrize("seed", SEEDS)
def test_warmup_constant_schedule(seed: int) -> None:
    r = rng(seed, "warmup_constant_schedule")
    init, peak, w = r.uniform(0, 0.1), r.uniform(0.2, 1.0), r.randint(1, 80)
    ref = optax_curve(optax.warmup_constant_schedule(init, peak, w), 120)
    s = lk.warmup(lk.constant(peak), w, start=init)
    f32(lrkit_curve(s, 120), ref)


@pytest.mark.parametrize("seed", SEEDS)
def test_warmup_exponential_decay_schedule(seed: int) -> None:
    r = rng(seed, "warmup_exponential_decay_schedule")
    init, peak, w = r.uniform(0, 0.1), r.uniform(0.2, 1.0), r.randint(1, 40)
    every, rate = r.randint(1, 20), r.uniform(0.5, 0.99)
    tb, staircase = r.choice([0, r.randint(1, 30)]), bool(seed % 2)
    end = peak * r.uniform(0.01, 0.3) if seed >= 3 else None
    ref = optax_curve(
        optax.warmup_exponential_decay_schedule(init, peak, w, every, rate, tb, staircase, end), 300
    )
    decay = begin(
        lk.exponential(rate, start=peak, every=every, staircase=staircase, end=end), peak, tb
    )
    s = lk.warmup(decay, w, start=init)
    f32(
        lrkit_curve(s, 300),
        ref,
        what=f"warmup_exponential_decay({init}, {peak}, {w}, {every}, {rate}, {tb})",
    )


def piecewise_constant(init: float, boundaries_and_scales: dict[int, float]) -> lk.Schedule:
    """optax.piecewise_constant_schedule as a join of constants (scales multiply up)."""
    items = sorted(boundaries_and_scales.items())
    values, v = [init], init
    for _, scale in items:
        v *= scale
        values.append(v)
    return lk.join([lk.constant(x) for x in values], [b for b, _ in items])


@pytest.mark.parametrize("seed", SEEDS)
def test_piecewise_constant_schedule(seed: int) -> None:
    r = rng(seed, "piecewise_constant_schedule")
    bs = sorted(set(r.randint(1, 250) for _ in range(r.randint(1, 5))))
    table = {b: r.uniform(0.1, 2.0) for b in bs}
    init = r.uniform(0.1, 1.0)
    ref = optax_curve(optax.piecewise_constant_schedule(init, table), 300)
    f32(
        lrkit_curve(piecewise_constant(init, table), 300),
        ref,
        what=f"piecewise_constant_schedule({init}, {table})",
    )


def piecewise_interpolate(kind: str, init: float, table: dict[int, float]) -> lk.Schedule:
    """optax.piecewise_interpolate_schedule: linear or cosine segments between the accumulated
    values at 0 and each boundary (boundaries > 0); the last value holds."""
    items = sorted(table.items())
    bounds = [0] + [b for b, _ in items]
    values, v = [init], init
    for _, scale in items:
        v *= scale
        values.append(v)
    segs: list[lk.Schedule] = []
    for i in range(len(items)):
        n = bounds[i + 1] - bounds[i]
        if kind == "linear":
            segs.append(lk.linear(values[i], values[i + 1], n))
        else:
            segs.append(lk.cosine(n, start=values[i], end=values[i + 1]))
    segs.append(lk.constant(values[-1]))
    return lk.join(segs, bounds[1:])


@pytest.mark.parametrize("kind", ["linear", "cosine"])
@pytest.mark.parametrize("seed", SEEDS)
def test_piecewise_interpolate_schedule(seed: int, kind: str) -> None:
    r = rng(seed, "piecewise_interpolate_schedule" + kind)
    bs = sorted(set(r.randint(1, 250) for _ in range(r.randint(1, 5))))
    table = {b: r.uniform(0.1, 3.0) for b in bs}
    init = r.uniform(0.1, 1.0)
    ref = optax_curve(optax.piecewise_interpolate_schedule(kind, init, table), 300)
    got = lrkit_curve(piecewise_interpolate(kind, init, table), 300)
    f32(got, ref, what=f"piecewise_interpolate({kind}, {table})")


@pytest.mark.parametrize("seed", SEEDS)
def test_linear_onecycle_schedule(seed: int) -> None:
    r = rng(seed, "linear_onecycle_schedule")
    n, peak = r.randint(20, 300), r.uniform(0.1, 1.0)
    pct_start, pct_final = r.uniform(0.1, 0.4), r.uniform(0.5, 0.95)
    div, fdiv = r.uniform(5, 50), r.uniform(10, 1e4)
    ref = optax_curve(
        optax.linear_onecycle_schedule(n, peak, pct_start, pct_final, div, fdiv), n + 20
    )
    init = peak / div
    b1, b2 = int(pct_start * n), int(pct_final * n)
    s = lk.join(
        [
            lk.linear(init, peak, b1),
            lk.linear(peak, init, b2 - b1),
            lk.linear(init, init / fdiv, n - b2),
        ],
        [b1, b2],
    )
    f32(lrkit_curve(s, n + 20), ref, what=f"linear_onecycle({n}, {peak}, {pct_start}, {pct_final})")


@pytest.mark.parametrize("seed", SEEDS)
def test_cosine_onecycle_schedule(seed: int) -> None:
    r = rng(seed, "cosine_onecycle_schedule")
    n, peak, pct = r.randint(20, 300), r.uniform(0.1, 1.0), r.uniform(0.1, 0.5)
    div, fdiv = r.uniform(5, 50), r.uniform(10, 1e4)
    ref = optax_curve(optax.cosine_onecycle_schedule(n, peak, pct, div, fdiv), n + 20)
    b1 = int(pct * n)
    s = lk.warmup(
        lk.cosine(n - b1, start=peak, end=peak / (div * fdiv)), b1, start=peak / div, shape="cosine"
    )
    f32(lrkit_curve(s, n + 20), ref, what=f"cosine_onecycle({n}, {peak}, {pct}, {div}, {fdiv})")


@pytest.mark.parametrize("seed", SEEDS)
def test_join_schedules(seed: int) -> None:
    r = rng(seed, "join_schedules")
    b1 = r.randint(1, 100)
    b2 = b1 + r.randint(1, 100)
    a, c = r.uniform(0.1, 1.0), r.randint(1, 50)
    opt = optax.join_schedules(
        [
            optax.linear_schedule(0.0, a, b1),
            optax.cosine_decay_schedule(a, c),
            optax.exponential_decay(a * 0.5, 7, 0.9, staircase=True),
        ],
        [b1, b2],
    )
    s = lk.join(
        [
            lk.linear(0.0, a, b1),
            lk.cosine(c, start=a),
            lk.exponential(0.9, start=a * 0.5, every=7, staircase=True),
        ],
        [b1, b2],
    )
    f32(lrkit_curve(s, 300), optax_curve(opt, 300))


@pytest.mark.parametrize("seed", SEEDS)
def test_sgdr_schedule(seed: int) -> None:
    r = rng(seed, "sgdr_schedule")
    cycles = []
    for _ in range(r.randint(1, 4)):
        w = r.randint(1, 20)
        cycles.append(
            dict(
                init_value=r.uniform(0, 0.1),
                peak_value=r.uniform(0.2, 1.0),
                warmup_steps=w,
                decay_steps=w + r.randint(1, 80),
                end_value=r.uniform(0, 0.1),
            )
        )
    ref = optax_curve(optax.sgdr_schedule(cycles), 400)
    segs = [
        lk.warmup(
            lk.cosine(
                c["decay_steps"] - c["warmup_steps"], start=c["peak_value"], end=c["end_value"]
            ),
            c["warmup_steps"],
            start=c["init_value"],
        )
        for c in cycles
    ]
    bounds = list(np.cumsum([c["decay_steps"] for c in cycles])[:-1].tolist())
    s = lk.join(segs, bounds) if bounds else segs[0]
    f32(lrkit_curve(s, 400), ref, what=f"sgdr({cycles})")


@pytest.mark.parametrize("seed", range(4))
def test_contrib_reduce_on_plateau(seed: int) -> None:
    """optax.contrib.reduce_on_plateau(factor, patience, rtol, atol=0, cooldown, min_scale) with
    accumulation_size=1 reduces when its count *reaches* patience; torch (and lrkit) when it
    *exceeds* it: lrkit.optax.plateau_scale(plateau(factor, patience - 1, threshold=rtol,
    cooldown=cooldown, min_value=min_scale))."""
    from lrkit.optax import plateau_scale

    r = rng(seed, "reduce_on_plateau")
    factor, patience, cooldown = r.uniform(0.2, 0.9), r.randint(1, 6), r.randint(0, 3)
    rtol, min_scale = r.choice([1e-4, 1e-2]), r.choice([0.0, 0.01])
    metrics = []
    level = 10.0
    for _ in range(200):
        if r.random() < 0.15:
            level *= 0.5
        metrics.append(level * (1.0 + 0.02 * r.random()) if r.random() < 0.7 else level * 1.3)
    contrib = optax.contrib.reduce_on_plateau(
        factor=factor,
        patience=patience,
        rtol=rtol,
        atol=0.0,
        cooldown=cooldown,
        min_scale=min_scale,
    )
    ours = plateau_scale(
        lk.plateau(
            factor=factor,
            patience=patience - 1,
            threshold=rtol,
            cooldown=cooldown,
            min_value=min_scale,
        )
    )
    g = jnp.ones(1)
    s1, s2 = contrib.init(g), ours.init(g)
    u1s, u2s = [], []
    up1, up2 = jax.jit(contrib.update), jax.jit(ours.update)
    for m in metrics:
        u1, s1 = up1(g, s1, value=m)
        u2, s2 = up2(g, s2, value=m)
        u1s.append(float(u1[0]))
        u2s.append(float(u2[0]))
    f32(np.array(u2s), np.array(u1s), what=f"reduce_on_plateau seed={seed}")
    assert min(u1s) < 1.0
