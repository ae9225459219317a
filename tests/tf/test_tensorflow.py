"""TensorFlow tensors are an lrkit array family: every registered schedule on eager tensors,
inside ``tf.function`` and under XLA (``jit_compile=True``), on ``tf.Variable``s and Keras
variables, against the float64 formula (numpy's float64 path, which tests/test_formulas.py checks
against the written-out formulas); integer boundaries exact in float32 under XLA; int32/int64
steps, float64 kept, steps past 2**31, no NaN; bad input is a ``ValueError``."""

from __future__ import annotations

import math
import subprocess
import sys
import textwrap
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pytest
from _schedules import examples, named, trees
from hypothesis import given, settings
from hypothesis import strategies as st
from test_families import (
    BIG,
    BOUNDARY_CASES,
    COMPILED,
    EVALUATED,
    F32_ATOL,
    F32_RTOL,
    _assert_close,
    _grid,
    _reference_steps,
    _sane,
    _scale,
)

import lrkit as lk

tf = pytest.importorskip("tensorflow")


def tf_function(f: Callable[..., Any], jit: bool) -> Callable[..., Any]:
    """``f`` traced by ``tf.function`` (autograph on, as in users' code), XLA if ``jit``."""
    return tf.function(f, jit_compile=jit)  # type: ignore[no-any-return]


def batch(schedules: Sequence[lk.Schedule]) -> Callable[[Any], list[Any]]:
    """One function evaluating ``schedules[i]`` on row ``i`` of its input: one trace (and one XLA
    compilation) for several schedules."""
    return lambda t: [s(t[i]) for i, s in enumerate(schedules)]


# --- every constructor, random parameters ------------------------------------------------------


@pytest.mark.parametrize("name", EVALUATED)
@settings(max_examples=examples(2))
@given(data=st.data())
def test_every_constructor_matches_the_float64_formula(name: str, data: st.DataObject) -> None:
    schedules = data.draw(st.lists(named(name), min_size=3, max_size=3))
    grids = np.stack([_grid(s) for s in schedules])
    refs = [s(g) for s, g in zip(schedules, grids, strict=True)]
    t32 = tf.constant(grids, tf.float32)
    ints = np.floor(grids).astype(np.int64)
    traced = {jit: tf_function(batch(schedules), jit) for jit in (False, True)}
    outs = {
        "tf.function float32": traced[False](t32),
        "XLA float32": traced[True](t32),
        "XLA int64": traced[True](tf.constant(ints)),
    }
    for i, (s, g, ref) in enumerate(zip(schedules, grids, refs, strict=True)):
        scale = _scale(ref)
        out64 = s(tf.constant(g, tf.float64))
        assert isinstance(out64, tf.Tensor) and out64.dtype == tf.float64, s
        _assert_close(out64.numpy(), ref, 1e-12, 1e-14 * scale, f"{s}: eager float64")
        out32 = s(tf.constant(g, tf.float32))
        assert out32.dtype == tf.float32 and out32.shape == g.shape, s
        _sane(out32.numpy(), f"{s}: eager float32")
        _assert_close(out32.numpy(), ref, F32_RTOL, F32_ATOL * scale, f"{s}: eager float32")
        ref_int = s(ints[i].astype(np.float64))
        for dtype in (tf.int32, tf.int64):
            outi = s(tf.constant(ints[i], dtype))
            assert outi.dtype == tf.float32, f"{s}: {dtype.name} steps gave {outi.dtype.name}"
            _assert_close(outi.numpy(), ref_int, F32_RTOL, F32_ATOL * scale, f"{s}: {dtype.name}")
        for what, out in outs.items():
            got = out[i].numpy()
            assert out[i].dtype == tf.float32, f"{s}: {what} gave {out[i].dtype.name}"
            _sane(got, f"{s}: {what}")
            want = ref_int if "int" in what else ref
            _assert_close(got, want, F32_RTOL, F32_ATOL * scale, f"{s}: {what}")


@settings(max_examples=examples(8))
@given(s=trees(5))
def test_random_compositions_under_xla(s: lk.Schedule) -> None:
    """Nested compositions (warmup, join, >>, *, + of random leaves) under XLA, float32."""
    t = _grid(s)
    ref = s(t)
    got = tf_function(lambda x: s(x), True)(tf.constant(t, tf.float32)).numpy()
    _sane(got, f"{s}: XLA")
    _assert_close(got, ref, F32_RTOL, F32_ATOL * _scale(ref), f"{s}: XLA float32")


