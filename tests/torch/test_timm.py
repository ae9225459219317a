"""``lrkit.timm.TimmScheduler`` in timm's training loop, against timm's own schedulers.

Both schedulers are driven exactly as timm's ``train.py`` drives ``lr_scheduler`` (``main()`` and
``train_one_epoch`` at pytorch-image-models aa4b585): ``step_update(num_updates=n,
metric=running_loss)`` after every optimizer update, ``step(epoch + 1, eval_metric)`` after every
epoch, ``step(start_epoch)`` / ``step_update(start_epoch * updates_per_epoch)`` on resume. The rate
each update uses (read from ``optimizer.param_groups``) must equal timm's to 1e-12 relative, with
the lrkit schedule of docs/equivalence.md's timm table. timm is loaded through tests/_timm.py (its
package ``__init__`` imports torchvision, which has no CPU build here)."""

from __future__ import annotations

import argparse
import io
import math
import random
import re
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _timm import timm_scheduler, timm_train_one_epoch  # noqa: E402

import lrkit as lk  # noqa: E402
from lrkit.timm import TimmScheduler  # noqa: E402

BASE = 0.05
RTOL, ATOL = 1e-12, 1e-18


def _optimizer(lrs: tuple[float, ...] = (BASE,), scales: tuple[float, ...] | None = None) -> Any:
    groups = []
    for i, lr in enumerate(lrs):
        g: dict[str, Any] = {"params": [torch.nn.Parameter(torch.zeros(2))], "lr": lr}
        if scales is not None:
            g["lr_scale"] = scales[i]
        groups.append(g)
    return torch.optim.SGD(groups, lr=lrs[0], momentum=0.9)


def train_loop(sched: Any, opt: Any, epochs: int, upe: int, *, start_epoch: int = 0,
               metrics: list[float] | None = None, on_epoch_end: Callable[[int], None] | None = None
               ) -> np.ndarray:
    """train.py's calls: rows are updates, columns param groups, values the lr each update used.

    main(): resume with step_update(start_epoch * upe) or step(start_epoch); per epoch
    train_one_epoch, then step(epoch + 1, latest_metric). train_one_epoch: num_updates =
    epoch * upe; after each optimizer.step(), num_updates += 1 and
    step_update(num_updates=num_updates, metric=losses_m.avg)."""
    if start_epoch > 0:
        if sched.t_in_epochs:
            sched.step(start_epoch)
        else:
            sched.step_update(start_epoch * upe)
    used = []
    for epoch in range(start_epoch, epochs):
        num_updates = epoch * upe
        running = 0.0
        for batch_idx in range(upe):
            used.append([float(g["lr"]) for g in opt.param_groups])
            opt.step()
            num_updates += 1
            running = (running * batch_idx + 1.0 / num_updates) / (batch_idx + 1)
            sched.step_update(num_updates=num_updates, metric=running)
        metric = metrics[epoch] if metrics is not None else 1.0 / (epoch + 1)
        sched.step(epoch + 1, metric)
        if on_epoch_end is not None:
            on_epoch_end(epoch)
    return np.asarray(used)


def assert_rates(got: np.ndarray, want: np.ndarray, what: str = "") -> None:
    assert got.shape == want.shape, (got.shape, want.shape)
    bad = ~np.isclose(got, want, rtol=RTOL, atol=ATOL)
    if bad.any():
        k = int(np.argwhere(bad)[0][0])
        raise AssertionError(f"{what}: update {k}: lrkit {got[k]} timm {want[k]}")


def timm_warmup(core: lk.Schedule, warmup_t: float, start: float, prefix: bool) -> lk.Schedule:
    """docs/equivalence.md: timm's linear warmup from ``start`` (relative) over ``warmup_t``."""
    if warmup_t == 0:
        return core
    if prefix:
        return lk.warmup(core, warmup_t, start=start)
    return lk.join([lk.linear(start, 1.0, warmup_t), lk.shift(core, warmup_t)], [warmup_t])


