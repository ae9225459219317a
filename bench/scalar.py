"""Scalar evaluation: ``s(t)`` on a Python float, against the same formula written by hand.

    .venv/bin/python -m bench.scalar [--number 20000] [--repeats 15] [--callgrind] [--out DIR]

One case per registered constructor (``lrkit.registry()``; ``plateau`` through
``Schedule.evaluate(t, states)``, the call ``lrkit.Stepper`` makes, with its states) and a few
compositions (warmup + cosine, the seed's recipe, a join of 3, ``maximum(cosine, floor)``,
``staircase(linear)``, warmup of restarts x step decay, ``warmup(plateau)``, a 300-segment
join). Each case comes with a hand-written Python function of the same formula, written out
plainly as a user would (``math.cos``, ``if``/``else``, literals; ``bisect`` for the
300-segment join), and several ``t`` inside its phases.

Timing: ``timeit`` of ``--number`` calls ``f(t)`` (GC off), every (case, t, side) measured once
per repetition, all of them in a new random order each repetition; the table gives the median
ns per call of each side, their ratio, and the median over repetitions of the paired ratio.
``--callgrind`` adds the instructions per call, counted by callgrind in a child process
(deterministic: the load of the machine does not change them). The target is a ratio <= 1.5
for every row. Before timing, every hand-written function is checked against lrkit at each
``t`` (relative difference <= 1e-12), so both sides compute the same thing.
"""

from __future__ import annotations

import argparse
import bisect
import json
import math
import random
import sys
import timeit
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lrkit as lk
from bench import timing
from bench.machine import header, write_report
from lrkit.schedules.plateau import PlateauState

TARGET = 1.5
AGREEMENT = 1e-12


@dataclass(frozen=True)
class Case:
    """One schedule, its hand-written twin and the steps to evaluate it at."""

    label: str
    schedule: lk.Schedule
    reference: Callable[..., float]
    ts: tuple[float, ...]
    composition: bool = False
    states: list[PlateauState] | None = field(default=None)
    """For a tree with plateaus: lrkit is called as ``schedule.evaluate(t, states)`` and the
    reference as ``reference(t, states)``."""

    def lrkit_call(self) -> Callable[..., float]:
        return self.schedule.evaluate if self.states is not None else self.schedule

    def compiled_call(self) -> Callable[..., float]:
        """The specialised scalar function itself (``_py``; ``_pys`` with states): what
        ``lrkit.torch.LRScheduler`` calls each step, without ``Schedule.__call__``."""
        py, pys = self.schedule.scalar_path()
        f: Callable[..., float] = pys if self.states is not None else py
        return f

    def call(self, side: str) -> Callable[..., float]:
        if side == "lrkit":
            return self.lrkit_call()
        if side == "compiled":
            return self.compiled_call()
        return self.reference

    @property
    def stmt(self) -> str:
        return "f(t)" if self.states is None else "f(t, s)"

    def pairs(self) -> list[tuple[float, float, float]]:
        """(t, lrkit value, hand-written value) at every t of the case."""
        out = []
        for t in self.ts:
            if self.states is None:
                out.append((t, self.schedule(t), self.reference(t)))
            else:
                out.append((t, self.schedule.evaluate(t, self.states),
                            self.reference(t, self.states)))
        return out


def rel_diff(a: float, b: float) -> float:
    if a == b:
        return 0.0
    return abs(a - b) / max(abs(a), abs(b))


# --- the hand-written functions: plain Python, as a user writes them -----------------------------


def constant_ref(t: float) -> float:
    return 0.1


def linear_ref(t: float) -> float:
    if t < 1000:
        return 1.0 - 0.9 * t / 1000
    return 0.1


def step_decay_ref(t: float) -> float:
    return 0.5 ** math.floor(t / 100)


def multistep_ref(t: float) -> float:
    if t < 300:
        return 1.0
    if t < 600:
        return 0.1
    if t < 900:
        return 0.1**2
    return 0.1**3


def exponential_ref(t: float) -> float:
    lr = 0.99 ** (t / 10)
    return lr if lr > 0.01 else 0.01


def polynomial_ref(t: float) -> float:
    x = t / 1000 if t < 1000 else 1.0
    return 0.99 * (1 - x) ** 2 + 0.01


def cosine_ref(t: float) -> float:
    if t < 1000:
        return 0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * t / 1000))
    return 0.01


