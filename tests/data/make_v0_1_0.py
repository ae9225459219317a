"""Writes the lrkit 0.1.0 fixtures under ``tests/data/v0.1.0/`` (``tests/test_formats.py`` loads
them into the current lrkit and checks that they resume exactly).

Run it against the released 0.1.0 code, never the current one (it refuses another version)::

    git worktree add /tmp/v010 v0.1.0
    PYTHONPATH=/tmp/v010/src python tests/data/make_v0_1_0.py

What it writes (all plain data; ``torch.load(weights_only=True)`` reads every ``.pt``):

- ``lrscheduler/<case>.pt``, ``gradual_warmup/<case>.pt``: a training checkpoint as a user saves
  it, ``{"optimizer": opt.state_dict(), "scheduler": sched.state_dict()}``, taken after
  ``save_at`` steps;
- ``lrscheduler.json``, ``gradual_warmup.json``: per case, how the optimizer and scheduler were
  built (``setup``), the metrics fed to ``step()`` before and after the save, and the rates the
  uninterrupted 0.1.0 run had at the save step and after each of the following steps;
- ``stepper.json``: ``lrkit.Stepper`` states with the values that followed;
- ``schedules.json``: ``to_dict()`` and the spec string of every registered schedule (several
  parameter sets each) and spec strings from the 0.1.0 docs, with values on a grid of steps (or,
  for schedules holding a plateau, along a metric sequence).

Every recorded continuation is checked here against a 0.1.0 resume from the saved state, so the
fixtures hold what 0.1.0 itself did.
"""

from __future__ import annotations

import io
import json
import math
from pathlib import Path
from typing import Any

import torch

import lrkit as lk
from lrkit.torch import GradualWarmupScheduler, LRScheduler

OUT = Path(__file__).resolve().parent / "v0.1.0"
AFTER = 12
"""Steps recorded after each save."""


# --- metrics -------------------------------------------------------------------------------------


def plateau_metrics(n: int) -> list[float]:
    """A loss that improves, stalls, improves a little, stalls...: reductions and cooldowns."""
    out: list[float] = []
    level = 1.0
    for k in range(n):
        if k % 7 in (0, 1):
            level *= 0.8
        out.append(round(level, 6))
    return out


# --- torch setups (tests/test_formats.py builds the same from the recorded ``setup``) -----------


def make_optimizer(setup: dict[str, Any]) -> torch.optim.Optimizer:
    groups = []
    for g in setup["groups"]:
        group = dict(g)
        group["params"] = [torch.nn.Parameter(torch.zeros(2))]
        if "betas" in group:
            group["betas"] = tuple(group["betas"])
        if group.pop("tensor_lr", False):
            group["lr"] = torch.tensor(group["lr"], dtype=torch.float64)
        groups.append(group)
    cls = getattr(torch.optim, setup["optimizer"])
    return cls(groups, **setup.get("optimizer_kwargs", {}))  # type: ignore[no-any-return]


def make_lrscheduler(opt: torch.optim.Optimizer, setup: dict[str, Any]) -> LRScheduler:
    hyper = {k: (spec, mode) for k, (spec, mode) in setup.get("hyperparams", {}).items()}
    return LRScheduler(opt, setup["schedule"], mode=setup.get("mode", "relative"),
                       steps_per_epoch=setup.get("steps_per_epoch"), hyperparams=hyper or None)


def make_gradual(opt: torch.optim.Optimizer, setup: dict[str, Any]) -> GradualWarmupScheduler:
    after = setup.get("after")
    after_scheduler = None
    if after is not None:
        cls = getattr(torch.optim.lr_scheduler, after["type"])
        after_scheduler = cls(opt, **after["kwargs"])
    return GradualWarmupScheduler(opt, setup["multiplier"], setup["total_epoch"],
                                  after_scheduler)


def settings(opt: torch.optim.Optimizer, keys: list[str]) -> dict[str, list[float]]:
    """The scheduled settings of every param group (``momentum`` of Adam: ``betas[0]``)."""
    out: dict[str, list[float]] = {}
    for key in keys:
        vals = []
        for g in opt.param_groups:
            if key == "momentum" and "momentum" not in g:
                vals.append(float(g["betas"][0]))
            else:
                vals.append(float(g[key]))
        out[key] = vals
    return out


def train_step(opt: torch.optim.Optimizer) -> None:
    for g in opt.param_groups:
        for p in g["params"]:
            p.grad = torch.ones_like(p)
    opt.step()


