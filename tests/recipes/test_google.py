"""Recipes from Google's TensorFlow and JAX code bases: the original BERT, T5/t5x, big_vision,
TF Model Garden, and the MLPerf ResNet-50 LARS reference.

These compute in float32 (TF) or jnp float32; the oracles write the same formulas out in
float64 from the source named in each docstring (the float32 rounding of the originals is
~1e-7 relative, the formulas themselves agree to 1e-9 here).
"""

from __future__ import annotations

import math

from ._harness import check, check_holds


def _bert(init_lr: float, num_train_steps: int, num_warmup_steps: int):  # type: ignore[no-untyped-def]
    """google-research/bert optimization.py ``create_optimizer``: ``tf.train.polynomial_decay``
    (power 1, end 0, ``global_step`` clipped at ``decay_steps``) on the global step, replaced
    by ``init_lr * global_step / num_warmup_steps`` while ``global_step < num_warmup_steps``."""

    def rate(global_step: int) -> float:
        step = min(global_step, num_train_steps)
        decayed = init_lr * (1.0 - step / num_train_steps) ** 1.0
        is_warmup = 1.0 if global_step < num_warmup_steps else 0.0
        warmup = init_lr * (global_step / num_warmup_steps)
        return (1.0 - is_warmup) * decayed + is_warmup * warmup

    return rate


def test_bert_pretraining() -> None:
    check("bert-pretraining", _bert(1e-4, 1_000_000, 10_000), 1_020_000)


def test_bert_finetune_mrpc() -> None:
    """run_classifier.py: ``num_train_steps = int(len(train_examples) / train_batch_size *
    num_train_epochs)``, ``num_warmup_steps = int(num_train_steps * warmup_proportion)``."""
    steps = int(3668 / 32 * 3.0)
    check("bert-finetune-mrpc", _bert(2e-5, steps, int(steps * 0.1)), steps + 100)


def _t5x(factors: str, base_learning_rate: float, warmup_steps: int,
         min_learning_rate: float = 1e-8):  # type: ignore[no-untyped-def]
    """google-research/t5x t5x/utils.py ``create_learning_rate_scheduler`` (cc342d4), the
    factors used here, ``step_offset = 0``, and the final ``max(ret, min_learning_rate)``."""
    names = [n.strip() for n in factors.split("*")]

    def rate(step: int) -> float:
        ret = 1.0
        for name in names:
            if name == "constant":
                ret *= base_learning_rate
            elif name == "linear_warmup":
                ret *= min(1.0, step / warmup_steps)
            elif name == "rsqrt_decay":
                ret /= math.sqrt(max(step, warmup_steps))
            else:  # pragma: no cover
                raise ValueError(name)
        return max(ret, min_learning_rate)

    return rate


def test_t5_pretraining() -> None:
    """t5x/configs/runs/pretrain.gin; T5 trained 2**19 steps."""
    check("t5-pretraining", _t5x("constant * rsqrt_decay", 1.0, 10_000), 600_000)


def test_t5x_default() -> None:
    rate = _t5x("constant * linear_warmup * rsqrt_decay", 0.5, 1000)
    got = check("t5x-default", rate, 200_000)
    assert got[0] == 1e-8  # the floor, at the step where linear_warmup is 0


def test_big_vision_vit_b() -> None:
    """google-research/big_vision big_vision/utils.py ``create_learning_rate_schedule``
    (0127fb6), ``decay_type='cosine'``, with big_vision/configs/vit_i1k.py."""
    base, warmup, total = 0.001, 10_000, round(300 * 1_281_167 / 4096)

    def rate(step: int) -> float:
        progress = min(max((step - warmup) / float(total - warmup), 0.0), 1.0)
        lr = base * 0.5 * (1.0 + math.cos(math.pi * progress))
        return lr * min(1.0, step / warmup)

    check("big-vision-vit-b", rate, total + 5000)


def test_big_vision_vit_g() -> None:
    """The same function, ``decay_type='rsqrt'`` (``shift = 0``) with ``cooldown_steps``, and
    big_vision/configs/proj/scaling_laws/train_vit_g.py."""
    base, timescale, warmup, cooldown, total = 8e-4, 10_000, 10_000, 50_000, 1_000_000

    def rate(step: int) -> float:
        if warmup <= step:
            lr = base / math.sqrt(1 + (step - warmup) / timescale)
        else:
            lr = base / math.sqrt(1 + 0 / timescale)
        lr *= min(1.0, step / warmup)
        return lr * min(1.0, (total - step) / cooldown)

    check("big-vision-vit-g", rate, total + 1)
    assert rate(total + 10) < 0  # big_vision's cooldown factor turns negative; lrkit holds 0
    assert check_holds("big-vision-vit-g", total, total + 1000) == 0.0


def test_mlperf_resnet50_lars() -> None:
    """mlcommons/training image_classification/tensorflow2/lars_util.py
    ``PolynomialDecayWithWarmup._get_learning_rate`` over Keras' ``PolynomialDecay``."""
    plr, spe, end = 10.0, 313, 1e-4
    warmup, train_steps = 5 * spe, 42 * spe
    decay_steps = train_steps - warmup + 1

    def keras_polynomial(step: float) -> float:
        step = min(step, decay_steps)
        return (plr - end) * (1 - step / decay_steps) ** 2.0 + end

    def rate(step: int) -> float:
        return plr * step / warmup if step <= warmup else keras_polynomial(step - warmup)

    check("mlperf-resnet50-lars", rate, train_steps + 2000)


def _linear_warmup(after, warmup_steps: int, warmup_learning_rate: float = 0.0):  # type: ignore[no-untyped-def]
    """tensorflow/models official/modeling/optimization/lr_schedule.py ``LinearWarmup``: ramps
    to ``after(warmup_steps)`` and then calls ``after`` on the global step."""
    final = after(warmup_steps)

    def rate(step: int) -> float:
        if step < warmup_steps:
            return warmup_learning_rate + step / warmup_steps * (final - warmup_learning_rate)
        return after(step)

    return rate


def test_tf_garden_resnet50() -> None:
    """imagenet_resnet50_tpu.yaml: Keras ``PiecewiseConstantDecay`` keeps the old value at a
    boundary (``step <= b``)."""
    boundaries, values = [9360, 18720, 24960], [1.6, 0.16, 0.016, 0.0016]

    def piecewise(step: int) -> float:
        for b, v in zip(boundaries, values, strict=False):
            if step <= b:
                return v
        return values[-1]

    check("tf-garden-resnet50", _linear_warmup(piecewise, 1560), 30_000)


def test_tf_garden_resnet_rs50() -> None:
    """imagenet_resnetrs50_i160.yaml: Keras ``CosineDecay`` (alpha 0) under ``LinearWarmup``."""
    init, decay_steps = 1.6, 109_200

    def cosine(step: int) -> float:
        return init * 0.5 * (1 + math.cos(math.pi * min(step, decay_steps) / decay_steps))

    check("tf-garden-resnet-rs50", _linear_warmup(cosine, 1560), decay_steps + 3000)
