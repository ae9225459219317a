"""LRScheduler under accelerate's ``prepare`` (its ``AcceleratedScheduler``) in 1 and 2 real
processes (gloo, CPU), with an FSDP2 model (``fully_shard``) on 2 ranks, and in
torch.distributed.checkpoint (DCP). The rule read from accelerate's source
(``accelerate/scheduler.py``): one ``step()`` of the prepared scheduler is no step while
gradients accumulate or when an optimizer step was skipped; otherwise ``num_processes`` steps,
or one with ``split_batches=True``. FSDP2: every rank the same rate; a DCP checkpoint of
model, optimizer and scheduler resumes exactly."""

from __future__ import annotations

import json
import math
import os
import socket
import sys
import warnings
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.multiprocessing as mp

import lrkit as lk

accelerate = pytest.importorskip("accelerate")
pytestmark = [pytest.mark.slow,
              pytest.mark.filterwarnings("ignore:OMP_NUM_THREADS:UserWarning")]

BASE, WARM, DECAY = 0.1, 4, 12


def _schedule() -> lk.Schedule:
    return lk.warmup(lk.cosine(DECAY), WARM)


def _rate(t: float) -> float:
    """BASE * warmup(cosine(DECAY), WARM) at t, written out."""
    if t < WARM:
        return BASE * t / WARM
    return BASE * 0.5 * (1 + math.cos(math.pi * min(t - WARM, DECAY) / DECAY))


def _prepared(accelerator: Any, schedule: lk.Schedule, n: int = 64, batch: int = 8) -> Any:
    from lrkit.torch import LRScheduler

    torch.manual_seed(0)
    model = torch.nn.Linear(3, 1)
    opt = torch.optim.SGD(model.parameters(), lr=BASE)
    sched = LRScheduler(opt, schedule)
    gen = torch.Generator().manual_seed(1)
    data = torch.utils.data.TensorDataset(torch.randn(n, 3, generator=gen),
                                          torch.randn(n, 1, generator=gen))
    loader = torch.utils.data.DataLoader(data, batch_size=batch)
    return (sched, *accelerator.prepare(model, opt, loader, sched))


def _train(accelerator: Any, model: Any, opt: Any, loader: Any, psched: Any) -> list[float]:
    """The usual accelerate loop; the rate of every optimizer step."""
    rates = []
    for x, y in loader:
        with accelerator.accumulate(model):
            accelerator.backward(torch.nn.functional.mse_loss(model(x), y))
            if accelerator.sync_gradients:
                rates.append(float(opt.param_groups[0]["lr"]))
            opt.step()
            psched.step()
            opt.zero_grad()
    return rates


def test_one_process_one_step_per_optimizer_step_with_accumulation() -> None:
    accelerator = accelerate.Accelerator(cpu=True, gradient_accumulation_steps=2)
    sched, model, opt, loader, psched = _prepared(accelerator, _schedule())
    assert type(psched).__name__ == "AcceleratedScheduler" and psched.scheduler is sched
    rates = _train(accelerator, model, opt, loader, psched)
    assert len(rates) == 4 and sched.count == 4  # 8 batches, 2 per optimizer step
    assert rates == pytest.approx([_rate(k) for k in range(4)], rel=1e-12, abs=1e-15)


# -- two processes -----------------------------------------------------------------------

class _Counting:
    """Wraps LRScheduler.report to count what the plateau hears."""

    @staticmethod
    def install(sched: Any) -> list[float]:
        heard: list[float] = []
        original = sched.report

        def report(metric: Any) -> None:
            heard.append(float(metric))
            original(metric)

        sched.report = report
        inner_step = sched.step

        def step(metric: Any = None) -> None:
            if metric is not None:
                heard.append(float(metric))
            inner_step(metric)

        sched.step = step
        return heard


def _run(rank: int, out: str) -> None:
    import torch.distributed.checkpoint as dcp

    from lrkit.torch import LRScheduler

    torch.set_num_threads(1)
    result: dict[str, Any] = {}
    for split in (False, True):
        accelerator = accelerate.Accelerator(
            cpu=True, dataloader_config=accelerate.DataLoaderConfiguration(split_batches=split))
        sched, model, opt, loader, psched = _prepared(accelerator, _schedule())
        result[f"split={split}"] = {"rates": _train(accelerator, model, opt, loader, psched),
                                    "count": sched.count,
                                    "processes": accelerator.num_processes}
    # a metric once per "epoch": through the wrapper's step() it is heard num_processes times;
    # the unwrapped scheduler's report() hears it once
    accelerator = accelerate.Accelerator(cpu=True)
    plateau = lk.plateau(patience=1, factor=0.5)
    sched, model, opt, loader, psched = _prepared(accelerator, plateau)
    heard = _Counting.install(sched)
    psched.step(0.5)
    result["heard_through_step"] = list(heard)
    heard.clear()
    for metric in (0.5, 0.6, 0.7, 0.8):
        psched.scheduler.report(metric)
    result["heard_through_report"] = list(heard)
    result["reductions"] = sched.state_dict()["plateaus"][0][0]["reductions"]
    # DCP: the scheduler is a Stateful (state_dict / load_state_dict of plain data)
    dcp.save({"sched": sched}, checkpoint_id=os.path.join(out, "dcp"))
    fresh = LRScheduler(torch.optim.SGD(torch.nn.Linear(3, 1).parameters(), lr=BASE), plateau)
    dcp.load({"sched": fresh}, checkpoint_id=os.path.join(out, "dcp"))
    result["dcp_equal"] = fresh.state_dict() == sched.state_dict()
    result["dcp_lr"] = fresh.optimizer.param_groups[0]["lr"]
    result["fsdp2"] = _fsdp2(rank, out)
    Path(out, f"rank{rank}.json").write_text(json.dumps(result))


