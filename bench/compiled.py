"""A ``torch.compile``d optimizer step under a changing learning rate: recompiles and wall time.

    .venv/bin/python -m bench.compiled [--steps 200] [--backend inductor] [--device cpu|cuda]
                                       [--out bench/results]

A small MLP (64 -> 256 -> 256 -> 1, MSE on fixed random data) trained by Adam whose step is
compiled as the PyTorch tutorial does it (``torch.compile(opt.step)``), under a warmup + cosine
schedule that changes the rate every step. Two setups, run back to back in fresh dynamo states:

- float lr (what users usually write): ``Adam(lr=1e-2)`` + torch's ``SequentialLR(LinearLR,
  CosineAnnealingLR)``; every step writes a new Python float into ``param_groups[0]["lr"]``.
- lrkit (tensor lr): ``Adam(lr=torch.tensor(1e-2))`` + ``lrkit.torch.LRScheduler``, which
  updates the tensor in place (``fill_``), so the compiled graph reads it as an input.

Compilations are counted with a counting backend that wraps ``--backend`` (every graph dynamo
hands to the backend, the first compile and every recompile); the report also gives the wall
time of the whole loop (compiles included), the median step time over the last half of the
steps (steady state) and whether the trained weights agree between the two setups. The
backend is warmed up first on a throwaway function, so neither setup pays for its imports.
Inductor's on-disk caches are disabled unless ``--cached``: a second run would otherwise reuse
the first run's compiled graphs and hide the cost of compiling.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
import torch._dynamo
import torch._inductor.config

from bench.machine import header, write_report

WARMUP = 10
PEAK = 1e-2
# warmup starts at 0.1% of the peak, not at 0: see PITFALL
START = 1e-3
PITFALL = (
    "Pitfall found while writing this benchmark (torch 2.13, CPU): with a tensor lr that is "
    "exactly 0 on the first compiled step (a warmup from 0), `torch.compile(opt.step)` for "
    "Adam (any backend, `eager` included) turns every weight into NaN on the next step, while "
    "the same code uncompiled trains normally: the compiled Adam divides by the step size "
    "(its capturable formula, `eps / step_size`). So this benchmark warms up from "
    f"{START:g} x peak in both setups."
)


class CountingBackend:
    """A dynamo backend that counts the graphs it is asked to compile, then delegates."""

    def __init__(self, inner: str) -> None:
        self.inner = torch._dynamo.lookup_backend(inner)
        self.compiles = 0

    def __call__(self, gm: torch.fx.GraphModule, example_inputs: list[Any]) -> Any:
        self.compiles += 1
        return self.inner(gm, example_inputs)


def _model() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Linear(64, 256),
        torch.nn.ReLU(),
        torch.nn.Linear(256, 256),
        torch.nn.ReLU(),
        torch.nn.Linear(256, 1),
    )


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def run(setup: str, steps: int, backend: str, device: torch.device) -> dict[str, Any]:
    """Train ``steps`` steps with a compiled ``opt.step``; report compiles and times."""
    torch._dynamo.reset()
    torch._dynamo.utils.counters.clear()
    model = _model().to(device)
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(512, 64, generator=gen).to(device)
    y = torch.randn(512, 1, generator=gen).to(device)
    sch = torch.optim.lr_scheduler
    if setup == "float":
        opt = torch.optim.Adam(model.parameters(), lr=PEAK)
        ramp = sch.LinearLR(opt, start_factor=START, end_factor=1.0, total_iters=WARMUP)
        decay = sch.CosineAnnealingLR(opt, T_max=steps - WARMUP)
        scheduler: Any = sch.SequentialLR(opt, [ramp, decay], milestones=[WARMUP])
    else:
        import lrkit as lk
        from lrkit.torch import LRScheduler

        # on CUDA the tensor rate lives on the GPU: the compiled (capturable) step reads it there
        opt = torch.optim.Adam(model.parameters(), lr=torch.tensor(PEAK, device=device))
        schedule = lk.warmup(lk.cosine(steps=steps - WARMUP), steps=WARMUP, start=START)
        scheduler = LRScheduler(opt, schedule)
    counting = CountingBackend(backend)
    step: Callable[[], Any] = torch.compile(opt.step, backend=counting)
    lrs: list[float] = []
    times: list[float] = []
    for _ in range(steps):
        _sync(device)
        start = time.perf_counter()
        loss = torch.nn.functional.mse_loss(model(x), y)
        opt.zero_grad(set_to_none=False)
        loss.backward()
        lrs.append(float(opt.param_groups[0]["lr"]))
        step()
        scheduler.step()
        _sync(device)
        times.append(time.perf_counter() - start)
    return {
        "compiles": counting.compiles,
        "total_s": sum(times),
        "first_s": times[0],
        "steady_ms": 1e3 * statistics.median(times[steps // 2 :]),
        "final_loss": float(torch.nn.functional.mse_loss(model(x), y)),
        "weights": torch.cat([p.detach().flatten().cpu() for p in model.parameters()]),
        "distinct_lrs": len(set(lrs)),
    }


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)})"
    return str(device)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.compiled", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--backend", default="inductor", help="dynamo backend to count and use")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1 ...")
    parser.add_argument(
        "--cached", action="store_true", help="let inductor reuse its on-disk caches"
    )
    parser.add_argument("--out", type=Path, default=Path("bench/results"))
    args = parser.parse_args(argv)
    if args.steps <= 2 * WARMUP:
        parser.error(f"--steps must be > {2 * WARMUP}; got {args.steps}")
    try:
        device = torch.device(args.device)
    except RuntimeError as exc:
        parser.error(f"--device: {exc}")
    if device.type == "cuda" and not torch.cuda.is_available():
        parser.error(f"--device {args.device}: no CUDA device is visible")
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore", category=UserWarning)
    if not args.cached and args.backend == "inductor":
        # a compile from scratch every time, as on a first run: no on-disk graph caches
        torch._inductor.config.force_disable_caches = True
    # warm the backend up (imports, worker pools) so neither setup pays it
    torch.compile(lambda v: v * 2.0 + 1.0, backend=args.backend)(torch.ones(4, device=device))
    results = {}
    for setup in ("lrkit", "float"):
        print(f"running {setup} ...", flush=True)
        results[setup] = run(setup, args.steps, args.backend, device)
    a, b = results["lrkit"], results["float"]
    diff = float((a["weights"] - b["weights"]).abs().max())
    limit = getattr(torch._dynamo.config, "recompile_limit", None) or getattr(
        torch._dynamo.config, "cache_size_limit", "?"
    )
    rows = [
        "| setup | graphs compiled | distinct lrs | total wall s "
        "(compiles included) | first step s | median ms/step (last half) | final loss |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    names = {
        "lrkit": "lrkit LRScheduler, tensor lr updated in place",
        "float": "torch SequentialLR, float lr (usual)",
    }
    for key in ("lrkit", "float"):
        r = results[key]
        rows.append(
            f"| {names[key]} | {r['compiles']} | {r['distinct_lrs']} "
            f"| {r['total_s']:.2f} | {r['first_s']:.2f} | {r['steady_ms']:.2f} "
            f"| {r['final_loss']:.5f} |"
        )
    lines = [
        header("torch.compile'd optimizer step under a changing learning rate", ("torch",)),
        f"Device: {_device_name(device)}. "
        f"Adam on a 64-256-256-1 MLP (MSE, 512 fixed random samples), `torch.compile(opt.step, "
        f"backend={args.backend!r})` wrapped in a counting backend, {args.steps} steps of "
        f"linear warmup ({WARMUP} steps) + cosine from peak {PEAK:g}, the rate changing every "
        f"step. dynamo's recompile limit here: {limit}. Inductor's on-disk caches: "
        f"{'used' if args.cached else 'disabled (every graph compiled from scratch)'}.",
        "",
        PITFALL,
        "",
        *rows,
        "",
        f"Ratio of total wall time, float lr / lrkit: "
        f"**{b['total_s'] / a['total_s']:.1f}x**; steady state (last half), float / lrkit: "
        f"{b['steady_ms'] / a['steady_ms']:.2f}x. Max abs difference of the trained weights "
        f"between the two setups: {diff:.2e}.",
        "",
    ]
    print("\n".join(lines))
    name = "compiled.md" if device.type == "cpu" else f"compiled-{device.type}.md"
    write_report(args.out, name, lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
