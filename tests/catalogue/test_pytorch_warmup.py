"""Catalogue rows for pytorch_warmup (docs/equivalence.md, section pytorch_warmup).

pytorch_warmup multiplies whatever lr the torch scheduler set by a factor of (k + 1) at optimizer
step k (``dampen()`` runs once in the constructor for step 0). In lrkit the factor is a schedule
and the combination is a product: ``schedule * lk.warmup_factor(period)``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytorch_warmup = pytest.importorskip("pytorch_warmup")
from torch.optim import lr_scheduler as tls  # noqa: E402

import lrkit as lk  # noqa: E402

from ._common import SEEDS, assert_curves, lrkit_curve, rng  # noqa: E402

BASE = 1e-3


def warmup_curve(make_warmup: object, t_max: int, steps: int, beta2: float = 0.999) -> np.ndarray:
    """Adam + CosineAnnealingLR(t_max) dampened by a pytorch_warmup schedule (its README loop)."""
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.Adam([p], lr=BASE, betas=(0.9, beta2))
    sched = tls.CosineAnnealingLR(opt, t_max)
    warm = make_warmup(opt)  # type: ignore[operator]
    out = []
    for _ in range(steps):
        out.append(float(opt.param_groups[0]["lr"]))
        opt.step()
        with warm.dampening():
            sched.step()
    return np.asarray(out)


@pytest.mark.parametrize("seed", SEEDS)
def test_linear_warmup(seed: int) -> None:
    r = rng(seed, "LinearWarmup")
    period, t_max = r.randint(1, 100), r.randint(50, 300)
    ref = warmup_curve(lambda o: pytorch_warmup.LinearWarmup(o, period), t_max, t_max + 1)
    got = lrkit_curve(lk.cosine(t_max) * lk.warmup_factor(period), t_max + 1, BASE)
    assert_curves(got, ref, rtol=1e-9, atol=1e-18, what=f"LinearWarmup({period})")
    # the same factor written as a ramp: min(1, (t + 1) / period) = linear(1/period, 1, period-1)
    if period > 1:
        ramp = lk.linear(1.0 / period, 1.0, period - 1)
        assert_curves(
            lrkit_curve(lk.cosine(t_max) * ramp, t_max + 1, BASE), ref, rtol=1e-9, atol=1e-18
        )


@pytest.mark.parametrize("seed", SEEDS)
def test_exponential_warmup(seed: int) -> None:
    r = rng(seed, "ExponentialWarmup")
    period, t_max = r.randint(1, 100), r.randint(50, 300)
    ref = warmup_curve(lambda o: pytorch_warmup.ExponentialWarmup(o, period), t_max, t_max + 1)
    got = lrkit_curve(
        lk.cosine(t_max) * lk.warmup_factor(period, shape="exponential"), t_max + 1, BASE
    )
    assert_curves(got, ref, rtol=1e-9, atol=1e-18, what=f"ExponentialWarmup({period})")


BETA2S = [0.999, 0.99, 0.98, 0.9995, 0.95]


@pytest.mark.parametrize("beta2", BETA2S)
def test_untuned_linear_warmup(beta2: float) -> None:
    """Period int(2 / (1 - beta2)): 1999 for beta2 = 0.999 (float rounding), not 2000."""
    t_max = 5000
    ref = warmup_curve(pytorch_warmup.UntunedLinearWarmup, t_max, 4100, beta2)
    got = lrkit_curve(lk.cosine(t_max) * lk.untuned_warmup(beta2), 4100, BASE)
    assert_curves(got, ref, rtol=1e-9, atol=1e-18, what=f"UntunedLinearWarmup(beta2={beta2})")


@pytest.mark.parametrize("beta2", BETA2S)
def test_untuned_exponential_warmup(beta2: float) -> None:
    t_max = 5000
    ref = warmup_curve(pytorch_warmup.UntunedExponentialWarmup, t_max, 4100, beta2)
    got = lrkit_curve(lk.cosine(t_max) * lk.untuned_warmup(beta2, shape="exponential"), 4100, BASE)
    assert_curves(got, ref, rtol=1e-9, atol=1e-18, what=f"UntunedExponentialWarmup(beta2={beta2})")


def radam_factor(step: int, beta2: float) -> float:
    """RAdam's rectification term (pytorch_warmup.RAdamWarmup), written out from the paper."""
    rho_inf = 2.0 / (1.0 - beta2) - 1.0

    def rho(t: int) -> float:
        b = beta2**t
        return rho_inf - 2.0 * t * b / (1.0 - b)

    offset = 1
    while not rho(offset) > 4:
        offset += 1
    r = rho(step + offset)
    return math.sqrt((r - 4) * (r - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * r))


@pytest.mark.parametrize("beta2", [0.999, 0.99])
def test_radam_warmup_is_not_expressible(beta2: float) -> None:
    """RAdamWarmup has no lrkit constructor (documented); the formula in the docs is pinned."""
    ref = warmup_curve(pytorch_warmup.RAdamWarmup, 3000, 300, beta2)
    cos = lrkit_curve(lk.cosine(3000), 300, BASE)
    want = cos * np.array([radam_factor(k, beta2) for k in range(300)])
    assert_curves(want, ref, rtol=1e-9, atol=1e-18)