# --- exact integer boundaries in float32 -----------------------------------------------------


def _boundary_failures(outs: Sequence[Any], wants: Sequence[np.ndarray], what: str) -> list[str]:
    bad = []
    for s, out, want in zip(BOUNDARY_CASES, outs, wants, strict=True):
        got = np.asarray(out, dtype=np.float64)
        # a boundary one step off changes the value by a factor (gamma, a restart): far beyond
        # float32 rounding
        off = ~(np.abs(got - want) <= 2e-5 * np.abs(want) + 1e-6)
        if off.any():
            k = int(np.argmax(off))
            bad.append(f"{s} ({what}): step {k}: {got[k]!r}, want {want[k]!r}")
    return bad


@pytest.mark.parametrize(
    "dtype,mode",
    [("float32", "eager"), ("float32", "tf.function"), ("float32", "XLA"), ("int64", "XLA")],
)
def test_integer_boundaries_exact_in_float32(dtype: str, mode: str) -> None:
    """Step decays, staircases, restarts, cycles, joins and warmups switch exactly at their
    integer boundaries (the 27 cases of tests/test_families.py), steps 0..1199."""
    steps = np.arange(0, 1200)
    wants = [_reference_steps(s, steps) for s in BOUNDARY_CASES]
    x = tf.constant(steps, getattr(tf, dtype))
    f = batch(BOUNDARY_CASES)
    run = (lambda t: f([t] * len(BOUNDARY_CASES))) if mode == "eager" else tf_function(
        lambda t: f([t] * len(BOUNDARY_CASES)), mode == "XLA"
    )
    outs = [o.numpy() for o in run(x)]
    bad = _boundary_failures(outs, wants, f"{mode}, {dtype} steps")
    assert not bad, "\n".join(bad)