def _fsdp2(rank: int, out: str) -> dict[str, list[float]]:
    """An FSDP2 model trained 12 steps, and the same run stopped at 6 and resumed from a DCP
    checkpoint of model, optimizer and scheduler; the rate of every step of both."""
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.state_dict import get_state_dict, set_state_dict
    from torch.distributed.fsdp import fully_shard

    from lrkit.torch import LRScheduler
    from lrkit.torch.distributed import all_reduce_metric

    def build() -> Any:
        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(),
                                    torch.nn.Linear(8, 1))
        for layer in (model[0], model[2], model):
            fully_shard(layer)
        opt = torch.optim.AdamW(model.parameters(), lr=0.01)
        return model, opt, LRScheduler(opt, lk.warmup(lk.plateau(patience=0, factor=0.5), 3))

    def train(model: Any, opt: Any, sched: Any, start: int, stop: int, log: list[float]) -> None:
        for step in range(start, stop):
            gen = torch.Generator().manual_seed(100 * rank + step)  # each rank its own shard
            x, y = torch.randn(8, 4, generator=gen), torch.randn(8, 1, generator=gen)
            loss = torch.nn.functional.mse_loss(model(x), y)
            loss.backward()
            log.append(float(opt.param_groups[0]["lr"]))
            opt.step()
            opt.zero_grad()
            sched.step()
            if step % 2:  # a rank-dependent metric, all-reduced: one decision everywhere
                sched.report(all_reduce_metric(loss.item() + rank))

    full: list[float] = []
    train(*build(), 0, 12, full)
    part: list[float] = []
    model, opt, sched = build()
    train(model, opt, sched, 0, 6, part)
    path = os.path.join(out, "fsdp2-dcp")
    model_state, optim_state = get_state_dict(model, opt)
    dcp.save({"model": model_state, "optim": optim_state, "sched": sched}, checkpoint_id=path)
    model, opt, sched = build()
    model_state, optim_state = get_state_dict(model, opt)
    state = {"model": model_state, "optim": optim_state, "sched": sched}
    dcp.load(state, checkpoint_id=path)
    set_state_dict(model, opt, model_state_dict=state["model"], optim_state_dict=state["optim"])
    train(model, opt, sched, 6, 12, part)
    return {"full": full, "resumed": part}


def _worker(rank: int, world: int, port: int, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                      WORLD_SIZE=str(world), LOCAL_RANK=str(rank), LOCAL_WORLD_SIZE=str(world))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _run(rank, out)
    torch.distributed.barrier()
    torch.distributed.destroy_process_group()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)  # as in test_distributed.py: no gloo teardown abort after the results are out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_two_processes_accelerate_fsdp2_dcp(tmp_path: Path) -> None:
    mp.spawn(_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True)
    r0, r1 = (json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1))
    assert r0 == r1  # every rank: the same rates, counts, plateau state
    # split_batches=False: each rank runs 64 / 8 / 2 = 4 optimizer steps; every step() of the
    # prepared scheduler advances it num_processes = 2 times
    unsplit = r0["split=False"]
    assert unsplit["processes"] == 2 and unsplit["count"] == 8
    assert unsplit["rates"] == pytest.approx([_rate(2 * k) for k in range(4)], rel=1e-12,
                                             abs=1e-15)
    # split_batches=True: each batch of 8 is split over the ranks: 8 optimizer steps, 8 counts
    split = r0["split=True"]
    assert split["count"] == 8
    assert split["rates"] == pytest.approx([_rate(k) for k in range(8)], rel=1e-12, abs=1e-15)
    assert r0["heard_through_step"] == [0.5, 0.5]
    assert r0["heard_through_report"] == [0.5, 0.6, 0.7, 0.8]
    # the plateau heard 0.5 twice (best, 1 bad), then 0.5 (2 bad > patience 1: halve), 0.6,
    # 0.7 (halve again), 0.8
    assert r0["reductions"] == 2
    assert r0["dcp_equal"] is True and r0["dcp_lr"] == BASE * 0.25
    fsdp2 = r0["fsdp2"]
    assert fsdp2["resumed"] == fsdp2["full"]
    assert fsdp2["full"][:3] == pytest.approx([0.0, 0.01 / 3, 0.02 / 3], rel=1e-12)
    assert min(fsdp2["full"][6:]) < 0.01  # reductions after the checkpoint