def run_torch(kind: str, name: str, setup: dict[str, Any], save_at: int,
              metrics: list[float] | None) -> dict[str, Any]:
    make = make_lrscheduler if kind == "lrscheduler" else make_gradual
    setup = json.loads(json.dumps(setup))  # exactly what the test reads back
    keys = ["lr", *setup.get("hyperparams", {})]
    opt = make_optimizer(setup)
    sched = make(opt, setup)

    def step(k: int) -> None:
        train_step(opt)
        if metrics is None:
            sched.step()
        elif kind == "lrscheduler":
            sched.step(metrics[k])
        else:
            sched.step(metrics=metrics[k])

    for k in range(save_at):
        step(k)
    buf = io.BytesIO()
    torch.save({"optimizer": opt.state_dict(), "scheduler": sched.state_dict()}, buf)
    at_save = settings(opt, keys)
    after = []
    for k in range(save_at, save_at + AFTER):
        step(k)
        after.append(settings(opt, keys))

    # 0.1.0 itself resumes to the same rates (the fixture holds what 0.1.0 did).
    buf.seek(0)
    ckpt = torch.load(buf, weights_only=True)
    opt2 = make_optimizer(setup)
    sched2 = make(opt2, setup)
    opt2.load_state_dict(ckpt["optimizer"])
    sched2.load_state_dict(ckpt["scheduler"])
    assert settings(opt2, keys) == at_save, (name, settings(opt2, keys), at_save)
    opt, sched = opt2, sched2
    for k, want in zip(range(save_at, save_at + AFTER), after, strict=True):
        step(k)
        got = settings(opt, keys)
        assert all(math.isclose(a, b, rel_tol=1e-12, abs_tol=0.0)
                   for key in keys for a, b in zip(got[key], want[key], strict=True)), (name, k)

    path = OUT / kind / f"{name}.pt"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buf.getvalue())
    return {
        "file": f"{kind}/{name}.pt",
        "setup": setup,
        "save_at": save_at,
        "metrics": metrics,
        "at_save": at_save,
        "after": after,
    }


SGD = {"optimizer": "SGD"}
TWO_GROUPS = [{"lr": 0.1, "momentum": 0.9}, {"lr": 0.01, "momentum": 0.9}]

LRSCHEDULER_CASES: list[tuple[str, dict[str, Any], int, bool]] = [
    # (name, setup, save_at, feed metrics)
    ("relative_warmup_cosine", {**SGD, "groups": TWO_GROUPS,
                                "schedule": "warmup(cosine(steps=20, end=0.01), steps=5)"},
     8, False),
    ("absolute_one_cycle", {**SGD, "groups": [{"lr": 0.5}], "mode": "absolute",
                            "schedule": "one_cycle(30, peak=0.3, three_phase=True)"}, 11, False),
    ("absolute_scaled_sequence", {**SGD, "groups": TWO_GROUPS, "mode": "absolute",
                                  "schedule": "0.003 * (linear(0.0, 1.0, 4) >> "
                                              "cosine(steps=16, end=0.1))"}, 6, False),
    ("steps_per_epoch", {**SGD, "groups": TWO_GROUPS, "steps_per_epoch": 4,
                         "schedule": "warmup(step_decay(2, gamma=0.5), steps=1, start=0.1)"},
     9, False),
    ("plateau", {**SGD, "groups": TWO_GROUPS,
                 "schedule": "plateau(factor=0.5, patience=2, cooldown=1, threshold=0.01)"},
     12, True),
    ("plateau_absolute", {**SGD, "groups": [{"lr": 1.0}], "mode": "absolute",
                          "schedule": "plateau(factor=0.5, patience=1, start=0.2, "
                                      "min_value=0.01)"}, 11, True),
    ("warmup_plateau", {**SGD, "groups": TWO_GROUPS,
                        "schedule": "warmup(plateau(factor=0.5, patience=1), steps=4, "
                                    "start=0.1)"}, 12, True),
    ("cosine_then_plateau", {**SGD, "groups": [{"lr": 0.1}],
                             "schedule": "cosine(steps=6, end=0.5) >> plateau(factor=0.3, "
                                         "patience=1, start=0.5)"}, 12, True),
    ("hyperparams_sgd", {**SGD, "groups": [{"lr": 0.1, "momentum": 0.95, "weight_decay": 1e-3},
                                           {"lr": 0.02, "momentum": 0.95, "weight_decay": 5e-4}],
                         "schedule": "one_cycle(24, pct_start=0.25)",
                         "hyperparams": {
                             "momentum": ["0.85 + 0.1 * linear(0.0, 1.0, 24)", "absolute"],
                             "weight_decay": ["cosine(steps=24, end=0.1)", "relative"]}},
     7, False),
    ("hyperparams_adamw", {"optimizer": "AdamW",
                           "groups": [{"lr": 1e-3, "betas": (0.9, 0.999), "weight_decay": 0.05}],
                           "schedule": "warmup(cosine(steps=20), steps=4)",
                           "hyperparams": {"momentum": ["cyclic(0.85, 0.95, 5)", "absolute"],
                                           "weight_decay": ["linear(1.0, 0.0, 24)", "relative"]}},
     10, False),
    ("three_groups", {**SGD, "groups": [{"lr": 0.3}, {"lr": 0.03}, {"lr": 3e-4}],
                      "schedule": "cosine_restarts(5, end=0.01, period_mult=2, decay=0.5)"},
     9, False),
    ("tensor_lr", {**SGD, "groups": [{"lr": 0.1, "tensor_lr": True, "momentum": 0.9}],
                   "schedule": "warmup(exponential(0.9, every=2), steps=3)"}, 6, False),
]

