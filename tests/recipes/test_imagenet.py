"""ImageNet recipes: timm (the installed scheduler is the oracle, built by timm's own
``create_scheduler_v2`` from the recipe's arguments), DeiT (timm's scheduler driven by DeiT's
loop), and torchvision's references (torch's schedulers built as ``train.py`` builds them;
one driven next to ``lrkit.torch.LRScheduler``)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from ._harness import compare, rates, recipe

torch = pytest.importorskip("torch")


def _optimizer(lr: float) -> Any:
    return torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr, momentum=0.9)


def _timm(lr: float, **kwargs: Any) -> Any:
    from _timm import timm_scheduler

    factory = timm_scheduler().scheduler_factory
    opt = _optimizer(lr)
    sched, num_epochs = factory.create_scheduler_v2(opt, **kwargs)
    return opt, sched, num_epochs


def _timm_train_loop(opt: Any, sched: Any, epochs: int) -> np.ndarray:
    """timm train.py: epoch 0 at the constructor's rate, ``step(epoch + 1)`` after each."""
    out = []
    for epoch in range(epochs):
        out.append(opt.param_groups[0]["lr"])
        sched.step(epoch + 1)
    return np.asarray(out)


def _check_timm(rid: str, epochs: int, **kwargs: Any) -> np.ndarray:
    lr, _ = recipe(rid)
    opt, sched, _num_epochs = _timm(lr, **kwargs)
    want = _timm_train_loop(opt, sched, epochs)
    ts = np.arange(epochs)
    compare(rates(rid, ts), want, ts, what=rid)
    return want


RESNET50 = dict(sched="cosine", num_epochs=200, warmup_epochs=5, warmup_lr=1e-5, min_lr=0.0)


def test_timm_resnet50() -> None:
    _check_timm("timm-resnet50", 260, **RESNET50)


def test_timm_resnet50_warmup_prefix() -> None:
    _, _, num_epochs = _timm(0.05, **RESNET50, warmup_prefix=True)
    assert num_epochs == 205
    _check_timm("timm-resnet50-warmup-prefix", 260, **RESNET50, warmup_prefix=True)


def test_timm_resnet50_k_decay() -> None:
    _check_timm("timm-resnet50-k-decay", 260, **RESNET50, k_decay=2.0)


def test_timm_cosine_cycles() -> None:
    kw = dict(sched="cosine", num_epochs=50, warmup_epochs=5, warmup_lr=1e-5, min_lr=1e-5,
              cycle_mul=2.0, cycle_decay=0.5, cycle_limit=3)
    _, _, num_epochs = _timm(0.05, **kw)
    assert num_epochs == 350
    _check_timm("timm-cosine-cycles", 420, **kw)


def test_timm_efficientnet_b0() -> None:
    _check_timm("timm-efficientnet-b0", 480, sched="step", num_epochs=450, decay_epochs=2.4,
                decay_rate=0.97, warmup_epochs=5, warmup_lr=1e-6)


def test_deit_base() -> None:
    """DeiT main.py: ``create_scheduler(args, optimizer)`` and ``lr_scheduler.step(epoch)``
    after ``train_one_epoch`` (no resume)."""
    from _timm import timm_scheduler

    lr, _ = recipe("deit-base")

    class Args:
        sched, epochs, warmup_epochs, warmup_lr, min_lr = "cosine", 300, 5, 1e-6, 1e-5
        decay_epochs, cooldown_epochs, decay_rate = 30, 10, 0.1

    opt = _optimizer(lr)
    sched, _ = timm_scheduler().scheduler_factory.create_scheduler(Args(), opt)
    want = []
    for epoch in range(320):
        want.append(opt.param_groups[0]["lr"])  # the rate train_one_epoch runs at
        sched.step(epoch)
    ts = np.arange(320)
    compare(rates("deit-base", ts), np.asarray(want), ts, what="deit-base")
    assert want[0] == want[1] == pytest.approx(1e-6)  # DeiT's one-epoch lag


def _torchvision(lr: float, **a: Any) -> tuple[Any, Any]:
    """references/classification/train.py: the scheduler block, as written there."""
    lrs = torch.optim.lr_scheduler
    opt = _optimizer(lr)
    if a["lr_scheduler"] == "steplr":
        main = lrs.StepLR(opt, step_size=a["lr_step_size"], gamma=a["lr_gamma"])
    else:
        main = lrs.CosineAnnealingLR(opt, T_max=a["epochs"] - a["lr_warmup_epochs"], eta_min=0.0)
    if a.get("lr_warmup_epochs", 0) > 0:
        warm = lrs.LinearLR(opt, start_factor=a["lr_warmup_decay"],
                            total_iters=a["lr_warmup_epochs"])
        main = lrs.SequentialLR(opt, schedulers=[warm, main], milestones=[a["lr_warmup_epochs"]])
    return opt, main


def _torch_epochs(opt: Any, sched: Any, epochs: int) -> np.ndarray:
    out = []
    for _ in range(epochs):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return np.asarray(out)


def test_torchvision_resnet50() -> None:
    opt, sched = _torchvision(0.1, lr_scheduler="steplr", lr_step_size=30, lr_gamma=0.1)
    want = _torch_epochs(opt, sched, 120)
    ts = np.arange(120)
    compare(rates("torchvision-resnet50", ts), want, ts, what="torchvision-resnet50")


@pytest.mark.parametrize(
    ("rid", "lr", "epochs", "warmup", "decay"),
    [("torchvision-resnet50-v2", 0.5, 600, 5, 0.01),
     ("torchvision-vit-b-16", 0.003, 300, 30, 0.033)],
)
def test_torchvision_warmup_cosine(rid: str, lr: float, epochs: int, warmup: int,
                                   decay: float) -> None:
    opt, sched = _torchvision(lr, lr_scheduler="cosineannealinglr", epochs=epochs,
                              lr_warmup_epochs=warmup, lr_warmup_decay=decay)
    want = _torch_epochs(opt, sched, epochs + 1)
    ts = np.arange(epochs + 1)
    compare(rates(rid, ts), want, ts, what=rid)


def test_torchvision_resnet50_v2_through_lrscheduler() -> None:
    """``LRScheduler(opt, s)`` stepped like the reference loop gives SequentialLR's rates."""
    from lrkit.torch import LRScheduler

    lr, s = recipe("torchvision-resnet50-v2")
    opt, sched = _torchvision(lr, lr_scheduler="cosineannealinglr", epochs=600,
                              lr_warmup_epochs=5, lr_warmup_decay=0.01)
    want = _torch_epochs(opt, sched, 600)
    opt2 = _optimizer(lr)
    got = _torch_epochs(opt2, LRScheduler(opt2, s), 600)
    compare(got, want, np.arange(600), what="torchvision-resnet50-v2 through LRScheduler")