def inverse_sqrt_ref(t: float) -> float:
    return 1 / math.sqrt(1 + t / 100)


def inverse_time_ref(t: float) -> float:
    return 1 / (1 + 0.5 * t / 100)


def cosine_restarts_ref(t: float) -> float:
    # cycle i starts at 100 * (2**i - 1) and lasts 100 * 2**i
    i = math.floor(math.log2(1 + t / 100))
    start = 100 * (2**i - 1)
    length = 100 * 2**i
    return 0.5 * (1 + math.cos(math.pi * (t - start) / length))


def cosine_restarts_flat_ref(t: float) -> float:
    u = t % 100
    return 0.5 * (1 + math.cos(math.pi * u / 100))


def one_cycle_ref(t: float) -> float:
    # torch's OneCycleLR, 1000 steps, max_lr 1, pct_start 0.3, div 25, final_div 1e4, cos
    initial = 1 / 25
    low = initial / 1e4
    if t <= 299:
        pct = t / 299
        return 1.0 + (initial - 1.0) / 2 * (math.cos(math.pi * pct) + 1)
    pct = (t - 299) / 700
    if pct > 1:
        pct = 1.0
    return low + (1.0 - low) / 2 * (math.cos(math.pi * pct) + 1)


def cyclic_ref(t: float) -> float:
    # torch's CyclicLR, triangular, base 0.1, max 1, step_size_up 200
    cycle = math.floor(1 + t / 400)
    x = 1 + t / 400 - cycle
    scale = x / 0.5 if x <= 0.5 else (x - 1) / (0.5 - 1)
    return 0.1 + 0.9 * scale


def wsd_ref(t: float) -> float:
    if t < 100:
        return t / 100
    if t < 800:
        return 1.0
    if t < 1000:
        return 1 - math.sqrt((t - 800) / 200)
    return 0.0


def warmup_ref(t: float) -> float:  # geometric ramp from 0.01 to 1 over 100 steps
    if t < 100:
        return 0.01 * 100 ** (t / 100)
    return 1.0


def warmup_factor_ref(t: float) -> float:
    x = (t + 1) / 100
    return x if x < 1 else 1.0


def untuned_warmup_ref(t: float) -> float:
    # pytorch_warmup's period int(1 / (1 - 0.999)) is 999 (1 - 0.999 rounds up)
    return 1 - math.exp(-(t + 1) / 999)


def mul_ref(t: float) -> float:  # cosine(1000) * warmup_factor(100)
    c = 0.5 * (1 + math.cos(math.pi * t / 1000)) if t < 1000 else 0.0
    w = (t + 1) / 100
    if w > 1:
        w = 1.0
    return c * w


def add_ref(t: float) -> float:  # cosine(1000, start=0.9) + 0.1
    if t < 1000:
        return 0.9 * 0.5 * (1 + math.cos(math.pi * t / 1000)) + 0.1
    return 0.1


def maximum_ref(t: float) -> float:  # maximum(linear(1 -> 0 over 1000), 0.1)
    lr = 1.0 - t / 1000 if t < 1000 else 0.0
    return lr if lr > 0.1 else 0.1


def minimum_ref(t: float) -> float:  # minimum(linear(0 -> 2 over 1000), 1)
    lr = 2 * t / 1000 if t < 1000 else 2.0
    return lr if lr < 1 else 1.0


def join_ref(t: float) -> float:  # 1.0 until 500, then 0.5 ** floor((t - 500) / 100)
    if t < 500:
        return 1.0
    return 0.5 ** math.floor((t - 500) / 100)


def shift_ref(t: float) -> float:  # cosine(1000) started 100 steps in
    u = t + 100
    if u < 1000:
        return 0.5 * (1 + math.cos(math.pi * u / 1000))
    return 0.0


def staircase_ref(t: float) -> float:  # cosine(1000) held for 100 steps at a time
    u = math.floor(t / 100) * 100
    if u < 1000:
        return 0.5 * (1 + math.cos(math.pi * u / 1000))
    return 0.0


def batch_rampup_ref(t: float) -> float:  # Megatron: --rampup-batch-size 32 32 10000, 1024
    if t > 10_000:
        return 1024.0
    return 32.0 + 32.0 * int(t / (10_000 / 31))


def pow_ref(t: float) -> float:  # cosine(1000) ** 0.5
    if t < 1000:
        return math.sqrt(0.5 * (1 + math.cos(math.pi * t / 1000)))
    return 0.0


