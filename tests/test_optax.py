"""lrkit schedules as optax schedules (jit, vmap, optimizers, large counts, exact boundaries) and
lrkit.optax.plateau_scale."""

from __future__ import annotations

import math
import os
import random
import subprocess
import sys
import textwrap

import numpy as np
import pytest

jax = pytest.importorskip("jax")
optax = pytest.importorskip("optax")
import jax.numpy as jnp  # noqa: E402

import lrkit as lk  # noqa: E402
from lrkit.optax import PlateauScaleState, max_reductions, plateau_scale  # noqa: E402

F32 = 1.2e-7


def warmup_cosine(t: float, warmup: int, steps: int, start: float, end: float) -> float:
    """warmup(cosine(steps, end=end), warmup, start=start), written out."""
    if t < warmup:
        return start + (1.0 - start) * t / warmup
    u = min(t - warmup, steps)
    return end + (1.0 - end) * 0.5 * (1.0 + math.cos(math.pi * u / steps))


S = lk.warmup(lk.cosine(40, end=0.1), 10, start=0.05)


def ref(t: float) -> float:
    return warmup_cosine(t, 10, 40, 0.05, 0.1)


# --- a schedule is an optax schedule -----------------------------------------------------------


def test_scale_by_schedule_under_jit() -> None:
    tx = optax.scale_by_schedule(S)
    params = {"w": jnp.zeros(3)}
    state = tx.init(params)
    update = jax.jit(tx.update)
    for k in range(60):
        upd, state = update({"w": jnp.ones(3)}, state)
        np.testing.assert_allclose(np.asarray(upd["w"]), ref(k), rtol=4 * F32)


def test_adam_with_an_lrkit_learning_rate_matches_manual_rates() -> None:
    """optax.adam(learning_rate=0.01 * S) == scale_by_adam then -lr_k with lr_k written out."""
    grads = [jnp.asarray(np.random.default_rng(k).normal(size=4), jnp.float32) for k in range(30)]
    tx = optax.adam(learning_rate=0.01 * S)
    adam = optax.scale_by_adam()

    @jax.jit
    def step(p: jax.Array, st: object, g: jax.Array) -> tuple[jax.Array, object]:
        upd, st = tx.update(g, st, p)
        return optax.apply_updates(p, upd), st

    p, st = jnp.zeros(4), tx.init(jnp.zeros(4))
    q, ast = jnp.zeros(4), adam.init(jnp.zeros(4))
    for k, g in enumerate(grads):
        p, st = step(p, st, g)
        direction, ast = adam.update(g, ast, q)
        q = q - 0.01 * ref(k) * direction
    np.testing.assert_allclose(np.asarray(p), np.asarray(q), rtol=1e-5, atol=1e-7)


def test_inject_hyperparams_under_jit() -> None:
    tx = optax.inject_hyperparams(optax.adam)(learning_rate=S)
    state = tx.init(jnp.zeros(2))
    update = jax.jit(tx.update)
    seen = []
    for _ in range(55):
        _, state = update(jnp.ones(2), state, jnp.zeros(2))
        seen.append(float(state.hyperparams["learning_rate"]))
    # the state holds the rate the last update used: update k (from 0) used s(k).
    np.testing.assert_allclose(seen, [ref(k) for k in range(55)], rtol=4 * F32)


def test_vmap_over_steps() -> None:
    t = jnp.arange(0, 500, dtype=jnp.int32)
    got = np.asarray(jax.jit(jax.vmap(S))(t))
    np.testing.assert_allclose(got, [ref(k) for k in range(500)], rtol=4 * F32, atol=F32)
    assert got.dtype == np.float32


def test_jit_with_traced_float_steps() -> None:
    t = jnp.linspace(0.0, 60.0, 241, dtype=jnp.float32)
    got = np.asarray(jax.jit(S)(t))
    np.testing.assert_allclose(
        got, [ref(float(x)) for x in np.asarray(t)], rtol=4 * F32, atol=2 * F32
    )


# --- exact boundaries under jit, float32 ------------------------------------------------------

# Step sizes for which a bare jnp.floor(t / k) under jax.jit(jax.vmap(...)) on CPU drops one
# step early at some t = n * k (41 / 41 -> 0.99999994), mixed with ordinary ones.
BOUNDARY_SIZES = [1, 2, 3, 7, 10, 41, 47, 55, 61, 83, 97, 107, 109, 121, 333, 1001, 4097]


def _around(points: list[int]) -> np.ndarray:
    return np.array(sorted({q + d for q in points for d in (-1, 0, 1) if q + d >= 0}))


