"""Bad input fails early: a ``ValueError`` naming the parameter and echoing the value received,
for every constructor, through the constructor, the spec parser and ``from_dict`` alike."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

import lrkit as lk

C = lk.cosine(10)

VALID: dict[str, dict[str, Any]] = {
    "constant": {},
    "linear": {"start": 0.0, "end": 1.0, "steps": 10},
    "step_decay": {"step_size": 5},
    "multistep": {"milestones": [10, 20]},
    "exponential": {"gamma": 0.9},
    "polynomial": {"steps": 10},
    "cosine": {"steps": 10},
    "cosine_restarts": {"period": 10},
    "one_cycle": {"steps": 100},
    "cyclic": {"low": 0.1, "high": 1.0, "half_period": 5},
    "inverse_sqrt": {"timescale": 10},
    "inverse_time": {"steps": 10},
    "wsd": {"warmup": 1, "stable": 1, "decay": 1},
    "warmup": {"schedule": C, "steps": 5},
    "join": {"schedules": [C, lk.constant(0.1)], "boundaries": [10]},
    "plateau": {},
    "untuned_warmup": {},
    "warmup_factor": {"period": 10},
    "mul": {"left": C, "right": C},
    "add": {"left": C, "right": C},
    "maximum": {"left": C, "right": 0.1},
    "minimum": {"left": C, "right": 0.5},
    "shift": {"schedule": C, "steps": 3},
    "staircase": {"schedule": C, "every": 2},
    "pow": {"base": C, "exponent": 0.5},
    "batch_rampup": {"start": 32, "increment": 32, "samples": 1000, "end": 1024},
    "cooldown": {"schedule": C, "at": 5, "steps": 3},
    "splice": {"old": C, "new": lk.cosine(20), "at": 5, "ramp": 2},
}
NUMBER_IS_A_SCHEDULE = ("maximum", "minimum")
"""Constructors whose schedule operands may be numbers (constants >= 0)."""

STEPS = ["steps", "step_size", "period", "half_period", "timescale", "every", "down_period"]
RATES = ["start", "end", "value", "low", "high", "peak", "min_value"]

BAD: list[tuple[str, str, Any]] = []
"""(constructor, parameter, bad value)."""

for _name, _cls in sorted(lk.registry().items()):
    import dataclasses

    for _f in dataclasses.fields(_cls):
        if _f.metadata.get("kind"):
            BAD.append((_name, _f.name, "cosine(steps=10)"))  # a string is not a schedule
            if _name in NUMBER_IS_A_SCHEDULE:
                BAD += [(_name, _f.name, -1), (_name, _f.name, math.nan), (_name, _f.name, True)]
            else:
                BAD.append((_name, _f.name, 3))
            continue
        if _f.name in ("milestones", "boundaries"):
            continue
        if _f.name in ("mode", "anneal", "shape", "warmup_shape", "decay_shape", "threshold_mode"):
            BAD += [(_name, _f.name, "bogus"), (_name, _f.name, 1), (_name, _f.name, None)]
            continue
        if _f.name in ("staircase", "three_phase"):
            BAD += [(_name, _f.name, 1), (_name, _f.name, "yes"), (_name, _f.name, None)]
            continue
        # every number: NaN, infinities, bools, strings
        BAD += [(_name, _f.name, v) for v in (math.nan, math.inf, -math.inf, True, "1")]
        if _f.name in STEPS:
            BAD += [(_name, _f.name, 0), (_name, _f.name, -1), (_name, _f.name, -0.5)]
        if _f.name in RATES:
            BAD += [(_name, _f.name, -0.1), (_name, _f.name, -1e-300)]

BAD += [
    ("step_decay", "gamma", 0.0),
    ("step_decay", "gamma", 1.5),
    ("step_decay", "gamma", -0.1),
    ("multistep", "gamma", 0.0),
    ("multistep", "gamma", 2.0),
    ("cyclic", "gamma", 0.0),
    ("cyclic", "gamma", 1.01),
    ("exponential", "gamma", 0.0),
    ("exponential", "gamma", -0.5),
    ("cosine_restarts", "decay", 0.0),
    ("cosine_restarts", "decay", 1.5),
    ("cosine_restarts", "period_mult", 0.5),
    ("cosine_restarts", "period_mult", 0),
    ("one_cycle", "pct_start", 0.0),
    ("one_cycle", "pct_start", 1.0),
    ("one_cycle", "pct_start", 1.5),
    ("one_cycle", "div_factor", 0.0),
    ("one_cycle", "div_factor", -2.0),
    ("one_cycle", "final_div_factor", 0.0),
    ("polynomial", "power", 0.0),
    ("polynomial", "power", -1.0),
    ("cosine", "exponent", 0.0),
    ("inverse_time", "rate", -1.0),
    ("wsd", "warmup", -1),
    ("wsd", "stable", -1),
    ("wsd", "decay", -1),
    ("warmup", "steps", 0),
    ("warmup", "steps", -3),
    ("warmup", "start", -0.1),
    ("plateau", "factor", 1.0),
    ("plateau", "factor", 1.5),
    ("plateau", "factor", 0.0),
    ("plateau", "patience", -1),
    ("plateau", "patience", 2.5),
    ("plateau", "cooldown", -1),
    ("plateau", "cooldown", 0.5),
    ("plateau", "threshold", -0.1),
    ("untuned_warmup", "beta2", 1.0),
    ("untuned_warmup", "beta2", -0.1),
    ("untuned_warmup", "beta2", 1.5),
    ("multistep", "milestones", []),
    ("multistep", "milestones", [20, 10]),
    ("multistep", "milestones", [-1, 10]),
    ("multistep", "milestones", ["a"]),
    ("multistep", "milestones", [math.nan]),
    ("multistep", "milestones", 10),
    ("multistep", "milestones", "10"),
    ("join", "boundaries", [10, 10]),
    ("join", "boundaries", [0]),
    ("join", "boundaries", [-5]),
    ("join", "boundaries", [math.inf]),
    ("join", "boundaries", []),
    ("join", "boundaries", [5, 10]),
    ("join", "schedules", []),
    ("join", "schedules", [C, "x"]),
    ("cosine", "k_decay", 0.0),
    ("cosine", "k_decay", -1.0),
    ("polynomial", "k_decay", 0.0),
    ("polynomial", "k_decay", -0.5),
    ("pow", "exponent", -0.5),
    ("pow", "exponent", -1),
    ("batch_rampup", "start", 0),
    ("batch_rampup", "start", 1.5),
    ("batch_rampup", "increment", 0),
    ("batch_rampup", "increment", 30),  # does not divide 1024 - 32
    ("batch_rampup", "samples", 0),
    ("batch_rampup", "samples", -1000),
    ("batch_rampup", "samples", 2**54),
    ("batch_rampup", "end", 32),  # no growth: Megatron divides by zero increments
    ("batch_rampup", "end", 16),
    ("batch_rampup", "end", 1000),  # 1000 - 32 is not a multiple of 32
]
# shift(s, steps=0) is s itself: valid
BAD = [b for b in BAD if not (b[:2] == ("shift", "steps") and b[2] == 0)]
# cooldown(s, at, steps=0) drops at once: valid
BAD = [b for b in BAD if not (b[:2] == ("cooldown", "steps") and b[2] == 0)]
# drop the few generic entries that are valid for a field (optional fields accept None)
BAD = [b for b in BAD if not (b[2] is None and b[1] in ("down_period", "end"))]


def _shown(value: Any) -> list[str]:
    """Ways the message may echo ``value``."""
    if isinstance(value, float) and math.isnan(value):
        return ["nan"]
    if isinstance(value, float) and math.isinf(value):
        return ["inf"]
    if isinstance(value, list):
        return [repr(value), repr(tuple(value)), *[repr(x) for x in value[:1]], "[]", "()"]
    return [repr(value), str(value)]


@pytest.mark.parametrize(("name", "param", "value"), BAD, ids=lambda x: repr(x)[:40])
def test_bad_parameter_names_itself(name: str, param: str, value: Any) -> None:
    cls = lk.registry()[name]
    kwargs = {**VALID[name], param: value}
    with pytest.raises(ValueError) as info:
        cls(**kwargs)
    msg = str(info.value)
    assert param in msg, f"{name}({param}={value!r}): message does not name {param!r}: {msg}"
    assert any(s in msg for s in _shown(value)), f"{name}({param}={value!r}): {msg}"


@pytest.mark.parametrize("name", sorted(VALID))
def test_valid_baseline(name: str) -> None:
    assert isinstance(lk.registry()[name](**VALID[name]), lk.Schedule)


def test_numbers_of_other_numeric_types_are_accepted() -> None:
    np = pytest.importorskip("numpy")
    assert lk.cosine(np.int64(10)) == lk.cosine(10)
    assert lk.cosine(np.float64(10.0)) == lk.cosine(10)
    assert lk.cosine(10.0).steps == 10  # integral steps normalise to int
    assert lk.cosine(12.5).steps == 12.5


@pytest.mark.parametrize(
    ("build", "words"),
    [
        (lambda: lk.warmup(C, 10, start=0.0, shape="exponential"), ["start", "0"]),
        (lambda: lk.warmup(lk.linear(0.0, 1.0, 5), 10, start=0.1, shape="exponential"), ["0"]),
        (lambda: lk.plateau(min_value=2.0, start=1.0), ["min_value", "2.0"]),
        (lambda: lk.wsd(0, 0, 0), ["warmup", "0"]),
        (lambda: lk.one_cycle(2, pct_start=0.3), ["pct_start", "0.3"]),
        (lambda: lk.one_cycle(10, pct_start=0.6, three_phase=True), ["pct_start", "0.6"]),
        (lambda: lk.join([C, C], [5, 10]), ["boundaries"]),
        (lambda: lk.step_decay(5) >> C, [">>"]),
        (lambda: lk.cyclic(0.1, 1.0, 5) >> C, [">>"]),
        (lambda: lk.constant(0.5) >> C, [">>"]),
        (lambda: lk.warmup(lk.step_decay(5), 3) >> C, [">>"]),
        (lambda: lk.cosine_restarts(5) >> C, [">>"]),
        (lambda: C * -1.0, ["value", "-1.0"]),
        (lambda: C + (-0.5), ["value", "-0.5"]),
    ],
)
def test_combination_errors_say_what(build: Any, words: list[str]) -> None:
    with pytest.raises(ValueError) as info:
        build()
    for w in words:
        assert w in str(info.value), str(info.value)


def test_errors_are_the_same_through_parse_and_from_dict() -> None:
    for text, d, param, shown in [
        ("cosine(steps=-1)", {"type": "cosine", "steps": -1}, "steps", "-1"),
        ("step_decay(5, gamma=1.5)", {"type": "step_decay", "step_size": 5, "gamma": 1.5},
         "gamma", "1.5"),
        ('cyclic(0.1, 1.0, 5, mode="triangle")',
         {"type": "cyclic", "low": 0.1, "high": 1.0, "half_period": 5, "mode": "triangle"},
         "mode", "triangle"),
        ("plateau(factor=1.0)", {"type": "plateau", "factor": 1.0}, "factor", "1.0"),
    ]:
        for call, arg in ((lk.parse, text), (lk.from_dict, d)):
            with pytest.raises(ValueError) as info:
                call(arg)  # type: ignore[operator]
            assert param in str(info.value) and shown in str(info.value), str(info.value)


def test_nan_in_from_dict() -> None:
    with pytest.raises(ValueError, match="nan"):
        lk.from_dict({"type": "cosine", "steps": math.nan})
    with pytest.raises(ValueError):
        lk.parse("cosine(steps=nan)")


def test_stateful_schedule_cannot_be_called() -> None:
    for s in (
        lk.plateau(),
        lk.warmup(lk.plateau(), 10),
        lk.cosine(10) * lk.plateau(),
        lk.join([lk.cosine(10), lk.plateau()], [10]),
    ):
        assert s.has_state
        with pytest.raises(lk.StatefulScheduleError) as info:
            s(0)
        assert isinstance(info.value, ValueError)
        assert "plateau" in str(info.value)
    assert not lk.cosine(10).has_state


@pytest.mark.parametrize(
    ("call", "shown"),
    [
        (lambda: lk.cosine(10)("3"), "'3'"),
        (lambda: lk.cosine(10)(True), "True"),
        (lambda: lk.cosine(10)(None), "None"),
        (lambda: lk.cosine(10) * "a", "'a'"),
        (lambda: "a" + lk.cosine(10), "'a'"),
        (lambda: lk.cosine(10) >> [1.0], "[1.0]"),
    ],
)
def test_wrong_types_are_both_type_and_value_errors(call, shown: str) -> None:  # type: ignore[no-untyped-def]
    # Python's convention (TypeError) and lrkit's (every bad input is a ValueError) both hold
    with pytest.raises(TypeError) as info:
        call()
    assert isinstance(info.value, ValueError)
    assert shown in str(info.value)


@pytest.mark.parametrize("bad", ["x", None, True, [1.0, 2.0], np.array([1.0, 2.0]), {"loss": 1.0}])
def test_a_bad_metric_names_the_parameter(bad) -> None:  # type: ignore[no-untyped-def]
    stepper = lk.Stepper(lk.warmup(lk.plateau(patience=0), 3))
    if bad is None:  # step(None) means "no metric"; report(None) is an error
        stepper.step(None)
    with pytest.raises(ValueError, match=r"Stepper\.report: metric must be a real number"):
        stepper.report(bad)
    assert stepper.count == (1 if bad is None else 0)
    with pytest.raises(ValueError, match="metric"):  # checked without a plateau to feed too
        lk.Stepper(lk.cosine(10)).report(bad)


def test_metrics_of_every_kind_are_accepted() -> None:
    stepper = lk.Stepper(lk.plateau(patience=0, factor=0.5))
    for m in (1.0, 1, np.float32(1.0), np.array(1.0), np.array([1.0]), math.nan):
        stepper.step(m)
    # 1.0, then five reports that never improve on it: a reduction after each
    assert stepper.value() == 0.5**5
