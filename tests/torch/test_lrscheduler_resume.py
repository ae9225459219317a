"""Checkpoint and resume: state_dict is plain data that torch.load(weights_only=True) reads,
and a run resumed at any step (mid-warmup, mid-restart, after plateau reductions) continues
exactly as the uninterrupted run. The uninterrupted run is the reference."""

from __future__ import annotations

import io
import random
import warnings

import pytest
import torch
from _torch_testing import group_lrs, make_optimizer

import lrkit as lk
from lrkit.torch.scheduler import LRScheduler

SCHEDULES = {
    "warmup_cosine": lambda: lk.warmup(lk.cosine(40, end=0.01), 10, start=0.05),
    "restarts": lambda: lk.cosine_restarts(7, period_mult=2, decay=0.7),
    "warmup_plateau": lambda: lk.warmup(lk.plateau(patience=1, factor=0.5, cooldown=1), 5),
    "cosine_x_plateau": lambda: lk.cosine(50) * lk.plateau(patience=0, factor=0.7),
    "one_cycle": lambda: lk.one_cycle(60, three_phase=True),
    "steps_per_epoch": lambda: lk.multistep([2, 4], gamma=0.3),
}


def _metrics(seed: int, n: int) -> list[float]:
    rng = random.Random(seed)
    return [rng.uniform(0.0, 1.0) for _ in range(n)]


def _roundtrip(state: dict[str, object]) -> dict[str, object]:
    buf = io.BytesIO()
    torch.save(state, buf)
    buf.seek(0)
    return torch.load(buf, weights_only=True)  # type: ignore[no-any-return]


def _run(name: str, lrs: list[float], metrics: list[float], stop: int | None,
         opt_first: bool) -> list[list[float]]:
    spe = 5 if name == "steps_per_epoch" else None
    opt = make_optimizer(lrs, momentum=0.9)
    sched = LRScheduler(opt, SCHEDULES[name](), steps_per_epoch=spe)
    seen = []
    for i, m in enumerate(metrics):
        if i == stop:
            opt_state, sched_state = opt.state_dict(), _roundtrip(sched.state_dict())
            opt = make_optimizer(lrs, momentum=0.9)
            sched = LRScheduler(opt, SCHEDULES[name](), steps_per_epoch=spe)
            if opt_first:
                opt.load_state_dict(opt_state)
                sched.load_state_dict(sched_state)
            else:
                sched.load_state_dict(sched_state)
                opt.load_state_dict(opt_state)
        seen.append(group_lrs(opt))
        opt.step()
        sched.step(m if sched.schedule.has_state else None)
    return seen


@pytest.mark.parametrize("name", sorted(SCHEDULES))
@pytest.mark.parametrize("seed", range(6))
def test_resume_continues_exactly(name: str, seed: int) -> None:
    rng = random.Random(seed)
    lrs = [10 ** rng.uniform(-3, 0) for _ in range(rng.randint(1, 3))]
    metrics = _metrics(seed, 70)
    # fixed stops: mid-warmup (3), inside the second restart cycle (10), after plateau
    # reductions (40); then random ones
    stop = (3, 10, 40)[seed] if seed < 3 else rng.randint(1, 69)
    reference = _run(name, lrs, metrics, None, True)
    if "plateau" in name:
        assert min(reference[-1]) < min(lrs) * 0.5  # the plateau did reduce
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        resumed = _run(name, lrs, metrics, stop, opt_first=bool(seed % 2))
    assert resumed == reference


def test_state_dict_is_small_plain_data() -> None:
    opt = make_optimizer([0.1, 0.01])
    sched = LRScheduler(opt, lk.warmup(lk.plateau(patience=0), 2))
    for m in [3.0, 2.0, 2.5, 2.6]:
        opt.step()
        sched.step(m)
    state = sched.state_dict()

    def plain(x: object) -> bool:
        if isinstance(x, dict):
            return all(isinstance(k, str) and plain(v) for k, v in x.items())
        if isinstance(x, list):
            return all(plain(v) for v in x)
        return x is None or isinstance(x, bool | int | float | str)

    assert plain(state)
    assert state["count"] == 4
    assert state["spec"] == "warmup(plateau(patience=0), steps=2)"
    assert _roundtrip(state) == state


def test_load_writes_rates_into_groups() -> None:
    opt = make_optimizer([0.2])
    sched = LRScheduler(opt, lk.step_decay(3, gamma=0.5))
    for _ in range(7):
        opt.step()
        sched.step()
    state = sched.state_dict()
    fresh_opt = make_optimizer([0.2])
    fresh = LRScheduler(fresh_opt, lk.step_decay(3, gamma=0.5))
    fresh.load_state_dict(state)
    assert fresh.count == 7
    assert fresh_opt.param_groups[0]["lr"] == pytest.approx(0.2 * 0.5**2, rel=1e-15)
    assert fresh.get_last_lr() == [pytest.approx(0.05, rel=1e-15)]


def test_loading_another_schedule_warns_naming_both() -> None:
    opt = make_optimizer([0.1])
    state = LRScheduler(opt, lk.cosine(100)).state_dict()
    other = LRScheduler(make_optimizer([0.1]), lk.linear(1.0, 0.0, 50))
    with pytest.warns(lk.SpecMismatchWarning) as record:
        other.load_state_dict(state)
    text = " ".join(str(w.message) for w in record)
    assert "cosine(steps=100)" in text and "linear(" in text


def test_load_rejects_other_group_count() -> None:
    state = LRScheduler(make_optimizer([0.1, 0.2]), lk.cosine(10)).state_dict()
    with pytest.raises(ValueError, match="param group"):
        LRScheduler(make_optimizer([0.1]), lk.cosine(10)).load_state_dict(state)


def test_load_rejects_garbage() -> None:
    sched = LRScheduler(make_optimizer([0.1]), lk.cosine(10))
    with pytest.raises(ValueError, match="count"):
        sched.load_state_dict({"count": -3, "spec": "cosine(steps=10)"})
    with pytest.raises(ValueError, match="state_dict"):
        sched.load_state_dict("nope")  # type: ignore[arg-type]
