"""Plans that change mid-run, framework-free: ``cooldown`` and ``splice`` against their formulas
(DESIGN.md) evaluated from the base schedules' own values, on Python numbers, numpy, torch
(compiled too) and jax (jit); ``Stepper.step(by=)`` and ``Stepper.replan``; and the resume rules
(quiet when the plan agrees up to the restored step, continued when replanned, reported
otherwise)."""

from __future__ import annotations

import logging
import math
import warnings

import numpy as np
import pytest
from _schedules import examples, named
from hypothesis import given, settings
from hypothesis import strategies as st

import lrkit as lk

FALL = {  # wsd's decay shapes g(x), written out from DESIGN.md
    "linear": lambda x: 1 - x,
    "cosine": lambda x: (1 + math.cos(math.pi * x)) / 2,
    "1-sqrt": lambda x: 1 - math.sqrt(x),
    "exp": lambda x: (0.5**x - 0.5) / 0.5,
}


def cooldown_formula(base: lk.Schedule, at: float, steps: float, end: float, shape: str,
                     t: float) -> float:
    if t < at:
        return base(float(t))
    if t >= at + steps:
        return end
    return end + (base(float(at)) - end) * FALL[shape]((t - at) / steps)


def splice_formula(old: lk.Schedule, new: lk.Schedule, at: float, ramp: float, t: float) -> float:
    if t < at:
        return old(float(t))
    if t >= at + ramp:
        return new(float(t))
    a, b = old(float(at)), new(float(at + ramp))
    return a + (b - a) * (t - at) / ramp


def close(got: float, want: float) -> bool:
    return abs(got - want) <= 1e-12 * max(abs(want), 1.0)


# --- the constructs --------------------------------------------------------------------------


def test_cooldown_from_a_wsd_stable_phase() -> None:
    """Hagele et al. 2024: constant + a 20% 1-sqrt cooldown, branched at 800 of 1000 steps."""
    base = lk.wsd(100, 10_000, 0)  # warmup then stable (no decay within reach)
    s = lk.cooldown(base, at=800, steps=200)
    assert str(s) == "cooldown(wsd(warmup=100, stable=10000, decay=0), at=800, steps=200)"
    assert s(50) == pytest.approx(0.5, rel=1e-15)
    assert s(799) == 1.0 and s(800) == 1.0
    assert s(850) == pytest.approx(1 - math.sqrt(0.25), rel=1e-12)
    assert s(1000) == 0.0 and s(10**9) == 0.0
    assert s.duration == 1000


@pytest.mark.parametrize("shape", sorted(FALL))
def test_cooldown_from_the_middle_of_a_cosine(shape: str) -> None:
    base = lk.cosine(1000, end=0.1)
    s = lk.cooldown(base, at=333, steps=77, end=0.01, shape=shape)
    for t in [0, 1, 332, 332.5, 333, 333.5, 350, 409, 409.9, 410, 411, 5000]:
        assert close(s(float(t)), cooldown_formula(base, 333, 77, 0.01, shape, t)), (t, shape)


def test_cooldown_of_zero_steps_drops_at_once() -> None:
    s = lk.cooldown(lk.constant(0.5), at=10, steps=0, end=0.05)
    assert [s(t) for t in (9.0, 9.99, 10.0, 11.0)] == [0.5, 0.5, 0.05, 0.05]


def test_splice_changes_plan_without_a_jump() -> None:
    """A cosine over 900 steps extended to 1900 at step 500, ramped over 100 steps."""
    old, new = lk.cosine(900), lk.cosine(1900)
    s = lk.splice(old, new, at=500, ramp=100)
    assert str(s) == "splice(cosine(steps=900), cosine(steps=1900), at=500, ramp=100)"
    assert s(499) == old(499) and s(500) == old(500)
    assert s(600) == new(600) and s(1234) == new(1234)
    assert close(s(550), (old(500) + new(600)) / 2)
    assert s.duration == 1900
    jump = lk.splice(old, new, at=500)
    assert jump(499) == old(499) and jump(500) == new(500)


@settings(max_examples=examples(40), deadline=None)
@given(old=named("cosine"), new=named("wsd"), at=st.integers(0, 400),
       ramp=st.one_of(st.just(0), st.integers(1, 200)), data=st.data())
