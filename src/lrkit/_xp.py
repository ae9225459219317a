"""Array-family dispatch: one schedule formula, evaluated on Python numbers, numpy, torch, jax or
TensorFlow.

A schedule's formula is written once against the small namespace below (``floor``, ``cos``,
``where``...). ``namespace_of(t)`` picks the implementation from the type of the step ``t``
without importing any framework: a torch tensor can only exist if torch is already imported
(the same for jax and tensorflow: their modules are looked up in ``sys.modules``).

Python numbers use :mod:`math` and ordinary branches, so scalar evaluation stays fast. Array
families use branch-free ``where`` so the same code vectorises and traces under ``jax.jit``,
``torch.compile(fullgraph=True)`` and ``tf.function(jit_compile=True)``.
"""

from __future__ import annotations

import bisect
import functools
import math
import struct
import sys
from collections.abc import Callable, Sequence
from fractions import Fraction
from typing import Any

from lrkit._validate import WrongTypeError

INTEGRAL = 4503599627370496.0
"""2**52: every float from here up is an integer (inf included), its own floor."""
MAX_FLOAT = sys.float_info.max
"""The largest float: local times (``shift``'s ``t + steps``) are capped here, never inf."""


def py_floor(x: float) -> float:
    """``floor(x)`` as a float, for any float ``x >= 0`` (``math.floor`` raises at inf)."""
    return float(math.floor(x)) if x < INTEGRAL else x


class PyMath:
    """Python floats: :mod:`math` and ordinary branches."""

    is_python = True

    @staticmethod
    def asfloat(t: Any) -> Any:
        return float(t)

    @staticmethod
    def check(t: Any) -> None:
        if not 0.0 <= t < math.inf:
            raise ValueError(f"t must be a finite step count >= 0; got {t!r}")

    @staticmethod
    def floor(x: Any) -> Any:
        return py_floor(x)

    @staticmethod
    def cos(x: Any) -> Any:
        return math.cos(x)

    @staticmethod
    def sqrt(x: Any) -> Any:
        return math.sqrt(x)

    @staticmethod
    def exp(x: Any) -> Any:
        return math.exp(x)

    @staticmethod
    def log(x: Any) -> Any:
        return math.log(x)

    @staticmethod
    def power(base: float, x: Any) -> Any:
        try:
            return base**x
        except OverflowError:
            return math.inf

    @staticmethod
    def where(cond: Any, a: Any, b: Any) -> Any:
        return a if cond else b

    @staticmethod
    def minimum(x: Any, c: float) -> Any:
        return x if x < c else c

    @staticmethod
    def maximum(x: Any, c: float) -> Any:
        return x if x > c else c

    @staticmethod
    def clip(x: Any, lo: float, hi: float) -> Any:
        return lo if x < lo else (hi if x > hi else x)

    @staticmethod
    def full_like(t: Any, value: float) -> Any:
        return float(value)

    @staticmethod
    def cap(x: Any) -> Any:
        """``x``, or the largest float where it overflowed to inf (a local time)."""
        return x if x < MAX_FLOAT else MAX_FLOAT

    @staticmethod
    def largest(x: Any) -> float:
        """The largest finite number of ``x``'s float type."""
        return MAX_FLOAT

    @staticmethod
    def progress(t: Any, n: float) -> Any:
        return t / n if t < n else 1.0

    @staticmethod
    def count_reached(t: Any, f64: Sequence[float], f32: Sequence[float]) -> Any:
        """The number of thresholds ``<= t`` (``f64``, sorted), as a float."""
        return float(bisect.bisect_right(f64, t))



