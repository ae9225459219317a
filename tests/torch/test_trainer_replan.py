"""Changing the plan of a run under the real trainers, resumed from real checkpoints: Hugging
Face's ``Trainer(resume_from_checkpoint=...)`` and Lightning's ``fit(ckpt_path=...)``.

Scenarios (each trainer): a 60-step run checkpointed at step 30 and resumed for 120 steps with
the scheduler built as ``lk.splice(old, new, at=30, ramp=R)`` (quiet; the rate at every step
after the resume is the planned continuation); the naive resume (the plan rebuilt for 120
steps: the user hears it, through logging, which survives HF's swallowing of a lone warning);
and a run that called ``replan`` at step 20, resumed by code that builds the original plan (it
continues the replanned plan). Then ``lrkit.transformers.TokenClock``: a schedule in tokens
under variable-length batches, the rate at each step ``s(tokens so far)`` with the tokens
counted here from the batches themselves. Expected rates: the formulas written out below."""

from __future__ import annotations

import logging
import math
import os
import subprocess
import sys
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import torch
from _torch_testing import LIGHTNING_WARNINGS, HFRegressor, hf_data

import lrkit as lk
from lrkit.torch.scheduler import LRScheduler

pytestmark = [
    pytest.mark.slow,
    *LIGHTNING_WARNINGS,
    # Lightning's notes on a mid-epoch checkpoint, re-issued by pytest.warns
    pytest.mark.filterwarnings("ignore:Be aware that when using `ckpt_path`"),
    pytest.mark.filterwarnings("ignore:You're resuming from a checkpoint that ended before"),
]

BASE = 0.05  # the optimizer's rate (relative mode: every rate is BASE * s(t))
WARM, RAMP, AT, REPLAN_AT, REPLAN_RAMP = 10, 10, 30, 20, 5
OLD = lk.warmup(lk.cosine(50), WARM)  # the 60-step plan
NEW = lk.warmup(lk.cosine(110), WARM)  # the 120-step plan
SHORT = lk.cosine(60, end=0.1)  # what the replanned run switches to at step 20


# -- the plans written out ---------------------------------------------------------------------

def cosine(u: float, n: float, end: float = 0.0) -> float:
    return end + (1 - end) * (1 + math.cos(math.pi * min(u, n) / n)) / 2


def old(t: float) -> float:
    return t / WARM if t < WARM else cosine(t - WARM, 50)


def new(t: float) -> float:
    return t / WARM if t < WARM else cosine(t - WARM, 110)


def short(t: float) -> float:
    return cosine(t, 60, 0.1)


def spliced(a: Callable[[float], float], b: Callable[[float], float], at: float, ramp: float,
            t: float) -> float:
    """a(t) before ``at``, b(t) from ``at + ramp``, a straight line from a(at) to b(at + ramp)
    in between."""
    if t < at:
        return a(t)
    if t >= at + ramp:
        return b(t)
    return a(at) + (b(at + ramp) - a(at)) * (t - at) / ramp


def _expect(rates: Sequence[float], first: int, plan: Callable[[float], float]) -> None:
    """``rates[i]`` is the rate of the step with schedule time ``first + i``."""
    assert rates, "no step recorded"
    for i, got in enumerate(rates):
        want = BASE * plan(first + i)
        assert got == pytest.approx(want, rel=1e-12, abs=1e-18), first + i


def _lrkit_records(caplog: pytest.LogCaptureFixture, level: int) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "lrkit" and r.levelno == level]


def _jump_message(at: int, before: float, after: float) -> str:
    """What the report says about the jump (``reconcile``'s wording, rates to 6 digits)."""
    return f"the rate goes from {before:.6g} (the saved plan at t={at}) to {after:.6g}"


# == Hugging Face Trainer ==============================================================

transformers = pytest.importorskip("transformers")
from lrkit.transformers import TokenClock  # noqa: E402


