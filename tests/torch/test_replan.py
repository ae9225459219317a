"""LRScheduler under plans that change mid-run: ``replan`` (per-group lists too) and its resume
through ``torch.load(weights_only=True)``, ``step(by=)`` token clocks under a growing batch, the
``clock`` hook, resume reports, and the hardening of ``load_state_dict`` and ``hyperparams``
(every bad input a ValueError that changes nothing). Expected rates come from the formulas
written out here, never from lrkit's own earlier output."""

from __future__ import annotations

import copy
import io
import logging
import math
import warnings
from typing import Any

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import lrkit as lk
from lrkit.torch import LRScheduler


def cosine(t: float, n: float, end: float = 0.0) -> float:
    return end + (1 - end) * (1 + math.cos(math.pi * min(t, n) / n)) / 2


def splice_value(old: Any, new: Any, at: float, ramp: float, t: float) -> float:
    if t < at:
        return old(t)
    if t >= at + ramp:
        return new(t)
    a, b = old(at), new(at + ramp)
    return a + (b - a) * (t - at) / ramp


def _two_groups() -> torch.optim.Optimizer:
    torch.manual_seed(0)
    a, b = torch.nn.Linear(3, 2), torch.nn.Linear(2, 1)
    return torch.optim.SGD([{"params": a.parameters(), "lr": 0.1},
                            {"params": b.parameters(), "lr": 0.02}], momentum=0.9)


def _lrs(opt: torch.optim.Optimizer) -> list[float]:
    return [float(g["lr"]) for g in opt.param_groups]


def close(got: float, want: float) -> bool:
    return abs(got - want) <= 1e-12 * max(abs(want), 1e-300) + 1e-18


def test_replan_two_groups_resumes_through_weights_only_load() -> None:
    old = [lk.cosine(300), lk.cosine(300, end=0.1)]
    new = [lk.cosine(700), lk.cosine(700, end=0.1)]
    refs = [[lambda t: cosine(t, 300), lambda t: cosine(t, 700)],
            [lambda t: cosine(t, 300, 0.1), lambda t: cosine(t, 700, 0.1)]]
    bases = [0.1, 0.02]
    opt = _two_groups()
    sched = LRScheduler(opt, old)
    for _ in range(120):
        opt.step()
        sched.step()
    before = _lrs(opt)
    sched.replan(new, ramp=40)
    assert _lrs(opt) == before  # written at once, no jump
    for _ in range(25):
        opt.step()
        sched.step()
    buf = io.BytesIO()
    torch.save({"scheduler": sched.state_dict()}, buf)
    buf.seek(0)
    state = torch.load(buf, weights_only=True)["scheduler"]
    opt2 = _two_groups()
    resumed = LRScheduler(opt2, old)  # the resume code builds the original plans
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        resumed.load_state_dict(state)  # the scheduler only: its rates are written at once
    for step in range(145, 900):
        for i in range(2):
            want = bases[i] * splice_value(refs[i][0], refs[i][1], 120, 40, step)
            assert close(opt2.param_groups[i]["lr"], want), (step, i)
        assert _lrs(opt2) == _lrs(opt)
        opt.step()
        sched.step()
        opt2.step()
        resumed.step()


def test_replan_accepts_a_spec_string_and_rejects_bad_input() -> None:
    opt = _two_groups()
    sched = LRScheduler(opt, "cosine(steps=100)")
    sched.step()
    state = sched.state_dict()
    for bad, what in [("cosine(stps=3)", "stps"), (3, "schedule"), ([lk.constant()], "list"),
                      (lk.constant(), "ramp")]:
        with pytest.raises(ValueError, match=what):
            sched.replan(bad, ramp=-1 if what == "ramp" else 0)  # type: ignore[arg-type]
        assert sched.state_dict() == state
    sched.replan("constant(value=0.5)", ramp=10)
    assert sched.spec == "splice(cosine(steps=100), constant(value=0.5), at=1, ramp=10)"