def cooldown_ref(t: float) -> float:  # 1 until 800, then a 1-sqrt cooldown to 0 over 200
    if t < 800:
        return 1.0
    if t < 1000:
        return 1.0 - math.sqrt((t - 800) / 200)
    return 0.0


def splice_ref(t: float) -> float:  # cosine(900) until 500, a 100-step ramp, then cosine(1900)
    if t < 500:
        return 0.5 * (1 + math.cos(math.pi * t / 900))
    if t < 600:
        a = 0.5 * (1 + math.cos(math.pi * 500 / 900))
        b = 0.5 * (1 + math.cos(math.pi * 600 / 1900))
        return a + (b - a) * ((t - 500) / 100)
    if t < 1900:
        return 0.5 * (1 + math.cos(math.pi * t / 1900))
    return 0.0


def plateau_ref(t: float, states: Sequence[PlateauState]) -> float:
    lr = 0.5 ** states[0].reductions
    return lr if lr > 0.001 else 0.001


def warmup_cosine_ref(t: float) -> float:
    if t < 500:
        return t / 500
    u = t - 500
    if u < 99_500:
        return 0.5 * (1 + math.cos(math.pi * u / 99_500))
    return 0.0


def seed_recipe_ref(t: float) -> float:
    # GradualWarmupScheduler(multiplier=10, total_epoch=500, after=CosineAnnealingLR(99_500)),
    # relative to the optimizer's lr: 1 -> 10 over 500 steps, 10 once more, then the cosine
    if t < 500:
        return 1 + 9 * t / 500
    if t < 501:
        return 10.0
    u = t - 501
    if u < 99_500:
        return 10 * 0.5 * (1 + math.cos(math.pi * u / 99_500))
    return 0.0


def join3_ref(t: float) -> float:  # ramp 0 -> 1 over 100, hold to 600, cosine to 0.01 over 1000
    if t < 100:
        return t / 100
    if t < 600:
        return 1.0
    u = t - 600
    if u < 1000:
        return 0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * u / 1000))
    return 0.01


def max_cosine_ref(t: float) -> float:  # maximum(cosine(1000), 0.05)
    lr = 0.5 * (1 + math.cos(math.pi * t / 1000)) if t < 1000 else 0.0
    return lr if lr > 0.05 else 0.05


def staircase_linear_ref(t: float) -> float:  # linear 1 -> 0 over 1000, held per 100 steps
    u = math.floor(t / 100) * 100
    if u < 1000:
        return 1.0 - u / 1000
    return 0.0


def restarts_step_ref(t: float) -> float:
    # warmup 500 steps to the peak, then cosine restarts (period 1000, x2) times step decay
    # (x0.7 every 5000)
    if t < 500:
        return t / 500
    u = t - 500
    i = math.floor(math.log2(1 + u / 1000))
    start = 1000 * (2**i - 1)
    c = 0.5 * (1 + math.cos(math.pi * (u - start) / (1000 * 2**i)))
    return c * 0.7 ** math.floor(u / 5000)


def warmup_plateau_ref(t: float, states: Sequence[PlateauState]) -> float:
    if t < 500:  # the ramp goes to the plateau's start: no metric reaches it before step 500
        return t / 500
    lr = 0.5 ** states[0].reductions
    return lr if lr > 0.001 else 0.001


SEGMENTS = 300
SEGMENT_STEPS = 100
_PEAKS = [0.99**k for k in range(SEGMENTS)]
_STARTS = [SEGMENT_STEPS * k for k in range(SEGMENTS)]
_BOUNDS = _STARTS[1:]


def join300_ref(t: float) -> float:  # 300 cosines of 100 steps, peaks 0.99 ** k
    k = bisect.bisect_right(_BOUNDS, t)
    u = t - _STARTS[k]
    if u < 100:
        return _PEAKS[k] * 0.5 * (1 + math.cos(math.pi * u / 100))
    return 0.0


def identity(t: float) -> float:
    return t