class _Rates(transformers.TrainerCallback):  # type: ignore[misc]
    """The rate each optimizer step uses (read just before it)."""

    def __init__(self) -> None:
        self.rates: list[float] = []

    def on_pre_optimizer_step(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
        self.rates.append(float(kw["optimizer"].param_groups[0]["lr"]))


class _Replan(transformers.TrainerCallback):  # type: ignore[misc]
    """Calls ``replan(SHORT, ramp=REPLAN_RAMP)`` after optimizer step ``REPLAN_AT``."""

    def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
        if state.global_step == REPLAN_AT:
            sched = kw["lr_scheduler"]
            assert sched.count == REPLAN_AT
            sched.replan(SHORT, ramp=REPLAN_RAMP)


def _hf_trainer(out: Path, schedule: lk.Schedule, max_steps: int,
                callbacks: Sequence[Any] = (), **kwargs: Any) -> tuple[Any, _Rates, LRScheduler]:
    torch.manual_seed(0)
    model = HFRegressor()
    opt = torch.optim.SGD(model.parameters(), lr=BASE)
    sched = LRScheduler(opt, schedule)
    settings: dict[str, Any] = {
        "output_dir": str(out), "max_steps": max_steps, "per_device_train_batch_size": 4,
        "logging_strategy": "no", "report_to": [], "use_cpu": True, "save_strategy": "no",
        "disable_tqdm": True, "dataloader_num_workers": 0, "seed": 0,
    } | kwargs
    rates = _Rates()
    trainer = transformers.Trainer(
        model=model, args=transformers.TrainingArguments(**settings), train_dataset=hf_data(64, 1),
        optimizers=(opt, sched), callbacks=[*callbacks, rates])
    return trainer, rates, sched


@pytest.fixture(scope="module")
def hf_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """checkpoint-30 of a 60-step run of OLD (its rates checked against the formula)."""
    out = tmp_path_factory.mktemp("hf-60")
    trainer, rates, _ = _hf_trainer(out, OLD, 60, save_strategy="steps", save_steps=AT)
    trainer.train()
    _expect(rates.rates, 0, old)
    return out / f"checkpoint-{AT}"


def _resume(trainer: Any, checkpoint: Path) -> list[warnings.WarningMessage]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trainer.train(resume_from_checkpoint=str(checkpoint))
    return [w for w in caught if issubclass(w.category, lk.SpecMismatchWarning)]


def test_hf_resume_with_a_splice_is_quiet_and_continues_the_plan(
        hf_checkpoint: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="lrkit")
    trainer, rates, sched = _hf_trainer(tmp_path, lk.splice(OLD, NEW, at=AT, ramp=RAMP), 120)
    assert not _resume(trainer, hf_checkpoint)
    assert not [r for r in caplog.records if r.name == "lrkit"]
    assert sched.count == 120 and len(rates.rates) == 120 - AT
    _expect(rates.rates, AT, lambda t: spliced(old, new, AT, RAMP, t))


def test_hf_naive_resume_is_reported_through_logging(
        hf_checkpoint: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The plan rebuilt for 120 steps: HF records the warnings of its scheduler load and
    re-issues them only when there are several, so the lone SpecMismatchWarning is swallowed;
    the ``lrkit`` logger's record reaches the user."""
    caplog.set_level(logging.INFO, logger="lrkit")
    trainer, rates, _ = _hf_trainer(tmp_path, NEW, 120)
    assert not _resume(trainer, hf_checkpoint)  # HF swallowed the lone warning
    (record,) = _lrkit_records(caplog, logging.WARNING)
    message = record.getMessage()
    assert _jump_message(AT, BASE * old(AT), BASE * new(AT)) in message
    assert f"lrkit.splice({OLD}, {NEW}, at={AT}, ramp=R)" in message
    _expect(rates.rates, AT, new)  # the new plan is followed, as reported


HF_NAIVE_SCRIPT = """
import sys
import torch
import transformers
import lrkit as lk
from lrkit.torch import LRScheduler

class Regressor(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.body = torch.nn.Linear(4, 8)
        self.head = torch.nn.Linear(8, 1)

    def forward(self, x, labels):
        out = self.head(torch.tanh(self.body(x)))
        return {"loss": torch.nn.functional.mse_loss(out, labels), "logits": out}

gen = torch.Generator().manual_seed(1)
x = torch.randn(64, 4, generator=gen)
data = [{"x": a, "labels": a.sum(0, keepdim=True)} for a in x]
model = Regressor()
opt = torch.optim.SGD(model.parameters(), lr=%(base)r)
sched = LRScheduler(opt, lk.warmup(lk.cosine(110), 10))
args = transformers.TrainingArguments(
    output_dir=sys.argv[2], max_steps=120, per_device_train_batch_size=4, report_to=[],
    use_cpu=True, save_strategy="no", disable_tqdm=True, logging_strategy="no")
trainer = transformers.Trainer(model=model, args=args, train_dataset=data,
                               optimizers=(opt, sched))
trainer.train(resume_from_checkpoint=sys.argv[1])
print("count", sched.count)
"""


def test_hf_naive_resume_reaches_stderr_with_no_logging_configured(
        hf_checkpoint: Path, tmp_path: Path) -> None:
    """As a user runs it: a script that configures no logging. The logging module's last-resort
    handler prints the lrkit WARNING record to stderr."""
    script = tmp_path / "resume.py"
    script.write_text(HF_NAIVE_SCRIPT % {"base": BASE})
    env = {**os.environ, "PYTHONWARNINGS": "default"}
    done = subprocess.run([sys.executable, str(script), str(hf_checkpoint), str(tmp_path / "o")],
                          capture_output=True, text=True, env=env, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "count 120" in done.stdout
    expected = _jump_message(AT, BASE * old(AT), BASE * new(AT))
    assert done.stderr.count(expected) == 1, done.stderr[-3000:]  # the log line; no warning
    assert "SpecMismatchWarning" not in done.stderr


def test_hf_replanned_run_resumed_by_the_original_code_continues_the_replan(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="lrkit")
    full, full_rates, full_sched = _hf_trainer(tmp_path / "full", OLD, 60, [_Replan()],
                                               save_strategy="steps", save_steps=AT)
    full.train()
    plan = lambda t: spliced(old, short, REPLAN_AT, REPLAN_RAMP, t)  # noqa: E731
    _expect(full_rates.rates, 0, plan)
    caplog.clear()
    resumed, rates, sched = _hf_trainer(tmp_path / "resumed", OLD, 60)  # the original plan
    assert not _resume(resumed, tmp_path / "full" / f"checkpoint-{AT}")
    assert not _lrkit_records(caplog, logging.WARNING)
    (info,) = _lrkit_records(caplog, logging.INFO)
    assert "continuing the saved plan" in info.getMessage()
    assert sched.count == 60
    _expect(rates.rates, AT, plan)
    assert rates.rates == full_rates.rates[AT:]
    assert sched.schedules == full_sched.schedules


# -- TokenClock -----------------------------------------------------------------------------

VOCAB, TOKEN_WARM, TOKEN_COSINE, TOKEN_END = 32, 120, 1500, 0.1
IN_TOKENS = lk.warmup(lk.cosine(TOKEN_COSINE, end=TOKEN_END), TOKEN_WARM)


def in_tokens(n: float) -> float:
    return n / TOKEN_WARM if n < TOKEN_WARM else cosine(n - TOKEN_WARM, TOKEN_COSINE, TOKEN_END)


class _Collate:
    """Pads a batch of variable-length sequences (pad id 0, labels -100 there) and keeps every
    batch it makes, in order."""

    def __init__(self) -> None:
        self.batches: list[dict[str, torch.Tensor]] = []

    def __call__(self, features: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
        longest = max(len(f["input_ids"]) for f in features)
        ids = torch.zeros(len(features), longest, dtype=torch.long)
        mask = torch.zeros(len(features), longest, dtype=torch.long)
        for i, f in enumerate(features):
            ids[i, : len(f["input_ids"])] = f["input_ids"]
            mask[i, : len(f["input_ids"])] = 1
        batch = {"input_ids": ids, "attention_mask": mask,
                 "labels": ids.masked_fill(mask == 0, -100)}
        self.batches.append(batch)
        return batch


class _TinyLM(torch.nn.Module):
    """A next-token model small enough to keep the test fast; its input is ``input_ids`` (the
    Trainer's default ``main_input_name``)."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = torch.nn.Embedding(VOCAB, 8)
        self.out = torch.nn.Linear(8, VOCAB)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                labels: torch.Tensor) -> dict[str, torch.Tensor]:
        logits = self.out(self.embed(input_ids) * attention_mask[..., None])
        loss = torch.nn.functional.cross_entropy(logits[:, :-1].flatten(0, 1),
                                                 labels[:, 1:].flatten(), ignore_index=-100)
        return {"loss": loss, "logits": logits}


def _sequences(n: int) -> list[dict[str, torch.Tensor]]:
    gen = torch.Generator().manual_seed(3)
    lengths = torch.randint(2, 13, (n,), generator=gen)
    return [{"input_ids": torch.randint(1, VOCAB, (int(k),), generator=gen)} for k in lengths]


def _token_trainer(out: Path, max_steps: int, counting: Any = "non_padding",
                   **kwargs: Any) -> tuple[Any, _Rates, LRScheduler, _Collate]:
    torch.manual_seed(0)
    model = _TinyLM()
    opt = torch.optim.SGD(model.parameters(), lr=BASE)
    sched = LRScheduler(opt, IN_TOKENS)
    collate = _Collate()
    rates = _Rates()
    settings: dict[str, Any] = {
        "output_dir": str(out), "max_steps": max_steps, "per_device_train_batch_size": 4,
        "logging_strategy": "no", "report_to": [], "use_cpu": True, "save_strategy": "no",
        "disable_tqdm": True, "dataloader_num_workers": 0, "seed": 0,
        "include_num_input_tokens_seen": counting,
    } | kwargs
    trainer = transformers.Trainer(
        model=model, args=transformers.TrainingArguments(**settings),
        train_dataset=_sequences(48), data_collator=collate, optimizers=(opt, sched),
        callbacks=[TokenClock(), rates])
    return trainer, rates, sched, collate


def _cumulative(counts: Iterator[int]) -> list[int]:
    totals, total = [0], 0
    for c in counts:
        total += c
        totals.append(total)
    return totals


@pytest.mark.parametrize("counting", ["non_padding", "all", True])
def test_token_clock_follows_the_tokens_seen(tmp_path: Path, counting: Any) -> None:
    """``non_padding``: HF sums the attention mask; ``all`` (``True``): every input_ids element,
    padding included. The k-th optimizer step uses s(tokens of the first k - 1 steps)."""
    steps = 30
    trainer, rates, sched, collate = _token_trainer(tmp_path, steps, counting)
    trainer.train()
    # accelerate's loader fetches one batch ahead: the first `steps` batches are the used ones
    used = collate.batches[:steps]
    if counting == "non_padding":
        seen = _cumulative(int(b["attention_mask"].sum()) for b in used)
    else:
        seen = _cumulative(b["input_ids"].numel() for b in used)
    assert len({b["input_ids"].shape[1] for b in used}) > 1  # the lengths vary
    assert trainer.state.num_input_tokens_seen == seen[-1]
    assert sched.count == seen[-1] > TOKEN_WARM
    assert len(rates.rates) == steps
    for k, got in enumerate(rates.rates):
        assert got == pytest.approx(BASE * in_tokens(seen[k]), rel=1e-12, abs=1e-18), k


def test_token_clock_resumes_on_the_same_clock(tmp_path: Path) -> None:
    full, full_rates, full_sched, _ = _token_trainer(tmp_path / "full", 30,
                                                     save_strategy="steps", save_steps=12)
    full.train()
    resumed, rates, sched, _ = _token_trainer(tmp_path / "resumed", 30)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        resumed.train(resume_from_checkpoint=str(tmp_path / "full" / "checkpoint-12"))
    assert not [w for w in caught if issubclass(w.category, lk.SpecMismatchWarning)]
    assert resumed.state.num_input_tokens_seen == full.state.num_input_tokens_seen
    assert sched.count == full_sched.count
    assert rates.rates == full_rates.rates[12:]


@pytest.mark.parametrize("counting", ["no", False])
def test_token_clock_needs_the_token_count(tmp_path: Path, counting: Any) -> None:
    with pytest.raises(ValueError, match=r"TokenClock: TrainingArguments\."
                       r"include_num_input_tokens_seen is 'no'.*'all'.*'non_padding'"):
        _token_trainer(tmp_path, 5, counting)


def test_token_clock_checked_again_when_added_later(tmp_path: Path) -> None:
    trainer, _, _, _ = _token_trainer(tmp_path, 5)
    trainer.args.include_num_input_tokens_seen = "no"
    with pytest.raises(ValueError, match="include_num_input_tokens_seen is 'no'"):
        trainer.train()


def test_token_clock_needs_an_lrkit_scheduler(tmp_path: Path) -> None:
    model = HFRegressor()
    opt = torch.optim.SGD(model.parameters(), lr=BASE)
    args = transformers.TrainingArguments(
        output_dir=str(tmp_path), max_steps=2, report_to=[], use_cpu=True, save_strategy="no",
        disable_tqdm=True, include_num_input_tokens_seen="all")
    trainer = transformers.Trainer(
        model=model, args=args, train_dataset=hf_data(8, 1), callbacks=[TokenClock()],
        optimizers=(opt, torch.optim.lr_scheduler.LambdaLR(opt, lambda t: 1.0)))
    with pytest.raises(ValueError, match="TokenClock: the Trainer's scheduler is LambdaLR, not "
                                         "an lrkit LRScheduler"):
        trainer.train()


def test_token_clock_refuses_a_scheduler_counting_something_else(tmp_path: Path) -> None:
    trainer, _, sched, _ = _token_trainer(tmp_path, 5)
    for _ in range(3):
        sched.step()
    with pytest.raises(ValueError, match=r"TokenClock: the scheduler's count is 3 but the "
                                         r"Trainer has seen 0 tokens"):
        trainer.train()


# == Lightning =========================================================================

pl = pytest.importorskip("lightning.pytorch")
BATCHES = 16  # training batches per epoch


class _LitRegressor(pl.LightningModule):  # type: ignore[misc,name-defined]
    def __init__(self, schedule: lk.Schedule) -> None:
        super().__init__()
        self.body = torch.nn.Linear(4, 8)
        self.head = torch.nn.Linear(8, 1)
        self.plan = schedule
        self.scheduler: LRScheduler | None = None

    def training_step(self, batch, batch_idx):  # type: ignore[no-untyped-def]
        x, y = batch
        return torch.nn.functional.mse_loss(self.head(torch.tanh(self.body(x))), y)

    def configure_optimizers(self):  # type: ignore[no-untyped-def]
        opt = torch.optim.SGD(self.parameters(), lr=BASE)
        self.scheduler = LRScheduler(opt, self.plan)
        return {"optimizer": opt,
                "lr_scheduler": {"scheduler": self.scheduler, "interval": "step"}}


class _LitRates(pl.Callback):  # type: ignore[misc,name-defined]
    """The rate of every training batch (one optimizer step each)."""

    def __init__(self) -> None:
        self.rates: list[float] = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):  # type: ignore[no-untyped-def]
        self.rates.append(float(trainer.optimizers[0].param_groups[0]["lr"]))


class _LitReplan(pl.Callback):  # type: ignore[misc,name-defined]
    """``replan(SHORT, ramp=REPLAN_RAMP)`` before the batch after optimizer step
    ``REPLAN_AT`` (placed before the recorder, which then sees the new rate)."""

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):  # type: ignore[no-untyped-def]
        if trainer.global_step == REPLAN_AT:
            assert pl_module.scheduler.count == REPLAN_AT
            pl_module.scheduler.replan(SHORT, ramp=REPLAN_RAMP)


def _fit(root: Path, schedule: lk.Schedule, max_steps: int, callbacks: Sequence[Any] = (),
         ckpt_path: Path | None = None, checkpoint: bool = False) -> tuple[_Rates, Any]:
    torch.manual_seed(0)
    model = _LitRegressor(schedule)
    rates = _LitRates()
    extra = [pl.callbacks.ModelCheckpoint(dirpath=root / "ckpt", every_n_train_steps=AT,
                                          save_top_k=-1)] if checkpoint else []
    trainer = pl.Trainer(
        max_steps=max_steps, max_epochs=-1, accelerator="cpu", devices=1, default_root_dir=root,
        logger=False, enable_checkpointing=checkpoint, enable_progress_bar=False,
        enable_model_summary=False, callbacks=[*callbacks, rates, *extra])
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(BATCHES * 4, 4, generator=gen)
    y = x.sum(1, keepdim=True).sin() + 0.3 * torch.randn(BATCHES * 4, 1, generator=gen)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=4)
    trainer.fit(model, loader, ckpt_path=None if ckpt_path is None else str(ckpt_path))
    return rates, model


def _step_checkpoint(root: Path) -> Path:
    return next((root / "ckpt").glob(f"*step={AT}.ckpt"))


@pytest.fixture(scope="module")
def lit_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("lit-60")
    rates, _ = _fit(root, OLD, 60, checkpoint=True)
    _expect(rates.rates, 0, old)
    return _step_checkpoint(root)


def test_lightning_resume_with_a_splice_is_quiet_and_continues_the_plan(
        lit_checkpoint: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="lrkit")
    with warnings.catch_warnings():
        warnings.simplefilter("error", lk.SpecMismatchWarning)
        rates, model = _fit(tmp_path, lk.splice(OLD, NEW, at=AT, ramp=RAMP), 120,
                            ckpt_path=lit_checkpoint)
    assert not [r for r in caplog.records if r.name == "lrkit"]
    assert model.scheduler.count == 120
    assert len(rates.rates) == 120 - AT
    _expect(rates.rates, AT, lambda t: spliced(old, new, AT, RAMP, t))


def test_lightning_naive_resume_warns_and_logs(
        lit_checkpoint: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="lrkit")
    expected = _jump_message(AT, BASE * old(AT), BASE * new(AT))
    with pytest.warns(lk.SpecMismatchWarning, match=expected.replace("(", r"\(").replace(
            ")", r"\)")):
        rates, _ = _fit(tmp_path, NEW, 120, ckpt_path=lit_checkpoint)
    (record,) = _lrkit_records(caplog, logging.WARNING)
    assert expected in record.getMessage()
    _expect(rates.rates, AT, new)


def test_lightning_replanned_run_resumed_by_the_original_code_continues_the_replan(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="lrkit")
    full, full_model = _fit(tmp_path / "full", OLD, 60, [_LitReplan()], checkpoint=True)
    plan = lambda t: spliced(old, short, REPLAN_AT, REPLAN_RAMP, t)  # noqa: E731
    _expect(full.rates, 0, plan)
    caplog.clear()
    with warnings.catch_warnings():
        warnings.simplefilter("error", lk.SpecMismatchWarning)
        rates, model = _fit(tmp_path / "resumed", OLD, 60,
                            ckpt_path=_step_checkpoint(tmp_path / "full"))
    assert not _lrkit_records(caplog, logging.WARNING)
    (info,) = _lrkit_records(caplog, logging.INFO)
    assert "continuing the saved plan" in info.getMessage()
    assert model.scheduler.count == 60
    _expect(rates.rates, AT, plan)
    assert rates.rates == full.rates[AT:]
    assert model.scheduler.schedules == full_model.scheduler.schedules



def test_token_clock_refuses_a_run_that_counts_no_tokens(tmp_path: Path) -> None:
    """A model whose input is not ``input_ids``: the Trainer logs a warning and counts nothing;
    the schedule would stay at s(0)."""
    model = HFRegressor()
    opt = torch.optim.SGD(model.parameters(), lr=BASE)
    args = transformers.TrainingArguments(
        output_dir=str(tmp_path), max_steps=3, report_to=[], use_cpu=True, save_strategy="no",
        disable_tqdm=True, include_num_input_tokens_seen="all")
    trainer = transformers.Trainer(model=model, args=args, train_dataset=hf_data(16, 1),
                                   optimizers=(opt, LRScheduler(opt, IN_TOKENS)),
                                   callbacks=[TokenClock()])
    with pytest.raises(ValueError, match=r"TokenClock: the Trainer counted no tokens in the "
                                         r"first optimizer step.*'input_ids'"):
        trainer.train()