class NumpyMath:
    """numpy arrays: float64, vectorised."""

    is_python = False
    ordered = False
    """True when the steps are known to be non-decreasing (``lrkit._blocks`` checks each block;
    every local-time transform of lrkit, ``t - b``, ``t + k``, a staircase, keeps the order), so
    ``pieces`` can find its cuts from the first and last step."""

    def __init__(self, np: Any) -> None:
        self.np = np

    def asfloat(self, t: Any) -> Any:
        return self.np.asarray(t, dtype=self.np.float64)

    def check(self, t: Any) -> None:
        # Two reductions, no temporaries; NaN propagates through min() and fails the test.
        if t.size and not (t.min() >= 0.0 and self.np.isfinite(t.max())):
            raise ValueError("t must hold finite step counts >= 0; got negative, NaN or inf")

    def floor(self, x: Any) -> Any:
        return self.np.floor(x)

    def cos(self, x: Any) -> Any:
        return self.np.cos(x)

    def sqrt(self, x: Any) -> Any:
        return self.np.sqrt(x)

    def exp(self, x: Any) -> Any:
        return self.np.exp(x)

    def log(self, x: Any) -> Any:
        return self.np.log(x)

    def power(self, base: float, x: Any) -> Any:
        return self.np.power(base, x)

    def where(self, cond: Any, a: Any, b: Any) -> Any:
        return self.np.where(cond, a, b)

    def minimum(self, x: Any, c: float) -> Any:
        return self.np.minimum(x, c)

    def maximum(self, x: Any, c: float) -> Any:
        return self.np.maximum(x, c)

    def clip(self, x: Any, lo: float, hi: float) -> Any:
        return self.np.clip(x, lo, hi)

    def full_like(self, t: Any, value: float) -> Any:
        return self.np.full_like(t, value, dtype=self.np.float64)

    def cap(self, x: Any) -> Any:
        return self.np.minimum(x, MAX_FLOAT)

    def largest(self, x: Any) -> float:
        return MAX_FLOAT  # numpy steps are float64

    def progress(self, t: Any, n: float) -> Any:
        return self.np.minimum(t / n, 1.0)  # numpy divides exactly: t / n == 1 at t == n

    def count_reached(self, t: Any, f64: Sequence[float], f32: Sequence[float]) -> Any:
        np = self.np
        return np.searchsorted(np.asarray(f64, dtype=np.float64), t, side="right").astype(
            np.float64)



class TorchMath:
    """torch tensors: same device; integer steps become the default float dtype."""

    is_python = False

    def __init__(self, torch: Any) -> None:
        self.torch = torch

    def asfloat(self, t: Any) -> Any:
        if t.is_floating_point():
            return t
        if t.dtype.is_complex or t.dtype == self.torch.bool:
            raise _bad_dtype("a torch tensor", t.dtype)
        return t.to(self.torch.get_default_dtype())

    def check(self, t: Any) -> None:
        """Not checked: a data-dependent check would break torch.compile's graph."""

    def floor(self, x: Any) -> Any:
        return self.torch.floor(x)

    def cos(self, x: Any) -> Any:
        return self.torch.cos(x)

    def sqrt(self, x: Any) -> Any:
        return self.torch.sqrt(x)

    def exp(self, x: Any) -> Any:
        return self.torch.exp(x)

    def log(self, x: Any) -> Any:
        return self.torch.log(x)

    def power(self, base: float, x: Any) -> Any:
        return self.torch.pow(base, x)

    def where(self, cond: Any, a: Any, b: Any) -> Any:
        return self.torch.where(cond, a, b)

    def minimum(self, x: Any, c: float) -> Any:
        return self.torch.clamp(x, max=c)

    def maximum(self, x: Any, c: float) -> Any:
        return self.torch.clamp(x, min=c)

    def clip(self, x: Any, lo: float, hi: float) -> Any:
        return self.torch.clamp(x, min=lo, max=hi)

    def full_like(self, t: Any, value: float) -> Any:
        return self.torch.full_like(t, value)

    def cap(self, x: Any) -> Any:
        return self.torch.clamp(x, max=self.largest(x))

    def largest(self, x: Any) -> float:
        return float(self.torch.finfo(x.dtype).max)

    def progress(self, t: Any, n: float) -> Any:
        # inductor may divide by multiplying with 1/n: pin the value from t = n on.
        return self.torch.where(t < n, self.torch.clamp(t / n, max=1.0), 1.0)

    def count_reached(self, t: Any, f64: Sequence[float], f32: Sequence[float]) -> Any:
        """float64 steps against ``f64``; any other dtype in float32 against ``f32`` (the same
        thresholds rounded up to float32, so that ``t >= threshold`` stays exact)."""
        torch = self.torch
        x = t if t.dtype == torch.float64 else t.to(torch.float32)
        table = torch.tensor(f64 if x.dtype == torch.float64 else f32, dtype=x.dtype,
                             device=x.device)
        return torch.searchsorted(table, x, right=True).to(t.dtype)



