"""The informed range test: trials of the planned run's own schedule at shortened horizons.

``find_lr(..., total_steps=T, schedule=shape, val_loader=..., budget=B)`` (every runner) knows
what the default call has to guess: how long the real run is, the shape of its schedule, and
data to judge a trial on. After the sweep (``lrkit.rangetest``, which gives the ``ceiling``
where the loss turns back up):

1. Rung 1: ``RUNG1_CANDIDATES`` peaks half a decade apart, from the ceiling down, each a
   trial of ``h1`` steps at ``lr_i = peak * shape(i * T / h1)`` (the planned schedule squeezed
   into ``h1`` steps), from the restored start on the same batches. If the best is the highest
   or the lowest peak tried, one more half-decade beyond it is tried while the budget lasts.
2. Rung 2 (successive halving): three peaks a quarter decade apart at twice the
   horizon, ``h2 = RUNG_RATIO * h1``, centred where rung 1's optimum ``v1`` would move under
   the prior ``v1 * RUNG_RATIO ** HORIZON_EXPONENT``; extended by one quarter decade past a
   winning edge.
3. Extrapolation in the run's length: the optimal peak of a run of ``h`` steps follows
   close to a power law ``v(h) ~ h ** b`` (Shen et al. 2024, "Power Scheduler"; Schaipp et al.
   2025), with ``b`` that depends on the task: on the panel's design tasks from about -1 (a
   tabular MLP with momentum SGD, which overfits at high rates in long runs) through 0 (an
   MLP with Adam); short trials sometimes measure ``b > 0`` (a regression MLP with AdamW,
   least squares near ``2/L``). Each rung's optimum is the vertex
   of the parabola through the best score and its two neighbours (in log rate); ``b`` is
   measured from the two, ``log(v2 / v1) / log(h2 / h1)``, kept within ``SLOPE_RANGE``, and
   the suggestion is ``v2 * (T / h2) ** b``.

A trial's score is the validation loss after it (``val_loader`` given: the mean over its
batches, weighted by batch size) or else the mean training loss of its last quarter; a trial
that diverges scores ``inf``. ``h1 = min(T // 8, (B - sweep) // 15)``: rung 1 costs at most
``7 h1``, rung 2 ``8 h1``. Default budget: ``BUDGET_FRACTION * T`` optimizer steps, sweep
included.

The result says how sure it is (``RangeTestResult.notes``, also warned and logged): the best
peak at the edge of what could be tried, or its neighbours within noise (the paired difference
of their per-batch losses within two standard errors of zero, with at least ``NOISE_SAMPLES``
batches).

Nothing here imports numpy or a framework.
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = [
    "BUDGET_FRACTION",
    "HORIZON_EXPONENT",
    "MIN_HORIZON",
    "RUNG1_CANDIDATES",
    "RUNG_RATIO",
    "SLOPE_RANGE",
    "WARMUP_FRACTION",
    "Plan",
    "ValidatingSession",
    "default_shape",
    "extrapolate",
    "make_plan",
    "paired_noise",
    "vertex",
]

logger = logging.getLogger("lrkit.rangetest")

BUDGET_FRACTION = 1.5
"""Default ``budget``: this fraction of ``total_steps`` (sweep and trials together)."""
HORIZON_EXPONENT = -0.5
"""The prior ``b`` in ``v(h) ~ h ** b`` that centres rung 2 (the extrapolation measures its
own)."""
SLOPE_RANGE = (-1.5, 0.0)
"""The measured ``b`` is kept within these bounds: never above 0, since a longer run never
tolerates a higher peak for long (least squares diverges above ``2/L`` at any length, while
short trials there favour peaks at the edge and can measure ``b > 0``; an upward
extrapolation trained the panel's digits MLP at 2.75x its best peak)."""
RUNG_RATIO = 2
"""Rung 2's trials are this many times longer than rung 1's."""
RUNG1_CANDIDATES = 6
"""Rung 1's peaks: the ceiling and the next ``RUNG1_CANDIDATES - 1`` half decades below it."""
MIN_HORIZON = 8
"""The shortest trial, in optimizer steps."""
WARMUP_FRACTION = 0.05
"""The default shape warms up linearly over this fraction of the run, then decays by a cosine
to 0."""
NOISE_SAMPLES = 4
"""The noise check needs this many paired samples (validation batches, or last training
losses)."""
HALF_DECADE = 10.0**0.5
QUARTER_DECADE = 10.0**0.25


class ValidatingSession(Protocol):
    """A ``lrkit.rangetest.Session`` that can also score the current model on validation data."""

    def restart(self) -> None: ...

    def step(self, lr: float) -> float: ...

    def validate(self) -> list[tuple[float, float]]:
        """``(mean loss, weight)`` per validation batch of the current model."""


def default_shape(total_steps: int) -> Callable[[float], float]:
    """Linear warmup over ``max(1, round(WARMUP_FRACTION * T))`` steps, then cosine to 0 over
    the rest (lrkit's ``warmup(cosine(T - w), w)``, peak 1)."""
    from lrkit.schedules import Cosine, Warmup

    w = max(1, round(WARMUP_FRACTION * total_steps))
    return Warmup(Cosine(steps=total_steps - w), steps=w)


@dataclass(frozen=True)
class Plan:
    """The informed search's plan: the run's length ``total_steps``, its ``shape`` (the rate
    at step ``t`` is ``peak * shape(t)``), the ``budget`` in optimizer steps and whether trials
    are judged on validation data."""

    total_steps: int
    shape: Callable[[float], float]
    budget: int
    validation: bool

    def horizons(self, sweep_steps: int) -> tuple[int, int]:
        """``(h1, RUNG_RATIO * h1)`` with ``h1 = min(T // 8, (budget - sweep_steps) // 15)``
        (at least ``MIN_HORIZON``)."""
        h1 = max(MIN_HORIZON, min(self.total_steps // 8, (self.budget - sweep_steps) // 15))
        return h1, RUNG_RATIO * h1

    def rates(self, peak: float, horizon: int) -> list[float]:
        """``peak * shape(i * T / horizon)`` for ``i = 0 .. horizon - 1``."""
        scale = self.total_steps / horizon
        return [peak * float(self.shape(i * scale)) for i in range(horizon)]


def make_plan(owner: str, total_steps: Any, schedule: Any, budget: Any, validation: bool,
              sweep_steps: int) -> Plan | None:
    """Check the informed call's keywords; ``None`` when ``total_steps`` is ``None`` (then
    ``schedule`` and ``budget`` must be ``None`` too)."""
    if total_steps is None:
        for name, value in (("schedule", schedule), ("budget", budget)):
            if value is not None:
                raise ValueError(f"{owner}: {name} needs total_steps (the planned run's length "
                                 f"in optimizer steps); got {name}={value!r} without it")
        return None
    shortest = 8 * MIN_HORIZON
    if isinstance(total_steps, bool) or not isinstance(total_steps, int) or total_steps < shortest:
        raise ValueError(f"{owner}: total_steps must be an integer >= {shortest} (the planned "
                         f"run's length in optimizer steps); got {total_steps!r}")
    shape = default_shape(total_steps) if schedule is None else schedule
    if not callable(shape):
        raise ValueError(f"{owner}: schedule must be a callable of the step t (0 <= t < "
                         f"total_steps) giving the rate's multiplier (peak 1), such as "
                         f"lrkit.warmup(lrkit.cosine(total_steps - w), w); got {schedule!r}")
    probe = [0, total_steps // 20, total_steps // 2, total_steps - 1]
    try:
        values = [float(shape(t)) for t in probe]
    except Exception as exc:
        raise ValueError(f"{owner}: schedule(t) failed for t in {probe}: {exc}") from None
    if any(not math.isfinite(v) or v < 0.0 for v in values) or max(values) <= 0.0:
        raise ValueError(f"{owner}: schedule must give finite multipliers >= 0, not all 0; "
                         f"got {values} at t = {probe}")
    if budget is None:
        budget = math.ceil(BUDGET_FRACTION * total_steps)
    least = sweep_steps + 15 * MIN_HORIZON
    if isinstance(budget, bool) or not isinstance(budget, int) or budget < least:
        raise ValueError(f"{owner}: budget must be an integer >= {least} optimizer steps (the "
                         f"sweep's {sweep_steps} + 15 x {MIN_HORIZON}); got {budget!r}")
    return Plan(total_steps, shape, budget, validation)


def vertex(scores: dict[float, float], best: float, factor: float) -> float:
    """The best peak moved to the vertex of the parabola (in log rate) through its score and
    those of its neighbours ``best / factor`` and ``best * factor`` when both are finite and
    the parabola opens upward; within half a step of ``best``."""
    below = _find(scores, best / factor)
    above = _find(scores, best * factor)
    if below is None or above is None:
        return best
    a, b, c = scores[below], scores[best], scores[above]
    if not (math.isfinite(a) and math.isfinite(c)):
        return best
    curvature = a - 2.0 * b + c
    if curvature <= 0.0:
        return best
    x = max(-0.5, min(0.5, (a - c) / (2.0 * curvature)))
    return float(best * factor**x)


def _find(scores: dict[float, float], peak: float) -> float | None:
    return next((p for p in scores if math.isclose(p, peak, rel_tol=1e-6)), None)


def extrapolate(optima: Sequence[tuple[int, float]], total_steps: int) -> tuple[float, float]:
    """``(v(T), b)``: the power law ``v(h) = v2 * (h / h2) ** b`` through the last two
    ``(horizon, optimum)`` pairs, ``b`` kept within ``SLOPE_RANGE`` (``HORIZON_EXPONENT`` with
    a single pair), evaluated at ``h = total_steps``."""
    h2, v2 = optima[-1]
    b = HORIZON_EXPONENT
    if len(optima) >= 2:
        h1, v1 = optima[-2]
        b = max(SLOPE_RANGE[0], min(SLOPE_RANGE[1], math.log(v2 / v1) / math.log(h2 / h1)))
    return float(v2 * (total_steps / h2) ** b), b


def paired_noise(a: Sequence[float], b: Sequence[float]) -> tuple[float, float]:
    """``(mean, standard error)`` of ``a[i] - b[i]`` (the same batches scored twice);
    ``(mean, inf)`` with fewer than two pairs."""
    d = [x - y for x, y in zip(a, b, strict=True)]
    n = len(d)
    if n == 0:
        return math.nan, math.inf
    mean = math.fsum(d) / n
    if n < 2:
        return mean, math.inf
    var = math.fsum((x - mean) ** 2 for x in d) / (n - 1)
    return mean, math.sqrt(var / n)


# ---------------------------------------------------------------------------------------------
# the search


def search(session: Any, plan: Plan, top: float, sweep_steps: int, smooth: float,
           diverge: float, bar: Any, owner: str) -> tuple[float, list[Any], dict[str, Any]]:
    """Rungs 1 and 2 and the extrapolation; returns ``(suggestion, trials, info)``."""
    h1, h2 = plan.horizons(sweep_steps)
    left = plan.budget - sweep_steps
    trials: list[Any] = []
    notes: list[str] = []

    def spend(peak: float, horizon: int) -> float:
        nonlocal left
        session.restart()
        trial = _informed_trial(session, plan, peak, horizon, smooth, diverge, bar, owner)
        trials.append(trial)
        left -= trial.steps
        if bar is not None:
            bar.set_postfix(trial=f"{peak:.2e}", steps=horizon, score=f"{trial.score:.4g}")
        return float(trial.score)

    # rung 1
    r1: dict[float, float] = {}
    for k in range(RUNG1_CANDIDATES):
        peak = top * HALF_DECADE**-k
        r1[peak] = spend(peak, h1)
    reserve = 3 * h2
    best1 = _best(r1, owner, h1, trials)
    while left - reserve >= h1 and best1 in (min(r1), max(r1)):
        peak = best1 / HALF_DECADE if best1 == min(r1) else best1 * HALF_DECADE
        r1[peak] = spend(peak, h1)
        new = _best(r1, owner, h1, trials)
        if new == best1:
            break
        best1 = new
    v1 = vertex(r1, best1, HALF_DECADE)
    edge1 = best1 in (min(r1), max(r1))
    # rung 2
    centre = v1 * float(RUNG_RATIO) ** HORIZON_EXPONENT
    r2: dict[float, float] = {}
    for peak in (centre / QUARTER_DECADE, centre, centre * QUARTER_DECADE):
        if left < h2:
            break
        r2[peak] = spend(peak, h2)
    best2 = _best(r2, owner, h2, trials) if r2 else best1
    if r2 and left >= h2 and best2 in (min(r2), max(r2)):
        peak = best2 / QUARTER_DECADE if best2 == min(r2) else best2 * QUARTER_DECADE
        r2[peak] = spend(peak, h2)
        best2 = _best(r2, owner, h2, trials)
    edge2 = bool(r2) and len(r2) >= 2 and best2 in (min(r2), max(r2))
    optima = [(h1, v1)]
    if r2:
        optima.append((h2, vertex(r2, best2, QUARTER_DECADE)))
    suggestion, slope = extrapolate(optima, plan.total_steps)
    if edge1:
        notes.append(_edge_note(best1, r1, h1))
    if edge2:
        notes.append(_edge_note(best2, r2, h2))
    noisy = _noise_note(trials, r2 or r1, best2 if r2 else best1,
                        QUARTER_DECADE if r2 else HALF_DECADE, h2 if r2 else h1)
    if noisy:
        notes.append(noisy)
    for note in notes:
        warnings.warn(f"{owner}: {note}", stacklevel=4)
        logger.warning("%s: %s", owner, note)
    info = {"horizons": (h1, h2), "optima": tuple(optima), "slope": slope,
            "notes": tuple(notes), "budget": plan.budget, "total_steps": plan.total_steps}
    return suggestion, trials, info


def _best(scores: dict[float, float], owner: str, horizon: int, trials: list[Any]) -> float:
    finite = {p: s for p, s in scores.items() if math.isfinite(s)}
    if not finite:
        raise ValueError(
            f"{owner}: every trial of {horizon} steps diverged (peaks "
            + ", ".join(f"{p:.3g}" for p in sorted(scores))
            + "); check the loss and the schedule, or lower start"
        )
    return min(finite, key=lambda p: (finite[p], p))


def _edge_note(best: float, scores: dict[float, float], horizon: int) -> str:
    side = "highest" if best == max(scores) else "lowest"
    return (f"weak evidence: the best peak of the {horizon}-step trials ({best:.3g}) is the "
            f"{side} one tried (the budget ran out before a peak beyond it); the optimum may lie "
            f"further {'up' if side == 'highest' else 'down'}: raise budget, or check the range")


def _noise_note(trials: list[Any], scores: dict[float, float], best: float, factor: float,
                horizon: int) -> str | None:
    by_peak = {t.peak: t for t in trials if t.horizon == horizon}
    b = by_peak.get(best)
    if b is None or len(b.samples) < NOISE_SAMPLES:
        return None
    close = []
    for nb in (_find(scores, best / factor), _find(scores, best * factor)):
        t = by_peak.get(nb) if nb is not None else None
        if t is None or len(t.samples) != len(b.samples) or not math.isfinite(t.score):
            continue
        mean, se = paired_noise(t.samples, b.samples)
        if math.isfinite(se) and mean < 2.0 * se:
            close.append(nb)
    if not close:
        return None
    lo, hi = min([best, *close]), max([best, *close])  # type: ignore[type-var]
    return (f"weak evidence: the {horizon}-step trials at {lo:.3g} .. {hi:.3g} score within "
            f"noise of each other (paired differences within two standard errors); any peak in "
            f"that range may do as well as the suggestion")


def _informed_trial(session: Any, plan: Plan, peak: float, horizon: int, smooth: float,
                    diverge: float, bar: Any, owner: str) -> Any:
    from lrkit.rangetest import Trial, run_rates, trial_score

    rates = plan.rates(peak, horizon)
    losses, reason = run_rates(session, rates, smooth, diverge, bar, owner)
    samples: tuple[float, ...] = ()
    if reason != "completed":
        score = math.inf
    elif plan.validation:
        parts = session.validate()
        weight = math.fsum(w for _, w in parts)
        score = math.fsum(v * w for v, w in parts) / weight if weight > 0 else math.inf
        score = score if math.isfinite(score) else math.inf
        samples = tuple(v for v, _ in parts)
    else:
        score = trial_score(losses, horizon)
        samples = tuple(losses[-max(1, round(0.25 * horizon)):])
    return Trial(peak=peak, lrs=tuple(rates[: len(losses)]), losses=tuple(losses), score=score,
                 stop_reason=reason, horizon=horizon, samples=samples,
                 judged_on="validation" if plan.validation else "training")
