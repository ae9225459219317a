"""LRScheduler inside Hugging Face's real ``Trainer(optimizers=(opt, sched))``, tiny models, no
network. Oracles: the formula written out; torch's ReduceLROnPlateau driven by the same Trainer
(the Trainer feeds it the evaluations itself); torch's LambdaLR with a list of functions; the
uninterrupted run for ``resume_from_checkpoint``."""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
import torch
from _torch_testing import HFRegressor, hf_data
from torch.optim.lr_scheduler import LambdaLR, ReduceLROnPlateau

import lrkit as lk
from lrkit.torch.scheduler import LRScheduler

transformers = pytest.importorskip("transformers")
from lrkit.transformers import ReportMetric  # noqa: E402

pytestmark = pytest.mark.slow

STEPS, WARM, BASE = 20, 5, 3e-3
LR, HEAD = 0.05, 2.0  # the head's group runs at HEAD * LR
PLATEAU = {"factor": 0.5, "patience": 1, "threshold": 0.02, "cooldown": 1}


def test_trainer_logs_the_schedule(tmp_path: Path) -> None:
    torch.manual_seed(0)
    config = transformers.GPT2Config(vocab_size=32, n_positions=8, n_embd=8, n_layer=1,
                                     n_head=2)
    model = transformers.GPT2LMHeadModel(config)
    gen = torch.Generator().manual_seed(0)
    data = [{"input_ids": ids, "labels": ids}
            for ids in torch.randint(0, 32, (STEPS * 2, 8), generator=gen)]
    opt = torch.optim.AdamW(model.parameters(), lr=BASE)
    sched = LRScheduler(opt, lk.warmup(lk.linear(1.0, 0.0, STEPS - WARM), WARM))
    args = transformers.TrainingArguments(
        output_dir=str(tmp_path), max_steps=STEPS, per_device_train_batch_size=2,
        logging_steps=1, report_to=[], use_cpu=True, save_strategy="no",
        disable_tqdm=True, dataloader_num_workers=0,
    )
    trainer = transformers.Trainer(model=model, args=args, train_dataset=data,
                                   optimizers=(opt, sched))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer.train()
    logged = [(e["step"], e["learning_rate"]) for e in trainer.state.log_history
              if "learning_rate" in e]
    assert len(logged) == STEPS

    def rate(t: int) -> float:  # HF's get_linear_schedule_with_warmup, written out
        return BASE * (t / WARM if t < WARM else max(0.0, (STEPS - t) / (STEPS - WARM)))

    # the Trainer's global step k (1-based) logs the rate its k-th optimizer step used: s(k-1)
    for step, lr in logged:
        assert lr == pytest.approx(rate(step - 1), rel=1e-12, abs=1e-15), step
    assert sched.count == STEPS
    assert not math.isnan(trainer.state.log_history[-1].get("train_loss", 0.0))


# -- a tiny regression model, two param groups ---------------------------------------------