class JaxMath:
    """jax arrays and tracers: integer steps become jax's default float dtype."""

    is_python = False

    def __init__(self, jnp: Any) -> None:
        self.jnp = jnp

    def asfloat(self, t: Any) -> Any:
        jnp = self.jnp
        if jnp.issubdtype(t.dtype, jnp.floating):
            return t
        if not jnp.issubdtype(t.dtype, jnp.integer):  # bool, complex, PRNG keys...
            raise _bad_dtype("a jax array", t.dtype)
        return t.astype(jnp.result_type(float))

    def check(self, t: Any) -> None:
        """Not checked: values are unknown while tracing under jax.jit."""

    def floor(self, x: Any) -> Any:
        return self.jnp.floor(x)

    def cos(self, x: Any) -> Any:
        return self.jnp.cos(x)

    def sqrt(self, x: Any) -> Any:
        return self.jnp.sqrt(x)

    def exp(self, x: Any) -> Any:
        return self.jnp.exp(x)

    def log(self, x: Any) -> Any:
        return self.jnp.log(x)

    def power(self, base: float, x: Any) -> Any:
        return self.jnp.power(self.jnp.asarray(base, dtype=x.dtype), x)

    def where(self, cond: Any, a: Any, b: Any) -> Any:
        return self.jnp.where(cond, a, b)

    def minimum(self, x: Any, c: float) -> Any:
        return self.jnp.minimum(x, c)

    def maximum(self, x: Any, c: float) -> Any:
        return self.jnp.maximum(x, c)

    def clip(self, x: Any, lo: float, hi: float) -> Any:
        return self.jnp.clip(x, lo, hi)

    def full_like(self, t: Any, value: float) -> Any:
        return self.jnp.full_like(t, value)

    def cap(self, x: Any) -> Any:
        return self.jnp.minimum(x, self.largest(x))

    def largest(self, x: Any) -> float:
        return float(self.jnp.finfo(x.dtype).max)

    def progress(self, t: Any, n: float) -> Any:
        # XLA may compute t / n as t * (1/n): pin the value from t = n on, never above 1.
        return self.jnp.where(t < n, self.jnp.minimum(t / n, 1.0), 1.0)

    def count_reached(self, t: Any, f64: Sequence[float], f32: Sequence[float]) -> Any:
        """As ``TorchMath.count_reached``."""
        jnp = self.jnp
        x = t if t.dtype == jnp.float64 else t.astype(jnp.float32)
        table = jnp.asarray(f64 if x.dtype == jnp.float64 else f32, dtype=x.dtype)
        return jnp.searchsorted(table, x, side="right").astype(t.dtype)



