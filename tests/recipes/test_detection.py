"""Detection recipes: Detectron2 over fvcore's ParamSchedulers and Detectron's lr_policy
(formulas written out: neither installs here), mmdetection's chainable mmengine schedulers
(their arithmetic simulated step by step), and torchvision's detection references (torch's own
schedulers, in the reference's loop)."""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable

import numpy as np
import pytest

from ._harness import check, check_holds, compare, rates, recipe

WHERE_EPSILON = 1e-6  # fvcore ParamScheduler.WHERE_EPSILON


def _detectron2(main: Callable[[float], float], max_iter: int, warmup_iters: int,
                warmup_factor: float) -> Callable[[int], float]:
    """detectron2/solver/lr_scheduler.py ``WarmupParamScheduler`` (linear,
    ``rescale_interval=False``) as fvcore's ``CompositeParamScheduler`` evaluates it, and
    ``LRMultiplier.get_lr``: ``multiplier(last_epoch / max_iter)`` (02b5c4e, fvcore 3378afe)."""
    length = min(warmup_iters / max_iter, 1.0)
    lengths = [length, 1 - length]
    start, end = warmup_factor * main(0.0), main(length)

    def multiplier(where: float) -> float:
        i, running = 0, lengths[0]
        while (where + WHERE_EPSILON) > running and i < 1:
            i += 1
            running += lengths[i]
        if i == 0:  # the warmup, "rescaled"
            x = (where - 0.0) / lengths[0]
            return end * x + start * (1 - x)
        return main(where)  # "fixed": the main schedule on the global clock

    return lambda it: 0.02 * multiplier(it / max_iter)


def test_detectron2_1x() -> None:
    max_iter, milestones = 90_000, [60_000, 80_000]
    values = [0.1**k for k in range(3)]

    def multistep(where: float) -> float:  # fvcore MultiStepParamScheduler.__call__
        if where > 1.0:
            raise ValueError(where)
        epoch_num = int((where + WHERE_EPSILON) * max_iter)
        return values[bisect.bisect_right(milestones, epoch_num)]

    rate = _detectron2(multistep, max_iter, 1000, 1e-3)
    check("detectron2-1x", rate, max_iter + 1)
    with pytest.raises(ValueError):
        rate(max_iter + 1)  # Detectron2 stops there; lrkit holds the last value
    check_holds("detectron2-1x", max_iter, max_iter + 100)


def test_detectron2_cosine() -> None:
    max_iter = 90_000

    def cosine(where: float) -> float:  # fvcore CosineParamScheduler(1, 0).__call__
        return 0.0 + 0.5 * (1 - 0.0) * (1 + math.cos(math.pi * where))

    check("detectron2-cosine", _detectron2(cosine, max_iter, 1000, 1e-3), max_iter + 1)
    check_holds("detectron2-cosine", max_iter, max_iter + 100)


def test_detectron_1x() -> None:
    """detectron/utils/lr_policy.py ``get_lr_at_iter``, ``lr_func_steps_with_decay`` and
    ``get_step_index`` (3dc87ab); the result is cast to np.float32 there."""
    base, gamma, steps, max_iter = 0.02, 0.1, [0, 60_000, 80_000], 90_000

    def get_step_index(cur_iter: int) -> int:
        for ind, step in enumerate([*steps, max_iter]):  # noqa: B007
            if cur_iter < step:
                break
        return ind - 1

    def get_lr_at_iter(it: int) -> float:
        lr = base * gamma ** get_step_index(it)
        if it < 500:
            alpha = it / 500
            lr *= (1.0 / 3.0) * (1 - alpha) + alpha
        return lr

    check("detectron-1x", get_lr_at_iter, 95_000)


def _mmdet_1x(base: float, iters_per_epoch: int, epochs: int) -> np.ndarray:
    """mmengine param_scheduler.py ``_ParamScheduler.step`` with ``LinearParamScheduler`` and
    ``MultiStepParamScheduler._get_value`` (2543429), in their chainable form: both multiply
    the same ``param_group['lr']``; the iteration scheduler steps after each iteration, the
    epoch one after each epoch (ParamSchedulerHook)."""
    lr = base
    # LinearLR(start_factor=0.001, end_factor=1.0, begin=0, end=500): its constructor steps once.
    begin, end, start_f, end_f = 0, 500, 0.001, 1.0
    total_iters = end - begin - 1
    lin_global, lin_last = 0, 0
    lr = lr * start_f
    # MultiStepLR(begin=0, end=12, milestones=[8, 11], gamma=0.1): constructor step, no change.
    ms_last, milestones = 0, {8: 1, 11: 1}
    out = []
    for ms_global in range(1, epochs + 1):
        for _ in range(iters_per_epoch):
            out.append(lr)
            lin_global += 1
            if begin <= lin_global < end:
                lin_last += 1
                lr = lr * (1.0 + (end_f - start_f) /
                           (total_iters * start_f + (lin_last - 1) * (end_f - start_f)))
        if 0 <= ms_global < 12:  # the epoch scheduler's _global_step after this epoch
            ms_last += 1
            if ms_last in milestones:
                lr = lr * 0.1 ** milestones[ms_last]
    return np.asarray(out)


def test_mmdet_1x() -> None:
    lr, _s = recipe("mmdet-1x")
    n = 7330
    want = _mmdet_1x(lr, n, 14)
    ts = np.arange(want.size)
    compare(rates("mmdet-1x", ts), want, ts, what="mmdet-1x")


def test_torchvision_detection() -> None:
    """references/detection/train.py (MultiStepLR per epoch) and engine.py ``train_one_epoch``
    (epoch 0 only: ``LinearLR(start_factor=1/1000, total_iters=min(1000, len(data_loader) -
    1))`` stepped after every optimizer step), with torch's own schedulers. After epoch 0 the
    rate only changes at epoch ends, so those epochs are recorded without stepping."""
    torch = pytest.importorskip("torch")
    lr, _ = recipe("torchvision-detection")
    n, epochs = 7330, 28
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=lr, momentum=0.9, weight_decay=1e-4)
    main = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=[16, 22], gamma=0.1)
    want: list[float] = []
    for epoch in range(epochs):
        if epoch == 0:
            warm = torch.optim.lr_scheduler.LinearLR(opt, start_factor=1.0 / 1000,
                                                     total_iters=min(1000, n - 1))
            for _ in range(n):
                want.append(opt.param_groups[0]["lr"])
                opt.step()
                warm.step()
        else:
            want.extend([opt.param_groups[0]["lr"]] * n)
        opt.step()
        main.step()
    ts = np.arange(len(want))
    compare(rates("torchvision-detection", ts), np.asarray(want), ts,
            what="torchvision-detection")
