#!/usr/bin/env bash
# Regenerates every picture under docs/img/ with the `lrkit plot` command (and the range-test
# picture with lrkit.torch.find_lr). Run from anywhere: bash scripts/make_doc_images.sh
# Each chart is 800x450 pixels at dpi 100 (well under 80 KB as PNG).
set -euo pipefail
cd "$(dirname "$0")/.."
export KERAS_BACKEND=${KERAS_BACKEND:-jax}
LRKIT=${LRKIT:-.venv/bin/lrkit}
[ -x "$LRKIT" ] || LRKIT=lrkit
OUT=docs/img
mkdir -p "$OUT"

plot() {  # plot NAME STEPS [lrkit plot options and specs...]
    local name=$1 steps=$2
    shift 2
    "$LRKIT" plot "$@" --steps "$steps" --size 800x450 --dpi 100 -o "$OUT/$name.png" >/dev/null
    echo "$OUT/$name.png"
}

# The seed's schedule and the README's curve: linear warmup 1e-7 -> 1e-4 over 1000 steps, then
# cosine decay to 0 over 9000 steps (start=0.001 is 1e-7 relative to the 1e-4 peak).
plot warmup_cosine 10000 --base-lr 1e-4 --title "linear warmup 1e-7 -> 1e-4, then cosine" \
    'warmup(cosine(steps=9000), steps=1000, start=0.001)'

plot constant_linear 1000 --title "constant and linear" \
    'constant(1.0)' 'linear(1.0, 0.1, 1000)' 'linear(0.1, 1.0, 500)'

plot step_decay 1000 --title "step decay: start * gamma ** floor(t / step_size)" \
    'step_decay(250, 0.5)' 'step_decay(400, 0.1)'

plot multistep 1000 --title "multistep: a drop at each milestone" \
    'multistep([300, 600, 850], 0.1)' 'multistep([500, 750], 0.5)'

plot exponential 1000 --title "exponential: smooth, staircase, with a floor" \
    'exponential(0.995)' 'exponential(0.5, every=200, staircase=True)' \
    'exponential(0.99, end=0.1)'

plot exponential_log 1000 --log --title "exponential (log axis): straight lines" \
    'exponential(0.995)' 'exponential(0.5, every=200, staircase=True)' \
    'exponential(0.99, end=0.1)'

plot polynomial 1000 --title "polynomial: (start - end) * (1 - t / steps) ** power + end" \
    'polynomial(1000, power=0.5)' 'polynomial(1000)' 'polynomial(1000, power=2.0)' \
    'polynomial(800, power=3.0, end=0.05)'

plot cosine 1000 --title "cosine annealing (holds its final value after steps)" \
    'cosine(steps=1000)' 'cosine(steps=1000, end=0.1)' 'cosine(steps=600)'

plot cosine_restarts 1000 --title "cosine with warm restarts (SGDR)" \
    'cosine_restarts(200)' 'cosine_restarts(100, period_mult=2, decay=0.7)'

plot one_cycle 1000 --title "one cycle (torch's OneCycleLR curve)" \
    'one_cycle(1000)' 'one_cycle(1000, anneal="linear", three_phase=True)'

plot cyclic 1000 --title "cyclic: triangular, triangular2, exp_range" \
    'cyclic(0.1, 1.0, 100)' 'cyclic(0.1, 1.0, 100, mode="triangular2")' \
    'cyclic(0.1, 1.0, 100, mode="exp_range", gamma=0.998)'

plot inverse_sqrt 1000 --title "inverse square root: start / sqrt(1 + t / timescale)" \
    'inverse_sqrt(10)' 'inverse_sqrt(100)' 'warmup(inverse_sqrt(100), steps=100)'

plot wsd 1000 --title "warmup-stable-decay: linear, cosine and 1-sqrt decay" \
    'wsd(100, 600, 300)' 'wsd(100, 600, 300, decay_shape="cosine")' \
    'wsd(100, 600, 300, decay_shape="1-sqrt")'

plot warmup_shapes 500 --title "warmup shapes: linear, exponential, cosine (then constant)" \
    'warmup(constant(1.0), steps=300, start=0.01)' \
    'warmup(constant(1.0), steps=300, start=0.01, shape="exponential")' \
    'warmup(constant(1.0), steps=300, start=0.01, shape="cosine")'

plot untuned_warmup 5000 --title "untuned warmup (Ma & Yarats) times cosine, beta2 = 0.999" \
    'cosine(steps=5000) * untuned_warmup(0.999)' \
    'cosine(steps=5000) * untuned_warmup(0.999, shape="exponential")'

plot composition 1000 --title "composition: >>, join, * and +" \
    'linear(0.0, 1.0, 100) >> cosine(steps=900, end=0.05)' \
    'join([constant(1.0), constant(0.3), cosine(steps=300, start=0.3)], [400, 700])' \
    '0.5 * cosine(steps=1000) + 0.5 * cyclic(0.0, 1.0, 125)'

