"""Real torch.distributed: 2 processes (gloo, CPU) train a tiny DDP model with LRScheduler.
Every rank gets the same rate at every step; a plateau fed the all-reduced metric takes the
same decision everywhere although the ranks' local metrics differ; resuming from a rank-0
checkpoint continues exactly as the uninterrupted run."""

from __future__ import annotations

import json
import os
import socket
import sys
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

import lrkit as lk

pytestmark = pytest.mark.slow

STEPS, STOP = 24, 11


def _schedule() -> lk.Schedule:
    return lk.warmup(lk.cosine(STEPS) * lk.plateau(patience=1, factor=0.5), 3)


def _build(rank: int):  # type: ignore[no-untyped-def]
    from lrkit.torch.scheduler import LRScheduler

    torch.manual_seed(0)  # the same initial weights on every rank
    model = torch.nn.parallel.DistributedDataParallel(torch.nn.Linear(3, 1))
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    return model, opt, LRScheduler(opt, _schedule())


def _train(rank: int, start: int, stop: int, model, opt, sched, log: dict) -> None:  # type: ignore[no-untyped-def]
    from lrkit.torch.distributed import all_reduce_metric

    for step in range(start, stop):
        gen = torch.Generator().manual_seed(1000 * rank + step)  # each rank its own shard
        x, y = torch.randn(8, 3, generator=gen), torch.randn(8, 1, generator=gen)
        loss = torch.nn.functional.mse_loss(model(x), y)
        opt.zero_grad()
        loss.backward()
        log["lr"].append(opt.param_groups[0]["lr"])
        opt.step()
        local = loss.item() + 0.3 * rank * ((step * 7) % 5)  # deliberately rank-dependent
        log["local"].append(local)
        sched.step(all_reduce_metric(local))


def _worker(rank: int, world: int, port: int, out: str) -> None:
    os.environ["MASTER_ADDR"], os.environ["MASTER_PORT"] = "127.0.0.1", str(port)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        _run(rank, out)
        dist.barrier()
    finally:
        dist.destroy_process_group()
    # The results are on disk. Leave without the interpreter's teardown: there gloo's threads
    # abort the process now and then ("terminate called without an active exception", about one
    # run in 20 with torch 2.13), after destroy_process_group and every check passed.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def _run(rank: int, out: str) -> None:
    torch.set_num_threads(1)
    # uninterrupted run
    model, opt, sched = _build(rank)
    full: dict[str, list[float]] = {"lr": [], "local": []}
    _train(rank, 0, STEPS, model, opt, sched, full)
    final = [p.detach().tolist() for p in model.parameters()]
    # interrupted run: rank 0 saves at STOP, every rank resumes from that file
    model, opt, sched = _build(rank)
    part: dict[str, list[float]] = {"lr": [], "local": []}
    _train(rank, 0, STOP, model, opt, sched, part)
    ckpt = Path(out) / "ckpt.pt"
    if rank == 0:
        torch.save({"model": model.module.state_dict(), "opt": opt.state_dict(),
                    "sched": sched.state_dict()}, ckpt)
    dist.barrier()
    model, opt, sched = _build(rank)
    state = torch.load(ckpt, weights_only=True)
    model.module.load_state_dict(state["model"])
    opt.load_state_dict(state["opt"])
    sched.load_state_dict(state["sched"])
    _train(rank, STOP, STEPS, model, opt, sched, part)
    resumed_final = [p.detach().tolist() for p in model.parameters()]
    reductions = sched.state_dict()["plateaus"][0][0]["reductions"]
    Path(out, f"rank{rank}.json").write_text(json.dumps({
        "full": full, "part": part, "final": final, "resumed_final": resumed_final,
        "reductions": reductions}))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _local_plateau_rates(local: list[float]) -> list[float]:
    """What one rank would get from its own metrics alone (no all-reduce)."""
    stepper = lk.Stepper(_schedule())
    rates = []
    for m in local:
        rates.append(0.1 * stepper.value())
        stepper.step(m, eps=1e-8 / 0.1)
    return rates


def test_ddp_two_ranks(tmp_path: Path) -> None:
    # spawn, not fork: a forked child can hang on the parent's OpenMP thread pool
    mp.spawn(_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True)
    r0, r1 = (json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1))
    # the local metrics differ, and alone they would lead to different plateau decisions
    assert r0["full"]["local"] != r1["full"]["local"]
    assert _local_plateau_rates(r0["full"]["local"]) != _local_plateau_rates(r1["full"]["local"])
    # with the all-reduced metric every rank has the same rate at every step
    assert r0["full"]["lr"] == r1["full"]["lr"]
    assert r0["reductions"] == r1["reductions"] >= 1
    # resuming from rank 0's checkpoint continues exactly
    for r in (r0, r1):
        assert r["part"]["lr"] == r["full"]["lr"]
        assert r["resumed_final"] == r["final"]
    assert r0["final"] == r1["final"]
