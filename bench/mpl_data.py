"""The Multi-Power Law paper's published loss curves (tests/data/multipowerlaw, MIT, Luo et al.).

Curves of 25M, 100M and 400M-parameter models from thu-yao-01-luo/MultiPowerLaw
(``loss_curve_repo/csv_*``, commit 8da9f19); the rates of each run are rebuilt exactly as that
repository's ``src/lr_schedules.py`` and ``src/data_loader.py`` do (a 2160-step linear warmup
from 0 with ``np.linspace``, peak 3e-4; a run's loss at step 24000 dropped as they drop it).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt

DATA = Path(__file__).resolve().parent.parent / "tests" / "data" / "multipowerlaw"
SIZES = ("25", "100", "400")
TRAIN_SET = ("cosine_24000", "constant_24000", "wsdcon_9")  # the paper's src/config.py
TEST_SET = (
    "constant_72000",
    "cosine_72000",
    "wsd_20000_24000",
    "wsdld_20000_24000",
    "wsdcon_3",
    "wsdcon_18",
)
# the paper README's table (evaluation on TEST_SET after fitting on TRAIN_SET)
PAPER = {
    "25": {"R2": 0.9988, "MAE": 0.00376, "RMSE": 0.00465, "PredE": 0.00110, "WorstE": 0.00409},
    "100": {"R2": 0.9983, "MAE": 0.00435, "RMSE": 0.00592, "PredE": 0.00142, "WorstE": 0.00583},
    "400": {"R2": 0.9978, "MAE": 0.00484, "RMSE": 0.00730, "PredE": 0.00168, "WorstE": 0.00995},
}
# the paper's fitted parameters (src/config.py PARAMS): L0, A, alpha, B, C, beta, gamma
PAPER_PARAMS = {
    "25": [3.04045406, 0.52468604, 0.50786857, 363.78751622, 2.06560812, 0.58279013, 0.64142257],
    "100": [2.6514477, 0.60115152, 0.45295811, 437.9464276, 2.13245612, 0.59785199, 0.65523644],
    "400": [2.37474466, 0.65421216, 0.42878731, 523.42464371, 2.02462735, 0.59350493, 0.63472457],
}
WARMUP, PEAK, END = 2160, 3e-4, 3e-5

Array = npt.NDArray[np.float64]


def _warmup() -> Array:
    return np.linspace(0, PEAK, WARMUP)


def rates(name: str) -> Array:
    """The per-step rates of run `name`, as the paper's code builds them."""
    kind, _, rest = name.partition("_")
    if kind == "cosine":
        total = int(rest)
        step = np.arange(total)[WARMUP:]
        cos = END + 0.5 * (PEAK - END) * (1 + np.cos(np.pi * (step - WARMUP) / (total - WARMUP)))
        return np.concatenate((_warmup(), cos))
    if kind == "constant":
        return np.concatenate((_warmup(), np.full(int(rest) - WARMUP, PEAK)))
    if kind == "wsdcon":
        low = int(rest) * 1e-5
        return np.concatenate((_warmup(), np.full(8000 - WARMUP, PEAK), np.full(8000, low)))
    total, decay = 24000, 20000
    step = np.arange(total)[decay:]
    if kind == "wsd":
        frac = (step - decay) / (total - decay)
        tail = PEAK ** (1 - frac) * END**frac
    elif kind == "wsdld":
        frac = (step - decay) / (total - decay)
        tail = PEAK * (1 - frac) + END * frac
    else:
        raise ValueError(f"unknown run {name!r}")
    return np.concatenate((_warmup(), np.full(decay - WARMUP, PEAK), tail))


def load(size: str, name: str) -> tuple[Array, npt.NDArray[np.int64], Array]:
    """(rates, steps, losses) of one published run."""
    table = np.genfromtxt(DATA / f"csv_{size}" / f"{name}.csv", delimiter=",", skip_header=1)
    steps = table[:, 0].astype(np.int64)
    losses = table[:, 2].astype(float)
    if steps.max() == 24000:  # as src/data_loader.py: the rates stop at step 23999
        keep = steps < 24000
        steps, losses = steps[keep], losses[keep]
    return rates(name), steps, losses


def metrics(losses: Array, pred: Array) -> dict[str, float]:
    """src/evaluation.py's figures: R2, MAE, RMSE, PredE (mean relative), WorstE (max relative)."""
    err = losses - pred
    ss_tot = float(np.sum((losses - losses.mean()) ** 2))
    return {
        "R2": 1.0 - float(np.sum(err**2)) / ss_tot,
        "MAE": float(np.mean(np.abs(err))),
        "RMSE": float(np.sqrt(np.mean(err**2))),
        "PredE": float(np.mean(np.abs(err) / losses)),
        "WorstE": float(np.max(np.abs(err) / losses)),
    }
