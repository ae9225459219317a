"""Loss-curve prediction across schedules: fit a law on a few runs, predict any schedule's curve.

Needs numpy and SciPy (``pip install "lrkit[losscurve]"``); ``import lrkit`` does not import this.

The Multi-Power Law (Luo et al. 2025, arXiv:2503.12811), indexing as the paper's code: with
``eta[k]`` the rate of the k-th optimizer step and the loss at step t following ``eta[0..t]``::

    L(t) = L0 + A * S1(t) ** -alpha - LD(t)
    LD(t) = B * sum_{k=1..t} (eta[k-1] - eta[k]) * G(eta[k] ** -gamma * S_k(t))
    S1(t) = sum_{tau=0..t} eta[tau],  S_k(t) = sum_{tau=k..t} eta[tau]
    G(x) = 1 - (C x + 1) ** -beta

(``S1`` includes the warmup's sum, the paper's ``S_W``). The annealing law (Tissue et al. 2024)
is ``L = L0 + A * S1 ** -alpha - C * S2``, ``S2(t) = sum_{i=1..t} m_i``,
``m_i = decay * m_{i-1} + (eta[i-1] - eta[i])``.

    >>> import lrkit as lk
    >>> from lrkit.losscurve import fit
    >>> law = fit([(3e-4 * schedule, steps, losses), ...])          # doctest: +SKIP
    >>> law.predict(3e-4 * lk.cosine(24000), [23999])                # doctest: +SKIP
"""

# ruff: noqa: E402  (the extra is checked before numpy is imported)
from __future__ import annotations

from lrkit._extras import require_installed

require_installed("losscurve", "numpy", "scipy")  # a polite ImportError naming the extra

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from lrkit.losscurve._fit import (
    PAPER_PEAK,
    fit_internal,
    fit_paper,
    from_internal,
    refine,
    to_internal,
)
from lrkit.losscurve._law import FORMS, Array, Curve, curve
from lrkit.schedules._base import Schedule

__all__ = ["FORMS", "LossLaw", "fit", "rates"]

logger = logging.getLogger("lrkit.losscurve")