def test_floor_boundaries_far_out_under_xla() -> None:
    """floor(t / k) computed as t * (1/k) lands one step early at t = n*k: every multiple of k up
    to 2**24 (float32's exact integers) starts a new period there, under XLA, probed with
    cosine_restarts (1 at a restart, near 0 one step before)."""
    ks = [3, 7, 10, 11, 13, 41, 55, 100, 1000, 12.5]
    probes = []
    for k in ks:
        top = int(2**24 // k)
        n = np.arange(1, top, max(1, top // 5000), dtype=np.float64)
        at = n * k
        probes.append(at[at.astype(np.float32) == at])
    schedules = [lk.cosine_restarts(k) for k in ks]

    def run(offset: float) -> list[Any]:
        return [
            tf_function(lambda x, s=s: s(x), True)(tf.constant(at - offset, tf.float32)).numpy()
            for s, at in zip(schedules, probes, strict=True)
        ]

    bad = []
    for k, at, got, before in zip(ks, probes, run(0.0), run(1.0), strict=True):
        if (got != 1.0).any():
            bad.append(f"cosine_restarts({k}) at t = {at[got != 1.0][:5]}: {got[got != 1.0][:5]}")
        want = lk.cosine_restarts(k)(k - 1)
        off = np.abs(before - want) > 1e-3
        if off.any():
            bad.append(f"cosine_restarts({k}) one step before t = {at[off][:5]}: {before[off][:5]}")
    assert not bad, "\n".join(bad)


# --- steps past 2**31, float64 kept ------------------------------------------------------------

HUGE = [
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
]


@pytest.mark.parametrize("mode", ["eager", "XLA"])
def test_steps_past_int32(mode: str) -> None:
    """int64 steps beyond 2**31 (and up to 2**50): finite, >= 0, and a finite schedule's final
    value; an unbounded one stays within its range of values."""
    steps = [*BIG, 2**40, 2**50]
    x = tf.constant(steps, tf.int64)
    f = batch(HUGE)
    run = (lambda t: f([t] * len(HUGE))) if mode == "eager" else tf_function(
        lambda t: f([t] * len(HUGE)), True
    )
    for s, out in zip(HUGE, run(x), strict=True):
        got = out.numpy().astype(np.float64)
        assert out.dtype == tf.float32
        assert np.all(np.isfinite(got)) and np.all(got >= 0), f"{s}: {got}"
        py = np.array([s(k) for k in steps])
        if s.duration is not None:
            np.testing.assert_allclose(got, py, rtol=1e-5, atol=1e-7, err_msg=str(s))
        else:
            grid = s(np.arange(0, 5000.0))
            lo, hi = min(float(np.min(grid)), float(np.min(py))), float(np.max(grid))
            if isinstance(s, lk.CosineRestarts):
                # float32 far out (t ~ 2**40): the position in the cycle rounds and is held in
                # [0, 1], so the rate may be the infimum of the range itself, the end
                lo = min(lo, s.end)
            assert np.all(got >= lo * (1 - 1e-5) - 1e-7) and np.all(got <= hi * (1 + 1e-5)), s


FLOAT64_CASES = [*COMPILED, *BOUNDARY_CASES[::3], lk.inverse_sqrt(100) + lk.inverse_time(7)]


@pytest.mark.parametrize("mode", ["eager", "tf.function", "XLA"])
def test_float64_steps_give_float64_rates(mode: str) -> None:
    t = np.concatenate([np.arange(0, 300, dtype=np.float64), [1e4 + 0.25, 2.0**33]])
    f = batch(FLOAT64_CASES)
    n = len(FLOAT64_CASES)
    run = (lambda x: f([x] * n)) if mode == "eager" else tf_function(
        lambda x: f([x] * n), mode == "XLA"
    )
    for s, out in zip(FLOAT64_CASES, run(tf.constant(t, tf.float64)), strict=True):
        assert out.dtype == tf.float64, f"{s}: {out.dtype.name}"
        ref = s(t)
        _assert_close(out.numpy(), ref, 1e-12, 1e-14 * _scale(ref), f"{s}: {mode} float64")


# --- variables, shapes, devices ----------------------------------------------------------------

S = lk.warmup(lk.cosine(90, end=0.1), 10) * lk.step_decay(41, gamma=0.5)


def test_tf_variables_eager_and_traced() -> None:
    v = tf.Variable(0, dtype=tf.int64)
    f = tf_function(lambda: S(v), True)
    g = tf_function(lambda: S(v.read_value()), False)
    for k in [0, 5, 10, 40, 41, 82, 3_000_000_000]:
        v.assign(k)
        want = S(k)
        for out in (S(v), f(), g()):
            assert out.dtype == tf.float32 and out.shape == ()
            assert float(out) == pytest.approx(want, rel=2e-6, abs=1e-9), k
    w = tf.Variable([3.0, 41.0], dtype=tf.float64)
    out = S(w)
    assert out.dtype == tf.float64
    np.testing.assert_allclose(out.numpy(), S(np.array([3.0, 41.0])), rtol=1e-12)


def test_keras_variables_and_optimizer_iterations() -> None:
    """Keras 3 variables on the tensorflow backend are not tf.Tensor subclasses: they dispatch."""
    keras = pytest.importorskip("keras")
    assert keras.backend.backend() == "tensorflow"
    kv = keras.Variable(41, dtype="int64")
    assert not isinstance(kv, tf.Tensor | tf.Variable)
    assert float(S(kv)) == pytest.approx(S(41), rel=2e-6)
    opt = keras.optimizers.SGD(0.1)
    opt.iterations.assign(82)
    assert float(S(opt.iterations)) == pytest.approx(S(82), rel=2e-6)
    f = tf_function(lambda: S(opt.iterations), True)
    assert float(f()) == pytest.approx(S(82), rel=2e-6)
    opt.iterations.assign(83)
    assert float(f()) == pytest.approx(S(83), rel=2e-6)  # read at call time, not traced in


def test_mirrored_variable() -> None:
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    with strategy.scope():
        v = tf.Variable(41, dtype=tf.int64)
    assert float(S(v)) == pytest.approx(S(41), rel=2e-6)

    @tf.function
    def per_replica() -> Any:
        return strategy.run(lambda: S(v))

    values = strategy.experimental_local_results(per_replica())
    assert [float(x) for x in values] == pytest.approx([S(41)] * 2, rel=2e-6)


def test_shapes_and_devices_are_kept() -> None:
    t = tf.reshape(tf.range(12, dtype=tf.float32), (3, 4))
    for s in (S, lk.constant(0.3), lk.constant(0.3) * lk.constant(0.5), lk.multistep([2, 5])):
        out = s(t)
        assert out.shape == (3, 4) and out.dtype == tf.float32, s
        np.testing.assert_allclose(out.numpy(), s(t.numpy().astype(np.float64)), rtol=2e-6)
    assert S(tf.constant(5)).shape == ()
    x = tf.constant([1.0, 50.0])
    with tf.device("/cpu:1"):  # TensorFlow places ops by scope: nothing is pinned elsewhere
        out = S(x)
    assert out.device.endswith("CPU:1"), out.device
    assert S(tf.zeros((0,))).shape == (0,)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_half_precision_steps_keep_their_dtype(dtype: str) -> None:
    t = np.arange(0, 60, dtype=np.float64)
    cases = [*FLOAT64_CASES, S]
    x = tf.constant(t, getattr(tf, dtype))
    f = batch(cases)
    eager = f([x] * len(cases))
    xla = tf_function(lambda x: f([x] * len(cases)), True)(x)
    for s, *outs in zip(cases, eager, xla, strict=True):
        ref = s(t)
        for out in outs:
            assert out.dtype == getattr(tf, dtype), f"{s}: {out.dtype.name}"
            got = tf.cast(out, tf.float64).numpy()
            _sane(got, f"{s}: {dtype}")
            _assert_close(got, ref, 2e-2, 2e-2 * _scale(ref), f"{s}: {dtype}")


# --- bad input ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad,match",
    [
        (lambda: tf.constant("12"), "integers or floats; got a TensorFlow tensor of dtype string"),
        (lambda: tf.constant([True]), "dtype bool"),
        (lambda: tf.constant([1 + 2j]), "dtype complex128"),
        (lambda: tf.ragged.constant([[1.0], [2.0, 3.0]]), "dense tensor or a variable"),
        (lambda: tf.sparse.from_dense([0.0, 1.0]), "dense tensor or a variable"),
        (lambda: tf.constant([1.0, -1.0]), "finite step counts >= 0"),
        (lambda: tf.constant([math.nan]), "finite step counts >= 0"),
        (lambda: tf.constant(math.inf, tf.float64), "finite step counts >= 0"),
        (lambda: tf.Variable(-3), "finite step counts >= 0"),
    ],
)
def test_bad_steps_are_value_errors(bad: Callable[[], Any], match: str) -> None:
    t = bad()
    with pytest.raises(ValueError, match=match):
        S(t)


def test_bad_steps_inside_tf_function_are_value_errors_at_trace_time() -> None:
    with pytest.raises(ValueError, match="dtype string"):
        tf_function(lambda x: S(x), True)(tf.constant(["a"]))


def test_plateau_without_a_driver_is_a_value_error() -> None:
    with pytest.raises(lk.StatefulScheduleError, match="plateau"):
        lk.warmup(lk.plateau(), 5)(tf.constant(3))
    with pytest.raises(ValueError, match="plateau"):
        tf_function(lambda x: lk.plateau()(x), False)(tf.constant(3.0))


def test_a_tensorflow_loss_is_a_metric() -> None:
    """Stepper.report takes the loss of a custom TF loop as it is (an eager 0-d tensor)."""
    stepper = lk.Stepper(lk.plateau(factor=0.5, patience=0))
    stepper.report(tf.constant(1.0))
    stepper.report(tf.constant(2.0, tf.float64))
    assert stepper.value() == 0.5
    with pytest.raises(ValueError, match="metric"):
        stepper.report(tf.constant([1.0, 2.0]))


def test_dispatch_never_imports_tensorflow() -> None:
    """A type from a module named tensorflow... is refused without importing TensorFlow."""
    code = textwrap.dedent(
        """
        import sys
        import numpy as np
        import lrkit as lk
        s = lk.warmup(lk.cosine(90), 10)
        s(np.arange(5.0)); s(np.int64(3)); s(3)
        Fake = type("Tensor", (), {"__module__": "tensorflow.python.framework.ops"})
        KerasFake = type("Variable", (), {"__module__": "keras.src.backend"})
        for bad in (Fake(), KerasFake()):
            try:
                s(bad)
            except ValueError as e:
                assert "TensorFlow tensor" in str(e), e
            else:
                raise SystemExit("accepted a fake tensor")
        print("tensorflow" in sys.modules, "keras" in sys.modules)
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["False", "False"]
