"""LRScheduler inside the real Lightning Trainer, both distributions (``lightning.pytorch`` and
``pytorch_lightning``), tiny models. Oracles: the formula written out; torch's
ReduceLROnPlateau driven by the same Trainer (Lightning feeds it the monitor itself); torch's
LambdaLR with a list of functions; the uninterrupted run for ``fit(ckpt_path=...)``."""

from __future__ import annotations

import csv
import importlib
import itertools
import math
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
import torch
from _torch_testing import LIGHTNING_WARNINGS
from torch.optim.lr_scheduler import LambdaLR, ReduceLROnPlateau

import lrkit as lk
from lrkit.torch.scheduler import LRScheduler

pytest.importorskip("lightning")
pytest.importorskip("pytorch_lightning")
from lrkit.lightning import ReportMetric

pytestmark = [
    pytest.mark.slow,
    *LIGHTNING_WARNINGS,
]

PACKAGES = ["lightning.pytorch", "pytorch_lightning"]
STEPS, WARM, BASE = 24, 4, 0.05
LR, HEAD = 0.05, 2.0  # the head's group runs at HEAD * LR
PLATEAU = {"factor": 0.5, "patience": 0, "threshold": 0.1}  # validations every epoch: few
BATCHES = 16  # training batches per epoch


@pytest.fixture(params=PACKAGES)
def pl(request: pytest.FixtureRequest) -> Any:
    return importlib.import_module(request.param)


# -- the schedule alone (no metric) -----------------------------------------------------------

def _flat_module(pl: Any) -> Any:
    class Flat(pl.LightningModule):  # type: ignore[misc,name-defined]
        def __init__(self, schedule: lk.Schedule, plateau: bool) -> None:
            super().__init__()
            self.layer = torch.nn.Linear(3, 1)
            self.schedule = schedule
            self.plateau = plateau

        def training_step(self, batch, batch_idx):  # type: ignore[no-untyped-def]
            x, y = batch
            loss = torch.nn.functional.mse_loss(self.layer(x), y)
            # a "loss" that never improves after the first step: plateau reductions happen
            self.log("flat", 1.0 + (batch_idx == 0) * -0.5, on_step=True, on_epoch=False)
            return loss

        def configure_optimizers(self):  # type: ignore[no-untyped-def]
            opt = torch.optim.SGD(self.parameters(), lr=BASE)
            config = {"scheduler": LRScheduler(opt, self.schedule), "interval": "step"}
            if self.plateau:
                config |= {"reduce_on_plateau": True, "monitor": "flat"}
            return {"optimizer": opt, "lr_scheduler": config}

    return Flat


def _fit_logged(pl: Any, tmp_path: Path, schedule: lk.Schedule,
                plateau: bool = False) -> list[float]:
    gen = torch.Generator().manual_seed(0)
    data = torch.utils.data.TensorDataset(torch.randn(STEPS * 2, 3, generator=gen),
                                          torch.randn(STEPS * 2, 1, generator=gen))
    loader = torch.utils.data.DataLoader(data, batch_size=2)
    trainer = pl.Trainer(
        max_steps=STEPS, accelerator="cpu", devices=1, default_root_dir=tmp_path,
        logger=pl.loggers.CSVLogger(tmp_path), log_every_n_steps=1,
        callbacks=[pl.callbacks.LearningRateMonitor(logging_interval="step")],
        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
    )
    trainer.fit(_flat_module(pl)(schedule, plateau), loader)
    with open(next(Path(tmp_path).rglob("metrics.csv"))) as f:
        rows = list(csv.DictReader(f))
    column = next(k for k in rows[0] if k.startswith("lr-"))
    return [float(r[column]) for r in rows if r.get(column)]


def test_logged_rate_follows_the_schedule(pl: Any, tmp_path: Path) -> None:
    logged = _fit_logged(pl, tmp_path, lk.warmup(lk.cosine(STEPS - WARM), WARM))
    expected = [BASE * (t / WARM if t < WARM else
                        0.5 * (1 + math.cos(math.pi * (t - WARM) / (STEPS - WARM))))
                for t in range(STEPS)]
    assert logged == pytest.approx(expected, rel=1e-12, abs=1e-15)


