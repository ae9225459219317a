"""Blocked evaluation of long numpy inputs: the curve is computed in cache-sized blocks written
into one output array.

A schedule's formula is a few numpy operations per node, and each allocates a temporary the size
of its input. On a 10M-step curve that is hundreds of MB of short-lived arrays, and memory
traffic instead of arithmetic. Evaluated block by block, every temporary is ``BLOCK`` elements
(it stays in the CPU cache and its memory is reused), the peak memory is the output plus a few
blocks, and an integer input is converted to float64 one block at a time. Each element gets
exactly the operations of the unblocked formula.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lrkit._xp import NumpyMath

if TYPE_CHECKING:
    from lrkit.schedules._base import Schedule, States

__all__ = ["BLOCK", "evaluate_blocks"]

BLOCK = 1 << 13
"""Elements per block (64 KiB of float64): a handful of temporaries fit in a core's L2 cache."""


def evaluate_blocks(schedule: Schedule, t: Any, xp: NumpyMath, states: States) -> Any:
    """``schedule`` at every element of the numpy array ``t`` (more than ``BLOCK`` elements),
    as a float64 array of ``t``'s shape."""
    np = xp.np
    flat = t.reshape(-1)  # a view when t is contiguous
    if flat.dtype.kind not in "fiub":
        flat = flat.astype(np.float64)
    # Finite and >= 0: two reductions over the input, no temporary (NaN fails min() >= 0).
    if not (flat.min() >= 0 and np.isfinite(flat.max())):
        raise ValueError("t must hold finite step counts >= 0; got negative, NaN or inf")
    out = np.empty(flat.size, dtype=np.float64)
    convert = flat.dtype != np.float64
    ordered = _ordered(xp)
    for lo in range(0, flat.size, BLOCK):
        block = flat[lo : lo + BLOCK]
        if convert:
            block = block.astype(np.float64)
        sorted_ = bool(np.all(block[1:] >= block[:-1]))
        out[lo : lo + BLOCK] = schedule._eval(block, ordered if sorted_ else xp, states)
    return out.reshape(t.shape)


_ORDERED: dict[int, NumpyMath] = {}


def _ordered(xp: NumpyMath) -> NumpyMath:
    """The numpy namespace for blocks whose steps are non-decreasing (``NumpyMath.ordered``)."""
    ns = _ORDERED.get(id(xp.np))
    if ns is None:
        ns = _ORDERED[id(xp.np)] = type(xp)(xp.np)
        ns.ordered = True
    return ns
