"""lrkit.torch.find_lr told the planned run (total_steps, schedule, val_loader, budget)."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
import torch

import lrkit as lk
from lrkit.torch import find_lr

# weak-evidence notes are expected on these small problems (their own tests are in
# tests/test_rangetest_informed.py)
pytestmark = pytest.mark.filterwarnings("ignore:find_lr. weak evidence")


def half_mse(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return 0.5 * ((out.squeeze(-1) - y) ** 2).mean()


def least_squares(seed: int) -> tuple[torch.Tensor, ...]:
    """256 samples, 10 features, the eigenvalues of X^T X / n from 4 down to 0.04; a quarter
    held out. Returns x/y train, x/y validation and the critical rate 2 / L of the training
    set."""
    rng = np.random.default_rng(seed)
    n, d = 256, 10
    u, _ = np.linalg.qr(rng.normal(size=(n, d)))
    v, _ = np.linalg.qr(rng.normal(size=(d, d)))
    x = u @ np.diag(math.sqrt(n * 4.0) * np.geomspace(1.0, 0.1, d)) @ v.T
    y = x @ rng.normal(size=d) + 0.3 * rng.normal(size=n)
    xtr, ytr = torch.tensor(x[:192]), torch.tensor(y[:192])
    lmax = float(np.linalg.eigvalsh(x[:192].T @ x[:192] / 192).max())
    return xtr, ytr, torch.tensor(x[192:]), torch.tensor(y[192:]), torch.tensor(2.0 / lmax)


def loader(x: torch.Tensor, y: torch.Tensor, seed: int) -> torch.utils.data.DataLoader:  # type: ignore[type-arg]
    gen = torch.Generator().manual_seed(seed)
    return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=32,
                                       shuffle=True, generator=gen)


def train(x: torch.Tensor, y: torch.Tensor, xva: torch.Tensor, yva: torch.Tensor, peak: float,
          total: int) -> float:
    """The planned run, written out: plain SGD, warmup 5% + cosine, then the validation loss."""
    model = torch.nn.Linear(10, 1, bias=False).double()
    torch.nn.init.zeros_(model.weight)
    opt = torch.optim.SGD(model.parameters(), lr=peak)
    w = round(0.05 * total)
    batches = loader(x, y, 1)
    it = iter(batches)
    for t in range(total):
        try:
            xb, yb = next(it)
        except StopIteration:
            it = iter(batches)
            xb, yb = next(it)
        rate = peak * (t / w if t < w else 0.5 * (1 + math.cos(math.pi * (t - w) / (total - w))))
        for g in opt.param_groups:
            g["lr"] = rate
        loss = half_mse(model(xb), yb)
        if not math.isfinite(loss.item()):
            return math.inf
        opt.zero_grad()
        loss.backward()  # type: ignore[no-untyped-call]
        opt.step()
    with torch.no_grad():
        value = float(half_mse(model(xva), yva))
    return value if math.isfinite(value) else math.inf


@pytest.mark.parametrize("seed", [0, 1])
def test_least_squares_suggestion_trains_as_well_as_a_grid_search(seed: int) -> None:
    x, y, xva, yva, critical = least_squares(seed)
    total = 300
    peaks = [float(critical) * 10.0 ** (k / 4) for k in range(-8, 3)]  # 0.01 .. 3.2 x 2/L
    grid = [train(x, y, xva, yva, p, total) for p in peaks]
    best = min(grid)
    model = torch.nn.Linear(10, 1, bias=False).double()
    torch.nn.init.zeros_(model.weight)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    result = find_lr(model, opt, half_mse, loader(x, y, 2), total_steps=total,
                     val_loader=[(xva[:32], yva[:32]), (xva[32:], yva[32:])], progress=False)
    assert result.steps_used <= result.budget == 450
    assert result.suggestion < 2.0 * float(critical)  # a warmup + cosine run tolerates a peak
    loss = train(x, y, xva, yva, result.suggestion, total)  # somewhat above 2/L, not twice it
    assert loss <= 1.1 * best, (result.suggestion / float(critical), loss / best)


class Recorder(torch.nn.Module):
    """An MLP with BatchNorm and dropout that records the mode of every forward pass."""

    def __init__(self) -> None:
        super().__init__()
        self.net = torch.nn.Sequential(torch.nn.Linear(10, 16), torch.nn.BatchNorm1d(16),
                                       torch.nn.ReLU(), torch.nn.Dropout(0.2),
                                       torch.nn.Linear(16, 1))
        self.modes: list[bool] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.modes.append(self.training)
        return self.net(x)


def test_everything_is_restored_and_validation_runs_in_eval_mode() -> None:
    x, y, xva, yva, _ = least_squares(3)
    torch.manual_seed(0)
    model = Recorder().double()
    model.net[1].eval()  # a mode that must survive
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    half_mse(model(x[:8]), y[:8]).backward()  # type: ignore[no-untyped-call]
    opt.step()  # optimizer state to restore
    train_loader = loader(x, y, 5)
    val_gen = torch.Generator().manual_seed(9)
    val_loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(xva, yva),
                                             batch_size=16, shuffle=True, generator=val_gen)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    opt_before = {k: {n: t.clone() for n, t in s.items() if isinstance(t, torch.Tensor)}
                  for k, s in opt.state_dict()["state"].items()}
    grads = [p.grad.clone() for p in model.parameters() if p.grad is not None]
    modes = [m.training for m in model.modules()]
    states = (random.getstate(), np.random.get_state()[1].copy(), torch.get_rng_state(),
              train_loader.generator.get_state(), val_gen.get_state())
    model.modes.clear()
    result = find_lr(model, opt, half_mse, train_loader, total_steps=256, budget=400,
                     val_loader=val_loader, progress=False)
    assert result.steps_used <= 400
    assert all(t.judged_on == "validation" for t in result.trials)
    assert False in model.modes and True in model.modes  # trained in train mode, scored in eval
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    for k, s in opt.state_dict()["state"].items():
        assert all(torch.equal(opt_before[k][n], s[n]) for n in opt_before[k])
    assert all(torch.equal(a, p.grad) for a, p in zip(grads, model.parameters(), strict=True))
    assert [m.training for m in model.modules()] == modes
    assert random.getstate() == states[0]
    assert np.array_equal(np.random.get_state()[1], states[1])
    assert torch.equal(torch.get_rng_state(), states[2])
    assert torch.equal(train_loader.generator.get_state(), states[3])
    assert torch.equal(val_gen.get_state(), states[4])


def test_one_shot_validation_batches_and_a_custom_schedule() -> None:
    x, y, xva, yva, critical = least_squares(4)
    model = torch.nn.Linear(10, 1, bias=False).double()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    shape = lk.wsd(20, 300, 180)
    result = find_lr(model, opt, half_mse, loader(x, y, 6), total_steps=500, schedule=shape,
                     val_loader=iter([(xva[:32], yva[:32]), (xva[32:], yva[32:])]),
                     progress=False)
    for trial in result.trials:
        if trial.stop_reason != "completed":
            continue
        h = trial.horizon
        assert trial.lrs == pytest.approx(
            [trial.peak * float(shape(i * 500 / h)) for i in range(h)][: len(trial.lrs)],
            rel=1e-12)
        assert len(trial.samples) == 2  # both validation batches, every time
    assert 0.0 < result.suggestion < 3.0 * float(critical)


def test_without_validation_the_trials_are_judged_on_training_loss() -> None:
    x, y, _, _, _ = least_squares(5)
    model = torch.nn.Linear(10, 1, bias=False).double()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    result = find_lr(model, opt, half_mse, loader(x, y, 7), total_steps=300, progress=False)
    assert result.trials and all(t.judged_on == "training" for t in result.trials)
    assert result.total_steps == 300 and len(result.horizons) == 2


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [({"val_loader": 3}, "val_loader"), ({"schedule": lk.cosine(100)}, "schedule"),
     ({"budget": 500}, "budget"), ({"total_steps": 500, "budget": 100}, "budget"),
     ({"total_steps": 10}, "total_steps")],
)
def test_bad_keywords(kwargs: dict[str, object], name: str) -> None:
    x, y, _, _, _ = least_squares(6)
    model = torch.nn.Linear(10, 1, bias=False).double()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match=name):
        find_lr(model, opt, half_mse, loader(x, y, 0), progress=False, **kwargs)  # type: ignore[arg-type]