def test_a_metric_logged_every_step_can_use_reduce_on_plateau(pl: Any, tmp_path: Path) -> None:
    """Lightning's own path works when the monitor exists at every step (a training metric)."""
    logged = _fit_logged(pl, tmp_path, lk.plateau(patience=2, factor=0.5), plateau=True)
    # metric 0.5 at step 0, then 1.0 forever: the 3rd bad report (after step 3) reduces,
    # then every 3 more (patience 2): rates for steps 0..23 written out
    expected = [BASE * 0.5 ** ((t - 1) // 3) if t >= 4 else BASE for t in range(STEPS)]
    assert logged == pytest.approx(expected, rel=1e-12)


# -- a tiny regression model with validation, two param groups -------------------------------

def _regressor(pl: Any) -> Any:
    class Regressor(pl.LightningModule):  # type: ignore[misc,name-defined]
        def __init__(self, make: Callable[[Any], Any], config: dict[str, Any]) -> None:
            super().__init__()
            self.body = torch.nn.Linear(4, 8)
            self.head = torch.nn.Linear(8, 1)
            self.make, self.config = make, config

        def _loss(self, batch: Sequence[torch.Tensor]) -> torch.Tensor:
            x, y = batch
            return torch.nn.functional.mse_loss(self.head(torch.tanh(self.body(x))), y)

        def training_step(self, batch, batch_idx):  # type: ignore[no-untyped-def]
            return self._loss(batch)

        def validation_step(self, batch, batch_idx):  # type: ignore[no-untyped-def]
            self.log("val_loss", self._loss(batch))

        def configure_optimizers(self):  # type: ignore[no-untyped-def]
            opt = torch.optim.SGD([{"params": self.body.parameters()},
                                   {"params": self.head.parameters(), "lr": HEAD * LR}], lr=LR)
            self.scheduler = self.make(opt)
            return {"optimizer": opt,
                    "lr_scheduler": {"scheduler": self.scheduler, **self.config}}

    return Regressor


def _recorder(pl: Any) -> Any:
    class Record(pl.Callback):  # type: ignore[misc,name-defined]
        """Every group's rate at every training batch; every validation's loss by the number
        of optimizer steps taken before it."""

        def __init__(self) -> None:
            self.rates: list[list[float]] = []
            self.evals: dict[int, float] = {}

        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):  # type: ignore[no-untyped-def]
            opt = trainer.optimizers[0]
            self.rates.append([float(g["lr"]) for g in opt.param_groups])

        def on_validation_end(self, trainer, pl_module):  # type: ignore[no-untyped-def]
            if not trainer.sanity_checking:
                self.evals[trainer.global_step] = float(trainer.callback_metrics["val_loss"])

    return Record()


def _loader(n: int, seed: int, batch: int = 4) -> Any:
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 4, generator=gen)
    y = x.sum(1, keepdim=True).sin() + 0.3 * torch.randn(n, 1, generator=gen)
    return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=batch)


def _fit(pl: Any, tmp_path: Path, make: Callable[[Any], Any], config: dict[str, Any],
         callbacks: Sequence[Any] = (), ckpt_path: str | None = None,
         **trainer_kwargs: Any) -> tuple[Any, Any, Any]:
    torch.manual_seed(0)
    model = _regressor(pl)(make, config)
    record = _recorder(pl)
    settings: dict[str, Any] = {
        "max_epochs": 6, "accelerator": "cpu", "devices": 1, "default_root_dir": tmp_path,
        "logger": False, "enable_checkpointing": False, "enable_progress_bar": False,
        "enable_model_summary": False,
    } | trainer_kwargs
    trainer = pl.Trainer(callbacks=[record, *callbacks], **settings)
    trainer.fit(model, _loader(BATCHES * 4, 1), _loader(16, 2), ckpt_path=ckpt_path)
    return trainer, record, model


def _assert_same(ours: list[list[float]], theirs: list[list[float]]) -> None:
    assert len(ours) == len(theirs)
    for k, (a, b) in enumerate(zip(ours, theirs, strict=True)):
        assert a == pytest.approx(b, rel=1e-12, abs=0.0), k


