"""Spec strings and dicts: ``str(s)``, ``parse(text)``, ``s.to_dict()``, ``from_dict(d)``.

The parser runs Python's own :mod:`ast` on the text and walks only allowed nodes: calls of
registered names, numbers, strings, lists, ``*``, ``+``, ``**`` (a number exponent), ``>>`` and
unary minus. It never calls ``eval``, and limits the text's length and nesting depth.
"""

from __future__ import annotations

import ast
import dataclasses
import difflib
import json
import warnings
from typing import Any

from lrkit._format import FORMAT_VERSION, check_format
from lrkit.schedules._base import Schedule
from lrkit.schedules._registry import REGISTRY
from lrkit.schedules.algebra import Add, Mul, Pow
from lrkit.schedules.basic import Constant
from lrkit.schedules.compose import Join, sequence

MAX_LENGTH = 10_000
"""Longest spec text accepted, in characters."""
MAX_DEPTH = 50
"""Deepest nesting of calls, lists and operators accepted."""


_SHOWN = 40
"""Characters of context shown on each side of an error's place."""


class SpecError(ValueError):
    """A spec string that does not describe a schedule; the message says where."""

    def __init__(self, message: str, text: str | None = None, offset: int | None = None) -> None:
        self.text = text
        self.offset = offset
        if text is not None and offset is not None:
            line_start = text.rfind("\n", 0, offset) + 1
            line_end = text.find("\n", offset)
            line = text[line_start : line_end if line_end >= 0 else len(text)]
            col = offset - line_start
            lineno = text.count("\n", 0, offset) + 1
            where = f"line {lineno}, column {col + 1}" if "\n" in text else f"column {col + 1}"
            if len(line) > 2 * _SHOWN:  # show a window around the place, not a huge line
                lo = max(0, min(col - _SHOWN, len(line) - 2 * _SHOWN))
                prefix = "..." if lo else ""
                suffix = "..." if lo + 2 * _SHOWN < len(line) else ""
                line = prefix + line[lo : lo + 2 * _SHOWN] + suffix
                col = col - lo + len(prefix)
            message = f"{message} (at {where})\n  {line}\n  {' ' * col}^"
        super().__init__(message)


# --- formatting ----------------------------------------------------------------------------------


def _fields(cls: type[Schedule]) -> tuple[dataclasses.Field[Any], ...]:
    return dataclasses.fields(cls)  # type: ignore[arg-type]


def _fmt_value(value: Any) -> str:
    if isinstance(value, Schedule):
        return format_spec(value)
    if isinstance(value, bool) or value is None:
        return repr(value)
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, tuple | list):
        return "[" + ", ".join(_fmt_value(x) for x in value) + "]"
    raise TypeError(f"cannot format {value!r} in a spec")


def _is_default(f: dataclasses.Field[Any], value: Any) -> bool:
    if f.default is dataclasses.MISSING:
        return False
    return (type(value) is type(f.default) and value == f.default) or (
        isinstance(value, float | int) and not isinstance(value, bool)
        and isinstance(f.default, float | int) and not isinstance(f.default, bool)
        and float(value) == float(f.default)
    )


def _call_form(s: Schedule) -> str:
    parts: list[str] = []
    positional = True
    bare = getattr(s, "bare_constants", False)  # maximum(s, 0.1) rather than constant(0.1)
    for f in _fields(type(s)):
        value = getattr(s, f.name)
        kind = f.metadata.get("kind")
        if positional and kind in ("schedule", "schedules"):
            parts.append(repr(value.value) if bare and isinstance(value, Constant)
                         else _fmt_value(value))
            continue
        positional = False
        if _is_default(f, value):
            continue
        parts.append(f"{f.name}={_fmt_value(value)}")
    return f"{s.name}({', '.join(parts)})"


def _is_sequence(j: Join) -> bool:
    """True if every boundary is where the previous segment ends (``a >> b >> c``)."""
    if any(isinstance(seg, Join) for seg in j.schedules):
        return False  # ``>>`` flattens nested joins: only the call form keeps the structure
    at = 0.0
    for seg, b in zip(j.schedules, j.boundaries, strict=False):
        end = seg.duration
        if end is None or seg.is_constant or at + end != b:
            return False
        at = float(b)
    return len(j.schedules) > 1


