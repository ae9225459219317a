"""The version of lrkit's saved formats: ``Schedule.to_dict()`` and every ``state_dict()``.

Each carries ``"format_version": FORMAT_VERSION`` at its top level (nested schedule dicts carry
none). A state or dict without the key was written by lrkit 0.1.x: version 1. Loading accepts
every version up to ``FORMAT_VERSION`` and refuses a newer one instead of misreading it.

History: 1 (lrkit 0.1: no key); 2 (lrkit 0.2: the key, same fields otherwise).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

FORMAT_VERSION = 2
"""The format this lrkit writes, and the newest it reads."""

KEY = "format_version"


def check_format(owner: str, d: Mapping[str, Any]) -> int:
    """The format version of the state or dict ``d`` (1 when it has none); a ``ValueError``
    naming ``owner`` when it is not an integer, or newer than this lrkit reads."""
    if KEY not in d:
        return 1
    version = d[KEY]
    if isinstance(version, bool) or not isinstance(version, int):
        raise ValueError(
            f"{owner}: {KEY} must be an integer from 1 to {FORMAT_VERSION}; got {version!r}"
        )
    if version > FORMAT_VERSION:
        from lrkit import __version__

        raise ValueError(
            f"{owner}: the data has {KEY} {version}, written by a newer lrkit; this lrkit "
            f"({__version__}) reads formats up to {FORMAT_VERSION}: upgrade lrkit "
            "(pip install --upgrade lrkit) to load it"
        )
    if version < 1:
        raise ValueError(
            f"{owner}: {KEY} must be an integer from 1 to {FORMAT_VERSION}; got {version!r}"
        )
    return version