def cases() -> list[Case]:
    """Every registered constructor once (cosine_restarts twice: period_mult 1 and 2), then the
    compositions."""
    C = Case
    cos = lk.cosine
    out = [
        C("constant", lk.constant(0.1), constant_ref, (0.0, 500.0)),
        C("linear", lk.linear(1.0, 0.1, steps=1000), linear_ref, (250.5, 2000.0)),
        C("step_decay", lk.step_decay(step_size=100, gamma=0.5), step_decay_ref,
          (50.0, 1234.5)),
        C("multistep", lk.multistep([300, 600, 900], gamma=0.1), multistep_ref,
          (100.0, 700.0, 1500.0)),
        C("exponential", lk.exponential(0.99, every=10, end=0.01), exponential_ref,
          (100.0, 5000.0)),
        C("polynomial", lk.polynomial(steps=1000, power=2.0, end=0.01), polynomial_ref,
          (300.0, 2000.0)),
        C("cosine", cos(steps=1000, end=0.01), cosine_ref, (300.0, 2000.0)),
        C("inverse_sqrt", lk.inverse_sqrt(timescale=100), inverse_sqrt_ref, (0.0, 5000.0)),
        C("inverse_time", lk.inverse_time(steps=100, rate=0.5), inverse_time_ref,
          (0.0, 5000.0)),
        C("cosine_restarts (period_mult 1)", lk.cosine_restarts(period=100),
          cosine_restarts_flat_ref, (30.0, 1234.0)),
        C("cosine_restarts (period_mult 2)", lk.cosine_restarts(period=100, period_mult=2),
          cosine_restarts_ref, (30.0, 1234.0)),
        C("one_cycle", lk.one_cycle(steps=1000), one_cycle_ref, (100.0, 600.0, 1500.0)),
        C("cyclic", lk.cyclic(0.1, 1.0, half_period=200), cyclic_ref, (50.0, 1300.0)),
        C("wsd", lk.wsd(100, 700, 200, decay_shape="1-sqrt"), wsd_ref,
          (50.0, 400.0, 900.0, 1500.0)),
        C("warmup", lk.warmup(lk.constant(), steps=100, start=0.01, shape="exponential"),
          warmup_ref, (50.0, 500.0)),
        C("warmup_factor", lk.warmup_factor(period=100), warmup_factor_ref, (50.0, 500.0)),
        C("untuned_warmup", lk.untuned_warmup(0.999, shape="exponential"), untuned_warmup_ref,
          (50.0, 5000.0)),
        C("mul", cos(steps=1000) * lk.warmup_factor(period=100), mul_ref, (50.0, 500.0)),
        C("add", cos(steps=1000, start=0.9) + 0.1, add_ref, (300.0, 2000.0)),
        C("maximum", lk.maximum(lk.linear(1.0, 0.0, steps=1000), 0.1), maximum_ref,
          (300.0, 950.0)),
        C("minimum", lk.minimum(lk.linear(0.0, 2.0, steps=1000), 1.0), minimum_ref,
          (300.0, 700.0)),
        C("join", lk.join([lk.constant(1.0), lk.step_decay(100, gamma=0.5)], [500]), join_ref,
          (300.0, 1234.0)),
        C("shift", lk.shift(cos(steps=1000), 100), shift_ref, (300.0, 2000.0)),
        C("staircase", lk.staircase(cos(steps=1000), every=100), staircase_ref,
          (350.0, 2000.0)),
        C("batch_rampup", lk.batch_rampup(32, 32, 10_000, 1024), batch_rampup_ref,
          (3000.0, 20_000.0)),
        C("pow", cos(steps=1000) ** 0.5, pow_ref, (300.0, 2000.0)),
        C("cooldown", lk.cooldown(lk.constant(), at=800, steps=200), cooldown_ref,
          (300.0, 900.0, 2000.0)),
        C("splice", lk.splice(cos(steps=900), cos(steps=1900), at=500, ramp=100), splice_ref,
          (300.0, 550.0, 1000.0, 2000.0)),
        C("plateau", lk.plateau(factor=0.5, min_value=0.001), plateau_ref, (0.0, 500.0),
          states=[PlateauState(best=0.5, reductions=2)]),
    ]
    join300 = lk.join(
        [cos(steps=SEGMENT_STEPS, start=p) for p in _PEAKS], [float(b) for b in _BOUNDS])
    out += [
        C("warmup + cosine", lk.warmup(cos(steps=99_500), steps=500), warmup_cosine_ref,
          (100.0, 50_000.0), composition=True),
        C("seed recipe (GradualWarmupScheduler x10 + cosine)",
          10 * lk.join([lk.warmup(lk.constant(), 500, start=0.1), cos(steps=99_500)], [501]),
          seed_recipe_ref, (100.0, 500.5, 50_000.0), composition=True),
        C("join of 3 (ramp, hold, cosine)",
          lk.join([lk.linear(0.0, 1.0, 100), lk.constant(1.0), cos(steps=1000, end=0.01)],
                  [100, 600]),
          join3_ref, (50.0, 300.0, 1000.0), composition=True),
        C("maximum(cosine, floor)", lk.maximum(cos(steps=1000), 0.05), max_cosine_ref,
          (300.0, 990.0), composition=True),
        C("staircase(linear)", lk.staircase(lk.linear(1.0, 0.0, 1000), every=100),
          staircase_linear_ref, (350.0, 2000.0), composition=True),
        C("warmup(cosine_restarts x step_decay)",
          lk.warmup(lk.cosine_restarts(period=1000, period_mult=2)
                    * lk.step_decay(5000, gamma=0.7), steps=500),
          restarts_step_ref, (100.0, 12_345.0), composition=True),
        C("warmup(plateau)", lk.warmup(lk.plateau(factor=0.5, min_value=0.001), steps=500),
          warmup_plateau_ref, (100.0, 2000.0), composition=True,
          states=[PlateauState(best=0.5, reductions=2)]),
        C(f"join of {SEGMENTS} cosines", join300, join300_ref, (150.0, 15_050.0, 29_950.0),
          composition=True),
    ]
    covered = {c.label.split(" ")[0] for c in out if not c.composition}
    missing = set(lk.registry()) - covered
    if missing:
        raise RuntimeError(f"bench.scalar has no case for registered constructors {missing}")
    return out


