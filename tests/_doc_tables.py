"""The expressions of the mapping tables in docs/equivalence.md and docs/migration.md, evaluated
from the page's own text and compared with the library they claim to equal.

``rows(page)`` reads every table row of a page; ``CHECKS[(page, key)]`` is the check of the row
whose first cell is ``key``. A check gets the row's lrkit expressions (the code spans of its
second cell) through ``Row.eval(i, **bindings)``, which evaluates span ``i`` with lrkit's public
names (bare and as ``lk.``) and the bindings, then compares the schedule with the real library
at every step of one or two parameter sets. (tests/catalogue/ runs the same comparisons over
many random parameter sets from expressions written in code; this module proves that the text
on the page is that expression.)
"""

from __future__ import annotations

import itertools
import math
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

import lrkit as lk

DOCS = Path(__file__).resolve().parents[1] / "docs"
SPAN = re.compile(r"`([^`]+)`")
BASE = 0.1


@dataclass(frozen=True)
class Row:
    page: str
    key: str
    cells: tuple[str, ...]

    @property
    def spans(self) -> list[str]:
        return SPAN.findall(self.cells[1])

    def eval(self, index: int, /, **bindings: Any) -> Any:
        return evaluate(self.spans[index], **bindings)


def rows(page: str) -> list[Row]:
    """Every body row of every table on ``docs/<page>``: (first cell, cells)."""
    out = []
    for line in (DOCS / page).read_text(encoding="utf-8").splitlines():
        if not line.startswith("|") or line.startswith("|---"):
            continue
        cells = tuple(c.strip() for c in line.strip().strip("|").split("|"))
        if len(cells) < 2 or cells[1].startswith(("lrkit", "match")) or cells[0] in (
            "torch", "name", "optax", "Keras", "timm", "pytorch_warmup", "warmup_scheduler",
            "transformers"):
            continue  # a header row
        out.append(Row(page, cells[0], cells))
    return out


NAMES: dict[str, Any] = {name: getattr(lk, name) for name in lk.__all__}


def evaluate(text: str, **bindings: Any) -> Any:
    """``text`` as Python with lrkit's names (bare and ``lk.``), a few builtins, and
    ``bindings``. These are our own docs; the parser's safety rules are not at stake here."""
    ns: dict[str, Any] = {**NAMES, "lk": lk, "prod": math.prod, "accumulate": itertools.accumulate,
                          "range": range, "int": int, "len": len, "list": list, "min": min,
                          **bindings, "__builtins__": {}}
    return eval(compile(text, "<doc>", "eval"), ns)  # globals: comprehensions see the names


def curve(s: lk.Schedule, steps: int, scale: float = 1.0) -> np.ndarray:
    return scale * np.asarray(s(np.arange(steps, dtype=np.float64)), dtype=np.float64)


def close(got: np.ndarray, want: np.ndarray, *, rtol: float = 1e-9, atol: float = 1e-15,
          what: str = "") -> None:
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    assert got.shape == want.shape, (what, got.shape, want.shape)
    bad = ~np.isclose(got, want, rtol=rtol, atol=atol)
    if bad.any():
        k = int(np.argmax(bad))
        raise AssertionError(f"{what}: step {k}: the doc's expression gives {got[k]!r}, the "
                             f"library {want[k]!r} ({int(bad.sum())} steps differ)")


def f32(got: np.ndarray, want: np.ndarray, what: str = "") -> None:
    """float32 libraries (optax, Keras): relative plus a few ulps of the curve's scale."""
    close(got, want, rtol=5e-6, atol=4 * 1.2e-7 * float(np.max(np.abs(want))), what=what)


CHECKS: dict[tuple[str, str], Callable[[Row], None]] = {}


def check(page: str, *keys: str) -> Callable[[Callable[[Row], None]], Callable[[Row], None]]:
    def register(fn: Callable[[Row], None]) -> Callable[[Row], None]:
        for key in keys:
            CHECKS[(page, key)] = fn
        return fn
    return register


def no_expression(page: str, *keys: str, why: str) -> None:
    """Rows that state there is no lrkit expression (the catalogue pins their formula)."""
    def fn(row: Row) -> None:
        assert "none" in row.cells[1] or not row.spans or "not" in row.cells[-1], (row.key, why)
    for key in keys:
        CHECKS[(page, key)] = fn


# --- torch -----------------------------------------------------------------------------------

def torch_rates(make: Callable[[Any], Any], steps: int, lr: float = BASE,
                metrics: list[float] | None = None, keyword: bool = False) -> np.ndarray:
    """The rate of each step with a torch scheduler: read, ``opt.step()``, ``sched.step()``."""
    import torch

    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=lr, momentum=0.9)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sched = make(opt)
        out = []
        for k in range(steps):
            out.append(float(opt.param_groups[0]["lr"]))
            opt.step()
            if metrics is None:
                sched.step()
            elif keyword:  # warmup_scheduler's step(epoch=None, metrics=None)
                sched.step(metrics=metrics[k])
            else:
                sched.step(metrics[k])
    return np.asarray(out)


def lrkit_torch_rates(s: lk.Schedule, steps: int, lr: float = BASE,
                      metrics: list[float] | None = None, mode: str = "relative") -> np.ndarray:
    from lrkit.torch import LRScheduler

    return torch_rates(lambda o: LRScheduler(o, s, mode=mode), steps, lr, metrics)  # type: ignore[arg-type]


def tls() -> Any:
    import torch

    return torch.optim.lr_scheduler


def metric_stream(n: int) -> list[float]:
    """A loss with plateaus long enough for reductions to happen."""
    out, level = [], 10.0
    for k in range(n):
        if k % 17 == 0:
            level *= 0.6
        out.append(level * (1.3 if k % 5 == 3 else 1.0))
    return out


# equivalence.md: torch (relative to BASE)
E = "equivalence.md"


@check(E, "`StepLR(step_size, gamma)`")
def _(row: Row) -> None:
    s = row.eval(0, step_size=7, gamma=0.6)
    close(curve(s, 80, BASE), torch_rates(lambda o: tls().StepLR(o, 7, 0.6), 80))


@check(E, "`MultiStepLR(milestones, gamma)`")
def _(row: Row) -> None:
    s = row.eval(0, milestones=[10, 25, 25, 60], gamma=0.5)
    want = torch_rates(lambda o: tls().MultiStepLR(o, [10, 25, 25, 60], 0.5), 90)
    close(curve(s, 90, BASE), want)


@check(E, "`ConstantLR(factor, total_iters)`")
def _(row: Row) -> None:
    s = row.eval(0, factor=0.25, total_iters=12)
    close(curve(s, 40, BASE), torch_rates(lambda o: tls().ConstantLR(o, 0.25, 12), 40))


@check(E, "`LinearLR(start_factor, end_factor, total_iters)`")
def _(row: Row) -> None:
    s = row.eval(0, start_factor=0.2, end_factor=0.9, total_iters=30)
    close(curve(s, 50, BASE), torch_rates(lambda o: tls().LinearLR(o, 0.2, 0.9, 30), 50))


@check(E, "`ExponentialLR(gamma)`")
def _(row: Row) -> None:
    close(curve(row.eval(0, gamma=0.97), 200, BASE),
          torch_rates(lambda o: tls().ExponentialLR(o, 0.97), 200), rtol=1e-11)


@check(E, "`PolynomialLR(total_iters, power)`")
def _(row: Row) -> None:
    close(curve(row.eval(0, total_iters=40, power=1.7), 60, BASE),
          torch_rates(lambda o: tls().PolynomialLR(o, 40, 1.7), 60), rtol=1e-8, atol=1e-14)


