"""``ReportMetric``: after each validation, the monitored metric goes to every lrkit scheduler.

Lightning feeds a metric only to schedulers configured with ``reduce_on_plateau`` and only at
the scheduler's own interval: an lrkit schedule stepped per batch (``interval: "step"``) and
containing ``plateau`` either never hears a metric or (with ``reduce_on_plateau``) fails at the
first batch, before any validation ran. With ``ReportMetric`` the scheduler is stepped per batch
as usual and hears ``trainer.callback_metrics[monitor]`` right after each validation::

    def configure_optimizers(self):
        opt = torch.optim.AdamW(self.parameters(), lr=3e-4)
        sched = LRScheduler(opt, lk.warmup(lk.plateau(patience=2), 500))
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

    trainer = Trainer(callbacks=[ReportMetric("val_loss")])
"""

from __future__ import annotations

import warnings
from typing import Any

from lrkit.lightning._base import Callback
from lrkit.torch._trainers import (
    check_monitor,
    describe,
    expect_reports_every,
    unwrap,
)
from lrkit.torch.scheduler import LRScheduler

__all__ = ["ReportMetric"]

_RECIPE = ('return {"optimizer": opt, "lr_scheduler": {"scheduler": LRScheduler(opt, schedule), '
           '"interval": "step"}} from configure_optimizers')


class ReportMetric(Callback):  # type: ignore[misc]
    """After each validation of ``trainer.fit`` (not the sanity check), reports
    ``trainer.callback_metrics[monitor]`` to every lrkit ``LRScheduler`` of the trainer
    (``scheduler.report(value)``): the same values, at the same points, as Lightning gives a
    ``ReduceLROnPlateau`` that steps after each validation.

    Args:
        monitor: the logged metric, ``"val_loss"`` by default (``self.log("val_loss", ...)`` in
            ``validation_step``; in multi-device runs log it with ``sync_dist=True`` so that
            every rank reports the same value and takes the same decision).
        strict: a validation without ``monitor`` in ``trainer.callback_metrics`` is an error
            naming the metrics there (the default, as Lightning's ``strict`` for
            ReduceLROnPlateau); ``strict=False`` warns and skips it.

    One class for both Lightning distributions: it derives from ``lightning.pytorch.Callback``
    and ``pytorch_lightning.Callback`` (whichever are installed).

    Errors at the start of ``fit``: no lrkit scheduler among the trainer's; an lrkit scheduler
    configured with ``reduce_on_plateau`` (Lightning would then step it only when the metric
    exists, and feed it as well). A scheduler without any ``plateau`` does not use the metric:
    that is said once, in a ``UserWarning``.
    """

    def __init__(self, monitor: str = "val_loss", strict: bool = True) -> None:
        super().__init__()
        self.monitor = check_monitor("ReportMetric", monitor)
        if not isinstance(strict, bool):
            raise ValueError(f"ReportMetric: strict must be True or False; got {strict!r}")
        self.strict = strict
        self._listening: list[tuple[Any, LRScheduler]] = []  # (its config, the scheduler)
        self._warned_unused = False

    def on_fit_start(self, trainer: Any, pl_module: Any) -> None:
        configs = list(trainer.lr_scheduler_configs)
        found: list[tuple[Any, LRScheduler]] = []
        for index, config in enumerate(configs):
            scheduler = unwrap(config.scheduler)
            if scheduler is None:
                continue
            if config.reduce_on_plateau:
                raise ValueError(
                    f"ReportMetric: lr scheduler {index} (an lrkit LRScheduler) is configured "
                    f"with reduce_on_plateau=True (monitor {config.monitor!r}); Lightning then "
                    "steps it only where that metric exists (MisconfigurationException at the "
                    "first batch, or a frozen warmup with strict=False) and feeds it too. "
                    "Remove 'reduce_on_plateau' and 'monitor' from the scheduler's dict and "
                    "keep 'interval': 'step': ReportMetric does the reporting"
                )
            found.append((config, scheduler))
        if not found:
            kinds = [describe(c.scheduler) for c in configs]
            raise ValueError(
                f"ReportMetric: none of the trainer's lr schedulers is an lrkit LRScheduler "
                f"(it has: {kinds}); {_RECIPE}"
            )
        self._listening = [(c, s) for c, s in found if s.has_plateau]
        if not self._listening and not self._warned_unused:
            self._warned_unused = True
            found_specs = ", ".join(s.spec for _, s in found)
            warnings.warn(
                f"ReportMetric: no lrkit scheduler of the trainer contains plateau() "
                f"({found_specs}), so {self.monitor!r} is not used and nothing is reported "
                "(this is said once)",
                UserWarning,
                stacklevel=2,
            )

    def on_train_start(self, trainer: Any, pl_module: Any) -> None:
        """The validation interval is known now: each scheduler's NoMetricWarning watch waits
        for at least twice it."""
        batches = _batches_between_validations(trainer)
        if batches is None:
            return
        per_epoch = trainer.num_training_batches
        accumulate = max(1, int(getattr(trainer, "accumulate_grad_batches", 1) or 1))
        for config, scheduler in self._listening:
            frequency = max(1, int(getattr(config, "frequency", 1) or 1))
            if getattr(config, "interval", "epoch") == "step":
                expect_reports_every(scheduler, batches / accumulate / frequency)
            else:
                expect_reports_every(scheduler, max(1.0, batches / per_epoch) / frequency)

    def on_validation_end(self, trainer: Any, pl_module: Any) -> None:
        if trainer.sanity_checking or not self._listening or trainer.state.fn != "fit":
            return
        metrics = trainer.callback_metrics
        value = metrics.get(self.monitor)
        if value is None:
            message = (
                f"ReportMetric: monitor {self.monitor!r} is not among the logged metrics "
                f"{sorted(metrics)}; log it in validation_step (self.log({self.monitor!r}, "
                "loss)) or pick one of those"
            )
            if self.strict:
                raise ValueError(message)
            warnings.warn(f"{message}; nothing reported for this validation (strict=False)",
                          UserWarning, stacklevel=2)
            return
        for _, scheduler in self._listening:
            scheduler.report(value)

    def on_fit_end(self, trainer: Any, pl_module: Any) -> None:
        self._listening = []


def _batches_between_validations(trainer: Any) -> float | None:
    """Training batches from one validation to the next (the longest gap), when the trainer
    validates on a batch count: ``val_check_interval`` within the epoch, or every
    ``check_val_every_n_epoch`` epochs; None when unknown (time-based validation, an iterable
    dataset without a length) or when it never validates."""
    every = getattr(trainer, "val_check_batch", None)
    per_epoch = getattr(trainer, "num_training_batches", None)
    if getattr(trainer, "limit_val_batches", 1) == 0 or every is None or per_epoch is None:
        return None
    if not (0 < every < float("inf") and 0 < per_epoch < float("inf")):
        return None
    epochs = getattr(trainer, "check_val_every_n_epoch", 1)
    if epochs is None:  # validation every `every` batches, across epochs
        return float(every)
    if every < per_epoch and epochs == 1:
        return float(every)
    return float(per_epoch * max(1, int(epochs)))
