"""``LRScheduler``: any lrkit schedule as a real ``torch.optim.lr_scheduler.LRScheduler``.

Per param group ``i`` and step count ``n`` (``t = n`` or ``n / steps_per_epoch``)::

    relative:  group["lr"] = group["initial_lr"] * s(t)
    absolute:  group["lr"] = s(t)

The one step counter and every plateau's state live in :class:`lrkit.Stepper`; the rate is
always computed in closed form from the count, never from the previous rate.

Construction. torch's ``LRScheduler.__init__`` calls ``self.step()`` once ("steps in the
constructor"). That call arrives before this class has finished its own ``__init__`` and is
ignored; the constructor then writes ``s(0)`` into the groups itself. So after construction the
count is 0 and the first ``optimizer.step()`` uses ``s(0)``.
"""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Mapping
from typing import Any, Literal

import torch
from torch import Tensor
from torch.optim import Optimizer

from lrkit import Schedule, SpecMismatchWarning, Stepper, parse
from lrkit import _validate as v

__all__ = ["LRScheduler"]

Mode = Literal["relative", "absolute"]
HyperparamSpec = Schedule | str | tuple[Schedule | str, str]

#: torch's ReduceLROnPlateau ignores a reduction smaller than this, in absolute (lr) units.
TORCH_PLATEAU_EPS = 1e-8

_MODES = ("relative", "absolute")


def _as_schedule(owner: str, schedule: Any) -> Schedule:
    if isinstance(schedule, Schedule):
        return schedule
    if isinstance(schedule, str):
        return parse(schedule)
    raise ValueError(
        f"{owner} must be an lrkit schedule or a spec string; got {type(schedule).__name__} "
        f"{schedule!r}"
    )


def _check_mode(owner: str, mode: Any) -> Mode:
    if mode not in _MODES:
        raise ValueError(f"{owner} must be 'relative' or 'absolute'; got {mode!r}")
    return mode  # type: ignore[no-any-return]


def _is_integer(x: object) -> bool:
    return isinstance(x, numbers.Integral) and not isinstance(x, bool)


def _scalar(value: Any) -> float:
    return float(value.item()) if isinstance(value, Tensor) else float(value)