def test_token_clock_under_a_growing_batch() -> None:
    """GPT-3's schedule is written in tokens (warmup 375M, cosine to 10% over 260B): scaled down
    by 1e4 here; the batch doubles twice (a ramp-up) and the clock counts tokens."""
    warm, total = 37_500, 26_000_000
    s = lk.warmup(lk.cosine(total - warm, end=0.1), warm)
    model = torch.nn.Linear(4, 1)
    opt = torch.optim.AdamW(model.parameters(), lr=6e-4)
    sched = LRScheduler(opt, s)
    tokens = 0
    for step in range(600):
        want = 6e-4 * (tokens / warm if tokens < warm else
                       0.1 + 0.9 * (1 + math.cos(math.pi * min(tokens - warm, total - warm)
                                                     / (total - warm))) / 2)
        assert close(opt.param_groups[0]["lr"], want), step
        batch = 2048 * (1 if step < 100 else 2 if step < 300 else 4) * 16
        opt.step()
        sched.step(by=batch)
        tokens += batch
    assert sched.count == tokens and sched.state_dict()["count"] == tokens


def test_clock_hook_reads_a_running_total() -> None:
    seen = {"tokens": 0}
    opt = torch.optim.SGD(torch.nn.Linear(2, 1).parameters(), lr=1.0)
    sched = LRScheduler(opt, lk.linear(1.0, 0.0, 10_000))
    sched.clock = lambda: seen["tokens"]
    for n in (100, 250, 4000):
        seen["tokens"] += n
        sched.step()
        assert sched.count == seen["tokens"]
        assert opt.param_groups[0]["lr"] == pytest.approx(1 - seen["tokens"] / 10_000)
    with pytest.raises(ValueError, match="by= cannot be given"):
        sched.step(by=3)
    seen["tokens"] -= 1
    with pytest.raises(ValueError, match="went back"):
        sched.step()
    assert sched.count == 4350


@pytest.mark.parametrize("bad", [-1, 0.5, 3.0, True, "2", None, torch.tensor(3), 2**63])
def test_bad_by_changes_nothing(bad: object) -> None:
    opt = torch.optim.SGD(torch.nn.Linear(2, 1).parameters(), lr=1.0)
    sched = LRScheduler(opt, lk.warmup(lk.plateau(patience=0), 2))
    sched.step(1.0)
    state, lrs = sched.state_dict(), _lrs(opt)
    with pytest.raises(ValueError, match=r"by must be|2\*\*63"):
        sched.step(0.5, by=bad)  # type: ignore[arg-type]
    assert sched.state_dict() == state and _lrs(opt) == lrs


def test_changed_plan_is_reported_through_logging_and_warnings(
        caplog: pytest.LogCaptureFixture) -> None:
    opt = torch.optim.SGD(torch.nn.Linear(2, 1).parameters(), lr=0.1)
    sched = LRScheduler(opt, lk.cosine(900))
    for _ in range(500):
        sched.step()
    state = sched.state_dict()
    opt2 = torch.optim.SGD(torch.nn.Linear(2, 1).parameters(), lr=0.1)
    fresh = LRScheduler(opt2, lk.cosine(1900))
    with caplog.at_level(logging.WARNING, logger="lrkit"), pytest.warns(lk.SpecMismatchWarning):
        fresh.load_state_dict(state)
    (record,) = caplog.records
    text = record.getMessage()
    assert f"{0.1 * cosine(500, 900):.6g}" in text and f"{0.1 * cosine(500, 1900):.6g}" in text
    assert "lrkit.splice(cosine(steps=900), cosine(steps=1900), at=500, ramp=R)" in text
    # the fix it names resumes quietly and continues the old plan up to the ramp
    opt3 = torch.optim.SGD(torch.nn.Linear(2, 1).parameters(), lr=0.1)
    fixed = LRScheduler(opt3, lk.splice(lk.cosine(900), lk.cosine(1900), at=500, ramp=50))
    caplog.clear()
    with warnings.catch_warnings(), caplog.at_level(logging.INFO, logger="lrkit"):
        warnings.simplefilter("error")
        fixed.load_state_dict(state)
    assert not caplog.records
    assert close(opt3.param_groups[0]["lr"], 0.1 * cosine(500, 900))