def _reductions(rates: list[list[float]]) -> int:
    return sum(b[0] < a[0] for a, b in itertools.pairwise(rates))


STEP = {"interval": "step"}

# -- plateau: ReportMetric gives ReduceLROnPlateau's rates ----------------------------------


@pytest.mark.parametrize(
    ("rule", "rop_config", "cadence"),
    [  # ROP stepped per epoch, validation every epoch
     ({"factor": 0.3, "patience": 0, "threshold": 0.1}, {"monitor": "val_loss"},
      {"max_epochs": 8}),
     # ROP stepped every 4 batches, validation every 4 batches
     ({"factor": 0.5, "patience": 0, "threshold": 0.05},
      {"monitor": "val_loss", "interval": "step", "frequency": 4},
      {"max_epochs": 3, "val_check_interval": 4})],
    ids=["every-epoch", "every-4-batches"],
)
def test_plateau_equals_reduce_lr_on_plateau(pl: Any, tmp_path: Path, rule: dict[str, Any],
                                             rop_config: dict[str, Any],
                                             cadence: dict[str, Any]) -> None:
    _, theirs, _ = _fit(pl, tmp_path, lambda o: ReduceLROnPlateau(o, **rule), rop_config,
                        **cadence)
    with warnings.catch_warnings():
        warnings.filterwarnings("error", module="lrkit")  # no "never heard" warning
        _, ours, model = _fit(pl, tmp_path, lambda o: LRScheduler(o, lk.plateau(**rule)),
                              STEP, [ReportMetric("val_loss")], **cadence)
    # both groups, every batch (torch multiplies the rate chainably, lrkit computes
    # start * factor ** n: equal to the last bits for factor 0.5, to rounding otherwise)
    _assert_same(ours.rates, theirs.rates)
    assert ours.evals == pytest.approx(theirs.evals, rel=1e-9)
    assert _reductions(theirs.rates) >= 3
    assert model.scheduler.count == len(ours.rates)


