"""The specialised scalar path: a schedule tree compiled once into one flat Python function of
the step, for Python numbers.

``s(t)`` on a float is what every driver calls once per training step, so it must cost about what
a hand-written function of the same formula costs. The generic evaluator (``Schedule._eval`` with
the ``PY`` namespace) recurses through the tree and dispatches every operation through the
namespace; here each node instead *emits* its formula as Python source, with its parameters as
literals, into one function body, which is compiled with ``compile``/``exec`` (as
``dataclasses`` and ``namedtuple`` build their methods). Only numbers that lrkit validated and
formatted with ``repr`` (exact for floats) reach the source: no user text is ever compiled.

The emitted arithmetic is the generic Python path's, operation for operation, so both give the
same float (tests/test_scalar.py checks that on random trees). A node without an ``_emit`` of its
own falls back to a call of its generic ``_eval``.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from lrkit._xp import INTEGRAL, PY

if TYPE_CHECKING:
    from lrkit.schedules._base import Schedule

__all__ = ["Emitter", "compile_scalar"]

_INF = math.inf


def _bad_step(t: Any) -> ValueError:
    return ValueError(f"t must be a finite step count >= 0; got {t!r}")


def _pow(base: float, x: float) -> float:
    """``base ** x``, inf on overflow (PyMath.power)."""
    try:
        return float(base**x)
    except OverflowError:
        return math.inf


class Emitter:
    """Collects the lines of one function body. Expressions are strings; ``tmp`` binds one to a
    fresh local so that it is computed once."""

    MAX_CHAIN = 8
    """Joins with more segments dispatch through bisect instead of an if/elif chain."""

    def __init__(self, stateful: bool) -> None:
        self.stateful = stateful
        self.lines: list[str] = []
        self.depth = 1
        self.count = 0
        self.state = 0  # index of the next plateau state (depth-first order)
        self.namespace: dict[str, Any] = {
            "_INF": _INF, "_bad_step": _bad_step, "_pow": _pow, "_floor": math.floor,
            "_cos": math.cos, "_sqrt": math.sqrt, "_exp": math.exp, "_log": math.log,
            "_bisect": bisect.bisect_right, "_PY": PY,
        }
        self.functions: list[list[str]] = []

    # --- building blocks ---------------------------------------------------------------------
    def line(self, text: str) -> None:
        self.lines.append("    " * self.depth + text)

    def name(self, prefix: str = "v") -> str:
        self.count += 1
        return f"{prefix}{self.count}"

    def tmp(self, expr: str) -> str:
        """A new local holding ``expr``."""
        var = self.name()
        self.line(f"{var} = {expr}")
        return var

    def const(self, obj: Any) -> str:
        """A global of the generated code holding ``obj`` (a tuple, a schedule node...)."""
        var = self.name("_k")
        self.namespace[var] = obj
        return var

    @staticmethod
    def num(x: float) -> str:
        """A float literal (``repr`` round-trips exactly), parenthesised when negative; an
        infinity (a sum of huge steps) is the global ``_INF``."""
        x = float(x)
        if math.isinf(x):
            return "_INF" if x > 0 else "(-_INF)"
        text = repr(x)
        return f"({text})" if text.startswith("-") else text

    def floor(self, x: str) -> str:
        """``lrkit._xp.py_floor`` inline: ``float(floor(x))`` below 2**52, else ``x`` itself
        (an integer already, or inf, where ``math.floor`` raises)."""
        v = self.tmp(x)
        return self.tmp(f"float(_floor({v})) if {v} < {self.num(INTEGRAL)} else {v}")

    @contextmanager
    def block(self, header: str) -> Iterator[None]:
        self.line(header)
        self.depth += 1
        try:
            yield
        finally:
            self.depth -= 1

    def choose(self, cond: str, then: Callable[[], str], other: Callable[[], str]) -> str:
        """``then()`` where ``cond`` holds, else ``other()``: each side emitted in its branch,
        so only the taken side is computed."""
        var = self.name("r")
        with self.block(f"if {cond}:"):
            self.line(f"{var} = {then()}")
        with self.block("else:"):
            self.line(f"{var} = {other()}")
        return var

    def states(self, node: Schedule) -> str:
        """The slice of the states argument that belongs to ``node`` (depth-first order)."""
        n = node._n_states
        start = self.state
        self.state += n
        if not n:
            return "()"
        return f"s[{start}:{start + n}]"

    # --- the namespace's operations, as PyMath computes them ----------------------------------
    def progress(self, t: str, n: float) -> str:
        """min(t / n, 1) as ``lrkit._xp.progress`` computes it for Python numbers."""
        k = self.num(n)
        return self.tmp(f"{t} / {k} if {t} < {k} else 1.0")

    def floor_div(self, t: str, k: float) -> str:
        """``lrkit._xp.floor_div`` for Python numbers."""
        kk = self.num(k)
        q = self.floor(f"{t} / {kk}")
        with self.block(f"if ({q} + 1.0) * {kk} <= {t}:"):
            self.line(f"{q} = {q} + 1.0")
        with self.block(f"elif {q} * {kk} > {t}:"):
            self.line(f"{q} = {q} - 1.0")
        return q

    def power(self, base: float, x: str) -> str:
        """``PyMath.power``: base ** x, inf on overflow (only possible for base > 1: below
        ``700 / ln(base)`` the power is computed inline, past it by ``_pow``, which catches the
        overflow)."""
        b = self.num(base)
        if base <= 1.0:
            return self.tmp(f"{b} ** {x}")
        safe = self.num(700.0 / math.log(base))
        return self.tmp(f"{b} ** {x} if {x} < {safe} else _pow({b}, {x})")

    def finite(self, node: Schedule, t: str, steps: float, formula: Callable[[str], str]) -> str:
        """A decay that holds its final value from ``t = steps`` on: that value (computed once,
        by the generic path at ``t = steps``) from there, else ``formula(x)`` with the progress
        ``x = t / steps`` (what ``progress`` gives below ``steps``)."""
        end = float(node._eval(float(steps), PY, ()))
        k = self.num(steps)
        return self.choose(f"{t} >= {k}", lambda: self.num(end),
                           lambda: formula(self.tmp(f"{t} / {k}")))

    def affine(self, lo: float, span: float, x: str) -> str:
        """``lrkit._xp.affine``: lo + span * x without the identities."""
        if span != 1.0:
            x = self.tmp(f"{self.num(span)} * {x}")
        return x if lo == 0.0 else self.tmp(f"{self.num(lo)} + {x}")

    def minimum(self, x: str, c: str) -> str:
        return self.tmp(f"{x} if {x} < {c} else {c}")

    def maximum(self, x: str, c: str) -> str:
        return self.tmp(f"{x} if {x} > {c} else {c}")

    def clip(self, x: str, lo: str, hi: str) -> str:
        return self.tmp(f"{lo} if {x} < {lo} else ({hi} if {x} > {hi} else {x})")

    # --- sub-trees ---------------------------------------------------------------------------
    def emit(self, node: Schedule, t: str) -> str:
        """The value of ``node`` at local time ``t``: its own ``_emit``, or its generic
        ``_eval`` called from the generated code."""
        emit = getattr(node, "_emit", None)
        if emit is not None:
            out: str = emit(self, t)
            return out
        return self.generic(node, t)

    def generic(self, node: Schedule, t: str) -> str:
        ref = self.const(node)
        return self.tmp(f"{ref}._eval({t}, _PY, {self.states(node)})")

    def table(self, functions: list[str]) -> str:
        """A module-level tuple of generated functions, by name."""
        var = self.name("_k")
        self.functions.append([f"{var} = ({', '.join(functions)},)"])
        return var

    def function(self, node: Schedule) -> str:
        """``node`` as a separate generated function of (t[, s]), for bisect dispatch."""
        outer_lines, outer_depth = self.lines, self.depth
        self.lines, self.depth = [], 1
        result = self.emit(node, "t")
        self.line(f"return {result}")
        name = self.name("_f")
        args = "t, s" if self.stateful else "t"
        self.functions.append([f"def {name}({args}):", *self.lines])
        self.lines, self.depth = outer_lines, outer_depth
        return name


def compile_scalar(schedule: Schedule) -> Callable[..., float]:
    """``schedule`` as one function: ``f(t)`` for a stateless tree, ``f(t, states)`` for one with
    plateaus; ``t`` a float (checked finite and >= 0, as ``Schedule.evaluate`` does)."""
    stateful = schedule._n_states > 0
    e = Emitter(stateful)
    e.line("if not 0.0 <= t < _INF:")
    e.line("    raise _bad_step(t)")
    result = e.emit(schedule, "t")
    e.line(f"return {result}")
    args = "t, s" if stateful else "t"
    source = "\n".join(
        [*("\n".join(f) for f in e.functions), f"def _lrkit_scalar({args}):", *e.lines, ""]
    )
    code = compile(source, f"<lrkit scalar path of {schedule.name}>", "exec")
    exec(code, e.namespace)
    fn: Callable[..., float] = e.namespace["_lrkit_scalar"]
    fn.__doc__ = source  # what was generated: print(s.scalar_path()[0].__doc__)
    return fn