class TensorflowMath:
    """TensorFlow tensors and variables, eager or symbolic (``tf.function``, XLA included): float
    dtypes are kept; integer steps (``optimizer.iterations`` is int64) become float32."""

    is_python = False

    def __init__(self, tf: Any) -> None:
        self.tf = tf

    def asfloat(self, t: Any) -> Any:
        tf = self.tf
        try:
            x = tf.convert_to_tensor(t)  # variables (tf and Keras) are read; ragged is refused
        except (TypeError, ValueError):
            raise WrongTypeError(
                f"t: a schedule's TensorFlow step must be a dense tensor or a variable; got "
                f"{t!r:.80} ({type(t).__module__}.{type(t).__qualname__})"
            ) from None
        if x.dtype.is_floating:
            return x
        if x.dtype.is_integer:
            return tf.cast(x, tf.float32)
        raise WrongTypeError(
            f"t: a schedule's step must be a tensor of integers or floats; got a TensorFlow "
            f"tensor of dtype {x.dtype.name}"
        )

    def check(self, t: Any) -> None:
        """Eager tensors only, as numpy: values are unknown inside ``tf.function``."""
        tf = self.tf
        if tf.executing_eagerly() and not bool(tf.reduce_all((t >= 0.0) & (t < math.inf))):
            raise ValueError("t must hold finite step counts >= 0; got negative, NaN or inf")

    def floor(self, x: Any) -> Any:
        return self.tf.math.floor(x)

    def cos(self, x: Any) -> Any:
        return self.tf.math.cos(x)

    def sqrt(self, x: Any) -> Any:
        return self.tf.math.sqrt(x)

    def exp(self, x: Any) -> Any:
        return self.tf.math.exp(x)

    def log(self, x: Any) -> Any:
        return self.tf.math.log(x)

    def power(self, base: float, x: Any) -> Any:
        """``base ** x``; exact at integer ``x`` wherever the power is a float32 number.

        TensorFlow's vectorised float32 ``pow`` (eager and graph, not XLA) is off by an ulp at
        some exact powers (3 ** 4 = 81.00001), which moves a restart of
        ``cosine_restarts(period_mult=3)`` by one step: those powers come from a table.
        """
        tf = self.tf
        out = tf.math.pow(tf.constant(base, dtype=x.dtype), x)
        table = _exact_float32_powers(float(base)) if x.dtype == tf.float32 else ()
        if len(table) < 3:  # base ** 0 and base ** 1 are exact anyway
            return out
        top = float(len(table) - 1)
        exact = (x == tf.math.floor(x)) & (x >= 0.0) & (x <= top)
        index = tf.cast(tf.clip_by_value(x, 0.0, top), tf.int32)
        return tf.where(exact, tf.gather(tf.constant(table, dtype=tf.float32), index), out)

    def where(self, cond: Any, a: Any, b: Any) -> Any:
        # In a graph, SelectV2 converts a Python number to float32 whatever the other operand is.
        if isinstance(a, float | int) and not isinstance(b, float | int):
            a = self.tf.constant(a, dtype=b.dtype)
        elif isinstance(b, float | int) and not isinstance(a, float | int):
            b = self.tf.constant(b, dtype=a.dtype)
        return self.tf.where(cond, a, b)

    def minimum(self, x: Any, c: float) -> Any:
        return self.tf.minimum(x, c)

    def maximum(self, x: Any, c: float) -> Any:
        return self.tf.maximum(x, c)

    def clip(self, x: Any, lo: float, hi: float) -> Any:
        return self.tf.clip_by_value(x, lo, hi)

    def full_like(self, t: Any, value: float) -> Any:
        return self.tf.fill(self.tf.shape(t), self.tf.constant(value, dtype=t.dtype))

    def cap(self, x: Any) -> Any:
        return self.tf.minimum(x, self.largest(x))

    def largest(self, x: Any) -> float:
        return float(x.dtype.max)

    def progress(self, t: Any, n: float) -> Any:
        # XLA may compute t / n as t * (1/n): pin the value from t = n on, never above 1.
        return self.tf.where(t < n, self.tf.minimum(t / n, 1.0), 1.0)

    def count_reached(self, t: Any, f64: Sequence[float], f32: Sequence[float]) -> Any:
        """As ``TorchMath.count_reached`` (``tf.searchsorted`` searches the last axis: the
        steps are flattened into one row)."""
        tf = self.tf
        x = t if t.dtype == tf.float64 else tf.cast(t, tf.float32)
        table = tf.constant([f64 if x.dtype == tf.float64 else f32], dtype=x.dtype)
        found = tf.searchsorted(table, tf.reshape(x, [1, -1]), side="right")
        return tf.reshape(tf.cast(found, t.dtype), tf.shape(t))



PY = PyMath()
_cache: dict[str, Any] = {}

Namespace = Any
"""One of the classes above (structural: they share method names)."""