def test_without_report_metric_the_plateau_never_hears(pl: Any, tmp_path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, record, _ = _fit(pl, tmp_path, lambda o: LRScheduler(o, lk.plateau(**PLATEAU)), STEP,
                            max_epochs=2)
    assert record.rates == [[LR, HEAD * LR]] * (2 * BATCHES)


def _warmup_then_rop(record: Any, warm: int) -> list[list[float]]:
    """The warmup formula, then ReduceLROnPlateau fed the validations made from step ``warm``
    on (a plateau inside a warmup hears only the metrics of its own segment)."""
    dummy = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    rop = ReduceLROnPlateau(dummy, **PLATEAU)
    out = []
    for k in range(len(record.rates)):  # a validation after k steps comes before batch k
        if k >= warm and k in record.evals:
            rop.step(record.evals[k])
        factor = k / warm if k < warm else dummy.param_groups[0]["lr"]
        out.append([LR * factor, HEAD * LR * factor])
    return out


def test_warmup_then_plateau_stepped_per_batch(pl: Any, tmp_path: Path) -> None:
    warm = BATCHES + 5  # the warmup ends inside the second epoch
    _, record, _ = _fit(pl, tmp_path, lambda o: LRScheduler(o, lk.warmup(lk.plateau(**PLATEAU),
                                                                          warm)),
                        STEP, [ReportMetric()], max_epochs=8)
    expected = _warmup_then_rop(record, warm)
    for k, (got, want) in enumerate(zip(record.rates, expected, strict=True)):
        assert got == pytest.approx(want, rel=1e-12, abs=0.0), k
    assert _reductions(record.rates[warm:]) >= 3


def test_resume_from_ckpt_path_equals_the_uninterrupted_run(pl: Any, tmp_path: Path) -> None:
    def make(o: Any) -> LRScheduler:
        return LRScheduler(o, lk.warmup(lk.plateau(**PLATEAU), BATCHES + 5))

    checkpoints = pl.callbacks.ModelCheckpoint(dirpath=tmp_path / "ckpt", save_top_k=-1,
                                               every_n_epochs=1)
    _, full, _ = _fit(pl, tmp_path, make, STEP, [ReportMetric(), checkpoints],
                      max_epochs=8, enable_checkpointing=True)
    stop = 4 * BATCHES  # after the 4th epoch's validation
    assert _reductions(full.rates[BATCHES + 5:stop]) >= 1 and _reductions(full.rates[stop:]) >= 1
    ckpt = next((tmp_path / "ckpt").glob(f"epoch=3-step={stop}*.ckpt"))
    _, resumed, model = _fit(pl, tmp_path / "resumed", make, STEP, [ReportMetric()],
                             max_epochs=8, ckpt_path=str(ckpt))
    assert model.scheduler.count == len(full.rates)
    assert resumed.rates == full.rates[stop:]
    assert resumed.evals == {k: v for k, v in full.evals.items() if k > stop}


# -- ReportMetric's rules and errors -------------------------------------------------------

class _Counting(LRScheduler):
    """An LRScheduler that remembers what it was told."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.heard: list[float] = []
        super().__init__(*args, **kwargs)

    def report(self, metric: Any) -> None:
        self.heard.append(float(metric))
        super().report(metric)


def test_the_sanity_check_and_validate_are_not_reported(pl: Any, tmp_path: Path) -> None:
    trainer, record, model = _fit(pl, tmp_path, lambda o: _Counting(o, lk.plateau()), STEP,
                                  [ReportMetric()], max_epochs=3, num_sanity_val_steps=2)
    assert model.scheduler.heard == list(record.evals.values())
    assert len(model.scheduler.heard) == 3
    trainer.validate(model, _loader(16, 2), verbose=False)
    assert len(model.scheduler.heard) == 3


def test_one_class_passes_both_packages_checks() -> None:
    import lightning.pytorch as lpt
    import pytorch_lightning as ptl

    callback = ReportMetric()
    assert isinstance(callback, lpt.Callback) and isinstance(callback, ptl.Callback)
    assert issubclass(ReportMetric, lpt.Callback) and issubclass(ReportMetric, ptl.Callback)


def test_a_single_callback_argument_works(pl: Any, tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = _regressor(pl)(lambda o: _Counting(o, lk.plateau()), STEP)
    trainer = pl.Trainer(max_epochs=1, callbacks=ReportMetric(), logger=False,
                         enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, default_root_dir=tmp_path)
    trainer.fit(model, _loader(16, 1), _loader(16, 2))
    assert len(model.scheduler.heard) == 1


def test_a_missing_monitor_names_the_logged_metrics(pl: Any, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"'val_acc' is not among the logged metrics "
                                         r"\['val_loss'\]"):
        _fit(pl, tmp_path, lambda o: LRScheduler(o, lk.plateau()), STEP, [ReportMetric("val_acc")])


def test_strict_false_warns_and_skips(pl: Any, tmp_path: Path) -> None:
    with pytest.warns(UserWarning, match=r"'val_acc' is not among.*strict=False"):
        _, _, model = _fit(pl, tmp_path, lambda o: _Counting(o, lk.plateau()), STEP,
                           [ReportMetric("val_acc", strict=False)], max_epochs=2)
    assert model.scheduler.heard == []


def test_no_lrkit_scheduler_is_an_error(pl: Any, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"none of the trainer's lr schedulers is an lrkit "
                                         r"LRScheduler \(it has: \['StepLR'\]\).*interval"):
        _fit(pl, tmp_path, lambda o: torch.optim.lr_scheduler.StepLR(o, 5), {},
             [ReportMetric()])


def test_reduce_on_plateau_with_an_lrkit_scheduler_is_an_error(pl: Any, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"reduce_on_plateau=True \(monitor 'val_loss'\).*"
                                         r"Remove 'reduce_on_plateau' and 'monitor'"):
        _fit(pl, tmp_path, lambda o: LRScheduler(o, lk.plateau()),
             {"interval": "step", "reduce_on_plateau": True, "monitor": "val_loss"},
             [ReportMetric()])


def test_a_schedule_without_plateau_warns_once(pl: Any, tmp_path: Path) -> None:
    callback = ReportMetric()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _fit(pl, tmp_path, lambda o: _Counting(o, lk.cosine(40)), STEP, [callback], max_epochs=2)
        _, _, model = _fit(pl, tmp_path, lambda o: _Counting(o, lk.cosine(40)), STEP, [callback],
                           max_epochs=2)
    ours = [str(w.message) for w in caught if "ReportMetric" in str(w.message)]
    assert len(ours) == 1, ours
    assert "contains plateau()" in ours[0] and "cosine(steps=40)" in ours[0]
    assert model.scheduler.heard == []


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"monitor": ""}, "monitor must be the name of a logged metric"),
    ({"monitor": None}, "monitor must be the name of a logged metric"),
    ({"strict": "yes"}, "strict must be True or False"),
])
def test_bad_arguments(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        ReportMetric(**kwargs)


# -- per-group schedules ---------------------------------------------------------------------

def test_per_group_schedules_equal_lambda_lr_with_a_list(pl: Any, tmp_path: Path) -> None:
    schedules = [lk.join([lk.constant(0.0), lk.warmup(lk.cosine(40, end=0.1), 8)], [BATCHES]),
                 lk.constant()]
    functions = [lambda t, s=s: float(s(t)) for s in schedules]
    _, theirs, _ = _fit(pl, tmp_path, lambda o: LambdaLR(o, functions), STEP, max_epochs=4)
    _, ours, _ = _fit(pl, tmp_path, lambda o: LRScheduler(o, schedules), STEP, max_epochs=4)
    _assert_same(ours.rates, theirs.rates)
    assert ours.evals == pytest.approx(theirs.evals, rel=1e-9)
    assert theirs.rates[0] == [0.0, HEAD * LR] and theirs.rates[BATCHES + 4][0] > 0.0


# -- the "no metric" warning under the Trainer --------------------------------------------

@pytest.mark.parametrize("report", [True, False], ids=["with-ReportMetric", "without"])
def test_no_metric_warning_only_when_no_metric_arrives(pl: Any, tmp_path: Path, report: bool,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """The quiet stretch shortened from 2000 steps to 30 (lrkit._silence.QUIET_STEPS) to keep
    the run short: 6 epochs of 16 batches, a validation after each."""
    import lrkit._silence

    monkeypatch.setattr(lrkit._silence, "QUIET_STEPS", 30)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _fit(pl, tmp_path, lambda o: LRScheduler(o, lk.plateau(patience=100)), STEP,
             [ReportMetric()] if report else [])
    said = [str(w.message) for w in caught if issubclass(w.category, lk.NoMetricWarning)]
    if report:
        assert said == []
    else:
        assert len(said) == 1 and "lrkit.lightning.ReportMetric" in said[0]


@pytest.mark.parametrize(
    ("quiet", "settings", "gap"),
    [(10, {}, 16),  # a validation after each epoch of 16 batches
     (20, {"check_val_every_n_epoch": 2}, 32),  # every 32 batches
     (5, {"val_check_interval": 0.5}, 8),  # every 8 batches
     (5, {"accumulate_grad_batches": 2}, 8)],  # 8 optimizer steps (scheduler steps) per epoch
    ids=["epoch", "every-2-epochs", "half-epoch", "accumulation"])
def test_validations_further_apart_than_the_quiet_stretch_are_waited_for(
        pl: Any, tmp_path: Path, quiet: int, settings: dict[str, Any], gap: int,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """ReportMetric tells each scheduler the trainer's validation interval in its own steps: no
    false alarm before the first validation; without ReportMetric the warning still comes."""
    import lrkit._silence

    monkeypatch.setattr(lrkit._silence, "QUIET_STEPS", quiet)
    for report in (True, False):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            trainer, record, _ = _fit(pl, tmp_path,
                                      lambda o: LRScheduler(o, lk.plateau(patience=100)),
                                      STEP, [ReportMetric()] if report else [], **settings)
        said = [str(w.message) for w in caught if issubclass(w.category, lk.NoMetricWarning)]
        assert len(record.evals) >= 3, record.evals
        assert len(said) == (0 if report else 1), (report, said)
        if report:  # the interval it was told, in scheduler steps: twice it is waited for
            assert trainer.lr_scheduler_configs[0].scheduler._watch.per_epoch == 2 * gap