def _timm(name: str, opt: Any, **kw: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # PlateauLRScheduler is deprecated
        return getattr(timm_scheduler(), name)(opt, **kw)


# --- timm's schedulers, both clocks --------------------------------------------------------

CASES = [  # (epochs, updates per epoch, warmup epochs, warmup_lr_init, warmup_prefix, lr_min)
    (12, 7, 0, 0.0, False, 0.0),
    (12, 7, 3, 1e-4, False, 1e-3),
    (15, 4, 2, 0.0, True, 0.0),
    (10, 5, 4, 2e-3, True, 5e-4),
]


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("per_update", [False, True], ids=["t_in_epochs", "t_in_updates"])
def test_cosine_lr_scheduler(case: tuple[Any, ...], per_update: bool) -> None:
    epochs, upe, w, init, prefix, lr_min = case
    k = upe if per_update else 1  # timm's factory converts epochs to updates
    ref_opt = _optimizer()
    ref = _timm("CosineLRScheduler", ref_opt, t_initial=(epochs - (w if prefix else 0)) * k,
                lr_min=lr_min, warmup_t=w * k, warmup_lr_init=init, warmup_prefix=prefix,
                cycle_limit=1, t_in_epochs=not per_update)
    want = train_loop(ref, ref_opt, epochs + 2, upe)
    spec = timm_warmup(lk.cosine((epochs - (w if prefix else 0)) * k, end=lr_min / BASE),
                       w * k, init / BASE, prefix)
    opt = _optimizer()
    got = train_loop(TimmScheduler(opt, spec, t_in_epochs=not per_update), opt, epochs + 2, upe)
    assert_rates(got, want, f"cosine {case} per_update={per_update}")
    assert len(set(want[:, 0])) > (epochs * upe if per_update else epochs) // 2  # it moved


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("per_update", [False, True], ids=["t_in_epochs", "t_in_updates"])
def test_step_lr_scheduler(case: tuple[Any, ...], per_update: bool) -> None:
    epochs, upe, w, init, prefix, _ = case
    k = upe if per_update else 1
    decay, rate = 3, 0.5
    ref_opt = _optimizer()
    ref = _timm("StepLRScheduler", ref_opt, decay_t=decay * k, decay_rate=rate, warmup_t=w * k,
                warmup_lr_init=init, warmup_prefix=prefix, t_in_epochs=not per_update)
    want = train_loop(ref, ref_opt, epochs, upe)
    spec = timm_warmup(lk.step_decay(decay * k, rate), w * k, init / BASE, prefix)
    opt = _optimizer()
    got = train_loop(TimmScheduler(opt, spec, t_in_epochs=not per_update), opt, epochs, upe)
    assert_rates(got, want, f"step {case} per_update={per_update}")


@pytest.mark.parametrize("case", CASES)
def test_updates_per_epoch_runs_an_epoch_schedule_per_update(case: tuple[Any, ...]) -> None:
    """The factory's step_on_epochs=False (times in updates) against the same schedule written in
    epochs and moved every update: TimmScheduler(t_in_epochs=False, updates_per_epoch=k)."""
    epochs, upe, w, init, prefix, lr_min = case
    ref_opt = _optimizer()
    ref, _ = timm_scheduler().create_scheduler_v2(
        ref_opt, sched="cosine", num_epochs=epochs, min_lr=lr_min, warmup_lr=init,
        warmup_epochs=w, warmup_prefix=prefix, step_on_epochs=False, updates_per_epoch=upe)
    assert ref.t_in_epochs is False
    want = train_loop(ref, ref_opt, epochs + w + 1, upe)
    spec = timm_warmup(lk.cosine(epochs, end=lr_min / BASE), w, init / BASE, prefix)
    opt = _optimizer()
    sched = TimmScheduler(opt, spec, t_in_epochs=False, updates_per_epoch=upe)
    got = train_loop(sched, opt, epochs + w + 1, upe)
    assert_rates(got, want, f"factory cosine per update {case}")


def test_factory_step_schedule_per_epoch_with_param_groups_and_lr_scale() -> None:
    """create_scheduler_v2(sched="step") with the epoch clock; three groups of different lrs, two
    with timm's layer-decay ``lr_scale``: each group's rate is initial_lr * s(t) * lr_scale."""
    lrs, scales = (0.1, 0.02, 0.3), (1.0, 0.5, 0.25)
    ref_opt = _optimizer(lrs, scales)
    ref, epochs = timm_scheduler().create_scheduler_v2(
        ref_opt, sched="step", num_epochs=20, decay_epochs=4, decay_rate=0.3,
        warmup_epochs=3, warmup_lr=0.0, warmup_prefix=True, updates_per_epoch=6)
    want = train_loop(ref, ref_opt, epochs, 6)
    opt = _optimizer(lrs, scales)
    sched = TimmScheduler(opt, lk.warmup(lk.step_decay(4, 0.3), 3))
    got = train_loop(sched, opt, epochs, 6)
    assert want.shape == (23 * 6, 3)
    assert_rates(got, want, "factory step, 3 groups")


def test_absolute_mode() -> None:
    ref_opt = _optimizer((0.4, 0.4))
    ref = _timm("CosineLRScheduler", ref_opt, t_initial=50, lr_min=1e-3, warmup_t=5,
                warmup_lr_init=1e-4)
    want = train_loop(ref, ref_opt, 60, 3)
    spec = 0.4 * timm_warmup(lk.cosine(50, end=1e-3 / 0.4), 5, 1e-4 / 0.4, False)
    opt = _optimizer((1.0, 7.0))  # the groups' own lrs do not matter
    got = train_loop(TimmScheduler(opt, spec, mode="absolute"), opt, 60, 3)
    assert_rates(got, want, "absolute")


@pytest.mark.parametrize("seed", range(4))
def test_plateau_hears_the_epoch_metric(seed: int) -> None:
    """timm's PlateauLRScheduler (torch's ReduceLROnPlateau) stepped with step(epoch + 1,
    metric): lrkit's plateau in a TimmScheduler, fed the same way, gives its rates; the
    running training loss given to step_update is not reported (timm ignores it too)."""
    r = random.Random(seed)
    mode = "max" if seed % 2 else "min"
    rate, patience, cooldown = r.uniform(0.2, 0.8), r.randint(0, 3), r.randint(0, 2)
    warmup_t, init = (0, 0.0) if seed < 2 else (r.randint(1, 4), BASE * r.uniform(0, 0.5))
    sign = -1 if mode == "max" else 1
    metrics = [sign * (1.0 / (1 + e) + r.uniform(0, 0.3)) for e in range(40)]
    if warmup_t:  # the last warmup epoch's metric, the best of all, is not heard by timm
        metrics[warmup_t - 1] = -sign * 10.0
    ref_opt = _optimizer()
    ref = _timm("PlateauLRScheduler", ref_opt, decay_rate=rate, patience_t=patience,
                cooldown_t=cooldown, warmup_t=warmup_t, warmup_lr_init=init, lr_min=1e-4,
                mode=mode)
    want = train_loop(ref, ref_opt, 40, 3, metrics=metrics)
    plateau = lk.plateau(factor=rate, patience=patience, mode=mode, cooldown=cooldown,
                         min_value=1e-4 / BASE)
    spec = lk.warmup(plateau, warmup_t, start=init / BASE) if warmup_t else plateau
    opt = _optimizer()
    got = train_loop(TimmScheduler(opt, spec), opt, 40, 3, metrics=metrics)
    assert_rates(got, want, f"plateau seed={seed}")
    assert want[-1, 0] < BASE  # it reduced


# --- timm's own train_one_epoch ---------------------------------------------------------------

class _Task:
    """What train_one_epoch calls of timm's TrainingTask (timm.task imports torchvision)."""

    def __init__(self, model: Any) -> None:
        self.model = model

    def get_trainable_module(self, ema: bool = False) -> Any:
        return self.model

    def __call__(self, input: Any, target: Any) -> dict[str, Any]:
        return {"loss": torch.nn.functional.mse_loss(self.model(input), target)}

    def update_ema(self, step: int | None = None) -> None:
        pass


def run_train_py(make_sched: Callable[[Any], Any], epochs: int, n_batches: int, accum: int
                 ) -> tuple[np.ndarray, Any]:
    """train.py's main() epoch loop (no eval loader: latest_metric is the training loss) around
    timm's own train_one_epoch; returns the lr of every optimizer.step() and the weights."""
    train_one_epoch = timm_train_one_epoch()
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 1)
    opt = torch.optim.SGD(model.parameters(), lr=BASE, momentum=0.9)
    used: list[float] = []
    opt.register_step_pre_hook(lambda o, a, k: used.append(float(o.param_groups[0]["lr"])))
    sched = make_sched(opt)
    g = torch.Generator().manual_seed(1)
    loader = [(torch.randn(4, 3, generator=g), torch.randn(4, 1, generator=g))
              for _ in range(n_batches)]
    args = argparse.Namespace(
        mixup_off_epoch=0, distributed=False, grad_accum_steps=accum, prefetcher=False,
        channels_last=False, clip_grad=None, clip_mode="norm", synchronize_step=False,
        log_interval=50, save_images=False, recovery_interval=0, rank=0, world_size=1)
    updates_per_epoch = (len(loader) + accum - 1) // accum
    for epoch in range(epochs):
        train_metrics = train_one_epoch(
            epoch, model, loader, opt, args, task=_Task(model), device=torch.device("cpu"),
            lr_scheduler=sched, num_updates_total=epochs * updates_per_epoch)
        sched.step(epoch + 1, train_metrics["loss"])
    return np.asarray(used)[:, None], [p.detach().clone() for p in model.parameters()]


