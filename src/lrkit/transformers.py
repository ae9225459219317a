"""Hugging Face ``Trainer`` integration: ``ReportMetric`` feeds evaluation metrics to lrkit;
``TokenClock`` runs an lrkit schedule on the tokens the Trainer has seen.

The Trainer passes an evaluation's metrics to its scheduler only when that is a
``ReduceLROnPlateau`` (``Trainer._evaluate``, once per evaluation, after the callbacks'
``on_evaluate``, except the ``eval_on_start`` one). An lrkit schedule containing ``plateau`` and
stepped by the Trainer would never hear a metric. ``ReportMetric`` closes that gap::

    trainer = Trainer(model=model, args=args, train_dataset=train, eval_dataset=val,
                      optimizers=(opt, LRScheduler(opt, lk.warmup(lk.plateau(patience=2), 100))),
                      callbacks=[ReportMetric("eval_loss")])

Each evaluation during ``train()`` reports ``metrics[monitor]`` to the Trainer's lrkit scheduler
(``LRScheduler.report``): exactly the evaluations, values and order ``ReduceLROnPlateau`` gets
from the same Trainer, so a plain ``plateau`` gives ReduceLROnPlateau's rates at every step.

``TokenClock`` sets the scheduler's ``clock`` to the Trainer's running token count
(``TrainerState.num_input_tokens_seen``, kept with ``include_num_input_tokens_seen``), so a
schedule written in tokens (GPT-3: warmup over 375M tokens, cosine over 260B) is followed
whatever the batch lengths::

    args = TrainingArguments(..., include_num_input_tokens_seen="non_padding")
    trainer = Trainer(model=model, args=args, train_dataset=train,
                      optimizers=(opt, LRScheduler(opt, lk.warmup(lk.cosine(2.6e11), 3.75e8))),
                      callbacks=[TokenClock()])

Importing this module imports torch and transformers; ``import lrkit`` alone does not.
"""

from __future__ import annotations

import logging
import warnings
from typing import Any

from lrkit._extras import require

require("torch", "torch")
_TrainerCallback: Any = require("transformers", "transformers").TrainerCallback

from lrkit.torch._trainers import (  # noqa: E402
    check_monitor,
    describe,
    expect_reports_every,
    unwrap,
)
from lrkit.torch.scheduler import LRScheduler  # noqa: E402

__all__ = ["ReportMetric", "TokenClock"]

_logger = logging.getLogger("lrkit")


def _prefixed(monitor: str) -> str:
    """HF's rule for ``metric_for_best_model``: a name without the ``eval_`` prefix gets it."""
    return monitor if monitor.startswith("eval_") else f"eval_{monitor}"