def _fmt(s: Schedule) -> tuple[str, int]:
    """(text, precedence): 0 for ``>>``, 1 for ``+``, 2 for ``*``, 3 for ``**``, 4 for atoms
    (Python's: ``a * b ** 2`` needs no parentheses, ``(a * b) ** 2`` and ``(a ** 2) ** 3`` do)."""
    if isinstance(s, Pow):
        return f"{_operand(s.base, 4)} ** {s.exponent!r}", 3
    if isinstance(s, Mul):
        return f"{_operand(s.left, 2)} * {_operand(s.right, 3)}", 2
    if isinstance(s, Add):
        return f"{_operand(s.left, 1)} + {_operand(s.right, 2)}", 1
    if isinstance(s, Join) and _is_sequence(s):
        return " >> ".join(_paren(*_fmt(seg), 1) for seg in s.schedules), 0
    return _call_form(s), 4


def _operand(s: Schedule, min_level: int) -> str:
    if isinstance(s, Constant):
        return repr(s.value)
    return _paren(*_fmt(s), min_level)


def _paren(text: str, level: int, min_level: int) -> str:
    return f"({text})" if level < min_level else text


def format_spec(s: Schedule) -> str:
    """The canonical spec string of ``s``: ``parse(format_spec(s)) == s``."""
    return _fmt(s)[0]


# --- dicts ---------------------------------------------------------------------------------------


def _to_plain(value: Any) -> Any:
    if isinstance(value, Schedule):
        return _node_dict(value)
    if isinstance(value, tuple | list):
        return [_to_plain(x) for x in value]
    return value


def _node_dict(s: Schedule) -> dict[str, Any]:
    out: dict[str, Any] = {"type": s.name}
    for f in _fields(type(s)):
        out[f.name] = _to_plain(getattr(s, f.name))
    return out


def to_dict(s: Schedule) -> dict[str, Any]:
    """A JSON-safe dict: ``{"type": name, <every field>: value, "format_version": 2}``, nested
    for sub-schedules (which carry no ``format_version``)."""
    out = _node_dict(s)
    out["format_version"] = FORMAT_VERSION
    return out


