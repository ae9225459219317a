"""The cost of an lrkit schedule inside a TensorFlow train step, against Keras' own schedule.

    .venv/bin/python -m bench.tensorflow [--steps 300] [--repeats 7] [--clock cpu|wall]
                                         [--out bench/results]

A custom Keras 3 training step on the tensorflow backend (``tf.GradientTape`` + Adam inside
``tf.function``, with and without ``jit_compile``) for a small MLP (32 -> 64 -> 1, batch 64),
under three learning rates that a user would pick for warmup + cosine:

- a float (the floor: no schedule at all),
- Keras' ``CosineDecay(1e-7, decay_steps, warmup_target=1e-4, warmup_steps)`` (the seed's recipe),
- lrkit's ``KerasSchedule(1e-4 * warmup(cosine(...), steps, start=1e-3))``, the same curve.

Reported per setup: the number of ops the schedule adds to the traced step (graph size minus
the float-rate graph), and the median time per step over interleaved repetitions of ``--steps``
steps; plus one eager evaluation of each schedule on a 0-d int64 tensor (what an eager loop
pays). The clock is this process's CPU time by default (the machine is shared: see
bench/README.md); ``--clock wall`` for wall time.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

if "keras" not in sys.modules:
    os.environ["KERAS_BACKEND"] = "tensorflow"  # the benchmark is about this backend
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from bench.machine import header, write_report

CLOCKS = {"cpu": time.process_time_ns, "wall": time.perf_counter_ns}
TOTAL, WARM = 10_000, 500


def schedules() -> dict[str, Any]:
    import keras

    import lrkit as lk
    from lrkit.keras import KerasSchedule

    return {
        "float lr": 1e-4,
        "Keras CosineDecay (warmup)": keras.optimizers.schedules.CosineDecay(
            1e-7, decay_steps=TOTAL - WARM, warmup_target=1e-4, warmup_steps=WARM
        ),
        "lrkit KerasSchedule": KerasSchedule(
            1e-4 * lk.warmup(lk.cosine(TOTAL - WARM), steps=WARM, start=1e-3)
        ),
    }


def make_step(lr: Any, jit: bool) -> tuple[Callable[[], Any], int]:
    """A traced train step with ``lr`` as Adam's learning rate, and its graph's op count."""
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input(shape=(32,)), keras.layers.Dense(64, activation="relu"), keras.layers.Dense(1)]
    )
    optimizer = keras.optimizers.Adam(learning_rate=lr)
    x = tf.random.stateless_normal((64, 32), seed=(1, 2))
    y = tf.random.stateless_normal((64, 1), seed=(3, 4))

    @tf.function(jit_compile=jit)
    def step() -> Any:
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean((model(x) - y) ** 2)
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))
        return loss

    graph = step.get_concrete_function().graph
    ops = len(graph.get_operations())
    for fn in graph._functions.values():  # nested functions (the schedule lives in the step)
        ops += len(fn.graph.get_operations()) if hasattr(fn, "graph") else 0
    step()  # compile outside the timed region
    return step, ops


def time_steps(step: Callable[[], Any], steps: int, clock: Callable[[], int]) -> float:
    """Mean ns per step over ``steps`` steps (the loss is read once at the end)."""
    start = clock()
    out = None
    for _ in range(steps):
        out = step()
    float(out)
    return (clock() - start) / steps


def eager_call_ns(schedule: Any, clock: Callable[[], int], calls: int = 300) -> float:
    import tensorflow as tf

    if not callable(schedule):
        return float("nan")
    t = tf.constant(1234, tf.int64)
    schedule(t)
    start = clock()
    for _ in range(calls):
        schedule(t)
    return (clock() - start) / calls


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="cpu")
    parser.add_argument("--out", type=Path, default=Path("bench/results"))
    args = parser.parse_args(argv)
    clock = CLOCKS[args.clock]

    import tensorflow as tf

    rows = []
    for jit in (False, True):
        setups = {name: make_step(lr, jit) for name, lr in schedules().items()}
        times: dict[str, list[float]] = {name: [] for name in setups}
        for _ in range(args.repeats):  # interleaved: the load hits every setup alike
            for name, (step, _) in setups.items():
                times[name].append(time_steps(step, args.steps, clock))
        base_ops = setups["float lr"][1]
        base_t = statistics.median(times["float lr"])
        for name, (_, ops) in setups.items():
            t = statistics.median(times[name])
            rows.append((("XLA" if jit else "tf.function"), name, ops - base_ops, t, t / base_t))
    eager = {name: eager_call_ns(lr, clock) for name, lr in schedules().items()}
    intra = tf.config.threading.get_intra_op_parallelism_threads()

    lines = [
        header("TensorFlow: an lrkit schedule inside a train step", ("keras", "numpy")),
        f"- TensorFlow {tf.__version__}, intra-op threads: {intra} (0 = all cores); clock: "
        f"{args.clock}",
        "",
        f"Adam on a 32 -> 64 -> 1 MLP, batch 64, one `tf.GradientTape` step per call; median of "
        f"{args.repeats} interleaved repetitions of {args.steps} steps. Schedule: warmup 1e-7 -> "
        f"1e-4 over {WARM} steps, then cosine to {TOTAL} (the seed's recipe).",
        "",
        "| step | learning rate | ops added to the step | us / step | vs float lr |",
        "|---|---|---:|---:|---:|",
    ]
    for mode, name, ops, t, ratio in rows:
        lines.append(f"| {mode} | {name} | {ops} | {t / 1e3:.1f} | {ratio:.2f}x |")
    lines += [
        "",
        "Eager call of the schedule on a 0-d int64 tensor (an eager training loop pays this per "
        "step):",
        "",
        "| schedule | us / call |",
        "|---|---:|",
    ]
    for name, ns in eager.items():
        if ns == ns:  # not NaN
            lines.append(f"| {name} | {ns / 1e3:.0f} |")
    lines.append("")
    write_report(args.out, "tensorflow.md", lines)
    print("\n".join(lines[-20:]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
