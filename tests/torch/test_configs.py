"""The config files under examples/configs/ work as written: the Hydra ``instantiate`` config
and the HF ``TrainingArguments`` YAML (the LightningCLI YAML: test_lightning_cli.py). Oracles:
the formulas written out; torch's ReduceLROnPlateau fed the evaluations the plateau saw."""

from __future__ import annotations

import math
import sys
import warnings
from pathlib import Path
from typing import Any

import pytest
import torch
from torch.optim.lr_scheduler import ReduceLROnPlateau

from lrkit.torch import LRScheduler

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = ROOT / "examples" / "configs"


def _example(name: str) -> Any:
    sys.path.insert(0, str(ROOT / "examples"))
    try:
        return __import__(name)
    finally:
        sys.path.remove(str(ROOT / "examples"))


def test_hydra_config_instantiates_optimizer_and_scheduler() -> None:
    instantiate = pytest.importorskip("hydra.utils").instantiate
    omegaconf = pytest.importorskip("omegaconf")
    cfg = omegaconf.OmegaConf.load(CONFIGS / "hydra.yaml")
    model = torch.nn.Linear(3, 1)
    opt = instantiate(cfg.optimizer)(model.parameters())
    sched = instantiate(cfg.scheduler)(opt)
    assert isinstance(opt, torch.optim.AdamW) and isinstance(sched, LRScheduler)
    rates, decays = [], []
    for _ in range(1100):
        rates.append(opt.param_groups[0]["lr"])
        decays.append(opt.param_groups[0]["weight_decay"])
        opt.step()
        sched.step()

    def rate(t: int) -> float:  # warmup(cosine(steps=900, end=0.01), steps=100) * 3e-4
        if t < 100:
            return 3e-4 * t / 100
        u = min(t - 100, 900)
        return 3e-4 * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * u / 900)))

    assert rates == pytest.approx([rate(t) for t in range(1100)], rel=1e-12, abs=1e-18)
    # hyperparams: weight_decay: [cosine(steps=1000), relative], a list as YAML writes the pair
    expected = [0.05 * 0.5 * (1 + math.cos(math.pi * min(t, 1000) / 1000)) for t in range(1100)]
    assert decays == pytest.approx(expected, rel=1e-12, abs=1e-18)


def test_hydra_config_with_one_schedule_per_param_group() -> None:
    instantiate = pytest.importorskip("hydra.utils").instantiate
    omegaconf = pytest.importorskip("omegaconf")
    cfg = omegaconf.OmegaConf.load(CONFIGS / "hydra_fine_tuning.yaml")
    backbone, head = torch.nn.Linear(3, 3), torch.nn.Linear(3, 1)
    opt = instantiate(cfg.optimizer)([{"params": backbone.parameters()},
                                      {"params": head.parameters(), "lr": 1.0e-3}])
    sched = instantiate(cfg.scheduler)(opt)
    rates = []
    for _ in range(1100):
        rates.append([g["lr"] for g in opt.param_groups])
        opt.step()
        sched.step()

    def backbone_rate(t: int) -> float:  # frozen 100 steps, warmup 100, cosine 800 to 0.01
        if t < 100:
            return 0.0
        if t < 200:
            return 1e-4 * (t - 100) / 100
        u = min(t - 200, 800)
        return 1e-4 * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * u / 800)))

    assert [r[0] for r in rates] == pytest.approx([backbone_rate(t) for t in range(1100)],
                                                  rel=1e-12, abs=1e-18)
    assert [r[1] for r in rates] == [1e-3] * 1100


def test_hf_trainer_yaml_runs_as_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("transformers")
    import yaml

    config = CONFIGS / "hf_trainer.yaml"
    assert config.read_text().splitlines()[0] == \
        "# python examples/hf_trainer.py examples/configs/hf_trainer.yaml"
    monkeypatch.chdir(tmp_path)  # output_dir is relative, as users write it
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        trainer = _example("hf_trainer").main(str(config))
    assert (tmp_path / "hf-output").is_dir()
    settings = yaml.safe_load(config.read_text())
    base, warm = settings["learning_rate"], 10
    assert settings["lr_schedule"] == \
        f"warmup(plateau(factor=0.5, patience=1, threshold=0.01), steps={warm})"
    history = trainer.state.log_history
    evals = {e["step"]: e["eval_loss"] for e in history if "eval_loss" in e}
    logged = {e["step"]: e["learning_rate"] for e in history if "learning_rate" in e}
    assert sorted(evals) == list(range(5, 61, 5)) and sorted(logged) == list(range(5, 61, 5))
    # global step k logs the rate of its k-th optimizer step, s(k - 1); an evaluation after k
    # steps is reported at count k, before step k + 1
    dummy = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    rop = ReduceLROnPlateau(dummy, factor=0.5, patience=1, threshold=0.01)
    expected = {}
    for k in range(1, 61):
        t = k - 1
        if t >= warm and t in evals:
            rop.step(evals[t])
        expected[k] = base * (t / warm if t < warm else dummy.param_groups[0]["lr"])
    assert logged == pytest.approx({k: expected[k] for k in logged}, rel=1e-12, abs=1e-15)
    assert min(logged.values()) < base  # the plateau reduced
    # lr_hyperparams: weight_decay: [cosine(steps=120), relative], after 60 steps
    decay = trainer.optimizer.param_groups[0]["weight_decay"]
    assert decay == pytest.approx(0.01 * 0.5 * (1 + math.cos(math.pi * 60 / 120)), rel=1e-12)


