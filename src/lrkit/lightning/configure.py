"""``configure_optimizers``: LightningCLI's, with lrkit schedulers stepped per batch.

``LightningCLI`` builds the ``lr_scheduler`` of a config and returns it from
``configure_optimizers`` as ``[optimizer], [scheduler]``: Lightning then steps it once per
epoch, and only its own ``ReduceLROnPlateau`` may carry a ``monitor``. ``configure_optimizers``
here returns an lrkit ``LRScheduler`` with ``"interval": "step"`` instead (everything else as
LightningCLI does); the monitored metric comes from ``lrkit.lightning.ReportMetric`` in the
trainer's callbacks::

    from lightning.pytorch.cli import LightningCLI
    from lrkit.lightning import configure_optimizers

    class CLI(LightningCLI):
        configure_optimizers = staticmethod(configure_optimizers)

``lrkit.lightning.cli.LightningCLI`` is that class for ``lightning.pytorch``; for
``pytorch_lightning`` write the two lines above with ``pytorch_lightning.cli.LightningCLI``.
"""

from __future__ import annotations

import warnings
from typing import Any

import torch

from lrkit.torch._trainers import unwrap

__all__ = ["configure_optimizers"]

_CALLBACK_YAML = (
    "trainer:\n  callbacks:\n    - class_path: lrkit.lightning.ReportMetric\n"
    "      init_args: {monitor: val_loss}"
)


def configure_optimizers(lightning_module: Any, optimizer: Any,
                         lr_scheduler: Any = None) -> Any:
    """``LightningCLI.configure_optimizers`` with lrkit schedulers stepped every batch:
    ``{"optimizer": ..., "lr_scheduler": {"scheduler": ..., "interval": "step"}}``. Other
    schedulers are returned as LightningCLI returns them (its ``ReduceLROnPlateau`` with its
    ``monitor``, anything else stepped per epoch).

    Warns when the schedule contains ``plateau()`` and the trainer has no
    ``lrkit.lightning.ReportMetric`` callback: nothing would report a metric to it.
    """
    if lr_scheduler is None:
        return optimizer
    scheduler = unwrap(lr_scheduler)
    if scheduler is not None:
        _warn_without_reporter(lightning_module, scheduler)
        return {"optimizer": optimizer,
                "lr_scheduler": {"scheduler": lr_scheduler, "interval": "step"}}
    monitor = getattr(lr_scheduler, "monitor", None)
    if isinstance(lr_scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau) and monitor:
        return {"optimizer": optimizer,
                "lr_scheduler": {"scheduler": lr_scheduler, "monitor": monitor}}
    return [optimizer], [lr_scheduler]


def _warn_without_reporter(lightning_module: Any, scheduler: Any) -> None:
    from lrkit.lightning.callback import ReportMetric

    trainer = getattr(lightning_module, "_trainer", None)
    if trainer is None or not scheduler.has_plateau:
        return
    if any(isinstance(cb, ReportMetric) for cb in trainer.callbacks):
        return
    warnings.warn(
        f"the lr_scheduler's schedule {scheduler.spec} contains plateau() but the "
        "trainer has no lrkit.lightning.ReportMetric callback, so no metric will reach it; add "
        f"one, in the YAML config:\n{_CALLBACK_YAML}",
        UserWarning,
        stacklevel=2,
    )
