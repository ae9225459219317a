"""Fuzzing every input surface: the property is "a result that is finite and >= 0, or a
ValueError, and nothing changed".

- every registered constructor with edge parameters (0, tiny, huge, 1e308, NaN, inf, negative,
  wrong types), evaluated at edge steps (0, tiny, 2**53, 1e300, the largest float) on Python
  floats, numpy (sorted, unsorted, blocked), torch (float32 and float64) and jax;
- ``parse`` and ``from_dict`` on tampered dicts (non-string keys, wrong types, huge, NaN and
  inf numbers, nesting) and mutated spec strings;
- metrics (through ``Stepper.report``, which validates them before anything changes);
- array dtypes (strings, bools, complex, dates, objects: refused, naming ``t``);
- ``PlateauState.from_dict`` on tampered states.

Tampered ``LRScheduler``/``Stepper`` states and ``hyperparams`` are fuzzed with the scheduler's
own tests. The CLI is fuzzed in tests/test_fuzz_cli.py.
"""

from __future__ import annotations

import dataclasses
import json
import math
import sys
import warnings
from typing import Any

import numpy as np
import pytest
from _schedules import examples, trees
from hypothesis import given, settings
from hypothesis import strategies as st

import lrkit as lk
from lrkit.schedules._registry import REGISTRY

FUZZ = settings(max_examples=examples(40), deadline=None)

PLAUSIBLE: list[Any] = [
    0, 0.0, 5e-324, 1e-300, 1e-30, 1e-16, 1e-3, 0.25, 0.5, 0.999, 1, 1.0, 1.5, 2, 3.0, 10, 100,
    1e4, 2**31, 2.0**53, 1e15, 1e30, 3.4e38, 1e300, sys.float_info.max,
]
"""Edge values that many parameters accept."""
JUNK: list[Any] = [
    1e39, -1, -0.5, -1e-300, float("nan"), float("inf"), float("-inf"), 10**400, True, False,
    None, "1", [1], {}, 1j,
]
"""Values every numeric parameter refuses (1e39: above float32's largest, as a rate)."""
EDGE_NUMBERS = PLAUSIBLE + JUNK
EDGE_STEPS = [0.0, 5e-324, 1e-16, 0.5, 1.0, 2.0, 3.0, 99.5, 100.0, 1e4, 2.0**31, 2.0**53 + 2,
              1e18, 1e30, 1e300, sys.float_info.max]
CHOICES = {
    "shape": ["linear", "exponential", "cosine", "log", "1-sqrt", "x"],
    "warmup_shape": ["linear", "cosine", "1-sqrt", "exp"],
    "decay_shape": ["linear", "cosine", "1-sqrt", "exp", "log"],
    "mode": ["min", "max", "triangular", "triangular2", "exp_range", "x"],
    "threshold_mode": ["rel", "abs", "x"],
    "anneal": ["cos", "linear", "x"],
}
FLAGS = ("staircase", "three_phase")
LISTS = ("milestones", "boundaries")

simple = st.sampled_from([
    lk.constant(0.5), lk.cosine(100), lk.linear(0.0, 1.0, 10), lk.step_decay(3, 0.5),
    lk.exponential(0.9), lk.cyclic(0.1, 1.0, 5), lk.cosine_restarts(7, period_mult=2),
    lk.wsd(10, 20, 30), lk.one_cycle(100), lk.constant(3.0e38), lk.exponential(1.5, end=1e38),
])
numbers = st.one_of(st.sampled_from(PLAUSIBLE), st.sampled_from(PLAUSIBLE),
                    st.sampled_from(PLAUSIBLE), st.sampled_from(JUNK))
"""Mostly plausible edge values (so that constructions get through to evaluation), some junk."""


@st.composite
def _value(draw: Any, f: dataclasses.Field[Any]) -> Any:
    kind = f.metadata.get("kind")
    if kind == "schedule":
        return draw(st.one_of(simple, numbers))
    if kind == "schedules":
        return draw(st.one_of(st.lists(simple, min_size=1, max_size=3), numbers))
    if f.name in CHOICES:
        return draw(st.one_of(st.sampled_from(CHOICES[f.name]), numbers))
    if f.name in FLAGS:
        return draw(st.one_of(st.booleans(), numbers))
    if f.name in LISTS:
        return draw(st.one_of(st.lists(numbers, max_size=3).map(sorted_if_possible), numbers))
    return draw(numbers)


