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

plot batch_rampup 12000 --title "batch_rampup(64, 64, 8000, 1024) / 1024: linear and sqrt rules" \
    'batch_rampup(64, 64, 8000, 1024) * 0.0009765625' \
    '(batch_rampup(64, 64, 8000, 1024) * 0.0009765625) ** 0.5' \
    'cosine(steps=12000, end=0.1) * (batch_rampup(64, 64, 8000, 1024) * 0.0009765625) ** 0.5'


# When the plan changes (docs/plan-changes.md) and docs/strategies/cooldown-splice.md: the first
# spec is the trunk (grey); cooldowns and splices of it are drawn from their branch point.
plot plan_extend 2000 --title "extend at step 600: splice onto the longer plan, ramp 100" \
    'warmup(cosine(steps=900, end=0.1), steps=100)' \
    'warmup(cosine(steps=1900, end=0.1), steps=100)' \
    'splice(warmup(cosine(steps=900, end=0.1), steps=100), warmup(cosine(steps=1900, end=0.1), steps=100), at=600, ramp=100)'

plot plan_shorten 1000 --title "shorten at step 600: a cooldown, or a splice onto a shorter cosine" \
    'warmup(cosine(steps=900, end=0.1), steps=100)' \
    'cooldown(warmup(cosine(steps=900, end=0.1), steps=100), at=600, steps=150, end=0.1, shape="linear")' \
    'splice(warmup(cosine(steps=900, end=0.1), steps=100), warmup(cosine(steps=700, end=0.1), steps=100), at=600, ramp=50)'

plot plan_branches 15000 --base-lr 1e-3 \
    --title "constant + 1-sqrt cooldowns of 20% branched at 4000, 8000, 12000 (Hagele et al.)" \
    'warmup(constant(), steps=300, start=0.01)' --branches 4000,8000,12000 --cooldown 20%

plot plan_branches_cosine 1000 --title "cosine cooldowns branched from a cosine at 400 and 700" \
    'cosine(steps=1000, end=0.1)' --branches 400,700 --cooldown 100 --shape cosine

plot cooldown_splice 1000 --title "cooldown(s, at=500, steps=200) and splice(s, new, at=500, ramp=100)" \
    'wsd(100, 700, 200)' 'cooldown(wsd(100, 700, 200), at=500, steps=200)' \
    'cooldown(wsd(100, 700, 200), at=500, steps=200, shape="linear")' \
    'splice(wsd(100, 700, 200), 0.5 * cosine(steps=1000), at=500, ramp=100)'

# The recipe gallery (docs/recipes.md): one small chart per recipe, of the page's `s` at the
# page's `lr` (tests/recipes/test_gallery.py checks that each spec here equals the page's).
recipe() {  # recipe NAME STEPS BASE_LR TITLE SPEC [lrkit plot options, e.g. --branches]
    local name=$1 steps=$2 base=$3 title=$4 spec=$5
    shift 5
    mkdir -p "$OUT/recipes"
    "$LRKIT" plot "$spec" --steps "$steps" --base-lr "$base" --title "$title" \
        --size 640x300 --dpi 80 -o "$OUT/recipes/$name.png" "$@" >/dev/null
    echo "$OUT/recipes/$name.png"
}

recipe nanogpt 620000 0.0006 "nanoGPT: GPT-2 124M" \
    'warmup(cosine(steps=598000, end=0.1), steps=2000, start=0.0004997501249375312)'
recipe pythia 150000 0.0006 "Pythia-160M (GPT-NeoX)" \
    'warmup(maximum(cosine(steps=143000), 0.1), steps=1430)'
recipe megatron-gpt3 768000000 6e-05 "Megatron-LM GPT-3 175B (t = samples)" \
    'warmup(cosine(steps=659819520, end=0.1), steps=660480)'
recipe megatron-wsd-1-sqrt 3100000000 0.00045 "Megatron-LM WSD, 1-sqrt anneal (t = samples)" \
    'wsd(warmup=24414063, stable=2413940429, decay=610351563, end=0.01, decay_shape="1-sqrt")'
recipe megatron-wsd-exp 3100000000 0.00045 "Megatron-LM WSD, exponential anneal (t = samples)" \
    'wsd(warmup=24414063, stable=2413940429, decay=610351563, end=0.01, decay_shape="exp")'
recipe gpt3-175b-tokens 300000000000 6e-05 "GPT-3 175B (t = tokens)" \
    'warmup(cosine(steps=259625000000, end=0.1), steps=375000000)'
recipe wsd-cooldown-branches 16000 0.001 "constant + 1-sqrt cooldowns of 20% (Hagele et al.)" \
    'warmup(constant(), steps=300, start=0.01)' \
    --branches 4000,8000,12000 --cooldown 20%