def check_agreement(all_cases: Sequence[Case]) -> float:
    """The largest relative difference between lrkit and the hand-written function; a
    ``RuntimeError`` above ``AGREEMENT`` (the benchmark would compare different formulas)."""
    worst = 0.0
    for c in all_cases:
        for t, ours, theirs in c.pairs():
            d = rel_diff(ours, theirs)
            if d > AGREEMENT:
                raise RuntimeError(f"{c.label} at t={t}: lrkit {ours!r}, hand-written {theirs!r}")
            worst = max(worst, d)
    return worst


# --- timing ------------------------------------------------------------------------------------

Key = tuple[int, float, str]  # (case index, t, side)
SIDES = ("lrkit", "compiled", "hand")


def _job(c: Case, side: str, t: float) -> tuple[str, dict[str, Any]]:
    fn = c.call(side)
    return c.stmt, {"f": fn, "t": t, "s": c.states}


def measure(all_cases: Sequence[Case], number: int, repeats: int, clock: str,
            seed: int = 0) -> dict[Key, list[float]]:
    """ns per call of every (case, t, side), one sample per repetition, interleaved."""
    keys: list[Key] = [(i, t, side) for i, c in enumerate(all_cases) for t in c.ts
                       for side in SIDES]
    timers = {}
    for k in keys:
        stmt, env = _job(all_cases[k[0]], k[2], k[1])
        timers[k] = timeit.Timer(stmt, globals=env, timer=timing.CLOCKS_S[clock])
    baseline = timeit.Timer("f(t)", globals={"f": identity, "t": 1.0},
                            timer=timing.CLOCKS_S[clock])
    samples: dict[Key, list[float]] = {k: [] for k in keys}
    samples[(-1, 0.0, "identity")] = []
    order: list[Any] = [*keys, (-1, 0.0, "identity")]
    for timer in (*timers.values(), baseline):  # warm up: specialise the bytecode
        timer.timeit(200)
    rng = random.Random(seed)
    for _ in range(repeats):
        rng.shuffle(order)
        for k in order:
            timer = baseline if k[2] == "identity" else timers[k]
            samples[k].append(timer.timeit(number) / number * 1e9)
    return samples


# --- instruction counts (callgrind child) --------------------------------------------------------

CALLS = 2000


def _loop(f: Callable[..., float], t: float, s: Any, n: int) -> None:
    if s is None:
        for _ in range(n):
            f(t)
    else:
        for _ in range(n):
            f(t, s)


