"""The informed range test (lrkit.informed) on sessions whose answer is known in closed form."""

from __future__ import annotations

import logging
import math
import statistics
import warnings

import pytest

from lrkit import informed
from lrkit.informed import extrapolate, make_plan, paired_noise, vertex
from lrkit.rangetest import run


class PowerLawSession:
    """A session whose validation loss after a trial of ``h`` steps at peak ``p`` is
    ``1 + (log10 p - log10 p*(h)) ** 2`` with ``p*(h) = 0.01 * (h / 100) ** b``: the optimal
    peak of a run of ``h`` steps is known exactly. Its training loss depends only on the current
    rate: 2 below 1e-6, falling to 1 at 1e-3, flat to 0.3, rising steeply above (the sweep's
    ceiling is just above 0.3)."""

    def __init__(self, b: float, batches: int = 4) -> None:
        self.b = b
        self.batches = batches
        self.steps = 0
        self.peak = 0.0
        self.total = 0

    def optimum(self, h: float) -> float:
        return 0.01 * (h / 100.0) ** self.b

    def restart(self) -> None:
        self.steps = 0
        self.peak = 0.0

    def step(self, lr: float) -> float:
        self.steps += 1
        self.total += 1
        self.peak = max(self.peak, lr)
        if lr <= 0.0:
            return 2.0
        x = math.log10(lr)
        if x > math.log10(0.3):
            return 1.0 + 20.0 * (x - math.log10(0.3))
        return 2.0 - min(1.0, max(0.0, (x + 6.0) / 3.0))

    def validate(self) -> list[tuple[float, float]]:
        d = math.log10(self.peak) - math.log10(self.optimum(self.steps))
        # the same loss on every batch, plus a batch-dependent offset that cancels in pairs
        return [(1.0 + d * d + 0.01 * i, 1.0) for i in range(self.batches)]


def informed_run(session: PowerLawSession, total: int, budget: int | None = None,
                 schedule: object = None) -> object:
    plan = make_plan("find_lr", total, schedule, budget, True, 100)
    return run(session, start=1e-7, end=10.0, steps=100, smooth=0.98, diverge=4.0, trials=3,
               trial_steps=64, progress=False, plan=plan, validate=True)


@pytest.mark.parametrize("b", [-1.0, -0.5, 0.0])
def test_the_suggestion_is_the_known_optimum_of_the_full_run(b: float) -> None:
    session = PowerLawSession(b)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # bracketed on both rungs: no weak-evidence warning
        result = informed_run(session, 1600)
    # (rel 1e-4: the squeezed schedule need not sample its maximum exactly, so the session's
    # highest rate is a hair below the trial's peak)
    assert result.suggestion == pytest.approx(session.optimum(1600), rel=1e-4)  # type: ignore[attr-defined]
    assert result.slope == pytest.approx(b, abs=1e-4)  # type: ignore[attr-defined]
    assert result.steps_used <= result.budget == 2400  # type: ignore[attr-defined]
    assert session.total == result.steps_used  # type: ignore[attr-defined]
    h1, h2 = result.horizons  # type: ignore[attr-defined]
    assert (h1, h2) == (153, 306)  # (2400 - 100) // 15
    for (h, v) in result.optima:  # type: ignore[attr-defined]
        assert v == pytest.approx(session.optimum(h), rel=1e-4)


def test_an_optimum_beyond_the_candidates_is_reported(caplog: pytest.LogCaptureFixture) -> None:
    session = PowerLawSession(1.0)  # rung 2's optimum lies past its extension; b > 0
    with caplog.at_level(logging.WARNING, logger="lrkit.rangetest"), \
            pytest.warns(UserWarning, match="weak evidence.*highest one tried"):
        result = informed_run(session, 1600)
    assert any("weak evidence" in r.getMessage() for r in caplog.records)
    assert result.notes  # type: ignore[attr-defined]
    # a measured b > 0 is not extrapolated: the longer run gets rung 2's optimum
    assert result.slope == 0.0  # type: ignore[attr-defined]
    assert result.suggestion == result.optima[-1][1]  # type: ignore[attr-defined]


def test_neighbours_within_noise_are_reported() -> None:
    class Flat(PowerLawSession):
        def validate(self) -> list[tuple[float, float]]:  # every peak the same, up to noise
            return [(1.0 + 0.05 * math.sin(1e3 * self.peak + 2.0 * i), 1.0)
                    for i in range(self.batches)]

    with pytest.warns(UserWarning, match="within noise"):
        informed_run(Flat(0.0), 1600)


