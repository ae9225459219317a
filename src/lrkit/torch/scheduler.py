"""``LRScheduler``: lrkit schedules as a real ``torch.optim.lr_scheduler.LRScheduler``.

Per param group ``i``, with its schedule ``s_i`` (one schedule for every group, or one each)
and step count ``n`` (``t = n`` or ``n / steps_per_epoch``)::

    relative:  group["lr"] = group["initial_lr"] * s_i(t)
    absolute:  group["lr"] = s_i(t)

The scheduler owns the one step counter and every plateau's state; the rate is always computed
in closed form from the count, never from the previous rate. Each step evaluates every distinct
schedule once, through its specialised scalar path, and writes the groups.

Construction. torch's ``LRScheduler.__init__`` calls ``self.step()`` once ("steps in the
constructor"). That call arrives before this class has finished its own ``__init__`` and is
ignored; the constructor then writes ``s(0)`` into the groups itself. So after construction the
count is 0 and the first ``optimizer.step()`` uses ``s(0)``.
"""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

import torch
from torch import Tensor
from torch.optim import Optimizer

from lrkit import Schedule
from lrkit import _validate as v
from lrkit._format import FORMAT_VERSION, check_format
from lrkit._replan import advance, check_count, reconcile, replanned, say
from lrkit._silence import MetricWatch
from lrkit.schedules.plateau import PlateauState
from lrkit.spec import as_schedule
from lrkit.stepper import load_plateaus

__all__ = ["LRScheduler"]

Mode = Literal["relative", "absolute"]
ScheduleLike = Schedule | str
HyperparamSpec = ScheduleLike | tuple[ScheduleLike, str] | list[Any]

#: torch's ReduceLROnPlateau ignores a reduction smaller than this, in absolute (lr) units.
TORCH_PLATEAU_EPS = 1e-8

_MODES = ("relative", "absolute")
_PAIR = (
    "a schedule, a spec string, a (schedule, mode) pair or a [schedule, mode] list (as YAML "
    "and Hydra write it; mode 'relative' or 'absolute')"
)


def _check_mode(owner: str, mode: Any) -> Mode:
    if mode not in _MODES:
        raise ValueError(f"{owner} must be 'relative' or 'absolute'; got {mode!r}")
    return mode  # type: ignore[no-any-return]


def _is_integer(x: object) -> bool:
    return isinstance(x, numbers.Integral) and not isinstance(x, bool)


def _scalar(value: Any) -> float:
    return float(value.item()) if isinstance(value, Tensor) else float(value)


def _is_pair(entry: Any) -> bool:
    """``(schedule, mode)`` (a tuple is always the pair) or ``[schedule, mode]`` (a list of two
    whose second item is a mode name; any other list is one entry per param group)."""
    if isinstance(entry, tuple):
        return True
    return (_sequence(entry) and len(entry) == 2 and isinstance(entry[1], str)
            and entry[1] in _MODES)


def _sequence(entry: Any) -> bool:
    """A list/tuple (or an OmegaConf ListConfig) that is not a spec string."""
    return (isinstance(entry, Sequence) and not isinstance(entry, str | bytes)) or (
        type(entry).__name__ == "ListConfig")


# --- writing one setting of one group ------------------------------------------------------------


class _Writer:
    """Writes one hyperparameter of one group: in place for a tensor (compile-safe), else by
    assignment; ``betas`` index 0 for Adam's "momentum"."""

    __slots__ = ("index", "key")

    def __init__(self, key: str, index: int | None) -> None:
        self.key = key
        self.index = index

    @classmethod
    def for_group(cls, name: str, group: dict[str, Any], index: int) -> _Writer:
        if name in group and _is_rate(group[name]):
            return cls(name, None)
        if name == "momentum" and "momentum" not in group and _pair_of_rates(group.get("betas")):
            return cls("betas", 0)
        allowed = schedulable(group)
        if name in group:
            value = group[name]
            why = (f"is {value!r:.60}, not a number: a flag or a tuple cannot follow a schedule"
                   + ("; schedule betas[0] with 'momentum'" if name == "betas" else ""))
            raise ValueError(
                f"LRScheduler: hyperparams key {name!r} of param group {index} {why}; allowed: "
                f"{allowed}")
        raise ValueError(
            f"LRScheduler: hyperparams key {name!r} is not a setting of param group {index}; "
            f"allowed: {allowed}"
        )

    def read(self, group: dict[str, Any]) -> Any:
        value = group[self.key]
        return value if self.index is None else value[self.index]

    def write(self, group: dict[str, Any], value: float) -> None:
        current = group[self.key]
        if self.index is None:
            if isinstance(current, Tensor):
                current.fill_(value)
            else:
                group[self.key] = value
            return
        item = current[self.index]
        if isinstance(item, Tensor):
            item.fill_(value)
        else:
            seq = list(current)
            seq[self.index] = value
            group[self.key] = type(current)(seq)