@pytest.mark.parametrize("dtype", [jnp.int32, jnp.float32])
def test_step_decay_drops_exactly_at_multiples(dtype: object) -> None:
    """A bare floor(t / k) under XLA (t * (1/k)) lands one step early at t = n*k for many k."""
    for k in BOUNDARY_SIZES:
        s = lk.step_decay(k, gamma=0.5)
        t = _around([n * k for n in range(1, 30)])
        got = np.asarray(jax.jit(jax.vmap(s))(jnp.asarray(t, dtype)))
        want = np.array([0.5 ** (int(x) // k) for x in t])
        # the floor decided exactly (a wrong one is off by 2x); the power within float32
        np.testing.assert_allclose(got, want.astype(np.float32), rtol=4 * F32, atol=0,
                                   err_msg=f"step_size={k}")


def test_the_boundary_sizes_defeat_a_bare_floor() -> None:
    """The sizes above are chosen so that the tests can fail: a naive floor(t / k) is wrong
    for at least one of them (if XLA ever divides exactly, this documents it)."""
    wrong = 0
    for k in BOUNDARY_SIZES:
        t = jnp.asarray(np.arange(1, 30) * k, jnp.int32)
        naive = jax.jit(jax.vmap(lambda x, k=k: jnp.floor(x.astype(jnp.float32) / k)))(t)
        wrong += int((np.asarray(naive) != np.arange(1, 30)).sum())
    if wrong == 0:
        pytest.skip("this XLA build divides exactly; the boundary tests cannot fail here")


def test_staircase_exponential_and_cyclic_cycles_exact() -> None:
    for k in BOUNDARY_SIZES:
        t = _around([n * k for n in range(1, 6)])
        tj = jnp.asarray(t, jnp.int32)
        stair = lk.exponential(0.5, every=k, staircase=True)
        want = np.array([0.5 ** (int(x) // k) for x in t], np.float32)
        np.testing.assert_allclose(np.asarray(jax.jit(jax.vmap(stair))(tj)), want,
                                   rtol=4 * F32, atol=0)
        cyc = lk.cyclic(0.0, 1.0, k, mode="triangular2")
        tt = _around([2 * n * k for n in range(1, 5)])
        got = np.asarray(jax.jit(jax.vmap(cyc))(jnp.asarray(tt, jnp.int32)))
        # written out: cycle c = floor(t / 2k), x = t / 2k - c, height (1 - |2x - 1|) / 2**c
        want_c = []
        for x in tt:
            c = int(x) // (2 * k)
            frac = (int(x) - c * 2 * k) / (2 * k)
            want_c.append((1 - abs(2 * frac - 1)) / 2**c)
        np.testing.assert_allclose(got, want_c, rtol=4 * F32, atol=4 * F32, err_msg=f"k={k}")


def test_multistep_and_join_boundaries_exact() -> None:
    ms = [3, 10, 11, 250, 1001, 4097]
    s = lk.multistep(ms, gamma=0.5)
    t = _around(ms)
    got = np.asarray(jax.jit(jax.vmap(s))(jnp.asarray(t, jnp.int32)))
    np.testing.assert_allclose(got, [0.5 ** sum(m <= x for m in ms) for x in t], rtol=4 * F32,
                               atol=0)
    j = lk.join([lk.constant(1.0), lk.constant(0.5), lk.constant(0.25)], [7, 1001])
    t = _around([7, 1001])
    got = np.asarray(jax.jit(jax.vmap(j))(jnp.asarray(t, jnp.float32)))
    np.testing.assert_array_equal(got, [1.0 if x < 7 else 0.5 if x < 1001 else 0.25 for x in t])


@pytest.mark.parametrize("period_mult", [1, 2, 3])
def test_cosine_restarts_restart_exactly(period_mult: int) -> None:
    for p in [3, 7, 10, 41, 47, 55, 100, 333]:
        s = lk.cosine_restarts(p, period_mult=period_mult)
        starts = [
            round(p * (period_mult**i - 1) / (period_mult - 1)) if period_mult > 1 else p * i
            for i in range(1, 5)
        ]
        t = jnp.asarray(starts, jnp.int32)
        got = np.asarray(jax.jit(jax.vmap(s))(t))
        np.testing.assert_allclose(got, np.ones(len(starts), np.float32), rtol=4 * F32, atol=0,
                                   err_msg=f"p={p}")
        # one step before each restart: the last step of cycle i (length p * period_mult**i)
        before = np.asarray(jax.jit(jax.vmap(s))(t - 1))
        want = [
            0.5 * (1 + math.cos(math.pi * (p * period_mult**i - 1) / (p * period_mult**i)))
            for i in range(len(starts))
        ]
        np.testing.assert_allclose(before, want, rtol=1e-5, atol=1e-6, err_msg=f"p={p}")


def test_finite_schedules_hold_their_end_under_jit() -> None:
    """Past the end, min(t, n) / n may round to 1.0000001 under XLA; nothing may turn NaN or
    dip below the end value (polynomial with a non-integer power is the sensitive case)."""
    for n in [3, 7, 380, 382, 383, 384, 387, 390, 393, 395, 1000]:
        t = jnp.arange(0, 2 * n + 20, dtype=jnp.int32)
        for s, end in [
            (lk.polynomial(n, 2.79, start=0.8, end=0.28), 0.28),
            (lk.polynomial(n, 0.5), 0.0),
            (lk.linear(1.0, 0.0, n), 0.0),
            (lk.cosine(n, end=0.1), 0.1),
        ]:
            got = np.asarray(jax.jit(jax.vmap(s))(t))
            assert np.isfinite(got).all(), f"{s}: NaN at {np.flatnonzero(~np.isfinite(got))[:3]}"
            assert (got >= 0).all(), f"{s}: negative"
            np.testing.assert_allclose(got[n:], end, rtol=4 * F32, atol=F32, err_msg=str(s))


# --- counts past 2**31 --------------------------------------------------------------------------


def test_uint32_counts_past_2_31_in_float32() -> None:
    """uint32 steps past 2**31 evaluate (no int32 overflow); float32 rounds t to 24 bits."""
    s = lk.inverse_sqrt(1000.0)
    for t in [2**31 - 1, 2**31, 2**31 + 12345, 2**32 - 1]:
        got = float(jax.jit(s)(jnp.asarray(t, jnp.uint32)))
        want = 1.0 / math.sqrt(1.0 + float(np.float32(t)) / 1000.0)
        assert got == pytest.approx(want, rel=4 * F32)


@pytest.mark.parametrize(
    "schedule",
    [
        lk.step_decay(2**31 + 7, gamma=0.5),
        lk.cosine(2**33),
        lk.linear(1.0, 0.0, 2**32),
        lk.multistep([2**31 + 1]),
        lk.join([lk.constant(1.0), lk.constant(0.5)], [2**31 + 3]),
        lk.inverse_sqrt(2**40),
    ],
    ids=str,
)
def test_step_parameters_past_2_31_in_float32(schedule: lk.Schedule) -> None:
    """Python-int parameters beyond int32 must not overflow jax's int32 conversion (x64 off)."""
    t = jnp.asarray([0, 5, 2**30], jnp.int32)
    got = np.asarray(jax.jit(jax.vmap(schedule))(t))
    np.testing.assert_allclose(got, [schedule(int(x)) for x in t], rtol=4 * F32)


def test_optax_counter_saturates_at_int32_max() -> None:
    """optax keeps its count in int32 and stops it at 2**31 - 1: the schedule then holds the
    value it has there (documented in docs/jax-optax.md)."""
    # step_size 3 * 2**29: float32 rounding of t near 2**31 cannot move floor(t / step_size)
    tx = optax.scale_by_schedule(lk.step_decay(3 * 2**29, gamma=0.5))
    state = tx.init(jnp.zeros(1))
    state = state._replace(count=jnp.asarray(2**31 - 2, jnp.int32))
    seen = []
    for _ in range(3):
        upd, state = tx.update(jnp.ones(1), state)
        seen.append(float(upd[0]))
    assert int(state.count) == 2**31 - 1
    assert seen == [0.5, 0.5, 0.5]


X64_SCRIPT = textwrap.dedent(
    """
    import math, jax, jax.numpy as jnp, numpy as np, lrkit as lk
    jax.config.update("jax_enable_x64", True)
    base = 2**31
    cases = [lk.step_decay(2**31 + 7, gamma=0.5), lk.multistep([2**31, 2**32 + 1], gamma=0.5),
             lk.join([lk.constant(1.0), lk.cosine(2**33)], [2**31 + 3]),
             lk.cosine_restarts(2**31 - 1, period_mult=2), lk.inverse_sqrt(1e6),
             lk.warmup(lk.cosine(2**34), 2**32)]
    t = np.array([0, base - 1, base, base + 3, base + 6, base + 7, base + 8, 2**32 + 1,
                  2**33 - 1, 2**33 + 5], dtype=np.int64)
    for s in cases:
        got = np.asarray(jax.jit(jax.vmap(s))(jnp.asarray(t, jnp.int64)))
        assert got.dtype == np.float64, got.dtype
        want = np.array([s(int(x)) for x in t])
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15, err_msg=str(s))
    print("ok")
    """
)


def test_int64_counts_past_2_31_with_x64() -> None:
    """With jax_enable_x64, int64 steps evaluate in float64: boundaries past 2**31 are exact."""
    out = subprocess.run(
        [sys.executable, "-c", X64_SCRIPT],
        capture_output=True,
        text=True,
        env={**os.environ, "JAX_PLATFORMS": "cpu"},
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "ok"


# --- plateau_scale ------------------------------------------------------------------------------


def _metrics(seed: int, n: int, mode: str) -> list[float]:
    r = random.Random(seed)
    out, level = [], 10.0
    for _ in range(n):
        if r.random() < 0.15:
            level *= 0.5 if mode == "min" else 1.5
        out.append(level * (1.0 + 0.02 * r.random()) if r.random() < 0.7 else level * 1.3)
    return [float(np.float32(m)) for m in out]


@pytest.mark.parametrize("mode", ["min", "max"])
@pytest.mark.parametrize("threshold_mode", ["rel", "abs"])
@pytest.mark.parametrize("seed", range(3))
def test_plateau_scale_matches_the_stepper(seed: int, mode: str, threshold_mode: str) -> None:
    r = random.Random(f"{seed}{mode}{threshold_mode}")
    p = lk.plateau(
        factor=r.uniform(0.2, 0.9),
        patience=r.randint(0, 5),
        mode=mode,
        threshold=r.choice([1e-3, 0.05]),
        threshold_mode=threshold_mode,
        cooldown=r.randint(0, 3),
        min_value=r.choice([0.0, 0.01]),
        start=r.uniform(0.5, 1),
    )
    metrics = _metrics(seed, 200, mode)
    tx = plateau_scale(p)
    grads = {"a": jnp.ones(2), "b": jnp.ones((), jnp.float32)}
    state = tx.init(grads)

    def body(st: PlateauScaleState, m: jax.Array) -> tuple[PlateauScaleState, jax.Array]:
        upd, st = tx.update(grads, st, value=m)
        return st, upd["b"]

    _, scales = jax.jit(lambda st, ms: jax.lax.scan(body, st, ms))(state, jnp.asarray(metrics))
    stepper = lk.Stepper(p)
    want = []
    for m in metrics:
        stepper.report(m)
        want.append(stepper.value())
    np.testing.assert_allclose(np.asarray(scales), want, rtol=4 * F32)
    assert min(want) < p.start, "the metrics should trigger reductions"


def test_plateau_scale_against_torch_reduce_lr_on_plateau() -> None:
    torch = pytest.importorskip("torch")
    metrics = _metrics(7, 150, "min")
    param = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([param], lr=1.0)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(
        opt, factor=0.5, patience=3, cooldown=2, min_lr=1e-3
    )
    tx = plateau_scale(lk.plateau(factor=0.5, patience=3, cooldown=2, min_value=1e-3), eps=1e-8)
    state = tx.init(jnp.zeros(1))
    update = jax.jit(tx.update)
    for m in metrics:
        sched.step(m)
        upd, state = update(jnp.ones(1), state, value=m)
        assert float(upd[0]) == pytest.approx(opt.param_groups[0]["lr"], rel=4 * F32)


def test_plateau_scale_in_a_chain_is_the_product_schedule() -> None:
    """chain(sgd(lr=s), plateau_scale(p)) applies s(k) * plateau value after the k-th report."""
    s = lk.warmup(lk.constant(), 5)
    p = lk.plateau(factor=0.5, patience=1)
    tx = optax.chain(optax.sgd(learning_rate=s), plateau_scale(p))
    state = tx.init(jnp.zeros(1))
    update = jax.jit(tx.update)
    stepper = lk.Stepper(s * p)
    metrics = [5.0, 4.0, 4.5, 4.5, 4.5, 3.0, 3.5, 3.5, 3.5, 3.5, 3.5, 3.5]
    for m in metrics:
        upd, state = update(jnp.ones(1), state, jnp.zeros(1), value=m)
        stepper.report(m)
        assert -float(upd[0]) == pytest.approx(stepper.value(), rel=4 * F32)
        stepper.step()


def test_plateau_scale_state_is_plain_arrays() -> None:
    tx = plateau_scale("plateau(factor=0.5, patience=0)")
    state = tx.init(jnp.zeros(1))
    assert isinstance(state, PlateauScaleState)
    assert float(state.scale) == 1.0 and int(state.reductions) == 0
    _, state = tx.update(jnp.ones(1), state, value=1.0)
    _, state = tx.update(jnp.ones(1), state, value=1.0)
    assert int(state.reductions) == 1 and float(state.scale) == 0.5


def test_plateau_scale_rejects_other_schedules() -> None:
    with pytest.raises(ValueError, match="bare plateau"):
        plateau_scale(lk.cosine(10) * lk.plateau())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="plateau"):
        plateau_scale(3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="eps"):
        plateau_scale(lk.plateau(), eps=-1.0)
    with pytest.raises(TypeError):
        tx = plateau_scale(lk.plateau())
        tx.update(jnp.ones(1), tx.init(jnp.zeros(1)))  # value= is required


def test_max_reductions_stops_at_the_floor() -> None:
    assert max_reductions(lk.plateau(factor=0.5, min_value=0.25), 0.0) == 2
    assert max_reductions(lk.plateau(factor=0.1, start=1.0), 1e-8) == 8