@check(E, "`CosineAnnealingLR(T_max, eta_min)`")
def _(row: Row) -> None:
    s = row.eval(0, T_max=30, eta_min=0.002, base=BASE)
    ref = torch_rates(lambda o: tls().CosineAnnealingLR(o, 30, 0.002), 60)
    close(curve(s, 31, BASE), ref[:31])
    assert np.all(curve(s, 60, BASE)[30:] == curve(s, 31, BASE)[30]) and ref[45] > ref[30]


@check(E, "`CosineAnnealingWarmRestarts(T_0, T_mult, eta_min)`")
def _(row: Row) -> None:
    s = row.eval(0, T_0=10, T_mult=2, eta_min=0.001, base=BASE)
    close(curve(s, 150, BASE),
          torch_rates(lambda o: tls().CosineAnnealingWarmRestarts(o, 10, 2, 0.001), 150))


@check(E, "`CyclicLR(base_lr, max_lr, step_size_up, step_size_down, mode, gamma)`, modes "
          "`triangular`, `triangular2`, `exp_range`")
def _(row: Row) -> None:
    for mode in ("triangular", "triangular2", "exp_range"):
        s = row.eval(0, base_lr=0.01, max_lr=0.1, step_size_up=7, step_size_down=4, mode=mode,
                     gamma=0.99)
        ref = torch_rates(lambda o, m=mode: tls().CyclicLR(o, 0.01, 0.1, 7, 4, mode=m, gamma=0.99,
                                                           cycle_momentum=False), 100)
        close(curve(s, 100), ref, what=mode)


@check(E, "`OneCycleLR(max_lr, total_steps, pct_start, anneal_strategy, div_factor, "
          "final_div_factor, three_phase)` (`cos` or `linear`, two or three phases)")
def _(row: Row) -> None:
    for anneal, three in (("cos", False), ("linear", True)):
        kw = dict(max_lr=0.4, total_steps=90, pct_start=0.25, anneal_strategy=anneal,
                  div_factor=20.0, final_div_factor=500.0, three_phase=three)
        s = row.eval(0, **kw)
        ref = torch_rates(lambda o, kw=kw: tls().OneCycleLR(o, cycle_momentum=False, **kw), 90)
        close(curve(s, 90), ref, what=anneal)


@check(E, "`SequentialLR([LinearLR(f, 1, W), CosineAnnealingLR(T, eta_min)], [W])`")
def _(row: Row) -> None:
    def ref(o: Any) -> Any:
        return tls().SequentialLR(o, [tls().LinearLR(o, 0.1, 1.0, 8),
                                      tls().CosineAnnealingLR(o, 40, 0.003)], [8])
    want = torch_rates(ref, 49)
    for i in (0, 1):
        close(curve(row.eval(i, f=0.1, W=8, T=40, eta_min=0.003, base=BASE), 49, BASE), want)


@check(E, "`SequentialLR([ConstantLR(f, total_iters=W), ExponentialLR(g)], [W])`")
def _(row: Row) -> None:
    def ref(o: Any) -> Any:
        return tls().SequentialLR(o, [tls().ConstantLR(o, 0.3, total_iters=9),
                                      tls().ExponentialLR(o, 0.95)], [9])
    close(curve(row.eval(0, f=0.3, W=9, g=0.95), 80, BASE), torch_rates(ref, 80), rtol=1e-11)


@check(E, "`SequentialLR([LinearLR(f, 1, W), StepLR(n, g)], [W])`")
def _(row: Row) -> None:
    def ref(o: Any) -> Any:
        return tls().SequentialLR(o, [tls().LinearLR(o, 0.2, 1.0, 5), tls().StepLR(o, 6, 0.5)], [5])
    close(curve(row.eval(0, f=0.2, W=5, n=6, g=0.5), 60, BASE), torch_rates(ref, 60))


class _Sched:
    """A torch scheduler factory with its catalogue row, for ``row(s) for s in schedulers``."""

    def __init__(self, make: Callable[[Any], Any], expr: lk.Schedule) -> None:
        self.make, self.expr = make, expr


@check(E, "`SequentialLR(schedulers, milestones)` in general")
def _(row: Row) -> None:
    schedulers = [_Sched(lambda o: tls().ConstantLR(o, 0.5, total_iters=4), lk.join(
                      [lk.constant(0.5), lk.constant(1.0)], [4])),
                  _Sched(lambda o: tls().StepLR(o, 5, 0.5), lk.step_decay(5, 0.5)),
                  _Sched(lambda o: tls().CosineAnnealingLR(o, 20), lk.cosine(20))]
    s = row.eval(0, row=lambda x: x.expr, schedulers=schedulers, milestones=[10, 30])
    want = torch_rates(lambda o: tls().SequentialLR(o, [x.make(o) for x in schedulers],
                                                    [10, 30]), 51)
    close(curve(s, 51, BASE), want)


@check(E, "`LambdaLR(lr_lambda)`")
def _(row: Row) -> None:
    s = lk.warmup(lk.cosine(30), 5)
    want = BASE * np.array([s(k) for k in range(40)])
    lam = torch_rates(lambda o: row.eval(0, LambdaLR=tls().LambdaLR, opt=o, s=s), 40)
    close(lam, want, what="LambdaLR(opt, s)")
    close(lrkit_torch_rates(s, 40), want, what="LRScheduler(opt, s)")


@check(E, "`MultiplicativeLR(lambda k: g)`")
def _(row: Row) -> None:
    close(curve(row.eval(0, g=0.96), 100, BASE),
          torch_rates(lambda o: tls().MultiplicativeLR(o, lambda k: 0.96), 100), rtol=1e-11)


@check(E, "`ChainedScheduler([a, b, ...])`")
def _(row: Row) -> None:
    s = row.eval(1, f=0.5, n=6, g=0.97, s=0.3, w=10)

    def ref(o: Any) -> Any:
        return tls().ChainedScheduler([tls().ConstantLR(o, 0.5, total_iters=6),
                                       tls().ExponentialLR(o, 0.97),
                                       tls().LinearLR(o, 0.3, 1.0, 10)])
    close(curve(s, 60, BASE), torch_rates(ref, 60), rtol=1e-10)


@check(E, "`ReduceLROnPlateau(mode, factor, patience, threshold, threshold_mode, cooldown, "
          "min_lr, eps)`")
def _(row: Row) -> None:
    metrics = metric_stream(150)
    kw = dict(mode="min", factor=0.5, patience=3, threshold=0.01, threshold_mode="rel",
              cooldown=2, min_lr=0.004)
    s = row.eval(0, base=BASE, **kw)
    want = torch_rates(lambda o: tls().ReduceLROnPlateau(o, **kw), 150, metrics=metrics)
    stepper = lk.Stepper(s)
    got = []
    for m in metrics:
        got.append(BASE * stepper.value())
        stepper.step(m, eps=1e-8 / BASE)  # report(metric, eps=eps / base), then step()
    close(np.asarray(got), want)
    assert want[-1] < BASE / 2


# equivalence.md: Hugging Face get_scheduler (relative)

def hf_factor(name: str, warmup: int, total: int, **kw: Any) -> np.ndarray:
    import torch
    import transformers

    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = transformers.get_scheduler(name, opt, num_warmup_steps=warmup,
                                       num_training_steps=total, scheduler_specific_kwargs=kw)
    return np.array([float(sched.lr_lambdas[0](k)) for k in range(total + 1)])


@check(E, "`linear`")
def _(row: Row) -> None:
    close(curve(row.eval(0, T=50, W=6), 51), hf_factor("linear", 6, 50))


@check(E, "`cosine` (`num_cycles=0.5`)")
def _(row: Row) -> None:
    close(curve(row.eval(0, T=50, W=6), 51), hf_factor("cosine", 6, 50))


