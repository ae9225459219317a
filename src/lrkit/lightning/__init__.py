"""Lightning integration: ``ReportMetric`` feeds the monitored validation metric to lrkit
schedulers; ``lrkit.lightning.cli`` steps them per batch under ``LightningCLI``.

Works with both distributions of Lightning 2.x: ``lightning`` (``lightning.pytorch``) and
``pytorch_lightning``. Importing this module imports torch and whichever of the two is
installed; ``import lrkit`` alone does not.
"""

from __future__ import annotations

from lrkit.lightning.callback import ReportMetric
from lrkit.lightning.configure import configure_optimizers

__all__ = ["ReportMetric", "configure_optimizers"]
