"""LRScheduler in a training loop: construction, modes, new param groups, tensor rates,
no spurious order warnings, bad input. References are formulas written out here."""

from __future__ import annotations

import math
import warnings

import pytest
import torch
from _torch_testing import drive, group_lrs, make_optimizer
from torch.optim.lr_scheduler import StepLR

import lrkit as lk
from lrkit.torch.scheduler import LRScheduler


def _cos(t: float, steps: float) -> float:
    return 0.5 * (1 + math.cos(math.pi * min(t, steps) / steps))


def test_is_a_torch_scheduler() -> None:
    sched = LRScheduler(make_optimizer([0.1]), lk.cosine(10))
    assert isinstance(sched, torch.optim.lr_scheduler.LRScheduler)


def test_first_optimizer_step_uses_s0_and_count_starts_at_zero() -> None:
    opt = make_optimizer([0.3])
    sched = LRScheduler(opt, lk.warmup(lk.constant(), 4, start=0.25))
    assert sched.count == 0 and sched.last_epoch == 0
    assert opt.param_groups[0]["lr"] == pytest.approx(0.3 * 0.25, rel=1e-15)
    assert opt.param_groups[0]["initial_lr"] == 0.3
    rates = drive(opt, sched, 6)
    expected = [0.3 * (0.25 + 0.75 * t / 4) if t < 4 else 0.3 for t in range(6)]
    assert [r[0] for r in rates] == pytest.approx(expected, rel=1e-15)
    assert sched.count == 6


def test_relative_keeps_group_ratios_and_absolute_sets_every_group() -> None:
    opt = make_optimizer([0.1, 0.02, 0.0])
    rel = drive(opt, LRScheduler(opt, lk.cosine(10)), 12)
    for t, row in enumerate(rel):
        assert row == pytest.approx([0.1 * _cos(t, 10), 0.02 * _cos(t, 10), 0.0], rel=1e-14)
    opt = make_optimizer([0.1, 0.02])
    absolute = drive(opt, LRScheduler(opt, 3e-4 * lk.cosine(10), mode="absolute"), 12)
    for t, row in enumerate(absolute):
        assert row == pytest.approx([3e-4 * _cos(t, 10)] * 2, rel=1e-14)


def test_spec_string_is_accepted() -> None:
    opt = make_optimizer([0.1])
    sched = LRScheduler(opt, "warmup(cosine(steps=10), steps=2)")
    assert str(sched.schedule) == "warmup(cosine(steps=10), steps=2)"


def test_steps_per_epoch_gives_fractional_epochs() -> None:
    opt = make_optimizer([1.0])
    rates = drive(opt, LRScheduler(opt, lk.cosine(3), steps_per_epoch=4), 14)
    assert [r[0] for r in rates] == pytest.approx([_cos(n / 4, 3) for n in range(14)], rel=1e-14)


def test_group_added_later_is_scheduled_from_its_own_rate() -> None:
    opt = make_optimizer([0.1])
    sched = LRScheduler(opt, lk.exponential(0.9))
    for _ in range(3):
        opt.step()
        sched.step()
    opt.add_param_group({"params": [torch.nn.Parameter(torch.zeros(1))], "lr": 0.5})
    rates = drive(opt, sched, 4)
    # the new group's rate at that time becomes its initial_lr: 0.5 * 0.9**t from then on
    assert rates[0] == pytest.approx([0.1 * 0.9**3, 0.5])
    for k, row in enumerate(rates[1:], start=4):
        assert row == pytest.approx([0.1 * 0.9**k, 0.5 * 0.9**k], rel=1e-14)
    assert opt.param_groups[1]["initial_lr"] == 0.5
    assert len(sched.get_last_lr()) == 2


def test_tensor_lr_is_updated_in_place() -> None:
    lr = torch.tensor(0.1)
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr)
    held = opt.param_groups[0]["lr"]
    sched = LRScheduler(opt, lk.step_decay(1, gamma=0.5))
    for k in range(1, 4):
        opt.step()
        sched.step()
        assert opt.param_groups[0]["lr"] is held
        assert float(held) == pytest.approx(0.1 * 0.5**k, rel=1e-6)
    last = sched.get_last_lr()[0]
    assert isinstance(last, torch.Tensor) and last is not held