# --- hardening: load_state_dict ----------------------------------------------------------------


def _plateau_scheduler() -> tuple[torch.optim.Optimizer, LRScheduler]:
    opt = _two_groups()
    sched = LRScheduler(opt, [lk.warmup(lk.plateau(patience=1), 2), lk.cosine(50)],
                        hyperparams={"momentum": lk.linear(0.9, 0.95, 20)})
    for m in (1.0, 0.8, 0.9, 0.95, 0.97):
        opt.step()
        sched.step(m)
    return opt, sched


JUNK = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=8),
    st.lists(st.integers(-3, 3), max_size=3), st.dictionaries(st.text(max_size=3), st.integers(),
                                                              max_size=2),
)
PATHS = [("count",), ("calls",), ("spec",), ("spec", 0), ("mode",), ("steps_per_epoch",),
         ("base_lrs",), ("base_lrs", 0), ("base_lrs", 1), ("plateaus",), ("plateaus", 0),
         ("plateaus", 0, 0), ("plateaus", 0, 0, "best"), ("plateaus", 0, 0, "reductions"),
         ("plateaus", 0, 0, "num_bad_epochs"), ("hyperparams",), ("hyperparams", "momentum"),
         ("hyperparams", "momentum", "bases", 0), ("hyperparams", "momentum", "spec"),
         ("format_version",)]


def _set(state: Any, path: tuple[Any, ...], value: Any) -> None:
    node = state
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(path=st.sampled_from(PATHS), value=JUNK)
def test_tampered_states_are_value_errors_that_change_nothing(path: tuple[Any, ...],
                                                               value: Any) -> None:
    _, sched = _plateau_scheduler()
    good = sched.state_dict()
    state = copy.deepcopy(good)
    _set(state, path, value)
    target_opt, target = _plateau_scheduler()
    for _ in range(3):
        target_opt.step()
        target.step(0.5)
    before, lrs = target.state_dict(), _lrs(target_opt)
    moms = [g["momentum"] for g in target_opt.param_groups]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            target.load_state_dict(state)
        except ValueError:
            assert target.state_dict() == before and _lrs(target_opt) == lrs
            assert [g["momentum"] for g in target_opt.param_groups] == moms
            return
    after = _lrs(target_opt)  # accepted: what it wrote is a usable rate
    assert all(math.isfinite(x) and x >= 0 for x in after), (path, value, after)
    for _ in range(5):
        target_opt.step()
        target.step(0.4)
        assert all(math.isfinite(x) and x >= 0 for x in _lrs(target_opt))


@pytest.mark.parametrize(
    ("path", "value", "reason"),
    [
        (("base_lrs", 0), float("nan"), "base of param group 0 must be a finite number >= 0"),
        (("base_lrs", 1), float("inf"), "finite number >= 0"),
        (("base_lrs", 0), -0.1, "finite number >= 0"),
        (("count",), 2.9, "count must be an integer"),
        (("count",), 10**309, "count must be an integer from 0 to 2\\*\\*63 - 1"),
        (("spec",), 7, "spec must be a spec string"),
        (("mode",), "relatve", "mode must be 'relative' or 'absolute'"),
        (("steps_per_epoch",), 0, "steps_per_epoch must be an integer >= 1"),
        (("plateaus", 0, 0, "reductions"), -3, "reductions"),
        (("plateaus", 0, 0, "best"), float("nan"), "best"),
        (("plateaus", 0, 0, "num_bad_epochs"), 2.9, "num_bad_epochs"),
    ],
)
def test_tampered_states_name_the_field(path: tuple[Any, ...], value: Any, reason: str) -> None:
    opt, sched = _plateau_scheduler()
    state = copy.deepcopy(sched.state_dict())
    _set(state, path, value)
    before, lrs = sched.state_dict(), _lrs(opt)
    with pytest.raises(ValueError, match=reason):
        sched.load_state_dict(state)
    assert sched.state_dict() == before and _lrs(opt) == lrs


