"""lrkit demo: train a small character-level transformer with linear warmup + cosine decay.

    bash scripts/demo.sh            # sets up .venv, then runs this file
    .venv/bin/python examples/demo.py [--steps 1000] [--out out/demo.png]

The model (2 pre-LN transformer layers, width 64) learns to write like the Python Language
Reference, whose text ships with CPython (``pydoc_data.topics``); nothing is downloaded. The
rate follows ``3e-3 * warmup(cosine(...), ...)`` driven by ``lrkit.torch.LRScheduler``. A
progress bar shows the speed, the rate and the loss; at the end the demo writes a chart of the
rate and the losses against the step (``--out``, default ``out/demo.png``), draws the rate in
the terminal (``lrkit.plot.terminal_chart``) and prints a sample of generated text. About 30-45 s
on an idle CPU core (1000 steps of ~35 ms); slower on a busy machine.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import torch
from torch import nn
from tqdm import tqdm

import lrkit as lk
from lrkit.plot import curve, terminal_chart
from lrkit.torch import LRScheduler

CONTEXT = 64
BATCH = 32


def load_text() -> str:
    from pydoc_data.topics import topics

    return "\n\n".join(topics[k] for k in sorted(topics))


class TinyTransformer(nn.Module):
    def __init__(self, vocab: int, width: int = 64, layers: int = 2) -> None:
        super().__init__()
        self.tok = nn.Embedding(vocab, width)
        self.pos = nn.Embedding(CONTEXT, width)
        layer = nn.TransformerEncoderLayer(
            width, 4, 4 * width, dropout=0.0, batch_first=True, norm_first=True
        )
        self.blocks = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(width)
        self.head = nn.Linear(width, vocab)
        self.register_buffer(
            "mask", nn.Transformer.generate_square_subsequent_mask(CONTEXT), persistent=False
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[1]
        h = self.tok(x) + self.pos(torch.arange(n))
        h = self.blocks(h, mask=self.mask[:n, :n], is_causal=True)
        return self.head(self.norm(h))


def loss_of(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    out = model(x)
    return nn.functional.cross_entropy(out.reshape(-1, out.shape[-1]), y.reshape(-1))


def sample(model: nn.Module, chars: list[str], prompt: str, n: int = 160) -> str:
    lookup = {c: i for i, c in enumerate(chars)}
    ids = [lookup[c] for c in prompt]
    gen = torch.Generator().manual_seed(0)
    model.eval()
    with torch.no_grad():
        for _ in range(n):
            logits = model(torch.tensor([ids[-CONTEXT:]]))[0, -1] / 0.7
            ids.append(int(torch.multinomial(logits.softmax(-1), 1, generator=gen)))
    return "".join(chars[i] for i in ids)


def write_chart(
    path: Path,
    schedule: lk.Schedule,
    peak: float,
    steps: int,
    train: list[tuple[int, float]],
    val: list[tuple[int, float]],
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 6), sharex=True)
    xs = list(range(steps))
    top.plot(xs, [peak * schedule(t) for t in xs], color="tab:red")
    top.set_ylabel("learning rate")
    top.set_title(f"{peak:g} * {schedule}", fontsize=9)
    bottom.plot(*zip(*train, strict=True), label="train loss (smoothed)", lw=1)
    bottom.plot(*zip(*val, strict=True), "o-", label="validation loss")
    bottom.set_xlabel("step")
    bottom.set_ylabel("cross-entropy (nats/char)")
    bottom.legend()
    for ax in (top, bottom):
        for b in schedule.breakpoints():
            ax.axvline(b, color="grey", ls=":", lw=1)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="lrkit demo: warmup + cosine on a char transformer"
    )
    parser.add_argument("--steps", type=int, default=1000, help="optimizer steps (default 1000)")
    parser.add_argument("--peak", type=float, default=3e-3, help="peak learning rate (Adam)")
    parser.add_argument("--out", type=Path, default=Path("out/demo.png"), help="chart (PNG)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    args = parser.parse_args(argv)
    if args.steps < 20:
        parser.error(f"--steps must be >= 20; got {args.steps}")
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    text = load_text()
    chars = sorted(set(text))
    lookup = {c: i for i, c in enumerate(chars)}
    data = torch.tensor([lookup[c] for c in text])
    cut = int(0.9 * len(data))
    train_ids, val_ids = data[:cut], data[cut:]
    starts = torch.linspace(0, len(val_ids) - CONTEXT - 2, 64).long()
    xva = torch.stack([val_ids[s : s + CONTEXT] for s in starts])
    yva = torch.stack([val_ids[s + 1 : s + CONTEXT + 1] for s in starts])

    warm = max(1, args.steps // 10)
    schedule = lk.warmup(lk.cosine(steps=args.steps - warm, end=0.05), steps=warm)
    model = TinyTransformer(len(chars))
    optimizer = torch.optim.Adam(model.parameters(), lr=args.peak)
    scheduler = LRScheduler(optimizer, schedule)  # relative: lr = 3e-3 * schedule(step)
    print(f"{len(text):,} characters of the Python Language Reference, {len(chars)} symbols")
    print(f"schedule: {args.peak:g} * {schedule}")

    gen = torch.Generator().manual_seed(1)
    offsets = torch.arange(CONTEXT)
    train_curve: list[tuple[int, float]] = []
    val_curve: list[tuple[int, float]] = []
    ema = math.nan
    every = max(1, args.steps // 10)
    begin = time.perf_counter()
    with tqdm(range(args.steps), unit="step", dynamic_ncols=True, file=sys.stdout) as bar:
        for step in bar:
            if step % every == 0:
                model.eval()
                with torch.no_grad():
                    val_curve.append((step, loss_of(model, xva, yva).item()))
                model.train()
            idx = torch.randint(0, len(train_ids) - CONTEXT - 1, (BATCH,), generator=gen)
            idx = idx[:, None] + offsets
            loss = loss_of(model, train_ids[idx], train_ids[idx + 1])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            lr = scheduler.get_last_lr()[0]
            scheduler.step()
            ema = loss.item() if math.isnan(ema) else 0.95 * ema + 0.05 * loss.item()
            train_curve.append((step, ema))
            bar.set_postfix(lr=f"{lr:.2e}", loss=f"{ema:.3f}", refresh=False)
    model.eval()
    with torch.no_grad():
        val_curve.append((args.steps, loss_of(model, xva, yva).item()))
    seconds = time.perf_counter() - begin

    write_chart(args.out, schedule, args.peak, args.steps, train_curve, val_curve)
    print(
        terminal_chart(
            [curve(schedule, args.steps, base_lr=args.peak)],
            width=90,
            height=16,
            title=f"learning rate: {args.peak:g} * {schedule}",
        )
    )
    print(
        f"trained {args.steps} steps in {seconds:.0f} s; validation loss "
        f"{val_curve[0][1]:.3f} -> {val_curve[-1][1]:.3f} nats/char"
    )
    print(f"chart written to {args.out}")
    print("sample:", repr(sample(model, chars, "The ")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
