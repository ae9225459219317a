"""Blocked numpy evaluation (lrkit._blocks): long inputs are evaluated in cache-sized blocks
into one output array. Every element must get the value of the unblocked formula (to 1e-12: the
same numpy operations, but never asserted bit for bit, as numpy's SIMD loops may treat a block's
tail differently on another CPU) and of the independent reference of tests/test_formulas.py, on
sorted inputs that hold every boundary (the sorted fast path), whatever the tree, the input's
order, dtype, shape or memory layout; the peak memory stays near the output's size."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
from _schedules import examples, horizon, trees
from hypothesis import given, settings
from hypothesis import strategies as st
from test_formulas import reference  # the independent formula (plain math and loops)

import lrkit as lk
import lrkit._blocks as blocks
from lrkit._xp import namespace_of

N = 2 * blocks.BLOCK + 123


def _unblocked(s: lk.Schedule, t: np.ndarray) -> np.ndarray:
    """The formula on the whole array at once (no blocks, no order hint)."""
    tf = np.asarray(t, dtype=np.float64)
    out = s._eval(tf, namespace_of(tf), ())
    return np.broadcast_to(np.asarray(out, dtype=np.float64), tf.shape)


def _inputs(s: lk.Schedule, seed: int) -> list[np.ndarray]:
    h = horizon(s)
    g = np.random.default_rng(seed)
    ramp = np.linspace(0.0, 2 * h + 5, N)
    ints = np.arange(N, dtype=np.int64) % int(2 * h + 5)  # sorted runs with resets
    return [
        ramp,                                   # sorted: the order hint applies in every block
        np.floor(ramp),                         # sorted integers, many repeats
        ints,                                   # int64 input, converted block by block
        g.permutation(ramp),                    # unsorted
        ramp[::-1].copy(),                      # decreasing
        np.concatenate([ramp[: N // 2], ramp[: N - N // 2]]),  # sorted halves
    ]


@settings(max_examples=examples(60))
@given(trees(max_leaves=6), st.integers(0, 2**32 - 1))
def test_blocks_equal_the_unblocked_formula(s: lk.Schedule, seed: int) -> None:
    for t in _inputs(s, seed):
        got = s(t)
        assert got.dtype == np.float64 and got.shape == t.shape
        want = _unblocked(s, t)
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=0,
                                   err_msg=f"{s} on {t.dtype} {t[:4]}...")


@settings(max_examples=examples(40))
@given(trees(max_leaves=6), st.integers(0, 2**32 - 1))
def test_blocks_match_the_reference_on_sorted_inputs_with_boundaries(s: lk.Schedule,
                                                                     seed: int) -> None:
    """Not lrkit against lrkit: the blocked, ordered path (slices cut by searchsorted) against
    the independent formula of tests/test_formulas.py, at every breakpoint, its neighbours
    (+-1, +-0.5) and random steps, in a sorted input of more than two blocks."""
    h = horizon(s)
    g = np.random.default_rng(seed)
    edges = [b + d for b in s.breakpoints() for d in (-1.0, -0.5, 0.0, 0.5, 1.0) if b + d >= 0]
    probe = np.array(sorted({0.0, 1.0, *edges, *g.uniform(0, 2 * h + 5, 40).tolist(),
                             *np.floor(g.uniform(0, 2 * h + 5, 40)).tolist()}))
    t = np.sort(np.concatenate([np.linspace(0.0, 2 * h + 5, N), probe]))
    got = s(t)
    where = np.searchsorted(t, probe)  # the first index holding each probe step
    scale = max(max(abs(reference(s, float(x))) for x in (0.0, 1.0, 2.0)), 1.0)
    for i in where.tolist():
        x = float(t[i])
        want = reference(s, x)
        assert abs(got[i] - want) <= 1e-8 * abs(want) + 1e-12 * scale, (
            f"{s}(sorted [..{x}..]) = {got[i]!r}, formula gives {want!r}")


def test_blocks_agree_with_the_python_path() -> None:
    s = lk.warmup(lk.join([lk.cosine_restarts(700, period_mult=2), lk.step_decay(3000)],
                          [9000]), 500, start=0.01, shape="log") * lk.maximum(
        lk.staircase(lk.linear(1.0, 0.0, 20_000), 1000), 0.2)
    t = np.arange(0, 30_000, 1.5)
    got = s(t)
    want = np.array([s(float(x)) for x in t])
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=0)


def test_shapes_layouts_and_views() -> None:
    s = lk.warmup(lk.cosine(50_000), 1000)
    base = np.arange(3 * N, dtype=np.float64)
    for t in (base.reshape(3, N), base.reshape(N, 3).T, base[::3], base[5 : 5 + N]):
        got = s(t)
        assert got.shape == t.shape
        np.testing.assert_allclose(got, _unblocked(s, t), rtol=1e-12, atol=0)
    np.testing.assert_array_equal(base, np.arange(3 * N, dtype=np.float64))  # input untouched


@pytest.mark.parametrize("bad", [-1.0, np.nan, np.inf])
def test_bad_steps_anywhere_in_a_long_input(bad: float) -> None:
    t = np.arange(N, dtype=np.float64)
    t[N - 7] = bad
    with pytest.raises(ValueError, match="finite step counts >= 0"):
        lk.cosine(100)(t)


def test_peak_memory_is_about_the_output() -> None:
    """A 1M-step curve of a deep composition: the peak is the output plus a few blocks."""
    s = lk.warmup(lk.cosine_restarts(1000, period_mult=2) * lk.step_decay(5000), 100)
    t = np.arange(1_000_000)  # int64: converted one block at a time
    tracemalloc.start()
    try:
        out = s(t)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1.25 * out.nbytes, f"peak {peak / 1e6:.1f} MB, result {out.nbytes / 1e6:.1f} MB"
