"""LARS against timm's Lars (the oracle) on random models and hyperparameters, and the
large-batch scaling rules against their published formulas."""

from __future__ import annotations

import math
import random

import pytest
import torch
from _timm import timm_lars

from lrkit.torch.lars import LARS, scale_lr


def _model(seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    rng = random.Random(seed)
    width = rng.randint(2, 6)
    layers: list[torch.nn.Module] = [torch.nn.Linear(3, width), torch.nn.Tanh()]
    if rng.random() < 0.5:
        layers += [torch.nn.Linear(width, width, bias=False), torch.nn.ReLU()]
    layers.append(torch.nn.Linear(width, 2))
    model = torch.nn.Sequential(*layers)
    if rng.random() < 0.3:  # a zero-norm weight exercises the "ratio = 1" branch
        with torch.no_grad():
            model[-1].bias.zero_()
    return model.double()


def _random_kwargs(rng: random.Random) -> dict[str, object]:
    momentum = rng.choice([0.0, 0.5, 0.9])
    nesterov = momentum > 0 and rng.random() < 0.5
    return {
        "lr": rng.choice([0.05, 0.5, 3.0]),
        "momentum": momentum,
        "dampening": 0.0 if nesterov else rng.choice([0.0, 0.1]),
        "weight_decay": rng.choice([0.0, 1e-4, 0.05]),
        "nesterov": nesterov,
        "trust_coeff": rng.choice([0.001, 0.02]),
        "eps": rng.choice([1e-8, 1e-3]),
        "trust_clip": rng.random() < 0.5,
        "always_adapt": rng.random() < 0.5,
    }


def _train(optimizer_cls: type, seed: int, kwargs: dict[str, object], foreach: bool | None,
           two_groups: bool, steps: int = 6) -> list[torch.Tensor]:
    model = _model(seed)
    params = list(model.parameters())
    if two_groups:
        groups: list[dict[str, object]] = [
            {"params": params[:1]},
            {"params": params[1:], "weight_decay": 0.0, "lr": 0.7},
        ]
        opt = optimizer_cls(groups, foreach=foreach, **kwargs)
    else:
        opt = optimizer_cls(params, foreach=foreach, **kwargs)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        x = torch.randn(8, 3, generator=gen, dtype=torch.float64)
        y = torch.randn(8, 2, generator=gen, dtype=torch.float64)
        opt.zero_grad()
        torch.nn.functional.mse_loss(model(x), y).backward()
        opt.step()
    return [p.detach().clone() for p in model.parameters()]


@pytest.mark.parametrize("seed", range(24))
def test_matches_timm_on_random_models(seed: int) -> None:
    rng = random.Random(seed)
    kwargs = _random_kwargs(rng)
    foreach = rng.choice([None, True, False])
    two_groups = rng.random() < 0.4
    ours = _train(LARS, seed, kwargs, foreach, two_groups)
    theirs = _train(timm_lars().Lars, seed, kwargs, foreach, two_groups)
    for a, b in zip(ours, theirs, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("trust_clip", [False, True])
def test_tensor_lr_matches_float_lr(trust_clip: bool) -> None:
    kwargs = {"momentum": 0.9, "weight_decay": 0.01, "trust_clip": trust_clip}
    floats = _train(LARS, 3, {"lr": 0.5, **kwargs}, None, False)
    tensors = _train(LARS, 3, {"lr": torch.tensor(0.5, dtype=torch.float64), **kwargs}, None, False)
    for a, b in zip(floats, tensors, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-14)


def test_single_step_by_hand() -> None:
    # LARC: ratio = min(tc*|w| / (|g| + wd*|w| + eps) / lr, 1); w -= lr * ratio * (g + wd*w)
    w = torch.nn.Parameter(torch.tensor([3.0, 4.0], dtype=torch.float64))
    w.grad = torch.tensor([0.0, 2.0], dtype=torch.float64)
    lr, tc, wd, eps = 0.1, 0.01, 0.1, 1e-8
    LARS([w], lr=lr, trust_coeff=tc, weight_decay=wd, eps=eps, trust_clip=True).step()
    ratio = min(tc * 5.0 / (2.0 + wd * 5.0 + eps) / lr, 1.0)
    expected = [3.0 - lr * ratio * (0.0 + wd * 3.0), 4.0 - lr * ratio * (2.0 + wd * 4.0)]
    assert w.detach().tolist() == pytest.approx(expected, rel=1e-14)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"lr": -1.0}, "lr"),
        ({"momentum": -0.1}, "momentum"),
        ({"weight_decay": -1.0}, "weight_decay"),
        ({"nesterov": True}, "nesterov"),
        ({"nesterov": True, "momentum": 0.9, "dampening": 0.1}, "nesterov"),
    ],
)
def test_bad_keywords_name_the_parameter(kwargs: dict[str, float], name: str) -> None:
    w = torch.nn.Parameter(torch.zeros(2))
    with pytest.raises(ValueError, match=name):
        LARS([w], **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("batch", [32, 256, 1000, 8192])
def test_scale_lr_rules(batch: int) -> None:
    assert scale_lr(0.1, batch) == pytest.approx(0.1 * batch / 256, rel=1e-15)
    sqrt_rule = 0.1 * math.sqrt(batch / 256)
    assert scale_lr(0.1, batch, rule="sqrt") == pytest.approx(sqrt_rule, rel=1e-15)
    assert scale_lr(0.3, batch, base_batch_size=64) == pytest.approx(0.3 * batch / 64, rel=1e-15)


@pytest.mark.parametrize(
    ("args", "name"),
    [
        ((0.1, 0), "batch_size"),
        ((0.1, 64, 0), "base_batch_size"),
        ((-0.1, 64), "base_lr"),
        ((0.1, 64, 256, "cube"), "rule"),
        ((0.1, 64.5), "batch_size"),
    ],
)
def test_scale_lr_rejects_bad_input(args: tuple[object, ...], name: str) -> None:
    with pytest.raises(ValueError, match=name):
        scale_lr(*args)  # type: ignore[arg-type]