@check(E, "`cosine` with `num_cycles = c` (`2c` an integer)")
def _(row: Row) -> None:
    for c in (1.0, 1.5):
        s = row.eval(0, T=66, W=6, c=c, P=(66 - 6) / (2 * c))
        close(curve(s, 67), hf_factor("cosine", 6, 66, num_cycles=c), atol=1e-12, what=str(c))


@check(E, "`cosine_with_restarts` (`num_cycles = n`)")
def _(row: Row) -> None:
    close(curve(row.eval(0, T=66, W=6, n=3), 67),
          hf_factor("cosine_with_restarts", 6, 66, num_cycles=3), atol=1e-12)


@check(E, "`polynomial` (`lr_end`, `power`)")
def _(row: Row) -> None:
    s = row.eval(0, T=50, W=6, lr_end=1e-3, power=2.0, base=1.0)
    close(curve(s, 51), hf_factor("polynomial", 6, 50, lr_end=1e-3, power=2.0))


@check(E, "`constant`")
def _(row: Row) -> None:
    close(curve(row.eval(0), 30), hf_factor("constant", 0, 29))


@check(E, "`constant_with_warmup`")
def _(row: Row) -> None:
    close(curve(row.eval(0, W=7), 31), hf_factor("constant_with_warmup", 7, 30))


@check(E, "`inverse_sqrt` (`timescale`, default `W` or 10000 when `W = 0`)")
def _(row: Row) -> None:
    close(curve(row.eval(0, W=8, timescale=8), 101), hf_factor("inverse_sqrt", 8, 100))


@check(E, "`reduce_lr_on_plateau`")
def _(row: Row) -> None:
    import torch
    import transformers

    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    assert isinstance(transformers.get_scheduler("reduce_lr_on_plateau", opt),
                      torch.optim.lr_scheduler.ReduceLROnPlateau)


@check(E, "`cosine_with_min_lr` (`min_lr_rate`, or `min_lr = min_lr_rate * base`)")
def _(row: Row) -> None:
    close(curve(row.eval(0, T=50, W=6, min_lr_rate=0.1), 51),
          hf_factor("cosine_with_min_lr", 6, 50, min_lr_rate=0.1))


@check(E, "`cosine_warmup_with_min_lr` (`min_lr_rate`, `warmup_lr_rate`)")
def _(row: Row) -> None:
    for rate in (None, 0.05):
        s = row.eval(0, T=50, W=6, min_lr_rate=0.1, warmup_lr_rate=rate)
        want = hf_factor("cosine_warmup_with_min_lr", 6, 50, min_lr_rate=0.1,
                         warmup_lr_rate=rate)
        close(curve(s, 50), want[:50], what=str(rate))


@check(E, "`warmup_stable_decay` (`num_decay_steps = D`, `num_stable_steps` or `T`, "
          "`warmup_type`, `decay_type`, `min_lr_ratio = m`)")
def _(row: Row) -> None:
    for shape in ("linear", "cosine", "1-sqrt"):
        s = row.eval(0, W=5, S=20, D=10, m=0.1, warmup_type=shape, decay_type=shape)
        want = hf_factor("warmup_stable_decay", 5, 35, num_decay_steps=10, num_stable_steps=20,
                         warmup_type=shape, decay_type=shape, min_lr_ratio=0.1)
        close(curve(s, 36), want, atol=1e-12, what=shape)


no_expression(E, "`greedy`", why="GreedyLR reacts to the metric's trend in both directions")


# equivalence.md: optax (absolute, float32)

def optax_curve(fn: Any, steps: int) -> np.ndarray:
    import jax
    import jax.numpy as jnp

    return np.asarray(jax.vmap(fn)(jnp.arange(steps, dtype=jnp.int32)), dtype=np.float64)


def begin(s: lk.Schedule, v: float, b: int) -> lk.Schedule:
    """The page's ``begin(s, v, B)``."""
    return lk.join([lk.constant(v), s], [b]) if b > 0 else s


def _optax() -> Any:
    import optax

    return optax


@check(E, "`constant_schedule(v)`")
def _(row: Row) -> None:
    f32(curve(row.eval(0, v=0.3), 20), optax_curve(_optax().constant_schedule(0.3), 20))


@check(E, "`linear_schedule(init, end, transition_steps, transition_begin)`")
def _(row: Row) -> None:
    kw = dict(init=0.5, end=0.05, transition_steps=40, transition_begin=10)
    f32(curve(row.eval(0, begin=begin, **kw), 70),
        optax_curve(_optax().linear_schedule(0.5, 0.05, 40, 10), 70))


@check(E, "`polynomial_schedule(init, end, power, transition_steps, transition_begin)`")
def _(row: Row) -> None:
    kw = dict(init=0.5, end=0.05, power=2.0, transition_steps=40, transition_begin=10)
    f32(curve(row.eval(0, begin=begin, **kw), 70),
        optax_curve(_optax().polynomial_schedule(0.5, 0.05, 2.0, 40, 10), 70))


@check(E, "`exponential_decay(init, transition_steps, decay_rate, transition_begin, staircase, "
          "end_value)`")
def _(row: Row) -> None:
    for staircase in (False, True):
        kw = dict(init=0.5, transition_steps=7, decay_rate=0.8, transition_begin=5,
                  staircase=staircase, end_value=0.05)
        f32(curve(row.eval(0, begin=begin, **kw), 90),
            optax_curve(_optax().exponential_decay(0.5, 7, 0.8, 5, staircase, 0.05), 90))


@check(E, "`cosine_decay_schedule(init, decay_steps, alpha, exponent)`")
def _(row: Row) -> None:
    f32(curve(row.eval(0, init=0.5, decay_steps=40, alpha=0.1, exponent=2.0), 60),
        optax_curve(_optax().cosine_decay_schedule(0.5, 40, 0.1, 2.0), 60))


@check(E, "`warmup_constant_schedule(init, peak, W)`")
def _(row: Row) -> None:
    f32(curve(row.eval(0, init=0.01, peak=0.5, W=9), 30),
        optax_curve(_optax().warmup_constant_schedule(0.01, 0.5, 9), 30))


@check(E, "`warmup_cosine_decay_schedule(init, peak, W, decay_steps, end_value)`")
def _(row: Row) -> None:
    f32(curve(row.eval(0, init=0.01, peak=0.5, W=9, decay_steps=50, end_value=0.02), 70),
        optax_curve(_optax().warmup_cosine_decay_schedule(0.01, 0.5, 9, 50, 0.02), 70))


@check(E, "`warmup_exponential_decay_schedule(init, peak, W, transition_steps, decay_rate, "
          "transition_begin, staircase, end_value)`")
def _(row: Row) -> None:
    kw = dict(init=0.01, peak=0.5, W=9, transition_steps=6, decay_rate=0.7, transition_begin=4,
              staircase=True, end_value=0.05)
    f32(curve(row.eval(0, begin=begin, **kw), 80), optax_curve(
        _optax().warmup_exponential_decay_schedule(0.01, 0.5, 9, 6, 0.7, 4, True, 0.05), 80))


@check(E, "`piecewise_constant_schedule(init, {b_i: s_i})`")
def _(row: Row) -> None:
    b, sc = [10, 25, 40], [0.5, 0.2, 3.0]
    f32(curve(row.eval(0, init=0.5, b=b, s=sc), 60), optax_curve(
        _optax().piecewise_constant_schedule(0.5, dict(zip(b, sc, strict=True))), 60))


@check(E, "`piecewise_interpolate_schedule(\"linear\", init, {b_i: s_i})`",
       "`piecewise_interpolate_schedule(\"cosine\", init, {b_i: s_i})`")