class _Track:
    """One scheduled hyperparameter (``lr``, ``momentum``, ``weight_decay``...) of every group.

    ``momentum`` on a group without a ``momentum`` key but with ``betas`` (Adam, AdamW, NAdam,
    RAdam...) drives ``betas[0]``, as torch's OneCycleLR and CyclicLR do.
    """

    __slots__ = ("bases", "eps", "mode", "name", "per_group", "schedule", "spec", "steppers",
                 "steps_per_epoch", "writers")

    def __init__(self, name: str, schedule: Schedule, mode: Mode,
                 steps_per_epoch: int | None) -> None:
        self.name = name
        self.schedule = schedule
        self.mode = mode
        self.steps_per_epoch = steps_per_epoch
        self.spec = str(schedule)
        # Relative plateaus compare reductions against torch's eps in absolute units, which
        # differs per group (eps / initial value): such a schedule gets one Stepper per group.
        # Otherwise one Stepper serves every group.
        self.per_group = schedule.has_state and mode == "relative"
        self.steppers: list[Stepper] = [Stepper(schedule, steps_per_epoch)]
        self.bases: list[float] = []
        self.eps: list[float] = []
        self.writers: list[_Writer] = []

    # -- groups -------------------------------------------------------------------------
    def adopt(self, group: dict[str, Any], index: int) -> None:
        """Start scheduling ``group``: record its initial value, pick where values go."""
        writer = _Writer.for_group(self.name, group, index)
        if self.mode == "relative":
            initial_key = f"initial_{self.name}"
            current = writer.read(group)
            if isinstance(current, Tensor):
                current = current.clone()
            group.setdefault(initial_key, current)
            base = _scalar(group[initial_key])
        else:
            base = 1.0
        self.writers.append(writer)
        self.bases.append(base)
        self.eps.append(TORCH_PLATEAU_EPS / base if base > 0 else math.inf)
        if self.per_group and len(self.bases) > len(self.steppers):
            clone = Stepper(self.schedule, self.steps_per_epoch)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", SpecMismatchWarning)
                clone.load_state_dict(self.steppers[0].state_dict())
            self.steppers.append(clone)

    # -- driving ------------------------------------------------------------------------
    @property
    def count(self) -> int:
        return self.steppers[0].count

    def report(self, metric: float) -> None:
        if self.per_group:
            for stepper, eps in zip(self.steppers, self.eps, strict=True):
                stepper.report(metric, eps)
        else:  # absolute mode: torch's eps applies to the value itself
            self.steppers[0].report(metric, TORCH_PLATEAU_EPS)

    def values(self) -> list[float]:
        """The value for every group at the current count."""
        if self.per_group:
            return [b * s.value() for b, s in zip(self.bases, self.steppers, strict=True)]
        shared = self.steppers[0].value()
        return [b * shared for b in self.bases]

    def write(self, groups: list[dict[str, Any]], values: list[float]) -> None:
        for writer, group, value in zip(self.writers, groups, values, strict=True):
            writer.write(group, value)

    # -- state --------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {
            "spec": self.spec,
            "mode": self.mode,
            "bases": list(self.bases),
            "plateaus": [s.state_dict()["plateaus"] for s in self.steppers],
        }

    def load_state_dict(self, state: Mapping[str, Any], count: int, what: str) -> None:
        saved_spec = state.get("spec")
        if saved_spec != self.spec or state.get("mode") != self.mode:
            warnings.warn(
                f"{what}: loading a state saved for schedule {saved_spec!r} "
                f"(mode={state.get('mode')!r}) into a scheduler for {self.spec!r} "
                f"(mode={self.mode!r}); the step count is restored, plateau state only if the "
                "number of plateaus matches",
                SpecMismatchWarning,
                stacklevel=4,
            )
        bases = [float(b) for b in state.get("bases", self.bases)]
        if len(bases) != len(self.bases):
            raise ValueError(
                f"{what}: the state holds {len(bases)} param group(s) but the optimizer has "
                f"{len(self.bases)}; allowed: the same param groups as when it was saved"
            )
        if state.get("mode") == self.mode:
            self.bases = bases
            self.eps = [TORCH_PLATEAU_EPS / b if b > 0 else math.inf for b in bases]
        plateaus = list(state.get("plateaus") or [[]])
        for i, stepper in enumerate(self.steppers):
            saved = plateaus[i] if i < len(plateaus) else plateaus[0]
            with warnings.catch_warnings():
                if i > 0:
                    warnings.simplefilter("ignore", SpecMismatchWarning)
                stepper.load_state_dict({"count": count, "spec": self.spec, "plateaus": saved})


class _Writer:
    """Writes one hyperparameter of one group: in place for a tensor (compile-safe), else by
    assignment; ``betas`` index 0 for Adam's "momentum"."""

    __slots__ = ("index", "key")

    def __init__(self, key: str, index: int | None) -> None:
        self.key = key
        self.index = index

    @classmethod
    def for_group(cls, name: str, group: dict[str, Any], index: int) -> _Writer:
        if name in group:
            return cls(name, None)
        if name == "momentum" and "betas" in group:
            return cls("betas", 0)
        keys = sorted(k for k in group if k != "params")
        raise ValueError(
            f"LRScheduler: hyperparams key {name!r} is not a setting of param group {index} "
            f"(its settings: {keys}); allowed: one of those ('momentum' also maps to betas[0])"
        )

    def read(self, group: dict[str, Any]) -> Any:
        value = group[self.key]
        return value if self.index is None else value[self.index]

    def write(self, group: dict[str, Any], value: float) -> None:
        if self.index is None:
            current = group[self.key]
            if isinstance(current, Tensor):
                current.fill_(value)
            else:
                group[self.key] = value
            return
        current = group[self.key]
        item = current[self.index]
        if isinstance(item, Tensor):
            item.fill_(value)
        else:
            seq = list(current)
            seq[self.index] = value
            group[self.key] = type(current)(seq)