GRADUAL_CASES: list[tuple[str, dict[str, Any], int, bool]] = [
    ("steplr_in_warmup", {**SGD, "groups": TWO_GROUPS, "multiplier": 1.0, "total_epoch": 5,
                          "after": {"type": "StepLR", "kwargs": {"step_size": 3, "gamma": 0.5}}},
     3, False),
    ("steplr_after_warmup", {**SGD, "groups": TWO_GROUPS, "multiplier": 1.0, "total_epoch": 5,
                             "after": {"type": "StepLR",
                                       "kwargs": {"step_size": 3, "gamma": 0.5}}}, 9, False),
    ("cosine_multiplier", {**SGD, "groups": [{"lr": 0.05}], "multiplier": 4.0, "total_epoch": 3,
                           "after": {"type": "CosineAnnealingLR",
                                     "kwargs": {"T_max": 10, "eta_min": 1e-4}}}, 6, False),
    ("plateau_after", {**SGD, "groups": TWO_GROUPS, "multiplier": 2.0, "total_epoch": 3,
                       "after": {"type": "ReduceLROnPlateau",
                                 "kwargs": {"factor": 0.5, "patience": 1}}}, 12, True),
    ("no_after", {**SGD, "groups": [{"lr": 0.1}], "multiplier": 2.0, "total_epoch": 4,
                  "after": None}, 2, False),
]


# --- Stepper -------------------------------------------------------------------------------------

STEPPER_CASES: list[tuple[str, str, int | None, int, bool]] = [
    ("warmup_cosine", "warmup(cosine(steps=30, end=0.05), steps=5, start=0.01)", None, 9, False),
    ("epochs", "multistep([1, 2.5], gamma=0.3)", 4, 7, False),
    ("plateau", "plateau(factor=0.5, patience=2, cooldown=2, mode='max', threshold=0.0)", None,
     13, True),
    ("product_with_plateau", "linear(1.0, 0.5, 20) * plateau(factor=0.2, patience=1)", None, 10,
     True),
    ("join_of_plateaus", "join([plateau(factor=0.5, patience=1), warmup(plateau(patience=0), "
                         "steps=2)], [8])", 2, 13, True),
]


def run_stepper(name: str, spec: str, spe: int | None, save_at: int,
                feed: bool) -> dict[str, Any]:
    s = lk.parse(spec)
    metrics = plateau_metrics(save_at + AFTER) if feed else None
    if feed and "max" in spec:
        metrics = [-m for m in metrics or []]
    st = lk.Stepper(s, spe)
    for k in range(save_at):
        st.step(None if metrics is None else metrics[k])
    state = json.loads(json.dumps(st.state_dict()))
    at_save = st.value()
    after = [st.step(None if metrics is None else metrics[k])
             for k in range(save_at, save_at + AFTER)]
    again = lk.Stepper(lk.parse(spec), spe)
    again.load_state_dict(state)
    assert again.value() == at_save, name
    assert after == [again.step(None if metrics is None else metrics[k])
                     for k in range(save_at, save_at + AFTER)], name
    return {"name": name, "spec": spec, "steps_per_epoch": spe, "save_at": save_at,
            "state": state, "metrics": metrics, "at_save": at_save, "after": after}


