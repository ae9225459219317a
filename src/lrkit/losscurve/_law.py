"""The Multi-Power Law and the annealing law, evaluated with numpy (vectorised, chunked).

Indexing follows the paper's code (thu-yao-01-luo/MultiPowerLaw, ``src/evaluation.py``): the
rate of the k-th optimizer step is ``eta[k]`` (k = 0, 1, ...), and the loss logged at step t
follows the rates ``eta[0..t]``::

    S1(t)   = sum_{tau=0..t} eta[tau]                 (the warmup's sum S_W included)
    S_k(t)  = sum_{tau=k..t} eta[tau]
    LD(t)   = B * sum_{k=1..t} (eta[k-1] - eta[k]) * G(eta[k] ** -gamma * S_k(t))
    G(x)    = 1 - (C * x + 1) ** -beta
    L(t)    = L0 + A * S1(t) ** -alpha - LD(t)

Only the steps where the rate changes contribute to LD, so a run costs O(M * K) with M measured
steps and K rate changes, computed in row chunks of at most ``CHUNK`` elements (bounded memory).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[np.float64]

#: elements per chunk of the (measured steps x rate changes) matrix
CHUNK = 1 << 16

MPL_NAMES = ("L0", "A", "alpha", "B", "C", "beta", "gamma")
ANNEALING_NAMES = ("L0", "A", "alpha", "C", "decay")


@dataclass(frozen=True)
class Curve:
    """One run's rates and the steps where its loss is measured, preprocessed for the law."""

    lrs: Array  # eta[0..N-1]
    steps: npt.NDArray[np.int64]  # measured steps, each in [0, N-1]
    s1: Array  # S1 at each measured step
    cum: Array  # cumsum of lrs
    changes: npt.NDArray[np.int64]  # k >= 1 where eta[k] != eta[k-1], ascending
    drop: Array  # eta[k] - eta[k-1] at `changes` (negative for a decay)
    log_eta: Array  # log(eta[k]) at `changes`
    before: Array  # S1(k-1) = cum[k-1] at `changes`


def curve(lrs: Array, steps: npt.NDArray[np.int64]) -> Curve:
    """Preprocess one run (lrs validated by the caller: finite, >= 0, > 0 after step 0)."""
    cum = np.cumsum(lrs)
    diff = np.diff(lrs)
    changes = np.flatnonzero(diff) + 1
    return Curve(
        lrs=lrs,
        steps=steps,
        s1=cum[steps],
        cum=cum,
        changes=changes.astype(np.int64),
        drop=diff[changes - 1],
        log_eta=np.log(lrs[changes]),
        before=cum[changes - 1],
    )


def _blocks(c: Curve) -> list[tuple[npt.NDArray[np.int64], int]]:
    """Row blocks (indices of measured steps, number of change columns they need)."""
    order = np.argsort(c.steps, kind="stable")
    k = max(1, len(c.changes))
    rows = max(1, CHUNK // k)
    out = []
    for i in range(0, len(order), rows):
        idx = order[i : i + rows]
        last = int(c.steps[idx[-1]])
        out.append((idx, int(np.searchsorted(c.changes, last, side="right"))))
    return out


def mpl_value(c: Curve, p: Array, jac: bool = False) -> tuple[Array, Array | None]:
    """L(t) at the measured steps and, when asked, dL/d(params) (shape (M, 7))."""
    l0, a, alpha, b, cc, beta, gamma = (float(v) for v in p)
    m = len(c.steps)
    ld = np.zeros(m)
    d_c = np.zeros(m) if jac else None
    d_beta = np.zeros(m) if jac else None
    d_gamma = np.zeros(m) if jac else None
    weight = np.exp(-gamma * c.log_eta)  # eta_k ** -gamma
    for idx, ncol in _blocks(c):
        if ncol == 0:
            continue
        s_k = c.cum[c.steps[idx]][:, None] - c.before[None, :ncol]
        np.maximum(s_k, 0.0, out=s_k)  # k > t contributes nothing: S_k(t) = 0, G(0) = 0
        x = s_k * weight[None, :ncol]
        u = 1.0 + cc * x
        lu = np.log(u)
        pw = np.exp(-beta * lu)  # u ** -beta
        drop = c.drop[:ncol]
        ld[idx] = drop.sum() - pw @ drop  # sum drop * G; G = 0 where k > t
        if jac:
            assert d_c is not None and d_beta is not None and d_gamma is not None
            xq = x * pw / u  # x * u ** (-beta - 1)
            d_c[idx] = beta * (xq @ drop)
            d_beta[idx] = (pw * lu) @ drop
            d_gamma[idx] = -beta * cc * (xq @ (drop * c.log_eta[:ncol]))
    power = c.s1 ** -alpha
    value = l0 + a * power + b * ld  # drop < 0 for a decay: b * ld is the loss drop
    if not jac:
        return value, None
    assert d_c is not None and d_beta is not None and d_gamma is not None
    grad = np.empty((m, 7))
    grad[:, 0] = 1.0
    grad[:, 1] = power
    grad[:, 2] = -a * power * np.log(c.s1)
    grad[:, 3] = ld
    grad[:, 4] = b * d_c
    grad[:, 5] = b * d_beta
    grad[:, 6] = b * d_gamma
    return value, grad


def annealing_value(c: Curve, p: Array, jac: bool = False) -> tuple[Array, Array | None]:
    """Tissue et al. 2024: L = L0 + A * S1 ** -alpha - C * S2, S2 the momentum-smoothed area.

    S2(t) = sum_{i=1..t} m_i, m_i = decay * m_{i-1} + (eta[i-1] - eta[i]).
    """
    l0, a, alpha, cc, decay = (float(v) for v in p)
    n = int(c.steps.max()) + 1
    drop = np.zeros(n)
    drop[1:] = -np.diff(c.lrs[:n])
    # S2(t) = sum_{j<=t} drop_j * (1 - decay ** (t - j + 1)) / (1 - decay)
    s2, ds2 = _momentum_area(drop, c.steps, decay)
    power = c.s1 ** -alpha
    value = l0 + a * power - cc * s2
    if not jac:
        return value, None
    grad = np.empty((len(c.steps), 5))
    grad[:, 0] = 1.0
    grad[:, 1] = power
    grad[:, 2] = -a * power * np.log(c.s1)
    grad[:, 3] = -s2
    grad[:, 4] = -cc * ds2
    return value, grad


def _momentum_area(
    drop: Array, steps: npt.NDArray[np.int64], decay: float
) -> tuple[Array, Array]:
    """S2 at `steps` and dS2/d(decay), only over the steps where the rate changes."""
    nz = np.flatnonzero(drop)
    s2 = np.zeros(len(steps))
    ds2 = np.zeros(len(steps))
    if len(nz) == 0:
        return s2, ds2
    dj = drop[nz]
    for i, t in enumerate(steps):
        sel = nz <= t
        if not sel.any():
            continue
        n = (int(t) - nz[sel] + 1).astype(np.float64)  # terms in each geometric sum
        geo = decay**n
        s2[i] = dj[sel] @ ((1.0 - geo) / (1.0 - decay))
        # d/d(decay) of (1 - decay**n) / (1 - decay)
        der = (-(n * decay ** (n - 1.0)) * (1.0 - decay) + (1.0 - geo)) / (1.0 - decay) ** 2
        ds2[i] = dj[sel] @ der
    return s2, ds2


FORMS: dict[str, tuple[tuple[str, ...], Any]] = {
    "multi-power": (MPL_NAMES, mpl_value),
    "annealing": (ANNEALING_NAMES, annealing_value),
}