def _is_rate(value: Any) -> bool:
    """A setting a schedule can drive: a real number (not a flag) or a one-element float
    tensor."""
    if isinstance(value, Tensor):
        return value.numel() == 1 and value.is_floating_point()
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _pair_of_rates(value: Any) -> bool:
    return isinstance(value, tuple | list) and len(value) == 2 and all(map(_is_rate, value))


def schedulable(group: Mapping[str, Any]) -> list[str]:
    """The settings of a param group that ``hyperparams`` can schedule (numbers; 'momentum'
    for betas[0] on Adam-family groups), never 'lr', 'params' or 'initial_*'."""
    keys = sorted(k for k, x in group.items() if k not in ("lr", "params")
                  and not k.startswith("initial_") and _is_rate(x))
    if "momentum" not in group and _pair_of_rates(group.get("betas")):
        keys.append("momentum (betas[0])")
    return keys


# --- one scheduled value of one group -------------------------------------------------------------


class _Lane:
    """One scheduled setting (``lr``, ``momentum``...) of one param group: its schedule, mode,
    base value (``initial_<name>`` in relative mode, else 1), plateau states and torch's
    plateau eps in schedule units."""

    __slots__ = ("base", "eps", "index", "mode", "schedule", "spec", "states", "writer")

    def __init__(self, index: int, schedule: Schedule, mode: Mode, writer: _Writer,
                 base: float) -> None:
        self.index = index
        self.schedule = schedule
        self.spec = str(schedule)
        self.mode = mode
        self.writer = writer
        self.states: list[PlateauState] = schedule._initial_states()
        self.base = base
        self.eps = 0.0
        self.set_base(base)

    def set_base(self, base: float) -> None:
        self.base = base
        # Relative plateaus compare reductions against torch's eps in absolute units:
        # eps / base in schedule units (absolute mode: base 1).
        self.eps = TORCH_PLATEAU_EPS / base if base > 0 else math.inf