class ReportMetric(_TrainerCallback):  # type: ignore[misc]
    """Reports ``metrics[monitor]`` of every evaluation during training to the Trainer's lrkit
    ``LRScheduler`` (``scheduler.report(value)``), as the Trainer itself does for a
    ``ReduceLROnPlateau``.

    Args:
        monitor: the evaluation metric to report, ``"eval_loss"`` by default. As with
            ``TrainingArguments.metric_for_best_model``, a name without the ``eval_`` prefix
            gets it (``"loss"`` is ``"eval_loss"``, ``"accuracy"`` is ``"eval_accuracy"``);
            with several eval datasets name one of them, e.g. ``"eval_data1_loss"``.

    Reported: the evaluations of ``trainer.train()`` (``eval_strategy`` "steps"/"epoch"), each
    right after it, before the next optimizer step. Not reported, as for ReduceLROnPlateau:
    the ``eval_on_start`` evaluation (before any training step) and ``trainer.evaluate()``
    called outside ``train()``.

    Errors: the Trainer's scheduler is not an lrkit ``LRScheduler`` (at the start of
    training); an evaluation round without ``monitor`` among its metrics (at the next step,
    naming the metrics there). A scheduler without any ``plateau`` does not use the metric:
    that is said once, in a ``UserWarning``, and nothing is reported.
    """

    def __init__(self, monitor: str = "eval_loss") -> None:
        super().__init__()
        self.monitor = _prefixed(check_monitor("ReportMetric", monitor))
        self._scheduler: LRScheduler | None = None
        self._training = False
        self._stepped = False  # an optimizer step happened in this train() call
        self._heard = False  # the current evaluation round had the monitor
        self._missing: set[str] | None = None  # metric names of the current round, if lacking
        self._warned_unused = False

    # -- training begins: find the scheduler -------------------------------------------
    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        given = kwargs.get("lr_scheduler")
        scheduler = unwrap(given)
        if scheduler is None:
            raise ValueError(_not_lrkit(given))
        self._training, self._stepped = True, False
        self._heard, self._missing = False, None
        if scheduler.has_plateau:
            self._scheduler = scheduler
            strategy = getattr(args, "eval_strategy", None)
            strategy = getattr(strategy, "value", strategy)
            expect_reports_every(scheduler, _eval_interval(strategy, args, state))
            if strategy == "no":
                warnings.warn(
                    f"ReportMetric: TrainingArguments.eval_strategy is 'no', so the Trainer never "
                    f"evaluates and no {self.monitor!r} reaches the plateau; set "
                    "eval_strategy='steps' (with eval_steps) or 'epoch' and an eval_dataset",
                    UserWarning,
                    stacklevel=2,
                )
            return
        self._scheduler = None
        if not self._warned_unused:
            self._warned_unused = True
            warnings.warn(
                f"ReportMetric: the Trainer's LRScheduler has no plateau() "
                f"({scheduler.spec}), so {self.monitor!r} is not used and nothing is reported "
                "(this is said once)",
                UserWarning,
                stacklevel=2,
            )

    # -- evaluations ----------------------------------------------------------------------
    def on_evaluate(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if not (self._training and self._stepped) or self._scheduler is None:
            return
        metrics = kwargs.get("metrics") or {}
        if self.monitor in metrics:
            self._scheduler.report(metrics[self.monitor])
            self._heard = True
        else:  # several eval datasets: one on_evaluate per dataset; judged per round
            self._missing = (self._missing or set()) | set(metrics)

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._stepped = True

    def on_step_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._close_round()

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._training = False
        self._close_round()

    def _close_round(self) -> None:
        missing, heard = self._missing, self._heard
        self._missing, self._heard = None, False
        if missing is not None and not heard:
            raise ValueError(
                f"ReportMetric: monitor {self.monitor!r} is not among the evaluation metrics "
                f"{sorted(missing)}; allowed: one of those (a name without the 'eval_' prefix "
                "gets it, as for metric_for_best_model)"
            )


def _eval_interval(strategy: Any, args: Any, state: Any) -> float | None:
    """Optimizer steps (= scheduler steps) between the Trainer's evaluations, when known:
    ``eval_steps`` (a fraction < 1 is of ``max_steps``, as the Trainer reads it) or one epoch
    (at least: ``max_steps / num_train_epochs``)."""
    max_steps = getattr(state, "max_steps", 0) or 0
    if strategy == "steps":
        every = getattr(state, "eval_steps", None) or getattr(args, "eval_steps", None)
        if isinstance(every, (int, float)) and 0 < every < 1:
            every = every * max_steps
        return float(every) if isinstance(every, (int, float)) else None
    if strategy == "epoch":
        epochs = getattr(state, "num_train_epochs", 0) or 0
        return max_steps / epochs if max_steps > 0 and epochs > 0 else None
    return None


def _not_lrkit(given: Any, owner: str = "ReportMetric") -> str:
    fix = ("pass optimizers=(optimizer, lrkit.torch.LRScheduler(optimizer, schedule)) to the "
           "Trainer")
    if given is None:
        return f"{owner}: the Trainer has no lr scheduler; {fix}"
    name = describe(given)
    if name.endswith("ReduceLROnPlateau") and owner == "ReportMetric":
        return (f"ReportMetric: the Trainer's scheduler is {name}, not an lrkit LRScheduler; the "
                "Trainer feeds a ReduceLROnPlateau itself (metric_for_best_model). ReportMetric "
                f"is for lrkit schedules: {fix}, e.g. with lk.plateau()")
    return (f"{owner}: the Trainer's scheduler is {name}, not an lrkit LRScheduler (without "
            "optimizers=(...) the Trainer builds one from TrainingArguments.lr_scheduler_type); "
            f"{fix}")


class TokenClock(_TrainerCallback):  # type: ignore[misc]
    """Drives the Trainer's lrkit ``LRScheduler`` by the tokens seen instead of the optimizer
    steps: at the start of training it sets ``scheduler.clock`` to the Trainer's
    ``state.num_input_tokens_seen``, so the optimizer step after ``T`` tokens uses ``s(T)``.

    The Trainer counts a step's tokens before it steps the scheduler: the ``k``-th optimizer
    step uses ``s(T_{k-1})``, ``T_j`` the tokens of the first ``j`` optimizer steps (every
    micro-batch of gradient accumulation, gathered over processes). What a token is follows
    ``TrainingArguments.include_num_input_tokens_seen``: ``"all"`` (or ``True``) counts every
    element of ``input_ids``, padding included; ``"non_padding"`` sums ``attention_mask``.
    On ``resume_from_checkpoint`` the Trainer restores the count from ``trainer_state.json``
    and the scheduler's from its state, so the run continues on the same clock.

    Errors (``ValueError``): ``include_num_input_tokens_seen`` is ``"no"`` (when the Trainer
    is built, and again when training starts); the Trainer's scheduler is not an lrkit
    ``LRScheduler``; the scheduler's count at the start of training differs from the tokens
    seen (a state saved by a run that counted steps, or a scheduler stepped by hand); the
    first optimizer step counted no tokens (the batches lack the model's ``main_input_name``,
    ``input_ids`` by default: the Trainer then only logs a warning and counts nothing).
    """

    def __init__(self) -> None:
        super().__init__()
        self._start: int | None = None  # tokens seen when train() began, until its first step

    def on_init_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        _check_tracking(args)

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        _check_tracking(args)
        given = kwargs.get("lr_scheduler")
        scheduler = unwrap(given)
        if scheduler is None:
            raise ValueError(_not_lrkit(given, "TokenClock"))
        seen = int(state.num_input_tokens_seen)
        if scheduler.count != seen:
            raise ValueError(
                f"TokenClock: the scheduler's count is {scheduler.count} but the Trainer has "
                f"seen {seen} tokens; allowed: a scheduler that counts the tokens from the "
                "start of the run (a fresh one, or one restored from a checkpoint of a run "
                "with TokenClock)")
        scheduler.clock = lambda: int(state.num_input_tokens_seen)
        self._start = seen
        _logger.info("TokenClock: %s follows the tokens seen (%d so far)", scheduler.spec, seen)

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        start = self._start
        if start is None:  # checked once per train() call, at its first optimizer step
            return
        self._start = None
        if int(state.num_input_tokens_seen) == start:
            raise ValueError(
                "TokenClock: the Trainer counted no tokens in the first optimizer step, so the "
                "schedule would stay at s(0); the batches must hold the model's "
                f"main_input_name ({getattr(kwargs.get('model'), 'main_input_name', 'input_ids')!r}"
                "), which the Trainer counts (and an attention_mask for 'non_padding')")


def _check_tracking(args: Any) -> None:
    counting = getattr(args, "include_num_input_tokens_seen", "no")
    if counting in ("no", False, None):
        raise ValueError(
            f"TokenClock: TrainingArguments.include_num_input_tokens_seen is {counting!r}, so "
            "the Trainer counts no tokens; allowed: 'all' (every input_ids element, padding "
            "included) or 'non_padding' (the attention_mask's sum)")