def test_hydra_extended_config_resumes_hydra_yaml_quietly_and_continues(
        caplog: pytest.LogCaptureFixture) -> None:
    """hydra_extended.yaml resumes hydra.yaml's run from step 500: no report, and the rate (and
    the weight decay) at every step after it is the splice written out."""
    import logging

    instantiate = pytest.importorskip("hydra.utils").instantiate
    omegaconf = pytest.importorskip("omegaconf")
    model = torch.nn.Linear(3, 1)
    first = omegaconf.OmegaConf.load(CONFIGS / "hydra.yaml")
    opt = instantiate(first.optimizer)(model.parameters())
    sched = instantiate(first.scheduler)(opt)
    for _ in range(500):
        sched.step()
    state = sched.state_dict()
    cfg = omegaconf.OmegaConf.load(CONFIGS / "hydra_extended.yaml")
    opt = instantiate(cfg.optimizer)(model.parameters())
    resumed = instantiate(cfg.scheduler)(opt)
    caplog.set_level(logging.INFO, logger="lrkit")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        resumed.load_state_dict(state)
    assert not [r for r in caplog.records if r.name == "lrkit"]
    rates, decays = [], []
    for _ in range(500, 2100):
        rates.append(opt.param_groups[0]["lr"])
        decays.append(opt.param_groups[0]["weight_decay"])
        opt.step()
        resumed.step()

    def cosine(u: float, n: float, end: float = 0.0) -> float:
        return end + (1 - end) * 0.5 * (1 + math.cos(math.pi * min(u, n) / n))

    def old(t: float) -> float:  # warmup(cosine(steps=900, end=0.01), steps=100)
        return t / 100 if t < 100 else cosine(t - 100, 900, 0.01)

    def new(t: float) -> float:  # warmup(cosine(steps=1900, end=0.01), steps=100)
        return t / 100 if t < 100 else cosine(t - 100, 1900, 0.01)

    def splice(a: Any, b: Any, t: float) -> float:  # at=500, ramp=100
        return b(t) if t >= 600 else a(500) + (b(600) - a(500)) * (t - 500) / 100

    assert rates == pytest.approx([3e-4 * splice(old, new, t) for t in range(500, 2100)],
                                  rel=1e-12, abs=1e-18)
    expected = [0.05 * splice(lambda u: cosine(u, 1000), lambda u: cosine(u, 2000), t)
                for t in range(500, 2100)]
    assert decays == pytest.approx(expected, rel=1e-12, abs=1e-18)


def test_hf_trainer_extended_yaml_resumes_quietly_and_continues(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """hf_trainer.yaml's run, then hf_trainer_extended.yaml from its checkpoint-60: no lrkit
    report; every logged rate over both runs is the warmup then ReduceLROnPlateau fed the
    evaluations; the weight decay after 180 steps is the splice of the two cosines."""
    import logging

    pytest.importorskip("transformers")
    import yaml

    monkeypatch.chdir(tmp_path)
    example = _example("hf_trainer")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        example.main(str(CONFIGS / "hf_trainer.yaml"))
        assert (tmp_path / "hf-output" / "checkpoint-60").is_dir()
        caplog.set_level(logging.INFO, logger="lrkit")
        config = CONFIGS / "hf_trainer_extended.yaml"
        trainer = example.main(str(config))
    assert not [r for r in caplog.records if r.name == "lrkit"]
    assert config.read_text().splitlines()[0] == \
        "# python examples/hf_trainer.py examples/configs/hf_trainer_extended.yaml"
    settings = yaml.safe_load(config.read_text())
    assert settings["max_steps"] == 180 and trainer.state.global_step == 180
    base, warm = settings["learning_rate"], 10
    history = trainer.state.log_history  # the restored one (steps 1-60) and the new one
    evals = {e["step"]: e["eval_loss"] for e in history if "eval_loss" in e}
    logged = {e["step"]: e["learning_rate"] for e in history if "learning_rate" in e}
    assert sorted(evals) == list(range(5, 181, 5)) and sorted(logged) == list(range(5, 181, 5))
    dummy = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    rop = ReduceLROnPlateau(dummy, factor=0.5, patience=1, threshold=0.01)
    expected = {}
    for k in range(1, 181):
        t = k - 1
        if t >= warm and t in evals:
            rop.step(evals[t])
        expected[k] = base * (t / warm if t < warm else dummy.param_groups[0]["lr"])
    assert logged == pytest.approx({k: expected[k] for k in logged}, rel=1e-12, abs=1e-15)
    assert min(v for k, v in logged.items() if k > 60) < min(v for k, v in logged.items()
                                                             if k <= 60)  # reduced again

    def cosine(t: float, n: float) -> float:
        return 0.5 * (1 + math.cos(math.pi * min(t, n) / n))

    # splice(cosine(steps=120), cosine(steps=240), at=60, ramp=10) at t = 180 (past the ramp)
    decay = trainer.optimizer.param_groups[0]["weight_decay"]
    assert decay == pytest.approx(0.01 * cosine(180, 240), rel=1e-12)
