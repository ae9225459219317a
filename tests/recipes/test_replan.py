"""Plans that change mid-run: GPT-3 in tokens (stepped by a growing batch), Hagele et al.'s
cooldown branches (epfml/schedules-and-scaling's ``wsd_schedule``) and nanoGPT extended mid-way
(its ``get_lr`` for each plan joined by a straight ramp). Each oracle is written out here from
the source named in its docstring, in float64."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest

import lrkit as lk

from ._harness import check, check_holds, compare, recipe, recipes


def _gpt3(t: float) -> float:
    """Brown et al. 2020, Table 2.1 (175B: 0.6e-4) and Appendix B: linear warmup over the first
    375M tokens, cosine down to 10% at 260B tokens, then 10%."""
    lr, warmup, decay = 0.6e-4, 375e6, 260e9
    if t < warmup:
        return lr * t / warmup
    if t >= decay:
        return 0.1 * lr
    progress = (t - warmup) / (decay - warmup)
    return 0.1 * lr + 0.9 * lr * 0.5 * (1 + math.cos(math.pi * progress))


def test_gpt3_175b_tokens() -> None:
    # every token count around the end of the warmup, then every ~10M tokens up to 320B
    check("gpt3-175b-tokens", _gpt3, 375_000_000 + 2048 * 50, start=375_000_000 - 2048 * 50)
    check("gpt3-175b-tokens", _gpt3, 320_000_000_000, stride=9_999_991)
    assert check_holds("gpt3-175b-tokens", 260_000_000_000, 260_000_001_000) == 0.1 * 0.6e-4


def test_gpt3_175b_tokens_stepped_by_a_growing_batch() -> None:
    """The batch ramps linearly from 32k tokens (16 sequences of 2048) to 3.2M (1536 sequences)
    over the first 12B tokens; a Stepper and an LRScheduler stepped with by=tokens give the
    oracle's rate at each token count, also far past 2**32 tokens."""
    torch = pytest.importorskip("torch")
    from lrkit.torch import LRScheduler

    lr, s = recipe("gpt3-175b-tokens")
    seq, ramp_tokens, full = 2048, 12_000_000_000, 1536
    st = lk.Stepper(s)
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr)
    sched = LRScheduler(opt, s)
    tokens, seen, got_st, got_pt = 0, [], [], []
    while tokens < 20_000_000_000:
        n = 16 + int((full - 16) * min(tokens / ramp_tokens, 1.0))  # sequences in this batch
        seen.append(tokens)
        got_st.append(lr * st.value())
        got_pt.append(opt.param_groups[0]["lr"])
        st.step(by=n * seq)
        opt.step()
        sched.step(by=n * seq)
        tokens += n * seq
    ts = np.array(seen, dtype=np.float64)
    want = np.array([_gpt3(t) for t in seen])
    compare(np.array(got_st), want, ts, rtol=1e-12, what="gpt3 Stepper(by=tokens)")
    compare(np.array(got_pt), want, ts, rtol=1e-12, what="gpt3 LRScheduler.step(by=tokens)")
    assert st.count == tokens and tokens > 2**34
    assert len(seen) > 5000  # thousands of steps of different sizes


def _epfml_wsd(n_iterations: int, n_warmup: int = 300, init_div_factor: float = 1e2,
               fract_decay: float = 0.2, final_lr_factor: float = 0.0) -> Callable[[int], float]:
    """epfml/schedules-and-scaling src/optim/utils.py ``wsd_schedule`` (ce6b405),
    ``decay_type="sqrt"``: the LambdaLR factor at ``step``."""
    n_anneal_steps = int(fract_decay * n_iterations)
    n_hold = n_iterations - n_anneal_steps

    def schedule(step: int) -> float:
        if step < n_warmup:
            return (step / n_warmup) + (1 - step / n_warmup) / init_div_factor
        if step < n_hold:
            return 1.0
        if step < n_iterations:
            return final_lr_factor + (1 - final_lr_factor) * (
                1 - math.sqrt((step - n_hold) / n_anneal_steps))
        return final_lr_factor

    return schedule


def test_wsd_cooldown_branches() -> None:
    """Each branch is the run of that length with ``--scheduler wsd --wsd-fract-decay 0.2
    --decay-type sqrt`` (lr 1e-3, warmup 300), at every step and past its end; the trunk is
    their common part (every run's warmup and hold) and never decays."""
    ns = recipes()["wsd-cooldown-branches"]
    lr, branches = ns["lr"], ns["branches"]
    assert sorted(branches) == [5_000, 10_000, 15_000]
    for n, branch in branches.items():
        ref = _epfml_wsd(n)
        ts = np.arange(0, n + 2000)
        got = lr * np.asarray(branch(ts.astype(np.float64)))
        want = np.array([lr * ref(int(t)) for t in ts])
        compare(got, want, ts, rtol=1e-12, atol=1e-300, what=f"wsd-cooldown-branches n={n}")
        for t in range(0, n + 2000, 997):  # the Python-float path too
            assert math.isclose(lr * branch(float(t)), lr * ref(t), rel_tol=1e-12, abs_tol=0.0)
    longest = _epfml_wsd(15_000)
    check("wsd-cooldown-branches", lambda k: lr * longest(k), 12_000)
    assert check_holds("wsd-cooldown-branches", 300, 100_000) == lr


def _nanogpt(lr_decay_iters: int) -> Callable[[float], float]:
    """karpathy/nanoGPT train.py ``get_lr`` (3adf61e), config/train_gpt2.py's rates."""
    learning_rate, min_lr, warmup_iters = 6e-4, 6e-5, 2000

    def get_lr(it: float) -> float:
        if it < warmup_iters:
            return learning_rate * (it + 1) / (warmup_iters + 1)
        if it > lr_decay_iters:
            return min_lr
        ratio = (it - warmup_iters) / (lr_decay_iters - warmup_iters)
        return min_lr + 0.5 * (1.0 + math.cos(math.pi * ratio)) * (learning_rate - min_lr)

    return get_lr


def test_nanogpt_extended() -> None:
    """The old plan's get_lr before iteration 300000, the straight line from it there to the new
    plan's get_lr at 302000, the new plan's get_lr after (open_lm PR #243's re-warm)."""
    old, new = _nanogpt(600_000), _nanogpt(800_000)
    at, ramp = 300_000, 2000

    def extended(it: int) -> float:
        if it < at:
            return old(it)
        if it < at + ramp:
            return old(at) + (new(at + ramp) - old(at)) * (it - at) / ramp
        return new(it)

    got = check("nanogpt-extended", extended, 830_000)
    assert got[at] == got[at - 1] or abs(got[at] / got[at - 1] - 1) < 1e-5  # no jump at `at`
    assert new(at) / old(at) > 1.3  # where a rebuilt get_lr would have jumped to
    check("nanogpt-extended", extended, at + ramp + 3, start=at - 3)
