"""Formats that last: checkpoints, states and dicts written by lrkit 0.1.0 (``tests/data/v0.1.0``,
made by ``tests/data/make_v0_1_0.py`` with the released code) load into this lrkit and resume
with the rates 0.1.0 recorded, step by step; a state from a newer format is a clear error."""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

import lrkit as lk
from lrkit._format import FORMAT_VERSION

DATA = Path(__file__).resolve().parent / "data" / "v0.1.0"


def _load(name: str) -> dict[str, Any]:
    return json.loads((DATA / name).read_text(encoding="utf-8"))  # type: ignore[no-any-return]


LRSCHEDULER = _load("lrscheduler.json")
GRADUAL = _load("gradual_warmup.json")
STEPPER = _load("stepper.json")
SCHEDULES = _load("schedules.json")


def _close(got: float, want: float) -> bool:
    return got == want or math.isclose(got, want, rel_tol=1e-12, abs_tol=0.0)


def _assert_rates(got: dict[str, list[float]], want: dict[str, list[float]], where: str) -> None:
    assert set(got) == set(want), where
    for key, values in want.items():
        assert len(got[key]) == len(values), where
        bad = [(g, w) for g, w in zip(got[key], values, strict=True) if not _close(g, w)]
        assert not bad, f"{where}: {key} is {got[key]}, 0.1.0 had {values}"