class _Record(transformers.TrainerCallback):  # type: ignore[misc]
    """The rate of every group at every optimizer step, and every evaluation's loss."""

    def __init__(self) -> None:
        self.rates: list[list[float]] = []
        self.evals: dict[int, float] = {}

    def on_pre_optimizer_step(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
        self.rates.append([float(g["lr"]) for g in kw["optimizer"].param_groups])

    def on_evaluate(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
        self.evals[state.global_step] = kw["metrics"].get("eval_loss", math.nan)


def _trainer(
    tmp_path: Path,
    make_scheduler: Callable[[torch.optim.Optimizer], Any] | None,
    callbacks: Sequence[Any] = (),
    **kwargs: Any,
) -> tuple[Any, _Record, Any]:
    torch.manual_seed(0)
    model = HFRegressor()
    opt = torch.optim.SGD([{"params": model.body.parameters()},
                           {"params": model.head.parameters(), "lr": HEAD * LR}], lr=LR)
    sched = make_scheduler(opt) if make_scheduler else None
    settings: dict[str, Any] = {
        "output_dir": str(tmp_path), "max_steps": 40, "per_device_train_batch_size": 4,
        "eval_strategy": "steps", "eval_steps": 2, "logging_strategy": "no", "report_to": [],
        "use_cpu": True, "save_strategy": "no", "disable_tqdm": True,
        "dataloader_num_workers": 0, "seed": 0, "metric_for_best_model": "eval_loss",
    } | kwargs
    record = _Record()
    trainer = transformers.Trainer(
        model=model, args=transformers.TrainingArguments(**settings),
        train_dataset=hf_data(64, 1), eval_dataset=hf_data(16, 2),
        optimizers=(opt, sched), callbacks=[record, *callbacks],
    )
    return trainer, record, sched


def _assert_same(ours: list[list[float]], theirs: list[list[float]]) -> None:
    assert len(ours) == len(theirs)
    for k, (a, b) in enumerate(zip(ours, theirs, strict=True)):
        assert a == pytest.approx(b, rel=1e-12, abs=0.0), k


def _reductions(rates: list[list[float]]) -> int:
    return sum(b[0] < a[0] for a, b in itertools.pairwise(rates))


# -- plateau: ReportMetric gives ReduceLROnPlateau's rates -------------------------------

@pytest.mark.parametrize(
    ("monitor", "rule", "cadence"),
    [("eval_loss", PLATEAU, {}),
     ("loss", {"factor": 0.3, "patience": 0, "threshold": 0.1},
      {"eval_strategy": "epoch", "max_steps": 48, "gradient_accumulation_steps": 2})],
    ids=["steps", "epoch-accumulate"],
)
def test_plateau_equals_reduce_lr_on_plateau(tmp_path: Path, monitor: str, rule: dict[str, Any],
                                             cadence: dict[str, Any]) -> None:
    theirs, rec_t, _ = _trainer(tmp_path / "rop", lambda o: ReduceLROnPlateau(o, **rule),
                                **cadence)
    theirs.train()
    ours, rec_l, sched = _trainer(tmp_path / "lrkit", lambda o: LRScheduler(o, lk.plateau(**rule)),
                                  [ReportMetric(monitor)], **cadence)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # no "metric never heard" warning
        ours.train()
    # both groups, every optimizer step (torch multiplies the rate chainably, lrkit computes
    # start * factor ** n: equal to the last bits for factor 0.5, to rounding otherwise)
    _assert_same(rec_l.rates, rec_t.rates)
    assert rec_l.evals == pytest.approx(rec_t.evals, rel=1e-9)
    assert _reductions(rec_t.rates) >= 3
    assert len(rec_t.rates) == sched.count


def test_without_report_metric_the_plateau_never_hears(tmp_path: Path) -> None:
    """The gap ReportMetric closes: the Trainer feeds only ReduceLROnPlateau."""
    trainer, record, _ = _trainer(tmp_path, lambda o: LRScheduler(o, lk.plateau(**PLATEAU)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer.train()
    assert record.rates == [[LR, HEAD * LR]] * 40


def _warmup_then_rop(record: _Record, warm: int, steps: int) -> list[list[float]]:
    """The warmup formula, then ReduceLROnPlateau fed the evaluations made from step ``warm``
    on (a plateau inside a warmup hears only the metrics of its own segment)."""
    dummy = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    rop = ReduceLROnPlateau(dummy, **PLATEAU)
    out = []
    for k in range(steps):  # an evaluation at global step k comes before optimizer step k
        if k >= warm and k in record.evals:
            rop.step(record.evals[k])
        factor = k / warm if k < warm else dummy.param_groups[0]["lr"]
        out.append([LR * factor, HEAD * LR * factor])
    return out


def test_warmup_then_plateau_stepped_per_batch(tmp_path: Path) -> None:
    warm = 7
    trainer, record, _ = _trainer(
        tmp_path, lambda o: LRScheduler(o, lk.warmup(lk.plateau(**PLATEAU), warm)),
        [ReportMetric()],
    )
    trainer.train()
    expected = _warmup_then_rop(record, warm, 40)
    for k, (got, want) in enumerate(zip(record.rates, expected, strict=True)):
        assert got == pytest.approx(want, rel=1e-12, abs=0.0), k
    assert _reductions(record.rates[warm:]) >= 3


def test_resume_from_checkpoint_equals_the_uninterrupted_run(tmp_path: Path) -> None:
    def make(o: torch.optim.Optimizer) -> LRScheduler:
        return LRScheduler(o, lk.warmup(lk.plateau(**PLATEAU), 7))

    full, rec_full, _ = _trainer(tmp_path, make, [ReportMetric()],
                                 save_strategy="steps", save_steps=14)
    full.train()
    assert _reductions(rec_full.rates[:14]) >= 1 and _reductions(rec_full.rates[14:]) >= 2
    resumed, rec_res, sched = _trainer(tmp_path, make, [ReportMetric()])
    resumed.train(resume_from_checkpoint=str(tmp_path / "checkpoint-14"))
    assert sched.count == 40
    assert rec_res.rates == rec_full.rates[14:]
    assert rec_res.evals == {k: v for k, v in rec_full.evals.items() if k > 14}


# -- ReportMetric's rules and errors -------------------------------------------------------

def test_eval_on_start_and_evaluate_outside_train_are_not_reported(tmp_path: Path) -> None:
    """As for ReduceLROnPlateau: the Trainer skips the scheduler for eval_on_start."""
    theirs, rec_t, _ = _trainer(tmp_path / "rop", lambda o: ReduceLROnPlateau(o, **PLATEAU),
                                eval_on_start=True)
    theirs.train()
    ours, rec_l, sched = _trainer(tmp_path / "lrkit",
                                  lambda o: LRScheduler(o, lk.plateau(**PLATEAU)),
                                  [ReportMetric()], eval_on_start=True)
    ours.train()
    assert 0 in rec_l.evals
    assert rec_l.rates == rec_t.rates
    before = sched.state_dict()
    ours.evaluate()
    ours.evaluate()
    assert sched.state_dict() == before


def test_several_eval_datasets_monitor_one_of_them(tmp_path: Path) -> None:
    trainer, record, _ = _trainer(tmp_path, lambda o: LRScheduler(o, lk.plateau(**PLATEAU)),
                                  [ReportMetric("eval_b_loss")],
                                  metric_for_best_model=None)
    trainer.eval_dataset = {"a": hf_data(16, 3), "b": hf_data(16, 2)}
    trainer.train()
    theirs, rec_t, _ = _trainer(tmp_path / "rop", lambda o: ReduceLROnPlateau(o, **PLATEAU),
                                metric_for_best_model="eval_b_loss")
    theirs.eval_dataset = {"a": hf_data(16, 3), "b": hf_data(16, 2)}
    theirs.train()
    assert record.rates == rec_t.rates
    assert _reductions(record.rates) >= 3


def test_a_monitor_missing_from_the_metrics_names_those_there(tmp_path: Path) -> None:
    trainer, _, _ = _trainer(tmp_path, lambda o: LRScheduler(o, lk.plateau()),
                             [ReportMetric("accuracy")])
    with pytest.raises(ValueError, match=r"'eval_accuracy' is not among the evaluation metrics "
                                         r"\[.*'eval_loss'.*\]"):
        trainer.train()


def test_several_eval_datasets_and_an_unprefixed_name(tmp_path: Path) -> None:
    trainer, _, _ = _trainer(tmp_path, lambda o: LRScheduler(o, lk.plateau()), [ReportMetric()],
                             metric_for_best_model=None)
    trainer.eval_dataset = {"a": hf_data(16, 3), "b": hf_data(16, 2)}
    with pytest.raises(ValueError, match=r"'eval_loss'.*'eval_a_loss'.*'eval_b_loss'"):
        trainer.train()


@pytest.mark.parametrize("kind", ["rop", "hf-default"])
def test_a_scheduler_that_is_not_lrkit_is_an_error(tmp_path: Path, kind: str) -> None:
    make = (lambda o: ReduceLROnPlateau(o)) if kind == "rop" else None
    trainer, _, _ = _trainer(tmp_path, make, [ReportMetric()])
    name = "ReduceLROnPlateau" if kind == "rop" else "LambdaLR"
    with pytest.raises(ValueError, match=rf"scheduler is {name}, not an lrkit LRScheduler.*"
                                         r"optimizers=\(optimizer, lrkit.torch.LRScheduler"):
        trainer.train()


def test_a_schedule_without_plateau_warns_once(tmp_path: Path) -> None:
    trainer, record, _ = _trainer(tmp_path, lambda o: LRScheduler(o, lk.cosine(40)),
                                  [ReportMetric()])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trainer.train()
    ours = [w for w in caught if "ReportMetric" in str(w.message)]
    assert len(ours) == 1, [str(w.message) for w in caught]
    assert "no plateau()" in str(ours[0].message) and "cosine(steps=40)" in str(ours[0].message)
    assert not [w for w in caught if "no schedule here contains plateau" in str(w.message)]
    expected = [LR * 0.5 * (1 + math.cos(math.pi * k / 40)) for k in range(40)]
    assert [r[0] for r in record.rates] == pytest.approx(expected, rel=1e-12, abs=1e-15)


def test_no_evaluation_strategy_warns_at_the_start(tmp_path: Path) -> None:
    trainer, _, _ = _trainer(tmp_path, lambda o: LRScheduler(o, lk.plateau()), [ReportMetric()],
                             eval_strategy="no", max_steps=2)
    with pytest.warns(UserWarning, match="eval_strategy is 'no'"):
        trainer.train()


@pytest.mark.parametrize("monitor", ["", None, 3])
def test_monitor_must_be_a_name(monitor: Any) -> None:
    with pytest.raises(ValueError, match="monitor must be the name of a logged metric"):
        ReportMetric(monitor)


def test_monitor_gets_the_eval_prefix_as_metric_for_best_model_does() -> None:
    assert ReportMetric().monitor == "eval_loss"
    assert ReportMetric("loss").monitor == "eval_loss"
    assert ReportMetric("eval_bleu").monitor == "eval_bleu"
    assert ReportMetric("accuracy").monitor == "eval_accuracy"


# -- per-group schedules ---------------------------------------------------------------------

def _fine_tuning() -> list[lk.Schedule]:
    """A frozen-then-warmed backbone, a constant head."""
    return [lk.join([lk.constant(0.0), lk.warmup(lk.cosine(25, end=0.1), 5)], [10]),
            lk.constant()]


def test_per_group_schedules_equal_lambda_lr_with_a_list(tmp_path: Path) -> None:
    schedules = _fine_tuning()
    functions = [lambda t, s=s: float(s(t)) for s in schedules]
    theirs, rec_t, _ = _trainer(tmp_path / "lambda", lambda o: LambdaLR(o, functions))
    theirs.train()
    ours, rec_l, _ = _trainer(tmp_path / "lrkit", lambda o: LRScheduler(o, schedules))
    ours.train()
    _assert_same(rec_l.rates, rec_t.rates)
    assert rec_l.evals == pytest.approx(rec_t.evals, rel=1e-9)
    assert rec_t.rates[0] == [0.0, HEAD * LR] and rec_t.rates[12][0] > 0.0


def test_per_group_plateaus_and_resume(tmp_path: Path) -> None:
    """Group 0: a plateau hearing every evaluation; group 1: a warmup, then a plateau hearing
    those from step 7 on. Each as ReduceLROnPlateau would give; resumed = uninterrupted."""
    def make(o: torch.optim.Optimizer) -> LRScheduler:
        return LRScheduler(o, [lk.plateau(**PLATEAU), lk.warmup(lk.plateau(**PLATEAU), 7)])

    full, rec_full, _ = _trainer(tmp_path, make, [ReportMetric()],
                                 save_strategy="steps", save_steps=14)
    full.train()
    group1 = [r[1] for r in _warmup_then_rop(rec_full, 7, 40)]
    dummy = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=LR)
    rop = ReduceLROnPlateau(dummy, **PLATEAU)
    group0 = []
    for k in range(40):
        if k in rec_full.evals:
            rop.step(rec_full.evals[k])
        group0.append(dummy.param_groups[0]["lr"])
    _assert_same(rec_full.rates, [list(p) for p in zip(group0, group1, strict=True)])
    assert _reductions(rec_full.rates) >= 3
    assert any(r[0] / LR != r[1] / (HEAD * LR) for r in rec_full.rates)  # the groups differ
    resumed, rec_res, _ = _trainer(tmp_path, make, [ReportMetric()])
    resumed.train(resume_from_checkpoint=str(tmp_path / "checkpoint-14"))
    assert rec_res.rates == rec_full.rates[14:]


# -- the "no metric" warning under the Trainer --------------------------------------------

@pytest.mark.parametrize("report", [True, False], ids=["with-ReportMetric", "without"])
def test_no_metric_warning_only_when_no_metric_arrives(tmp_path: Path, report: bool,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """The quiet stretch shortened from 2000 steps to 30 (lrkit._silence.QUIET_STEPS) to keep
    the run short: 100 steps, an evaluation every 10."""
    import lrkit._silence

    monkeypatch.setattr(lrkit._silence, "QUIET_STEPS", 30)
    trainer, _, _ = _trainer(tmp_path, lambda o: LRScheduler(o, lk.plateau(patience=100)),
                             [ReportMetric()] if report else [], max_steps=100, eval_steps=10)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trainer.train()
    said = [str(w.message) for w in caught if issubclass(w.category, lk.NoMetricWarning)]
    if report:
        assert said == []
    else:
        assert len(said) == 1 and "lrkit.transformers.ReportMetric" in said[0]


@pytest.mark.parametrize(
    ("quiet", "cadence", "gap"),
    [(30, {"eval_steps": 40, "max_steps": 120}, 40),  # the first evaluation after the stretch
     (10, {"eval_strategy": "epoch", "max_steps": 48}, 16),  # 16 steps per epoch
     (10, {"eval_steps": 0.25, "max_steps": 60}, 15)],  # a fraction of max_steps
    ids=["eval_steps", "epoch", "fraction"])
def test_evaluations_further_apart_than_the_quiet_stretch_are_waited_for(
        tmp_path: Path, quiet: int, cadence: dict[str, Any], gap: int,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """ReportMetric tells the scheduler the Trainer's evaluation interval: no false alarm
    before the first evaluation of a long epoch; without it the watch cannot know."""
    import lrkit._silence

    monkeypatch.setattr(lrkit._silence, "QUIET_STEPS", quiet)
    for report in (True, False):
        trainer, rec, sched = _trainer(tmp_path,
                                       lambda o: LRScheduler(o, lk.plateau(patience=100)),
                                       [ReportMetric()] if report else [], **cadence)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            trainer.train()
        said = [str(w.message) for w in caught if issubclass(w.category, lk.NoMetricWarning)]
        assert len(rec.evals) >= 3, rec.evals
        assert len(said) == (0 if report else 1), (report, said)
        assert sched._watch.per_epoch == (2 * gap if report else 0)  # what it was told
