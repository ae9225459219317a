"""``TimmScheduler``: any lrkit schedule behind timm's scheduler interface, for timm's ``train.py``.

timm's training loop never counts for its scheduler: it passes the time in. After each optimizer
update it calls ``step_update(num_updates=n, metric=...)``, after each epoch ``step(epoch + 1,
eval_metric)``, and on resume ``step(start_epoch)`` (or ``step_update(start_epoch *
updates_per_epoch)``). ``t_in_epochs`` says which of the two moves the schedule; the other call
changes nothing, as in timm's ``Scheduler``. Per param group ``g``::

    relative:  g["lr"] = g["initial_lr"] * s(t) * g.get("lr_scale", 1)
    absolute:  g["lr"] = s(t) * g.get("lr_scale", 1)

with ``t = epoch`` (``t_in_epochs=True``), ``t = num_updates`` (``t_in_epochs=False``), or
``t = num_updates / updates_per_epoch`` (``t_in_epochs=False`` with ``updates_per_epoch``: a
schedule written in epochs, moved every update). ``lr_scale`` is timm's layer-wise decay factor,
applied as timm's ``update_groups`` applies it.

A ``plateau`` hears the metric given to ``step()`` (the epoch's evaluation metric), reported at the
time before the step moves it; ``step_update``'s metric (train.py passes the running training
loss there) is not reported, as timm's own ``PlateauLRScheduler`` ignores it.

Importing this module imports torch (``pip install 'lrkit[torch]'``), not timm.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Literal

from lrkit._extras import require

require("torch", "torch")

from torch import Tensor  # noqa: E402
from torch.optim import Optimizer  # noqa: E402

from lrkit import _validate as v  # noqa: E402
from lrkit._format import FORMAT_VERSION, check_format  # noqa: E402
from lrkit.schedules._base import Schedule  # noqa: E402
from lrkit.spec import as_schedule  # noqa: E402
from lrkit.stepper import Stepper  # noqa: E402

__all__ = ["TimmScheduler"]

#: torch's ReduceLROnPlateau (which timm's PlateauLRScheduler wraps) ignores a reduction smaller
#: than this, in lr units.
TORCH_PLATEAU_EPS = 1e-8

_OWNER = "TimmScheduler"


def _scalar(value: Any) -> float:
    return float(value.item()) if isinstance(value, Tensor) else float(value)


def _base(owner: str, name: str, value: Any) -> float:
    """A base rate: a finite real number >= 0 (a one-element tensor is read)."""
    if isinstance(value, Tensor) and value.numel() == 1:
        value = value.item()
    f = v.number(owner, name, value)
    if f < 0:
        raise v.fail(owner, name, value, "a finite real number >= 0")
    return f


class TimmScheduler:
    """timm's scheduler interface (``step``, ``step_update``, ``state_dict``,
    ``load_state_dict``, ``t_in_epochs``) driving an lrkit schedule.

    Args:
        optimizer: the torch optimizer whose param groups' ``lr`` is scheduled.
        schedule: an lrkit schedule or a spec string, one for every param group.
        mode: ``"relative"`` (the default): ``lr = initial_lr * s(t)``, ``initial_lr`` being
            each group's lr when the scheduler is built (kept in ``group["initial_lr"]`` as timm
            keeps it); ``"absolute"``: ``lr = s(t)``.
        t_in_epochs: True (timm's default): ``step(epoch)`` sets the time and ``step_update``
            changes nothing; False: ``step_update(num_updates)`` sets it and ``step`` only
            reports its metric.
        updates_per_epoch: with ``t_in_epochs=False``, the schedule is written in epochs and
            evaluated at ``num_updates / updates_per_epoch``; without it, it is written in
            updates (as timm's factory converts its epochs to updates).

    The rate written after construction is ``s(0)``. Time may be set to any step, backwards
    included (timm's resume calls ``step(start_epoch)``); plateau states are kept.
    """

    def __init__(
        self,
        optimizer: Optimizer,
        schedule: Schedule | str,
        *,
        mode: Literal["relative", "absolute"] = "relative",
        t_in_epochs: bool = True,
        updates_per_epoch: int | None = None,
    ) -> None:
        groups = getattr(optimizer, "param_groups", None)
        if not isinstance(groups, list) or not groups:
            raise ValueError(
                f"{_OWNER}: optimizer must be a torch optimizer with param groups; got "
                f"{type(optimizer).__name__}"
            )
        schedule = as_schedule(f"{_OWNER}: schedule", schedule)
        mode = v.choice(_OWNER, "mode", mode, ("relative", "absolute"))  # type: ignore[assignment]
        t_in_epochs = v.boolean(_OWNER, "t_in_epochs", t_in_epochs)
        if updates_per_epoch is not None:
            if t_in_epochs:
                raise ValueError(
                    f"{_OWNER}: updates_per_epoch={updates_per_epoch!r} applies only with "
                    "t_in_epochs=False (the schedule moved by step_update); allowed with "
                    "t_in_epochs=True: None"
                )
            updates_per_epoch = v.integer(_OWNER, "updates_per_epoch", updates_per_epoch,
                                          minimum=1)
        bases = [1.0] * len(groups)
        if mode == "relative":
            bases = [_base(_OWNER, f"param_groups[{i}]['initial_lr']",
                           g.get("initial_lr", g["lr"])) for i, g in enumerate(groups)]
            for g in groups:
                g.setdefault("initial_lr", g["lr"].clone() if isinstance(g["lr"], Tensor)
                             else g["lr"])
        self.optimizer = optimizer
        self.schedule = schedule
        self.mode = mode
        self.t_in_epochs = t_in_epochs
        self.updates_per_epoch = updates_per_epoch
        self.base_values = bases
        self.metric: float | None = None  # the last metric given to step() (timm keeps it too)
        self._stepper = Stepper(schedule, updates_per_epoch)
        self._last_lr: list[float] = []
        self._apply()

    # -- timm's calls ---------------------------------------------------------------------
    def step(self, epoch: int, metric: Any = None) -> None:
        """End of epoch ``epoch - 1``: report ``metric`` (if not None) to the plateaus, then,
        with ``t_in_epochs``, move the schedule to ``t = epoch`` and write the rates."""
        epoch = v.integer(f"{_OWNER}.step", "epoch", epoch)
        if metric is not None:
            value = v.metric(f"{_OWNER}.step", metric)
            self.metric = value
            if self._stepper._states:
                self._stepper.report(value, self._eps())
        if self.t_in_epochs:
            self._stepper.count = epoch
        self._apply()  # also writes a reduction the metric caused

    def step_update(self, num_updates: int, metric: Any = None) -> None:
        """After update ``num_updates``: with ``t_in_epochs=False``, move the schedule to
        ``num_updates`` (or ``num_updates / updates_per_epoch`` epochs) and write the rates;
        otherwise nothing. ``metric`` is not reported (see the module docstring)."""
        num_updates = v.integer(f"{_OWNER}.step_update", "num_updates", num_updates)
        if not self.t_in_epochs:
            self._stepper.count = num_updates
            self._apply()

    def _eps(self) -> float:
        """torch's plateau eps in schedule units (relative: over the first group's base)."""
        base = self.base_values[0]
        return TORCH_PLATEAU_EPS / base if base > 0 else math.inf

    def _apply(self) -> None:
        value = self._stepper.value()
        groups = self.optimizer.param_groups
        if len(groups) != len(self.base_values):
            raise ValueError(
                f"{_OWNER}: the optimizer has {len(groups)} param groups but had "
                f"{len(self.base_values)} when the scheduler was built; allowed: build the "
                "scheduler after adding every param group"
            )
        rates = []
        for group, base in zip(groups, self.base_values, strict=True):
            lr = base * value
            if "lr_scale" in group:
                lr = lr * group["lr_scale"]
            current = group["lr"]
            if isinstance(current, Tensor):
                current.fill_(lr)  # in place: a compiled optimizer step keeps its graph
            else:
                group["lr"] = lr
            rates.append(float(lr))
        self._last_lr = rates

    # -- reading --------------------------------------------------------------------------
    @property
    def t(self) -> float:
        """The schedule's current time (epochs or updates, as ``t_in_epochs`` says)."""
        return self._stepper.t

    def get_last_lr(self) -> list[float]:
        """The rates last written, one per param group."""
        return list(self._last_lr)

    def __repr__(self) -> str:
        extra = "" if self.updates_per_epoch is None else (
            f", updates_per_epoch={self.updates_per_epoch}")
        return (f"TimmScheduler(schedule={self._stepper.spec!r}, mode={self.mode!r}, "
                f"t_in_epochs={self.t_in_epochs}{extra}, t={self.t:g})")

    # -- checkpoints ----------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Plain data (``torch.load(weights_only=True)`` reads it): the time, the spec, the
        plateau states, the clock (``t_in_epochs``, ``updates_per_epoch``), the mode, each
        group's base rate and the format version."""
        state = self._stepper.state_dict()
        state.update(
            mode=self.mode,
            t_in_epochs=self.t_in_epochs,
            updates_per_epoch=self.updates_per_epoch,
            base_lrs=list(self.base_values),
            metric=self.metric,
            format_version=FORMAT_VERSION,
        )
        return state

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore a ``state_dict()`` and write the restored time's rates. A state that does not
        fit (another clock, mode or number of param groups, a bad field) is a ``ValueError``
        and changes nothing; another schedule is a ``lrkit.SpecMismatchWarning``."""
        what = f"{_OWNER}.load_state_dict"
        if not isinstance(state_dict, Mapping):
            raise ValueError(
                f"{what}: expected a dict made by TimmScheduler.state_dict(); got "
                f"{type(state_dict).__name__}"
            )
        state = dict(state_dict)
        check_format(what, state)
        missing = [k for k in ("count", "t_in_epochs", "mode", "base_lrs") if k not in state]
        if missing:
            raise ValueError(
                f"{what}: expected a dict made by TimmScheduler.state_dict(); it lacks {missing}"
            )
        count = v.integer(what, "count", state["count"])
        for key in ("t_in_epochs", "updates_per_epoch", "mode"):
            saved, here = state.get(key), getattr(self, key)
            if saved != here or type(saved) is not type(here):
                raise ValueError(
                    f"{what}: the state was saved with {key}={saved!r}; this scheduler has "
                    f"{key}={here!r}; allowed: the same clock and mode as when it was saved"
                )
        bases = state["base_lrs"]
        n = len(self.base_values)
        if not isinstance(bases, list | tuple) or len(bases) != n:
            raise ValueError(
                f"{what}: base_lrs must be a list of {n} rates (one per param group); got "
                f"{bases!r}"
            )
        bases = [_base(what, f"base_lrs[{i}]", b) for i, b in enumerate(bases)]
        if self.mode == "absolute" and any(b != 1.0 for b in bases):
            raise ValueError(f"{what}: base_lrs must be all 1.0 in absolute mode; got {bases!r}")
        metric = state.get("metric")
        if metric is not None:
            metric = v.metric(what, metric)
        plateaus = state.get("plateaus", [])
        if not isinstance(plateaus, list):
            raise ValueError(f"{what}: plateaus must be a list of plateau states; got {plateaus!r}")
        stepper = Stepper(self.schedule, self.updates_per_epoch)
        try:
            stepper.load_state_dict({"count": count, "spec": state.get("spec"),
                                     "plateaus": plateaus})
        except (TypeError, OverflowError) as exc:
            raise ValueError(f"{what}: a plateau state is malformed ({exc}); got {plateaus!r}"
                             ) from None
        if len(self.optimizer.param_groups) != n:
            raise ValueError(
                f"{what}: the optimizer now has {len(self.optimizer.param_groups)} param groups, "
                f"the scheduler was built for {n}; allowed: the same param groups"
            )
        # everything checked: commit
        self._stepper = stepper
        self.base_values = bases
        self.metric = metric
        if self.mode == "relative":
            for group, base in zip(self.optimizer.param_groups, bases, strict=False):
                initial = group.get("initial_lr")
                if isinstance(initial, Tensor):
                    initial.fill_(base)
                else:
                    group["initial_lr"] = base
        self._apply()
