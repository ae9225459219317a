"""A plateau that never hears a metric says so: ``MetricWatch`` and ``NoMetricWarning``.

A ``plateau`` only lowers the rate when metrics are reported. A trainer that steps the scheduler
but never reports (Hugging Face's Trainer feeds metrics only to torch's ReduceLROnPlateau;
Lightning only with ``reduce_on_plateau``) leaves it at its start, silently. The watch counts the
steps since the last report and warns once when the stretch is long:

    quiet stretch >= max(QUIET_STEPS, 4 * the longest gap between reports so far,
                         2 * steps_per_epoch)

so a run that reports every epoch, however long its epochs, is never warned once the first
report has arrived, and a run that never reports is warned after ``QUIET_STEPS`` steps (or two
epochs, when the driver knows the epoch length: pass ``steps_per_epoch`` when evaluations are
further apart than that; ``warnings.filterwarnings("ignore", category=NoMetricWarning)``
silences it). The trainer callbacks know the evaluation interval (HF's ``eval_steps`` or epoch,
Lightning's validation interval) and tell the watch (``expect``): the stretch is then at least
twice that interval, so the first evaluation of a long epoch is waited for.
"""

from __future__ import annotations

import logging
import math
import warnings

__all__ = ["QUIET_STEPS", "MetricWatch", "NoMetricWarning"]

QUIET_STEPS = 2000
"""Steps without any report before a plateau that has never heard a metric is reported."""

FIXES = (
    "report one after each evaluation: in a plain loop sched.step(val_loss) or "
    "sched.report(val_loss); with Hugging Face's Trainer add "
    "lrkit.transformers.ReportMetric(monitor='eval_loss') to callbacks=[...] (and evaluate: "
    "eval_strategy='steps' or 'epoch'); with Lightning add "
    "lrkit.lightning.ReportMetric(monitor='val_loss') to Trainer(callbacks=[...])"
)


class NoMetricWarning(UserWarning):
    """A schedule containing ``plateau()`` has been stepped a long stretch without any reported
    metric, so its rate cannot drop."""


class MetricWatch:
    """The quiet-stretch rule for one driver (see the module docstring). ``due`` is the step
    count at which to warn (``math.inf`` when there is nothing to watch or it has warned)."""

    __slots__ = ("due", "last", "longest", "owner", "per_epoch", "spec")

    def __init__(self, owner: str, spec: str, active: bool, steps_per_epoch: int | None) -> None:
        self.owner = owner
        self.spec = spec
        self.per_epoch = 2 * steps_per_epoch if steps_per_epoch else 0
        self.last = 0
        self.longest = 0
        self.due: float = max(QUIET_STEPS, self.per_epoch) if active else math.inf

    def expect(self, every: int) -> None:
        """Reports are expected every ``every`` steps (a trainer's evaluation interval): the
        quiet stretch becomes at least ``2 * every``."""
        if every > 0 and 2 * every > self.per_epoch:
            self.per_epoch = 2 * every
            if self.due != math.inf:
                self.due = self.last + max(QUIET_STEPS, 4 * self.longest, self.per_epoch)

    def restart(self, count: int) -> None:
        """Count quiet steps from ``count`` (after a checkpoint is loaded)."""
        if self.due != math.inf:
            self.last = count
            self.due = count + max(QUIET_STEPS, 4 * self.longest, self.per_epoch)

    def reported(self, count: int) -> None:
        """A metric was reported at step ``count``."""
        gap = count - self.last
        if gap > self.longest:
            self.longest = gap
        self.last = count
        if self.due != math.inf:
            self.due = count + max(QUIET_STEPS, 4 * self.longest, self.per_epoch)

    def warn(self, count: int) -> None:
        """Warn once: called when ``count >= due``."""
        self.due = math.inf
        since = "since the start" if self.longest == 0 and self.last == 0 else (
            f"since the last report at step {self.last}")
        message = (
            f"{self.owner}: the schedule {self.spec} contains plateau(), but no metric has been "
            f"reported in the {count - self.last} steps {since}, so its rate cannot drop; "
            f"{FIXES}. If metrics do come, only further apart, pass steps_per_epoch= or filter "
            f"lrkit.NoMetricWarning. (Said once.)")
        logging.getLogger("lrkit").warning(message)  # trainers may swallow the warning
        warnings.warn(message, NoMetricWarning, stacklevel=3)
