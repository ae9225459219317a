"""YOLO: the trainers' own loops, written out with torch's real ``LambdaLR`` and ``np.interp``
(YOLOv5 train.py at 5081342; Ultralytics ultralytics/engine/trainer.py ``_do_train``), every
iteration of the whole run; then ``lrkit.torch.LRScheduler`` with one schedule per param group
driven over the first epochs next to the same loop."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from ._harness import compare, rates, recipes

torch = pytest.importorskip("torch")


def _optimizer(lr0: float) -> Any:
    """The group layout of ``smart_optimizer`` / ``build_optimizer``: biases first."""
    params = [torch.nn.Parameter(torch.zeros(1)) for _ in range(3)]
    opt = torch.optim.SGD([params[0]], lr=lr0, momentum=0.937, nesterov=True)
    opt.add_param_group({"params": [params[1]], "weight_decay": 5e-4})
    opt.add_param_group({"params": [params[2]], "weight_decay": 0.0})
    return opt


def _yolov5(lr0: float, lrf: float, epochs: int, nb: int, warmup_bias_lr: float,
            limit: int | None = None) -> np.ndarray:
    """train.py: LambdaLR(lf), ``scheduler.last_epoch = start_epoch - 1``, the ``ni <= nw``
    interpolation per iteration, ``scheduler.step()`` after each epoch. Rows: (bias, weights)."""
    opt = _optimizer(lr0)

    def lf(x: float) -> float:
        return (1 - x / epochs) * (1.0 - lrf) + lrf

    scheduler = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda=lf)
    opt.step()  # no gradients: a no-op that keeps LambdaLR from warning about the order
    scheduler.last_epoch = 0 - 1
    nw = max(round(3.0 * nb), 100)
    out = np.empty((epochs * nb if limit is None else limit, 2))
    for epoch in range(epochs):
        for i in range(nb):
            ni = i + nb * epoch
            if limit is not None and ni >= limit:
                return out
            if ni <= nw:
                xi = [0, nw]
                for j, x in enumerate(opt.param_groups):
                    x["lr"] = np.interp(ni, xi, [warmup_bias_lr if j == 0 else 0.0,
                                                 x["initial_lr"] * lf(epoch)])
            elif limit is None:  # nothing changes the rates until the epoch ends
                out[ni:nb * (epoch + 1)] = opt.param_groups[0]["lr"], opt.param_groups[1]["lr"]
                break
            out[ni] = opt.param_groups[0]["lr"], opt.param_groups[1]["lr"]
        scheduler.step()
    return out


def _ultralytics(lr0: float, lrf: float, epochs: int, nb: int, warmup_bias_lr: float,
                 limit: int | None = None) -> np.ndarray:
    """trainer.py: ``_setup_scheduler``, ``scheduler.last_epoch = start_epoch - 1``,
    ``scheduler.step()`` at the start of each epoch, interpolation while ``ni < nw``."""
    opt = _optimizer(lr0)
    for g, name in zip(opt.param_groups, ("bias", "weight", "bn"), strict=True):
        g["param_group"] = name

    def lf(x: float) -> float:
        return max(1 - x / epochs, 0) * (1.0 - lrf) + lrf

    scheduler = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda=lf)
    opt.step()  # no gradients: a no-op that keeps LambdaLR from warning about the order
    scheduler.last_epoch = 0 - 1
    warmup_epochs = min(3.0, max(epochs - 1, 0))
    nw = round(warmup_epochs * nb) if warmup_epochs > 0 else 0
    out = np.empty((epochs * nb if limit is None else limit, 2))
    for epoch in range(epochs):
        scheduler.step()
        for i in range(nb):
            ni = i + nb * epoch
            if limit is not None and ni >= limit:
                return out
            if ni < nw:
                xi = [0, nw]
                for x in opt.param_groups:
                    x["lr"] = float(np.interp(ni, xi, [
                        warmup_bias_lr if x.get("param_group") == "bias" else 0.0,
                        x["initial_lr"] * lf(epoch)]))
            elif limit is None:  # nothing changes the rates until the next epoch
                out[ni:nb * (epoch + 1)] = opt.param_groups[0]["lr"], opt.param_groups[1]["lr"]
                break
            out[ni] = opt.param_groups[0]["lr"], opt.param_groups[1]["lr"]
    return out


LOOPS: dict[str, Callable[..., np.ndarray]] = {"yolov5": _yolov5, "ultralytics-yolo": _ultralytics}


def _params(rid: str) -> tuple[float, float, int, int, float]:
    ns = recipes()[rid]
    return ns["lr"], ns["lrf"], ns["epochs"], ns["nb"], ns["warmup_bias_lr"]


@pytest.mark.parametrize("rid", sorted(LOOPS))
def test_whole_run(rid: str) -> None:
    want = LOOPS[rid](*_params(rid))
    ts = np.arange(len(want))
    compare(rates(rid, ts), want[:, 1], ts, what=f"{rid} weights")
    bias = recipes()[rid]["bias"]
    compare(np.asarray(bias(ts.astype(float))), want[:, 0], ts, what=f"{rid} bias")


def test_yolov5_lags_one_epoch_after_the_warmup() -> None:
    lr, lrf, epochs, nb, _ = _params("yolov5")
    got = rates("yolov5", np.array([5 * nb, 6 * nb]))
    assert got / lr == pytest.approx([1 - 4 / epochs * (1 - lrf), 1 - 5 / epochs * (1 - lrf)])


@pytest.mark.parametrize("rid", sorted(LOOPS))
def test_lrscheduler_per_group(rid: str) -> None:
    """``LRScheduler(opt, s)`` on the weights' groups and ``LRScheduler(opt_bias, bias / lr0)``
    on the bias group (relative mode) give the loop's rates: YOLOv5 through its warmup and the
    lagging epochs after it, Ultralytics over its first epoch boundary (its warmup alone is
    22k iterations)."""
    from lrkit.torch import LRScheduler

    lr0, lrf, epochs, nb, bias_lr = _params(rid)
    steps = 5 * nb + 50 if rid == "yolov5" else nb + 50
    want = LOOPS[rid](lr0, lrf, epochs, nb, bias_lr, limit=steps)
    weights = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr0, momentum=0.937)
    biases = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr0, momentum=0.937)
    scheds = [LRScheduler(weights, recipes()[rid]["s"]),
              LRScheduler(biases, recipes()[rid]["bias"] * (1 / lr0))]
    got = []
    for _ in range(steps):
        got.append((biases.param_groups[0]["lr"], weights.param_groups[0]["lr"]))
        for opt, sched in zip((weights, biases), scheds, strict=True):
            opt.step()
            sched.step()
    got_a = np.asarray(got)
    ts = np.arange(steps)
    compare(got_a[:, 1], want[:, 1], ts, what=f"{rid} weights through LRScheduler")
    compare(got_a[:, 0], want[:, 0], ts, what=f"{rid} bias through LRScheduler")
