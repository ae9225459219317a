"""The LR range test, written once for every framework: sweep, trials, suggestion, result.

A framework runner (``lrkit.torch.find_lr``, ``lrkit.optax.find_lr``, ``lrkit.keras.find_lr``)
wraps its model, optimizer and batches in a ``Session`` (``restart()``: back to the initial
state and the first batch; ``step(lr)``: one optimizer step at rate ``lr``, returning the loss
of its batch measured before the update) and calls ``run``. Everything else lives here:

1. **Sweep** (Smith 2017, section 3.3; fastai's ``lr_find``): ``steps`` optimizer steps at
   ``lr_i = start * (end / start) ** (i / (steps - 1))``, stopped early when the loss diverges.
   Two landmarks are read from its running median: ``reach``, the lowest rate at which the
   loss has made 90% of its drop, and ``ceiling``, the rate at which it has climbed back by a
   quarter of it.
2. **Trials** (``trials > 0``, the default): short runs of the schedule the suggestion is for
   (linear warmup over the first ``TRIAL_WARMUP`` of ``trial_steps`` steps, then cosine to 0),
   each from the restored initial state on the same batches. The first is at ``reach``, the
   next half a decade above it (``TRIAL_FACTOR``), then further down or up until the best is
   bracketed, never above ``ceiling / CEILING_DIVISOR`` (``next_trial_peak``). A trial's score
   is the mean loss of its last quarter (``trial_score``).
3. **Suggestion**: the best trial's peak, moved to the vertex of the parabola through its
   bracketing scores (in log rate), times ``SUGGESTION_FACTOR`` (``suggest_from_trials``).
   With ``trials=0``: the sweep alone, lrkit 0.1's rule (``suggest_lr``).

The sweep locates the useful range but cannot rank rates inside it: there its loss shows the
history of the sweep, not the rate. The trials rank them as a grid search does, on a horizon
of ``trial_steps``; the final factor is for the longer horizon of a real run. Default cost: at
most ``steps + trials * trial_steps`` = 292 optimizer steps (``RangeTestResult.steps_used``).

Nothing here imports numpy or a framework; matplotlib only inside ``RangeTestResult.plot``.
"""

from __future__ import annotations

import math
import random
import sys
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from lrkit._validate import WrongTypeError

__all__ = [
    "CEILING_DIVISOR",
    "EDGE_DIVISOR",
    "REACH_FRACTION",
    "RISE_FRACTION",
    "SCORE_FRACTION",
    "SUGGESTION_FACTOR",
    "TRIALS",
    "TRIAL_FACTOR",
    "TRIAL_STEPS",
    "TRIAL_WARMUP",
    "Batches",
    "GlobalRNGs",
    "RangeTestResult",
    "Session",
    "Trial",
    "ceiling",
    "centred_average",
    "check_arguments",
    "divergence_check_start",
    "next_trial_peak",
    "reach",
    "run",
    "running_median",
    "smoothed",
    "suggest_from_trials",
    "suggest_lr",
    "sweep_rate",
    "trial_rates",
    "trial_score",
]

TRIALS = 3
"""Default number of trials (``find_lr(..., trials=3)``)."""
TRIAL_STEPS = 64
"""Default length of a trial in optimizer steps (``find_lr(..., trial_steps=64)``)."""
TRIAL_WARMUP = 0.1
"""A trial warms up linearly over this fraction of its steps, then decays by a cosine to 0."""
TRIAL_FACTOR = 10.0**0.5
"""Neighbouring trial peaks differ by this factor (half a decade)."""
CEILING_DIVISOR = 2.0
"""No trial peak lies above ``ceiling / CEILING_DIVISOR``."""
SCORE_FRACTION = 0.25
"""A trial's score is the mean loss of its last ``SCORE_FRACTION`` of steps (at least one)."""
SUGGESTION_FACTOR = 10.0**-0.25
"""The suggestion is the refined best trial peak times this (0.56; see
``suggest_from_trials``)."""
RISE_FRACTION = 0.25
"""``ceiling``: the loss has risen back by this fraction of what it had fallen."""
REACH_FRACTION = 0.1
"""``reach``: the loss has fallen to within this fraction of its drop from the minimum."""