@pytest.mark.parametrize("per_update", [False, True], ids=["t_in_epochs", "t_in_updates"])
def test_timms_train_one_epoch(per_update: bool) -> None:
    """7 batches, gradient accumulation 2 (4 updates an epoch, the last of one batch), the
    factory's cosine with a 2-epoch warmup: timm's train_one_epoch gives both the same rates."""
    epochs, upe = 6, 4

    def timm_sched(opt: Any) -> Any:
        return timm_scheduler().create_scheduler_v2(
            opt, sched="cosine", num_epochs=epochs, min_lr=1e-4, warmup_lr=1e-3,
            warmup_epochs=2, step_on_epochs=not per_update, updates_per_epoch=upe)[0]

    spec = timm_warmup(lk.cosine(epochs, end=1e-4 / BASE), 2, 1e-3 / BASE, False)
    want, w_want = run_train_py(timm_sched, epochs, 7, 2)
    got, w_got = run_train_py(
        lambda opt: TimmScheduler(opt, spec, t_in_epochs=not per_update,
                                  updates_per_epoch=upe if per_update else None),
        epochs, 7, 2)
    assert want.shape == (epochs * upe, 1)
    assert_rates(got, want, f"train_one_epoch per_update={per_update}")
    for a, b in zip(w_got, w_want, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-9)


