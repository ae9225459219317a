"""The LR range test: the sweep, the smoothing, the early stop, restoration, and the suggestion on
least squares, where plain gradient descent is stable exactly below 2/L (L = the largest
eigenvalue of X^T X / n)."""

from __future__ import annotations

import copy
import math
import random
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root: bench

from bench.rangetest import least_squares as bench_least_squares  # noqa: E402
from lrkit.torch import RangeTestResult, find_lr  # noqa: E402
from lrkit.torch.rangetest import suggest_lr  # noqa: E402


@pytest.fixture(autouse=True)
def _one_thread():  # type: ignore[no-untyped-def]
    """Tiny models train ~8x faster on one thread than on two contended ones."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def half_mse(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """0.5 * ||Xw - y||^2 / n: its Hessian is X^T X / n, so GD diverges above 2 / L."""
    return 0.5 * ((out.squeeze(-1) - y) ** 2).mean()


def least_squares(seed: int, n: int = 256, d: int = 10, cond: float = 30.0, scale: float = 1.0):
    """X with the eigenvalues of X^T X / n spread over ``cond``, the largest ``scale``; y = X w* +
    small noise (bench.rangetest's generator). Returns X, y and the critical rate 2 / L."""
    return bench_least_squares(np.random.default_rng(seed), n, d, cond, scale)


def linear_model(d: int) -> torch.nn.Module:
    model = torch.nn.Linear(d, 1, bias=False).double()
    with torch.no_grad():
        model.weight.zero_()
    return model


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_full_batch_suggestion_is_stable_and_not_tiny(seed: int) -> None:
    scale = [0.5, 2.0, 8.0, 30.0][seed]
    x, y, critical = least_squares(seed, cond=[3.0, 30.0, 300.0, 10.0][seed], scale=scale)
    model = linear_model(x.shape[1])
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    result = find_lr(model, opt, half_mse, [(x, y)], progress=False)
    assert result.lrs[-1] > critical  # the sweep went past the divergence point
    assert critical / 5 < result.suggestion < 0.8 * critical  # 2 / L known: a 4x band


@pytest.mark.parametrize("seed", [10, 11, 12])
def test_minibatch_suggestion_is_stable_and_not_tiny(seed: int) -> None:
    x, y, critical = least_squares(seed, cond=20.0, scale=[1.0, 5.0, 0.3][seed - 10])
    data = torch.utils.data.TensorDataset(x, y)
    gen = torch.Generator().manual_seed(seed)
    loader = torch.utils.data.DataLoader(data, batch_size=32, shuffle=True, generator=gen)
    model = linear_model(x.shape[1])
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    result = find_lr(model, opt, half_mse, loader, steps=200, progress=False)
    assert result.lrs[-1] > critical
    assert critical / 5 < result.suggestion < 0.8 * critical  # 2 / L known: a 4x band


def test_sweep_rates_smoothing_and_group_ratios() -> None:
    start, end, steps, smooth = 1e-6, 1e-3, 12, 0.9
    torch.manual_seed(0)
    a, b = torch.nn.Linear(3, 3), torch.nn.Linear(3, 1)
    model = torch.nn.Sequential(a, b)
    opt = torch.optim.SGD([{"params": a.parameters(), "lr": 0.5},
                           {"params": b.parameters(), "lr": 0.05}])
    seen: list[tuple[float, float]] = []

    def loss_fn(out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        seen.append((opt.param_groups[0]["lr"], opt.param_groups[1]["lr"]))
        return ((out - target) ** 2).mean()

    batches = [(torch.randn(4, 3), torch.randn(4, 1)) for _ in range(5)]
    r = find_lr(model, opt, loss_fn, batches, start=start, end=end, steps=steps, smooth=smooth,
                trials=0, progress=False)
    expected = [start * (end / start) ** (i / (steps - 1)) for i in range(steps)]
    assert r.stop_reason == "completed"
    assert r.lrs == pytest.approx(expected, rel=1e-12)
    # the largest group gets lr_i, the other keeps its 1/10 ratio
    assert [s[0] for s in seen] == pytest.approx(expected, rel=1e-12)
    assert [s[1] for s in seen] == pytest.approx([e / 10 for e in expected], rel=1e-12)
    # bias-corrected EMA, written out
    avg, want = 0.0, []
    for i, v in enumerate(r.raw_losses):
        avg = smooth * avg + (1 - smooth) * v
        want.append(avg / (1 - smooth ** (i + 1)))
    assert r.losses == pytest.approx(want, rel=1e-12)
    assert [g["lr"] for g in opt.param_groups] == [0.5, 0.05]


def test_loader_is_cycled() -> None:
    batches = [(torch.full((1, 1), float(i)), torch.zeros(1, 1)) for i in range(3)]
    inputs: list[float] = []
    model = torch.nn.Linear(1, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)

    def loss_fn(out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return (out * 0).sum() + 1.0

    original_forward = model.forward

    def forward(x: torch.Tensor) -> torch.Tensor:
        inputs.append(float(x))
        return original_forward(x)

    model.forward = forward  # type: ignore[method-assign]
    r = find_lr(model, opt, loss_fn, batches, start=1e-5, end=1e-4, steps=8, trials=0,
                progress=False)
    assert len(r.lrs) == 8
    assert inputs == [0.0, 1.0, 2.0, 0.0, 1.0, 2.0, 0.0, 1.0]
    # every trial starts from the first batch again
    inputs.clear()
    r = find_lr(model, opt, loss_fn, batches, start=1e-5, end=1e-4, steps=8, trials=2,
                trial_steps=8, progress=False)
    assert inputs == [0.0, 1.0, 2.0, 0.0, 1.0, 2.0, 0.0, 1.0] * (1 + len(r.trials))


def test_early_stop_on_divergence_and_non_finite_loss() -> None:
    x, y, _ = least_squares(5)
    model = linear_model(x.shape[1])
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    r = find_lr(model, opt, half_mse, [(x, y)], start=1e-4, end=1e6, steps=100, trials=0,
                progress=False)
    assert r.stop_reason == "diverged"
    assert len(r.lrs) < 100
    # the best counts from step max(10, steps // 10) = 10 on
    assert r.losses[-1] > 4.0 * min(r.losses[10:])
    assert all(v <= 4.0 * min(r.losses[10 : i + 1]) for i, v in enumerate(r.losses[:-1]) if i >= 10)

    calls = []

    def nan_after_three(out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        calls.append(1)
        loss = half_mse(out, target)
        return loss * math.nan if len(calls) > 3 else loss

    r = find_lr(model, opt, nan_after_three, [(x, y)], steps=50, progress=False,
                diverge=math.inf, trials=0)
    assert r.stop_reason == "non-finite loss"
    assert len(r.lrs) == 3


def _scripted_loss(values: list[float]):  # type: ignore[no-untyped-def]
    """A loss_fn that returns ``values`` in turn (the model's output kept in the graph)."""
    it = iter(values)

    def loss_fn(out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return (out * 0.0).sum() + next(it)

    return loss_fn


def test_noisy_first_batches_do_not_stop_the_sweep() -> None:
    # a lucky first batch (1.0) then a flat noisy loss near 15, as batches of 8 give: the
    # bias-corrected average of steps 0-1 is already ~10x the first value, which must not count
    # as divergence; only averages from step max(10, steps // 10) on set the best
    flat = [1.0, 20.0, 14.0, 17.0, 12.0, 19.0] + [15.0 + (i % 3) for i in range(34)]
    model = torch.nn.Linear(1, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    batches = [(torch.ones(1, 1), torch.zeros(1, 1))]
    r = find_lr(model, opt, _scripted_loss(flat), batches, start=1e-6, end=1e-3, steps=40,
                trials=0, progress=False)
    assert r.stop_reason == "completed" and len(r.lrs) == 40
    # a real blow-up after the settling steps still stops the sweep, at the step it happens
    blowup = [15.0] * 25 + [15.0 * 3.0**k for k in range(15)]
    r = find_lr(model, opt, _scripted_loss(blowup), batches, start=1e-6, end=1e-3, steps=40,
                trials=0, progress=False)
    avg, smoothed = 0.0, []
    for i, v in enumerate(blowup):
        avg = 0.98 * avg + 0.02 * v
        smoothed.append(avg / (1 - 0.98 ** (i + 1)))
    first = next(i for i in range(10, 40) if smoothed[i] > 4.0 * min(smoothed[10 : i + 1]))
    assert r.stop_reason == "diverged" and len(r.lrs) == first + 1


def _snapshot(model: torch.nn.Module, opt: torch.optim.Optimizer):
    return {
        "model": {k: v.clone() for k, v in model.state_dict().items()},
        "grads": [None if p.grad is None else p.grad.clone() for p in model.parameters()],
        "modes": [m.training for m in model.modules()],
        "opt": copy.deepcopy(opt.state_dict()),  # live tensors would change with the sweep
        "torch_rng": torch.get_rng_state().clone(),
        "py_rng": random.getstate(),
        "np_rng": np.random.get_state(),
    }


def _assert_same(before, model: torch.nn.Module, opt: torch.optim.Optimizer) -> None:
    after = model.state_dict()
    assert before["model"].keys() == after.keys()
    for k, v in before["model"].items():
        assert torch.equal(v, after[k]), k
    for g0, p in zip(before["grads"], model.parameters(), strict=True):
        assert (g0 is None and p.grad is None) or torch.equal(g0, p.grad)
    assert before["modes"] == [m.training for m in model.modules()]
    o0, o1 = before["opt"], opt.state_dict()
    assert o0["param_groups"] == o1["param_groups"]
    assert o0["state"].keys() == o1["state"].keys()
    for k in o0["state"]:
        for name, v in o0["state"][k].items():
            w = o1["state"][k][name]
            assert torch.equal(v, w) if isinstance(v, torch.Tensor) else v == w
    assert torch.equal(before["torch_rng"], torch.get_rng_state())
    assert before["py_rng"] == random.getstate()
    s0, s1 = before["np_rng"], np.random.get_state()
    assert s0[0] == s1[0] and np.array_equal(s0[1], s1[1]) and s0[2:] == s1[2:]


def _trained_model_and_adam():
    torch.manual_seed(1)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.BatchNorm1d(8),
                                torch.nn.Dropout(0.3), torch.nn.ReLU(), torch.nn.Linear(8, 1))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=1e-4)
    x, y = torch.randn(64, 4), torch.randn(64, 1)
    for _ in range(3):  # the optimizer has state (exp_avg, step) worth restoring
        opt.zero_grad()
        torch.nn.functional.mse_loss(model(x), y).backward()
        opt.step()
    model.eval()
    model[2].train()  # mixed modes must come back as they were
    return model, opt, torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(x, y), batch_size=16, shuffle=True)


def test_model_optimizer_and_rng_are_restored_exactly() -> None:
    model, opt, loader = _trained_model_and_adam()
    random.seed(3)
    np.random.seed(3)
    torch.manual_seed(3)
    before = _snapshot(model, opt)
    r = find_lr(model, opt, torch.nn.functional.mse_loss, loader, steps=30, trial_steps=16,
                progress=False)
    assert isinstance(r, RangeTestResult) and len(r.lrs) > 5 and len(r.trials) >= 2
    _assert_same(before, model, opt)
    # the restored RNGs give the same numbers the untouched ones would have given
    torch.manual_seed(3)
    random.seed(3)
    np.random.seed(3)
    expected = (torch.rand(3), random.random(), np.random.rand())
    random.seed(3)
    np.random.seed(3)
    torch.manual_seed(3)
    find_lr(model, opt, torch.nn.functional.mse_loss, loader, steps=10, trial_steps=8,
            progress=False)
    assert torch.equal(torch.rand(3), expected[0])
    assert random.random() == expected[1] and np.random.rand() == expected[2]


def test_restored_when_the_sweep_raises() -> None:
    model, opt, loader = _trained_model_and_adam()
    before = _snapshot(model, opt)
    calls = []

    def failing(out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        calls.append(1)
        if len(calls) == 5:
            raise RuntimeError("boom")
        return torch.nn.functional.mse_loss(out, target)

    with pytest.raises(RuntimeError, match="boom"):
        find_lr(model, opt, failing, loader, steps=20, progress=False)
    _assert_same(before, model, opt)


def test_restored_when_a_trial_raises() -> None:
    model, opt, loader = _trained_model_and_adam()
    before = _snapshot(model, opt)
    calls = []

    def failing(out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        calls.append(1)
        if len(calls) == 45:  # the sweep has 30 steps: this is inside the first trial
            raise RuntimeError("boom")
        return torch.nn.functional.mse_loss(out, target)

    with pytest.raises(RuntimeError, match="boom"):
        find_lr(model, opt, failing, loader, steps=30, trial_steps=16, progress=False)
    _assert_same(before, model, opt)


def test_a_dataloader_generator_gives_every_trial_the_same_batches_and_is_restored() -> None:
    x, y = torch.randn(96, 3), torch.randn(96, 1)
    gen = torch.Generator().manual_seed(5)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=16,
                                         shuffle=True, generator=gen)
    state = gen.get_state()
    model = torch.nn.Linear(3, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    seen: list[list[float]] = []

    def loss_fn(out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if not seen or len(seen[-1]) == 16:
            seen.append([])
        seen[-1].append(float(target.sum()))
        return torch.nn.functional.mse_loss(out, target)

    r = find_lr(model, opt, loss_fn, loader, steps=16, trial_steps=16, progress=False)
    assert len(r.trials) >= 2 and len(seen) == 1 + len(r.trials)
    assert all(batches == seen[0] for batches in seen[1:])  # the same shuffled batches
    assert len(set(seen[0][:6])) == 6 and seen[0][:6] != seen[0][6:12]  # two epochs, shuffled
    assert torch.equal(gen.get_state(), state)  # the loader shuffles as if untouched


def test_a_one_shot_iterator_is_replayed_for_the_trials() -> None:
    x, y, critical = least_squares(3)
    batches = (pair for pair in [(x[i : i + 32], y[i : i + 32]) for i in range(0, 256, 32)] * 20)
    model = linear_model(x.shape[1])
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    r = find_lr(model, opt, half_mse, batches, steps=100, progress=False)  # 160 batches
    assert len(r.trials) >= 2
    assert critical / 5 < r.suggestion < 0.8 * critical  # 2 / L known: a 4x band


def test_tensor_lr_is_kept_in_place() -> None:
    model = torch.nn.Linear(2, 1)
    lr = torch.tensor(0.01)
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    batches = [(torch.randn(8, 2), torch.randn(8, 1))]
    find_lr(model, opt, torch.nn.functional.mse_loss, batches, steps=5, progress=False)
    assert opt.param_groups[0]["lr"] is lr
    assert torch.equal(lr, torch.tensor(0.01))


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [({"start": 0.0}, "start"), ({"start": -1e-3}, "start"), ({"start": math.nan}, "start"),
     ({"end": 1e-8}, "end"), ({"end": math.inf}, "end"), ({"steps": 1}, "steps"),
     ({"steps": 10.0}, "steps"), ({"steps": True}, "steps"), ({"smooth": 1.0}, "smooth"),
     ({"smooth": -0.1}, "smooth"), ({"diverge": 1.0}, "diverge"), ({"trials": 1}, "trials"),
     ({"trials": -2}, "trials"), ({"trial_steps": 3}, "trial_steps")],
)
def test_bad_arguments_name_the_parameter(kwargs: dict, name: str) -> None:
    model = torch.nn.Linear(1, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match=name):
        find_lr(model, opt, torch.nn.functional.mse_loss,
                [(torch.ones(1, 1), torch.ones(1, 1))], progress=False, **kwargs)


def test_empty_loader_and_bad_batches() -> None:
    model = torch.nn.Linear(1, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="no batches"):
        find_lr(model, opt, torch.nn.functional.mse_loss, [], progress=False)
    one_shot = iter([(torch.ones(1, 1), torch.ones(1, 1))] * 3)
    with pytest.raises(ValueError, match="re-iterable"):
        find_lr(model, opt, torch.nn.functional.mse_loss, one_shot, steps=5, progress=False)
    with pytest.raises(TypeError, match="pair"):
        find_lr(model, opt, torch.nn.functional.mse_loss, [torch.ones(1, 1)], progress=False)


def test_suggest_lr_on_a_clean_valley() -> None:
    # losses fall linearly to index 60 then rise as fast: the centred average is lowest at 60,
    # the noise estimate (MAD of the differences) is 0, and raw_losses[60] was measured before
    # step 60 trained, after the rate lrs[59]: the suggestion is lrs[59] / 6.
    lrs = [1e-6 * 1.2**i for i in range(100)]
    losses = [abs(i - 60) + 1.0 for i in range(100)]
    assert suggest_lr(lrs, losses) == pytest.approx(lrs[59] / 6, rel=1e-12)
    # a flat, noisy floor: the suggestion walks to where the loss really rises (index >= 70)
    g = np.random.default_rng(0)
    floor = [5.0 - 0.1 * min(i, 20) + 0.01 * g.normal() for i in range(90)]
    losses = floor + [5.0 * 2**k for k in range(10)]
    lrs = [1e-6 * 1.2**i for i in range(100)]
    assert suggest_lr(lrs, losses) >= lrs[69] / 6
    assert suggest_lr(lrs, losses) <= lrs[89] / 6
    with pytest.raises(ValueError):
        suggest_lr([1.0], [])


def test_plot_writes_png(tmp_path) -> None:
    x, y, _ = least_squares(7)
    model = linear_model(x.shape[1])
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    r = find_lr(model, opt, half_mse, [(x, y)], progress=False)
    path = tmp_path / "rt.png"
    fig = r.plot(str(path))
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert int.from_bytes(data[16:20], "big") == 800 and int.from_bytes(data[20:24], "big") == 450
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert any(f"{r.suggestion:.3g}" in t for t in labels)
    assert fig.axes[0].get_xscale() == "log"


def test_no_progress_bar_without_a_terminal(capsys) -> None:
    model = torch.nn.Linear(1, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    find_lr(model, opt, torch.nn.functional.mse_loss, [(torch.ones(2, 1), torch.ones(2, 1))],
            steps=5, progress=True)
    captured = capsys.readouterr()
    assert captured.err == "" and captured.out == ""


# ---------------------------------------------------------------------------------------------
# the suggestion against a grid search run here, on a tiny task


def _tiny_task(seed: int):  # type: ignore[no-untyped-def]
    """Four Gaussian classes in 8 dimensions (two clusters each), 512 training samples in
    batches of 32 and 512 for validation; a ReLU MLP 8 -> 32 -> 4."""
    g = torch.Generator().manual_seed(seed)
    centres = 1.5 * torch.randn(8, 8, generator=g)
    labels = torch.randint(0, 8, (1024,), generator=g)
    x = centres[labels] + torch.randn(1024, 8, generator=g)
    y = labels % 4
    train = list(zip(x[:512].split(32), y[:512].split(32), strict=True))
    return train, (x[512:], y[512:])


def _tiny_model(seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(8, 32), torch.nn.ReLU(), torch.nn.Linear(32, 4))


def _train(model: torch.nn.Module, opt: torch.optim.Optimizer, train: list, val: tuple,
           peak: float, steps: int = 200) -> float:
    """warmup 5% + cosine to 0 (lrkit's own schedule), the recipe the suggestion is for; the
    validation loss at the end."""
    import lrkit as lk

    w = round(0.05 * steps)
    schedule = peak * lk.warmup(lk.cosine(steps - w), w)
    ce = torch.nn.functional.cross_entropy
    for t in range(steps):
        x, y = train[t % len(train)]
        for group in opt.param_groups:
            group["lr"] = schedule(t)
        loss = ce(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        value = float(ce(model(val[0]), val[1]))
    return value if math.isfinite(value) else math.inf


@pytest.mark.parametrize(
    ("name", "make", "grid"),
    [("sgd", lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9), (1e-3, 3.0)),
     ("adam", lambda p: torch.optim.Adam(p, lr=1e-3), (1e-4, 0.3))],
)
def test_suggestion_trains_about_as_well_as_a_grid_search(name: str, make, grid) -> None:  # type: ignore[no-untyped-def]
    train, val = _tiny_task(0)
    lo, hi = grid
    peaks = [lo * (hi / lo) ** (k / 8) for k in range(9)]  # 2.7x apart
    losses = []
    for peak in peaks:
        model = _tiny_model(1)
        losses.append(_train(model, make(model.parameters()), train, val, peak))
    best = min(losses)
    assert losses.index(best) not in (0, len(peaks) - 1)  # the grid brackets the best
    model = _tiny_model(1)
    opt = make(model.parameters())
    r = find_lr(model, opt, torch.nn.functional.cross_entropy, train, progress=False)
    ours = _train(model, opt, train, val, r.suggestion)
    assert ours <= 1.25 * best, (name, r.suggestion, peaks[losses.index(best)], ours, best)


def _doc_examples(marker: str) -> list[str]:
    """The ```python blocks of docs/range-test.md that contain ``marker``."""
    import re

    text = (Path(__file__).resolve().parents[2] / "docs" / "range-test.md").read_text(
        encoding="utf-8")
    blocks = re.findall(r"^```python\n(.*?)^```", text, re.M | re.S)
    found = [b for b in blocks if marker in b]
    assert found, marker
    return found


def test_the_docs_example_runs(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    for block in _doc_examples("from lrkit.torch import"):
        exec(compile(block, "docs/range-test.md", "exec"), {})
    assert (tmp_path / "range_test.png").read_bytes()[:4] == b"\x89PNG"