recipe nanogpt-extended 820000 0.0006 "nanoGPT extended at 300k to 800k, ramp 2000" \
    'splice(warmup(cosine(steps=598000, end=0.1), steps=2000, start=0.0004997501249375312), warmup(cosine(steps=798000, end=0.1), steps=2000, start=0.0004997501249375312), at=300000, ramp=2000)'
recipe olmo-1b 760000 0.0004 "OLMo 1B" \
    'shift(warmup(cosine(steps=737328, end=0.1), steps=2000, start=0.1), steps=1)'
recipe olmo-7b 490000 0.0003 "OLMo 7B" \
    'shift(warmup(linear(start=1.0, end=0.1, steps=471838), steps=5000, start=0.1), steps=1)'
recipe torchtitan-llama3-8b 1001 0.0003 "torchtitan Llama 3 8B" \
    'wsd(warmup=199, stable=1, decay=800, start=0.005)'
recipe minicpm-wsd 110000 0.01 "MiniCPM WSD (exponential decay)" \
    'warmup(join([constant(), exponential(gamma=0.5, every=2000)], boundaries=[88000]), steps=2000)'
recipe bert-pretraining 1000000 0.0001 "BERT pretraining" \
    'linear(start=0.0, end=1.0, steps=10000) >> shift(polynomial(steps=1000000), steps=10000)'
recipe bert-finetune-mrpc 344 2e-05 "BERT fine-tuning (MRPC)" \
    'linear(start=0.0, end=1.0, steps=34) >> shift(polynomial(steps=343), steps=34)'
recipe t5-pretraining 524288 1.0 "T5 pretraining (t5x rsqrt_decay)" \
    'maximum(join([constant(value=0.01), inverse_sqrt(timescale=10000, start=0.01)], boundaries=[10000]), 1e-08)'
recipe t5x-default 20000 1.0 "t5x default schedule" \
    'maximum(warmup(inverse_sqrt(timescale=1000, start=0.015811388300841896), steps=1000), 1e-08)'
recipe big-vision-vit-b 93835 0.001 "big_vision ViT-B/16" \
    'warmup(cosine(steps=83835), steps=10000)'
recipe big-vision-vit-g 1000001 0.0008 "big_vision ViT-g/14" \
    'warmup(inverse_sqrt(timescale=10000), steps=10000) * join([constant(), linear(start=1.0, end=0.0, steps=50000)], boundaries=[950000])'
recipe mlperf-resnet50-lars 13146 10.0 "MLPerf ResNet-50 LARS" \
    'warmup(polynomial(steps=11582, power=2.0, end=1e-05), steps=1565)'
recipe tf-garden-resnet50 28080 1.6 "TF Model Garden ResNet-50" \
    'warmup(shift(multistep(milestones=[9361, 18721, 24961]), steps=1560), steps=1560)'
recipe tf-garden-resnet-rs50 109200 1.6 "TF Model Garden ResNet-RS-50" \
    'warmup(shift(cosine(steps=109200), steps=1560), steps=1560)'
recipe alpaca 1218 2e-05 "Stanford Alpaca (HF cosine)" \
    'warmup(cosine(steps=1181), steps=37)'
recipe hf-glue-mrpc 345 2e-05 "HF Trainer defaults, GLUE MRPC" \
    'linear(start=1.0, end=0.0, steps=345)'
recipe torchtune-llama3-lora 3235 0.0003 "torchtune Llama 3.1 8B LoRA" \
    'warmup(cosine(steps=3135), steps=100)'
recipe diffusers-lora 15000 0.0001 "diffusers text-to-image LoRA" \
    'cosine(steps=15000)'
recipe fairseq-transformer-wmt 100000 0.0005 "fairseq inverse_sqrt (WMT en-de)" \
    'warmup(inverse_sqrt(timescale=4000), steps=4000, start=0.00019999999999999998)'
recipe wav2vec2-base-10h 20000 5e-05 "fairseq tri_stage (wav2vec 2.0, 10h)" \
    'warmup(join([constant(), exponential(gamma=0.05, every=10000, end=0.05)], boundaries=[8000]), steps=2000, start=0.01)'
recipe roberta-base 125000 0.0005 "fairseq polynomial_decay (RoBERTa base)" \
    'warmup(polynomial(steps=115000), steps=10000)'
recipe annotated-transformer 20000 1.0 "The Annotated Transformer (Noam)" \
    'join([constant(value=2.689571768199595e-07), warmup(inverse_sqrt(timescale=3000, start=0.0008068715304598785), steps=2999, start=2.689571768199595e-07)], boundaries=[1])'
recipe timm-resnet50 200 0.05 "timm ResNet-50 (t = epochs)" \
    'linear(start=0.0002, end=1.0, steps=5) >> shift(cosine(steps=200), steps=5)'