def test_per_update_clock_with_a_plateau_fed_each_epoch() -> None:
    """t_in_epochs=False, updates_per_epoch=5, ``plateau * cosine(8)`` (8 epochs): each update
    gets base * cosine(n / 5 epochs) * factor ** reductions, the reductions those of torch's
    ReduceLROnPlateau fed the same epoch metrics (a reduction applies from the next update)."""
    metrics = [1.0, 0.8, 0.9, 0.95, 0.99, 0.7, 0.75, 0.8, 0.85]
    p = torch.nn.Parameter(torch.zeros(1))
    ref_opt = torch.optim.SGD([p], lr=1.0)
    ref = torch.optim.lr_scheduler.ReduceLROnPlateau(ref_opt, factor=0.5, patience=1)
    want = []
    for epoch in range(9):
        scale = ref_opt.param_groups[0]["lr"]
        for b in range(5):
            x = min((epoch * 5 + b) / 5 / 8, 1.0)
            want.append([BASE * (1 + math.cos(math.pi * x)) / 2 * scale])
        ref.step(metrics[epoch])
    opt = _optimizer()
    sched = TimmScheduler(opt, "plateau(factor=0.5, patience=1) * cosine(steps=8)",
                          t_in_epochs=False, updates_per_epoch=5)
    got = train_loop(sched, opt, 9, 5, metrics=metrics)
    assert_rates(got, np.asarray(want), "per-update clock, epoch metrics")
    assert ref_opt.param_groups[0]["lr"] < 0.5


