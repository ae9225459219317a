"""One formula, every array family: Python floats, numpy float64, torch tensors (eager and
``torch.compile(fullgraph=True)``) and jax arrays (eager and ``jax.jit``, float32), for every
registered schedule; integer boundaries exact under ``jax.jit`` in float32; huge step counts."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from _schedules import COMPOSITES, LEAVES, examples, horizon, named
from hypothesis import given, settings
from hypothesis import strategies as st

import lrkit as lk

EVALUATED = sorted(set(LEAVES) | set(COMPOSITES))
"""Every registered name except plateau (stateful: ``tests/test_stepper.py``)."""


def test_every_stateless_schedule_is_covered() -> None:
    assert set(EVALUATED) | {"plateau"} == set(lk.registry())


GRID = 320
"""Every grid has this many points: fixed shapes keep jax's per-shape op caches warm."""


def _grid(s: lk.Schedule) -> np.ndarray:
    """Steps that are exact in float32: integers and quarters over the interesting range,
    phase boundaries and their neighbours, and points far past the end (GRID of them)."""
    h = horizon(s)
    top = int(1.5 * h) + 4
    ints = np.arange(0, top, max(1, top // 180), dtype=np.float64)
    quarters = np.arange(0, min(top, 40) * 4, 3, dtype=np.float64) / 4
    edges = [
        math.floor(4 * (b + d)) / 4
        for b in s.breakpoints()[:10]
        for d in (-1.0, -0.25, 0.0, 0.25, 1.0)
        if b + d >= 0
    ]
    far = [10 * h, 1000.0 + h]
    t = np.unique(np.concatenate([ints, quarters, np.array(edges + far, dtype=np.float64)]))
    t = t[:GRID]
    return np.concatenate([t, np.full(GRID - len(t), t[-1])])


def _sane(values: Any, what: str) -> None:
    v = np.asarray(values, dtype=np.float64)
    assert not np.isnan(v).any(), f"{what}: NaN at index {int(np.argmax(np.isnan(v)))}"
    assert (v >= 0).all(), f"{what}: negative {v[v < 0][:3]}"


def _scale(values: np.ndarray) -> float:
    return float(max(np.max(np.abs(values)), 1e-3))


def _assert_close(got: Any, want: np.ndarray, rtol: float, atol: float, what: str) -> None:
    got = np.asarray(got, dtype=np.float64)
    assert got.shape == want.shape, what
    bad = ~(np.abs(got - want) <= rtol * np.abs(want) + atol)
    if bad.any():
        i = int(np.argmax(bad))
        raise AssertionError(f"{what}: at index {i}: got {got[i]!r}, want {want[i]!r}")


F32_RTOL = 1e-4
F32_ATOL = 1e-4
"""float32 tolerances, relative and in units of the curve's scale: parameters themselves round to
float32 (gamma ** t with t in the thousands drifts by t * 6e-8), while a boundary one step off
changes a value by a factor."""


@pytest.mark.parametrize("name", EVALUATED)
@settings(max_examples=examples(6))
@given(data=st.data())
def test_python_numpy_torch_jax_agree(name: str, data: st.DataObject) -> None:
    s = data.draw(named(name))
    t = _grid(s)
    ref = s(t)
    assert isinstance(ref, np.ndarray) and ref.dtype == np.float64 and ref.shape == t.shape
    scale = _scale(ref)
    assert np.all(np.isfinite(ref)), s
    _sane(ref, f"{s}: numpy")

    # Python floats: one at a time, a float each, equal to the vectorised numpy value
    py = np.array([s(float(x)) for x in t])
    assert all(isinstance(s(float(x)), float) for x in t[:3])
    _assert_close(py, ref, 1e-12, 1e-14 * scale, f"{s}: Python vs numpy")
    ints = t[t == np.floor(t)][:50]
    _assert_close([s(int(x)) for x in ints], s(ints), 1e-12, 1e-14 * scale, f"{s}: int input")
    _assert_close(s(ints.astype(np.int64)), s(ints), 0, 0, f"{s}: numpy int64 input")

    torch = pytest.importorskip("torch")
    out64 = s(torch.tensor(t, dtype=torch.float64))
    assert isinstance(out64, torch.Tensor) and out64.dtype == torch.float64
    _assert_close(out64.numpy(), ref, 1e-12, 1e-14 * scale, f"{s}: torch float64")
    t32 = torch.tensor(t, dtype=torch.float32)
    out32 = s(t32)
    assert isinstance(out32, torch.Tensor) and out32.dtype == torch.float32
    assert out32.device == t32.device and out32.shape == t32.shape
    _sane(out32.numpy(), f"{s}: torch float32")
    _assert_close(out32.numpy(), ref, F32_RTOL, F32_ATOL * scale, f"{s}: torch float32")
    outi = s(torch.tensor(ints, dtype=torch.int64))
    assert outi.is_floating_point() and outi.dtype == torch.get_default_dtype()
    _assert_close(outi.numpy(), s(ints), F32_RTOL, F32_ATOL * scale, f"{s}: torch int64")
    meta = s(torch.zeros(4, device="meta"))  # same device: nothing built on the CPU behind it
    assert meta.device.type == "meta"

    jax = pytest.importorskip("jax")
    import jax.numpy as jnp

    outj = s(jnp.asarray(t, dtype=jnp.float32))
    assert isinstance(outj, jax.Array) and outj.dtype == jnp.float32
    _sane(outj, f"{s}: jax float32")
    _assert_close(np.asarray(outj), ref, F32_RTOL, F32_ATOL * scale, f"{s}: jax float32")
    outji = s(jnp.asarray(ints, dtype=jnp.int32))
    assert jnp.issubdtype(outji.dtype, jnp.floating)
    _assert_close(np.asarray(outji), s(ints), F32_RTOL, F32_ATOL * scale, f"{s}: jax int32")


@pytest.mark.parametrize("name", EVALUATED)
@settings(max_examples=examples(2))
@given(data=st.data())
def test_jax_jit_matches_numpy(name: str, data: st.DataObject) -> None:
    jax = pytest.importorskip("jax")
    import jax.numpy as jnp

    s = data.draw(named(name))
    t = _grid(s)
    ref = s(t)
    out = jax.jit(lambda x: s(x))(jnp.asarray(t, dtype=jnp.float32))
    _sane(out, f"{s}: jax.jit float32")
    _assert_close(np.asarray(out), ref, F32_RTOL, F32_ATOL * _scale(ref), f"{s}: jax.jit float32")
    one = jax.jit(lambda x: s(x))(jnp.float32(3.0))
    assert one.shape == () and float(one) == pytest.approx(s(3.0), rel=F32_RTOL, abs=1e-6)


def test_scalar_inputs_of_each_family() -> None:
    s = lk.warmup(lk.cosine(90, end=0.1), 10)
    assert isinstance(s(5), float) and s(5) == pytest.approx(0.5)
    assert float(s(np.float64(5.0))) == pytest.approx(0.5)
    assert float(s(np.int64(5))) == pytest.approx(0.5)
    torch = pytest.importorskip("torch")
    out = s(torch.tensor(5))
    assert isinstance(out, torch.Tensor) and out.shape == () and out.is_floating_point()
    jnp = pytest.importorskip("jax.numpy")
    assert float(s(jnp.asarray(5))) == pytest.approx(0.5)


def test_constant_gives_arrays_of_the_input_shape() -> None:
    s = lk.constant(0.3)
    assert s(np.zeros((2, 3))).shape == (2, 3)
    torch = pytest.importorskip("torch")
    assert s(torch.zeros(2, 3)).shape == (2, 3)
    jnp = pytest.importorskip("jax.numpy")
    assert s(jnp.zeros((2, 3))).shape == (2, 3)


# --- exact integer boundaries under jax.jit, float32 -----------------------------------------

BOUNDARY_CASES = [
    lk.step_decay(3, gamma=0.5),
    lk.step_decay(7, gamma=0.5),
    lk.step_decay(41, gamma=0.5),
    lk.step_decay(10),
    lk.step_decay(100, gamma=0.5),
    lk.step_decay(0.25, gamma=0.99),
    lk.step_decay(12.5, gamma=0.5),
    lk.multistep([30, 60, 61, 4000], gamma=0.5),
    lk.exponential(0.5, every=3, staircase=True),
    lk.exponential(0.9, every=7, staircase=True),
    lk.exponential(0.96, every=100, staircase=True, end=0.01),
    lk.inverse_time(7, rate=0.5, staircase=True),
    lk.cosine_restarts(10),
    lk.cosine_restarts(7, end=0.1, decay=0.5),
    lk.cosine_restarts(1, period_mult=2),
    lk.cosine_restarts(5, period_mult=2, decay=0.9),
    lk.cosine_restarts(3, period_mult=3, end=0.01),
    lk.cosine_restarts(2, period_mult=1.5),
    lk.cyclic(0.1, 1.0, 5, mode="triangular2"),
    lk.cyclic(0.1, 1.0, 7, mode="triangular2", down_period=3),
    lk.cyclic(0.1, 1.0, 3, mode="exp_range", gamma=0.99),
    lk.join([lk.constant(1.0), lk.constant(0.5), lk.constant(0.25)], [7, 300]),
    lk.join([lk.cosine(10), lk.step_decay(3, start=0.5)], [13]),
    lk.warmup(lk.step_decay(5, start=0.5), 10),
    lk.warmup(lk.constant(0.5), 1000),
    lk.linear(0.0, 1.0, 10) >> lk.constant(0.1) * lk.step_decay(9),
    lk.wsd(10, 20, 30, end=0.1),
    lk.staircase(lk.linear(1.0, 0.0, 1000), 7),
    lk.staircase(lk.cosine(900), 41),
    lk.staircase(lk.exponential(0.99), 3),
    lk.warmup(lk.staircase(lk.polynomial(300, power=2.0), 10), 13),
    lk.shift(lk.step_decay(7, gamma=0.5), 3),
    lk.maximum(lk.step_decay(13, gamma=0.5), 0.01),
    lk.minimum(lk.cosine_restarts(11), lk.step_decay(100, gamma=0.5)),
]


def _reference_steps(s: lk.Schedule, steps: np.ndarray) -> np.ndarray:
    """float64 values at the integer steps (Python path: the formula on exact floats)."""
    return np.array([s(int(k)) for k in steps])


@pytest.mark.parametrize("s", BOUNDARY_CASES, ids=str)
def test_integer_boundaries_exact_under_jit_float32(s: lk.Schedule) -> None:
    jax = pytest.importorskip("jax")
    import jax.numpy as jnp

    steps = np.arange(0, 1200)
    want = _reference_steps(s, steps)
    f = jax.jit(lambda x: s(x))
    for dtype in (jnp.float32, jnp.int32, jnp.uint32):
        got = np.asarray(f(jnp.asarray(steps, dtype=dtype)), dtype=np.float64)
        # a boundary one step off changes the value by a factor (gamma, a restart): far beyond
        # float32 rounding
        _assert_close(got, want, 2e-5, 1e-6, f"{s} under jax.jit, {dtype.__name__} steps")


@pytest.mark.parametrize("k", [3, 7, 10, 11, 13, 41, 55, 100, 1000, 12.5])
def test_staircase_holds_exactly_from_each_multiple_under_jit(k: float) -> None:
    """staircase(s, k) is s at the last multiple of k: at t = n*k (float32) exactly s(n*k) as a
    float32 step, never the previous stair. Probed with linear(0, 2**24, 2**24), whose value is
    its step."""
    jax = pytest.importorskip("jax")
    import jax.numpy as jnp

    s = lk.staircase(lk.linear(0.0, 2.0**24, 2**24), k)
    top = int(2**24 // k)
    n = np.arange(1, top, max(1, top // 20000), dtype=np.float64)
    at = n * k
    at = at[at.astype(np.float32) == at]
    got = np.asarray(jax.jit(lambda x: s(x))(jnp.asarray(at, dtype=jnp.float32)), np.float64)
    bad = got != at
    assert not bad.any(), f"staircase(.., {k}) at t = {at[bad][:5]}: {got[bad][:5]}"


@pytest.mark.parametrize("k", [3, 7, 10, 11, 13, 41, 55, 100, 1000, 12.5])
def test_floor_boundaries_far_out_under_jit(k: float) -> None:
    """floor(t / k) computed as t * (1/k) lands one step early at t = n*k: every multiple of k
    up to 2**24 (float32's exact integers) must start a new period exactly there. Probed with
    cosine_restarts (1 at a restart, near 0 one step before: nothing underflows)."""
    jax = pytest.importorskip("jax")
    import jax.numpy as jnp

    s = lk.cosine_restarts(k)
    top = int(2**24 // k)
    n = np.arange(1, top, max(1, top // 20000), dtype=np.float64)
    at = n * k
    at = at[at.astype(np.float32) == at]  # the restart steps float32 can hold
    f = jax.jit(lambda x: s(x))
    got = np.asarray(f(jnp.asarray(at, dtype=jnp.float32)))
    bad = got != 1.0
    assert not bad.any(), f"cosine_restarts({k}) at t = {at[bad][:5]}: {got[bad][:5]}, want 1.0"
    before = np.asarray(f(jnp.asarray(at - 1, dtype=jnp.float32)))
    want = s(k - 1)
    bad = np.abs(before - want) > 1e-3
    assert not bad.any(), (
        f"cosine_restarts({k}) one step before a restart, t = {at[bad][:5] - 1}: "
        f"{before[bad][:5]}, want {want}"
    )
    steps = jax.jit(lambda x: lk.step_decay(k, gamma=0.5)(x))
    m = np.arange(1, 60, dtype=np.float64) * k * 1000  # 1000 periods apart: 0.5**(1000 j)
    out = np.asarray(steps(jnp.asarray(m - 1, dtype=jnp.float32)))
    assert (out >= 0).all()


@pytest.mark.parametrize("s", BOUNDARY_CASES[:8], ids=str)
def test_integer_boundaries_exact_in_torch_float32(s: lk.Schedule) -> None:
    torch = pytest.importorskip("torch")
    steps = np.arange(0, 1200)
    want = _reference_steps(s, steps)
    for dtype in (torch.float32, torch.int32, torch.int64):
        got = s(torch.tensor(steps).to(dtype)).double().numpy()
        _assert_close(got, want, 2e-5, 1e-6, f"{s} in torch, {dtype}")


# --- step counts beyond int32 -----------------------------------------------------------------

BIG = [2**31 - 1, 2**31, 2**31 + 5, 3_000_000_000, 2**32 - 1]


@pytest.mark.parametrize(
    "s",
    [
        lk.warmup(lk.cosine(9000, end=0.01), 1000),
        lk.linear(0.0, 1.0, 10) >> lk.cosine(100, end=0.05) >> lk.constant(0.02),
        lk.one_cycle(1000, peak=0.1),
        lk.wsd(10, 100, 50, end=0.1),
        lk.polynomial(100, power=2.0, end=0.01),
        lk.step_decay(1000, gamma=0.5),
        lk.exponential(0.99, end=1e-3),
        lk.inverse_sqrt(1000),
        lk.cosine_restarts(100, end=0.1),
        lk.cosine_restarts(100, end=0.1, period_mult=2),
        lk.cyclic(0.1, 1.0, 100),
        lk.untuned_warmup(0.999),
    ],
    ids=str,
)
def test_huge_step_counts(s: lk.Schedule) -> None:
    py = np.array([s(k) for k in BIG])
    assert np.all(np.isfinite(py)) and np.all(py >= 0)
    if s.duration is not None:
        np.testing.assert_allclose(py, s(s.duration), rtol=1e-12)
    jax = pytest.importorskip("jax")
    import jax.numpy as jnp

    got = np.asarray(jax.jit(lambda x: s(x))(jnp.asarray(BIG, dtype=jnp.uint32)))
    assert np.all(np.isfinite(got)) and np.all(got >= 0), got
    if s.duration is not None:
        np.testing.assert_allclose(got, py, rtol=1e-5, atol=1e-7)
    else:  # unbounded: within the schedule's range of values at least
        lo, hi = float(np.min(s(np.arange(0, 5000.0)))), float(np.max(s(np.arange(0, 5000.0))))
        lo = min(lo, float(np.min(py)))
        assert np.all(got >= lo * (1 - 1e-5) - 1e-7) and np.all(got <= hi * (1 + 1e-5)), got
    torch = pytest.importorskip("torch")
    out = s(torch.tensor(BIG, dtype=torch.int64))
    assert torch.all(torch.isfinite(out)) and torch.all(out >= 0)
    if s.duration is not None:
        np.testing.assert_allclose(out.double().numpy(), py, rtol=1e-5, atol=1e-7)
    big64 = s(torch.tensor([2**40, 2**50], dtype=torch.int64))
    assert torch.all(torch.isfinite(big64)) and torch.all(big64 >= 0)


# --- torch.compile ---------------------------------------------------------------------------

COMPILED = [
    lk.warmup(lk.cosine(90, end=0.1, exponent=2.0), 10, start=0.01, shape="exponential"),
    lk.cosine_restarts(5, period_mult=2, decay=0.9) * 0.1
    + lk.cyclic(0.1, 1.0, 7, mode="triangular2", down_period=3),
    lk.join([lk.one_cycle(50), lk.step_decay(7), lk.multistep([3, 9])], [50, 80])
    * (lk.wsd(5, 10, 20, start=0.1, decay_shape="1-sqrt") + 0.01)
    * lk.exponential(0.9, every=3, staircase=True, end=0.1)
    * lk.untuned_warmup(0.99),
]
"""Three traces that cover every leaf family's code paths (each compile costs about a second)."""


@pytest.mark.parametrize("s", COMPILED, ids=str)
def test_torch_compile_fullgraph(s: lk.Schedule) -> None:
    torch = pytest.importorskip("torch")
    torch._dynamo.reset()
    f = torch.compile(lambda t: s(t), fullgraph=True, backend="aot_eager")
    t = torch.arange(0, 200, dtype=torch.float32)
    got = f(t)
    np.testing.assert_allclose(got.double().numpy(), s(t.double().numpy()), rtol=1e-5, atol=1e-7)
    got_int = f(torch.arange(0, 200))  # integer steps: traced too
    np.testing.assert_allclose(got_int.double().numpy(), got.double().numpy(), rtol=1e-6)


def test_torch_compile_inductor_once() -> None:
    """One real compile (inductor, fullgraph) of a composite schedule on a 0-d step tensor, as a
    training loop with a compiled optimizer step would use it."""
    torch = pytest.importorskip("torch")
    torch._dynamo.reset()
    s = lk.join([lk.warmup(lk.cosine(90, end=0.01), 10, start=0.001), lk.step_decay(7)], [100])
    f = torch.compile(lambda t: s(t), fullgraph=True)
    steps = torch.arange(0, 150, dtype=torch.float32)
    got = f(steps)
    np.testing.assert_allclose(
        got.double().numpy(), s(steps.double().numpy()), rtol=1e-5, atol=1e-7
    )


def test_torch_float64_dtype_is_kept() -> None:
    """A float64 step tensor gives float64 rates for every schedule (no silent float32)."""
    torch = pytest.importorskip("torch")
    t = torch.arange(0, 20, dtype=torch.float64)
    cases = [
        lk.multistep([2, 5], gamma=0.5),
        lk.join([lk.constant(1.0), lk.constant(0.5)], [2]),
        lk.step_decay(3),
        lk.warmup(lk.constant(0.5), 2),
        lk.constant(0.3),
        lk.constant(0.3) * lk.constant(0.5),
        lk.cyclic(0.1, 1.0, 3, mode="triangular2"),
        lk.one_cycle(20),
        lk.wsd(2, 2, 2),
    ]
    for s in cases:
        out = s(t)
        assert out.dtype == torch.float64, f"{s}: {out.dtype}"
        np.testing.assert_allclose(out.numpy(), s(t.numpy()), rtol=1e-15, err_msg=str(s))


@pytest.mark.parametrize(
    "s",
    [
        lk.cyclic(0.0, 1.0, 1, down_period=29),
        lk.cyclic(0.001, 0.1, 3, mode="triangular2"),
        lk.cyclic(0.1, 1.0, 7, down_period=2),
        lk.cyclic(0.0, 1.0, 2000),
    ],
    ids=str,
)
def test_cyclic_exact_at_integer_steps_float32(s: lk.Cyclic) -> None:
    """Far into training (up to 2**22 steps), integer steps give float32-accurate values: the
    position in the cycle is exact, not rounded from t / cycle_length."""
    steps = np.concatenate([np.arange(0, 200), np.arange(30_000, 30_200), 2**22 - np.arange(200)])
    want = s(steps.astype(np.float64))
    amp = abs(s.high - s.low)
    torch = pytest.importorskip("torch")
    got = s(torch.tensor(steps, dtype=torch.float32)).double().numpy()
    _assert_close(got, want, 1e-6, 1e-6 * amp, f"{s}: torch float32")
    jax = pytest.importorskip("jax")
    import jax.numpy as jnp

    got = np.asarray(jax.jit(lambda x: s(x))(jnp.asarray(steps, dtype=jnp.float32)))
    _assert_close(got, want, 1e-6, 1e-6 * amp, f"{s}: jax.jit float32")


X64_CASES = [*COMPILED, *BOUNDARY_CASES[::3], lk.inverse_sqrt(100) + lk.inverse_time(7)]


def test_jax_x64_keeps_float64() -> None:
    """With jax's x64 mode on, float64 and int64 steps give float64 rates equal to numpy's to
    1e-12, eager and jitted."""
    jax = pytest.importorskip("jax")
    import jax.numpy as jnp

    t = np.concatenate([np.arange(0, 300, dtype=np.float64), [1e4 + 0.25, 2.0**33]])
    with jax.enable_x64(True):
        for s in X64_CASES:
            for x in (jnp.asarray(t, dtype=jnp.float64), jnp.asarray(t.astype(np.int64))):
                ref = s(np.asarray(x, dtype=np.float64))
                for f in (s, jax.jit(lambda x, s=s: s(x))):
                    out = f(x)
                    assert out.dtype == jnp.float64, f"{s}: {out.dtype}"
                    _assert_close(np.asarray(out), ref, 1e-12, 1e-14 * _scale(ref), f"{s} x64")


def test_cuda_device_is_kept() -> None:
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    t = torch.arange(0, 100, device="cuda")
    for s in COMPILED:
        out = s(t)
        assert out.device == t.device
        np.testing.assert_allclose(out.cpu().double().numpy(), s(np.arange(100.0)), rtol=1e-5)


@pytest.mark.parametrize("mode", ["triangular", "triangular2", "exp_range"])
def test_cyclic_stays_in_range_far_out_in_float32(mode: str) -> None:
    """In float32 past 2**24 steps ``q * total`` rounds, so the step within the cycle could leave
    [0, total] and the rate go below ``low`` (negative for low = 0) past ~2**40: clipped."""
    jax = pytest.importorskip("jax")
    import jax.numpy as jnp

    s = lk.cyclic(0.0, 1.0, 7, mode=mode, gamma=0.999, down_period=5)
    t = np.concatenate([2.0 ** np.arange(24, 63), 3.0 * 2.0 ** np.arange(40, 60) + 1.0])
    got = np.asarray(jax.jit(lambda x: s(x))(jnp.asarray(t, dtype=jnp.float32)), np.float64)
    assert np.isfinite(got).all() and (got >= 0).all() and (got <= 1.0 + 1e-6).all(), got
