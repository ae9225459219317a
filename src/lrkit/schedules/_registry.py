"""The one registry: spec name -> schedule class. It feeds the parser, ``from_dict``, the CLI's
help and the round-trip tests."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from lrkit.schedules._base import Schedule

_REGISTRY: dict[str, type[Schedule]] = {}
REGISTRY: Mapping[str, type[Schedule]] = MappingProxyType(_REGISTRY)

S = TypeVar("S", bound="type[Schedule]")


def register(name: str) -> Callable[[S], S]:
    """Class decorator: record ``cls`` under ``name`` and set ``cls.name``."""

    def deco(cls: S) -> S:
        if name in _REGISTRY:
            raise RuntimeError(f"schedule name {name!r} registered twice")
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return deco


def registry() -> Mapping[str, type[Schedule]]:
    """Every registered spec name and its class (read-only)."""
    return REGISTRY