@contextmanager
def _no_warnings() -> Iterator[None]:
    """A 0.1.0 state loads into a scheduler built the same way without any warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


# --- torch: how the recorded ``setup`` builds optimizer and scheduler ----------------------------


def _optimizer(setup: dict[str, Any]) -> Any:
    import torch

    groups = []
    for g in setup["groups"]:
        group = dict(g)
        group["params"] = [torch.nn.Parameter(torch.zeros(2))]
        if "betas" in group:
            group["betas"] = tuple(group["betas"])
        if group.pop("tensor_lr", False):
            group["lr"] = torch.tensor(group["lr"], dtype=torch.float64)
        groups.append(group)
    return getattr(torch.optim, setup["optimizer"])(groups)


def _lrscheduler(opt: Any, setup: dict[str, Any]) -> Any:
    from lrkit.torch import LRScheduler

    hyper = {k: (spec, mode) for k, (spec, mode) in setup.get("hyperparams", {}).items()}
    return LRScheduler(opt, setup["schedule"], mode=setup.get("mode", "relative"),
                       steps_per_epoch=setup.get("steps_per_epoch"), hyperparams=hyper or None)


def _gradual(opt: Any, setup: dict[str, Any]) -> Any:
    import torch

    from lrkit.torch import GradualWarmupScheduler

    after = setup["after"]
    inner = None
    if after is not None:
        inner = getattr(torch.optim.lr_scheduler, after["type"])(opt, **after["kwargs"])
    return GradualWarmupScheduler(opt, setup["multiplier"], setup["total_epoch"], inner)


def _settings(opt: Any, keys: list[str]) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {}
    for key in keys:
        out[key] = [
            float(g["betas"][0]) if key == "momentum" and "momentum" not in g else float(g[key])
            for g in opt.param_groups
        ]
    return out


def _train_step(opt: Any) -> None:
    import torch

    for g in opt.param_groups:
        for p in g["params"]:
            p.grad = torch.ones_like(p)
    opt.step()


def _resume(kind: str, case: dict[str, Any], order: str,
            mutate: Any = None) -> list[dict[str, list[float]]]:
    """Load the 0.1.0 checkpoint into fresh objects (in ``order``), check the restored rates,
    then step on with the recorded metrics; the rates after each step."""
    import torch

    setup = case["setup"]
    keys = ["lr", *setup.get("hyperparams", {})]
    ckpt = torch.load(DATA / case["file"], weights_only=True)
    if mutate is not None:
        mutate(ckpt["scheduler"])
    opt = _optimizer(setup)
    sched = (_lrscheduler if kind == "lrscheduler" else _gradual)(opt, setup)
    with _no_warnings():
        if order == "optimizer first":
            opt.load_state_dict(ckpt["optimizer"])
            sched.load_state_dict(ckpt["scheduler"])
        else:
            sched.load_state_dict(ckpt["scheduler"])
            opt.load_state_dict(ckpt["optimizer"])
    where = f"{case['file']} ({order})"
    if mutate is None:
        _assert_rates(_settings(opt, keys), case["at_save"], f"{where} at the save step")
        assert [float(x) for x in sched.get_last_lr()] == pytest.approx(
            case["at_save"]["lr"], rel=1e-12, abs=0.0)
    metrics = case["metrics"]
    out = []
    with _no_warnings():
        for k in range(case["save_at"], case["save_at"] + len(case["after"])):
            _train_step(opt)
            if metrics is None:
                sched.step()
            elif kind == "lrscheduler":
                sched.step(metrics[k])
            else:
                sched.step(metrics=metrics[k])
            out.append(_settings(opt, keys))
    return out


ORDERS = ["optimizer first", "scheduler first"]


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("name", sorted(LRSCHEDULER))
def test_lrscheduler_checkpoint_of_0_1_resumes_exactly(name: str, order: str) -> None:
    pytest.importorskip("torch")
    case = LRSCHEDULER[name]
    for i, (got, want) in enumerate(zip(_resume("lrscheduler", case, order), case["after"],
                                        strict=True)):
        _assert_rates(got, want, f"{name} ({order}): step {case['save_at'] + i + 1}")


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("name", sorted(GRADUAL))
def test_gradual_warmup_checkpoint_of_0_1_resumes_exactly(name: str, order: str) -> None:
    pytest.importorskip("torch")
    case = GRADUAL[name]
    for i, (got, want) in enumerate(zip(_resume("gradual_warmup", case, order), case["after"],
                                        strict=True)):
        _assert_rates(got, want, f"{name} ({order}): step {case['save_at'] + i + 1}")


def _reset_plateaus(state: dict[str, Any]) -> None:
    for group in state["plateaus"]:
        for p in group:
            p.update(best=math.inf, num_bad_epochs=0, cooldown_counter=0, reductions=0)


@pytest.mark.parametrize("name", sorted(n for n in LRSCHEDULER if "plateau" in n))
def test_a_reset_plateau_state_would_not_pass(name: str) -> None:
    """The comparison can fail: resuming with fresh plateau states gives other rates."""
    pytest.importorskip("torch")
    case = LRSCHEDULER[name]
    assert _resume("lrscheduler", case, ORDERS[0], mutate=_reset_plateaus) != case["after"]


def test_the_fixtures_hold_plateaus_in_the_middle_of_a_patience_and_a_cooldown() -> None:
    torch = pytest.importorskip("torch")
    states = [p for c in LRSCHEDULER.values()
              for group in torch.load(DATA / c["file"], weights_only=True)["scheduler"]["plateaus"]
              for p in group]
    assert any(p["num_bad_epochs"] > 0 for p in states)
    assert any(p["cooldown_counter"] > 0 for p in states)
    assert any(p["reductions"] > 0 for p in states)


# --- the framework-free driver and the schedules -------------------------------------------------


@pytest.mark.parametrize("name", sorted(STEPPER))
def test_stepper_state_of_0_1_resumes_exactly(name: str) -> None:
    case = STEPPER[name]
    st = lk.Stepper(lk.parse(case["spec"]), case["steps_per_epoch"])
    with _no_warnings():
        st.load_state_dict(case["state"])
    assert _close(st.value(), case["at_save"])
    metrics = case["metrics"]
    got = [st.step(None if metrics is None else metrics[k])
           for k in range(case["save_at"], case["save_at"] + len(case["after"]))]
    bad = [(k, g, w) for k, (g, w) in enumerate(zip(got, case["after"], strict=True))
           if not _close(g, w)]
    assert not bad, f"{name}: (step after the save, got, 0.1.0) {bad}"


def test_the_fixtures_cover_every_schedule_registered_in_0_1() -> None:
    names = set()

    def walk(d: Any) -> None:
        if isinstance(d, dict):
            names.add(d.get("type"))
            for v in d.values():
                walk(v)
        elif isinstance(d, list):
            for v in d:
                walk(v)

    walk([e["dict"] for e in SCHEDULES.values()])
    v010 = {"add", "constant", "cosine", "cosine_restarts", "cyclic", "exponential",
            "inverse_sqrt", "inverse_time", "join", "linear", "mul", "multistep", "one_cycle",
            "plateau", "polynomial", "step_decay", "untuned_warmup", "warmup", "warmup_factor",
            "wsd"}
    assert names == v010
    assert v010 <= set(lk.registry()), "a schedule of 0.1 is no longer registered"


@pytest.mark.parametrize("text", sorted(SCHEDULES))
def test_spec_strings_and_dicts_of_0_1_give_the_same_schedule(text: str) -> None:
    entry = SCHEDULES[text]
    s = lk.parse(text)
    assert lk.parse(entry["spec"]) == s
    assert lk.from_dict(entry["dict"]) == s
    # the canonical text is stable: it is what a state stores and compares on load
    assert str(s) == entry["spec"]
    if "metrics" in entry:
        st = lk.Stepper(s)
        got = [st.value()] + [st.step(m) for m in entry["metrics"]]
    else:
        got = [s(t) for t in entry["t"]]
    bad = [(i, g, w) for i, (g, w) in enumerate(zip(got, entry["values"], strict=True))
           if not _close(g, w)]
    assert not bad, f"{text}: (index, got, 0.1.0) {bad}"


# --- the format version --------------------------------------------------------------------------


def test_dicts_and_states_carry_the_format_version_at_the_top_only() -> None:
    s = lk.warmup(lk.cosine(90) * lk.plateau(), 10)
    d = s.to_dict()
    assert d["format_version"] == FORMAT_VERSION == 2
    assert "format_version" not in d["schedule"]
    assert "format_version" not in d["schedule"]["left"]
    assert lk.from_dict(json.loads(json.dumps(d))) == s
    assert lk.Stepper(s).state_dict()["format_version"] == FORMAT_VERSION


def test_gradual_warmup_state_carries_the_format_version() -> None:
    torch = pytest.importorskip("torch")
    from lrkit.torch import GradualWarmupScheduler

    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    state = GradualWarmupScheduler(opt, 2.0, 3).state_dict()
    assert state["format_version"] == FORMAT_VERSION


def _loaders() -> list[tuple[str, Any, Any]]:
    """(owner, a current state or dict, its loader) for every versioned format."""
    out: list[tuple[str, Any, Any]] = []
    s = lk.parse("warmup(plateau(patience=1), steps=2)")
    out.append(("from_dict", s.to_dict(), lk.from_dict))
    st = lk.Stepper(s)
    st.step(1.0)
    out.append(("Stepper.load_state_dict", st.state_dict(), lk.Stepper(s).load_state_dict))
    try:
        import torch
    except ImportError:
        return out
    from lrkit.torch import GradualWarmupScheduler, LRScheduler

    def opt() -> Any:
        return torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)

    g = GradualWarmupScheduler(opt(), 2.0, 3)
    out.append(("GradualWarmupScheduler.load_state_dict", g.state_dict(),
                GradualWarmupScheduler(opt(), 2.0, 3).load_state_dict))
    sched = LRScheduler(opt(), s)
    out.append(("LRScheduler.load_state_dict", sched.state_dict(),
                LRScheduler(opt(), s).load_state_dict))
    return out


LOADERS = _loaders()


def _params() -> list[Any]:
    return [pytest.param(owner, state, load, id=owner) for owner, state, load in LOADERS]


@pytest.mark.parametrize(("owner", "state", "load"), _params())
def test_a_newer_format_is_a_clear_error(owner: str, state: dict[str, Any], load: Any) -> None:
    assert state.get("format_version") == FORMAT_VERSION
    newer = {**state, "format_version": FORMAT_VERSION + 1}
    with pytest.raises(ValueError, match=rf"format_version {FORMAT_VERSION + 1}\b") as info:
        load(newer)
    message = str(info.value)
    assert owner.split(".")[0] in message
    assert f"up to {FORMAT_VERSION}" in message and "upgrade lrkit" in message
    # a newer format may have other keys altogether: the version is what the error is about
    with pytest.raises(ValueError, match=rf"format_version {FORMAT_VERSION + 1}\b"):
        load({"format_version": FORMAT_VERSION + 1, "something": "else"})


@pytest.mark.parametrize(("owner", "state", "load"), _params())
@pytest.mark.parametrize("version", ["2", 2.0, None, True, [2]])
def test_a_format_version_that_is_no_integer_is_an_error(
    owner: str, state: dict[str, Any], load: Any, version: Any
) -> None:
    with pytest.raises(ValueError, match="format_version"):
        load({**state, "format_version": version})


@pytest.mark.parametrize(("owner", "state", "load"), _params())
def test_missing_1_and_2_load(owner: str, state: dict[str, Any], load: Any) -> None:
    old = {k: v for k, v in state.items() if k != "format_version"}
    for d in (old, {**old, "format_version": 1}, {**old, "format_version": 2}):
        with _no_warnings():
            load(d)
    with pytest.raises(ValueError, match="format_version"):
        load({**old, "format_version": 0})


def test_from_dict_takes_format_version_only_at_the_top() -> None:
    d = lk.warmup(lk.cosine(90), 10).to_dict()
    d["schedule"]["format_version"] = 2
    with pytest.raises(ValueError, match=r"d\['schedule'\].*format_version.*top level"):
        lk.from_dict(d)
