"""``Stepper``: the framework-free driver. It owns the one step counter and the state of every
``plateau`` in a schedule; framework adapters (``lrkit.torch.LRScheduler``) wrap it."""

from __future__ import annotations

import warnings
from typing import Any

from lrkit import _validate as v
from lrkit._format import FORMAT_VERSION, check_format
from lrkit._silence import MetricWatch
from lrkit.schedules._base import Schedule
from lrkit.schedules.plateau import PlateauState


class SpecMismatchWarning(UserWarning):
    """A state saved for one schedule was loaded into a driver of another."""


class Stepper:
    """Drives a schedule step by step: ``value()`` is ``schedule(count / steps_per_epoch)``
    with the plateau states applied; ``step(metric)`` reports a metric, then advances."""

    __slots__ = ("_spec", "_states", "_watch", "count", "schedule", "steps_per_epoch")

    def __init__(self, schedule: Schedule, steps_per_epoch: int | None = None) -> None:
        if not isinstance(schedule, Schedule):
            raise ValueError(f"Stepper: schedule must be an lrkit schedule; got {schedule!r}")
        if steps_per_epoch is not None:
            steps_per_epoch = v.integer("Stepper", "steps_per_epoch", steps_per_epoch, minimum=1)
        self.schedule = schedule
        self.steps_per_epoch = steps_per_epoch
        self.count = 0
        self._states: list[PlateauState] = schedule._initial_states()
        self._spec: str | None = None
        # warns once when a plateau goes a long stretch without a report (lrkit._silence)
        self._watch = MetricWatch("Stepper", self.spec if self._states else "", bool(self._states),
                                  steps_per_epoch)

    @property
    def spec(self) -> str:
        """The schedule's canonical spec string (computed once)."""
        if self._spec is None:
            self._spec = str(self.schedule)
        return self._spec

    @property
    def t(self) -> float:
        """The schedule's time: count, or count / steps_per_epoch (fractional epochs)."""
        if self.steps_per_epoch is None:
            return float(self.count)
        return self.count / self.steps_per_epoch

    def value(self) -> float:
        """The schedule at the current time, plateau states applied."""
        return float(self.schedule.evaluate(self.t, self._states))

    def report(self, metric: Any, eps: float = 0.0) -> None:
        """Feed ``metric`` to the plateaus active now (a reduction needs old - new > eps)."""
        value = v.metric("Stepper.report", metric)  # checked even when no plateau listens
        self._watch.reported(self.count)
        if self._states:
            # NaN is never an improvement (torch's rule): it counts as a bad epoch.
            self.schedule._report(self.t, value, self._states, eps)

    def step(self, metric: Any = None, eps: float = 0.0) -> float:
        """Report ``metric`` (if given), advance one step, return the new value."""
        if metric is not None:
            self.report(metric, eps)
        self.count += 1
        if self.count >= self._watch.due:
            self._watch.warn(self.count)
        return self.value()

    def state_dict(self) -> dict[str, Any]:
        """Plain data: the step count, the spec string, the plateau states and the format
        version."""
        return {
            "count": self.count,
            "spec": self.spec,
            "plateaus": [s.to_dict() for s in self._states],
            "format_version": FORMAT_VERSION,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a ``state_dict()`` (of any lrkit up to this one; a newer format is a
        ``ValueError``); warns if it was saved for another schedule."""
        if isinstance(state, dict):  # a newer format may hold other keys: its version first
            check_format("Stepper.load_state_dict", state)
        if not isinstance(state, dict) or "count" not in state:
            raise ValueError(
                f"Stepper.load_state_dict: expected a dict with 'count'; got {state!r}"
            )
        count = v.integer("Stepper.load_state_dict", "count", state["count"])
        saved_spec = state.get("spec")
        if saved_spec is not None and saved_spec != self.spec:
            warnings.warn(
                f"loading a scheduler state saved for schedule {saved_spec!r} into a scheduler "
                f"for {self.spec!r}; the step count is restored, plateau state only if the "
                "number of plateaus matches",
                SpecMismatchWarning,
                stacklevel=2,
            )
        plateaus = state.get("plateaus", [])
        if len(plateaus) == len(self._states):
            self._states = [PlateauState.from_dict(p) for p in plateaus]
        elif plateaus or self._states:
            warnings.warn(
                f"the saved state holds {len(plateaus)} plateau state(s) but this schedule has "
                f"{len(self._states)}; plateau states were reset",
                SpecMismatchWarning,
                stacklevel=2,
            )
            self._states = self.schedule._initial_states()
        self.count = count
        self._watch.restart(count)