def _(row: Row) -> None:
    kind = "linear" if '"linear"' in row.key else "cosine"
    b, sc = [10, 25, 40], [0.5, 0.2, 3.0]
    v = [0.5 * math.prod(sc[:i]) for i in range(len(sc) + 1)]
    f32(curve(row.eval(0, init=0.5, b=b, s=sc, v=v, e=[0, *b]), 60), optax_curve(
        _optax().piecewise_interpolate_schedule(kind, 0.5, dict(zip(b, sc, strict=True))), 60))


@check(E, "`linear_onecycle_schedule(n, peak, pct_start, pct_final, div_factor, final_div_factor)`")
def _(row: Row) -> None:
    n, peak, div, final = 100, 0.5, 25.0, 1e4
    s = row.eval(0, n=n, peak=peak, i=peak / div, b1=int(0.3 * n), b2=int(0.85 * n),
                 final_div_factor=final)
    f32(curve(s, 110), optax_curve(_optax().linear_onecycle_schedule(n, peak, 0.3, 0.85, div,
                                                                     final), 110))


@check(E, "`cosine_onecycle_schedule(n, peak, pct_start, div_factor, final_div_factor)`")
def _(row: Row) -> None:
    n, peak = 100, 0.5
    s = row.eval(0, n=n, peak=peak, b1=int(0.3 * n), div_factor=25.0, final_div_factor=1e4)
    f32(curve(s, 110), optax_curve(_optax().cosine_onecycle_schedule(n, peak, 0.3, 25.0, 1e4), 110))


@check(E, "`join_schedules(schedules, boundaries)`")
def _(row: Row) -> None:
    o = _optax()
    pairs = [(o.linear_schedule(0.0, 0.5, 10), lk.linear(0.0, 0.5, 10)),
             (o.cosine_decay_schedule(0.5, 30), lk.cosine(30, start=0.5)),
             (o.constant_schedule(0.01), lk.constant(0.01))]
    s = row.eval(0, row=lambda p: p[1], schedules=pairs, boundaries=[10, 40])
    f32(curve(s, 60), optax_curve(o.join_schedules([p[0] for p in pairs], [10, 40]), 60))


@check(E, "`sgdr_schedule(cycles)` (each a dict of `warmup_cosine_decay_schedule`'s keywords)")
def _(row: Row) -> None:
    cycles = [dict(init_value=0.0, peak_value=0.5, warmup_steps=5, decay_steps=30, end_value=0.01),
              dict(init_value=0.01, peak_value=0.3, warmup_steps=3, decay_steps=20,
                   end_value=0.0)]
    f32(curve(row.eval(0, cycles=cycles), 60), optax_curve(_optax().sgdr_schedule(cycles), 60))


@check(E, "`optax.contrib.reduce_on_plateau(factor, patience, rtol, atol=0, cooldown, "
          "accumulation_size=1, min_scale)`")
def _(row: Row) -> None:
    import jax
    import jax.numpy as jnp

    import lrkit.optax

    ours = row.eval(0, lrkit=lrkit, factor=0.5, patience=3, rtol=1e-2, cooldown=1,
                    min_scale=0.01)
    theirs = _optax().contrib.reduce_on_plateau(factor=0.5, patience=3, rtol=1e-2, atol=0.0,
                                                cooldown=1, min_scale=0.01)
    g = jnp.ones(1)
    s1, s2 = theirs.init(g), ours.init(g)
    up1, up2 = jax.jit(theirs.update), jax.jit(ours.update)
    a, b = [], []
    for m in metric_stream(120):
        u1, s1 = up1(g, s1, value=m)
        u2, s2 = up2(g, s2, value=m)
        a.append(float(u1[0]))
        b.append(float(u2[0]))
    f32(np.array(b), np.array(a))
    assert min(a) < 1.0


# equivalence.md: Keras 3 (absolute, float32, JAX backend)

def keras_curve(schedule: Any, steps: int, every: int = 0) -> np.ndarray:
    """Keras' values at 0 .. steps-1: vectorised, and eager at the multiples of ``every`` (its
    vectorised float32 ``t / k`` can put a staircase or restart one step late; eager is its
    intended curve, as in tests/catalogue/test_keras.py)."""
    import jax
    import jax.numpy as jnp

    out = np.array(jax.vmap(schedule)(jnp.arange(steps, dtype=jnp.int32)), dtype=np.float64)
    for k in range(every, steps, every or steps):
        out[k] = float(schedule(jnp.asarray(k, jnp.int32)))
    return out


def _ks() -> Any:
    from keras.optimizers import schedules

    return schedules


@check(E, "`ExponentialDecay(init, decay_steps, decay_rate, staircase)`")
def _(row: Row) -> None:
    for st in (False, True):
        f32(curve(row.eval(0, init=0.5, decay_steps=7, decay_rate=0.8, staircase=st), 60),
            keras_curve(_ks().ExponentialDecay(0.5, 7, 0.8, staircase=st), 60, 7))


@check(E, "`PiecewiseConstantDecay(boundaries, values)`")
def _(row: Row) -> None:
    b, v = [10, 25], [0.5, 0.1, 0.02]
    f32(curve(row.eval(0, boundaries=b, values=v), 40),
        keras_curve(_ks().PiecewiseConstantDecay(b, v), 40, 5))


@check(E, "`PolynomialDecay(init, decay_steps, end, power)`")
def _(row: Row) -> None:
    f32(curve(row.eval(0, init=0.5, decay_steps=40, end=0.01, power=2.0), 60),
        keras_curve(_ks().PolynomialDecay(0.5, 40, 0.01, power=2.0), 60))


@check(E, "`InverseTimeDecay(init, decay_steps, decay_rate, staircase)`")
def _(row: Row) -> None:
    for st in (False, True):
        f32(curve(row.eval(0, init=0.5, decay_steps=7, decay_rate=0.3, staircase=st), 60),
            keras_curve(_ks().InverseTimeDecay(0.5, 7, 0.3, staircase=st), 60, 7))


@check(E, "`CosineDecay(init, decay_steps, alpha)`")
def _(row: Row) -> None:
    f32(curve(row.eval(0, init=0.5, decay_steps=40, alpha=0.1), 60),
        keras_curve(_ks().CosineDecay(0.5, 40, alpha=0.1), 60))


@check(E, "`CosineDecay(init, decay_steps, alpha, warmup_target, warmup_steps)`")
def _(row: Row) -> None:
    s = row.eval(0, init=0.0, decay_steps=40, alpha=0.1, warmup_target=0.5, warmup_steps=8)
    f32(curve(s, 60), keras_curve(_ks().CosineDecay(0.0, 40, alpha=0.1, warmup_target=0.5,
                                                    warmup_steps=8), 60))


@check(E, "`CosineDecayRestarts(init, first_decay_steps, t_mul, m_mul, alpha)`")
def _(row: Row) -> None:
    s = row.eval(0, init=0.5, first_decay_steps=10, t_mul=2.0, m_mul=0.8, alpha=0.1)
    f32(curve(s, 69), keras_curve(_ks().CosineDecayRestarts(0.5, 10, 2.0, 0.8, 0.1), 69, 10))


# equivalence.md: timm (relative, epochs)

def timm_rates(cls_name: str, steps: int, metrics: list[float] | None = None,
               **kw: Any) -> np.ndarray:
    import torch
    from _timm import timm_scheduler

    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=BASE)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        sched = getattr(timm_scheduler(), cls_name)(opt, **kw)
    out = []
    for k in range(steps):
        out.append(float(opt.param_groups[0]["lr"]))
        if metrics is None:
            sched.step(k + 1)
        else:
            sched.step(k + 1, metrics[k])
    return np.asarray(out)