def child(n: int) -> None:
    """Under callgrind: for every (case, t, side), warm up, mark, ``n`` calls, mark."""
    all_cases = cases()
    keys = [(i, t, side) for i, c in enumerate(all_cases) for t in c.ts
            for side in SIDES]
    for c in all_cases:  # build the specialised paths before counting
        c.pairs()
    timing.ready()
    for i, t, side in keys:
        c = all_cases[i]
        f = c.call(side)
        _loop(f, t, c.states, 200)
        timing.mark()
        _loop(f, t, c.states, n)
        timing.mark()
    _loop(identity, 1.0, None, 200)
    timing.mark()
    _loop(identity, 1.0, None, n)
    timing.mark()
    print(json.dumps([[i, t, side] for i, t, side in keys]))


def instructions(n: int = CALLS) -> dict[Any, float]:
    """Instructions per call of every (case, t, side) (and of the identity function), from one
    callgrind run of ``child``."""
    counts, stdout = timing.callgrind_phases(["-m", "bench.scalar", "--child", str(n)])
    keys = [tuple(k) for k in json.loads(stdout.strip().splitlines()[-1])]
    keys.append((-1, 0.0, "identity"))
    phases = counts[1::2]
    if len(phases) < len(keys):
        raise RuntimeError(f"callgrind gave {len(counts)} dumps for {len(keys)} phases")
    return {k: phases[j] / n for j, k in enumerate(keys)}


# --- the report ----------------------------------------------------------------------------------


@dataclass
class Worst:
    """The worst ratio to the hand-written function over a case's steps."""

    label: str
    time: float = 0.0
    instr: float = 0.0
    compiled: float = 0.0
    compiled_instr: float = 0.0


def table(all_cases: Sequence[Case], samples: dict[Any, list[float]],
          instr: dict[Any, float] | None) -> tuple[list[str], list[Worst]]:
    """Markdown rows and the worst ratios of each case."""
    head = ("| schedule | t | lrkit s(t) ns | hand-written ns | ratio | paired ratio "
            "| specialised fn ns | its ratio |")
    sep = "|---|---:|---:|---:|---:|---:|---:|---:|"
    if instr is not None:
        head += " s(t) instr | hand-written instr | instr ratio | specialised fn instr ratio |"
        sep += "---:|---:|---:|---:|"
    rows = [head, sep]
    worst: list[Worst] = []
    for i, c in enumerate(all_cases):
        w = Worst(c.label)
        for t in c.ts:
            ours, theirs = samples[(i, t, "lrkit")], samples[(i, t, "hand")]
            inner = timing.median(samples[(i, t, "compiled")])
            r = timing.median(ours) / timing.median(theirs)
            ri = inner / timing.median(theirs)
            w.time, w.compiled = max(w.time, r), max(w.compiled, ri)
            flag = " **over**" if r > TARGET else ""
            row = (f"| {c.label} | {t:,.1f} | {timing.median(ours):,.0f} | "
                   f"{timing.median(theirs):,.0f} | {r:.2f}x{flag} | "
                   f"{timing.paired_ratio(ours, theirs):.2f}x | {inner:,.0f} | {ri:.2f}x |")
            if instr is not None:
                a, b = instr[(i, t, "lrkit")], instr[(i, t, "hand")]
                ci = instr[(i, t, "compiled")] / b
                w.instr, w.compiled_instr = max(w.instr, a / b), max(w.compiled_instr, ci)
                row += f" {a:,.0f} | {b:,.0f} | {a / b:.2f}x | {ci:.2f}x |"
            rows.append(row)
        worst.append(w)
    return rows, worst