recipe timm-resnet50-warmup-prefix 205 0.05 "timm ResNet-50, warmup prefix" \
    'warmup(cosine(steps=200), steps=5, start=0.0002)'
recipe timm-resnet50-k-decay 200 0.05 "timm ResNet-50, k-decay 2" \
    'linear(start=0.0002, end=1.0, steps=5) >> shift(cosine(steps=200, k_decay=2.0), steps=5)'
recipe timm-cosine-cycles 350 0.05 "timm cosine cycles" \
    'linear(start=0.0002, end=1.0, steps=5) >> shift(join([cosine_restarts(period=50, end=0.0002, period_mult=2, decay=0.5), constant(value=0.0002)], boundaries=[350]), steps=5)'
recipe timm-efficientnet-b0 450 0.048 "timm EfficientNet-B0" \
    'linear(start=2.0833333333333333e-05, end=1.0, steps=5) >> shift(step_decay(step_size=2.4, gamma=0.97), steps=5)'
recipe deit-base 300 0.001 "DeiT-B" \
    'join([constant(value=0.001), linear(start=0.001, end=1.0, steps=5) >> shift(cosine(steps=300, end=0.01), steps=5)], boundaries=[1])'
recipe torchvision-resnet50 90 0.1 "torchvision ResNet-50" \
    'step_decay(step_size=30)'
recipe torchvision-resnet50-v2 600 0.5 "torchvision ResNet-50 v2 recipe" \
    'warmup(cosine(steps=595), steps=5, start=0.01)'
recipe torchvision-vit-b-16 300 0.003 "torchvision ViT-B/16" \
    'warmup(cosine(steps=270), steps=30, start=0.033)'
recipe detectron2-1x 90000 0.02 "Detectron2 1x (WarmupMultiStepLR)" \
    'warmup(shift(multistep(milestones=[60000, 80000]), steps=1000), steps=1000, start=0.001)'
recipe detectron2-cosine 90000 0.02 "Detectron2 WarmupCosineLR" \
    'warmup(shift(cosine(steps=90000), steps=1000), steps=1000, start=0.001)'
recipe detectron-1x 90000 0.02 "Detectron 1x" \
    'multistep(milestones=[60000, 80000]) * linear(start=0.3333333333333333, end=1.0, steps=500)'
recipe mmdet-1x 87960 0.02 "mmdetection 1x" \
    'linear(start=0.001, end=1.0, steps=499) * multistep(milestones=[58640, 80630])'
recipe torchvision-detection 190580 0.02 "torchvision detection references" \
    'linear(start=0.001, end=1.0, steps=1000) * multistep(milestones=[117280, 161260])'
recipe deepspeed-warmuplr 1500 0.001 "DeepSpeed WarmupLR (log)" \
    'warmup(constant(), steps=999, shape="log")'
recipe deepspeed-warmuplr-linear 1500 0.001 "DeepSpeed WarmupLR (linear)" \
    'warmup(constant(), steps=1000)'
recipe deepspeed-warmupdecaylr 1218 2e-05 "DeepSpeed WarmupDecayLR" \
    'join([warmup(constant(), steps=36, shape="log"), linear(start=1.0, end=0.0, steps=1181)], boundaries=[37])'
recipe deepspeed-warmupcosinelr 1218 2e-05 "DeepSpeed WarmupCosineLR" \
    'warmup(cosine(steps=1181, end=0.0001), steps=36, shape="log")'
recipe deepspeed-onecycle 6000 0.001 "DeepSpeed OneCycle (stairs)" \
    'join([0.1 + 0.9 * shift(staircase(linear(start=0.0, end=1.0, steps=1000), every=2), steps=1), 0.1 + 0.9 * shift(staircase(linear(start=1.0, end=0.0, steps=1000), every=2), steps=2), inverse_time(steps=1000, rate=0.001, start=0.1)], boundaries=[1000, 1999])'
recipe fastai-one-cycle 460 0.001 "fastai fit_one_cycle" \
    'warmup(cosine(steps=345, end=1e-05), steps=115, start=0.04, shape="cosine")'
recipe fastai-flat-cos 735 0.008 "fastai fit_flat_cos" \
    'join([constant(), cosine(steps=183.75, end=1e-05)], boundaries=[551.25])'
recipe yolov5 554700 0.01 "YOLOv5 (weights' groups)" \
    'join([staircase(linear(start=1.0, end=0.01, steps=554700), every=1849) * linear(start=0.0, end=1.0, steps=5547), minimum(shift(staircase(linear(start=1.0, end=0.01, steps=554700), every=1849), steps=3699), 0.9901)], boundaries=[5548])'
recipe ultralytics-yolo 739300 0.01 "Ultralytics YOLO (weights' groups)" \
    'staircase(linear(start=1.0, end=0.01, steps=739300), every=7393) * linear(start=0.0, end=1.0, steps=22179)'

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