def timm_warmup_from_page(prefix: bool) -> Callable[[lk.Schedule], lk.Schedule]:
    """``timm_warmup(s)`` as the page defines it, from its two bullets (evaluated)."""
    text = (DOCS / E).read_text(encoding="utf-8")
    bullets = re.findall(r"^- `warmup_prefix=(True|False)`.*?: (?:.|\n)*?`([^`]*\(s, [^`]*|[^`]*"
                         r"shift\(s, [^`]*)`", text, re.M)
    spans = {flag: expr for flag, expr in bullets}
    expr = spans["True" if prefix else "False"]
    a, w = 0.02 / BASE, 5
    return lambda s: evaluate(expr, s=s, a=a, warmup_t=w)


TIMM_WU = dict(warmup_t=5, warmup_lr_init=0.02)


def _timm_rows(row: Row, cls_name: str, core: dict[str, Any], bindings: dict[str, Any],
               steps: int) -> None:
    for prefix in (False, True):
        tw = timm_warmup_from_page(prefix)
        s = row.eval(0, timm_warmup=tw, base=BASE, **bindings)
        close(curve(s, steps, BASE),
              timm_rates(cls_name, steps, warmup_prefix=prefix, **TIMM_WU, **core),
              what=f"warmup_prefix={prefix}")


@check(E, "`CosineLRScheduler(t_initial, lr_min, warmup_t, warmup_lr_init, warmup_prefix)` "
          "(`cycle_limit=1`)")
def _(row: Row) -> None:
    kw = dict(t_initial=40, lr_min=0.003)
    _timm_rows(row, "CosineLRScheduler", kw, kw, 60)


@check(E, "`CosineLRScheduler(..., cycle_mul, cycle_decay, cycle_limit = L > 1)`")
def _(row: Row) -> None:
    kw = dict(t_initial=10, lr_min=0.003, cycle_mul=2.0, cycle_decay=0.5, cycle_limit=3)
    _timm_rows(row, "CosineLRScheduler", kw, {**kw, "C": 10 * (2**3 - 1) / (2 - 1)}, 90)


@check(E, "`CosineLRScheduler(..., k_decay)` (`cos(pi t^k / T^k)`)")
def _(row: Row) -> None:
    kw = dict(t_initial=40, lr_min=0.003, k_decay=1.7)
    _timm_rows(row, "CosineLRScheduler", kw, kw, 60)


@check(E, "`StepLRScheduler(decay_t, decay_rate, warmup...)`")
def _(row: Row) -> None:
    kw = dict(decay_t=2.4, decay_rate=0.8)
    _timm_rows(row, "StepLRScheduler", kw, kw, 60)


@check(E, "`MultiStepLRScheduler(decay_t, decay_rate, warmup...)`")
def _(row: Row) -> None:
    kw = dict(decay_t=[12, 30], decay_rate=0.5)
    _timm_rows(row, "MultiStepLRScheduler", kw, kw, 50)


@check(E, "`PolyLRScheduler(t_initial, power, lr_min, ...)`, `cycle_limit=1`")
def _(row: Row) -> None:
    kw = dict(t_initial=40, power=1.5, lr_min=0.003)
    _timm_rows(row, "PolyLRScheduler", kw, kw, 60)


@check(E, "`PolyLRScheduler(..., cycle_mul, cycle_decay, cycle_limit = L)`")
def _(row: Row) -> None:
    kw = dict(t_initial=10, power=1.5, lr_min=0.003, cycle_mul=2.0, cycle_decay=0.5,
              cycle_limit=3)
    bindings = {k: kw[k] for k in ("t_initial", "power", "lr_min", "cycle_mul", "cycle_decay")}
    _timm_rows(row, "PolyLRScheduler", kw, {**bindings, "L": 3}, 90)


@check(E, "`PlateauLRScheduler(decay_rate, patience_t, threshold, cooldown_t, warmup_t, "
          "warmup_lr_init, lr_min, mode)` stepped with `step(epoch + 1, metric)`")
def _(row: Row) -> None:
    metrics = metric_stream(120)
    kw = dict(decay_rate=0.5, patience_t=2, threshold=0.01, cooldown_t=1, warmup_t=5,
              warmup_lr_init=0.02, lr_min=0.001, mode="min")
    s = row.eval(0, base=BASE, **kw)
    want = timm_rates("PlateauLRScheduler", 120, metrics=metrics, **kw)
    stepper = lk.Stepper(s)
    got = []
    for m in metrics:
        got.append(BASE * stepper.value())
        stepper.step(m)
    close(np.asarray(got), want)


@check(E, "`WSDLRScheduler(t_initial, decay_t, lr_min, decay_fn, warmup_t, warmup_lr_init)`")
def _(row: Row) -> None:
    for fn in ("linear", "cosine", "1-sqrt", "exp"):
        kw = dict(t_initial=40, decay_t=15, lr_min=0.003, decay_fn=fn, warmup_t=5,
                  warmup_lr_init=0.02)
        s = row.eval(0, base=BASE, **kw)
        extra = {"decay_ratio": 0.5} if fn == "exp" else {}
        close(curve(s, 60, BASE), timm_rates("WSDLRScheduler", 60, **kw, **extra), what=fn)


no_expression(E, "`TanhLRScheduler(t_initial, lb, ub, ...)`", why="tanh has no lrkit form")
no_expression(E, "any scheduler with `noise_range_t`", why="random perturbation")


# equivalence.md: pytorch_warmup (factors)

def pw_factor(name: str, steps: int, **kw: Any) -> np.ndarray:
    import pytorch_warmup
    import torch

    opt = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=1.0, betas=(0.9, 0.99))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda k: 1.0)  # resets lr: the factor alone
    w = getattr(pytorch_warmup, name)(opt, **kw)
    out = []
    for _ in range(steps):
        out.append(float(opt.param_groups[0]["lr"]))
        opt.step()
        with w.dampening():
            sched.step()
    return np.asarray(out)


@check(E, "`LinearWarmup(opt, warmup_period=P)`")
def _(row: Row) -> None:
    want = pw_factor("LinearWarmup", 30, warmup_period=12)
    close(curve(row.eval(0, P=12), 30), want)
    close(curve(evaluate(row.spans[2], P=12), 30), want, what="linear(1 / P, 1.0, P - 1)")


@check(E, "`ExponentialWarmup(opt, warmup_period=P)`")
def _(row: Row) -> None:
    close(curve(row.eval(0, P=12), 40), pw_factor("ExponentialWarmup", 40, warmup_period=12))


@check(E, "`UntunedLinearWarmup(opt)` (Adam's `beta2`)")
def _(row: Row) -> None:
    close(curve(row.eval(0, beta2=0.99), 250), pw_factor("UntunedLinearWarmup", 250))


@check(E, "`UntunedExponentialWarmup(opt)`")
def _(row: Row) -> None:
    close(curve(row.eval(0, beta2=0.99), 250), pw_factor("UntunedExponentialWarmup", 250))


no_expression(E, "`RAdamWarmup(opt)`", why="RAdam's rectification term")



# --- migration.md (relative to the optimizer's lr, named ``lr`` there) ---------------------
M = "migration.md"
LR = BASE


@check(M, "`StepLR(opt, step_size, gamma=0.1)`")
def _(row: Row) -> None:
    close(lrkit_torch_rates(row.eval(0, step_size=4, gamma=0.1), 30),
          torch_rates(lambda o: tls().StepLR(o, 4), 30))


@check(M, "`MultiStepLR(opt, milestones, gamma=0.1)`")
def _(row: Row) -> None:
    close(lrkit_torch_rates(row.eval(0, milestones=[5, 9, 9], gamma=0.1), 20),
          torch_rates(lambda o: tls().MultiStepLR(o, [5, 9, 9]), 20))