def sorted_if_possible(xs: list[Any]) -> list[Any]:
    try:
        return sorted(xs)
    except TypeError:
        return xs


@st.composite
def constructions(draw: Any) -> tuple[type[lk.Schedule], dict[str, Any]]:
    cls = draw(st.sampled_from(sorted(REGISTRY.values(), key=lambda c: c.name)))
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        required = f.default is dataclasses.MISSING
        if required or draw(st.booleans()):
            kwargs[f.name] = draw(_value(f))
    return cls, kwargs


def _check_value(s: lk.Schedule, v: Any, where: str) -> None:
    arr = np.asarray(v, dtype=np.float64)
    assert np.isfinite(arr).all(), f"{s} at {where}: not finite {arr.ravel()[:5]}"
    assert (arr >= 0).all(), f"{s} at {where}: negative {arr.ravel()[:5]}"


def _evaluate_everywhere(s: lk.Schedule) -> None:
    """Every edge step, in the Python and numpy paths (sorted, unsorted, blocked)."""
    if s.has_state:
        stepper = lk.Stepper(s)
        _check_value(s, stepper.value(), "a fresh Stepper")
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # numpy's overflow notes: values count
        for t in EDGE_STEPS:
            _check_value(s, s(t), repr(t))
        ts = np.array(EDGE_STEPS)
        _check_value(s, s(ts), "sorted edge steps")
        _check_value(s, s(ts[::-1].copy()), "reversed edge steps")
        long = np.sort(np.concatenate([np.linspace(0, 1e3, 20_000), ts]))
        _check_value(s, s(long), "a long sorted input (blocked)")
        for b in s.breakpoints():
            _check_value(s, s(float(b)), f"breakpoint {b!r}")


@FUZZ
@given(constructions())
def test_every_constructor_gives_a_valid_schedule_or_a_value_error(
    case: tuple[type[lk.Schedule], dict[str, Any]],
) -> None:
    cls, kwargs = case
    try:
        s = cls(**kwargs)
    except ValueError as exc:
        assert str(exc), cls.name
        return
    _evaluate_everywhere(s)
    # its text and dict forms rebuild it, or refuse it as a whole (never another exception)
    assert lk.parse(str(s)) == s
    assert lk.from_dict(json.loads(json.dumps(s.to_dict()))) == s


@FUZZ
@given(st.lists(constructions(), min_size=2, max_size=4), st.sampled_from(["*", "+", ">>"]))
def test_compositions_of_edge_schedules(cases: list[Any], op: str) -> None:
    built = []
    for cls, kwargs in cases:
        try:
            built.append(cls(**kwargs))
        except ValueError:
            continue
    if len(built) < 2:
        return
    s = built[0]
    for other in built[1:]:
        try:
            s = s * other if op == "*" else s + other if op == "+" else s >> other
        except ValueError:
            return
    _evaluate_everywhere(s)


@pytest.mark.parametrize("family", ["torch32", "torch64", "jax"])
@settings(max_examples=15, deadline=None)
@given(s=trees(max_leaves=4))
def test_array_families_finite_at_edge_steps(family: str, s: lk.Schedule) -> None:
    _array_families_finite(family, s)


@pytest.mark.parametrize("family", ["torch32", "torch64", "jax"])
def test_array_families_finite_on_extreme_schedules(family: str) -> None:
    for s in EXTREME:
        _array_families_finite(family, s)


EXTREME = [
    lk.warmup(lk.constant(0.5), 10, start=5e-324, shape="exponential"),
    lk.warmup(lk.constant(3e38), 10, start=1e-300, shape="exponential"),
    lk.shift(lk.cyclic(0.1, 1, 3), 1e30), lk.staircase(lk.cosine(100), 1e-30),
    lk.cosine_restarts(1e-30, period_mult=2), lk.cyclic(0.1, 1.0, 1e-30),
    lk.exponential(1.5, start=1e-3, end=1e30), lk.wsd(1e30, 1e30, 10),
    lk.warmup(lk.cosine(steps=100), steps=1e-16, shape="log"),
]