plot retime 1000 --title "shift, staircase and a floor with maximum" \
    'join([linear(0.0, 1.0, 100), shift(cosine(steps=1000), steps=100)], [100])' \
    'staircase(linear(1.0, 0.01, 1000), 100)' 'maximum(cosine(steps=1000), 0.2)'

# plateau has no fixed curve: drive it with the validation losses of a real run.
.venv/bin/python - "$OUT/plateau.png" <<'PY'
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import torch

import lrkit as lk

# SGD on noisy least squares: the validation loss stalls at a floor set by the rate; each
# reduction lowers the floor. lrkit's plateau decides the reductions; torch's
# ReduceLROnPlateau, fed the same losses, decides the same.
g = np.random.default_rng(0)
n, d, batch, epochs, base = 500, 20, 1, 30, 0.2
scales = np.geomspace(1.0, 0.1, d)            # ill-conditioned: slow directions
x = g.normal(size=(n, d)) * scales
w_true = g.normal(size=d) / scales * 0.3
y = x @ w_true + 0.5 * g.normal(size=n)
xv = g.normal(size=(2000, d)) * scales
yv = xv @ w_true + 0.5 * g.normal(size=2000)
schedule = lk.plateau(factor=0.5, patience=2, threshold=0.01, min_value=0.02)
st = lk.Stepper(schedule)
opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=base)
ref = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=2, threshold=0.01,
                                                 min_lr=0.02 * base)
w = np.zeros(d)
losses, lrs, torch_lrs = [], [], []
for epoch in range(epochs):
    lr = base * st.value()
    lrs.append(lr)
    torch_lrs.append(opt.param_groups[0]["lr"])
    for i in g.permutation(n // batch):
        xb, yb = x[i * batch:(i + 1) * batch], y[i * batch:(i + 1) * batch]
        w -= lr * xb.T @ (xb @ w - yb) / batch
    loss = 0.5 * np.mean((xv @ w - yv) ** 2)
    losses.append(loss)
    st.step(loss)       # report the epoch's validation loss, then advance
    ref.step(loss)
assert np.allclose(lrs, torch_lrs, rtol=1e-12, atol=0), (lrs, torch_lrs)
fig, (top, bottom) = plt.subplots(2, 1, sharex=True, figsize=(8, 4.5), dpi=100)
epochs_x = np.arange(epochs)
top.plot(epochs_x, losses, marker="o", markersize=3, color="tab:gray")
top.set_ylabel("validation loss")
top.set_title(f"{schedule}: SGD on noisy least squares", fontsize="medium")
bottom.set_yscale("log")
bottom.step(epochs_x, lrs, where="post", label="lrkit plateau", linewidth=2)
bottom.step(epochs_x, torch_lrs, where="post", linestyle="--", color="k", linewidth=1,
            label="torch ReduceLROnPlateau, same losses")
bottom.set_ylabel("learning rate")
bottom.set_xlabel("epoch")
bottom.legend(loc="upper right", fontsize="small")
for ax in (top, bottom):
    ax.grid(True, alpha=0.3)
    for e in np.flatnonzero(np.diff(lrs)) + 1:
        ax.axvline(e, color="tab:blue", alpha=0.25, linestyle=":")
fig.tight_layout()
fig.savefig(sys.argv[1])
print(sys.argv[1], "reductions at epochs", list(np.flatnonzero(np.diff(lrs)) + 1))
PY

# The LR range test on least squares, where SGD diverges above 2/L.
.venv/bin/python - "$OUT/range_test.png" <<'PY'
import sys

import numpy as np
import torch

torch.manual_seed(0)

from lrkit.plot import save_figure
from lrkit.torch import find_lr

g = np.random.default_rng(0)
n, d = 512, 20
u, _ = np.linalg.qr(g.normal(size=(n, d)))
v, _ = np.linalg.qr(g.normal(size=(d, d)))
x = u @ np.diag(np.sqrt(n) * np.geomspace(1.0, 0.1, d)) @ v.T
y = x @ g.normal(size=d) + 0.1 * g.normal(size=n)
critical = 2.0 / np.linalg.eigvalsh(x.T @ x / n).max()
data = torch.utils.data.TensorDataset(torch.tensor(x), torch.tensor(y))
loader = torch.utils.data.DataLoader(data, batch_size=64, shuffle=True,
                                     generator=torch.Generator().manual_seed(0))
model = torch.nn.Linear(d, 1, bias=False).double()
opt = torch.optim.SGD(model.parameters(), lr=0.1)
result = find_lr(model, opt, lambda out, t: 0.5 * ((out.squeeze(-1) - t) ** 2).mean(), loader,
                 steps=200, progress=False)
fig = result.plot()
ax = fig.axes[0]
ax.axvline(critical, color="k", linestyle=":", linewidth=1.0, label=f"2/L = {critical:.3g}")
ax.legend(loc="best", fontsize="small")
save_figure(fig, sys.argv[1])
print(sys.argv[1], f"(suggestion {result.suggestion:.3g}, 2/L {critical:.3g})")
PY