@check(M, "`ExponentialLR(opt, gamma)`")
def _(row: Row) -> None:
    close(lrkit_torch_rates(row.eval(0, gamma=0.9), 40),
          torch_rates(lambda o: tls().ExponentialLR(o, 0.9), 40), rtol=1e-12)


@check(M, "`LinearLR(opt, start_factor=1/3, end_factor=1.0, total_iters=5)`")
def _(row: Row) -> None:
    close(lrkit_torch_rates(row.eval(0, start_factor=1 / 3, end_factor=1.0, total_iters=5), 10),
          torch_rates(lambda o: tls().LinearLR(o), 10))


@check(M, "`ConstantLR(opt, factor=1/3, total_iters=5)`")
def _(row: Row) -> None:
    close(lrkit_torch_rates(row.eval(0, factor=1 / 3, total_iters=5), 10),
          torch_rates(lambda o: tls().ConstantLR(o), 10))


@check(M, "`PolynomialLR(opt, total_iters=5, power=1.0)`")
def _(row: Row) -> None:
    close(lrkit_torch_rates(row.eval(0, total_iters=5, power=1.0), 10),
          torch_rates(lambda o: tls().PolynomialLR(o), 10), atol=1e-16)


@check(M, "`CosineAnnealingLR(opt, T_max, eta_min=0)`")
def _(row: Row) -> None:
    got = lrkit_torch_rates(row.eval(0, T_max=12, eta_min=0.005, lr=LR), 20)
    want = torch_rates(lambda o: tls().CosineAnnealingLR(o, 12, 0.005), 20)
    close(got[:13], want[:13])
    assert np.all(got[12:] == got[12]) and want[19] > want[12]


@check(M, "`CosineAnnealingWarmRestarts(opt, T_0, T_mult=1, eta_min=0)`")
def _(row: Row) -> None:
    close(lrkit_torch_rates(row.eval(0, T_0=6, T_mult=2, eta_min=0.005, lr=LR), 60),
          torch_rates(lambda o: tls().CosineAnnealingWarmRestarts(o, 6, 2, 0.005), 60))


@check(M, "`OneCycleLR(opt, max_lr, total_steps, pct_start=0.3, anneal_strategy=\"cos\", "
          "div_factor=25, final_div_factor=1e4, three_phase=False)`")
def _(row: Row) -> None:
    kw = dict(max_lr=0.5, total_steps=50, pct_start=0.3, anneal_strategy="cos", div_factor=25.0,
              final_div_factor=1e4, three_phase=False)
    close(lrkit_torch_rates(row.eval(0, **kw), 50, mode="absolute"),
          torch_rates(lambda o: tls().OneCycleLR(o, cycle_momentum=False, **kw), 50))


@check(M, "`CyclicLR(opt, base_lr, max_lr, step_size_up=2000, step_size_down=None, "
          "mode=\"triangular\", gamma=1.0, cycle_momentum=False)`")
def _(row: Row) -> None:
    kw = dict(base_lr=0.01, max_lr=0.1, step_size_up=5, step_size_down=None, mode="triangular2",
              gamma=1.0)
    close(lrkit_torch_rates(row.eval(0, **kw), 60, mode="absolute"),
          torch_rates(lambda o: tls().CyclicLR(o, cycle_momentum=False, **kw), 60))


@check(M, "`LambdaLR(opt, lr_lambda)`")
def _(row: Row) -> None:
    notes = row.cells[2]
    lam, expr = SPAN.findall(notes)[0], SPAN.findall(notes)[1]
    w, k = 10, 25
    want = torch_rates(lambda o: evaluate(lam, LambdaLR=tls().LambdaLR, opt=o, W=w, k=k), 80)
    close(lrkit_torch_rates(evaluate(expr, W=w, k=k), 80), want)


@check(M, "`MultiplicativeLR(opt, lambda t: f)` (constant f)")
def _(row: Row) -> None:
    close(lrkit_torch_rates(row.eval(0, f=0.95), 50),
          torch_rates(lambda o: tls().MultiplicativeLR(o, lambda t: 0.95), 50), rtol=1e-12)


@check(M, "`SequentialLR(opt, [LinearLR(opt, f, 1.0, W), X], milestones=[W])`")
def _(row: Row) -> None:
    s = row.eval(0, X_expr=lk.step_decay(4, 0.5), W=6, f=0.1)
    close(lrkit_torch_rates(s, 40), torch_rates(lambda o: tls().SequentialLR(
        o, [tls().LinearLR(o, 0.1, 1.0, 6), tls().StepLR(o, 4, 0.5)], [6]), 40))


@check(M, "`SequentialLR(opt, [A, B, C], milestones=[m1, m2])`")
def _(row: Row) -> None:
    s = row.eval(0, A_expr=lk.linear(0.1, 1.0, 5), B_expr=lk.constant(), C_expr=lk.cosine(20),
                 m1=5, m2=12)
    want = torch_rates(lambda o: tls().SequentialLR(
        o, [tls().LinearLR(o, 0.1, 1.0, 5), tls().ConstantLR(o, 1.0, 0),
            tls().CosineAnnealingLR(o, 20)], [5, 12]), 40)
    close(lrkit_torch_rates(s, 40)[:33], want[:33])  # then torch's cosine rises; lrkit holds


@check(M, "`ChainedScheduler([A, B])`")
def _(row: Row) -> None:
    s = row.eval(0, A_expr=lk.exponential(0.9), B_expr=lk.linear(0.2, 1.0, 8))
    close(lrkit_torch_rates(s, 30), torch_rates(lambda o: tls().ChainedScheduler(
        [tls().ExponentialLR(o, 0.9), tls().LinearLR(o, 0.2, 1.0, 8)]), 30), rtol=1e-11)


@check(M, "`ReduceLROnPlateau(opt, mode=\"min\", factor=0.1, patience=10, threshold=1e-4, "
          "threshold_mode=\"rel\", cooldown=0, min_lr=0)`")
def _(row: Row) -> None:
    metrics = metric_stream(200)
    kw = dict(mode="min", factor=0.1, patience=10, threshold=1e-4, threshold_mode="rel",
              cooldown=0, min_lr=0.0)
    close(lrkit_torch_rates(row.eval(0, lr=LR, **kw), 200, metrics=metrics),
          torch_rates(lambda o: tls().ReduceLROnPlateau(o, **kw), 200, metrics=metrics))


# GradualWarmupScheduler: the real warmup_scheduler package, where it is right.

def package(m: float, t: int, after: Callable[[Any], Any] | None, steps: int,
            metrics: list[float] | None = None) -> np.ndarray:
    from warmup_scheduler import GradualWarmupScheduler

    return torch_rates(lambda o: GradualWarmupScheduler(o, m, t, after(o) if after else None),
                       steps, metrics=metrics, keyword=True)


def drop_in(m: float, t: int, after: Callable[[Any], Any] | None, steps: int,
            metrics: list[float] | None = None) -> np.ndarray:
    from lrkit.torch import GradualWarmupScheduler

    return torch_rates(lambda o: GradualWarmupScheduler(o, m, t, after(o) if after else None),
                       steps, metrics=metrics)


def _ramp(m: float, t: int) -> lk.Schedule:
    """The page's ``ramp`` (its definition under the table, evaluated)."""
    text = (DOCS / M).read_text(encoding="utf-8")
    expr = re.search(r"with `ramp = ([^`]+)`", text)
    assert expr, "migration.md no longer defines ramp"
    return evaluate(expr.group(1), m=m, T=t) if m != 1 else lk.warmup(lk.constant(), t)


@check(M, "`GradualWarmupScheduler(opt, m, T)` (m > 1)")
def _(row: Row) -> None:
    close(lrkit_torch_rates(row.eval(0, m=4.0, T=6), 20), package(4.0, 6, None, 20))


