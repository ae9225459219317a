"""The Keras backend lrkit.keras starts: the configured one, unless it is an absent tensorflow."""

from __future__ import annotations


def _default_backend() -> None:
    """Pick an installed backend when Keras would choose tensorflow and it is absent.

    Keras 3 defaults to tensorflow (and writes that into ``~/.keras/keras.json`` on its first
    import), so without tensorflow ``import keras`` fails although jax or torch would do. If
    ``KERAS_BACKEND`` is unset, the config file names no backend or tensorflow, and tensorflow
    is not installed, this sets ``KERAS_BACKEND`` to the first installed of jax and torch before
    keras is imported. With tensorflow installed, Keras' own choice stands; any other explicit
    choice (the variable, another backend in the config, keras already imported) is left alone.
    """
    import importlib.util
    import json
    import os
    import sys

    if "keras" in sys.modules or os.environ.get("KERAS_BACKEND"):
        return
    home = os.environ.get("KERAS_HOME", os.path.expanduser("~/.keras"))
    try:
        with open(os.path.join(home, "keras.json"), encoding="utf-8") as f:
            configured = json.load(f).get("backend", "tensorflow")
    except (OSError, ValueError, AttributeError):
        configured = "tensorflow"
    if configured != "tensorflow" or importlib.util.find_spec("tensorflow") is not None:
        return
    for backend in ("jax", "torch"):
        if importlib.util.find_spec(backend) is not None:
            os.environ["KERAS_BACKEND"] = backend
            return