class _Track:
    """One hyperparameter across the param groups: what was asked for (one entry for every
    group, or one per group) and the lanes built from it."""

    __slots__ = ("entries", "lanes", "name", "per_group")

    def __init__(self, name: str, entries: list[tuple[Schedule, Mode]], per_group: bool) -> None:
        self.name = name
        self.entries = entries
        self.per_group = per_group
        self.lanes: list[_Lane] = []

    def entry(self, index: int, n_groups: int) -> tuple[Schedule, Mode]:
        if not self.per_group:
            return self.entries[0]
        if index >= len(self.entries):
            what = "schedule" if self.name == "lr" else f"hyperparams[{self.name!r}]"
            raise ValueError(
                f"LRScheduler: the optimizer now has {n_groups} param groups but the {what} list "
                f"has {len(self.entries)} entries, one per group; build the scheduler after "
                "adding every group, or give one schedule for all groups"
            )
        return self.entries[index]

    def adopt(self, group: dict[str, Any], index: int, n_groups: int) -> None:
        schedule, mode = self.entry(index, n_groups)
        writer = _Writer.for_group(self.name, group, index)
        base = 1.0
        if mode == "relative":
            initial_key = f"initial_{self.name}"
            current = writer.read(group)
            if isinstance(current, Tensor):
                current = current.clone()
            group.setdefault(initial_key, current)
            base = _scalar(group[initial_key])
        self.lanes.append(_Lane(index, schedule, mode, writer, base))

    @property
    def specs(self) -> str | list[str]:
        return [ln.spec for ln in self.lanes] if self.per_group else str(self.entries[0][0])

    @property
    def modes(self) -> str | list[str]:
        return [ln.mode for ln in self.lanes] if self.per_group else self.entries[0][1]

    def state_dict(self) -> dict[str, Any]:
        return {
            "spec": self.specs,
            "mode": self.modes,
            "bases": [ln.base for ln in self.lanes],
            "plateaus": [[p.to_dict() for p in ln.states] for ln in self.lanes],
        }

    def prepare(self, state: Any, what: str, t: float) -> Callable[[], None]:
        """Validate a saved track (the format of ``state_dict`` above, or of lrkit 0.1, whose
        ``spec``/``mode`` were strings and ``plateaus`` one shared list) against this track and
        return what applies it: nothing changes unless every part is valid. Plans are matched
        by ``lrkit._replan.reconcile``."""
        n = len(self.lanes)
        label = "lr" if self.name == "lr" else f"hyperparams[{self.name!r}]"
        if not isinstance(state, Mapping):
            raise ValueError(f"{what}: the state of {label} must be a dict; got {state!r:.80}")
        specs = _per_lane(what, f"{label} spec", state.get("spec"), n, _spec_or_none)
        modes = _per_lane(what, f"{label} mode", state.get("mode"), n, _mode_or_none)
        raw_bases = state.get("bases")
        if raw_bases is None:
            bases = [ln.base for ln in self.lanes]
        elif not _sequence(raw_bases) or len(raw_bases) != n:
            raise ValueError(
                f"{what}: the state holds base values {raw_bases!r:.80} for {label} but the "
                f"optimizer has {n} param group(s); allowed: a list of {n} finite numbers >= 0 "
                "(the same param groups as when it was saved)")
        else:
            bases = [_base(what, f"{label} base of param group {i}", b)
                     for i, b in enumerate(raw_bases)]
        raw_plateaus = state.get("plateaus") or [[]]
        if not _sequence(raw_plateaus):
            raise ValueError(f"{what}: {label} plateaus must be a list of lists of plateau "
                             f"states; got {raw_plateaus!r:.80}")
        shared = [load_plateaus(f"{what} ({label})", p) for p in raw_plateaus]
        raw_of = [raw_plateaus[i] if i < len(raw_plateaus) else raw_plateaus[0]
                  for i in range(n)]
        updates: list[tuple[_Lane, Schedule, float, list[PlateauState]]] = []
        messages: list[str] = []
        infos: list[str] = []
        seen: dict[tuple[Any, int], Any] = {}
        for i, lane in enumerate(self.lanes):
            base = bases[i] if modes[i] == lane.mode else lane.base
            saved = shared[i] if i < len(shared) else shared[0]
            key = (specs[i], id(lane.schedule))
            r = seen.get(key)
            if r is None:
                owner = what if self.name == "lr" else f"{what} ({label})"
                r = seen[key] = reconcile(owner, specs[i], lane.schedule, t, base, saved)
                if r.message:
                    where = "" if n == 1 or not self.per_group else f" (param group {i})"
                    messages.append(r.message + where)
                if r.info:
                    infos.append(r.info)
            fresh = r.plan._initial_states()
            if r.states_from_saved and saved:  # checked against the plan's own plateaus too
                saved = load_plateaus(f"{what} ({label})", raw_of[i], r.plan)
            if r.states_from_saved and len(saved) <= len(fresh):
                states = [*saved, *fresh[len(saved):]]
            elif len(saved) == len(fresh):
                states = saved
            else:
                states = fresh
                if saved or fresh:
                    messages.append(
                        f"{what}: the saved state holds {len(saved)} plateau state(s) but the "
                        f"schedule {r.plan} has {len(fresh)}; its plateau states were reset")
            updates.append((lane, r.plan, base, states))
        for i, (lane, mode) in enumerate(zip(self.lanes, modes, strict=True)):
            if mode is not None and mode != lane.mode:
                messages.append(
                    f"{what}: {label} of param group {i} was saved in mode {mode!r}, this "
                    f"scheduler uses {lane.mode!r}; its base value is kept")
                if not self.per_group:
                    break

        def commit() -> None:
            for message in dict.fromkeys(messages):
                say(message, stacklevel=4)
            for info in dict.fromkeys(infos):
                say(None, info)
            for lane, plan, base, states in updates:
                if plan is not lane.schedule:
                    lane.schedule = plan
                    lane.spec = str(plan)
                lane.set_base(base)
                lane.states = states
            self.sync_entries()

        return commit

    def sync_entries(self) -> None:
        """After the lanes' plans changed (replan, a resumed replanned plan): one entry while
        every lane follows the same plan, else one per group."""
        plans = [ln.schedule for ln in self.lanes]
        if plans and all(p is plans[0] for p in plans) and not self.per_group:
            self.entries = [(plans[0], self.lanes[0].mode)]
        elif plans:
            self.entries = [(ln.schedule, ln.mode) for ln in self.lanes]
            self.per_group = True