def _unknown_name(name: Any) -> str:
    names = sorted(REGISTRY)
    close = difflib.get_close_matches(str(name), names, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"unknown schedule {name!r}{hint}; known: {', '.join(names)}"


def from_dict(d: Any) -> Schedule:
    """Inverse of ``to_dict``: builds the schedule a dict describes (missing keys: defaults).

    Reads every format up to this lrkit's (a dict without ``format_version`` is lrkit 0.1's);
    a newer one is a ``ValueError``.
    """
    if isinstance(d, dict) and "format_version" in d:
        check_format("from_dict", d)
        d = {k: v for k, v in d.items() if k != "format_version"}
    return _from_dict(d, "d", 0)


def _from_dict(d: Any, path: str, depth: int) -> Schedule:
    if depth > MAX_DEPTH:
        raise ValueError(f"from_dict: {path} is nested deeper than {MAX_DEPTH} levels")
    if not isinstance(d, dict):
        raise ValueError(
            f"from_dict: {path} must be a dict with a 'type' key; got {_describe(d)}"
        )
    for key in d:
        if not isinstance(key, str):
            raise ValueError(
                f"from_dict: {path} has the key {_describe(key)} ({type(key).__name__}); keys "
                "must be strings: 'type' and parameter names"
            )
    name = d.get("type")
    cls = REGISTRY.get(name) if isinstance(name, str) else None
    if cls is None:
        raise ValueError(f"from_dict: {path}['type']: {_unknown_name(name)}")
    fields = {f.name: f for f in _fields(cls)}
    if "format_version" in d:
        raise ValueError(
            f"from_dict: {path} has 'format_version', which belongs at the top level only "
            "(nested schedule dicts carry none)"
        )
    unknown = sorted(set(d) - set(fields) - {"type"})
    if unknown:
        raise ValueError(
            f"from_dict: {path}: {name} has no parameter {unknown[0]!r}; "
            f"parameters: {', '.join(fields)}"
        )
    kwargs: dict[str, Any] = {}
    for key, value in d.items():
        if key == "type":
            continue
        kind = fields[key].metadata.get("kind")
        sub = f"{path}[{key!r}]"
        if kind == "schedule":
            kwargs[key] = _from_dict(value, sub, depth + 1)
        elif kind == "schedules":
            if not isinstance(value, list | tuple):
                raise ValueError(
                    f"from_dict: {sub} must be a list of schedule dicts; got {_describe(value)}"
                )
            kwargs[key] = [_from_dict(x, f"{sub}[{i}]", depth + 1) for i, x in enumerate(value)]
        else:
            kwargs[key] = value
    _check_required(cls, kwargs, lambda msg: ValueError(f"from_dict: {path}: {msg}"))
    try:
        return cls(**kwargs)
    except ValueError:
        raise
    except (TypeError, ArithmeticError, RecursionError) as exc:  # never anything but ValueError
        raise ValueError(f"from_dict: {path}: {type(exc).__name__}: {exc}") from None


def _describe(value: Any) -> str:
    """``repr(value)``, at most 200 characters."""
    from lrkit._validate import _describe as describe

    return describe(value)


def _check_required(cls: type[Schedule], kwargs: dict[str, Any], error: Any) -> None:
    for f in _fields(cls):
        if f.name not in kwargs and f.default is dataclasses.MISSING:
            raise error(f"{cls.name} needs {f.name!r}; parameters: "
                        + ", ".join(x.name for x in _fields(cls)))


# --- parsing -------------------------------------------------------------------------------------


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        lines = text.split("\n")
        self._line_starts = [0]
        for line in lines[:-1]:
            self._line_starts.append(self._line_starts[-1] + len(line) + 1)

    def offset(self, node: ast.AST) -> int:
        lineno = getattr(node, "lineno", 1)
        col = getattr(node, "col_offset", 0)
        # col_offset counts UTF-8 bytes; convert to characters on that line.
        start = self._line_starts[lineno - 1]
        line = self.text[start:].split("\n", 1)[0]
        col_chars = len(line.encode("utf-8")[:col].decode("utf-8", errors="ignore"))
        return start + col_chars

    def error(self, message: str, node: ast.AST) -> SpecError:
        return SpecError(message, self.text, self.offset(node))

    def schedule(self, node: ast.AST, depth: int) -> Schedule:
        value = self.value(node, depth)
        if isinstance(value, Schedule):
            return value
        if isinstance(value, int | float) and not isinstance(value, bool):
            return self.build(Constant, {"value": value}, node)
        raise self.error(f"expected a schedule, got {_fmt_value(value)}", node)

    def value(self, node: ast.AST, depth: int) -> Any:
        if depth > MAX_DEPTH:
            raise self.error(f"spec nested deeper than {MAX_DEPTH} levels", node)
        if isinstance(node, ast.Constant):
            v = node.value
            if isinstance(v, bool) or v is None or isinstance(v, str):
                return v
            if isinstance(v, int | float):
                return v
            raise self.error(f"unsupported literal {v!r}", node)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
            inner = self.value(node.operand, depth + 1)
            if isinstance(inner, bool) or not isinstance(inner, int | float):
                raise self.error("a sign can only apply to a number", node)
            return -inner if isinstance(node.op, ast.USub) else inner
        if isinstance(node, ast.List | ast.Tuple):
            return [self.value(e, depth + 1) for e in node.elts]
        if isinstance(node, ast.Call):
            return self.call(node, depth)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow):
            return self.power(node, depth)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult | ast.Add | ast.RShift):
            left = self.schedule(node.left, depth + 1)
            right = self.schedule(node.right, depth + 1)
            try:
                if isinstance(node.op, ast.Mult):
                    return Mul(left, right)
                if isinstance(node.op, ast.Add):
                    return Add(left, right)
                return sequence(left, right)
            except ValueError as exc:
                raise self.error(str(exc), node) from None
        if isinstance(node, ast.Name):
            if node.id in REGISTRY:
                raise self.error(f"{node.id} must be called: write {node.id}(...)", node)
            raise self.error(_unknown_name(node.id), node)
        if isinstance(node, ast.BinOp):
            op = type(node.op).__name__
            raise self.error(f"operator {op} is not allowed; allowed: *, +, **, >>", node)
        raise self.error(f"{type(node).__name__} is not allowed in a spec", node)

    def power(self, node: ast.BinOp, depth: int) -> Schedule:
        base = self.schedule(node.left, depth + 1)
        exponent = self.value(node.right, depth + 1)
        if isinstance(exponent, bool) or not isinstance(exponent, int | float):
            raise self.error("the exponent of ** must be a number >= 0, e.g. s ** 0.5",
                             node.right)
        try:
            return Pow(base, exponent)
        except ValueError as exc:
            raise self.error(str(exc), node) from None

    def call(self, node: ast.Call, depth: int) -> Schedule:
        if not isinstance(node.func, ast.Name):
            called = ast.unparse(node.func)  # text only: nothing is evaluated
            called = called if len(called) <= 40 else called[:37] + "..."
            raise self.error(
                f"only calls of schedule names are allowed, such as cosine(steps=100); got a "
                f"call of {called}", node)
        name = node.func.id
        cls = REGISTRY.get(name)
        if cls is None:
            raise self.error(_unknown_name(name), node.func)
        fields = _fields(cls)
        names = [f.name for f in fields]
        if len(node.args) > len(fields):
            raise self.error(
                f"{name} takes at most {len(fields)} arguments ({', '.join(names)}); "
                f"got {len(node.args)}", node)
        kwargs: dict[str, Any] = {}
        for f, arg in zip(fields, node.args, strict=False):
            if isinstance(arg, ast.Starred):
                raise self.error("*args is not allowed", arg)
            kwargs[f.name] = self.field_value(f, arg, depth)
        for kw in node.keywords:
            if kw.arg is None:
                raise self.error("**kwargs is not allowed", kw.value)
            if kw.arg not in names:
                close = difflib.get_close_matches(kw.arg, names, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise self.error(  # the caret under the misspelt keyword itself
                    f"{name} has no parameter {kw.arg!r}{hint}; parameters: {', '.join(names)}",
                    kw)
            if kw.arg in kwargs:
                raise self.error(f"{name}: {kw.arg!r} given twice", kw)
            f = next(x for x in fields if x.name == kw.arg)
            kwargs[kw.arg] = self.field_value(f, kw.value, depth)
        places: dict[str, ast.AST] = {f.name: arg for f, arg in zip(fields, node.args,
                                                                     strict=False)}
        places.update((kw.arg, kw.value) for kw in node.keywords if kw.arg is not None)
        return self.build(cls, kwargs, node, places)

    def field_value(self, f: dataclasses.Field[Any], node: ast.AST, depth: int) -> Any:
        kind = f.metadata.get("kind")
        if kind == "schedule":
            return self.schedule(node, depth + 1)
        if kind == "schedules":
            if not isinstance(node, ast.List | ast.Tuple):
                raise self.error(f"{f.name} must be a list of schedules, e.g. [a, b]", node)
            return [self.schedule(e, depth + 2) for e in node.elts]
        return self.value(node, depth + 1)

    def build(self, cls: type[Schedule], kwargs: dict[str, Any], node: ast.AST,
              places: dict[str, ast.AST] | None = None) -> Schedule:
        """``cls(**kwargs)``; an error's caret goes under the argument it names (``places``:
        parameter name -> its value's node), else under the call."""
        _check_required(cls, kwargs, lambda msg: self.error(msg, node))
        try:
            return cls(**kwargs)
        except (ValueError, TypeError, ArithmeticError) as exc:
            where = (places or {}).get(getattr(exc, "parameter", None) or "", node)
            raise self.error(str(exc), where) from None


def parse(text: str) -> Schedule:
    """The schedule a spec string describes, e.g. ``warmup(cosine(steps=9000), steps=1000)``.

    Raises ``SpecError`` (a ``ValueError``) that points at the offending place.
    """
    if not isinstance(text, str):
        raise SpecError(f"a spec must be a string; got {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        raise SpecError(f"spec is {len(text)} characters long; the limit is {MAX_LENGTH}")
    text = text.strip()
    if not text:
        raise SpecError("empty spec; expected a schedule such as cosine(steps=1000)")
    depth = signs = 0
    for i, ch in enumerate(text):
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        signs = signs + 1 if ch in "+-~" else (signs if ch.isspace() else 0)
        if depth > MAX_DEPTH or signs > MAX_DEPTH:
            raise SpecError(f"spec nested deeper than {MAX_DEPTH} levels", text, i)
    try:
        with warnings.catch_warnings():
            # Python only warns about some malformed literals (``1if``): here they are errors.
            warnings.simplefilter("error", SyntaxWarning)
            tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        off = 0
        if exc.lineno is not None and exc.offset is not None:
            lines = text.split("\n")
            line_no = min(max(exc.lineno, 1), len(lines))
            off = sum(len(x) + 1 for x in lines[: line_no - 1])
            off += max(0, min(exc.offset - 1, len(lines[line_no - 1])))
        raise SpecError(f"invalid spec: {exc.msg or 'invalid syntax'}", text, off) from None
    except (RecursionError, MemoryError):
        raise SpecError(f"spec nested deeper than {MAX_DEPTH} levels") from None
    except (ValueError, OverflowError) as exc:
        raise SpecError(f"invalid spec: {exc or type(exc).__name__}") from None
    try:
        return _Parser(text).schedule(tree.body, 0)
    except RecursionError:
        raise SpecError(f"spec nested deeper than {MAX_DEPTH} levels") from None


def as_schedule(owner: str, value: Any) -> Schedule:
    """``value`` if it is a schedule, ``parse(value)`` if it is a spec string; else a
    ``ValueError`` naming ``owner`` (what the drivers accept as a schedule)."""
    if isinstance(value, str):
        return parse(value)
    if not isinstance(value, Schedule):
        raise ValueError(
            f"{owner} must be an lrkit schedule or a spec string; got {type(value).__name__} "
            f"{value!r:.80}"
        )
    return value