def test_no_order_warning_when_grad_scaler_skips_the_first_step() -> None:
    def one_step(scheduler_factory) -> list[warnings.WarningMessage]:  # type: ignore[no-untyped-def]
        w = torch.nn.Parameter(torch.ones(2))
        opt = torch.optim.SGD([w], lr=0.1)
        sched = scheduler_factory(opt)
        scaler = torch.amp.GradScaler("cpu", init_scale=2.0**16)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            loss = (w * torch.tensor([math.inf, 1.0])).sum()  # inf grad: the step is skipped
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
            sched.step()
        return [c for c in caught if "lr_scheduler.step()" in str(c.message)]

    # torch's own scheduler warns here (the test can fail) ...
    assert one_step(lambda o: StepLR(o, step_size=1))
    # ... lrkit's does not: the skipped step is the scaler's decision, not a misordered loop
    assert not one_step(lambda o: LRScheduler(o, lk.cosine(10)))


def test_no_warnings_with_gradient_accumulation() -> None:
    w = torch.nn.Parameter(torch.ones(2))
    opt = torch.optim.SGD([w], lr=0.1)
    sched = LRScheduler(opt, lk.warmup(lk.cosine(10), 2))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for micro in range(12):
            (w * w).sum().backward()
            if micro % 3 == 2:
                opt.step()
                opt.zero_grad()
                sched.step()
    assert sched.count == 4


def test_get_lr_and_get_last_lr_agree_with_groups() -> None:
    opt = make_optimizer([0.1, 0.3])
    sched = LRScheduler(opt, lk.linear(1.0, 0.0, 10))
    opt.step()
    sched.step()
    assert sched.get_last_lr() == group_lrs(opt)
    assert sched.get_lr() == group_lrs(opt)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"schedule": 0.1}, "schedule"),
        ({"schedule": "cosine(steps=-1)"}, "steps"),
        ({"mode": "relatve"}, "mode"),
        ({"steps_per_epoch": 0}, "steps_per_epoch"),
        ({"steps_per_epoch": 2.5}, "steps_per_epoch"),
        ({"hyperparams": {"lr": lk.cosine(3)}}, "hyperparams"),
        ({"hyperparams": {"dampening_typo": lk.cosine(3)}}, "dampening_typo"),
        ({"hyperparams": {"momentum": (lk.cosine(3), "sideways")}}, "mode"),
    ],
)
def test_bad_input_names_the_parameter(kwargs: dict[str, object], name: str) -> None:
    opt = make_optimizer([0.1], momentum=0.9)
    args = {"schedule": lk.cosine(10), **kwargs}
    with pytest.raises(ValueError, match=name):
        LRScheduler(opt, **args)  # type: ignore[arg-type]


def test_not_an_optimizer() -> None:
    with pytest.raises(ValueError, match="optimizer"):
        LRScheduler("sgd", lk.cosine(10))  # type: ignore[arg-type]


def test_numpy_steps_per_epoch_is_accepted() -> None:
    np = pytest.importorskip("numpy")
    opt = make_optimizer([1.0])
    sched = LRScheduler(opt, lk.linear(1.0, 0.0, 2), steps_per_epoch=np.int64(4))
    opt.step()
    sched.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(1.0 - 0.5 * 0.25, rel=1e-15)


def test_a_metric_without_a_plateau_advances_and_warns_once() -> None:
    opt = make_optimizer([0.1])
    sched = LRScheduler(opt, lk.cosine(10))
    with pytest.warns(UserWarning, match="no schedule here contains plateau"):
        sched.step(0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sched.step(0.4)  # said once only
    assert sched.count == 2
    assert opt.param_groups[0]["lr"] == pytest.approx(0.1 * 0.5 * (1 + math.cos(math.pi * 0.2)))


def test_a_bad_metric_is_a_value_error_naming_it() -> None:
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=0.1)
    sched = LRScheduler(opt, lk.plateau(patience=0))
    for bad in ("x", torch.ones(3), [0.5]):
        with pytest.raises(ValueError, match=r"LRScheduler\.step: metric must be a real number"):
            sched.step(bad)
    sched.step(torch.tensor(1.0))  # a one-element tensor is fine
    sched.step(torch.tensor([2.0]))
    assert opt.param_groups[0]["lr"] == pytest.approx(0.01)  # 2.0 did not improve on 1.0


def test_all_reduce_metric_without_a_process_group_checks_its_input() -> None:
    from lrkit.torch.distributed import all_reduce_metric

    assert all_reduce_metric(torch.tensor(2.5)) == 2.5
    assert all_reduce_metric(1) == 1.0
    for bad in ("loss", torch.ones(3)):
        with pytest.raises(ValueError, match="all_reduce_metric: metric"):
            all_reduce_metric(bad)