def rates(lrs: Any, last: int, name: str = "lrs") -> Array:
    """The per-step rates eta[0..last]: a schedule evaluated at 0..last, or an array checked.

    An array must have at least ``last + 1`` entries (the rates after ``last`` are not used).
    Rates must be finite and >= 0, and > 0 from step 1 to ``last`` (the law takes eta ** -gamma).
    """
    if isinstance(lrs, Schedule):
        values = np.asarray(lrs(np.arange(last + 1, dtype=np.float64)), dtype=np.float64)
        if values.shape == ():
            values = np.full(last + 1, float(values))
    else:
        try:
            values = np.asarray(lrs, dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError(
                f"{name}: expected an lrkit schedule or a sequence of rates; got "
                f"{type(lrs).__name__}"
            ) from None
        if values.ndim != 1:
            raise ValueError(f"{name}: expected a 1-D sequence of rates; got shape {values.shape}")
        if len(values) < last + 1:
            raise ValueError(
                f"{name}: {len(values)} rates given, but step {last} needs rates for steps "
                f"0..{last} ({last + 1} values)"
            )
        values = values[: last + 1]
    bad = np.flatnonzero(~np.isfinite(values) | (values < 0))
    if len(bad):
        raise ValueError(
            f"{name}: rates must be finite and >= 0; got {values[bad[0]]!r} at step {bad[0]}"
        )
    zero = np.flatnonzero(values[1:] == 0)
    if len(zero):
        raise ValueError(
            f"{name}: the rate at step {zero[0] + 1} is 0; the law needs rates > 0 after step 0 "
            f"(predict up to the last step with a positive rate)"
        )
    return values


def _steps(steps: Any, name: str = "steps") -> npt.NDArray[np.int64]:
    try:
        arr = np.asarray(steps, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: expected a sequence of integer steps; got {steps!r}") from None
    arr = np.atleast_1d(arr)
    if arr.ndim != 1 or len(arr) == 0:
        raise ValueError(
            f"{name}: expected a non-empty 1-D sequence of steps; got shape {arr.shape}"
        )
    if not np.all(np.isfinite(arr)) or np.any(arr < 0) or np.any(arr != np.round(arr)):
        bad = arr[~(np.isfinite(arr) & (arr >= 0) & (arr == np.round(arr)))][0]
        raise ValueError(f"{name}: steps must be integers >= 0; got {bad!r}")
    return arr.astype(np.int64)


def _prepare(lrs: Any, steps: Any, scale: float, name: str) -> Curve:
    st = _steps(steps, f"{name} steps")
    eta = rates(lrs, int(st.max()), f"{name} lrs") / scale
    c = curve(eta, st)
    if np.any(c.s1 <= 0):
        first = int(st[np.flatnonzero(c.s1 <= 0)[0]])
        raise ValueError(
            f"{name} steps: at step {first} no rate has been applied yet (S1 = 0); "
            f"the law starts after the first nonzero rate"
        )
    return c


def _to_absolute(form: str, p: Array, scale: float) -> dict[str, float]:
    """Parameters fitted on rates / scale -> parameters of the law on the rates themselves."""
    names = FORMS[form][0]
    q = dict(zip(names, (float(v) for v in p), strict=True))
    q["A"] *= scale ** q["alpha"]
    if form == "multi-power":
        q["B"] /= scale
        q["C"] *= scale ** (q["gamma"] - 1.0)
    else:
        q["C"] /= scale
    return q


@dataclass(frozen=True)
class LossLaw:
    """A fitted loss-curve law.

    Attributes:
        form: ``"multi-power"`` or ``"annealing"``.
        params: the law's parameters for the rates as given (absolute rates).
        cost: the fit's objective, the sum of Huber(1e-3) over the log residuals of every point.
        residuals: per fitted run, ``log(loss) - log(L(t))`` at its steps.
        spread: the parameters of the other fits (restarts and refits on resampled points) that
            the band is drawn from.
    """

    form: str
    params: dict[str, float]
    cost: float
    residuals: tuple[Array, ...]
    spread: tuple[dict[str, float], ...] = field(default=(), repr=False)

    def predict(self, lrs: Any, steps: Any) -> Array:
        """Predicted loss at ``steps`` for the rates ``lrs`` (a schedule or per-step array)."""
        return self._evaluate(self.params, lrs, steps)

    def _evaluate(self, params: dict[str, float], lrs: Any, steps: Any) -> Array:
        c = _prepare(lrs, steps, 1.0, "predict:")
        p = np.array([params[n] for n in FORMS[self.form][0]], dtype=np.float64)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            value: Array = FORMS[self.form][1](c, p)[0]
        return value

    def band(self, lrs: Any, steps: Any) -> tuple[Array, Array]:
        """(low, high): the range of the predictions of the fits in ``spread`` and this one.

        Empty spread (``fit(..., band=0)``) gives low == high == predict.
        """
        preds = [self.predict(lrs, steps)]
        preds += [self._evaluate(p, lrs, steps) for p in self.spread]
        stack = np.vstack(preds)
        return stack.min(axis=0), stack.max(axis=0)

    @property
    def rms_residual(self) -> float:
        """Root mean square of the log residuals over every fitted point (~ relative error)."""
        r = np.concatenate(self.residuals)
        return float(np.sqrt(np.mean(r**2)))


def _runs(runs: Iterable[Any]) -> list[tuple[Any, Any, Array]]:
    out = []
    for i, run in enumerate(runs):
        try:
            lrs, steps, losses = run
        except (TypeError, ValueError):
            raise ValueError(
                f"runs[{i}]: expected a (lrs, steps, losses) triple; got {type(run).__name__}"
            ) from None
        loss = np.atleast_1d(np.asarray(losses, dtype=np.float64))
        st = _steps(steps, f"runs[{i}] steps")
        if loss.shape != st.shape:
            raise ValueError(
                f"runs[{i}] losses: {loss.size} losses for {st.size} steps; expected one per step"
            )
        if not np.all(np.isfinite(loss)) or np.any(loss <= 0):
            raise ValueError(f"runs[{i}] losses: losses must be finite and > 0")
        out.append((lrs, st, loss))
    if not out:
        raise ValueError("runs: expected at least one (lrs, steps, losses) run; got none")
    return out


def fit(
    runs: Iterable[Any],
    form: str = "multi-power",
    *,
    method: str = "paper",
    starts: int = 4,
    band: int = 8,
    seed: int = 0,
) -> LossLaw:
    """Fit a loss-curve law to logged runs.

    Args:
        runs: ``(lrs, steps, losses)`` triples: ``lrs`` an absolute lrkit schedule
            (``3e-4 * s``) or the per-step rates used (``lrs[k]`` for the k-th optimizer step),
            ``steps`` the steps where the loss was measured, ``losses`` those losses.
        form: ``"multi-power"`` (7 parameters) or ``"annealing"`` (5).
        method: ``"paper"`` (multi-power only): the paper's own procedure (a grid of 135 starts
            for the law without its curvature term, then at most 200 AdamW steps with early
            stopping) on the rates rescaled to the paper's peak, keeping the parameters at the
            lowest loss; ``"lsq"``: SciPy ``least_squares`` to the minimum of the same objective
            from ``starts`` starting points.
        starts: how many starting points ``"lsq"`` polishes.
        band: how many refits on resampled points (a bootstrap over each run's points) draw the
            uncertainty band; 0 for none.
        seed: the resampling's seed.

    Returns:
        a :class:`LossLaw`.
    """
    if form not in FORMS:
        raise ValueError(f"form: expected one of {sorted(FORMS)}; got {form!r}")
    if method not in ("paper", "lsq"):
        raise ValueError(f"method: expected 'paper' or 'lsq'; got {method!r}")
    if method == "paper" and form != "multi-power":
        method = "lsq"  # the paper's procedure is for its law only
    if not isinstance(starts, int) or starts < 1:
        raise ValueError(f"starts: expected an integer >= 1; got {starts!r}")
    if not isinstance(band, int) or band < 0:
        raise ValueError(f"band: expected an integer >= 0; got {band!r}")
    data = _runs(runs)
    peak = max(float(np.max(rates(lrs, int(st.max()), f"runs[{i}] lrs")))
               for i, (lrs, st, _) in enumerate(data))
    if not peak > 0:
        raise ValueError("runs: every rate is 0; the law needs a positive rate")
    scale = peak / PAPER_PEAK if method == "paper" else peak
    curves = [_prepare(lrs, st, scale, f"runs[{i}]") for i, (lrs, st, _) in enumerate(data)]
    losses = [loss for _, _, loss in data]
    flat = np.concatenate(losses)
    if method == "paper":
        p, cost, _ = fit_paper(curves, flat)
        q = to_internal(form, p)
    else:
        result = fit_internal(form, curves, flat, starts=starts)
        q, cost = result.params, result.cost
        p = from_internal(form, q)
    params = _to_absolute(form, p, scale)
    evaluate = FORMS[form][1]
    with np.errstate(all="ignore"):
        residuals = tuple(
            np.log(loss) - np.log(evaluate(c, p)[0]) for c, loss in zip(curves, losses, strict=True)
        )
    spread: list[dict[str, float]] = []
    if band:
        rng = np.random.default_rng(seed)
        for _ in range(band):
            picks = [np.sort(rng.integers(0, len(loss), len(loss))) for loss in losses]
            sub = [curve(c.lrs, c.steps[idx]) for c, idx in zip(curves, picks, strict=True)]
            sub_loss = np.concatenate([loss[idx] for loss, idx in zip(losses, picks, strict=True)])
            refit = refine(form, sub, sub_loss, q, max_nfev=8)
            spread.append(_to_absolute(form, from_internal(form, refit), scale))
    rms = float(np.sqrt(np.mean(np.concatenate(residuals) ** 2)))
    logger.info(
        "lrkit.losscurve: %s law (%s) fitted on %d run(s), %d points: cost %.3g, "
        "rms log residual %.2g", form, method, len(curves), flat.size, cost, rms,
    )
    return LossLaw(form, params, float(cost), residuals, tuple(spread))
