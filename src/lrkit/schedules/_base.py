"""The ``Schedule`` base class: evaluation on every array family, algebra, and the hooks that
composition, spec strings and drivers use."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from lrkit._blocks import BLOCK, evaluate_blocks
from lrkit._validate import WrongTypeError
from lrkit._xp import PY, Namespace, NumpyMath, namespace_of

_INF = float("inf")
_BUILT = ("_py", "_pys", "_pieces")
"""Instance-dict entries built on first use (functions, bound to one array family): never
pickled or copied, rebuilt after."""

States = Sequence[Any]
"""The plateau states of a subtree, in depth-first order (empty for a stateless tree)."""


class StatefulScheduleError(ValueError):
    """A schedule containing ``plateau`` was evaluated without a driver holding its state."""

    if not TYPE_CHECKING:  # kept as this type by tf.function's autograph (see _validate)
        __init__ = Exception.__init__


SCHEDULE: dict[str, str] = {"kind": "schedule"}
"""Field metadata: the field holds one schedule (printed positionally in spec strings)."""
SCHEDULES: dict[str, str] = {"kind": "schedules"}
"""Field metadata: the field holds a list of schedules (printed positionally)."""


class Schedule:
    """Base class of every schedule: an immutable value, ``s(t)`` in closed form.

    ``t`` is the number of scheduler steps already taken (``s(0)`` is the rate of the first
    optimizer step) and may be fractional. Python numbers give a ``float``; numpy arrays give
    float64 arrays; torch tensors give tensors on the same device; jax arrays give jax arrays;
    TensorFlow tensors and variables give TensorFlow tensors.
    """

    name: ClassVar[str] = ""
    """The spec name (``cosine``, ``warmup``...): the constructor, dict ``type`` and CLI name."""

    _py: Callable[[float], float]
    """The specialised Python-number path once built (see ``scalar_path``); an instance
    attribute, not a dataclass field (the base class is no dataclass)."""

    # --- evaluation -------------------------------------------------------------------------

    def __call__(self, t: Any) -> Any:
        """The schedule at step ``t``: no hidden state, the same ``t`` gives the same value."""
        if type(t) is float:  # the per-step path: one call of the specialised function
            try:
                return self._py(t)
            except AttributeError:
                if "_py" in self.__dict__:  # raised inside the specialised function itself
                    raise
            return self.scalar_path()[0](t)
        if self._n_states:
            raise self._stateful_error()
        return self.evaluate(t, ())

    def _stateful_error(self) -> StatefulScheduleError:
        return StatefulScheduleError(
            f"{self} contains plateau(), whose value depends on the metrics reported so far; "
            "drive it with lrkit.Stepper or lrkit.torch.LRScheduler instead of calling it"
        )

    def evaluate(self, t: Any, states: States) -> Any:
        """``s(t)`` with the given plateau states (depth-first order, see ``Stepper``).

        Python, numpy and eager TensorFlow steps must be finite and >= 0 (``ValueError``
        otherwise); torch, jax and traced TensorFlow steps are not checked, so that evaluation
        stays traceable.
        """
        kind = type(t)
        if kind is float or kind is int:  # the per-step path of every driver: keep it short
            if kind is int:
                try:
                    t = float(t)
                except OverflowError:
                    t = _INF
            py, pys = self.scalar_path()
            return pys(t, states) if states else py(t)
        xp = namespace_of(t)
        if type(xp) is NumpyMath and t.size > BLOCK:  # long curves: cache-sized blocks
            return evaluate_blocks(self, t, xp, states)
        tf = xp.asfloat(t)
        xp.check(tf)
        out = self._eval(tf, xp, states)
        if xp is PY:
            return float(out)
        if isinstance(out, float | int):
            return xp.full_like(tf, float(out))
        return out

    def _eval(self, t: Any, xp: Namespace, states: States) -> Any:
        """The formula, on floats ``t`` of the family ``xp``. Subclasses implement it."""
        raise NotImplementedError

    # --- the specialised scalar path (lrkit.schedules._scalar) ---------------------------------

    def scalar_path(self) -> tuple[Callable[[float], float], Callable[[float, States], float]]:
        """``(py, pys)``: the specialised Python-number path, ``py(t)`` (raises
        ``StatefulScheduleError`` when the tree holds plateaus) and ``pys(t, states)``, built on
        first use (``lrkit.schedules._scalar``) and kept in the instance (``_py``, ``_pys``).
        ``t`` must be a float; both check it is finite and >= 0."""
        d = self.__dict__
        if "_pys" not in d:
            self._specialise()
        return d["_py"], d["_pys"]

    def _specialise(self) -> None:
        from lrkit.schedules._scalar import compile_scalar

        try:
            fn = compile_scalar(self)
        except (SyntaxError, RecursionError, MemoryError):  # a tree too deep to compile
            fn = self._generic_scalar
        if self._n_states:
            error = self._stateful_error

            def stateless(t: float) -> float:
                raise error()

            object.__setattr__(self, "_py", stateless)
            object.__setattr__(self, "_pys", fn)
        else:
            object.__setattr__(self, "_py", fn)
            object.__setattr__(self, "_pys", lambda t, states: fn(t))

    def _generic_scalar(self, t: float, states: States = ()) -> float:
        """The generic Python path: ``_eval`` through the ``PY`` namespace."""
        if not 0.0 <= t < _INF:
            raise ValueError(f"t must be a finite step count >= 0; got {t!r}")
        return float(self._eval(t, PY, states))

    def __getstate__(self) -> dict[str, Any]:
        # the compiled functions are rebuilt on first use after unpickling or deep-copying
        return {k: v for k, v in self.__dict__.items() if k not in _BUILT}

    # --- structure ---------------------------------------------------------------------------

    @property
    def duration(self) -> float | None:
        """The step from which a finite schedule holds its final value; ``None`` if unbounded."""
        return None

    @property
    def is_constant(self) -> bool:
        """True for a time-invariant schedule (``constant``): it never ends nor changes."""
        return False

    def breakpoints(self) -> tuple[float, ...]:
        """Phase boundaries (warmup end, join boundaries, phase ends), for charts."""
        return ()

    def _sup(self) -> float | None:
        """An upper bound of the values at every step (``None``: unknown, for a subclass that
        does not say). Products and sums refuse operands whose bounds multiply or add beyond
        ``MAX_RATE``, so that every value stays finite."""
        return None

    @property
    def has_state(self) -> bool:
        """True if the tree contains a ``plateau`` (its value depends on reported metrics)."""
        return self._n_states > 0

    def children(self) -> tuple[Schedule, ...]:
        """Direct sub-schedules, in field order."""
        out: list[Schedule] = []
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            kind = f.metadata.get("kind")
            if kind == "schedule":
                out.append(getattr(self, f.name))
            elif kind == "schedules":
                out.extend(getattr(self, f.name))
        return tuple(out)

    @property
    def _n_states(self) -> int:
        n: int | None = self.__dict__.get("_n_states_cache")
        if n is None:
            n = sum(c._n_states for c in self.children())
            object.__setattr__(self, "_n_states_cache", n)
        return n

    def _child_states(self, states: States) -> list[States]:
        """Split ``states`` among the children (depth-first order)."""
        out: list[States] = []
        i = 0
        for c in self.children():
            n = c._n_states
            out.append(states[i : i + n] if n else ())
            i += n
        return out

    def _initial_states(self) -> list[Any]:
        """Fresh states for every plateau in the tree, depth-first."""
        out: list[Any] = []
        for c in self.children():
            out.extend(c._initial_states())
        return out

    def _report(self, t: float, metric: float, states: States, eps: float) -> None:
        """Route a metric reported at step ``t`` to the plateaus active at ``t``.

        The default sends it to every child (products, sums); joins and warmups override it so a
        plateau only sees the metrics of its own segment.
        """
        if not self._n_states:
            return
        for c, st in zip(self.children(), self._child_states(states), strict=True):
            if st:
                c._report(t, metric, st, eps)

    # --- algebra -----------------------------------------------------------------------------

    def __mul__(self, other: Any) -> Schedule:
        from lrkit.schedules.algebra import Mul

        return Mul(self, _as_schedule(other, "*"))

    def __rmul__(self, other: Any) -> Schedule:
        from lrkit.schedules.algebra import Mul

        return Mul(_as_schedule(other, "*"), self)

    def __add__(self, other: Any) -> Schedule:
        from lrkit.schedules.algebra import Add

        return Add(self, _as_schedule(other, "+"))

    def __radd__(self, other: Any) -> Schedule:
        from lrkit.schedules.algebra import Add

        return Add(_as_schedule(other, "+"), self)

    def __pow__(self, other: Any, modulo: Any = None) -> Schedule:
        from lrkit.schedules.algebra import Pow

        if modulo is not None:
            raise WrongTypeError(
                f"pow(a, p, modulo): a schedule takes no modulo; got {modulo!r:.80}"
            )
        if isinstance(other, bool) or not isinstance(other, int | float):
            raise WrongTypeError(
                f"a ** p: p must be a number >= 0; got {type(other).__name__} {other!r:.80}"
            )
        return Pow(self, other)

    def __rpow__(self, other: Any) -> Schedule:
        raise WrongTypeError(
            f"p ** a: a schedule cannot be an exponent; got {type(other).__name__} "
            f"{other!r:.80} ** a schedule (write a ** p with p a number)"
        )

    def __rshift__(self, other: Any) -> Schedule:
        from lrkit.schedules.compose import sequence

        if not isinstance(other, Schedule):
            raise WrongTypeError(
                f"a >> b: b must be a schedule; got {type(other).__name__} {other!r:.80}"
            )
        return sequence(self, other)

    def shift(self, steps: float) -> Schedule:
        """``lrkit.shift(self, steps)``: this schedule started ``steps`` into its curve."""
        from lrkit.schedules.retime import Shift

        return Shift(self, steps)

    # --- text and data -----------------------------------------------------------------------

    def __str__(self) -> str:
        from lrkit.spec import format_spec

        return format_spec(self)

    def __repr__(self) -> str:
        return str(self)

    def _repr_html_(self) -> str:
        """Notebook display: the spec and the curve as inline SVG (``lrkit.display``)."""
        from lrkit.display import schedule_html

        return schedule_html(self)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict; ``lrkit.from_dict`` inverts it."""
        from lrkit.spec import to_dict

        return to_dict(self)


def _as_schedule(value: Any, op: str) -> Schedule:
    if isinstance(value, Schedule):
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise WrongTypeError(
            f"unsupported operand for {op}: a schedule and {type(value).__name__} {value!r:.80} "
            "(use a schedule or a number)"
        )
    from lrkit.schedules.basic import Constant

    return Constant(value)
