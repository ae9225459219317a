"""On a CUDA device: schedules evaluated by inductor-compiled kernels, a compiled (capturable)
optimizer step on CUDA tensor rates that never recompiles, exact resume with CUDA rates, and
find_lr restoring the CUDA RNG. Skipped where no CUDA device is visible (CI has none); run with
``pytest tests/torch/test_cuda.py`` on a GPU machine."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
import torch

import lrkit as lk
from lrkit.torch import LRScheduler, find_lr

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")

CUDA = torch.device("cuda")


def _reference(s: lk.Schedule, steps: np.ndarray) -> np.ndarray:
    return np.asarray(s(steps.astype(np.float64)))


@pytest.mark.parametrize(
    "s",
    [
        lk.warmup(lk.cosine(900, end=0.01), 100, start=1e-3),
        lk.join([lk.one_cycle(50), lk.step_decay(7, gamma=0.5)], [50])
        * lk.exponential(0.99, every=3, staircase=True, end=0.1),
        lk.cyclic(0.1, 1.0, 7, mode="exp_range", gamma=0.999) + lk.inverse_sqrt(10),
        lk.wsd(5, 10, 20, decay_shape="1-sqrt") * lk.cosine_restarts(8, period_mult=2),
    ],
    ids=str,
)
def test_inductor_kernel_on_cuda_matches_float64(s: lk.Schedule) -> None:
    steps = np.arange(0, 2000)
    f = torch.compile(lambda t: s(t), fullgraph=True)  # inductor: a real CUDA (triton) kernel
    for dtype in (torch.int64, torch.float32):
        t = torch.as_tensor(steps, device=CUDA, dtype=dtype)
        out = f(t)
        assert out.device.type == "cuda"
        np.testing.assert_allclose(out.cpu().double().numpy(), _reference(s, steps),
                                   rtol=2e-5, atol=1e-7)


def test_step_counts_beyond_int32_on_cuda() -> None:
    s = lk.warmup(lk.cosine(3 * 2**31), 2**31)
    steps = np.array([0, 2**30, 2**31 - 1, 2**31, 2**31 + 7, 3 * 2**31, 4 * 2**31], dtype=np.int64)
    out = s(torch.as_tensor(steps, device=CUDA))
    np.testing.assert_allclose(out.cpu().double().numpy(), _reference(s, steps), rtol=1e-6,
                               atol=1e-9)


def _train(compiled: bool, steps: int = 30) -> tuple[list[int], list[float], list[torch.Tensor]]:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.ReLU(),
                                torch.nn.Linear(32, 1)).to(CUDA)
    # a CUDA tensor rate and beta1: compiled Adam reads them as graph inputs
    opt = torch.optim.Adam(model.parameters(), lr=torch.tensor(0.01, device=CUDA),
                           betas=(torch.tensor(0.9, device=CUDA), torch.tensor(0.999, device=CUDA)),
                           capturable=True)
    schedule = lk.warmup(lk.cosine(steps) * lk.plateau(patience=0, factor=0.5), 4, start=0.01)
    sched = LRScheduler(opt, schedule, hyperparams={"momentum": lk.linear(0.9, 0.85, steps)})
    compiles = [0]

    def counting(gm: torch.fx.GraphModule, example_inputs: list[torch.Tensor]):  # type: ignore[no-untyped-def]
        compiles[0] += 1
        return gm.forward

    step = torch.compile(opt.step, backend=counting) if compiled else opt.step
    gen = torch.Generator(device=CUDA).manual_seed(1)
    x = torch.randn(64, 16, device=CUDA, generator=gen)
    y = torch.randn(64, 1, device=CUDA, generator=gen)
    history, lrs = [], []
    for i in range(steps):
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        lrs.append(float(opt.param_groups[0]["lr"]))
        step()
        opt.zero_grad()
        sched.step(float(i % 3))  # stops improving: plateau reductions
        history.append(compiles[0])
    assert opt.param_groups[0]["lr"].device.type == "cuda"  # the same tensor, still on the GPU
    return history, lrs, [p.detach().clone() for p in model.parameters()]


def test_compiled_capturable_adam_on_cuda_never_recompiles() -> None:
    torch._dynamo.reset()
    with torch._dynamo.config.patch(specialize_float=True, automatic_dynamic_shapes=False):
        history, lrs, params = _train(compiled=True)
    assert history[-1] == history[3], history
    _, eager_lrs, eager = _train(compiled=False)
    assert lrs == eager_lrs
    assert len(set(lrs)) > 20  # the rate really changed (plateau reductions included)
    for a, b in zip(params, eager, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_resume_with_cuda_rates_is_exact() -> None:
    schedule = lk.warmup(lk.cosine_restarts(7, period_mult=2) * lk.plateau(patience=1), 5)

    def fresh() -> tuple[torch.optim.Optimizer, LRScheduler]:
        p = torch.nn.Parameter(torch.zeros(3, device=CUDA))
        opt = torch.optim.SGD([p], lr=torch.tensor(0.3, device=CUDA))
        return opt, LRScheduler(opt, schedule)

    metrics = [1.0 / (1 + (i % 5)) for i in range(40)]
    opt, sched = fresh()
    full = []
    for m in metrics:
        full.append(float(opt.param_groups[0]["lr"]))
        sched.step(m)
    opt, sched = fresh()
    part = []
    for m in metrics[:17]:
        part.append(float(opt.param_groups[0]["lr"]))
        sched.step(m)
    buf = io.BytesIO()
    torch.save(sched.state_dict(), buf)
    buf.seek(0)
    state = torch.load(buf, weights_only=True)
    opt, sched = fresh()
    sched.load_state_dict(state)
    for m in metrics[17:]:
        part.append(float(opt.param_groups[0]["lr"]))
        sched.step(m)
    assert part == full


def test_find_lr_on_cuda_restores_cuda_rng_and_model() -> None:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(8, 32), torch.nn.Dropout(0.5),
                                torch.nn.Linear(32, 1)).to(CUDA)
    model.eval()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    batches = [(torch.randn(16, 8), torch.randn(16, 1)) for _ in range(4)]  # on the CPU
    torch.cuda.manual_seed_all(123)
    expected_draw = torch.rand(5, device=CUDA)
    torch.cuda.manual_seed_all(123)
    result = find_lr(model, opt, torch.nn.functional.mse_loss, batches, start=1e-5, end=1.0,
                     steps=40, progress=False, device=CUDA)
    assert torch.equal(torch.rand(5, device=CUDA), expected_draw)  # dropout's draws undone
    assert len(result.lrs) >= 10 and math.isfinite(result.suggestion)
    for k, v in model.state_dict().items():
        assert v.device.type == "cuda"
        assert torch.equal(v, before[k])
    assert not model.training