def _array_families_finite(family: str, s: lk.Schedule) -> None:
    """torch and jax are not checked at run time (that would break tracing): every value at a
    valid step must still be finite and >= 0. float32 steps stop at float32's largest."""
    if family.startswith("torch"):
        torch = pytest.importorskip("torch")
        dtype = torch.float32 if family == "torch32" else torch.float64
        top = torch.finfo(dtype).max
        t = torch.tensor([x for x in EDGE_STEPS if x <= top], dtype=dtype)
        out = s(t).detach().cpu().double().numpy()
    else:
        jnp = pytest.importorskip("jax.numpy")
        t = jnp.asarray([x for x in EDGE_STEPS if x <= 3.4e38], dtype=jnp.float32)
        out = np.asarray(s(t), dtype=np.float64)
    _check_value(s, out, family)


def test_the_issue_cases() -> None:
    with pytest.raises(ValueError, match=r"exponential: end must be a ceiling .* gamma > 1"):
        lk.exponential(2.0) * lk.cosine(steps=100)
    assert lk.exponential(2.0, end=1e6) * lk.cosine(steps=100) == lk.parse(
        "exponential(2.0, end=1000000.0) * cosine(steps=100)")
    assert (lk.exponential(2.0, end=1e6) * lk.cosine(steps=100))(2000) == 0.0
    w = lk.warmup(lk.cosine(steps=100), steps=1e-16, shape="log")
    assert [w(t) for t in (0.0, 5e-17, 1e-16, 1.0)] == [0.0, 0.0, 1.0, w.schedule(1.0 - 1e-16)]
    for s in (lk.staircase(lk.cosine(100), 1e-300), lk.shift(lk.cyclic(0.1, 1, 3), 1e308),
              lk.wsd(1e308, 1e308, 10), lk.cyclic(0.1, 1.0, 1e-300),
              lk.cosine_restarts(1e-300, period_mult=2), lk.inverse_time(1e-300, rate=0.0),
              lk.cosine_restarts(5e-324, period_mult=1e39),
              lk.warmup(lk.constant(0.5), 10, start=5e-324, shape="exponential"),
              lk.warmup(lk.constant(3e38), 10, start=1e-300, shape="exponential")):
        _evaluate_everywhere(s)
        for t in (1e300, 1e308, sys.float_info.max):
            v = s(t)
            assert math.isfinite(v) and v >= 0, (s, t, v)
    with pytest.raises(ValueError, match=r"mul: .* can reach .* beyond the largest rate"):
        lk.constant(1e30) * lk.constant(1e30)
    with pytest.raises(ValueError, match=r"add: .* beyond the largest rate"):
        lk.constant(3e38) + lk.linear(0.0, 3e38, 10)
    with pytest.raises(ValueError, match="constant: value must be a finite number from 0 to"):
        lk.constant(1e39)


# --- parse and from_dict ---------------------------------------------------------------------

junk = st.recursive(
    st.one_of(numbers, st.text(max_size=5), st.sampled_from(list(REGISTRY))),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.one_of(st.text(max_size=8), st.sampled_from(
            ["type", "steps", "schedule", "schedules", "boundaries", "start", "end", "gamma"]),
            numbers.filter(lambda x: type(x) is int or (type(x) is float and x == x))),
            inner, max_size=4),
    ),
    max_leaves=8,
)


@st.composite
def tampered_dicts(draw: Any) -> Any:
    base = draw(trees(max_leaves=3, stateful=True)).to_dict()
    node = base
    for _ in range(draw(st.integers(0, 3))):  # walk down to a nested schedule dict
        subs = [v for v in node.values() if isinstance(v, dict)]
        subs += [x for v in node.values() if isinstance(v, list) for x in v if isinstance(x, dict)]
        if not subs:
            break
        node = draw(st.sampled_from(subs))
    keys = list(node)
    action = draw(st.sampled_from(["set", "add", "delete", "retype"]))
    if action == "set" and keys:
        node[draw(st.sampled_from(keys))] = draw(junk)
    elif action == "add":
        node[draw(st.one_of(st.text(max_size=6), st.integers(), st.just((1, 2)),
                            st.just(None), st.just(1.5)))] = draw(junk)
    elif action == "delete" and keys:
        del node[draw(st.sampled_from(keys))]
    else:
        node["type"] = draw(st.one_of(st.sampled_from(list(REGISTRY)), junk))
    return base


