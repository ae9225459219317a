"""The Lightning ``Callback`` base class, for both distributions.

``lightning.pytorch.Callback`` and ``pytorch_lightning.Callback`` are two unrelated classes with
the same body. A callback meant for both trainers derives from both (those that are installed),
so it passes both packages' ``isinstance``/``issubclass`` checks (the Trainer's
``callbacks=`` argument, LightningCLI's ``trainer.callbacks`` type).
"""

from __future__ import annotations

import importlib
from typing import Any

from lrkit._extras import require

require("torch", "torch")

#: The Lightning packages a callback serves, in order: the current name, then the old one.
PACKAGES = ("lightning.pytorch", "pytorch_lightning")


def _installed() -> list[Any]:
    modules = []
    for name in PACKAGES:
        try:
            modules.append(importlib.import_module(name))
        except ImportError:
            continue
    if not modules:
        require("lightning.pytorch", "lightning")  # raises, with the install command
    return modules


MODULES = _installed()

#: Derives from the ``Callback`` class of every installed Lightning package.
Callback: Any = (
    MODULES[0].Callback if len(MODULES) == 1
    else type("Callback", tuple(m.Callback for m in MODULES), {"__module__": __name__})
)