def summarise(worst: Sequence[Worst], what: str, key: str) -> str:
    """One line: how many cases are within the target by ``key``, the worst, the ones over."""
    values = [(w.label, float(getattr(w, key))) for w in worst]
    over = [(n, r) for n, r in values if r > TARGET]
    top = max(values, key=lambda v: v[1])
    text = (f"**{what}: {len(values) - len(over)} of {len(values)} schedules within {TARGET}x** "
            f"(worst: {top[0]}, {top[1]:.2f}x)")
    if over:
        text += f"; over {TARGET}x: " + ", ".join(f"{n} {r:.2f}x" for n, r in over)
    return text + "."


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.scalar",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--number", type=int, default=20_000, help="calls per measurement")
    parser.add_argument("--repeats", type=int, default=15, help="interleaved repetitions")
    parser.add_argument("--clock", choices=list(timing.CLOCKS_S), default="cpu")
    parser.add_argument("--callgrind", action="store_true",
                        help="also count instructions per call under valgrind's callgrind")
    parser.add_argument("--child", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=Path("bench/results"))
    args = parser.parse_args(argv)
    if args.child:
        child(args.child)
        return 0
    if args.number < 1 or args.repeats < 1:
        parser.error("--number and --repeats must be >= 1")
    if args.callgrind and not timing.callgrind_available():
        parser.error("--callgrind needs valgrind and callgrind_control on PATH")
    all_cases = cases()
    agreement = check_agreement(all_cases)
    lines = [header("Scalar evaluation: s(t) on a Python float against a hand-written function",
                    ("numpy",)), ""]
    samples = measure(all_cases, args.number, args.repeats, args.clock)
    instr = instructions() if args.callgrind else None
    parts = [table([c for c in all_cases if c.composition == comp],
                   _subset(samples, all_cases, comp),
                   _subset(instr, all_cases, comp) if instr is not None else None)
             for comp in (False, True)]
    (rows_c, worst_c), (rows_k, worst_k) = parts
    worst = worst_c + worst_k
    ident = timing.median(samples[(-1, 0.0, "identity")])
    summary = [summarise(worst, "s(t) by time", "time")]
    if instr is not None:
        summary.append(summarise(worst, "s(t) by instruction count", "instr"))
    summary.append(summarise(worst, "the specialised function alone, by time", "compiled"))
    if instr is not None:
        summary.append(summarise(worst, "the specialised function alone, by instruction count",
                                 "compiled_instr"))
    floor = (f"The floor of any call: a Python function that returns its argument, "
             f"`f(t)`, costs {ident:,.0f} ns")
    if instr is not None:
        floor += f" ({instr[(-1, 0.0, 'identity')]:,.0f} instructions)"
    floor += " in this loop; both sides include it."
    lines += [
        f"Each row: `s(t)` (lrkit; `s.evaluate(t, states)` for the trees with a plateau, as "
        f"`lrkit.Stepper` calls it) against a hand-written Python function of the same formula "
        f"at the same `t`. {args.number:,} calls per measurement (timeit, GC off), "
        f"{args.repeats} repetitions, every (schedule, t, side) interleaved in a new random "
        f"order each repetition; median ns per call; ratio = lrkit / hand-written (target <= "
        f"{TARGET}x); paired ratio = median over repetitions of the ratio within a repetition. "
        "The specialised function is the flat function lrkit generates for the tree "
        "(`s._py`, `s._pys` with states): what `lrkit.torch.LRScheduler` calls each step, "
        "without the `Schedule.__call__` in front of it. "
        f"Clock: {timing.CLOCK_TEXT[args.clock]}. Load at the end: {timing.load_now()}."
        + (" Instructions: callgrind, "
           f"{CALLS:,} calls after 200 warm-up calls, per call, loop included "
           "(deterministic)." if instr is not None else ""),
        "",
        f"Agreement checked first: the largest relative difference between lrkit and the "
        f"hand-written functions over every row is {agreement:.1e} (limit {AGREEMENT:g}).",
        "",
        *(f"- {line}" for line in summary),
        "",
        floor,
        "",
        "## Every registered constructor",
        "",
        *rows_c,
        "",
        "## Compositions",
        "",
        *rows_k,
        "",
        "Reading the table: `s(t)` is the specialised function called through "
        "`Schedule.__call__`; the difference between the two columns is that call (an "
        "instance of a Python class called from Python: CPython's `slot_tp_call` and a second "
        "frame, plus the `__getattr__` hook on the attribute load of `self._py`). The "
        "specialised function against the hand-written one is the generated code against the "
        "same formula written by hand (where the hand-written function returns early, at the "
        "end of a decay, the generated code still evaluates the formula). The hand-written "
        "functions are in `bench/scalar.py` (`*_ref`).",
        "",
    ]
    print("\n".join(lines))
    write_report(args.out, "scalar.md", lines)
    return 0


def _subset(data: dict[Any, Any] | None, all_cases: Sequence[Case],
            composition: bool) -> dict[Any, Any]:
    """``data`` re-keyed to the indices of the cases with ``composition`` as given."""
    if data is None:
        return {}
    index = [i for i, c in enumerate(all_cases) if c.composition == composition]
    return {(index.index(k[0]), k[1], k[2]): v for k, v in data.items() if k[0] in index}


if __name__ == "__main__":
    sys.exit(main())