# --- schedules -----------------------------------------------------------------------------------


def registered() -> list[lk.Schedule]:
    """Several parameter sets of every registered schedule (checked to cover the registry)."""
    c = lk.cosine(10, end=0.1)
    return [
        lk.constant(), lk.constant(0.25),
        lk.linear(0.0, 1.0, 10), lk.linear(1.0, 0.2, 7.5),
        lk.step_decay(3), lk.step_decay(2.5, gamma=0.5, start=2.0),
        lk.multistep([3, 7]), lk.multistep([2, 2, 5.5], gamma=0.5, start=0.3),
        lk.exponential(0.9), lk.exponential(0.8, start=0.5, every=2, staircase=True, end=0.1),
        lk.exponential(1.2, start=0.01, every=3, end=0.05),
        lk.polynomial(10), lk.polynomial(8, power=2.0, start=0.5, end=0.01),
        lk.cosine(10), lk.cosine(12.5, start=0.8, end=0.05, exponent=2.0),
        lk.cosine_restarts(4), lk.cosine_restarts(3, start=0.9, end=0.1, period_mult=2,
                                                  decay=0.7),
        lk.one_cycle(20), lk.one_cycle(30, peak=0.4, pct_start=0.4, div_factor=10.0,
                                       final_div_factor=100.0, anneal="linear"),
        lk.one_cycle(25, three_phase=True),
        lk.cyclic(0.1, 1.0, 4), lk.cyclic(0.0, 0.5, 3, mode="triangular2"),
        lk.cyclic(0.01, 0.1, 2.5, mode="exp_range", gamma=0.95, down_period=5),
        lk.inverse_sqrt(4), lk.inverse_sqrt(10, start=0.3),
        lk.inverse_time(5), lk.inverse_time(4, rate=0.5, start=0.2, staircase=True),
        lk.wsd(3, 5, 4), lk.wsd(2, 4, 6, start=0.1, end=0.01, warmup_shape="cosine",
                                decay_shape="1-sqrt"),
        lk.untuned_warmup(), lk.untuned_warmup(0.99, shape="exponential"),
        lk.warmup_factor(5), lk.warmup_factor(3.5, shape="exponential"),
        lk.warmup(c, 4), lk.warmup(c, 3, start=0.05, shape="exponential"),
        lk.warmup(lk.constant(), 2.5, shape="cosine"),
        lk.join([lk.constant(0.1), c, lk.step_decay(2)], [3, 8]),
        lk.linear(0.0, 1.0, 5) >> c >> lk.constant(0.05),
        c * lk.untuned_warmup(), 0.5 * c, c * 0.5, c + 0.1, 0.1 + c,
        c * lk.linear(1.0, 0.5, 20) + lk.step_decay(5, start=0.01),
        lk.plateau(), lk.plateau(factor=0.5, patience=1, mode="max", threshold=0.1,
                                 threshold_mode="abs", cooldown=1, min_value=0.05, start=0.8),
        lk.warmup(lk.plateau(factor=0.5, patience=1), 3) * lk.cosine(30, end=0.5),
    ]


DOC_TEXTS = [
    # spec strings as written in the 0.1.0 README and docs (not all canonical)
    "warmup(cosine(steps=9000), steps=1000)",
    "warmup(cosine(steps=9000), steps=1000, start=0.001)",
    "warmup(cosine(steps=9000, end=0.01), steps=1000, start=0.001)",
    "constant(1.0)",
    "cosine(steps=1000)",
    "cosine(steps=5000) * untuned_warmup(0.999)",
    "cosine_restarts(200)",
    "cyclic(0.1, 1.0, 100)",
    "exponential(0.995)",
    "inverse_sqrt(10)",
    "linear(0.0, 1.0, 100) >> cosine(steps=900, end=0.05)",
    "multistep([300, 600, 850], 0.1)",
    "multistep([30, 80])",
    "one_cycle(1000)",
    "polynomial(1000, power=0.5)",
    "step_decay(250, 0.5)",
    "step_decay(3, 0.5)",
    "warmup(constant(1.0), steps=300, start=0.01)",
    "wsd(100, 600, 300)",
    "warmup(plateau(factor=0.5, patience=2), steps=500)",
    # written by hand: other spellings the 0.1.0 parser accepts
    "3e-4 * warmup(cosine(steps=90), steps=10)",
    "(linear(0, 1, 10) >> cosine(90)) * 0.1 + 1e-5",
    "join(schedules=[constant(0.1), cosine(steps=50)], boundaries=[10])",
    "warmup(cosine(100, 1.0, 0.0), 10, 0.0, 'linear')",
    'warmup(cosine(100), 10, shape="cosine")',
    "multistep(milestones=(5, 10), gamma=0.5)",
    "exponential(0.9, end=None, staircase=False)",
    "cyclic(low=-0.0, high=+1.0, half_period=4)",
]


