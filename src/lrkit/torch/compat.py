"""``GradualWarmupScheduler``: a drop-in for the ``warmup_scheduler`` package's class of the same
name (same signature and intended curve), without its bugs.

With base rate ``b`` (each group's ``initial_lr``), multiplier ``m`` and ``T = total_epoch``, the
rate after ``k`` calls of ``step()`` is::

    k <= T, m == 1:   b * k / T                      (0 -> b)
    k <= T, m  > 1:   b * (1 + (m - 1) * k / T)      (b -> m * b)
    k  > T:           after_scheduler at local step k - T - 1, started from the peak m * b
                      (without an after_scheduler: m * b)

The timing is the original's: the peak is reached at ``k = T`` and the after_scheduler's step 0
(the peak again) comes at ``k = T + 1``. As one lrkit schedule:
``b * m * lk.join([lk.warmup(lk.constant(), T, start=1/m), after], [T + 1])`` (``start=0`` when
``m == 1``). What differs from the original package is listed in docs/pytorch.md: no overshoot
at the hand-over, plain-data ``state_dict()``, ReduceLROnPlateau warmed up like any other
after_scheduler.
"""

from __future__ import annotations

import copy
import math
import numbers
from typing import Any

import torch
from torch import Tensor
from torch.optim import Optimizer
from torch.optim.lr_scheduler import ReduceLROnPlateau

from lrkit._format import FORMAT_VERSION, check_format
from lrkit._replan import check_count, say

__all__ = ["GradualWarmupScheduler"]

_LRScheduler = torch.optim.lr_scheduler.LRScheduler


def _is_real(x: object) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, bool)


def _is_integer(x: object) -> bool:
    return isinstance(x, numbers.Integral) and not isinstance(x, bool)


def _rates(what: str, name: str, value: Any, n: int) -> list[float]:
    """A saved list of ``n`` rates, each a finite number >= 0."""
    if not isinstance(value, list | tuple) or len(value) != n:
        raise ValueError(f"{what}: {name} must be a list of {n} rates (one per param group); "
                         f"got {value!r:.80}")
    for x in value:
        if isinstance(x, bool) or not _is_real(x) or not (math.isfinite(x) and x >= 0):
            raise ValueError(f"{what}: {name} must hold finite numbers >= 0; got {value!r:.80}")
    return [float(x) for x in value]


def _write(group: dict[str, Any], value: float | Tensor) -> None:
    current = group["lr"]
    if isinstance(current, Tensor):
        current.fill_(float(value))
    else:
        group["lr"] = float(value)


def _rebase(scheduler: Any, peaks: list[float]) -> None:
    """Make ``scheduler`` (and the schedulers inside a SequentialLR/ChainedScheduler) start from
    ``peaks`` instead of the optimizer's initial rates."""
    if hasattr(scheduler, "base_lrs"):
        scheduler.base_lrs = list(peaks)
    for inner in getattr(scheduler, "_schedulers", ()):
        _rebase(inner, peaks)


