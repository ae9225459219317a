"""``batch_rampup`` on TensorFlow: the batch changes at Megatron's sample in float32, eager,
inside ``tf.function`` and under XLA (tests/test_batch_rampup.py has the oracle and the other
families)."""

from __future__ import annotations

import numpy as np
import pytest
from test_batch_rampup import FAMILY_CONFIGS, _counts32, _megatron_at

import lrkit as lk

tf = pytest.importorskip("tensorflow")


@pytest.mark.parametrize("config", FAMILY_CONFIGS, ids=str)
def test_exact_in_float32_eager_graph_and_xla(config: tuple[int, int, int, int]) -> None:
    s = lk.batch_rampup(*config)
    lr = 0.1 * (s * (1 / config[3])) ** 0.5
    t = _counts32(config)
    want = _megatron_at(config, t)
    x = tf.constant(t, tf.float32)
    np.testing.assert_array_equal(s(x).numpy(), want)
    np.testing.assert_array_equal(s(tf.constant(t, tf.float64)).numpy(), want)
    for jit in (False, True):
        f = tf.function(lambda v: (s(v), lr(v)), jit_compile=jit)
        got, rate = f(x)
        assert got.dtype == tf.float32 and got.shape == x.shape
        np.testing.assert_array_equal(got.numpy(), want)
        np.testing.assert_allclose(rate.numpy(), 0.1 * np.sqrt(want / config[3]), rtol=1e-6)
        one = f(tf.constant(float(config[2] + 1)))[0]  # a 0-d step: the final batch
        assert one.shape == () and float(one) == config[3]
    ints = t[t == np.floor(t)].astype(np.int64)
    got_int = s(tf.constant(ints))
    assert got_int.dtype == tf.float32
    np.testing.assert_array_equal(got_int.numpy(), _megatron_at(config, ints.astype(np.float64)))