def namespace_of(t: Any) -> Namespace:
    """The math namespace for the array family of ``t``.

    Raises ``WrongTypeError`` (a ``TypeError`` and a ``ValueError``) for a type that is not a real
    number or a supported array.
    """
    kind = type(t)
    if kind is int or kind is float:
        return PY
    module = kind.__module__ or ""
    if module.startswith("torch"):
        torch = sys.modules["torch"]
        if isinstance(t, torch.Tensor):
            ns = _cache.get("torch")
            if ns is None:
                ns = _cache["torch"] = TorchMath(torch)
            return ns
    if module.startswith(("jax", "jaxlib")):
        jax = sys.modules.get("jax")
        if jax is not None and isinstance(t, jax.Array):
            ns = _cache.get("jax")
            if ns is None:
                import jax.numpy as jnp

                ns = _cache["jax"] = JaxMath(jnp)
            return ns
    if module.startswith("tensorflow"):
        ns = _tensorflow(t)
        if ns is not None:
            return ns
    if module == "numpy":
        np = sys.modules["numpy"]
        if isinstance(t, np.ndarray | np.generic):
            if t.dtype.kind not in "iuf":  # bool, complex, strings, dates, objects...
                raise _bad_dtype("a numpy array", t.dtype)
            ns = _cache.get("numpy")
            if ns is None:
                ns = _cache["numpy"] = NumpyMath(np)
            return ns
    if isinstance(t, bool):
        raise WrongTypeError(f"t: a schedule's step must be a number or an array; got {t!r}")
    if isinstance(t, int | float):  # int/float subclasses (e.g. IntEnum)
        return PY
    jax = sys.modules.get("jax")
    if jax is not None and isinstance(t, jax.Array):  # tracers live in other modules
        ns = _cache.get("jax")
        if ns is None:
            import jax.numpy as jnp

            ns = _cache["jax"] = JaxMath(jnp)
        return ns
    if module.startswith("keras"):  # Keras 3 variables on the tensorflow backend
        ns = _tensorflow(t)
        if ns is not None:
            return ns
    raise WrongTypeError(
        f"t: a schedule's step must be a Python number, a numpy array, a torch tensor, a jax "
        f"array or a TensorFlow tensor; got {t!r:.80} ({kind.__module__}.{kind.__qualname__})"
    )


def _bad_dtype(what: str, dtype: Any) -> WrongTypeError:
    return WrongTypeError(
        f"t: a schedule's step must be a number or an array of integers or floats; got {what} "
        f"of dtype {dtype}"
    )


def _float32(x: float) -> float:
    """``x`` rounded to the nearest float32."""
    return float(struct.unpack("f", struct.pack("f", x))[0])


@functools.lru_cache(maxsize=256)
def _exact_float32_powers(base: float) -> tuple[float, ...]:
    """``b ** n`` for n = 0, 1, 2, ... as long as it is exactly a (normal) float32 number, with
    ``b`` the float32 nearest ``base`` (the value a float32 ``pow`` computes with); at most 256.
    """
    try:
        b = Fraction(_float32(base))
    except (OverflowError, ValueError):
        return ()
    if b == 1:
        return ()
    out: list[float] = []
    power = Fraction(1)
    while len(out) < 256:
        value = float(power)  # exact: a float32 number is a float64 number
        if value == 0.0 or Fraction(value) != power or abs(value) < 2.0**-126:
            break
        try:
            if _float32(value) != value:
                break
        except OverflowError:
            break
        out.append(value)
        power *= b
    return tuple(out)


def _tensorflow(t: Any) -> TensorflowMath | None:
    """The TensorFlow namespace if ``t`` is a TensorFlow tensor or variable (tf.Tensor, eager or
    symbolic; tf.Variable; a Keras variable on the tensorflow backend), else None."""
    tf = sys.modules.get("tensorflow")
    if tf is None or not (tf.is_tensor(t) or isinstance(t, tf.Variable)):
        return None
    ns: TensorflowMath | None = _cache.get("tensorflow")
    if ns is None:
        ns = _cache["tensorflow"] = TensorflowMath(tf)
    return ns