def test_a_load_failing_half_way_keeps_the_old_state() -> None:
    """The lr track is valid, the momentum track is not: nothing of either is applied."""
    opt, sched = _plateau_scheduler()
    state = copy.deepcopy(sched.state_dict())
    state["count"] = 3
    state["base_lrs"] = [0.5, 0.5]
    state["hyperparams"]["momentum"]["bases"] = [float("nan"), 1.0]
    before, lrs = sched.state_dict(), _lrs(opt)
    with pytest.raises(ValueError, match="momentum"):
        sched.load_state_dict(state)
    assert sched.state_dict() == before and _lrs(opt) == lrs


# --- hardening: hyperparams ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "key"),
    [
        (lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9), "maximize"),
        (lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9), "nesterov"),
        (lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9), "foreach"),
        (lambda p: torch.optim.Adam(p, lr=0.1), "amsgrad"),
        (lambda p: torch.optim.Adam(p, lr=0.1), "fused"),
        (lambda p: torch.optim.Adam(p, lr=0.1), "betas"),
        (lambda p: torch.optim.Adam(p, lr=0.1), "capturable"),
    ],
)
def test_hyperparams_refuses_settings_that_are_not_rates(make: Any, key: str) -> None:
    opt = make(torch.nn.Linear(2, 1).parameters())
    groups = copy.deepcopy([{k: v for k, v in g.items() if k != "params"}
                            for g in opt.param_groups])
    with pytest.raises(ValueError, match=rf"hyperparams key '{key}'.*allowed: \[") as err:
        LRScheduler(opt, lk.constant(), hyperparams={key: "constant()"})
    assert "weight_decay" in str(err.value)  # the list of what can be scheduled
    assert [{k: v for k, v in g.items() if k not in ("params", "initial_lr")}
            for g in opt.param_groups] == groups


def test_hyperparams_must_be_a_mapping() -> None:
    opt = torch.optim.SGD(torch.nn.Linear(2, 1).parameters(), lr=0.1, momentum=0.9)
    with pytest.raises(ValueError, match=r"hyperparams must be a dict.*momentum"):
        LRScheduler(opt, lk.constant(), hyperparams=["momentum"])  # type: ignore[arg-type]


def test_momentum_still_maps_to_betas_on_adam() -> None:
    opt = torch.optim.Adam(torch.nn.Linear(2, 1).parameters(), lr=0.1, betas=(0.9, 0.99))
    LRScheduler(opt, lk.constant(), hyperparams={"momentum": lk.constant(0.85)})
    assert opt.param_groups[0]["betas"] == (0.85, 0.99)


def test_gradual_warmup_refuses_tampered_states_and_changes_nothing() -> None:
    from lrkit.torch import GradualWarmupScheduler

    def make() -> tuple[torch.optim.Optimizer, GradualWarmupScheduler]:
        opt = _two_groups()
        after = torch.optim.lr_scheduler.StepLR(opt, step_size=3, gamma=0.5)
        return opt, GradualWarmupScheduler(opt, multiplier=2.0, total_epoch=4,
                                           after_scheduler=after)

    opt, sched = make()
    for _ in range(7):
        opt.step()
        sched.step()
    good = sched.state_dict()
    for path, value in [(("base_lrs", 0), float("nan")), (("base_lrs",), [0.1]),
                        (("count",), 2.9), (("count",), -4), (("last_lr", 1), float("inf")),
                        (("last_lr", 0), -1.0), (("after_scheduler",), "x")]:
        opt2, target = make()
        opt2.step()
        target.step()
        before, lrs = target.state_dict(), _lrs(opt2)
        state = copy.deepcopy(good)
        _set(state, path, value)
        with pytest.raises(ValueError, match=path[0]):
            target.load_state_dict(state)
        assert target.state_dict() == before and _lrs(opt2) == lrs, path