@check(M, "`GradualWarmupScheduler(opt, 1.0, T)`")
def _(row: Row) -> None:
    close(lrkit_torch_rates(row.eval(0, T=6), 20), package(1.0, 6, None, 20))


@check(M, "`GradualWarmupScheduler(opt, m, T, CosineAnnealingLR(opt, T_max, eta_min))`")
def _(row: Row) -> None:
    m, t, t_max, eta = 10.0, 5, 10, 1e-6

    def after(o: Any) -> Any:
        return tls().CosineAnnealingLR(o, T_max=t_max, eta_min=eta)

    s = row.eval(0, m=m, T=t, T_max=t_max, eta_min=eta, lr=LR, ramp=_ramp(m, t))
    got = lrkit_torch_rates(s, 30)
    theirs = package(m, t, after, 30)
    close(got[: t + 1], theirs[: t + 1], what="the warmup, as the package")
    assert theirs[t + 1] > 1.02 * m * LR  # where the package overshoots the peak
    close(got[: t + 2 + t_max], drop_in(m, t, after, 30)[: t + 2 + t_max], what="the drop-in")


@check(M, "`GradualWarmupScheduler(opt, m, T, StepLR(opt, s, g))`")
def _(row: Row) -> None:
    m, t = 4.0, 5
    s = row.eval(0, m=m, T=t, s=3, g=0.5, ramp=_ramp(m, t))
    close(lrkit_torch_rates(s, 40), package(m, t, lambda o: tls().StepLR(o, 3, 0.5), 40))


@check(M, "`GradualWarmupScheduler(opt, m, T, ReduceLROnPlateau(opt, factor, patience))`")
def _(row: Row) -> None:
    m, t = 4.0, 5
    metrics = metric_stream(80)
    s = row.eval(0, m=m, T=t, factor=0.5, patience=2, min_lr=0.0, lr=LR, ramp=_ramp(m, t))

    def after(o: Any) -> Any:
        return tls().ReduceLROnPlateau(o, factor=0.5, patience=2)

    got = lrkit_torch_rates(s, 80, metrics=metrics)
    close(got, drop_in(m, t, after, 80, metrics=metrics), what="the drop-in")
    theirs = package(m, t, after, 80, metrics=metrics)
    close(theirs[:t], got[1 : t + 1], what="the package, one step ahead over its ramp")
    assert theirs[0] > got[0]


# pytorch_warmup

@check(M, "`UntunedLinearWarmup(opt, beta2)` + torch scheduler `X` (stepped inside "
          "`warmup.dampening()`)",
       "`UntunedExponentialWarmup(opt, beta2)` + `X`")
def _(row: Row) -> None:
    import pytorch_warmup
    import torch

    kind = "UntunedLinearWarmup" if "Linear" in row.key else "UntunedExponentialWarmup"
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.Adam([p], lr=LR, betas=(0.9, 0.99))
    sched = tls().CosineAnnealingLR(opt, 300)
    warm = getattr(pytorch_warmup, kind)(opt)
    want = []
    for _ in range(300):
        want.append(float(opt.param_groups[0]["lr"]))
        opt.step()
        with warm.dampening():
            sched.step()
    s = row.eval(0, X_expr=lk.cosine(300), beta2=0.99)
    close(curve(s, 300, LR), np.asarray(want))


# transformers

def _hf_rates(fn: str, steps: int, *args: Any, **kw: Any) -> np.ndarray:
    import transformers

    return torch_rates(lambda o: getattr(transformers, fn)(o, *args, **kw), steps)


@check(M, "`get_constant_schedule(opt)`")
def _(row: Row) -> None:
    close(lrkit_torch_rates(row.eval(0), 10), _hf_rates("get_constant_schedule", 10))


@check(M, "`get_constant_schedule_with_warmup(opt, W)`")
def _(row: Row) -> None:
    close(lrkit_torch_rates(row.eval(0, W=5), 15),
          _hf_rates("get_constant_schedule_with_warmup", 15, 5))


@check(M, "`get_linear_schedule_with_warmup(opt, W, T)`")
def _(row: Row) -> None:
    close(lrkit_torch_rates(row.eval(0, W=5, T=30), 35),
          _hf_rates("get_linear_schedule_with_warmup", 35, 5, 30))


@check(M, "`get_cosine_schedule_with_warmup(opt, W, T)` (num_cycles=0.5)")
def _(row: Row) -> None:
    close(lrkit_torch_rates(row.eval(0, W=5, T=30), 31),
          _hf_rates("get_cosine_schedule_with_warmup", 31, 5, 30))


@check(M, "`get_cosine_schedule_with_warmup(opt, W, T, num_cycles=c)` (c = 1, 1.5, ...)")
def _(row: Row) -> None:
    for c in (1.0, 1.5):
        s = row.eval(0, W=6, T=66, c=c, h=(66 - 6) / (2 * c))
        close(lrkit_torch_rates(s, 67), _hf_rates("get_cosine_schedule_with_warmup", 67, 6, 66,
                                                  num_cycles=c), atol=1e-13, what=str(c))


@check(M, "`get_cosine_with_hard_restarts_schedule_with_warmup(opt, W, T, num_cycles=n)`")
def _(row: Row) -> None:
    close(lrkit_torch_rates(row.eval(0, W=6, T=66, n=3), 70),
          _hf_rates("get_cosine_with_hard_restarts_schedule_with_warmup", 70, 6, 66,
                    num_cycles=3), atol=1e-13)


@check(M, "`get_polynomial_decay_schedule_with_warmup(opt, W, T, lr_end=1e-7, power=1.0)`")
def _(row: Row) -> None:
    close(lrkit_torch_rates(row.eval(0, W=5, T=30, lr_end=1e-3, power=2.0, lr=LR), 35),
          _hf_rates("get_polynomial_decay_schedule_with_warmup", 35, 5, 30, lr_end=1e-3,
                    power=2.0))


@check(M, "`get_inverse_sqrt_schedule(opt, W, timescale=None)`")
def _(row: Row) -> None:
    close(lrkit_torch_rates(row.eval(0, W=8, timescale=None), 80),
          _hf_rates("get_inverse_sqrt_schedule", 80, 8))


@check(M, "`get_cosine_with_min_lr_schedule_with_warmup(opt, W, T, min_lr_rate=r)` (or "
          "`min_lr=m`: `r = m / lr`)")
def _(row: Row) -> None:
    close(lrkit_torch_rates(row.eval(0, W=5, T=30, r=0.1), 31),
          _hf_rates("get_cosine_with_min_lr_schedule_with_warmup", 31, 5, 30, min_lr_rate=0.1))


@check(M, "`get_cosine_with_min_lr_schedule_with_warmup_lr_rate(opt, W, T, min_lr_rate=r, "
          "warmup_lr_rate=None)`")
def _(row: Row) -> None:
    close(lrkit_torch_rates(row.eval(0, W=5, T=30, r=0.1, warmup_lr_rate=None), 30),
          _hf_rates("get_cosine_with_min_lr_schedule_with_warmup_lr_rate", 30, 5, 30,
                    min_lr_rate=0.1))


@check(M, "`get_wsd_schedule(opt, W, num_decay_steps=D, num_stable_steps=S, warmup_type=a, "
          "decay_type=b, min_lr_ratio=m)`")
def _(row: Row) -> None:
    s = row.eval(0, W=4, S=10, D=6, m=0.1, a="linear", b="cosine")
    close(lrkit_torch_rates(s, 25), _hf_rates("get_wsd_schedule", 25, 4, num_decay_steps=6,
                                              num_stable_steps=10, warmup_type="linear",
                                              decay_type="cosine", min_lr_ratio=0.1))