class GradualWarmupScheduler(_LRScheduler):
    """Linear warmup for ``total_epoch`` steps, then ``after_scheduler`` from the reached peak.

    Args:
        optimizer: the optimizer (the same one ``after_scheduler`` drives).
        multiplier: ``1.0`` ramps from 0 to each group's base lr; ``> 1`` ramps from the base
            lr to ``base * multiplier``.
        total_epoch: warmup length in ``step()`` calls; the peak is reached after that many.
        after_scheduler: any torch scheduler built on the same optimizer, ReduceLROnPlateau
            included (then pass the metric: ``step(metrics=val_loss)`` or ``step(val_loss)``).

    Like every torch scheduler, torch's base constructor calls ``step()`` once; that call is
    ignored here and the constructor writes the step-0 rate itself, so the first optimizer step
    uses it.
    """

    _ready: bool = False

    def __init__(
        self,
        optimizer: Optimizer,
        multiplier: float,
        total_epoch: int,
        after_scheduler: Any = None,
    ) -> None:
        if not _is_real(multiplier) or not (math.isfinite(multiplier) and multiplier >= 1.0):
            raise ValueError(
                f"GradualWarmupScheduler: multiplier must be a finite number >= 1.0; got "
                f"{multiplier!r}"
            )
        if not _is_integer(total_epoch) or total_epoch < 1:
            raise ValueError(
                f"GradualWarmupScheduler: total_epoch must be an integer >= 1; got "
                f"{total_epoch!r}"
            )
        if after_scheduler is not None:
            if not isinstance(after_scheduler, _LRScheduler | ReduceLROnPlateau):
                raise ValueError(
                    "GradualWarmupScheduler: after_scheduler must be a torch LR scheduler or "
                    f"None; got {type(after_scheduler).__name__}"
                )
            if after_scheduler.optimizer is not optimizer:
                raise ValueError(
                    "GradualWarmupScheduler: after_scheduler must drive the same optimizer; got "
                    "one built on another optimizer"
                )
        self.multiplier = float(multiplier)
        self.total_epoch = int(total_epoch)
        self.after_scheduler = after_scheduler
        self._plateau = isinstance(after_scheduler, ReduceLROnPlateau)
        self.count = 0
        super().__init__(optimizer)  # records initial_lr; its step() call is ignored
        self._ready = True
        self._step_count = 1
        self._write_warmup()

    # -- the curve ----------------------------------------------------------------------
    def _warm_factor(self, k: int) -> float:
        if self.multiplier == 1.0:
            return k / self.total_epoch
        return 1.0 + (self.multiplier - 1.0) * k / self.total_epoch

    def _peaks(self) -> list[float]:
        return [float(b) * self.multiplier for b in self.base_lrs]

    def _write_warmup(self) -> None:
        factor = self._warm_factor(self.count)
        values = [float(b) * factor for b in self.base_lrs]
        for group, value in zip(self.optimizer.param_groups, values, strict=True):
            _write(group, value)
        self._last_lr: list[Any] = values
        self.last_epoch = self.count

    @property
    def finished(self) -> bool:
        """True once the after_scheduler drives the rate (as in the original)."""
        return self.after_scheduler is not None and self.count > self.total_epoch

    # -- stepping -----------------------------------------------------------------------
    def step(self, epoch: Any = None, metrics: Any = None) -> None:  # type: ignore[override]
        """Advance one step (or jump to ``epoch``); ``metrics`` feeds a ReduceLROnPlateau
        after_scheduler once the warmup is over (a lone positional value is the metric then)."""
        if not self._ready:
            return
        if self._plateau and metrics is None and epoch is not None:
            epoch, metrics = None, epoch
        if metrics is not None and not self._plateau:
            raise ValueError(
                "GradualWarmupScheduler: metrics is only used by a ReduceLROnPlateau "
                f"after_scheduler; this one has {type(self.after_scheduler).__name__}"
            )
        if epoch is None:
            new_count = self.count + 1
        elif not _is_integer(epoch) or epoch < 0:
            raise ValueError(
                f"GradualWarmupScheduler: epoch must be an integer >= 0 or None; got {epoch!r}"
            )
        else:
            new_count = int(epoch)
        self._step_count += 1
        self._move_to(new_count, metrics)

    def _move_to(self, new_count: int, metrics: Any) -> None:
        previous = self.count
        self.count = new_count
        if new_count <= self.total_epoch or self.after_scheduler is None:
            if new_count <= self.total_epoch:
                self._write_warmup()
            else:
                self._write_values(self._peaks())
            return
        after = self.after_scheduler
        local = new_count - self.total_epoch - 1  # the original's timing: step 0 at T + 1
        if previous <= self.total_epoch:
            self._hand_over()
        if self._plateau:
            if metrics is None:
                raise ValueError(
                    "GradualWarmupScheduler: the after_scheduler is ReduceLROnPlateau, so step() "
                    "after the warmup needs the metric: step(metrics=val_loss)"
                )
            after.step(metrics)
            after.last_epoch = local
            self._last_lr = [float(g["lr"]) for g in self.optimizer.param_groups]
            self.last_epoch = new_count
            return
        closed_form = getattr(after, "_get_closed_form_lr", None)
        if closed_form is not None:
            after.last_epoch = local
            values = [float(v) for v in closed_form()]
            self._write_values(values)
            after._last_lr = list(values)
            return
        after.last_epoch = local - 1
        after.step()
        self._last_lr = [float(g["lr"]) for g in self.optimizer.param_groups]
        self.last_epoch = new_count

    def _hand_over(self) -> None:
        """The warmup ends at the peak: the after_scheduler starts from it, at its step 0."""
        peaks = self._peaks()
        after = self.after_scheduler
        for group, peak in zip(self.optimizer.param_groups, peaks, strict=True):
            _write(group, peak)
        if not self._plateau:
            _rebase(after, peaks)
        after.last_epoch = 0
        # torch warns about scheduler-before-optimizer order on a scheduler's first step; the
        # order is this wrapper's business, so the after_scheduler never sees its "first" step.
        after._step_count = max(int(getattr(after, "_step_count", 0)), 2)

    def _write_values(self, values: list[float]) -> None:
        for group, value in zip(self.optimizer.param_groups, values, strict=True):
            _write(group, value)
        self._last_lr = list(values)
        self.last_epoch = self.count

    # -- torch's read-only API ------------------------------------------------------------
    def get_lr(self) -> list[float | Tensor]:
        """The rates last written (the current step's)."""
        return list(self._last_lr)

    def get_last_lr(self) -> list[float | Tensor]:
        out: list[float | Tensor] = []
        for group, value in zip(self.optimizer.param_groups, self._last_lr, strict=True):
            lr = group["lr"]
            out.append(lr.detach().clone() if isinstance(lr, Tensor) else value)
        return out

    # -- checkpoints ----------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Plain data: the step, the settings, the base rates, the after_scheduler's own
        ``state_dict()`` (never the object itself) and the format version."""
        after = self.after_scheduler
        return {
            "count": self.count,
            "multiplier": self.multiplier,
            "total_epoch": self.total_epoch,
            "base_lrs": [float(b) for b in self.base_lrs],
            "after_scheduler_type": None if after is None else type(after).__name__,
            "after_scheduler": None if after is None else after.state_dict(),
            "last_lr": [float(v) for v in self._last_lr],
            "format_version": FORMAT_VERSION,
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore a ``state_dict()`` (of any lrkit up to this one; a newer format is a
        ``ValueError``) and write the restored step's rates into the groups."""
        what = "GradualWarmupScheduler.load_state_dict"
        if isinstance(state_dict, dict):  # a newer format may hold other keys: its version first
            check_format(what, state_dict)
        if not isinstance(state_dict, dict) or "count" not in state_dict:
            raise ValueError(
                f"{what}: expected a dict made by GradualWarmupScheduler.state_dict(); got "
                f"{type(state_dict).__name__}"
            )
        mine = (self.multiplier, self.total_epoch, self._after_name())
        saved = (state_dict.get("multiplier"), state_dict.get("total_epoch"),
                 state_dict.get("after_scheduler_type"))
        count = check_count(what, state_dict["count"])
        n = len(self.optimizer.param_groups)
        bases = _rates(what, "base_lrs", state_dict.get("base_lrs", self.base_lrs), n)
        after = self.after_scheduler
        after_state = state_dict.get("after_scheduler")
        if after_state is not None and not isinstance(after_state, dict):
            raise ValueError(f"{what}: after_scheduler must be the after_scheduler's "
                             f"state_dict(); got {after_state!r:.80}")
        last: list[float] | None = None
        if count > self.total_epoch and after is not None:
            last = _rates(what, "last_lr", state_dict.get("last_lr"), n)
        backup = None if after is None else copy.deepcopy(after.state_dict())
        if after is not None and after_state is not None:
            try:
                after.load_state_dict(after_state)
            except Exception as e:  # torch's schedulers check nothing: put it back, then say
                after.load_state_dict(backup)
                raise ValueError(f"{what}: the after_scheduler could not load its state "
                                 f"({type(e).__name__}: {e})") from None
        # valid: apply
        if mine != saved:
            say(f"{what}: the state was saved for multiplier={saved[0]!r}, total_epoch="
                f"{saved[1]!r}, after_scheduler={saved[2]!r}; this scheduler has multiplier="
                f"{mine[0]!r}, total_epoch={mine[1]!r}, after_scheduler={mine[2]!r}")
        self.base_lrs = list(bases)
        self.count = count
        self._step_count = count + 1
        if count <= self.total_epoch:
            self._write_warmup()
        elif after is None:
            self._write_values(self._peaks())
        else:
            self._write_values(last or [])

    def _after_name(self) -> str | None:
        return None if self.after_scheduler is None else type(self.after_scheduler).__name__
