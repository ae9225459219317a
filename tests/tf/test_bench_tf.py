"""bench/tensorflow.py stays runnable (its timings are never asserted)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench import tensorflow as bench_tf


def test_the_tensorflow_benchmark_runs_and_reports(tmp_path: Path) -> None:
    assert bench_tf.main(["--steps", "2", "--repeats", "1", "--out", str(tmp_path)]) == 0
    text = (tmp_path / "tensorflow.md").read_text()
    rows = [line for line in text.splitlines() if "| lrkit KerasSchedule |" in line]
    assert len(rows) == 3  # tf.function, XLA, eager
    # the two schedules compute the same curve in the benchmark
    import tensorflow as tf

    named = bench_tf.schedules()
    ours, theirs = named["lrkit KerasSchedule"], named["Keras CosineDecay (warmup)"]
    for k in (0, 250, 500, 5000, 9999):
        t = tf.constant(k, tf.int64)
        assert abs(float(ours(t)) - float(theirs(t))) <= 1e-6 * 1e-4