def _spec_or_none(what: str, name: str, value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise ValueError(f"{what}: {name} must be a spec string; got {value!r:.80}")


def _mode_or_none(what: str, name: str, value: Any) -> Mode | None:
    if value is None or value in _MODES:
        return value  # type: ignore[no-any-return]
    raise ValueError(f"{what}: {name} must be 'relative' or 'absolute'; got {value!r:.80}")


def _per_lane(what: str, name: str, value: Any, n: int,
              check: Callable[[str, str, Any], Any]) -> list[Any]:
    """A saved field that is one value for every group or a list of one per group."""
    if isinstance(value, list | tuple):
        if len(value) != n:
            raise ValueError(
                f"{what}: the state holds {len(value)} {name} value(s) but the optimizer has "
                f"{n} param group(s); allowed: the same param groups as when it was saved")
        return [check(what, name, x) for x in value]
    return [check(what, name, value)] * n


def _base(what: str, name: str, value: Any) -> float:
    """A saved base value (``initial_lr``...): a finite number >= 0."""
    if isinstance(value, Tensor) and value.numel() == 1:
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not (
            math.isfinite(float(value)) and float(value) >= 0):
        raise ValueError(f"{what}: {name} must be a finite number >= 0; got {value!r:.80}")
    return float(value)


# --- the evaluation plan: each distinct schedule once per step ----------------------------------

Unit = tuple[Callable[..., float], "list[PlateauState] | None", list[_Lane]]
"""One evaluation per step: the specialised scalar path ``fn(t)`` (or ``fn(t, states)`` for a
lane with plateau states) and the lanes that take its value (a stateless schedule shared by
several groups is evaluated once)."""


def _plan(lanes: list[_Lane]) -> list[Unit]:
    units: list[Unit] = []
    shared: dict[int, list[_Lane]] = {}
    for lane in lanes:
        s = lane.schedule
        if s.has_state:
            units.append((s.scalar_path()[1], lane.states, [lane]))
        elif id(s) in shared:
            shared[id(s)].append(lane)
        else:
            shared[id(s)] = targets = [lane]
            units.append((s.scalar_path()[0], None, targets))
    return units


class LRScheduler(torch.optim.lr_scheduler.LRScheduler):
    """Drives an optimizer's learning rate (and optionally other hyperparameters) with lrkit
    schedules. See the module docstring for the formulas.

    Args:
        optimizer: the optimizer whose param groups are scheduled.
        schedule: an lrkit schedule or its spec string, for every param group; or a list with
            one per param group (as torch's ``LambdaLR`` takes a list of functions).
        mode: ``"relative"`` multiplies each group's ``initial_lr`` (recorded on first sight,
            like torch does, so per-group ratios are kept); ``"absolute"`` sets each group's lr
            to its schedule's value.
        steps_per_epoch: when given, the schedules are written in epochs and stepped every
            iteration: ``t = count / steps_per_epoch``.
        hyperparams: other group settings that follow schedules, e.g.
            ``{"momentum": lk.one_cycle(...), "weight_decay": ("cosine(steps=100)",
            "relative")}``. A bare schedule sets the value directly (absolute); a
            ``(schedule, mode)`` pair, or a ``[schedule, mode]`` list as YAML writes it, picks
            the mode (relative multiplies ``group["initial_<name>"]``). A list of such entries,
            one per param group, schedules each group on its own. ``"momentum"`` drives
            ``betas[0]`` on Adam-family groups.

    ``step(metric=None)`` reports ``metric`` (if given) to every plateau in the schedules, then
    advances one step. ``report(metric)`` reports without advancing. Plateaus follow torch's
    ReduceLROnPlateau exactly, including its ``eps=1e-8`` measured on each group's absolute lr.
    A schedule with a plateau that hears no metric for a long stretch warns once
    (``lrkit.NoMetricWarning``).
    """

    _ready: bool = False
    _warned_unused_metric: bool = False

    def __init__(
        self,
        optimizer: Optimizer,
        schedule: ScheduleLike | Sequence[ScheduleLike],
        mode: Mode = "relative",
        steps_per_epoch: int | None = None,
        *,
        hyperparams: Mapping[str, HyperparamSpec] | None = None,
    ) -> None:
        if not isinstance(optimizer, Optimizer):
            raise ValueError(
                f"LRScheduler: optimizer must be a torch.optim.Optimizer; got "
                f"{type(optimizer).__name__}"
            )
        self.mode: Mode = _check_mode("LRScheduler: mode", mode)
        if steps_per_epoch is not None and (not _is_integer(steps_per_epoch)
                                            or steps_per_epoch < 1):
            raise ValueError(
                f"LRScheduler: steps_per_epoch must be an integer >= 1 or None; got "
                f"{steps_per_epoch!r}"
            )
        self.steps_per_epoch = None if steps_per_epoch is None else int(steps_per_epoch)
        n_groups = len(optimizer.param_groups)
        lr_track = self._lr_track(schedule, n_groups)
        self.schedule: Schedule | tuple[Schedule, ...] = (
            tuple(s for s, _ in lr_track.entries) if lr_track.per_group
            else lr_track.entries[0][0])
        self._tracks: list[_Track] = [lr_track]
        if hyperparams is not None and not isinstance(hyperparams, Mapping):
            raise ValueError(
                "LRScheduler: hyperparams must be a dict of setting name -> schedule, e.g. "
                f"{{'momentum': lk.one_cycle(...)}}; got {type(hyperparams).__name__} "
                f"{hyperparams!r:.80} (schedulable settings of param group 0: "
                f"{schedulable(optimizer.param_groups[0]) if optimizer.param_groups else []})")
        for name, entry in (hyperparams or {}).items():
            self._tracks.append(self._hyper_track(name, entry, n_groups))
        self._count = 0
        self.clock: Callable[[], int] | None = None
        self._n_groups = 0
        self._units: list[Unit] = []
        self._hyper_units: list[Unit] = []
        self._shared: Unit | None = None
        self._bases: list[float] = []
        self._stateful = any(s.has_state for t in self._tracks for s, _ in t.entries)
        self._watch = MetricWatch("LRScheduler", self._specs_text(), self._stateful,
                                  self.steps_per_epoch)
        # torch's __init__ records group["initial_lr"], patches optimizer.step and calls
        # self.step() once; that call returns early because self._ready is still False.
        super().__init__(optimizer)
        self._adopt_new_groups()
        self._ready = True
        self._step_count = 1  # what torch's constructor step leaves
        self._apply()

    # -- construction -----------------------------------------------------------------------
    def _lr_track(self, schedule: Any, n_groups: int) -> _Track:
        if _sequence(schedule):
            items = list(schedule)
            if len(items) != n_groups:
                raise ValueError(
                    f"LRScheduler: schedule is a list of {len(items)} schedules but the optimizer "
                    f"has {n_groups} param groups; allowed: one schedule for every group, or a "
                    "list with exactly one per param group"
                )
            entries = [(as_schedule(f"LRScheduler: schedule[{i}]", s), self.mode)
                       for i, s in enumerate(items)]
            return _Track("lr", entries, per_group=True)
        return _Track("lr", [(as_schedule("LRScheduler: schedule", schedule), self.mode)],
                      per_group=False)

    def _hyper_track(self, name: Any, entry: Any, n_groups: int) -> _Track:
        if not isinstance(name, str) or name in ("lr", "params") or name.startswith("initial_"):
            raise ValueError(
                f"LRScheduler: hyperparams keys must name a param-group setting other than "
                f"'lr' and 'params'; got {name!r}"
            )
        owner = f"LRScheduler: hyperparams[{name!r}]"
        if _sequence(entry) and not _is_pair(entry):
            items = list(entry)
            if len(items) != n_groups:
                raise ValueError(
                    f"{owner} must be {_PAIR}, or a list with one of those per param group; got "
                    f"a list of {len(items)} for {n_groups} param groups: {entry!r}"
                )
            entries = [self._hyper_entry(f"{owner}[{i}]", x) for i, x in enumerate(items)]
            return _Track(name, entries, per_group=True)
        return _Track(name, [self._hyper_entry(owner, entry)], per_group=False)

    @staticmethod
    def _hyper_entry(owner: str, entry: Any) -> tuple[Schedule, Mode]:
        mode: Any = "absolute"
        if _sequence(entry):
            items = list(entry)
            if len(items) != 2:
                raise ValueError(f"{owner} must be {_PAIR}; got {entry!r}")
            entry, mode = items
            mode = _check_mode(f"{owner}: the mode of the pair [schedule, mode]", mode)
        elif not isinstance(entry, Schedule | str):
            raise ValueError(f"{owner} must be {_PAIR}; got {type(entry).__name__} {entry!r}")
        if isinstance(entry, str) and entry.strip().isidentifier():  # a mistyped mode?
            raise ValueError(
                f"{owner} is {entry!r}, which is no schedule (a spec string calls one, e.g. "
                "'cosine(steps=100)'); the mode of a [schedule, mode] pair must be 'relative' or "
                "'absolute'"
            )
        return as_schedule(owner, entry), mode

    def _specs_text(self) -> str:
        specs = self._tracks[0].specs if self._tracks[0].lanes else [
            str(s) for s, _ in self._tracks[0].entries]
        return specs if isinstance(specs, str) else "[" + ", ".join(specs) + "]"

    def _adopt_new_groups(self) -> None:
        groups = self.optimizer.param_groups
        n = len(groups)
        for index in range(self._n_groups, n):
            group = groups[index]
            if "initial_lr" not in group:  # added with add_param_group after construction
                lr = group["lr"]
                group["initial_lr"] = lr.clone() if isinstance(lr, Tensor) else lr
                self.base_lrs.append(_scalar(group["initial_lr"]))
            for track in self._tracks:
                track.adopt(group, index, n)
        self._n_groups = n
        self._replan()

    def _replan(self) -> None:
        lanes = self._tracks[0].lanes
        self._units = _plan(lanes)
        self._hyper_units = [u for t in self._tracks[1:] for u in _plan(t.lanes)]
        # one schedule for every group: one evaluation times each group's base, in group order
        self._shared = self._units[0] if len(self._units) == 1 else None
        self._bases = [lane.base for lane in lanes]

    # -- the per-iteration path ----------------------------------------------------------
    def step(self, metric: Any = None, *, by: int = 1) -> None:  # type: ignore[override]
        """Report ``metric`` (if not None) to every plateau, then advance the clock by ``by``
        (a non-negative integer: 1 step, or the tokens/samples of this step) and write the new
        values into the param groups. Call it after ``optimizer.step()``. With ``clock`` set
        (a function giving the running total, e.g. the tokens seen), the clock is read from it
        instead."""
        if not self._ready:  # the call torch's constructor makes; see the module docstring
            return
        # the per-step path: a plain int (2**32 per step cannot take the clock past 2**63 in
        # any run), no clock hook; anything else is checked before anything changes
        if by.__class__ is int and 0 <= by <= 4294967295 and self.clock is None:
            count = self._count + by
        else:
            count = self._next_count(by)
        if metric is not None:
            self._report(metric)
        self._count = count
        # torch's own count of step() calls, 1 after the constructor: the quiet-stretch watch
        # counts calls (steps), not clock units (tokens)
        self._step_count = calls = self._step_count + 1
        if calls > self._watch.due:
            self._watch.warn(calls - 1)
        self._apply()

    def _next_count(self, by: Any) -> int:
        """The clock after this step: ``count + by`` (validated), or ``clock()``."""
        clock = self.clock
        if clock is None:
            return advance("LRScheduler.step", self._count, by)
        if by != 1:
            raise ValueError("LRScheduler.step: by= cannot be given while clock is set "
                             "(the clock gives the running total)")
        total = check_count("LRScheduler.step: clock()", clock())
        if total < self._count:
            raise ValueError(
                f"LRScheduler.step: clock() went back from {self._count} to {total}; "
                "allowed: a running total that never decreases")
        return total

    def replan(self, schedule: ScheduleLike | Sequence[ScheduleLike], ramp: float = 0) -> None:
        """Change the plan from the current step on: each group follows
        ``splice(its plan, schedule, at=t, ramp)`` (``schedule`` on the global clock, reached
        by a straight line over ``ramp`` units from the current rate; ``ramp=0`` switches at
        once). ``schedule`` is one schedule or spec for every group, or a list with one per
        group. The new rates are written at once, and ``state_dict()`` saves the spliced plan,
        so a resume continues it exactly."""
        what = "LRScheduler.replan"
        if len(self.optimizer.param_groups) != self._n_groups:
            self._adopt_new_groups()
        track = self._tracks[0]
        lanes = track.lanes
        if _sequence(schedule):
            items = list(schedule)  # type: ignore[arg-type]
            if len(items) != len(lanes):
                raise ValueError(
                    f"{what}: schedule is a list of {len(items)} schedules but the optimizer has "
                    f"{len(lanes)} param groups; allowed: one schedule for every group, or a "
                    "list with exactly one per param group")
        else:
            items = [schedule] * len(lanes)  # type: ignore[list-item]
        t = self.t
        made: dict[tuple[int, int], Any] = {}
        plans = []
        for lane, item in zip(lanes, items, strict=True):
            key = (id(lane.schedule), id(item))
            if key not in made:
                made[key] = replanned(what, lane.schedule, item, t, ramp)
            plans.append(made[key])
        for lane, plan in zip(lanes, plans, strict=True):
            lane.states = [*lane.states, *plan.new._initial_states()]
            lane.schedule = plan
            lane.spec = str(plan)
        track.sync_entries()
        self._plans_changed()
        self._apply()

    def _plans_changed(self) -> None:
        """Re-derive what depends on the lanes' plans."""
        lr = self._tracks[0]
        self.schedule = (tuple(s for s, _ in lr.entries) if lr.per_group
                         else lr.entries[0][0])
        stateful = any(ln.schedule.has_state for t in self._tracks for ln in t.lanes)
        if stateful and not self._stateful:
            self._watch = MetricWatch("LRScheduler", self._specs_text(), True,
                                      self.steps_per_epoch)
            self._watch.restart(self._step_count - 1)
        self._stateful = stateful
        self._replan()

    def report(self, metric: Any) -> None:
        """Feed ``metric`` to every plateau active at the current step, without advancing. A
        reduction it causes is written into the param groups at once."""
        if self._report(metric):
            self._apply()

    def _report(self, metric: Any) -> bool:
        value = v.metric("LRScheduler.step", metric)
        if len(self.optimizer.param_groups) != self._n_groups:
            self._adopt_new_groups()
        if not self._stateful:
            if not self._warned_unused_metric:
                self._warned_unused_metric = True
                warnings.warn(
                    f"LRScheduler: a metric was reported but no schedule here contains plateau() "
                    f"({self._specs_text()}); metrics are ignored (this is said once)",
                    UserWarning,
                    stacklevel=3,
                )
            return False
        self._watch.reported(self._step_count - 1)
        t = self.t
        for track in self._tracks:
            for lane in track.lanes:
                if lane.states:
                    # NaN is never an improvement (torch's rule): it counts as a bad epoch.
                    lane.schedule._report(t, value, lane.states, lane.eps)
        return True

    def _apply(self) -> None:
        groups = self.optimizer.param_groups
        if len(groups) != self._n_groups:
            self._adopt_new_groups()
        spe = self.steps_per_epoch
        t = float(self._count) if spe is None else self._count / spe
        shared = self._shared
        if shared is not None:
            fn, states, _ = shared
            value = fn(t) if states is None else fn(t, states)
            values = [base * value for base in self._bases]
        else:
            values = [0.0] * len(groups)
            for fn, states, lanes in self._units:
                value = fn(t) if states is None else fn(t, states)
                for lane in lanes:
                    values[lane.index] = lane.base * value
        for group, value in zip(groups, values):  # noqa: B905 - one value per group
            current = group["lr"]
            if type(current) is not float and isinstance(current, Tensor):
                current.fill_(value)  # in place: a compiled optimizer step keeps its graph
            else:
                group["lr"] = value
        self._last_lr: list[Any] = values
        for fn, states, lanes in self._hyper_units:
            value = fn(t) if states is None else fn(t, states)
            for lane in lanes:
                lane.writer.write(groups[lane.index], lane.base * value)
        self.last_epoch = self._count

    # -- torch's read-only API ------------------------------------------------------------
    def get_lr(self) -> list[float | Tensor]:
        """The rates for the current step (what ``step()`` last wrote)."""
        return list(self._last_lr)

    def get_last_lr(self) -> list[float | Tensor]:
        """The rates last written, one per group; a tensor (a copy) where the group's lr is one."""
        out: list[float | Tensor] = []
        for group, value in zip(self.optimizer.param_groups, self._last_lr, strict=False):
            lr = group["lr"]
            out.append(lr.detach().clone() if isinstance(lr, Tensor) else value)
        return out

    @property
    def count(self) -> int:
        """Scheduler steps taken (0 right after construction)."""
        return self._count

    @property
    def t(self) -> float:
        """The schedules' time: ``count``, or ``count / steps_per_epoch``."""
        spe = self.steps_per_epoch
        return float(self._count) if spe is None else self._count / spe

    @property
    def schedules(self) -> tuple[Schedule, ...]:
        """The lr schedule of each param group."""
        return tuple(lane.schedule for lane in self._tracks[0].lanes)

    @property
    def has_plateau(self) -> bool:
        """True when a ``plateau`` in any schedule (any group, any hyperparameter) listens to
        reported metrics."""
        return self._stateful

    @property
    def spec(self) -> str:
        """The lr schedule as a spec string; ``[spec0, spec1, ...]`` with one per group."""
        return self._specs_text()

    def __repr__(self) -> str:
        lr = self._tracks[0]
        parts = [f"schedule={lr.specs!r}", f"mode={self.mode!r}"]
        if self.steps_per_epoch is not None:
            parts.append(f"steps_per_epoch={self.steps_per_epoch}")
        parts.append(f"count={self._count}")
        rates = ", ".join(f"{x:.6g}" for x in map(_scalar, getattr(self, "_last_lr", [])))
        parts.append(f"lr=[{rates}]")
        for track in self._tracks[1:]:
            modes = track.modes
            shown = track.specs if modes == "absolute" else list(zip(
                track.specs if isinstance(track.specs, list) else [track.specs],
                modes if isinstance(modes, list) else [modes], strict=True))
            parts.append(f"{track.name}={shown!r}")
        return f"LRScheduler({', '.join(parts)})"

    # -- checkpoints ----------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Plain data (``torch.load(weights_only=True)`` reads it): the step count, each
        schedule's spec and mode (lists when scheduled per group), each group's base value,
        the plateau states and the format version."""
        if len(self.optimizer.param_groups) != self._n_groups:
            self._adopt_new_groups()
        lr_state = self._tracks[0].state_dict()
        return {
            "format_version": FORMAT_VERSION,
            "count": self._count,
            "calls": self._step_count - 1,
            "spec": lr_state["spec"],
            "mode": self.mode,
            "steps_per_epoch": self.steps_per_epoch,
            "base_lrs": lr_state["bases"],
            "plateaus": lr_state["plateaus"],
            "hyperparams": {t.name: t.state_dict() for t in self._tracks[1:]},
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore a ``state_dict()`` and write the restored step's values into the groups, so
        optimizer and scheduler states may be loaded in either order. Reads the states of
        every lrkit up to this one (a newer format is a ``ValueError``). Every part is checked
        before anything changes: a ``ValueError`` leaves the scheduler as it was.

        A state saved for another plan: a plan that is the saved one changed by splices or
        cooldowns at or after the restored step resumes quietly; a saved plan that a run changed
        with ``replan`` (or splices/cooldowns before the restored step) is continued; any other
        change is reported (``lrkit.SpecMismatchWarning`` and the ``lrkit`` logger) with the
        rates before and after and the splice that avoids the jump."""
        what = "LRScheduler.load_state_dict"
        if isinstance(state_dict, Mapping):
            check_format(what, state_dict)  # first: a newer format may have other keys
        if not isinstance(state_dict, Mapping) or "count" not in state_dict:
            raise ValueError(
                f"{what}: expected a dict made by LRScheduler.state_dict(); got "
                f"{type(state_dict).__name__}"
            )
        count = check_count(what, state_dict["count"])
        calls = check_count(what, state_dict.get("calls", count))
        saved_spe = state_dict.get("steps_per_epoch")
        if saved_spe is not None and (not _is_integer(saved_spe) or saved_spe < 1):
            raise ValueError(f"{what}: steps_per_epoch must be an integer >= 1 or None; got "
                             f"{saved_spe!r:.80}")
        saved_hyper = state_dict.get("hyperparams") or {}
        if not isinstance(saved_hyper, Mapping):
            raise ValueError(f"{what}: hyperparams must be a dict of saved tracks; got "
                             f"{saved_hyper!r:.80}")
        if len(self.optimizer.param_groups) != self._n_groups:
            self._adopt_new_groups()
        spe = self.steps_per_epoch
        t = float(count) if spe is None else count / spe
        lr_track = self._tracks[0]
        commits = [lr_track.prepare({
            "spec": state_dict.get("spec"),
            "mode": state_dict.get("mode"),
            "bases": state_dict.get("base_lrs"),
            "plateaus": state_dict.get("plateaus"),
        }, what, t)]
        notes: list[str] = []
        if saved_spe != spe:
            notes.append(
                f"{what}: the state was saved with steps_per_epoch={saved_spe!r}, this "
                f"scheduler has steps_per_epoch={spe!r} (schedule {self._specs_text()!r}); the "
                "step count is restored as is")
        for track in self._tracks[1:]:
            if track.name in saved_hyper:
                commits.append(track.prepare(saved_hyper[track.name], what, t))
            else:
                notes.append(
                    f"{what}: the state holds no schedule for hyperparameter {track.name!r} "
                    f"(this scheduler has {track.specs!r}); its step count is set to {count}")
        extra = sorted(map(str, set(saved_hyper) - {t.name for t in self._tracks[1:]}))
        if extra:
            notes.append(f"{what}: the state schedules hyperparameters {extra} that this "
                         "scheduler does not; they are ignored")
        # every part is valid: apply
        for note in notes:
            say(note)
        for commit in commits:
            commit()
        if self.mode == "relative" and state_dict.get("mode") == "relative":
            self.base_lrs = [ln.base for ln in lr_track.lanes]
            for group, base in zip(self.optimizer.param_groups, self.base_lrs, strict=True):
                initial = group.get("initial_lr")
                if isinstance(initial, Tensor):
                    initial.fill_(base)
                else:
                    group["initial_lr"] = base
        self._count = count
        self._step_count = calls + 1
        self._plans_changed()
        self._watch.restart(calls)
        self._apply()
