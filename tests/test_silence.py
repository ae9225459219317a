"""A plateau that never hears a metric says so, once (lrkit.NoMetricWarning), and never when
metrics arrive, however far apart, once they have started (lrkit._silence)."""

from __future__ import annotations

import warnings

import pytest

import lrkit as lk
from lrkit._silence import QUIET_STEPS


def _run(stepper: lk.Stepper, steps: int, every: int | None) -> list[warnings.WarningMessage]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for k in range(steps):
            if every is not None and k % every == every - 1:
                stepper.report(1.0)
            stepper.step()
    return [w for w in caught if issubclass(w.category, lk.NoMetricWarning)]


def test_a_plateau_that_never_hears_a_metric_warns_once() -> None:
    caught = _run(lk.Stepper(lk.warmup(lk.plateau(), 100)), 10 * QUIET_STEPS, None)
    assert len(caught) == 1
    text = str(caught[0].message)
    assert "plateau()" in text and f"{QUIET_STEPS} steps since the start" in text
    for fix in ("sched.step(val_loss)", "lrkit.transformers.ReportMetric", "lrkit.lightning"):
        assert fix in text


@pytest.mark.parametrize("every", [1, 7, 100, QUIET_STEPS - 1])
def test_no_alarm_when_metrics_arrive(every: int) -> None:
    assert _run(lk.Stepper(lk.plateau()), 10 * QUIET_STEPS, every) == []


def test_long_epochs_after_the_first_report_are_fine() -> None:
    """Reports 5000 steps apart: quiet stretches are measured against the longest gap seen."""
    s = lk.Stepper(lk.plateau(), steps_per_epoch=5000)
    assert _run(s, 30_000, 5000) == []


def test_metrics_that_stop_arriving_are_noticed() -> None:
    s = lk.Stepper(lk.plateau())
    assert _run(s, 1000, 10) == []
    caught = _run(s, 10 * QUIET_STEPS, None)
    assert len(caught) == 1 and "since the last report at step 999" in str(caught[0].message)


def test_no_plateau_no_watch() -> None:
    assert _run(lk.Stepper(lk.cosine(10)), 5 * QUIET_STEPS, None) == []


def test_a_resumed_run_counts_from_the_checkpoint() -> None:
    s = lk.Stepper(lk.plateau())
    _run(s, 500, 50)
    t = lk.Stepper(lk.plateau())
    t.load_state_dict(s.state_dict())
    assert _run(t, QUIET_STEPS - 1, None) == []


def test_an_expected_interval_is_waited_for_twice() -> None:
    """A trainer callback's ``expect(every)``: the quiet stretch is at least ``2 * every``,
    counted from the last report; a shorter interval than the rule's changes nothing."""
    from lrkit._silence import MetricWatch

    watch = MetricWatch("x", "plateau()", True, None)
    watch.expect(QUIET_STEPS)
    assert watch.due == 2 * QUIET_STEPS
    watch.reported(100)
    assert watch.due == 100 + max(4 * 100, 2 * QUIET_STEPS)
    watch.expect(10)  # shorter than what it waits already
    assert watch.due == 100 + max(4 * 100, 2 * QUIET_STEPS)
    silent = MetricWatch("x", "", False, None)
    silent.expect(QUIET_STEPS)
    assert silent.due == float("inf")


def test_the_warning_also_goes_through_logging(caplog: pytest.LogCaptureFixture) -> None:
    """Trainers may swallow warnings (HF's resume path re-issues only when it caught several):
    the same text reaches the ``lrkit`` logger."""
    with caplog.at_level("WARNING", "lrkit"):
        (w,) = _run(lk.Stepper(lk.plateau()), 2 * QUIET_STEPS, None)
    assert [r.getMessage() for r in caplog.records] == [str(w.message)]