def test_splice_matches_its_formula_everywhere(old: lk.Schedule, new: lk.Schedule, at: int,
                                               ramp: int, data: st.DataObject) -> None:
    s = lk.splice(old, new, at, ramp=ramp)
    ts = [0, at - 1, at - 0.5, at, at + 0.5, at + ramp - 1, at + ramp, at + ramp + 1, 10**7,
          *data.draw(st.lists(st.floats(0, 2000), max_size=8))]
    for t in ts:
        if t >= 0:
            assert close(s(float(t)), splice_formula(old, new, at, ramp, t)), t
    grid = np.array(sorted(t for t in ts if t >= 0), dtype=np.float64)  # sorted: the fast path
    want = [splice_formula(old, new, at, ramp, t) for t in grid]
    np.testing.assert_allclose(s(grid), want, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(s(grid[::-1].copy()), want[::-1], rtol=1e-12, atol=1e-15)


@settings(max_examples=examples(40), deadline=None)
@given(s=named("cooldown"))
def test_cooldown_matches_its_formula_on_every_array_path(s: lk.Cooldown) -> None:
    at, n = float(s.at), float(s.steps)
    ts = sorted({0.0, max(at - 1, 0), at, at + 0.5 * n, at + n, at + n + 1, 3 * at + 7})
    want = [cooldown_formula(s.schedule, at, n, s.end, s.shape, t) for t in ts]
    assert all(close(s(t), w) for t, w in zip(ts, want, strict=True))
    np.testing.assert_allclose(s(np.array(ts)), want, rtol=1e-12, atol=1e-15)


BRANCHES = [
    lk.cooldown(lk.wsd(10, 2000, 0), at=700, steps=211, shape="1-sqrt"),
    lk.cooldown(lk.cosine(1000, end=0.1), at=333, steps=77, end=0.01, shape="cosine"),
    lk.cooldown(lk.step_decay(100, gamma=0.5), at=450, steps=300, shape="exp"),
    lk.splice(lk.cosine(900), lk.warmup(lk.cosine(1700), 200), at=500, ramp=97),
    lk.splice(lk.constant(1.0), lk.step_decay(50, gamma=0.7), at=123),
]


@pytest.mark.parametrize("s", BRANCHES, ids=str)
def test_exact_at_the_branch_in_float32_under_jit_and_torch_compile(s: lk.Schedule) -> None:
    """Integer steps in float32: the switch happens exactly at `at` (the branch's value there is
    the base's value at `at`, as a float32), and every step agrees with float64 to float32
    rounding."""
    steps = np.arange(0, 1200)
    want = np.array([s(int(k)) for k in steps])
    jax = pytest.importorskip("jax")
    import jax.numpy as jnp

    got = np.asarray(jax.jit(lambda x: s(x))(jnp.asarray(steps, dtype=jnp.float32)), np.float64)
    np.testing.assert_allclose(got, want, rtol=2e-5, atol=1e-6)
    torch = pytest.importorskip("torch")
    torch._dynamo.reset()
    f = torch.compile(lambda t: s(t), fullgraph=True)
    out = f(torch.tensor(steps, dtype=torch.float32)).double().numpy()
    np.testing.assert_allclose(out, want, rtol=2e-5, atol=1e-6)
    at = int(s.at)
    for t in (at - 1, at):  # exactly the branch's decision on each side
        assert float(np.float32(want[t])) == pytest.approx(float(got[t]), rel=1e-6)
        assert float(np.float32(want[t])) == pytest.approx(float(out[t]), rel=1e-6)


@pytest.mark.parametrize(
    ("make", "param", "value"),
    [
        (lambda x: lk.cooldown(lk.constant(), at=x, steps=10), "at", -1),
        (lambda x: lk.cooldown(lk.constant(), at=x, steps=10), "at", float("nan")),
        (lambda x: lk.cooldown(lk.constant(), at=5, steps=x), "steps", -3),
        (lambda x: lk.cooldown(lk.constant(), at=5, steps=10, end=x), "end", -0.1),
        (lambda x: lk.cooldown(lk.constant(), at=5, steps=10, shape=x), "shape", "sqrt"),
        (lambda x: lk.cooldown(x, at=5, steps=10), "schedule", 0.5),
        (lambda x: lk.cooldown(lk.constant(), at=1e20, steps=x), "steps", 1),
        (lambda x: lk.splice(lk.constant(), lk.constant(), at=x), "at", float("inf")),
        (lambda x: lk.splice(lk.constant(), lk.constant(), at=3, ramp=x), "ramp", -2),
        (lambda x: lk.splice(lk.constant(), lk.constant(), at=3, ramp=x), "ramp", True),
        (lambda x: lk.splice(x, lk.constant(), at=3), "old", "cosine(steps=3)"),
        (lambda x: lk.splice(lk.constant(), x, at=3), "new", None),
    ],
)
def test_bad_arguments_name_the_parameter(make: object, param: str, value: object) -> None:
    with pytest.raises(ValueError, match=rf"(cooldown|splice): {param} must be"):
        make(value)  # type: ignore[operator]


def test_spec_and_dict_round_trip() -> None:
    for s in BRANCHES:
        assert lk.parse(str(s)) == s and str(lk.parse(str(s))) == str(s)
        assert lk.from_dict(s.to_dict()) == s
    text = "cooldown(splice(cosine(steps=900), cosine(steps=1900), at=500, ramp=100), at=1500, "
    text += 'steps=400, end=0.01, shape="linear")'
    assert str(lk.parse(text)) == text


# --- the clock ---------------------------------------------------------------------------------


def test_stepper_clock_in_tokens_is_exact_far_past_2_32() -> None:
    """GPT-3-like: warmup 375M tokens, cosine to 10% over 260B, batches that grow."""
    s = lk.warmup(lk.cosine(260e9 - 375e6, end=0.1), 375e6)
    stepper = lk.Stepper(s)
    tokens = 0
    for step in range(2000):
        batch = 32_768 * (1 + step // 500) * 2048 // 32_768 * 2**14  # grows every 500 steps
        value = stepper.step(by=batch)
        tokens += batch
        assert stepper.count == tokens
        if tokens < 375e6:
            want = tokens / 375e6
        else:
            want = 0.1 + 0.9 * (1 + math.cos(math.pi * (tokens - 375e6) / (260e9 - 375e6))) / 2
        assert close(value, want)
    assert tokens > 2**32
    state = stepper.state_dict()
    assert state["count"] == tokens and isinstance(state["count"], int)
    again = lk.Stepper(s)
    again.load_state_dict(state)
    assert again.count == tokens and again.value() == stepper.value()


@pytest.mark.parametrize("bad", [-1, 1.5, 2.0, True, "3", None, 2**63])
def test_bad_by_is_a_value_error_and_changes_nothing(bad: object) -> None:
    stepper = lk.Stepper(lk.warmup(lk.plateau(patience=0), 3))
    stepper.step(0.5)
    before = stepper.state_dict()
    with pytest.raises(ValueError, match="by"):
        stepper.step(0.1, by=bad)  # type: ignore[arg-type]
    assert stepper.state_dict() == before  # the metric was not reported either


# --- replan and resume -------------------------------------------------------------------------


def test_stepper_replan_splices_and_resumes_exactly() -> None:
    old, new = lk.cosine(900), lk.cosine(1900)
    a = lk.Stepper(old)
    for _ in range(500):
        a.step()
    at_replan = a.value()
    assert a.replan(new, ramp=100) == at_replan  # no jump
    assert a.spec == "splice(cosine(steps=900), cosine(steps=1900), at=500, ramp=100)"
    for _ in range(30):
        a.step()
    state = a.state_dict()
    b = lk.Stepper(old)  # the resume code builds the original plan
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        b.load_state_dict(state)
    for _ in range(200):
        va, vb = a.step(), b.step()
        assert va == vb
        assert close(vb, splice_formula(old, new, 500, 100, b.count))


def _resume(saved: lk.Schedule, now: lk.Schedule, at: int,
            caplog: pytest.LogCaptureFixture) -> tuple[lk.Stepper, list[warnings.WarningMessage]]:
    a = lk.Stepper(saved)
    for _ in range(at):
        a.step()
    b = lk.Stepper(now)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with caplog.at_level(logging.INFO, logger="lrkit"):
            b.load_state_dict(a.state_dict())
    return b, caught


def test_a_branch_at_or_after_the_restored_step_resumes_quietly(
        caplog: pytest.LogCaptureFixture) -> None:
    base = lk.wsd(10, 5000, 0)
    for now in (lk.cooldown(base, at=300, steps=100), lk.cooldown(base, at=450, steps=100),
                lk.splice(base, lk.cosine(2000), at=300, ramp=50),
                lk.cooldown(lk.splice(base, lk.constant(0.5), at=310), at=900, steps=10)):
        caplog.clear()
        b, caught = _resume(base, now, 300, caplog)
        assert not caught and not caplog.records, now
        assert b.schedule == now and b.value() == now(300.0)


def test_a_changed_plan_is_reported_with_rates_and_fix(caplog: pytest.LogCaptureFixture) -> None:
    old, new = lk.cosine(900), lk.cosine(1900)
    b, caught = _resume(old, new, 500, caplog)
    (w,) = [c for c in caught if issubclass(c.category, lk.SpecMismatchWarning)]
    text = str(w.message)
    assert f"{old(500.0):.6g}" in text and f"{new(500.0):.6g}" in text
    assert "splice(cosine(steps=900), cosine(steps=1900), at=500, ramp=R)" in text
    (record,) = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert record.getMessage() == text  # the logger says the same (trainers swallow warnings)
    assert b.schedule == new and b.value() == new(500.0)  # the built plan is followed
    # a branch that starts before the restored step also changes the past: reported
    _, caught = _resume(old, lk.cooldown(old, at=400, steps=50), 500, caplog)
    assert any(issubclass(c.category, lk.SpecMismatchWarning) for c in caught)


def test_tampered_stepper_states_change_nothing() -> None:
    stepper = lk.Stepper(lk.warmup(lk.plateau(), 5))
    for m in (1.0, 0.9, 0.95):
        stepper.step(m)
    before = stepper.state_dict()
    good = dict(before)
    bads = [
        {**good, "count": 2.9}, {**good, "count": -1}, {**good, "count": 10**309},
        {**good, "count": True}, {**good, "spec": 3}, {**good, "plateaus": "x"},
        {**good, "plateaus": [{"best": 1.0}]}, {**good, "calls": -2},
        {**good, "format_version": 99},
    ]
    for bad in bads:
        with pytest.raises(ValueError):
            stepper.load_state_dict(bad)
        assert stepper.state_dict() == before, bad
