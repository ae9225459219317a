"""``Stepper``: the framework-free driver. It owns the one step counter and the state of every
``plateau`` in a schedule; framework adapters (``lrkit.torch.LRScheduler``) wrap it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lrkit import _validate as v
from lrkit._format import FORMAT_VERSION, check_format
from lrkit._replan import (
    SpecMismatchWarning,
    advance,
    check_count,
    reconcile,
    replanned,
    say,
)
from lrkit._silence import MetricWatch
from lrkit.schedules._base import Schedule
from lrkit.schedules.plateau import Plateau, PlateauState

__all__ = ["SpecMismatchWarning", "Stepper", "load_plateaus", "plateau_nodes"]


def plateau_nodes(schedule: Schedule) -> list[Plateau]:
    """The ``plateau`` nodes of a schedule in depth-first order (the order of its states)."""
    if isinstance(schedule, Plateau):
        return [schedule]
    return [n for c in schedule.children() for n in plateau_nodes(c)]


def load_plateaus(owner: str, saved: Any, plan: Schedule | None = None) -> list[PlateauState]:
    """Saved plateau states (a list of ``PlateauState.to_dict()`` dicts), validated; with the
    ``plan`` they were saved for, each also against its plateau (patience, cooldown, mode)."""
    if not isinstance(saved, list | tuple):
        raise ValueError(f"{owner}: plateaus must be a list of plateau states; got {saved!r:.80}")
    nodes: list[Plateau | None] = [None] * len(saved)
    if plan is not None:
        nodes = [*plateau_nodes(plan)[: len(saved)], *nodes][: len(saved)]
    out = []
    for d, node in zip(saved, nodes, strict=True):
        try:
            out.append(PlateauState.from_dict(d, node))
        except (TypeError, OverflowError, AttributeError) as e:  # tampered: a clear ValueError
            raise ValueError(f"{owner}: invalid plateau state {d!r:.80} ({e})") from None
    return out


class Stepper:
    """Drives a schedule step by step: ``value()`` is ``schedule(count / steps_per_epoch)``
    with the plateau states applied; ``step(metric)`` reports a metric, then advances the clock
    by ``by`` units (1 step, or the tokens/samples of this step); ``replan`` changes the plan
    from the current step on."""

    __slots__ = ("_calls", "_spec", "_states", "_watch", "count", "schedule", "steps_per_epoch")

    def __init__(self, schedule: Schedule, steps_per_epoch: int | None = None) -> None:
        if not isinstance(schedule, Schedule):
            raise ValueError(f"Stepper: schedule must be an lrkit schedule; got {schedule!r}")
        if steps_per_epoch is not None:
            steps_per_epoch = v.integer("Stepper", "steps_per_epoch", steps_per_epoch, minimum=1)
        self.schedule = schedule
        self.steps_per_epoch = steps_per_epoch
        self.count = 0
        self._calls = 0  # step() calls: the quiet-stretch watch counts these, not clock units
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
        self._watch.reported(self._calls)
        if self._states:
            # NaN is never an improvement (torch's rule): it counts as a bad epoch.
            self.schedule._report(self.t, value, self._states, eps)

    def step(self, metric: Any = None, eps: float = 0.0, *, by: int = 1) -> float:
        """Report ``metric`` (if given), advance the clock by ``by`` (a non-negative integer:
        1 step, or the tokens/samples of this step), return the new value."""
        count = advance("Stepper.step", self.count, by)  # checked before anything changes
        if metric is not None:
            self.report(metric, eps)
        self.count = count
        self._calls += 1
        if self._calls >= self._watch.due:
            self._watch.warn(self._calls)
        return self.value()

    def replan(self, schedule: Schedule | str, ramp: float = 0) -> float:
        """From now on follow ``splice(current plan, schedule, at=t, ramp)``: ``schedule`` on the
        global clock after a linear ramp of ``ramp`` units from the current value (no jump when
        ``ramp > 0``). The spliced plan is what ``state_dict()`` saves. Returns the value now."""
        plan = replanned("Stepper.replan", self.schedule, schedule, self.t, ramp)
        listened = bool(self._states)
        self._states = [*self._states, *plan.new._initial_states()]
        self.schedule = plan
        self._spec = None
        if self._states and not listened:  # the new plan has a plateau: watch for metrics
            self._watch = MetricWatch("Stepper", self.spec, True, self.steps_per_epoch)
            self._watch.restart(self._calls)
        return self.value()

    def state_dict(self) -> dict[str, Any]:
        """Plain data: the clock, the spec string of the plan, the plateau states and the
        format version."""
        return {
            "count": self.count,
            "calls": self._calls,
            "spec": self.spec,
            "plateaus": [s.to_dict() for s in self._states],
            "format_version": FORMAT_VERSION,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore a ``state_dict()`` (of any lrkit up to this one; a newer format is a
        ``ValueError``). A state saved for another plan: see ``lrkit._replan`` (a plan changed
        by splices/cooldowns after the restored step is quiet, a replanned saved plan is
        continued, anything else is warned about and logged). Nothing changes on an error."""
        what = "Stepper.load_state_dict"
        if isinstance(state, Mapping):  # a newer format may hold other keys: its version first
            check_format(what, state)
        if not isinstance(state, Mapping) or "count" not in state:
            raise ValueError(f"{what}: expected a dict with 'count'; got {state!r:.80}")
        count = check_count(what, state["count"])
        calls = check_count(what, state.get("calls", count))
        saved_spec = state.get("spec")
        if saved_spec is not None and not isinstance(saved_spec, str):
            raise ValueError(f"{what}: spec must be a spec string; got {saved_spec!r:.80}")
        raw = state.get("plateaus", [])
        plateaus = load_plateaus(what, raw)
        t = count if self.steps_per_epoch is None else count / self.steps_per_epoch
        r = reconcile(what, saved_spec, self.schedule, t, 1.0, plateaus)
        if r.states_from_saved:  # the saved states belong to this plan's first plateaus
            plateaus = load_plateaus(what, raw, r.plan)
        fresh = r.plan._initial_states()
        note = None
        if r.states_from_saved and len(plateaus) <= len(fresh):
            states = [*plateaus, *fresh[len(plateaus):]]
        elif len(plateaus) == len(fresh):
            states = plateaus
        else:
            states = fresh
            if plateaus or fresh:
                note = (f"{what}: the saved state holds {len(plateaus)} plateau state(s) but the "
                        f"plan {r.plan} has {len(fresh)}; plateau states were reset")
        # nothing above changed the stepper; from here on nothing fails
        say(r.message, r.info)
        if note:
            say(note)
        if r.plan is not self.schedule:
            self.schedule = r.plan
            self._spec = None
        self._states = states
        self.count = count
        self._calls = calls
        self._watch.restart(calls)