def grid(s: lk.Schedule) -> list[float]:
    """Steps around every phase boundary and end, integers and a few fractions."""
    ends = [p for p in (*s.breakpoints(), s.duration or 0.0) if p > 0]
    horizon = max([12.0, *ends]) + 3
    if horizon <= 40:
        pts = {float(k) for k in range(int(horizon) + 1)}
    else:
        pts = {float(round(horizon * k / 30)) for k in range(31)}
    for e in ends:
        pts.update({e - 1, e - 0.5, e, e + 0.25, e + 1})
    pts.update({0.5, 1.75, 2.25})
    return sorted(p for p in pts if p >= 0)


def record_schedule(s: lk.Schedule, text: str | None = None) -> dict[str, Any]:
    """The schedule's canonical spec, ``to_dict()`` and values (the key is the text parsed)."""
    entry: dict[str, Any] = {"spec": str(s), "dict": s.to_dict()}
    assert json.loads(json.dumps(entry["dict"])) == entry["dict"]
    assert lk.from_dict(entry["dict"]) == s and lk.parse(str(s)) == s
    if s.has_state:
        metrics = plateau_metrics(40)
        if "max" in entry["spec"]:
            metrics = [-m for m in metrics]
        st = lk.Stepper(s)
        entry["metrics"] = metrics
        entry["values"] = [st.value()] + [st.step(m) for m in metrics]
    else:
        entry["t"] = grid(s)
        entry["values"] = [s(t) for t in entry["t"]]
    return entry


def main() -> None:
    if lk.__version__ != "0.1.0":
        raise SystemExit(f"run this against lrkit 0.1.0 (PYTHONPATH=<v0.1.0 worktree>/src); "
                         f"found lrkit {lk.__version__} at {lk.__file__}")
    OUT.mkdir(parents=True, exist_ok=True)

    def dump(name: str, data: dict[str, Any]) -> None:  # one entry a line
        lines = [f"{json.dumps(k)}: {json.dumps(v)}" for k, v in data.items()]
        (OUT / name).write_text("{\n" + ",\n".join(lines) + "\n}\n")

    lrs = {}
    for name, setup, save_at, feed in LRSCHEDULER_CASES:
        metrics = plateau_metrics(save_at + AFTER) if feed else None
        lrs[name] = run_torch("lrscheduler", name, setup, save_at, metrics)
    dump("lrscheduler.json", lrs)
    saved = [torch.load(OUT / c["file"], weights_only=True)["scheduler"] for c in lrs.values()]
    states = [p for s in saved for group in s["plateaus"] for p in group]
    assert any(p["cooldown_counter"] for p in states) and any(p["num_bad_epochs"] for p in states)
    gws = {}
    for name, setup, save_at, feed in GRADUAL_CASES:
        metrics = plateau_metrics(save_at + AFTER) if feed else None
        gws[name] = run_torch("gradual_warmup", name, setup, save_at, metrics)
    dump("gradual_warmup.json", gws)
    dump("stepper.json", {c[0]: run_stepper(*c) for c in STEPPER_CASES})

    schedules = registered()
    covered = {type(x).name for s in schedules for x in _walk(s)}
    missing = sorted(set(lk.registry()) - covered)
    assert not missing, f"no fixture for registered schedules {missing}"
    entries = {str(s): record_schedule(s) for s in schedules}
    entries.update({text: record_schedule(lk.parse(text), text) for text in DOC_TEXTS})
    assert len(entries) == len(schedules) + len(DOC_TEXTS), "a schedule is listed twice"
    dump("schedules.json", entries)


def _walk(s: lk.Schedule) -> list[lk.Schedule]:
    return [s, *(x for c in s.children() for x in _walk(c))]


if __name__ == "__main__":
    main()
