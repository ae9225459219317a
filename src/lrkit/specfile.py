"""Schedules from files, so that a training config and the ``lrkit`` command share one format.

A spec file is one of:

* ``.json``: a JSON document;
* ``.yaml`` / ``.yml``: a YAML document, read with ``yaml.safe_load`` (no code, no tags);
* anything else: a text file holding a spec string (lines starting with ``#`` are comments).

A JSON or YAML document describes the schedule as

* an lrkit dict, ``{"type": "cosine", "steps": 100}`` (what ``s.to_dict()`` writes), or
* a spec string, ``"warmup(cosine(steps=9000), steps=1000)"``, or
* a mapping with a ``schedule`` key (and no ``type`` key) holding either of the above; its other
  keys (a training config's ``lr``, ``epochs``...) are left to the program that owns the config.

A mapping with a ``type`` key is always an lrkit dict (``warmup``'s own ``schedule`` field is the
schedule it warms up), so a training config must not put ``type`` next to ``schedule``.

``load_schedule(arg)`` reads ``@path`` arguments (the command line's convention) and parses
anything else as a spec string.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lrkit.schedules._base import Schedule
from lrkit.spec import from_dict, parse

__all__ = ["SpecFileError", "load_schedule", "read_spec_file", "schedule_from_data"]

YAML_SUFFIXES = (".yaml", ".yml")
JSON_SUFFIXES = (".json",)


class SpecFileError(ValueError):
    """A spec file that cannot be read or does not describe a schedule."""


def schedule_from_data(data: Any, source: str = "config") -> Schedule:
    """The schedule described by loaded JSON/YAML ``data`` (see the module docstring)."""
    if isinstance(data, Mapping) and "type" not in data and "schedule" in data:
        data = data["schedule"]
        source = f"{source}: 'schedule'"
    if isinstance(data, str):
        return parse(data)
    if isinstance(data, Mapping):
        if "type" not in data:
            raise SpecFileError(
                f"{source}: a mapping must be an lrkit dict with a 'type' key "
                "(e.g. {\"type\": \"cosine\", \"steps\": 100}) or have a 'schedule' key; "
                f"got keys {sorted(map(str, data))}"
            )
        try:
            return from_dict(dict(data))
        except TypeError as exc:
            raise SpecFileError(f"{source}: {exc}") from None
    raise SpecFileError(
        f"{source}: expected a spec string, an lrkit dict or a mapping with a 'schedule' key; "
        f"got {type(data).__name__}"
    )


def read_spec_file(path: str | Path) -> Schedule:
    """The schedule in the file at ``path`` (JSON, YAML or a spec string, by extension)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecFileError(f"spec file {str(p)!r} does not exist") from None
    except IsADirectoryError:
        raise SpecFileError(f"spec file {str(p)!r} is a directory") from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise SpecFileError(f"cannot read spec file {str(p)!r}: {reason}") from None
    suffix = p.suffix.lower()
    if suffix in JSON_SUFFIXES:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise SpecFileError(
                f"{str(p)!r} is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
            ) from None
        return schedule_from_data(data, repr(str(p)))
    if suffix in YAML_SUFFIXES:
        from lrkit._extras import require

        yaml = require("yaml", "plot")
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            first = str(exc).strip().splitlines()
            raise SpecFileError(
                f"{str(p)!r} is not valid YAML: {' '.join(x.strip() for x in first[:3])}"
            ) from None
        return schedule_from_data(data, repr(str(p)))
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    spec = "\n".join(lines).strip()
    if not spec:
        raise SpecFileError(f"spec file {str(p)!r} holds no spec")
    return parse(spec)


def load_schedule(arg: str) -> Schedule:
    """``@path``: the schedule in that file; anything else: ``parse(arg)``."""
    if arg.startswith("@"):
        if len(arg) == 1:
            raise SpecFileError("'@' must be followed by a file name, e.g. @schedule.yaml")
        return read_spec_file(arg[1:])
    return parse(arg)
