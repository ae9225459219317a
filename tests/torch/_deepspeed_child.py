"""Run by tests/torch/test_deepspeed.py in a process of its own (DeepSpeed's process group must
not leak into other tests): ``python _deepspeed_child.py WORKDIR PORT``. One process, world size
1, DeepSpeed's CPU accelerator and gloo. Prints one JSON line: the rates each optimizer step used,
for uninterrupted runs and for runs resumed from a checkpoint into fresh engines."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

WORKDIR, PORT = Path(sys.argv[1]), sys.argv[2]
os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=PORT, RANK="0", WORLD_SIZE="1",
                  LOCAL_RANK="0", DS_ACCELERATOR="cpu")

import deepspeed  # noqa: E402
import deepspeed.ops  # noqa: E402
import torch  # noqa: E402

import lrkit as lk  # noqa: E402
from lrkit.torch import LRScheduler  # noqa: E402

# The CPU communication backend JIT-compiles a shared-memory all-reduce op (minutes of C++ on a
# fresh machine) that a one-process run never uses: marked unavailable, DeepSpeed uses gloo alone.
deepspeed.ops.__compatible_ops__["deepspeed_shm_comm"] = False

LR = 0.1
CONFIG = {
    "train_batch_size": 4,
    "train_micro_batch_size_per_gpu": 2,
    "gradient_accumulation_steps": 2,  # engine.step() per micro-batch; the scheduler per update
    "steps_per_print": 10**9,
}


def _batch(k: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(k)
    return torch.randn(2, 4, generator=g)


def _engine(spec: str, lr: float, as_callable: bool) -> tuple[Any, Any]:
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 1)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    sched: Any = (lambda o: LRScheduler(o, spec)) if as_callable else LRScheduler(opt, spec)
    engine, optimizer, _, lr_scheduler = deepspeed.initialize(
        model=model, optimizer=opt, lr_scheduler=sched, config=CONFIG)
    assert isinstance(lr_scheduler, LRScheduler)
    return engine, optimizer


def _train(engine: Any, optimizer: Any, first: int, last: int, metrics: list[float] | None,
           ) -> list[float]:
    """Updates first..last-1 (two micro-batches each); the rate each update used."""
    used = []
    for k in range(first, last):
        used.append(float(optimizer.param_groups[0]["lr"]))
        for micro in range(2):
            loss = engine(_batch(2 * k + micro)).pow(2).mean()
            engine.backward(loss)
            # a metric reaches LRScheduler.step(metric=...) through DeepSpeed's lr_kwargs
            kwargs = {"lr_kwargs": {"metric": metrics[k]}} if metrics and micro == 1 else {}
            engine.step(**kwargs)
    return used


def run(name: str, spec: str, steps: int, save_at: int, metrics: list[float] | None,
        as_callable: bool) -> dict[str, Any]:
    ckpt = WORKDIR / name
    engine, optimizer = _engine(spec, LR, as_callable)
    full = _train(engine, optimizer, 0, save_at, metrics)
    engine.save_checkpoint(str(ckpt), tag="mid")
    full += _train(engine, optimizer, save_at, steps, metrics)
    weights = [p.detach().tolist() for p in engine.module.parameters()]

    # a fresh engine, whose optimizer holds another lr: the checkpoint's must win
    engine2, optimizer2 = _engine(spec, 0.7, as_callable)
    engine2.load_checkpoint(str(ckpt), tag="mid")
    after_load = float(optimizer2.param_groups[0]["lr"])
    resumed = _train(engine2, optimizer2, save_at, steps, metrics)
    weights2 = [p.detach().tolist() for p in engine2.module.parameters()]
    return {"full": full, "after_load": after_load, "resumed": resumed,
            "weights_equal": weights == weights2, "global_steps": engine.global_steps}


def main() -> None:
    metrics = [1.0 / (1 + k) if k < 8 else 0.5 for k in range(30)]
    out = {
        "cosine": run("cosine", str(lk.warmup(lk.cosine(20, end=0.01), 5, start=0.1)), 30, 12,
                      None, as_callable=False),
        "plateau": run("plateau", "plateau(factor=0.5, patience=2)", 30, 14, metrics,
                       as_callable=True),
        "metrics": metrics,
        "lr": LR,
        "version": deepspeed.__version__,
        "accelerator": deepspeed.get_accelerator()._name,
        "backend": torch.distributed.get_backend(),
    }
    print("RESULT " + json.dumps(out))


if __name__ == "__main__":
    main()