def progress(xp: Namespace, t: Any, n: float) -> Any:
    """min(t / n, 1): exactly 1 from ``t = n`` on, never above 1.

    Under ``jax.jit`` XLA may compute ``t / n`` as ``t * (1/n)``, which can exceed 1 by an ulp
    in float32 (then ``(1 - x) ** p`` is NaN) or fall short of 1 at ``t = n``.
    """
    n = float(n)  # a Python int above 2**31 would overflow jax's int32 weak type
    if xp.is_python:
        return t / n if t < n else 1.0
    return xp.progress(t, n)


def indicator(xp: Namespace, cond: Any, t: Any) -> Any:
    """1.0 where ``cond`` holds, else 0.0, in the float dtype of ``t``."""
    if xp.is_python:
        return 1.0 if cond else 0.0
    return xp.where(cond, xp.full_like(t, 1.0), xp.full_like(t, 0.0))


def affine(lo: float, span: float, x: Any) -> Any:
    """``lo + span * x``, without a multiplication by 1 or an addition of 0 (both exact in
    floating point, so the value is the same; on long arrays it saves whole passes)."""
    if span != 1.0:
        x = span * x
    return x if lo == 0.0 else lo + x


def lift(xp: Namespace, value: Any, t: Any) -> Any:
    """``value`` as an array like ``t`` when a sub-schedule returned a plain number."""
    if isinstance(value, float | int) and not xp.is_python:
        return xp.full_like(t, float(value))
    return value


def pieces(
    xp: Namespace, t: Any, bounds: Sequence[float], funcs: Sequence[Callable[[Any], Any]]
) -> Any:
    """Piecewise evaluation: ``funcs[i](t - bounds[i-1])`` where bounds[i-1] <= t < bounds[i]
    (``funcs[0](t)`` below bounds[0]); every ``funcs[i]`` must accept any local time >= 0.

    numpy evaluates each piece only on its own elements (slices when ``t`` is sorted, masks
    otherwise); torch, jax and tensorflow evaluate every piece and select, which stays traceable.
    """
    if xp.is_python:
        i = bisect.bisect_right(bounds, t)
        return funcs[i](t - bounds[i - 1] if i else t)
    if not isinstance(xp, NumpyMath):
        out = lift(xp, funcs[0](t), t)
        for b, f in zip(bounds, funcs[1:], strict=True):
            out = xp.where(t >= b, f(xp.maximum(t - b, 0.0)), out)
        return out
    np = xp.np
    flat = t.reshape(-1)
    if xp.ordered and flat.size:
        first = bisect.bisect_right(bounds, float(flat[0]))
        if first == bisect.bisect_right(bounds, float(flat[-1])):  # all in one piece
            f = funcs[first]
            return lift(xp, f(flat - bounds[first - 1] if first else flat), flat).reshape(t.shape)
    out = np.empty_like(flat)
    if flat.size > 1 and (xp.ordered or bool(np.all(flat[1:] >= flat[:-1]))):
        cuts = [0, *np.searchsorted(flat, bounds, side="left").tolist(), flat.size]
        for i, f in enumerate(funcs):
            lo, hi = cuts[i], cuts[i + 1]
            if hi > lo:
                out[lo:hi] = f(flat[lo:hi] - bounds[i - 1] if i else flat[lo:hi])
        return out.reshape(t.shape)
    idx = np.searchsorted(np.asarray(bounds, dtype=np.float64), flat, side="right")
    for i, f in enumerate(funcs):
        mask = idx == i
        if mask.any():
            local = flat[mask]
            out[mask] = f(local - bounds[i - 1] if i else local)
    return out.reshape(t.shape)


def floor_div(xp: Namespace, t: Any, k: float) -> Any:
    """``floor(t / k)``, exact at multiples of ``k`` in every family and precision.

    XLA may rewrite ``t / k`` as ``t * (1/k)``, which lands one step early at ``t = n*k`` in
    float32; the result is corrected with two exact comparisons against ``q*k``.
    """
    k = float(k)
    q = xp.floor(t / k)
    if xp.is_python:
        if (q + 1.0) * k <= t:
            return q + 1.0
        if q * k > t:
            return q - 1.0
        return q
    q = xp.where((q + 1.0) * k <= t, q + 1.0, q)
    return xp.where(q * k > t, q - 1.0, q)