# --- resume --------------------------------------------------------------------------------

def _save_load(state: dict[str, Any]) -> dict[str, Any]:
    buf = io.BytesIO()
    torch.save(state, buf)
    buf.seek(0)
    return torch.load(buf, weights_only=True)  # type: ignore[no-any-return]


@pytest.mark.parametrize("per_update", [False, True], ids=["t_in_epochs", "t_in_updates"])
def test_resume_from_state_dict_is_exact(per_update: bool) -> None:
    """A checkpoint after epoch 5 (scheduler state through torch.save/torch.load(weights_only=
    True)), loaded into a fresh scheduler whose optimizer holds another lr: the rate read right
    after load_state_dict, and every rate of the rest of the run, equal the uninterrupted run."""
    spec = lk.warmup(lk.plateau(factor=0.5, patience=1) * lk.cosine(30), 3, start=0.1)
    metrics = [1.0, 0.9, 0.95, 0.97, 0.99, 0.98, 0.99, 1.0, 0.5, 0.6, 0.7, 0.8] * 3
    kw = dict(t_in_epochs=not per_update, updates_per_epoch=4 if per_update else None)
    opt = _optimizer()
    full = train_loop(TimmScheduler(opt, spec, **kw), opt, 12, 4, metrics=metrics)

    opt1 = _optimizer()
    s1 = TimmScheduler(opt1, spec, **kw)
    saved: dict[str, Any] = {}
    train_loop(s1, opt1, 6, 4, metrics=metrics,
               on_epoch_end=lambda e: saved.update(s1.state_dict()) if e == 5 else None)
    state = _save_load(saved)
    opt2 = _optimizer((0.9,))  # another lr: the saved base must win
    s2 = TimmScheduler(opt2, spec, **kw)
    s2.load_state_dict(state)
    assert opt2.param_groups[0]["lr"] == pytest.approx(full[24, 0], rel=RTOL)
    rest = train_loop(s2, opt2, 12, 4, start_epoch=6, metrics=metrics)
    assert_rates(rest, full[24:], "resumed")
    assert min(full[:, 0]) < full[12, 0] * 0.3  # the plateau reduced


def test_train_py_resume_by_start_epoch_matches_timm() -> None:
    """timm's train.py resumes a stateless schedule with step(start_epoch) on a fresh scheduler."""
    ref_opt = _optimizer()
    ref = _timm("CosineLRScheduler", ref_opt, t_initial=20, warmup_t=3, warmup_lr_init=1e-3)
    want = train_loop(ref, ref_opt, 20, 5, start_epoch=7)
    opt = _optimizer()
    spec = timm_warmup(lk.cosine(20), 3, 1e-3 / BASE, False)
    got = train_loop(TimmScheduler(opt, spec), opt, 20, 5, start_epoch=7)
    assert_rates(got, want, "start_epoch=7")


# --- bad input --------------------------------------------------------------------------

