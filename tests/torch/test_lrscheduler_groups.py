"""One schedule per param group (``LRScheduler(opt, [s0, s1, ...])``, as ``LambdaLR`` takes a
list of functions) and per-group ``hyperparams``; ``[schedule, mode]`` lists as YAML writes the
pair. Oracles: torch's ``LambdaLR`` with the same functions written out by hand, and torch's
``ReduceLROnPlateau`` for per-group plateaus."""

from __future__ import annotations

import math
import random
import warnings
from typing import Any

import pytest
import torch
from _torch_testing import assert_rates_close, drive, group_lrs, make_optimizer
from torch.optim import lr_scheduler as tl

import lrkit as lk
from lrkit.torch import LRScheduler

SEEDS = range(8)


def _fine_tuning(rng: random.Random, total: int) -> list[tuple[lk.Schedule, Any]]:
    """(lrkit schedule, the same factor as a hand-written lambda) for a fine-tuning recipe: a
    frozen-then-warmed backbone, a constant head, a different decay for the embeddings."""
    freeze, warm = rng.randint(1, 20), rng.randint(1, 30)
    decay = total - freeze - warm
    k = rng.uniform(0.05, 0.5)
    head = rng.uniform(0.1, 1.0)
    gamma, size = rng.uniform(0.3, 0.9), rng.randint(5, 40)

    def backbone(n: int) -> float:
        if n < freeze:
            return 0.0
        if n < freeze + warm:
            return (n - freeze) / warm
        u = min(n - freeze - warm, decay)
        return 0.5 * (1 + math.cos(math.pi * u / decay))

    return [
        (lk.join([lk.constant(0.0), lk.warmup(lk.cosine(decay), warm)], [freeze]), backbone),
        (lk.constant(head), lambda n: head),
        (lk.step_decay(size, gamma) * lk.linear(1.0, k, total),
         lambda n: gamma ** (n // size) * (1 + (k - 1) * min(n, total) / total)),
    ]


@pytest.mark.parametrize("seed", SEEDS)
def test_per_group_schedules_equal_lambdalr_with_a_list(seed: int) -> None:
    rng = random.Random(seed)
    total = rng.randint(60, 200)
    pairs = _fine_tuning(rng, total)
    lrs = [10 ** rng.uniform(-5, -2) for _ in pairs]
    opt_t = make_optimizer(lrs, torch.optim.AdamW)
    theirs = drive(opt_t, tl.LambdaLR(opt_t, [f for _, f in pairs]), total + 20)
    opt_l = make_optimizer(lrs, torch.optim.AdamW)
    specs = [str(s) for s, _ in pairs] if seed % 2 else [s for s, _ in pairs]  # strings too
    sched = LRScheduler(opt_l, specs)
    ours = drive(opt_l, sched, total + 20)
    assert_rates_close(ours, theirs, rtol=1e-12, atol=0.0)
    assert sched.schedules == tuple(s for s, _ in pairs)


def test_absolute_mode_per_group() -> None:
    opt = make_optimizer([1.0, 1.0])
    sched = LRScheduler(opt, [lk.constant(1e-3), 1e-4 * lk.cosine(10)], mode="absolute")
    rates = drive(opt, sched, 12)
    assert [r[0] for r in rates] == [1e-3] * 12
    want = [1e-4 * 0.5 * (1 + math.cos(math.pi * min(n, 10) / 10)) for n in range(12)]
    assert_rates_close([[r[1]] for r in rates], [[w] for w in want], rtol=1e-15)


def test_the_list_must_have_one_schedule_per_group() -> None:
    opt = make_optimizer([0.1, 0.1, 0.1])
    with pytest.raises(ValueError, match=r"list of 2 schedules.*3 param groups"):
        LRScheduler(opt, [lk.cosine(10), lk.constant()])
    with pytest.raises(ValueError, match=r"schedule\[1\]"):
        LRScheduler(opt, [lk.cosine(10), 3, lk.constant()])


def test_a_group_added_later_needs_its_own_schedule() -> None:
    opt = make_optimizer([0.1, 0.1])
    sched = LRScheduler(opt, [lk.cosine(10), lk.constant()])
    opt.add_param_group({"params": [torch.nn.Parameter(torch.zeros(1))], "lr": 0.5})
    with pytest.raises(ValueError, match=r"3 param groups.*2 entries, one per group"):
        sched.step()
    # one schedule for every group adopts new groups, as before
    opt = make_optimizer([0.1])
    sched = LRScheduler(opt, lk.linear(1.0, 0.0, 10))
    opt.add_param_group({"params": [torch.nn.Parameter(torch.zeros(1))], "lr": 0.5})
    sched.step()
    assert group_lrs(opt) == pytest.approx([0.09, 0.45], rel=1e-12)


@pytest.mark.parametrize("seed", range(6))
def test_per_group_plateaus_follow_reduce_on_plateau(seed: int) -> None:
    """Each group's own plateau, all fed the same metric: torch's ReduceLROnPlateau with a
    factor (and patience) per group is not one scheduler, so compare each group with its own."""
    rng = random.Random(seed)
    factors = [rng.uniform(0.1, 0.9) for _ in range(3)]
    patience = [rng.randint(0, 4) for _ in range(3)]
    lrs = [10 ** rng.uniform(-4, -1) for _ in range(3)]
    metrics = [1.0 / (1 + i) if rng.random() < 0.3 else 1.0 for i in range(60)]
    opt_l = make_optimizer(lrs)
    sched = LRScheduler(opt_l, [lk.plateau(factor=f, patience=p)
                                for f, p in zip(factors, patience, strict=True)])
    ours = drive(opt_l, sched, 60, metrics)
    for g in range(3):
        opt_t = make_optimizer([lrs[g]])
        rop = tl.ReduceLROnPlateau(opt_t, factor=factors[g], patience=patience[g])
        theirs = drive(opt_t, rop, 60, metrics)
        assert_rates_close([[r[g]] for r in ours], theirs, rtol=1e-12)


@pytest.mark.parametrize("seed", range(6))
def test_per_group_resume_is_exact(seed: int) -> None:
    rng = random.Random(seed)
    schedules = [lk.warmup(lk.plateau(factor=0.5, patience=1), 5), lk.cosine(80, end=0.1),
                 lk.join([lk.constant(0.0), lk.linear(0.0, 1.0, 20)], [10])]
    lrs = [0.1, 0.01, 0.003]
    metrics = [rng.choice([1.0, 0.9, 1.1]) for _ in range(100)]
    cut = rng.randint(1, 99)
    opt = make_optimizer(lrs, torch.optim.SGD, momentum=0.9)
    hyper = {"momentum": [lk.constant(0.9), lk.linear(0.95, 0.85, 50), ["cosine(20)", "relative"]]}
    full = drive(opt, LRScheduler(opt, schedules, hyperparams=hyper), 100, metrics,
                 read=lambda o: group_lrs(o) + group_lrs(o, "momentum"))
    opt = make_optimizer(lrs, torch.optim.SGD, momentum=0.9)
    first = LRScheduler(opt, schedules, hyperparams=hyper)
    drive(opt, first, cut, metrics[:cut])
    state = first.state_dict()
    assert state["spec"] == [str(s) for s in schedules]
    assert state["hyperparams"]["momentum"]["mode"] == ["absolute", "absolute", "relative"]
    buf = __import__("io").BytesIO()
    torch.save({"scheduler": state, "optimizer": opt.state_dict()}, buf)
    buf.seek(0)
    saved = torch.load(buf, weights_only=True)
    opt2 = make_optimizer(lrs, torch.optim.SGD, momentum=0.9)
    second = LRScheduler(opt2, schedules, hyperparams=hyper)
    opt2.load_state_dict(saved["optimizer"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        second.load_state_dict(saved["scheduler"])
    rest = drive(opt2, second, 100 - cut, metrics[cut:],
                 read=lambda o: group_lrs(o) + group_lrs(o, "momentum"))
    assert rest == full[cut:]


def test_loading_another_groups_schedule_warns_naming_both() -> None:
    opt = make_optimizer([0.1, 0.1])
    state = LRScheduler(opt, [lk.cosine(10), lk.constant()]).state_dict()
    other = LRScheduler(make_optimizer([0.1, 0.1]), [lk.cosine(10), lk.cosine(20)])
    with pytest.warns(lk.SpecMismatchWarning, match=r"constant\(\).*cosine\(steps=20\).*group 1"):
        other.load_state_dict(state)


# --- hyperparams: [schedule, mode] lists and per-group lists ---------------------------------


def test_a_mode_list_is_the_pair() -> None:
    def run(entry: Any) -> list[list[float]]:
        opt = make_optimizer([0.1, 0.2], torch.optim.AdamW, weight_decay=0.05)
        sched = LRScheduler(opt, lk.constant(), hyperparams={"weight_decay": entry})
        return drive(opt, sched, 100, read=lambda o: group_lrs(o, "weight_decay"))

    as_tuple = run(("cosine(steps=90)", "relative"))
    assert run(["cosine(steps=90)", "relative"]) == as_tuple
    want = [[0.05 * 0.5 * (1 + math.cos(math.pi * min(n, 90) / 90))] * 2 for n in range(100)]
    assert_rates_close(as_tuple, want, rtol=1e-12)
    assert run(["cosine(steps=90)", "absolute"]) == run("cosine(steps=90)")


def test_per_group_hyperparams() -> None:
    opt = make_optimizer([0.1, 0.1, 0.1], torch.optim.AdamW, weight_decay=0.02)
    sched = LRScheduler(opt, lk.constant(), hyperparams={
        "weight_decay": ["constant(0.0)", ["linear(1.0, 0.0, 10)", "relative"],
                         lk.cosine(10, start=0.1)],
        "momentum": [lk.constant(0.9), lk.constant(0.8), lk.constant(0.7)]})
    for _ in range(5):
        sched.step()
    wd = group_lrs(opt, "weight_decay")
    assert wd == pytest.approx([0.0, 0.02 * 0.5, 0.1 * 0.5], rel=1e-12)
    assert [g["betas"][0] for g in opt.param_groups] == [0.9, 0.8, 0.7]


@pytest.mark.parametrize(("entry", "match"), [
    (["cosine(steps=90)", "relativ"], r"\[schedule, mode\]"),
    (["cosine(steps=90)", "relative", "x"], r"one of those per param group.*list of 3"),
    (("cosine(steps=90)", "sideways"), r"mode of the pair \[schedule, mode\].*'sideways'"),
    ({"schedule": "cosine(10)"}, r"\(schedule, mode\) pair or a \[schedule, mode\] list"),
    (3, r"hyperparams\['weight_decay'\]"),
])
def test_bad_hyperparams_name_the_pair(entry: Any, match: str) -> None:
    opt = make_optimizer([0.1, 0.1], torch.optim.AdamW)
    with pytest.raises(ValueError, match=match):
        LRScheduler(opt, lk.constant(), hyperparams={"weight_decay": entry})


def test_omegaconf_lists_work_as_lists() -> None:
    omegaconf = pytest.importorskip("omegaconf")
    cfg = omegaconf.OmegaConf.create({
        "schedule": ["cosine(steps=10)", "constant(0.5)"],
        "hyperparams": {"weight_decay": ["cosine(steps=90)", "relative"]},
    })
    opt = make_optimizer([0.1, 0.1], torch.optim.AdamW, weight_decay=0.01)
    sched = LRScheduler(opt, cfg.schedule, hyperparams=cfg.hyperparams)
    sched.step()
    assert group_lrs(opt)[1] == 0.05
    assert group_lrs(opt, "weight_decay")[0] == pytest.approx(
        0.01 * 0.5 * (1 + math.cos(math.pi / 90)), rel=1e-12)


def test_repr_reads_well() -> None:
    opt = make_optimizer([0.1, 0.01], torch.optim.AdamW)
    sched = LRScheduler(opt, "warmup(cosine(steps=90), steps=10)",
                        hyperparams={"weight_decay": ("constant(0.5)", "relative")})
    for _ in range(5):
        sched.step()
    text = repr(sched)
    assert text == ("LRScheduler(schedule='warmup(cosine(steps=90), steps=10)', "
                    "mode='relative', count=5, lr=[0.05, 0.005], "
                    "weight_decay=[('constant(value=0.5)', 'relative')])")
    per_group = LRScheduler(make_optimizer([0.1, 0.2]), [lk.constant(), lk.cosine(4)],
                            steps_per_epoch=2)
    assert repr(per_group) == ("LRScheduler(schedule=['constant()', 'cosine(steps=4)'], "
                               "mode='relative', steps_per_epoch=2, count=0, lr=[0.1, 0.2])")
