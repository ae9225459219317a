"""Reads the recipes of docs/recipes.md and compares them with an oracle at every step.

A recipe in the gallery is a ```python block right after an ``<!-- recipe: ID -->`` marker. The
block defines ``lr`` (the rate the schedule multiplies) and ``s`` (the lrkit schedule): the
recipe's rate at step ``t`` is ``lr * s(t)``. The tests execute the block exactly as the page
shows it, so the page and the tests cannot drift apart.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np

import lrkit as lk

ROOT = Path(__file__).resolve().parents[2]
GALLERY = ROOT / "docs" / "recipes.md"
BLOCK = re.compile(r"<!-- recipe: ([a-z0-9][a-z0-9-]*) -->\s*\n```python\n(.*?)^```", re.S | re.M)


@functools.cache
def recipes() -> dict[str, dict[str, Any]]:
    """Recipe id -> the namespace its block leaves (``lr``, ``s`` and the parameters)."""
    text = GALLERY.read_text(encoding="utf-8")
    found: dict[str, dict[str, Any]] = {}
    for m in BLOCK.finditer(text):
        rid, body = m.group(1), m.group(2)
        if rid in found:
            raise AssertionError(f"docs/recipes.md: recipe {rid!r} appears twice")
        ns: dict[str, Any] = {"lk": lk}
        exec(compile(body, f"docs/recipes.md[{rid}]", "exec"), ns)
        for name in ("lr", "s"):
            if name not in ns:
                raise AssertionError(f"docs/recipes.md[{rid}] defines no {name!r}")
        if not isinstance(ns["s"], lk.Schedule):
            raise AssertionError(f"docs/recipes.md[{rid}]: s is not a schedule")
        found[rid] = ns
    return found


def recipe(rid: str) -> tuple[float, lk.Schedule]:
    ns = recipes()[rid]
    return float(ns["lr"]), ns["s"]


def rates(rid: str, ts: np.ndarray) -> np.ndarray:
    """``lr * s(t)`` on a float64 array, with the Python-float path checked on a subset (every
    step near a breakpoint and a few hundred spread over the range)."""
    lr, s = recipe(rid)
    t = np.asarray(ts, dtype=np.float64)
    got = lr * np.asarray(s(t), dtype=np.float64)
    picks = set(np.linspace(0, t.size - 1, min(t.size, 300)).astype(int).tolist())
    for b in s.breakpoints():
        k = int(np.searchsorted(t, b))
        picks.update(i for i in range(k - 2, k + 3) if 0 <= i < t.size)
    for i in sorted(picks):
        one = lr * s(float(t[i]))
        if not np.isclose(one, got[i], rtol=1e-12, atol=0.0):
            raise AssertionError(f"{rid}: s({t[i]}) is {one!r} as a float, {got[i]!r} in numpy")
    return got


def compare(
    got: np.ndarray,
    want: np.ndarray,
    ts: np.ndarray,
    *,
    rtol: float = 1e-9,
    atol: float = 0.0,
    what: str,
) -> None:
    """Every step equal to ``rtol``; the message names the first step that differs."""
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    assert got.shape == want.shape, f"{what}: {got.shape} != {want.shape}"
    bad = ~np.isclose(got, want, rtol=rtol, atol=atol)
    if bad.any():
        k = int(np.argmax(bad))
        raise AssertionError(
            f"{what}: {int(bad.sum())} of {got.size} steps differ; first at t={ts[k]}: "
            f"lrkit {got[k]!r} vs source {want[k]!r} (rtol={rtol})"
        )


def check(
    rid: str,
    oracle: Callable[[int], float],
    steps: int,
    *,
    start: int = 0,
    stride: int = 1,
    rtol: float = 1e-9,
    atol: float = 0.0,
) -> np.ndarray:
    """``lr * s(t) == oracle(t)`` for every ``t`` in ``range(start, steps, stride)``."""
    ts = np.arange(start, steps, stride)
    want = np.fromiter((oracle(int(k)) for k in ts), dtype=np.float64, count=ts.size)
    got = rates(rid, ts)
    compare(got, want, ts, rtol=rtol, atol=atol, what=rid)
    assert np.all(got >= 0.0) and np.all(np.isfinite(got)), f"{rid}: a negative or non-finite rate"
    return got


def check_holds(rid: str, end: int, steps: int) -> float:
    """Past ``end`` the lrkit recipe holds its value at ``end`` (lrkit's rule for a finite
    schedule), for every step up to ``steps``. Returns that value."""
    lr, s = recipe(rid)
    ts = np.arange(end, steps)
    got = lr * np.asarray(s(ts.astype(np.float64)))
    assert np.all(got == got[0]), f"{rid}: not constant past t={end}"
    return float(got[0])


def sequence(values: Iterable[float]) -> np.ndarray:
    return np.fromiter(values, dtype=np.float64)
