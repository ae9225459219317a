"""Training half of bench/losscurve_own.py: the curves the loss-curve experiment fits and predicts.

    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python -m bench.losscurve_own_train [--steps 1000]

The post-LN character transformer of bench.quality (bench/tasks.py ``charlm``, Adam, context 64,
batch 32, seed 0). Every run follows a per-step rate array ``lrs`` (lrs[k] is the rate of the
k-th optimizer step) built from lrkit schedules; the validation loss is measured on the fixed
validation windows every ``--every`` steps. Runs that share a prefix with the constant run
(its cooldown branches and the two WSD targets) continue from a snapshot of the constant run
(weights, Adam state, and the batch stream advanced to the same point), so they are exactly the
runs one would get by training them from scratch with the same seed.

Writes bench/results/losscurve-own.json: for every run its rates, evaluation steps, validation
losses and seconds.
"""

from __future__ import annotations

import argparse
import copy
import json
import time
from collections.abc import Iterator
from pathlib import Path

import torch

import lrkit as lk
from bench.tasks import Batch, Task, charlm_task

PEAK = 3e-3
WARMUP = 50


def plans(total: int) -> dict[str, tuple[str, lk.Schedule, int | None]]:
    """name -> (role, absolute schedule, branch point of the constant run or None)."""
    const = PEAK * lk.warmup(lk.constant(), WARMUP)
    main = total - WARMUP
    a, b = round(0.4 * total), round(0.7 * total)
    cool = round(0.1 * total)

    def branch(at: int, steps: int) -> lk.Schedule:
        # constant until `at`, then a linear cooldown to 0 over `steps` (lk.cooldown may be absent)
        return lk.join([const, PEAK * lk.linear(1.0, 0.0, steps)], [at])

    return {
        "constant": ("fit", const, None),
        f"cooldown@{a}+{cool}": ("fit", branch(a, cool), a),
        f"cooldown@{b}+{cool}": ("fit", branch(b, cool), b),
        "cosine": ("target", PEAK * lk.warmup(lk.cosine(main), WARMUP), None),
        "wsd-10%": ("target", branch(total - cool, cool), total - cool),
        "wsd-30%": ("target", branch(total - 3 * cool, 3 * cool), total - 3 * cool),
        "linear-to-zero": ("target", PEAK * lk.warmup(lk.linear(1.0, 0.0, main), WARMUP), None),
        "step-decay": (
            "target",
            PEAK * lk.warmup(lk.multistep([total // 2 - WARMUP, 3 * total // 4 - WARMUP]), WARMUP),
            None,
        ),
        "warmup-cosine-peak1.5e-3": (
            "target",
            (PEAK / 2) * lk.warmup(lk.cosine(main), WARMUP),
            None,
        ),
    }


def _advance(feed: Iterator[Batch], n: int) -> None:
    for _ in range(n):
        next(feed)


def train(
    task: Task,
    lrs: list[float],
    every: int,
    seed: int,
    start: tuple[int, dict[str, object], dict[str, object], list[int], list[float]] | None = None,
    snapshots: tuple[int, ...] = (),
) -> tuple[list[int], list[float], dict[int, tuple[dict[str, object], dict[str, object]]]]:
    """Train len(lrs) steps (from a snapshot when given); val loss after every `every` steps."""
    model = task.model(seed)
    opt = task.optimizer(model, lrs[0])
    feed = task.batches(seed)
    first = 0
    steps: list[int] = []
    losses: list[float] = []
    if start is not None:
        first, mstate, ostate, steps, losses = start
        steps, losses = list(steps), list(losses)
        model.load_state_dict(copy.deepcopy(mstate))
        opt.load_state_dict(copy.deepcopy(ostate))
        _advance(feed, first)
    saved: dict[int, tuple[dict[str, object], dict[str, object]]] = {}
    for k in range(first, len(lrs)):
        if k in snapshots:
            saved[k] = (copy.deepcopy(model.state_dict()), copy.deepcopy(opt.state_dict()))
        for group in opt.param_groups:
            group["lr"] = lrs[k]
        x, y = next(feed)
        loss = task.loss_fn(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if (k + 1) % every == 0:
            steps.append(k + 1)
            losses.append(task.evaluate(model)[0])
    return steps, losses, saved


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--every", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("bench/results/losscurve-own.json"))
    parser.add_argument("--only", default=None,
                        help="train only this run (one that does not branch off the constant "
                        "run), to run several processes side by side; merge with --merge")
    parser.add_argument("--merge", nargs="+", type=Path, default=None,
                        help="merge these JSON files (later runs win) into --out and exit")
    args = parser.parse_args(argv)
    if args.merge:
        merged: dict[str, object] = {}
        for path in args.merge:
            part = json.loads(path.read_text(encoding="utf-8"))
            runs_so_far = merged.get("runs", {})
            merged = {**part, "runs": {**runs_so_far, **part["runs"]}}  # type: ignore[dict-item]
        args.out.write_text(json.dumps(merged) + "\n", encoding="utf-8")
        return 0
    torch.set_num_threads(1)
    task = charlm_task()
    runs = plans(args.steps)
    branch_points = tuple(sorted({at for _, _, at in runs.values() if at is not None}))
    out: dict[str, object] = {
        "task": task.title,
        "steps": args.steps,
        "every": args.every,
        "seed": args.seed,
        "runs": {},
    }
    records: dict[str, dict[str, object]] = {}
    snaps: dict[int, tuple[dict[str, object], dict[str, object]]] = {}
    const_curve: tuple[list[int], list[float]] = ([], [])
    for name, (role, sched, at) in runs.items():
        if args.only is not None and name != args.only:
            continue
        lrs = [float(sched(k)) for k in range(args.steps)]
        tic = time.perf_counter()
        if at is None:
            steps, losses, saved = train(
                task, lrs, args.every, args.seed,
                snapshots=branch_points if name == "constant" else (),
            )
            if name == "constant":
                snaps, const_curve = saved, (steps, losses)
        else:
            keep = [i for i, s in enumerate(const_curve[0]) if s <= at]
            prefix_steps = [const_curve[0][i] for i in keep]
            prefix_losses = [const_curve[1][i] for i in keep]
            mstate, ostate = snaps[at]
            end = at + round(0.1 * args.steps) if role == "fit" else args.steps
            steps, losses, _ = train(
                task, lrs[:end], args.every, args.seed,
                start=(at, mstate, ostate, prefix_steps, prefix_losses),
            )
        records[name] = {
            "role": role,
            "spec": str(sched),
            "lrs": lrs[: steps[-1]],
            "steps": steps,
            "val_loss": losses,
            "seconds": round(time.perf_counter() - tic, 1),
        }
        print(f"{name}: final {losses[-1]:.4f} at {steps[-1]} ({records[name]['seconds']} s)",
              flush=True)
        out["runs"] = records
        args.out.write_text(json.dumps(out) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
