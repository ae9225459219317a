"""A torch.compile'd optimizer step does not recompile when LRScheduler changes the rate
(plateau reductions and beta1 included): tensor hyperparameters are updated in place. A
backend that counts its invocations counts the compiles; the compiled run must also match an
eager run, so the compiled step really sees each new rate."""

from __future__ import annotations

import pytest
import torch

import lrkit as lk
from lrkit.torch.hyperparams import one_cycle_momentum
from lrkit.torch.scheduler import LRScheduler

torch_dynamo = pytest.importorskip("torch._dynamo")


def _train(compiled: bool, adam: bool, steps: int = 24) -> tuple[list[int], list[torch.Tensor]]:
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 1)
    if adam:
        opt = torch.optim.Adam(model.parameters(), lr=torch.tensor(0.01),
                               betas=(torch.tensor(0.9), torch.tensor(0.999)))
        hyper = {"momentum": one_cycle_momentum(steps)}
        schedule = lk.one_cycle(steps)
    else:
        opt = torch.optim.SGD(model.parameters(), lr=torch.tensor(0.1), momentum=0.9)
        hyper = {}
        schedule = lk.warmup(lk.cosine(steps) * lk.plateau(patience=0, factor=0.5), 3)
    sched = LRScheduler(opt, schedule, hyperparams=hyper)
    compiles = [0]

    def counting_backend(gm: torch.fx.GraphModule, example_inputs: list[torch.Tensor]):  # type: ignore[no-untyped-def]
        compiles[0] += 1
        return gm.forward

    def opt_step() -> None:
        opt.step()

    step = torch.compile(opt_step, backend=counting_backend) if compiled else opt_step
    x, y = torch.randn(16, 4), torch.randn(16, 1)
    history = []
    for i in range(steps):
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        step()
        opt.zero_grad()
        sched.step(None if adam else float(i % 3))  # a metric that stops improving: plateau cuts
        history.append(compiles[0])
    return history, [p.detach().clone() for p in model.parameters()]


@pytest.mark.slow
@pytest.mark.parametrize("adam", [False, True])
def test_compiled_step_never_recompiles_when_rates_change(adam: bool) -> None:
    torch_dynamo.reset()
    # floats specialised (older torch's default): a rate written as a Python float would
    # recompile at every change, so this configuration makes the test able to fail
    with torch_dynamo.config.patch(specialize_float=True, automatic_dynamic_shapes=False):
        history, params = _train(compiled=True, adam=adam)
    # the first steps may compile for the optimizer's lazy state (momentum buffers, Adam's
    # step count); after that, every rate change must reuse the compiled graph
    assert history[0] >= 1
    assert history[-1] == history[3], history
    _, eager = _train(compiled=False, adam=adam)
    for a, b in zip(params, eager, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)