@FUZZ
@given(tampered_dicts())
def test_from_dict_on_tampered_dicts(d: Any) -> None:
    before = repr(d)
    try:
        s = lk.from_dict(d)
    except ValueError as exc:
        assert str(exc)
    else:
        _evaluate_everywhere(s)
    assert repr(d) == before  # the input is untouched


@FUZZ
@given(junk)
def test_from_dict_and_keras_config_on_junk(d: Any) -> None:
    from lrkit._keras_common import as_schedule, schedule_from_config
    from lrkit.specfile import schedule_from_data

    for call in (lk.from_dict, as_schedule, schedule_from_data,
                 lambda x: as_schedule(schedule_from_config(x))):
        try:
            s = call(d)
        except ValueError:
            continue
        _evaluate_everywhere(s)


spec_pieces = st.sampled_from([
    "cosine(", "steps=", "100", "-5", "1e308", "1e999", ")", ",", " * ", " + ", " >> ", "[",
    "]", "warmup(", "exponential(2.0", "end=", "nan", "inf", "'x'", "os.", "__import__",
    "join([constant(1), cosine(3)], boundaries=[", "0", "10**400", "True", "None",
    "staircase(", "shift(", "every=", "1e-300", "wsd(1e308, 1e308, 5", "cyclic(0, 1, ",
])


@FUZZ
@given(st.lists(spec_pieces, min_size=1, max_size=12).map("".join))
def test_parse_on_spliced_specs(text: str) -> None:
    try:
        s = lk.parse(text)
    except lk.SpecError as exc:
        assert str(exc)
        return
    _evaluate_everywhere(s)


def test_keras_from_config_with_a_non_string_key() -> None:
    from lrkit._keras_common import as_schedule, schedule_from_config

    with pytest.raises(ValueError, match=r"has the key 1 .int.; keys must be strings"):
        as_schedule(schedule_from_config({"schedule": {"type": "cosine", "steps": 5, 1: 2}}))


def test_yaml_spec_file_with_a_non_string_key(tmp_path: Any) -> None:
    pytest.importorskip("yaml")
    from lrkit.specfile import read_spec_file

    p = tmp_path / "s.yaml"
    p.write_text("type: cosine\nsteps: 10\n1: 2\n")
    with pytest.raises(ValueError, match=r"has the key 1 .int.; keys must be strings"):
        read_spec_file(p)


# --- metrics ---------------------------------------------------------------------------------

metrics = st.one_of(
    st.sampled_from([10**400, -(10**400), True, False, None, "1.0", b"1", 1j, [1.0], [],
                     float("nan"), float("inf"), 0.5, 3, np.float64(2.0), np.array([1.0]),
                     np.array([1.0, 2.0]), np.array(1 + 2j), np.array("x"), np.bool_(True)]),
    st.floats(), st.integers(),
)


@FUZZ
@given(st.lists(metrics, min_size=1, max_size=6))
def test_metrics_are_a_float_or_a_value_error_and_nothing_changes(ms: list[Any]) -> None:
    s = lk.warmup(lk.plateau(factor=0.5, patience=1), steps=2)
    stepper = lk.Stepper(s)
    stepper.step()
    stepper.step()
    stepper.step()
    for m in ms:
        before = stepper.state_dict()
        value = stepper.value()
        try:
            stepper.report(m)
        except ValueError as exc:
            assert "metric" in str(exc), str(exc)
            assert stepper.state_dict() == before  # refused before anything changed
            assert stepper.value() == value
            continue
        v = stepper.value()
        assert math.isfinite(v) and v >= 0


def test_metric_beyond_float_range() -> None:
    stepper = lk.Stepper(lk.plateau())
    with pytest.raises(ValueError, match=r"metric must be a real number within float range"):
        stepper.report(10**400)
    for bad in (True, 1j, "1", np.array([1.0, 2.0]), np.array("x"), np.bool_(True)):
        with pytest.raises(ValueError, match="metric must be"):
            stepper.report(bad)
    stepper.report(float("nan"))  # documented: NaN counts as no improvement (torch's rule)


# --- array dtypes ----------------------------------------------------------------------------