class LRScheduler(torch.optim.lr_scheduler.LRScheduler):
    """Drives an optimizer's learning rate (and optionally other hyperparameters) with an
    lrkit schedule. See the module docstring for the formulas.

    Args:
        optimizer: the optimizer whose param groups are scheduled.
        schedule: an lrkit schedule (or its spec string).
        mode: ``"relative"`` multiplies each group's ``initial_lr`` (recorded on first sight,
            like torch does, so per-group ratios are kept); ``"absolute"`` sets every group's
            lr to ``s(t)``.
        steps_per_epoch: when given, the schedule is written in epochs and stepped every
            iteration: ``t = count / steps_per_epoch``.
        hyperparams: other group settings that follow schedules, e.g.
            ``{"momentum": lk.one_cycle(...), "weight_decay": (lk.cosine(100), "relative")}``.
            A bare schedule sets the value directly (absolute); a ``(schedule, mode)`` pair
            picks the mode (relative multiplies ``group["initial_<name>"]``). ``"momentum"``
            drives ``betas[0]`` on Adam-family groups.

    ``step(metric=None)`` reports ``metric`` (if given) to every plateau in the schedules, then
    advances one step. ``report(metric)`` reports without advancing. Plateaus follow torch's
    ReduceLROnPlateau exactly, including its ``eps=1e-8`` measured on each group's absolute lr.
    """

    _ready: bool = False
    _warned_unused_metric: bool = False

    def __init__(
        self,
        optimizer: Optimizer,
        schedule: Schedule | str,
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
        self.schedule = _as_schedule("LRScheduler: schedule", schedule)
        self.mode: Mode = _check_mode("LRScheduler: mode", mode)
        if steps_per_epoch is not None and (not _is_integer(steps_per_epoch)
                                            or steps_per_epoch < 1):
            raise ValueError(
                f"LRScheduler: steps_per_epoch must be an integer >= 1 or None; got "
                f"{steps_per_epoch!r}"
            )
        self.steps_per_epoch = None if steps_per_epoch is None else int(steps_per_epoch)
        self._tracks: list[_Track] = [_Track("lr", self.schedule, self.mode, steps_per_epoch)]
        for name, entry in (hyperparams or {}).items():
            self._tracks.append(self._hyper_track(name, entry))
        self._has_hyperparams = len(self._tracks) > 1
        self._n_groups = 0
        # torch's __init__ records group["initial_lr"], patches optimizer.step and calls
        # self.step() once; that call returns early because self._ready is still False.
        super().__init__(optimizer)
        self._adopt_new_groups()
        self._ready = True
        self._step_count = 1  # what torch's constructor step leaves
        self._apply()

    def _hyper_track(self, name: Any, entry: Any) -> _Track:
        if not isinstance(name, str) or name in ("lr", "params") or name.startswith("initial_"):
            raise ValueError(
                f"LRScheduler: hyperparams keys must name a param-group setting other than "
                f"'lr' and 'params'; got {name!r}"
            )
        mode: Any = "absolute"
        if isinstance(entry, tuple):
            if len(entry) != 2:
                raise ValueError(
                    f"LRScheduler: hyperparams[{name!r}] must be a schedule or a "
                    f"(schedule, mode) pair; got {entry!r}"
                )
            entry, mode = entry
        schedule = _as_schedule(f"LRScheduler: hyperparams[{name!r}]", entry)
        mode = _check_mode(f"LRScheduler: the mode of hyperparams[{name!r}]", mode)
        return _Track(name, schedule, mode, self.steps_per_epoch)

    # -- the per-iteration path ----------------------------------------------------------
    def step(self, metric: Any = None) -> None:  # type: ignore[override]
        """Report ``metric`` (if not None) to every plateau, then advance one step and write
        the new values into the param groups. Call it after ``optimizer.step()``."""
        if not self._ready:  # the call torch's constructor makes; see the module docstring
            return
        if metric is not None:
            self._report(metric)
        self._step_count += 1
        for track in self._tracks:
            for stepper in track.steppers:
                stepper.count += 1
        self._apply()

    def report(self, metric: Any) -> None:
        """Feed ``metric`` to every plateau active at the current step, without advancing. A
        reduction it causes is written into the param groups at once."""
        if self._report(metric):
            self._apply()

    def _report(self, metric: Any) -> bool:
        value = v.metric("LRScheduler.step", metric)
        if len(self.optimizer.param_groups) != self._n_groups:
            self._adopt_new_groups()
        stateful = False
        for track in self._tracks:
            if track.schedule.has_state:
                track.report(value)
                stateful = True
        if not stateful and not self._warned_unused_metric:
            self._warned_unused_metric = True
            warnings.warn(
                f"LRScheduler: a metric was reported but no schedule here contains plateau() "
                f"({self._tracks[0].spec}); metrics are ignored (this is said once)",
                UserWarning,
                stacklevel=3,
            )
        return stateful

    def _apply(self) -> None:
        groups = self.optimizer.param_groups
        if len(groups) != self._n_groups:
            self._adopt_new_groups()
        lr_track = self._tracks[0]
        values = lr_track.values()
        for group, value in zip(groups, values, strict=True):
            current = group["lr"]
            if isinstance(current, Tensor):
                current.fill_(value)
            else:
                group["lr"] = value
        self._last_lr: list[Any] = values
        if self._has_hyperparams:
            for track in self._tracks[1:]:
                track.write(groups, track.values())
        self.last_epoch = lr_track.steppers[0].count

    def _adopt_new_groups(self) -> None:
        groups = self.optimizer.param_groups
        for index in range(self._n_groups, len(groups)):
            group = groups[index]
            if "initial_lr" not in group:  # added with add_param_group after construction
                lr = group["lr"]
                group["initial_lr"] = lr.clone() if isinstance(lr, Tensor) else lr
                self.base_lrs.append(_scalar(group["initial_lr"]))
            for track in self._tracks:
                track.adopt(group, index)
        self._n_groups = len(groups)

    # -- torch's read-only API ------------------------------------------------------------
    def get_lr(self) -> list[float | Tensor]:
        """The rates for the current step (what ``step()`` last wrote)."""
        return list(self._tracks[0].values())

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
        return self._tracks[0].count

    @property
    def t(self) -> float:
        """The schedule's time: ``count``, or ``count / steps_per_epoch``."""
        return self._tracks[0].steppers[0].t

    # -- checkpoints ----------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Plain data (``torch.load(weights_only=True)`` reads it): the step count, each
        schedule's spec and mode, each group's base value and the plateau states."""
        if len(self.optimizer.param_groups) != self._n_groups:
            self._adopt_new_groups()
        lr_state = self._tracks[0].state_dict()
        return {
            "count": self.count,
            "spec": lr_state["spec"],
            "mode": self.mode,
            "steps_per_epoch": self.steps_per_epoch,
            "base_lrs": lr_state["bases"],
            "plateaus": lr_state["plateaus"],
            "hyperparams": {t.name: t.state_dict() for t in self._tracks[1:]},
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore a ``state_dict()`` and write the restored step's values into the groups, so
        optimizer and scheduler states may be loaded in either order. Warns
        (``lrkit.SpecMismatchWarning``) naming both schedules when they differ."""
        what = "LRScheduler.load_state_dict"
        if not isinstance(state_dict, dict) or "count" not in state_dict:
            raise ValueError(
                f"{what}: expected a dict made by LRScheduler.state_dict(); got "
                f"{type(state_dict).__name__}"
            )
        count = state_dict["count"]
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise ValueError(f"{what}: count must be an integer >= 0; got {count!r}")
        if len(self.optimizer.param_groups) != self._n_groups:
            self._adopt_new_groups()
        saved_spe = state_dict.get("steps_per_epoch")
        if saved_spe != self.steps_per_epoch:
            warnings.warn(
                f"{what}: the state was saved with steps_per_epoch={saved_spe!r}, this "
                f"scheduler has steps_per_epoch={self.steps_per_epoch!r} (schedule "
                f"{self._tracks[0].spec!r}); the step count is restored as is",
                SpecMismatchWarning,
                stacklevel=2,
            )
        lr_state = {
            "spec": state_dict.get("spec"),
            "mode": state_dict.get("mode"),
            "bases": state_dict.get("base_lrs", self._tracks[0].bases),
            "plateaus": state_dict.get("plateaus"),
        }
        self._tracks[0].load_state_dict(lr_state, count, what)
        if self.mode == "relative" and state_dict.get("mode") == "relative":
            self.base_lrs = list(self._tracks[0].bases)
            for group, base in zip(self.optimizer.param_groups, self.base_lrs, strict=True):
                initial = group.get("initial_lr")
                if isinstance(initial, Tensor):
                    initial.fill_(base)
                else:
                    group["initial_lr"] = base
        saved_hyper = state_dict.get("hyperparams") or {}
        for track in self._tracks[1:]:
            if track.name in saved_hyper:
                track.load_state_dict(saved_hyper[track.name], count, what)
            else:
                warnings.warn(
                    f"{what}: the state holds no schedule for hyperparameter {track.name!r} "
                    f"(this scheduler has {track.spec!r}); its step count is set to {count}",
                    SpecMismatchWarning,
                    stacklevel=2,
                )
                for stepper in track.steppers:
                    stepper.count = count
        extra = sorted(set(saved_hyper) - {t.name for t in self._tracks[1:]})
        if extra:
            warnings.warn(
                f"{what}: the state schedules hyperparameters {extra} that this scheduler does "
                "not; they are ignored",
                SpecMismatchWarning,
                stacklevel=2,
            )
        self._step_count = count + 1
        self._apply()