class Session(Protocol):
    """What a framework runner gives ``run``: one model, optimizer and stream of batches."""

    def restart(self) -> None:
        """Back to the initial model, optimizer and RNG states; batches from the first again."""

    def step(self, lr: float) -> float:
        """Train on the next batch at rate ``lr`` (every param group keeps its ratio); return
        that batch's loss measured before the update. A non-finite loss is returned as it is,
        and the update may be skipped."""


@dataclass(frozen=True)
class Trial:
    """One short training run from the restored start: ``lrs[i] = peak * schedule(i)``,
    ``losses[i]`` the loss of step ``i`` (measured before it trains); ``score`` the mean of the
    last ``SCORE_FRACTION`` of the losses (``judged_on="training"``) or the validation loss
    after the run (``"validation"``), ``inf`` when the run diverged (``stop_reason``
    ``"diverged"`` or ``"non-finite loss"``, else ``"completed"``). ``horizon`` is the planned
    length of the trial; ``samples`` what the score averages (the last losses, or the loss of
    each validation batch), for paired comparisons between trials."""

    peak: float
    lrs: tuple[float, ...]
    losses: tuple[float, ...]
    score: float
    stop_reason: str
    horizon: int = 0
    samples: tuple[float, ...] = ()
    judged_on: str = "training"

    @property
    def steps(self) -> int:
        """Optimizer steps the trial took."""
        return len(self.losses)


@dataclass(frozen=True)
class RangeTestResult:
    """What a range test measured.

    ``lrs[i]`` is the rate of sweep step ``i`` (the largest param group's); ``raw_losses[i]``
    the loss of the batch that step trained on, computed before the step; ``losses[i]`` their
    bias-corrected exponential moving average (``smoothed``). ``stop_reason`` (of the sweep) is
    ``"completed"``, ``"diverged"`` or ``"non-finite loss"``. ``reach`` and ``ceiling`` are
    the rates at which the sweep's loss has made most of its fall and at which it turns back
    up (``reach``, ``ceiling``); ``trials`` the short runs between them; ``suggestion`` the peak
    rate to train with; ``sweep_suggestion`` what the sweep alone suggests (``suggest_lr``,
    lrkit 0.1's rule); ``steps_used`` every optimizer step taken (sweep and trials).

    The informed call (``total_steps`` given; ``lrkit.informed``) also fills ``total_steps``,
    ``budget``, ``horizons`` (its two trial lengths), ``optima`` (``(horizon, optimal peak)``
    per rung, before the extrapolation), ``slope`` (the measured exponent ``b`` of
    ``v(h) ~ h ** b``) and ``notes`` (why the evidence is weak, if it is;
    each also warned and logged).
    """

    lrs: tuple[float, ...]
    losses: tuple[float, ...]
    raw_losses: tuple[float, ...]
    suggestion: float
    stop_reason: str
    ceiling: float = math.nan
    sweep_suggestion: float = math.nan
    trials: tuple[Trial, ...] = ()
    steps_used: int = -1
    reach: float = math.nan
    total_steps: int | None = None
    budget: int | None = None
    horizons: tuple[int, ...] = ()
    optima: tuple[tuple[int, float], ...] = ()
    notes: tuple[str, ...] = ()
    slope: float = math.nan

    def __post_init__(self) -> None:
        if self.steps_used < 0:
            used = len(self.lrs) + sum(t.steps for t in self.trials)
            object.__setattr__(self, "steps_used", used)

    @property
    def min_loss_lr(self) -> float:
        """The rate at the lowest smoothed loss of the sweep (too high to train with)."""
        return self.lrs[min(range(len(self.losses)), key=self.losses.__getitem__)]

    @property
    def candidates(self) -> list[tuple[float, int, float]]:
        """``(peak, horizon, score)`` of every trial, in the order they ran."""
        return [(t.peak, t.horizon or len(t.lrs), t.score) for t in self.trials]

    @property
    def best_trial(self) -> Trial | None:
        """The trial with the lowest score (``None`` without trials)."""
        return min(self.trials, key=lambda t: t.score) if self.trials else None

    def plot(self, path: str | None = None, *, ax: Any = None) -> Any:
        """Loss against rate (log x): the sweep, the trials' scores, the ceiling and the
        suggestion. Saves to ``path`` (PNG, SVG, PDF by its extension) when given; returns the
        matplotlib Figure."""
        from lrkit.plot import plot_range_test

        return plot_range_test(self, path, ax=ax)


