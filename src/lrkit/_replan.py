"""What the drivers (``Stepper``, ``lrkit.torch.LRScheduler``) share about clocks and changes of
plan: the ``by=`` of ``step``, ``replan``, and how a saved plan meets the plan of the driver it is
loaded into.

Resuming, with ``saved`` the plan in the state, ``now`` the driver's plan and ``t`` the restored
time:

1. ``now == saved``: exact, quiet.
2. ``now`` is ``saved`` changed by splices/cooldowns at or after ``t`` (the plan agrees up to the
   restored step): exact, quiet; ``now`` is followed.
3. ``saved`` is ``now`` changed by splices/cooldowns that began at or before ``t`` (a run that
   called ``replan``, resumed by code that builds the original plan): the saved plan is adopted,
   so the resume continues it exactly (said at INFO level).
4. Anything else: ``now`` is followed and the change is reported, as a ``SpecMismatchWarning`` and
   through ``logging`` (trainers such as Hugging Face's swallow a lone warning on resume), with
   the rate before and after and the splice that would have avoided a jump.
"""

from __future__ import annotations

import logging
import numbers
import warnings
from dataclasses import dataclass
from typing import Any

from lrkit import _validate as v
from lrkit.schedules._base import Schedule
from lrkit.schedules.replan import Cooldown, Splice

__all__ = [
    "MAX_COUNT", "Reconciled", "SpecMismatchWarning", "advance", "by_units", "check_count",
    "reconcile", "replanned", "say",
]

logger = logging.getLogger("lrkit")

MAX_COUNT = 2**63 - 1
"""The largest clock a driver keeps (an int64, as every framework's step counter): far past the
token count of any run (GPT-3's 300B tokens is 2**38)."""


class SpecMismatchWarning(UserWarning):
    """A state saved for one plan was loaded into a driver of another (rates before and after,
    and the fix, in the message; also logged on the ``lrkit`` logger)."""


def by_units(owner: str, by: Any) -> int:
    """The ``by`` of ``step(..., by=)``: a non-negative integer (tokens or samples this step)."""
    if isinstance(by, bool) or not isinstance(by, numbers.Integral) or by < 0:
        raise ValueError(
            f"{owner}: by must be a non-negative integer (the steps, tokens or samples this "
            f"step advances the clock by); got {type(by).__name__} {by!r:.80}"
        )
    return int(by)


def advance(owner: str, count: int, by: Any) -> int:
    """``count + by``, checked (``by`` validated unless it is a plain non-negative int)."""
    if by.__class__ is not int or by < 0:
        by = by_units(owner, by)
    new: int = count + int(by)
    if new > MAX_COUNT:
        raise ValueError(
            f"{owner}: by={by!r} would take the clock from {count} to {new}, past {MAX_COUNT} "
            "(2**63 - 1); allowed: a clock that fits an int64"
        )
    return new


def check_count(owner: str, count: Any) -> int:
    """A saved step count: an integer from 0 to ``MAX_COUNT`` (no rounding of 2.9)."""
    if isinstance(count, bool) or not isinstance(count, numbers.Integral) or not (
            0 <= int(count) <= MAX_COUNT):
        raise ValueError(
            f"{owner}: count must be an integer from 0 to 2**63 - 1; got "
            f"{type(count).__name__} {count!r:.80}"
        )
    return int(count)


def replanned(owner: str, current: Schedule, schedule: Any, at: float, ramp: Any) -> Splice:
    """``splice(current, schedule, at, ramp)``, the plan a driver follows after ``replan``."""
    from lrkit.spec import as_schedule

    schedule = as_schedule(f"{owner}: schedule", schedule)
    ramp = v.steps(owner, "ramp", ramp, allow_zero=True)
    return Splice(current, schedule, at, ramp)


@dataclass(frozen=True)
class Reconciled:
    """How a saved plan meets a driver's: the plan to follow, whether its plateau states are the
    saved ones (extended with fresh states for what a change added), and what to say."""

    plan: Schedule
    states_from_saved: bool
    message: str | None = None
    info: str | None = None


def _parse(spec: str) -> Schedule | None:
    from lrkit.spec import parse

    try:
        return parse(spec)
    except ValueError:  # saved by an lrkit that knows more schedules: no structure to compare
        return None


def _changes_after(now: Schedule, saved: Schedule, t: float) -> bool:
    """``now`` is ``saved`` changed only by splices/cooldowns at or after ``t``."""
    node: Schedule = now
    while node != saved:
        if not isinstance(node, Splice | Cooldown) or node.at < t:
            return False
        node = node.old if isinstance(node, Splice) else node.schedule
    return True


def _extends(saved: Schedule, now: Schedule, t: float) -> bool:
    """``saved`` is ``now`` changed by splices/cooldowns that all began at or before ``t``."""
    if not isinstance(saved, Splice | Cooldown):
        return False
    node: Schedule = saved
    while node != now:
        if not isinstance(node, Splice | Cooldown) or node.at > t:
            return False
        node = node.old if isinstance(node, Splice) else node.schedule
    return True


def reconcile(owner: str, saved_spec: Any, now: Schedule, t: float, scale: float,
              states: list[Any] | None) -> Reconciled:
    """The plan to follow after loading a state saved for ``saved_spec`` at time ``t`` into a
    driver following ``now`` (``scale``: the group's base, for the rates in the message;
    ``states``: the saved plateau states, to evaluate the saved plan)."""
    if saved_spec is None or saved_spec == str(now):
        return Reconciled(now, True)
    saved = _parse(saved_spec) if isinstance(saved_spec, str) else None
    if saved is not None:
        if saved == now:
            return Reconciled(now, True)
        if _changes_after(now, saved, t):
            return Reconciled(now, True)
        if _extends(saved, now, t):
            return Reconciled(saved, True, info=(
                f"{owner}: continuing the saved plan {saved_spec} (the plan {now} changed by "
                f"replan() or cooldown/splice before step {t:g})"))
    after = scale * _rate(now, t, None)
    before = None if saved is None else scale * _rate(saved, t, states)
    jump = "" if before is None else (
        f": the rate goes from {before:.6g} (the saved plan at t={t:g}) to {after:.6g}"
        + (f" ({(after - before) / before:+.1%})" if before else ""))
    fix = (f"to change plans without a jump, build the scheduler with "
           f"lrkit.splice({saved_spec}, {now}, at={t:g}, ramp=R) (R > 0 steps of linear ramp), "
           "or load the state into a scheduler of the saved plan and call replan(new_plan, "
           "ramp=R)")
    message = (f"{owner}: resuming a state saved for the plan {saved_spec!r} into a scheduler "
               f"following {str(now)!r}, which disagrees with it before step {t:g}{jump}; {fix}")
    return Reconciled(now, False, message=message)


def _rate(s: Schedule, t: float, states: list[Any] | None) -> float:
    if s.has_state:
        st = states if states is not None and len(states) == s._n_states else (
            s._initial_states())
        return float(s.evaluate(float(t), st))
    return float(s(float(t)))


def say(message: str | None, info: str | None = None, *, stacklevel: int = 3) -> None:
    """A change of plan is warned about and logged; a continued plan is logged at INFO."""
    if message:
        logger.warning(message)
        warnings.warn(message, SpecMismatchWarning, stacklevel=stacklevel)
    if info:
        logger.info(info)