def test_the_budget_caps_the_steps() -> None:
    session = PowerLawSession(-0.5)
    result = informed_run(session, 1600, budget=900)
    assert result.steps_used <= 900  # type: ignore[attr-defined]
    assert session.total == result.steps_used  # type: ignore[attr-defined]
    assert result.horizons == ((900 - 100) // 15, 2 * ((900 - 100) // 15))  # type: ignore[attr-defined]


def test_trials_run_the_planned_schedule_squeezed_into_their_horizon() -> None:
    import lrkit as lk

    total = 1600
    shape = lk.wsd(80, 720, 800)
    session = PowerLawSession(-0.5)
    result = informed_run(session, total, schedule=shape)
    for trial in result.trials:  # type: ignore[attr-defined]
        h = trial.horizon
        expected = [trial.peak * float(shape(i * total / h)) for i in range(h)]
        assert trial.lrs == pytest.approx(expected, rel=1e-12, abs=0.0)


def test_vertex_is_the_minimum_of_a_parabola() -> None:
    centre = 0.0123
    factor = 10.0**0.25
    best = 0.01
    scores = {best * factor**k: 3.0 + (math.log10(best * factor**k / centre)) ** 2
              for k in (-1, 0, 1)}
    assert vertex(scores, best, factor) == pytest.approx(centre, rel=1e-9)
    # a missing or infinite neighbour: no refinement
    assert vertex({best: 1.0, best * factor: 2.0}, best, factor) == best
    assert vertex({best / factor: math.inf, best: 1.0, best * factor: 2.0}, best, factor) == best


def test_extrapolate_is_the_power_law_through_the_last_two_optima() -> None:
    v, b = extrapolate([(100, 0.02), (400, 0.01)], 1600)
    assert b == pytest.approx(-0.5)
    assert v == pytest.approx(0.005)
    v, b = extrapolate([(100, 1.0), (400, 1e-3)], 1600)  # a slope past the bounds is kept in them
    assert b == informed.SLOPE_RANGE[0]
    assert v == pytest.approx(1e-3 * 4.0 ** informed.SLOPE_RANGE[0])
    v, b = extrapolate([(100, 0.01), (400, 0.02)], 1600)
    assert (v, b) == (0.02, informed.SLOPE_RANGE[1])
    v, b = extrapolate([(400, 0.01)], 1600)
    assert (v, b) == (pytest.approx(0.01 * 4.0**informed.HORIZON_EXPONENT),
                      informed.HORIZON_EXPONENT)


def test_paired_noise_is_the_standard_error_of_the_differences() -> None:
    a = [1.0, 2.5, 3.0, 4.25]
    b = [0.5, 2.0, 3.5, 3.0]
    d = [x - y for x, y in zip(a, b, strict=True)]
    mean, se = paired_noise(a, b)
    assert mean == pytest.approx(statistics.fmean(d), rel=1e-12)
    assert se == pytest.approx(statistics.stdev(d) / math.sqrt(len(d)), rel=1e-12)
    assert paired_noise([1.0], [0.5])[1] == math.inf


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [({"total_steps": 50}, "total_steps"), ({"total_steps": 1000.0}, "total_steps"),
     ({"total_steps": True}, "total_steps"), ({"schedule": lambda t: 1.0}, "schedule"),
     ({"budget": 1000}, "budget"), ({"total_steps": 1000, "budget": 200}, "budget"),
     ({"total_steps": 1000, "budget": 2000.0}, "budget"),
     ({"total_steps": 1000, "schedule": 3.0}, "schedule"),
     ({"total_steps": 1000, "schedule": lambda t: -1.0}, "schedule"),
     ({"total_steps": 1000, "schedule": lambda t: math.nan}, "schedule"),
     ({"total_steps": 1000, "schedule": lambda t: 0.0}, "schedule")],
)
def test_bad_keywords_name_the_parameter(kwargs: dict[str, object], name: str) -> None:
    args = {"total_steps": None, "schedule": None, "budget": None, **kwargs}
    with pytest.raises(ValueError, match=name):
        make_plan("find_lr", args["total_steps"], args["schedule"], args["budget"], True, 100)


def test_the_default_budget_and_shape() -> None:
    import lrkit as lk

    plan = make_plan("find_lr", 1000, None, None, False, 100)
    assert plan is not None
    assert plan.budget == math.ceil(informed.BUDGET_FRACTION * 1000)
    reference = lk.warmup(lk.cosine(950), 50)
    assert [plan.shape(t) for t in range(0, 1000, 7)] == pytest.approx(
        [0.5 * (1 + math.cos(math.pi * (t - 50) / 950)) if t >= 50 else t / 50
         for t in range(0, 1000, 7)], rel=1e-12, abs=1e-15)
    assert [plan.shape(t) for t in range(0, 1000, 7)] == [reference(t) for t in range(0, 1000, 7)]
