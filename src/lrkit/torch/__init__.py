"""PyTorch integration: ``LRScheduler``, ``GradualWarmupScheduler``, ``LARS`` and ``find_lr``.

Importing this module imports torch; ``import lrkit`` alone does not.
"""

from __future__ import annotations

from lrkit._extras import require

require("torch", "torch")

from lrkit.torch.compat import GradualWarmupScheduler  # noqa: E402
from lrkit.torch.distributed import all_reduce_metric  # noqa: E402
from lrkit.torch.hyperparams import one_cycle_momentum  # noqa: E402
from lrkit.torch.lars import LARS, scale_lr  # noqa: E402
from lrkit.torch.rangetest import RangeTestResult, find_lr  # noqa: E402
from lrkit.torch.scheduler import LRScheduler  # noqa: E402

__all__ = [
    "LARS",
    "GradualWarmupScheduler",
    "LRScheduler",
    "RangeTestResult",
    "all_reduce_metric",
    "find_lr",
    "one_cycle_momentum",
    "scale_lr",
]
