"""lrkit.losscurve on the Multi-Power Law paper's own curves, beside the paper's table.

    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python -m bench.losscurve [--sizes 25,100,400]
        [--methods paper,lsq] [--out bench/results]

Data: thu-yao-01-luo/MultiPowerLaw (MIT), 25M/100M/400M models, committed under
tests/data/multipowerlaw. Settings, each scored on the six held-out runs of the paper's split
with its ``src/evaluation.py`` figures (R2, MAE, RMSE, PredE = mean relative error, WorstE = max
relative error; averaged over the six runs):

- paper split: fit on cosine_24000, constant_24000, wsdcon_9 (the paper's TRAIN_SET);
- 2 runs: fit on constant_24000 and wsdcon_9 only (one constant run, one run with a drop);
- first third: fit on the paper split's runs truncated to their first 8000 steps.

Writes losscurve.md and losscurve.json.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from bench import mpl_data as D
from bench.machine import header
from lrkit.losscurve import LossLaw, _prepare, _to_absolute, fit
from lrkit.losscurve._fit import fit_paper

KEYS = ("R2", "MAE", "RMSE", "PredE", "WorstE")
_PAPER: dict[tuple[str, ...], object] = {}
SETTINGS = {
    "paper split": (D.TRAIN_SET, None),
    "2 runs": (("constant_24000", "wsdcon_9"), None),
    "first third": (D.TRAIN_SET, 8000),
}


def score(law: LossLaw, size: str) -> dict[str, float]:
    per = []
    for name in D.TEST_SET:
        lrs, steps, losses = D.load(size, name)
        per.append(D.metrics(losses, law.predict(lrs, steps)))
    return {k: float(np.mean([m[k] for m in per])) for k in KEYS}


def run_one(size: str, setting: str, method: str) -> dict[str, object]:
    names, cut = SETTINGS[setting]
    runs = []
    for name in names:
        lrs, steps, losses = D.load(size, name)
        if cut is not None:
            keep = steps < cut
            steps, losses = steps[keep], losses[keep]
        runs.append((lrs, steps, losses))
    tic = time.perf_counter()
    if method == "annealing":  # Tissue et al.'s simpler law, least squares
        law = fit(runs, form="annealing", method="lsq", band=0)
    elif method in ("paper", "paper-loop"):
        # fit()'s paper procedure, run once for both selections (the data's peak is already the
        # paper's 3e-4, so fit() would rescale by 1: the same numbers); paper-loop keeps what the
        # paper's loop keeps, the parameters one AdamW step after the lowest loss
        key = (size, setting)
        if key not in _PAPER:
            curves = [_prepare(lrs, st, 1.0, "run") for lrs, st, _ in runs]
            _PAPER[key] = fit_paper(curves, np.concatenate([lo for *_, lo in runs]))
            _PAPER[(*key, "seconds")] = time.perf_counter() - tic  # type: ignore[assignment]
        at, cost, (after,) = _PAPER[key]  # type: ignore[misc]
        chosen = at if method == "paper" else after
        law = LossLaw("multi-power", _to_absolute("multi-power", chosen, 1.0), cost, ())
    else:
        law = fit(runs, method=method, band=0)
    seconds = time.perf_counter() - tic
    if method in ("paper", "paper-loop"):
        seconds = float(_PAPER[(size, setting, "seconds")])  # type: ignore[arg-type]
    return {"size": size, "setting": setting, "method": method, "seconds": seconds,
            "params": law.params, "cost": law.cost, **score(law, size)}


def report(rows: list[dict[str, object]], merged: bool = False) -> str:
    lines = [
        header("Loss-curve prediction on the Multi-Power Law paper's curves", ("numpy", "scipy")),
        "",
        "Data: the published loss curves of thu-yao-01-luo/MultiPowerLaw (MIT; 25M, 100M, 400M "
        "models, tests/data/multipowerlaw). Every figure is the average over the six held-out "
        "runs of the paper's split (constant_72000, cosine_72000, wsd_20000_24000, "
        "wsdld_20000_24000, wsdcon_3, wsdcon_18), computed as the paper's `src/evaluation.py` "
        "does. *paper README* is the table in the paper repository's README; `paper` is lrkit's "
        "`fit()` (the paper's own procedure, keeping the parameters at the lowest loss), "
        "`paper-loop` the same procedure keeping what the paper's loop keeps (the parameters one "
        "AdamW step after the lowest loss: this reproduces the README's table), "
        "`lsq` is `fit(method=\"lsq\")` "
        "(SciPy least squares to the minimum of the same Huber objective), `annealing` is "
        "the simpler annealing law of Tissue et al. 2024 fitted by least squares.",
        "",
        *(["The rows were run as separate processes (`--methods paper,paper-loop`, "
           "`--methods lsq`, `--methods annealing --settings 'paper split'`) and merged with "
           "`--merge`; fit times are wall seconds on the loaded shared machine (load 8-15), "
           "compare them only within a row group.", ""] if merged else []),
        "| size | fitted on | method | R2 | MAE | RMSE | PredE | WorstE | PredE / README | "
        "WorstE / README | fit (s) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for size in D.SIZES:
        ref = D.PAPER[size]
        lines.append(
            f"| {size}M | paper split | *paper README* | {ref['R2']:.4f} | {ref['MAE']:.5f} | "
            f"{ref['RMSE']:.5f} | {ref['PredE']:.5f} | {ref['WorstE']:.5f} | 1 | 1 | |"
        )
        for r in rows:
            if r["size"] != size:
                continue
            lines.append(
                f"| {size}M | {r['setting']} | {r['method']} | {r['R2']:.4f} | {r['MAE']:.5f} | "
                f"{r['RMSE']:.5f} | {r['PredE']:.5f} | {r['WorstE']:.5f} | "
                f"{float(r['PredE']) / ref['PredE']:.2f} | "  # type: ignore[arg-type]
                f"{float(r['WorstE']) / ref['WorstE']:.2f} | {float(r['seconds']):.0f} |"  # type: ignore[arg-type]
            )
    lines += [
        "",
        "Observations:",
        "",
        "- `paper` and `paper-loop` share one AdamW path and differ only in the step kept. "
        "`paper-loop` reproduces the README to every printed digit; keeping the parameters at "
        "the lowest loss instead beats the README at 25M and 100M and fixes the two-run fit at "
        "100M (3.18x -> 1.08x), but at 400M every other point near the end of that path (the "
        "lowest loss, the mean of the steps around it, checked by hand) gives PredE "
        "0.0020-0.0021, as does least squares: the README's 400M figure is one lucky step.",
        "- The law is loosely determined by three runs: least squares reaches a lower training "
        "loss than the paper's early-stopped AdamW (e.g. 25M: Huber sum 1.4e-4 against 2.8e-4) "
        "yet predicts the 72,000-step runs worse; parameter sets along that flat valley differ "
        "by 10-30% in held-out PredE.",
        "- More starts do not help: the same procedure from four AdamW starts (C, beta, gamma) "
        "= (1, .5, .5), (2, .6, .6), (.5, .4, .4), (1, .6, .6), keeping the lowest training "
        "loss, gives 25M 0.00115 / 0.00432, 100M 0.00106 / 0.00640, 400M 0.00201 / 0.01223 "
        "(one-off check); across those starts the held-out PredE spans 0.00088-0.00115 (25M), "
        "0.00103-0.00141 (100M) and 0.00162-0.00201 (400M), and the training loss does not "
        "tell which start predicts best.",
        "- Tissue et al.'s annealing law (5 parameters) is competitive on the paper split "
        "(better PredE than the README at 100M) but its WorstE is higher at 25M.",
        "",
    ]
    return "\n".join(lines)


def _order(row: dict[str, object]) -> tuple[int, int, int]:
    methods = ("paper", "paper-loop", "lsq", "annealing")
    return (D.SIZES.index(str(row["size"])), list(SETTINGS).index(str(row["setting"])),
            methods.index(str(row["method"])))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=",".join(D.SIZES))
    parser.add_argument("--methods", default="paper,paper-loop,lsq,annealing")
    parser.add_argument("--settings", default=",".join(SETTINGS))
    parser.add_argument("--out", type=Path, default=Path("bench/results"))
    parser.add_argument("--merge", nargs="*", type=Path, default=[],
                        help="also report the rows of these earlier losscurve.json files (runs "
                        "split over several processes)")
    args = parser.parse_args(argv)
    rows = []
    for path in args.merge:
        rows += json.loads(path.read_text(encoding="utf-8"))
    for size in args.sizes.split(","):
        for setting in args.settings.split(","):
            for method in filter(None, args.methods.split(",")):
                row = run_one(size, setting, method)
                rows.append(row)
                print(f"{size}M {setting} {method}: PredE {row['PredE']:.5f} "
                      f"WorstE {row['WorstE']:.5f} ({row['seconds']:.0f} s)", flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    rows.sort(key=_order)
    (args.out / "losscurve.md").write_text(report(rows, bool(args.merge)), encoding="utf-8")
    (args.out / "losscurve.json").write_text(json.dumps(rows, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
