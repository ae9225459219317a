"""``LightningCLI``: ``lightning.pytorch.cli.LightningCLI`` with lrkit schedulers stepped every
batch (see ``lrkit.lightning.configure_optimizers``). Importing this module imports
``lightning.pytorch.cli``; running the CLI needs jsonargparse (``lightning[pytorch-extra]``).

For ``pytorch_lightning`` the same class is two lines::

    from pytorch_lightning.cli import LightningCLI
    from lrkit.lightning import configure_optimizers

    class CLI(LightningCLI):
        configure_optimizers = staticmethod(configure_optimizers)
"""

from __future__ import annotations

import importlib
from typing import Any

from lrkit.lightning.configure import configure_optimizers

__all__ = ["LightningCLI"]


def _lightning_cli() -> Any:
    try:
        module = importlib.import_module("lightning.pytorch.cli")
    except ImportError as exc:  # pragma: no cover - exercised only without the extra
        raise ImportError(
            "lrkit.lightning.cli.LightningCLI needs 'lightning' with its CLI extra; install it "
            "with: pip install 'lightning[pytorch-extra]' (or, for pytorch_lightning, subclass "
            "pytorch_lightning.cli.LightningCLI with configure_optimizers = "
            "staticmethod(lrkit.lightning.configure_optimizers))"
        ) from exc
    return module.LightningCLI


class LightningCLI(_lightning_cli()):  # type: ignore[misc]
    """``lightning.pytorch.cli.LightningCLI`` whose ``configure_optimizers`` steps lrkit
    schedulers every batch (``lrkit.lightning.configure_optimizers``)."""

    configure_optimizers = staticmethod(configure_optimizers)