# ---------------------------------------------------------------------------------------------
# the sweep


def sweep_rate(i: int, start: float, end: float, steps: int) -> float:
    """``start * (end / start) ** (i / (steps - 1))``: ``start`` at step 0, ``end`` at the last."""
    return float(start * (end / start) ** (i / (steps - 1)))


def smoothed(raw_losses: Sequence[float], smooth: float) -> list[float]:
    """The bias-corrected EMA: ``avg_i = smooth * avg_{i-1} + (1 - smooth) * loss_i``,
    ``smoothed_i = avg_i / (1 - smooth ** (i + 1))``."""
    avg, out = 0.0, []
    for i, value in enumerate(raw_losses):
        avg = smooth * avg + (1.0 - smooth) * value
        out.append(avg / (1.0 - smooth ** (i + 1)))
    return out


def divergence_check_start(steps: int) -> int:
    """The first step whose smoothed loss counts for the early stop: ``max(10, steps // 10)``.

    Before it the smoothed loss averages only a few batches, and with small batches one lucky or
    unlucky batch is many times another (batches of 8 from least squares: 1.9 then 22.6), which
    would end the sweep at its first rates."""
    return max(10, steps // 10)


class _DivergenceStop:
    """The early stop: the smoothed loss exceeds ``diverge`` times the best smoothed loss since
    step ``divergence_check_start(steps)``."""

    def __init__(self, steps: int, smooth: float, diverge: float) -> None:
        self.settle = divergence_check_start(steps)
        self.smooth = smooth
        self.diverge = diverge
        self.avg = 0.0
        self.best = math.inf
        self.count = 0

    def update(self, value: float) -> tuple[float, bool]:
        """Add one raw loss; return its smoothed value and whether to stop after it."""
        self.avg = self.smooth * self.avg + (1.0 - self.smooth) * value
        self.count += 1
        smooth_value = self.avg / (1.0 - self.smooth**self.count)
        if self.count - 1 >= self.settle:
            self.best = min(self.best, smooth_value)
        return smooth_value, smooth_value > self.diverge * self.best


def centred_average(raw_losses: Sequence[float]) -> tuple[int, list[float]]:
    """``(h, m)``: the centred moving average of window ``2h + 1``, ``h = max(1, n // 20)``;
    ``m[j]`` is centred on index ``j + h`` (empty when there are fewer than ``2h + 1`` losses)."""
    n = len(raw_losses)
    h = max(1, n // 20)
    w = 2 * h + 1
    if n < w:
        return h, []
    return h, [math.fsum(raw_losses[j : j + w]) / w for j in range(n - w + 1)]


def running_median(values: Sequence[float], h: int) -> list[float]:
    """``m[i]`` = the median of ``values[i - h : i + h + 1]`` (clipped at both ends)."""
    n = len(values)
    return [_median(values[max(0, i - h) : min(n, i + h + 1)]) for i in range(n)]


def _median(values: Sequence[float]) -> float:
    s = sorted(values)
    mid = len(s) // 2
    return s[mid] if len(s) % 2 else 0.5 * (s[mid - 1] + s[mid])


def _landmarks(lrs: Sequence[float], raw_losses: Sequence[float]) -> tuple[list[float], int, float]:
    n = len(raw_losses)
    if n != len(lrs) or n == 0:
        raise ValueError(
            f"lrs and raw_losses must be non-empty and of equal length; got {len(lrs)} and {n}"
        )
    m = running_median(raw_losses, max(2, n // 20))
    k = min(range(n), key=m.__getitem__)
    first = _median(raw_losses[: min(10, n)])
    return m, k, max(first - m[k], 0.0)


def ceiling(lrs: Sequence[float], raw_losses: Sequence[float]) -> float:
    """The rate at which the sweep's loss turns back up: an upper bound for the peak.

    ``m`` = the running median of the raw losses over ``2h + 1`` steps, ``h = max(2, n // 20)``
    (a median, not a mean: Adam's sweeps spike for a few steps and recover, and one spike must
    not end the useful range); ``k`` = its argmin; ``drop = l0 - m[k]`` with ``l0`` the median
    of the first ``min(10, n)`` raw losses. The ceiling is ``lrs[j - 1]`` for the first
    ``j > k`` with ``m[j] > m[k] + RISE_FRACTION * drop`` (one step back: ``raw_losses[j]``
    shows the rates up to ``lrs[j - 1]``), or the last rate swept if the loss never rose so far.
    """
    m, k, drop = _landmarks(lrs, raw_losses)
    limit = m[k] + RISE_FRACTION * drop
    for j in range(k + 1, len(m)):
        if m[j] > limit:
            return float(lrs[j - 1])
    return float(lrs[-1])


def reach(lrs: Sequence[float], raw_losses: Sequence[float]) -> float:
    """The lowest rate at which the sweep's loss has made most of its drop: where the trials
    start.

    With ``m``, ``k`` and ``drop`` as in ``ceiling``: ``lrs[j - 1]`` for the first ``j`` with
    ``m[j] <= m[k] + REACH_FRACTION * drop``. Below it a few steps at the rate still leave
    loss on the table; above it the sweep cannot tell better from worse (its loss is near its
    floor, and what it shows there is the history of the sweep, not the rate): that is for
    the trials to decide.
    """
    m, k, drop = _landmarks(lrs, raw_losses)
    limit = m[k] + REACH_FRACTION * drop
    j = next(j for j in range(k + 1) if m[j] <= limit)
    return float(lrs[max(j - 1, 0)])


EDGE_DIVISOR = 6.0
"""``suggest_lr`` returns the edge of the loss minimum divided by this (see its docstring)."""


def suggest_lr(lrs: Sequence[float], raw_losses: Sequence[float]) -> float:
    """The sweep's own suggestion (lrkit 0.1's rule; ``find_lr(..., trials=0)``): a sixth of
    the largest rate whose loss is still at its minimum.

    1. ``m_j`` = centred moving average of the raw losses, window ``w = 2h + 1`` with
       ``h = max(1, n // 20)`` (no lag, unlike an exponential average, which would place the
       minimum several steps late, at a rate already past the divergence point).
    2. ``k`` = argmin of ``m``; ``sigma`` = the noise of ``m``, estimated from the median absolute
       deviation of successive raw-loss differences up to ``k``, divided by ``sqrt(w)``.
    3. ``j`` = the last index after ``k`` with every ``m`` in ``k..j`` below ``m_k + 2 sigma``
       (on a flat, noisy curve this walks to where the loss really starts to rise).
    4. The edge is ``lrs[j + h - 1]``, one step back, since ``raw_losses[i]`` is measured before
       step ``i`` trains and so shows the effect of the rates up to ``lrs[i - 1]``.
       suggestion = edge / ``EDGE_DIVISOR`` (6).

    Why 6: on least squares, where SGD diverges above ``2/L``, the edge lies between ``0.4`` and
    ``4.8`` times ``2/L`` (a direction that has already converged takes several steps of growth
    before its divergence shows in the loss; most with full batches). 6 is the smallest divisor
    that kept all 400 random problems of ``python -m bench.rangetest`` below ``0.8 * 2/L``; the
    median is ``0.19 * 2/L``, and with sweeps of 50 steps or more none fell below ``0.078 * 2/L``
    (30 steps with batches of 8 can hide the minimum in noise). Smith's "a tenth" applied to this
    edge lands at a median ``0.11 * 2/L``. On neural networks it is too cautious with Adam and
    erratic with momentum (the range-test panel of ``python -m bench.rangetest --panel``):
    the trials of ``run`` are what the default suggestion comes from.
    """
    n = len(raw_losses)
    if n != len(lrs) or n == 0:
        raise ValueError(
            f"lrs and raw_losses must be non-empty and of equal length; got {len(lrs)} and {n}"
        )
    h, smoothed = centred_average(raw_losses)
    w = 2 * h + 1
    if not smoothed:
        k = min(range(n), key=raw_losses.__getitem__)
        return float(lrs[k]) / EDGE_DIVISOR
    k = min(range(len(smoothed)), key=smoothed.__getitem__)
    diffs = [raw_losses[i + 1] - raw_losses[i] for i in range(min(k + h, n - 1))]
    sigma = 0.0
    if diffs:
        med = _median(diffs)
        sigma = 1.4826 * _median([abs(d - med) for d in diffs]) / math.sqrt(2.0) / math.sqrt(w)
    limit = smoothed[k] + 2.0 * sigma
    j = k
    while j + 1 < len(smoothed) and smoothed[j + 1] <= limit:
        j += 1
    return float(lrs[max(j + h - 1, 0)]) / EDGE_DIVISOR


# ---------------------------------------------------------------------------------------------
# the trials


def trial_rates(peak: float, steps: int) -> list[float]:
    """The rates of a trial: ``peak * warmup(cosine(steps - w), w)`` at ``t = 0 .. steps-1``,
    ``w = max(1, round(TRIAL_WARMUP * steps))`` (lrkit's own linear warmup and cosine)."""
    from lrkit.schedules import Cosine, Warmup

    w = max(1, round(TRIAL_WARMUP * steps))
    schedule = Warmup(Cosine(steps=steps - w), steps=w)
    return [peak * float(schedule(t)) for t in range(steps)]


def trial_score(losses: Sequence[float], steps: int) -> float:
    """The mean of the last ``max(1, round(SCORE_FRACTION * steps))`` losses of a completed
    trial of ``steps`` steps; ``inf`` for one that stopped early."""
    if len(losses) < steps or not losses:
        return math.inf
    k = max(1, round(SCORE_FRACTION * steps))
    return math.fsum(losses[-k:]) / k


def next_trial_peak(tried: dict[float, float], first: float, cap: float) -> float | None:
    """The next peak to try, given ``tried`` (peak -> score); ``None`` when the best is
    bracketed (both neighbours tried) or cannot move.

    Peaks lie on the grid ``first * TRIAL_FACTOR ** k``, none above ``cap``: ``first`` (at most
    ``cap``), then the one above it (or below, if that is above ``cap``), then further in the
    direction of the best until it is bracketed: below the best if it is the lowest tried,
    above it if it is the highest and that stays within ``cap``. A tie goes to the lower peak.
    """
    first = min(first, cap)
    if not tried:
        return first
    peaks = sorted(tried)
    if len(peaks) == 1:
        up = peaks[0] * TRIAL_FACTOR
        return up if up <= cap * (1.0 + 1e-9) else peaks[0] / TRIAL_FACTOR
    best = _best(tried)
    if best == peaks[0]:
        return best / TRIAL_FACTOR
    if best == peaks[-1] and best * TRIAL_FACTOR <= cap * (1.0 + 1e-9):
        return best * TRIAL_FACTOR
    return None


def _best(tried: dict[float, float]) -> float:
    """The peak with the lowest score; a tie goes to the lower peak."""
    return min(tried, key=lambda p: (tried[p], p))


def suggest_from_trials(tried: dict[float, float]) -> float:
    """The suggestion from trial scores (peak -> score): ``SUGGESTION_FACTOR`` times the best
    peak ``p``, refined when both of its grid neighbours were tried: with their scores ``a``
    (at ``p / TRIAL_FACTOR``), ``b`` (at ``p``) and ``c`` (at ``p * TRIAL_FACTOR``), the
    vertex of the parabola through them in log rate, ``p * TRIAL_FACTOR ** x`` with
    ``x = (a - c) / (2 (a - 2b + c))`` (within half a grid step of ``p``).

    Why ``SUGGESTION_FACTOR`` (0.56): a full run spends far more steps near its peak than a
    trial does, so a rate that is the best for a trial is at the edge of what a long run
    tolerates (on the benchmark's digits CNN, the best trial peak kills a third of the full
    runs), and a short run rewards fast early progress that a long one can do without.
    """
    finite = {p: s for p, s in tried.items() if math.isfinite(s)}
    if not finite:
        raise ValueError("every trial diverged: no suggestion (lower start or the trial peaks)")
    best = _best(finite)
    below = _neighbour(finite, best / TRIAL_FACTOR)
    above = _neighbour(finite, best * TRIAL_FACTOR)
    x = 0.0
    if below is not None and above is not None:
        a, b, c = finite[below], finite[best], finite[above]
        curvature = a - 2.0 * b + c
        if curvature > 0.0:
            x = max(-0.5, min(0.5, (a - c) / (2.0 * curvature)))
    return float(best * TRIAL_FACTOR**x * SUGGESTION_FACTOR)


def _neighbour(tried: dict[float, float], peak: float) -> float | None:
    return next((p for p in tried if math.isclose(p, peak, rel_tol=1e-6)), None)


# ---------------------------------------------------------------------------------------------
# the driver


def check_arguments(owner: str, start: Any, end: Any, steps: Any, smooth: Any, diverge: Any,
                    trials: Any, trial_steps: Any) -> None:
    """Every argument of ``run``, checked before anything trains (``owner`` names the caller)."""
    def real(x: Any) -> bool:
        return isinstance(x, int | float) and not isinstance(x, bool)

    def integer(x: Any) -> bool:
        return isinstance(x, int) and not isinstance(x, bool)

    if not real(start) or not (0.0 < start < math.inf):
        raise ValueError(f"{owner}: start must be a finite number > 0; got {start!r}")
    if not real(end) or not (start < end < math.inf):
        raise ValueError(f"{owner}: end must be a finite number > start ({start!r}); got {end!r}")
    if not integer(steps) or steps < 2:
        raise ValueError(f"{owner}: steps must be an integer >= 2; got {steps!r}")
    if not real(smooth) or not (0.0 <= smooth < 1.0):
        raise ValueError(f"{owner}: smooth must be a number in [0, 1); got {smooth!r}")
    if not real(diverge) or not diverge > 1.0:
        raise ValueError(
            f"{owner}: diverge must be a number > 1 (math.inf: never stop); got {diverge!r}"
        )
    if not integer(trials) or trials < 0:
        raise ValueError(f"{owner}: trials must be an integer >= 0 (0: the sweep alone); "
                         f"got {trials!r}")
    if trials == 1:
        raise ValueError(f"{owner}: trials must be 0 or at least 2 (a best needs a comparison); "
                         f"got 1")
    if not integer(trial_steps) or trial_steps < 8:
        raise ValueError(f"{owner}: trial_steps must be an integer >= 8; got {trial_steps!r}")


def _progress_bar(total: int, enabled: bool, owner: str) -> Any:
    if not enabled or not sys.stderr.isatty():
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:  # the bar is cosmetic: no tqdm, no bar
        return None
    return tqdm(total=total, desc=owner, unit="step", leave=False)


def _as_float(value: Any, owner: str) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise WrongTypeError(
            f"{owner}: the loss must be a real number (a scalar tensor or array); got "
            f"{type(value).__name__}"
        ) from None


def run(
    session: Session,
    *,
    start: float,
    end: float,
    steps: int,
    smooth: float,
    diverge: float,
    trials: int,
    trial_steps: int,
    progress: bool,
    owner: str = "find_lr",
    plan: Any = None,
    validate: bool = False,
) -> RangeTestResult:
    """The range test on ``session``: the sweep, then (``trials > 0``) the trials, each phase
    after ``session.restart()``. With ``plan`` (``lrkit.informed.make_plan``: the informed
    call) the trials are ``lrkit.informed.search``'s; with ``validate`` a trial is judged by
    ``session.validate()`` (``lrkit.informed.ValidatingSession``). The caller restores its
    state afterwards (also on an exception)."""
    check_arguments(owner, start, end, steps, smooth, diverge, trials, trial_steps)
    total = plan.budget if plan is not None else steps + trials * trial_steps
    bar = _progress_bar(total, progress, owner)
    info: dict[str, Any] = {}
    try:
        session.restart()
        lrs, losses, raw, reason = _sweep(session, start, end, steps, smooth, diverge, bar, owner)
        top = ceiling(lrs, raw)
        first, cap = reach(lrs, raw), top / CEILING_DIVISOR
        done: list[Trial] = []
        if plan is not None:
            from lrkit.informed import search

            suggestion, done, info = search(session, plan, top, len(lrs), smooth, diverge, bar,
                                            owner)
        elif trials:
            tried: dict[float, float] = {}
            while len(done) < trials:
                peak = next_trial_peak(tried, first, cap)
                if peak is None:
                    break
                session.restart()
                trial = _trial(session, peak, trial_steps, smooth, diverge, bar, owner,
                               validate)
                done.append(trial)
                tried[peak] = trial.score
                if bar is not None:
                    bar.set_postfix(trial=f"{peak:.2e}", score=f"{trial.score:.4g}")
            if all(not math.isfinite(t.score) for t in done):
                raise ValueError(
                    f"{owner}: every trial diverged (peaks "
                    + ", ".join(f"{t.peak:.3g}" for t in done)
                    + f", below the sweep's ceiling {top:.3g}); check the loss, or pass "
                    "trials=0 to read the sweep alone"
                )
            suggestion = suggest_from_trials(tried)
            _warn_if_capped(lrs, top, reason, tried, cap, owner)
        else:
            suggestion = suggest_lr(lrs, raw)
    finally:
        if bar is not None:
            bar.close()
    return RangeTestResult(
        lrs=tuple(lrs), losses=tuple(losses), raw_losses=tuple(raw), suggestion=suggestion,
        stop_reason=reason, ceiling=top, sweep_suggestion=suggest_lr(lrs, raw),
        trials=tuple(done), reach=first, total_steps=info.get("total_steps"),
        budget=info.get("budget"), horizons=info.get("horizons", ()),
        optima=info.get("optima", ()), notes=info.get("notes", ()),
        slope=info.get("slope", math.nan),
    )


def _warn_if_capped(lrs: Sequence[float], top: float, reason: str, tried: dict[float, float],
                    cap: float, owner: str) -> None:
    """The best trial sits at the cap, and the cap came from ``end``, not from the loss."""
    best = _best({p: s for p, s in tried.items() if math.isfinite(s)})
    if reason == "completed" and top == lrs[-1] and math.isclose(best, cap, rel_tol=1e-6):
        warnings.warn(
            f"{owner}: the loss never turned back up within the sweep (end={lrs[-1]:.3g}), and "
            f"the best trial is the highest allowed ({cap:.3g} = end / {CEILING_DIVISOR:g}): "
            "the suggestion may be limited by end; raise end",
            stacklevel=3,
        )


def _sweep(session: Session, start: float, end: float, steps: int, smooth: float,
           diverge: float, bar: Any, owner: str
           ) -> tuple[list[float], list[float], list[float], str]:
    lrs: list[float] = []
    losses: list[float] = []
    raw: list[float] = []
    reason = "completed"
    stop = _DivergenceStop(steps, smooth, diverge)
    for i in range(steps):
        lr = sweep_rate(i, start, end, steps)
        value = _as_float(session.step(lr), owner)
        if not math.isfinite(value):
            reason = "non-finite loss"
            break
        smooth_value, diverged = stop.update(value)
        lrs.append(lr)
        raw.append(value)
        losses.append(smooth_value)
        if bar is not None:
            bar.update(1)
            bar.set_postfix(lr=f"{lr:.2e}", loss=f"{smooth_value:.4g}")
        if diverged:
            reason = "diverged"
            break
    if not lrs:
        raise ValueError(
            f"{owner}: the very first loss was not finite (at lr={start!r}); check the model "
            "and the loss, or lower start"
        )
    return lrs, losses, raw, reason


def run_rates(session: Any, rates: Sequence[float], smooth: float, diverge: float, bar: Any,
              owner: str) -> tuple[list[float], str]:
    """Train one step at each rate, stopping at a non-finite loss or a divergence: the losses
    and why it stopped (``completed``, ``non-finite loss``, ``diverged``)."""
    stop = _DivergenceStop(len(rates), smooth, diverge)
    losses: list[float] = []
    for lr in rates:
        value = _as_float(session.step(lr), owner)
        if not math.isfinite(value):
            return losses, "non-finite loss"
        losses.append(value)
        if bar is not None:
            bar.update(1)
        if stop.update(value)[1]:
            return losses, "diverged"
    return losses, "completed"


def _trial(session: Session, peak: float, steps: int, smooth: float, diverge: float, bar: Any,
           owner: str, validate: bool = False) -> Trial:
    rates = trial_rates(peak, steps)
    losses, reason = run_rates(session, rates, smooth, diverge, bar, owner)
    if bar is not None and len(losses) < steps:
        bar.update(steps - len(losses))  # the bar counts the budget; a stopped trial used less
    score = trial_score(losses, steps)
    samples = tuple(losses[-max(1, round(SCORE_FRACTION * steps)):])
    if validate and math.isfinite(score):
        parts = session.validate()  # type: ignore[attr-defined]
        weight = math.fsum(w for _, w in parts)
        score = math.fsum(v * w for v, w in parts) / weight if weight > 0 else math.inf
        score = score if math.isfinite(score) else math.inf
        samples = tuple(v for v, _ in parts)
    return Trial(peak=peak, lrs=tuple(rates[: len(losses)]), losses=tuple(losses),
                 score=score, stop_reason=reason, horizon=steps, samples=samples,
                 judged_on="validation" if validate else "training")


# ---------------------------------------------------------------------------------------------
# what every runner needs


class Batches:
    """The batches of ``loader``, phase after phase, the same ones in every phase.

    A re-iterable loader (a list, a ``DataLoader``) is iterated afresh at every ``restart()``
    and again whenever it runs out (the runner restores the RNGs that shuffle it first). A
    one-shot iterator (a generator) is read once: its first ``keep`` batches are kept and
    replayed after each ``restart()``, and read further only when a phase needs more.
    """

    def __init__(self, loader: Any, keep: int, owner: str) -> None:
        self.loader = loader
        self.owner = owner
        self.one_shot = isinstance(loader, Iterator)
        self.keep = keep
        self.kept: list[Any] = []
        self.read = 0  # batches read from a one-shot iterator
        self.position = 0  # of the current phase
        self._cycle: Iterator[Any] | None = None

    def restart(self) -> None:
        self.position = 0
        self._cycle = None if self.one_shot else self._cycled()

    def __next__(self) -> Any:
        if self._cycle is not None:
            return next(self._cycle)
        i = self.position
        self.position += 1
        if i < len(self.kept):
            return self.kept[i]
        try:  # past what was kept: the iterator's next batch
            batch = next(self.loader)
        except StopIteration:
            raise ValueError(
                f"{self.owner}: the loader is a one-shot iterator and ran out after "
                f"{self.read} batches; pass a list or a re-iterable loader (a DataLoader), or "
                "lower steps"
            ) from None
        self.read += 1
        if len(self.kept) < self.keep and i == len(self.kept):
            self.kept.append(batch)
        return batch

    def _cycled(self) -> Iterator[Any]:
        total = 0
        while True:
            count = 0
            for batch in self.loader:
                count += 1
                yield batch
            if count == 0:
                if total:
                    raise ValueError(
                        f"{self.owner}: the loader gave {total} batches, then nothing when "
                        "iterated again; pass a re-iterable loader (a DataLoader, a list) or "
                        "lower steps"
                    )
                raise ValueError(f"{self.owner}: loader yielded no batches")
            total += count


class GlobalRNGs:
    """The Python ``random`` and NumPy global RNG states (NumPy only if already imported)."""

    def __init__(self) -> None:
        self.python = random.getstate()
        np = sys.modules.get("numpy")
        self.numpy = np.random.get_state() if np is not None else None

    def restore(self) -> None:
        random.setstate(self.python)
        np = sys.modules.get("numpy")
        if np is not None and self.numpy is not None:
            np.random.set_state(self.numpy)
