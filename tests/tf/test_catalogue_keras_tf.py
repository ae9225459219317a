"""The Keras rows of docs/equivalence.md on the tensorflow backend: Keras' own schedule and the
row's lrkit expression (through ``KerasSchedule``) both called inside ``tf.function`` on scalar
int64 steps, as an optimizer calls them with ``optimizer.iterations``; lrkit also under XLA,
where it must still match Keras' (non-XLA) curve, boundaries included."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")

from catalogue import _keras_rows as rows  # noqa: E402
from catalogue._common import SEEDS, lrkit_curve  # noqa: E402
from keras.optimizers import schedules as ks  # noqa: E402

from lrkit.keras import KerasSchedule  # noqa: E402


def curves(schedules: list[Any], steps: int, jit: bool) -> np.ndarray:
    """``schedules[j](k)`` for k = 0 .. steps-1, each call on a 0-d int64 tensor inside one
    ``tf.function`` (a ``tf.map_fn`` loop over the steps): shape (len(schedules), steps)."""

    @tf.function(jit_compile=jit)
    def run() -> Any:
        return tf.map_fn(
            lambda k: tf.stack([tf.cast(s(k), tf.float32) for s in schedules]),
            tf.range(steps, dtype=tf.int64),
            fn_output_signature=tf.float32,
        )

    return np.asarray(run().numpy(), dtype=np.float64).T


@pytest.mark.parametrize("jit", [False, True], ids=["tf.function", "XLA"])
@pytest.mark.parametrize("row", sorted(rows.SEEDED))
def test_row_on_the_tensorflow_backend(row: str, jit: bool) -> None:
    assert keras.backend.backend() == "tensorflow"
    cases = [rows.SEEDED[row](ks, seed) for seed in SEEDS]
    steps = cases[0].steps
    theirs = curves([c.keras for c in cases], steps, jit=False)
    ours = curves([KerasSchedule(c.lrkit) for c in cases], steps, jit=jit)
    for c, got, ref in zip(cases, ours, theirs, strict=True):
        c.check(got, ref)
        # and lrkit on TF equals lrkit's float64 formula within float32 rounding
        want = lrkit_curve(c.lrkit, steps)
        np.testing.assert_allclose(got, want, rtol=2e-6, atol=1e-7 * float(np.max(want)))


def test_polynomial_decay_cycle_on_the_tensorflow_backend() -> None:
    r = rows.polynomial_decay_cycle(ks)
    ref = curves([r.keras], r.steps, jit=False)[0]
    got = curves([KerasSchedule(r.lrkit)], r.steps, jit=True)[0]
    r.check(got, ref)
    assert ref[51] > got[51] + 0.1
