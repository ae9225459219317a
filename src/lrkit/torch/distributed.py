"""Multi-process training: make every rank take the same plateau decision.

Every rank runs its own ``LRScheduler`` with the same schedule and steps it the same number of
times, so the rates agree without communication. A ``plateau`` is the exception: it reacts to
the metric it is given, and ranks usually measure different local metrics (their own shard of
the validation set). Reduce the metric across ranks first, then report the same number on
every rank::

    sched.step(all_reduce_metric(local_val_loss))     # mean over ranks, identical everywhere
"""

from __future__ import annotations

from typing import Any, Literal

import torch
import torch.distributed as dist

from lrkit import _validate as v

__all__ = ["all_reduce_metric"]

# resolved at call time: torch builds without distributed support lack dist.ReduceOp
_OPS = {"mean": "SUM", "sum": "SUM", "min": "MIN", "max": "MAX"}


def all_reduce_metric(
    metric: Any, op: Literal["mean", "sum", "min", "max"] = "mean", group: Any = None
) -> float:
    """The metric reduced over every rank of ``group`` (a float, the same on every rank).

    ``metric`` is a number or a 0-dim tensor; a tensor is reduced on its own device (use a CUDA
    tensor with NCCL). The reduction runs in float64 so every rank gets the same bits. Without
    an initialised process group it returns ``float(metric)``.
    """
    if op not in _OPS:
        raise ValueError(f"all_reduce_metric: op must be one of {sorted(_OPS)}; got {op!r}")
    if not (dist.is_available() and dist.is_initialized()):
        return v.metric("all_reduce_metric", metric)
    if isinstance(metric, torch.Tensor):
        if metric.numel() != 1:
            raise v.fail("all_reduce_metric", "metric", metric, v.METRIC_ALLOWED)
        buf = metric.detach().reshape(()).to(torch.float64).clone()
    else:
        buf = torch.tensor(v.metric("all_reduce_metric", metric), dtype=torch.float64)
    dist.all_reduce(buf, op=getattr(dist.ReduceOp, _OPS[op]), group=group)
    value = float(buf.item())
    if op == "mean":
        value /= dist.get_world_size(group)
    return value