def _tampered() -> list[tuple[str, Callable[[dict[str, Any]], None], str]]:
    def put(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
        return lambda s: s.__setitem__(key, value)

    def drop(key: str) -> Callable[[dict[str, Any]], None]:
        return lambda s: s.pop(key)

    return [
        ("count", put("count", -1), "count"),
        ("count", put("count", 2.9), "count"),
        ("count", put("count", 10**309), "count"),
        ("count", put("count", "5"), "count"),
        ("count", drop("count"), "count"),
        ("base_lrs", put("base_lrs", [math.nan]), "base_lrs[0]"),
        ("base_lrs", put("base_lrs", [math.inf]), "base_lrs[0]"),
        ("base_lrs", put("base_lrs", [-0.1]), "base_lrs[0]"),
        ("base_lrs", put("base_lrs", [0.1, 0.2]), "base_lrs"),
        ("base_lrs", put("base_lrs", [True]), "base_lrs[0]"),
        ("t_in_epochs", put("t_in_epochs", False), "t_in_epochs"),
        ("t_in_epochs", put("t_in_epochs", 1), "t_in_epochs"),
        ("mode", put("mode", "absolute"), "mode"),
        ("updates_per_epoch", put("updates_per_epoch", 10), "updates_per_epoch"),
        ("format_version", put("format_version", 99), "format_version"),
        ("plateaus", put("plateaus", "x"), "plateaus"),
        ("plateaus", put("plateaus", [{"best": None, "num_bad_epochs": 0,
                                       "cooldown_counter": 0, "reductions": 0}]), "plateau"),
        ("metric", put("metric", "low"), "metric"),
    ]


@pytest.mark.parametrize("case", range(len(_tampered())))
def test_bad_state_is_a_value_error_and_changes_nothing(case: int) -> None:
    name, tamper, says = _tampered()[case]
    spec = lk.warmup(lk.plateau(patience=0) * lk.cosine(20), 2)
    opt = _optimizer()
    sched = TimmScheduler(opt, spec)
    train_loop(sched, opt, 4, 2, metrics=[1.0, 2.0, 3.0, 4.0])
    state = sched.state_dict()
    before = (sched.state_dict(), [dict((k, v) for k, v in g.items() if k != "params")
                                   for g in opt.param_groups])
    bad = dict(state)
    tamper(bad)
    with pytest.raises(ValueError, match=re.escape(says)):
        sched.load_state_dict(bad)
    after = (sched.state_dict(), [dict((k, v) for k, v in g.items() if k != "params")
                                  for g in opt.param_groups])
    assert after == before, name


@pytest.mark.parametrize(("kwargs", "says"), [
    ({"mode": "relativ"}, "mode"),
    ({"t_in_epochs": 1}, "t_in_epochs"),
    ({"updates_per_epoch": 10}, "updates_per_epoch"),
    ({"t_in_epochs": False, "updates_per_epoch": 0}, "updates_per_epoch"),
    ({"t_in_epochs": False, "updates_per_epoch": 2.5}, "updates_per_epoch"),
])
def test_bad_arguments(kwargs: dict[str, Any], says: str) -> None:
    with pytest.raises(ValueError, match=says):
        TimmScheduler(_optimizer(), lk.cosine(10), **kwargs)


def test_bad_calls() -> None:
    sched = TimmScheduler(_optimizer(), lk.plateau())
    for bad in (-1, 1.5, "3", None, 10**309):
        with pytest.raises(ValueError, match="epoch"):
            sched.step(bad)
        with pytest.raises(ValueError, match="num_updates"):
            sched.step_update(bad)
    with pytest.raises(ValueError, match="metric"):
        sched.step(1, "low")
    with pytest.raises(ValueError, match="schedule"):
        TimmScheduler(_optimizer(), 0.1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="cosin"):
        TimmScheduler(_optimizer(), "cosin(steps=10)")


def test_without_torch_the_import_names_the_install_command() -> None:
    import subprocess
    import textwrap

    code = textwrap.dedent("""
        import sys
        sys.modules["torch"] = None  # `import torch` now raises ImportError
        try:
            import lrkit.timm
        except ImportError as exc:
            print(exc)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, check=True).stdout
    assert "needs 'torch'" in out and "pip install 'lrkit[torch]'" in out, out
