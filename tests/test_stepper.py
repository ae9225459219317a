"""``lrkit.Stepper`` and ``plateau``: torch's ReduceLROnPlateau as the oracle on random metric
sequences, plateaus inside warmup/join seeing only their own segment's metrics, and resuming
from a state dict."""

from __future__ import annotations

import copy
import json
import math
import warnings
from typing import Any

import pytest
from _schedules import examples
from hypothesis import given, settings
from hypothesis import strategies as st

import lrkit as lk

metrics = st.lists(
    st.one_of(
        st.floats(-10.0, 10.0),
        st.sampled_from([1.0, 1.0, 0.5, 0.0, -1.0, math.nan]),  # plateaus, ties, NaN
    ),
    min_size=1,
    max_size=60,
)


def _torch_plateau(base_lr: float, **kw: Any) -> tuple[Any, Any]:
    torch = pytest.importorskip("torch")
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=base_lr)
    return opt, torch.optim.lr_scheduler.ReduceLROnPlateau(opt, **kw)


@settings(max_examples=examples(80))
@given(
    ms=metrics,
    base_lr=st.floats(1e-4, 1.0),
    factor=st.floats(0.05, 0.95),
    patience=st.integers(0, 5),
    mode=st.sampled_from(["min", "max"]),
    threshold=st.one_of(st.just(0.0), st.floats(0.0, 0.3)),
    threshold_mode=st.sampled_from(["rel", "abs"]),
    cooldown=st.integers(0, 4),
    min_frac=st.one_of(st.just(0.0), st.floats(0.0, 0.2)),
)
def test_plateau_matches_torch_reduce_lr_on_plateau(
    ms: list[float], base_lr: float, factor: float, patience: int, mode: str,
    threshold: float, threshold_mode: str, cooldown: int, min_frac: float,
) -> None:
    min_lr = base_lr * min_frac
    opt, ref = _torch_plateau(
        base_lr, mode=mode, factor=factor, patience=patience, threshold=threshold,
        threshold_mode=threshold_mode, cooldown=cooldown, min_lr=min_lr, eps=1e-8,
    )
    s = lk.plateau(factor=factor, patience=patience, mode=mode, threshold=threshold,
                   threshold_mode=threshold_mode, cooldown=cooldown, min_value=min_frac)
    stepper = lk.Stepper(s)
    assert stepper.value() * base_lr == pytest.approx(opt.param_groups[0]["lr"], rel=1e-12)
    for k, m in enumerate(ms):
        ref.step(m)
        got = stepper.step(m, eps=1e-8 / base_lr)
        want = opt.param_groups[0]["lr"]
        assert got * base_lr == pytest.approx(want, rel=1e-9), (k, ms[: k + 1])
        assert stepper.count == k + 1


@pytest.mark.parametrize("eps", [0.0, 1e-8, 0.05])
def test_eps_blocks_tiny_reductions(eps: float) -> None:
    """torch reduces only when old - new > eps; the stepper's eps is in schedule units."""
    base_lr = 1.0
    opt, ref = _torch_plateau(base_lr, factor=0.5, patience=0, min_lr=0.3, eps=eps)
    stepper = lk.Stepper(lk.plateau(factor=0.5, patience=0, min_value=0.3))
    for m in [5.0, 6.0, 7.0, 8.0, 9.0, 10.0]:
        ref.step(m)
        assert stepper.step(m, eps=eps) == pytest.approx(opt.param_groups[0]["lr"])


def test_report_does_not_advance() -> None:
    stepper = lk.Stepper(lk.plateau(factor=0.5, patience=0))
    stepper.report(1.0)
    stepper.report(2.0)  # worse: one reduction
    assert stepper.count == 0
    assert stepper.value() == pytest.approx(0.5)
    assert stepper.step() == pytest.approx(0.5)
    assert stepper.count == 1


def test_plateau_inside_warmup_sees_metrics_only_after_the_ramp() -> None:
    s = lk.warmup(lk.plateau(factor=0.5, patience=0), 5)
    stepper = lk.Stepper(s)
    opt, ref = _torch_plateau(1.0, factor=0.5, patience=0)
    ms = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 1.0, 8.0, 9.0]
    for k, m in enumerate(ms):
        if k < 5:  # still ramping: these metrics must not reach the plateau
            assert stepper.value() == pytest.approx(k / 5)
        else:
            ref.step(m)
        stepper.step(m)
    # the plateau saw ms[5:] only: 6 (best), 7 bad, 1 best, 8 bad, 9 bad -> 3 reductions
    assert stepper.value() == pytest.approx(opt.param_groups[0]["lr"])
    assert stepper.value() == pytest.approx(0.5**3)