@check(M, "`get_reduce_on_plateau_schedule(opt, **kw)`")
def _(row: Row) -> None:
    metrics = metric_stream(100)
    kw = dict(factor=0.5, patience=3)
    close(lrkit_torch_rates(row.eval(0, kw=kw), 100, metrics=metrics),
          torch_rates(lambda o: __import__("transformers").get_reduce_on_plateau_schedule(o, **kw),
                      100, metrics=metrics))


@check(M, "HF `Trainer(..., lr_scheduler_type=...)`")
def _(row: Row) -> None:
    """Driving the HF Trainer with ``optimizers=(opt, LRScheduler(opt, expr))`` is
    tests/torch/test_hf_trainer.py's subject (a real Trainer run)."""
    test = Path(__file__).resolve().parent / "torch" / "test_hf_trainer.py"
    assert "optimizers=(" in test.read_text(encoding="utf-8")
    assert row.spans[0] == "Trainer(optimizers=(opt, LRScheduler(opt, expr)))"


# --- the strategy pages: prose that says an lrkit expression equals a library's scheduler ---

@dataclass(frozen=True)
class Claim:
    page: str
    snippets: tuple[str, ...]  # the expressions exactly as the page writes them
    check: Callable[..., None]


def _norm(text: str) -> str:
    return " ".join(text.split())


def claim_text_present(c: Claim) -> list[str]:
    """The snippets of ``c`` that the page no longer contains (whitespace-insensitive)."""
    page = _norm((DOCS / "strategies" / c.page).read_text(encoding="utf-8"))
    return [s for s in c.snippets if _norm(s) not in page]


def _gradual(expr: str) -> None:
    for m in (4.0, 1.0):
        after = lk.step_decay(3, 0.5)
        s = evaluate(expr, multiplier=m, total_epoch=5, after=after)
        if m == 1.0:  # the page: start=0 when multiplier == 1
            s = evaluate(expr.replace("start=1 / multiplier", "start=0.0"), multiplier=m,
                         total_epoch=5, after=after)
        close(lrkit_torch_rates(s, 40), package(m, 5, lambda o: tls().StepLR(o, 3, 0.5), 40),
              what=f"multiplier={m}")


def _deepspeed_log(expr: str) -> None:
    w = 1000
    gamma = [math.log(t + 1) / math.log(w) if t < w else 1.0 for t in range(3000)]
    close(curve(evaluate(expr, s=lk.constant(), W=w), 3000), np.asarray(gamma))


def _staircase_step(optax_expr: str, keras_expr: str, lrkit_expr: str) -> None:
    del optax_expr, keras_expr  # the page's calls, made here with k=7, g=0.8
    s = evaluate(lrkit_expr, k=7, g=0.8)
    f32(curve(s, 60, 0.5), optax_curve(_optax().exponential_decay(0.5, 7, 0.8, staircase=True), 60))
    f32(curve(s, 60, 0.5), keras_curve(_ks().ExponentialDecay(0.5, 7, 0.8, staircase=True), 60,
                                          7))


def _exponential_mapping(torch_s: str, optax_s: str, keras_s: str, inverse_s: str) -> None:
    close(lrkit_torch_rates(evaluate(torch_s, gamma=0.9), 40),
          torch_rates(lambda o: tls().ExponentialLR(o, 0.9), 40), rtol=1e-12)
    for st in (False, True):
        s = evaluate(optax_s.replace("staircase=...", "staircase=st"), init=0.5, k=7, g=0.8,
                     st=st, end_value=0.05)
        f32(curve(s, 80), optax_curve(_optax().exponential_decay(0.5, 7, 0.8, 0, st, 0.05), 80))
        s = evaluate(inverse_s.replace("staircase=...", "staircase=st"), init=0.5, k=7, r=0.3,
                     st=st)
        f32(curve(s, 60), keras_curve(_ks().InverseTimeDecay(0.5, 7, 0.3, staircase=st), 60, 7))
    f32(curve(evaluate(keras_s, init=0.5, k=7, g=0.8), 60),
        keras_curve(_ks().ExponentialDecay(0.5, 7, 0.8), 60))


def _linear_lr(expr: str) -> None:
    close(lrkit_torch_rates(evaluate(expr, a=0.2, b=0.9, n=30), 40),
          torch_rates(lambda o: tls().LinearLR(o, 0.2, 0.9, 30), 40))


def _sequential(torch_expr: str, lrkit_expr: str) -> None:
    t = tls()
    want = torch_rates(lambda o: evaluate(torch_expr, opt=o, SequentialLR=t.SequentialLR,
                                          LinearLR=t.LinearLR,
                                          CosineAnnealingLR=t.CosineAnnealingLR), 10_001, lr=1e-4)
    close(curve(evaluate(lrkit_expr), 10_001, 1e-4), want)


def _hf_inverse_sqrt(hf_expr: str, lrkit_expr: str) -> None:
    import transformers

    want = torch_rates(lambda o: evaluate(hf_expr, opt=o, W=8, T=20, get_inverse_sqrt_schedule=(
        transformers.get_inverse_sqrt_schedule)), 100)
    close(lrkit_torch_rates(evaluate(lrkit_expr, W=8, T=20), 100), want)


def _hf_example(hf_expr: str, lrkit_expr: str, fn: str, steps: int) -> None:
    import transformers

    want = torch_rates(lambda o: evaluate(hf_expr, opt=o, **{fn: getattr(transformers, fn)}),
                       steps)
    close(lrkit_torch_rates(evaluate(lrkit_expr), steps), want)


STRATEGY_CLAIMS = [
    Claim("warmup.md", ("multiplier * join([warmup(constant(), steps=total_epoch, start=1 / "
                        "multiplier), after], [total_epoch + 1])",), _gradual),
    Claim("warmup.md", ('warmup(s, steps=W - 1, shape="log")',), _deepspeed_log),
    Claim("step.md", ("optax.exponential_decay(init, transition_steps=k, decay_rate=g, "
                      "staircase=True)", "ExponentialDecay(..., staircase=True)",
                      "step_decay(k, g)"), _staircase_step),
    Claim("exponential.md", ("exponential(gamma)",
                             "init * exponential(g, every=k, staircase=..., end=end_value / init)",
                             "init * exponential(g, every=k)",
                             "init * inverse_time(steps=k, rate=r, staircase=...)"),
          _exponential_mapping),
    Claim("constant-linear.md", ("linear(start=a, end=b, steps=n)",), _linear_lr),
    Claim("composition.md", ("SequentialLR(opt, [LinearLR(opt, start_factor=1e-3, "
                             "total_iters=1000), CosineAnnealingLR(opt, T_max=9000)], "
                             "milestones=[1000])",
                             "lk.warmup(lk.cosine(steps=9000), steps=1000, start=1e-3)"),
          _sequential),
    Claim("inverse-sqrt.md", ("get_inverse_sqrt_schedule(opt, num_warmup_steps=W, timescale=T)",
                              "warmup(inverse_sqrt(timescale=T), steps=W)"), _hf_inverse_sqrt),
    Claim("polynomial.md", ("get_polynomial_decay_schedule_with_warmup(opt, 3, 10, lr_end=1e-3, "
                            "power=2.0)",
                            "lk.warmup(lk.polynomial(steps=7, power=2.0, end=1e-2), steps=3)"),
          lambda a, b: _hf_example(a, b, "get_polynomial_decay_schedule_with_warmup", 14)),
    Claim("wsd.md", ("get_wsd_schedule(opt, num_warmup_steps=2, num_decay_steps=4, "
                     "num_stable_steps=3, min_lr_ratio=0.1)",
                     'lk.wsd(warmup=2, stable=3, decay=4, start=0.1, end=0.1, '
                     'decay_shape="cosine")'),
          lambda a, b: _hf_example(a, b, "get_wsd_schedule", 11)),
]