BAD_ARRAYS = [
    np.array(["1", "2"]), np.array([b"1"]), np.array([True, False]), np.array([1 + 1j]),
    np.array(["2020-01-01"], dtype="datetime64[D]"), np.array([1], dtype="timedelta64[s]"),
    np.array([1, 2], dtype=object), np.array([1, "a"], dtype=object), np.bool_(True),
    np.str_("1"), np.complex128(1.0), np.zeros(3, dtype=[("a", "f8")]),
    np.array(["1"] * 20_000),  # long enough for the blocked path
]


@pytest.mark.parametrize("t", BAD_ARRAYS, ids=lambda a: str(getattr(a, "dtype", type(a))))
def test_non_numeric_numpy_steps_are_refused_naming_t_and_the_dtype(t: Any) -> None:
    with pytest.raises(ValueError, match=r"^t: .* of dtype "):
        lk.cosine(10)(t)


def test_non_numeric_torch_and_jax_steps_are_refused() -> None:
    torch = pytest.importorskip("torch")
    for t in (torch.tensor([True]), torch.tensor([1 + 1j])):
        with pytest.raises(ValueError, match=r"^t: .* torch tensor of dtype"):
            lk.cosine(10)(t)
    jnp = pytest.importorskip("jax.numpy")
    for t in (jnp.asarray([True]), jnp.asarray([1 + 1j])):
        with pytest.raises(ValueError, match=r"^t: .* jax array of dtype"):
            lk.cosine(10)(t)


@pytest.mark.parametrize("dtype", ["int8", "uint16", "int64", "uint64", "float16", "float32"])
def test_numeric_numpy_dtypes_still_work(dtype: str) -> None:
    t = np.arange(5).astype(dtype)
    np.testing.assert_allclose(lk.linear(0.0, 1.0, 4)(t), [0.0, 0.25, 0.5, 0.75, 1.0])


# --- plateau states --------------------------------------------------------------------------

state_values = st.one_of(numbers, st.integers(-3, 3), st.floats(), st.integers(2**53 - 1,
                                                                               2**60))


@FUZZ
@given(st.dictionaries(st.sampled_from(["best", "num_bad_epochs", "cooldown_counter",
                                        "reductions", "extra"]), state_values, max_size=5))
def test_plateau_state_from_dict(d: dict[str, Any]) -> None:
    p = lk.plateau(factor=0.5, patience=3, cooldown=2)
    for plateau in (None, p):
        try:
            state = lk.PlateauState.from_dict(d, plateau)
        except ValueError as exc:
            assert str(exc)
            continue
        assert not math.isnan(state.best)
        for k in ("num_bad_epochs", "cooldown_counter", "reductions"):
            n = getattr(state, k)
            assert type(n) is int and 0 <= n <= 2**53 and n == d[k]
        v = p.value_after(state.reductions)
        assert math.isfinite(v) and 0 <= v <= p.start


@pytest.mark.parametrize(("key", "value", "reason"), [
    ("reductions", -1, "reductions must be an integer from 0 to 2**53"),
    ("reductions", 2.9, "reductions must be an integer from 0 to 2**53"),
    ("reductions", 10**309, "reductions must be an integer"),
    ("reductions", True, "reductions must be an integer"),
    ("num_bad_epochs", float("inf"), "num_bad_epochs must be an integer"),
    ("cooldown_counter", "1", "cooldown_counter must be an integer"),
    ("best", float("nan"), "best must be a real number (NaN would stop"),
    ("best", "0.1", "best must be a real number"),
    ("best", 10**400, "best must be a real number within float range"),
])
def test_plateau_state_refusals_name_the_key(key: str, value: Any, reason: str) -> None:
    d = {"best": 0.5, "num_bad_epochs": 0, "cooldown_counter": 0, "reductions": 1, key: value}
    with pytest.raises(ValueError) as info:
        lk.PlateauState.from_dict(d)
    assert reason in str(info.value)


def test_plateau_state_checked_against_its_plateau() -> None:
    p = lk.plateau(patience=3, cooldown=2)
    ok = {"best": float("inf"), "num_bad_epochs": 3, "cooldown_counter": 2, "reductions": 5}
    assert lk.PlateauState.from_dict(ok, p).reductions == 5
    for key, value, reason in (("num_bad_epochs", 4, "patience = 3"),
                               ("cooldown_counter", 3, "cooldown = 2"),
                               ("best", float("-inf"), "a fresh state in mode 'min'")):
        with pytest.raises(ValueError, match=reason):
            lk.PlateauState.from_dict({**ok, key: value}, p)