def test_plateaus_in_a_join_see_their_own_segment() -> None:
    a = lk.plateau(factor=0.5, patience=0)
    b = lk.plateau(factor=0.1, patience=1, start=0.4)
    s = lk.join([a, lk.cosine(3, start=0.2), b], [4, 7])
    stepper = lk.Stepper(s)
    opt_a, ref_a = _torch_plateau(1.0, factor=0.5, patience=0)
    opt_b, ref_b = _torch_plateau(0.4, factor=0.1, patience=1)
    ms = [3.0, 4.0, 5.0, 1.0, 9.0, 9.0, 9.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    for k, m in enumerate(ms):
        t = stepper.t
        if t < 4:
            ref_a.step(m)
        elif t >= 7:
            ref_b.step(m)
        v = stepper.step(m)
        t = stepper.t
        if t < 4:
            assert v == pytest.approx(opt_a.param_groups[0]["lr"]), k
        elif t < 7:
            local = t - 4
            assert v == pytest.approx(0.2 * (1 + math.cos(math.pi * local / 3)) / 2), k
        else:
            assert v == pytest.approx(opt_b.param_groups[0]["lr"]), k
    assert opt_b.param_groups[0]["lr"] < 0.4  # b did reduce, from its own metrics only


def test_plateau_times_a_schedule() -> None:
    s = lk.cosine(20, end=0.1) * lk.plateau(factor=0.5, patience=1)
    stepper = lk.Stepper(s)
    opt, ref = _torch_plateau(1.0, factor=0.5, patience=1)
    for k, m in enumerate([1.0, 1.0, 1.0, 0.5, 0.6, 0.7, 0.8, 0.9]):
        ref.step(m)
        v = stepper.step(m)
        cos = 0.1 + 0.9 * (1 + math.cos(math.pi * min(k + 1, 20) / 20)) / 2
        assert v == pytest.approx(cos * opt.param_groups[0]["lr"]), k


def test_stateless_schedule_through_a_stepper() -> None:
    s = lk.warmup(lk.cosine(90, end=0.1), 10)
    stepper = lk.Stepper(s)
    assert stepper.value() == s(0)
    for k in range(1, 30):
        assert stepper.step() == s(k)
        assert stepper.count == k
    stepper.report(1.0)  # no plateau: reporting is harmless
    per_epoch = lk.Stepper(s, steps_per_epoch=4)
    for _ in range(10):
        per_epoch.step()
    assert per_epoch.t == 2.5
    assert per_epoch.value() == s(2.5)


@settings(max_examples=examples(30))
@given(ms=metrics, cut=st.integers(0, 60))
def test_resume_mid_way_continues_identically(ms: list[float], cut: int) -> None:
    s = lk.join([lk.linear(0.1, 1.0, 3), lk.plateau(factor=0.5, patience=1, cooldown=1)], [3])
    s = s * lk.plateau(factor=0.9, patience=0, mode="max")
    straight = lk.Stepper(s)
    first = lk.Stepper(s)
    cut = min(cut, len(ms))
    for m in ms[:cut]:
        straight.step(m)
        first.step(m)
    state = first.state_dict()
    state = json.loads(json.dumps(state))  # plain data
    assert set(state) >= {"count", "spec", "plateaus"}
    assert state["count"] == cut and state["spec"] == str(s)
    resumed = lk.Stepper(s)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        resumed.load_state_dict(state)
    assert resumed.count == cut and resumed.value() == straight.value()
    for m in ms[cut:]:
        assert resumed.step(m) == straight.step(m)
    assert resumed.state_dict() == json.loads(json.dumps(straight.state_dict()))


def test_state_dict_is_not_shared() -> None:
    stepper = lk.Stepper(lk.plateau(factor=0.5, patience=0))
    stepper.step(1.0)
    saved = copy.deepcopy(stepper.state_dict())
    stepper.step(2.0)
    assert stepper.value() == pytest.approx(0.5)
    other = lk.Stepper(lk.plateau(factor=0.5, patience=0))
    other.load_state_dict(saved)
    assert other.value() == pytest.approx(1.0)


def test_loading_another_schedules_state_warns() -> None:
    a = lk.Stepper(lk.cosine(100))
    for _ in range(5):
        a.step()
    b = lk.Stepper(lk.cosine(200))
    with pytest.warns(lk.SpecMismatchWarning) as record:
        b.load_state_dict(a.state_dict())
    msg = str(record[0].message)
    assert "cosine(steps=100)" in msg and "cosine(steps=200)" in msg
    assert b.count == 5
    assert issubclass(lk.SpecMismatchWarning, Warning)


def test_bad_state_dicts() -> None:
    stepper = lk.Stepper(lk.cosine(10))
    for bad in (None, {}, {"count": -1}, {"count": 1.5}, {"count": "3"}, [1, 2]):
        with pytest.raises(ValueError):
            stepper.load_state_dict(bad)  # type: ignore[arg-type]


def test_stepper_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError):
        lk.Stepper("cosine(steps=10)")  # type: ignore[arg-type]
    for bad in (0, -1, 2.5):
        with pytest.raises(ValueError, match="steps_per_epoch"):
            lk.Stepper(lk.cosine(10), steps_per_epoch=bad)  # type: ignore[arg-type]


def test_calling_a_plateau_tree_is_an_error() -> None:
    s = lk.warmup(lk.plateau(), 5)
    with pytest.raises(lk.StatefulScheduleError):
        s(3)
    np = pytest.importorskip("numpy")
    with pytest.raises(ValueError):
        s(np.arange(3.0))
    # while the stepper drives it fine
    assert lk.Stepper(s).step() == pytest.approx(0.2)
