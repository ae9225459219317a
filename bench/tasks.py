"""The two real training tasks of the quality benchmark; both run on a couple of CPU cores.

- ``digits``: a small CNN on scikit-learn's bundled 8x8 handwritten digits (1797 images, UCI
  optdigits test set), SGD with Nesterov momentum 0.9, batch 64. Fixed stratified split: 1437
  train / 360 validation images.
- ``charlm``: a character-level transformer language model, **post-LN** (``norm_first=False``,
  the original Transformer layout, the one that is known to need warmup), 2 layers, width 64,
  4 heads, context 64 (32 with ``--quick``), trained with Adam (betas 0.9/0.999) on the Python
  Language Reference: the text of every entry of ``pydoc_data.topics`` (ships with CPython;
  ~465k characters of English prose and grammar). The first 90% trains, the last 10% validates.

A task is a plain object: ``model(seed)``, ``optimizer(model, lr)``, ``batches(seed)`` (an
endless iterator of ``(x, y)``), ``loss_fn(output, y)`` and ``evaluate(model) -> (loss, accuracy)``
on a fixed validation set. The seed fixes the initial weights and the batch order.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

Batch = tuple[torch.Tensor, torch.Tensor]


@dataclass(frozen=True)
class Task:
    """One training problem; every number a strategy does not own is fixed here."""

    name: str
    title: str
    model: Callable[[int], nn.Module]
    optimizer: Callable[[nn.Module, float | torch.Tensor], torch.optim.Optimizer]
    batches: Callable[[int], Iterator[Batch]]
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    evaluate: Callable[[nn.Module], tuple[float, float]]
    peak_lr: float  # the peak rate every hand-set strategy uses
    high_lr: float  # the "too high without warmup" rate of the warmup experiment
    target_loss: float  # "steps to reach" this validation loss
    accuracy_name: str
    range_test: tuple[float, float]  # find_lr's start and end rates


# ---------------------------------------------------------------------------------------------
# digits: small CNN, SGD


class DigitsCNN(nn.Module):
    """conv3x3(16) -> ReLU -> conv3x3(32) -> ReLU -> maxpool2 -> fc(64) -> ReLU -> fc(10)."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(16, 32, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.head = nn.Sequential(
            nn.Flatten(), nn.Linear(32 * 4 * 4, 64), nn.ReLU(), nn.Linear(64, 10)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def _digits_split() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    data = load_digits()
    x = (data.images / 16.0).astype(np.float32)[:, None, :, :]
    y = data.target.astype(np.int64)
    xtr, xva, ytr, yva = train_test_split(x, y, test_size=360, stratify=y, random_state=0)
    return (
        torch.from_numpy(xtr),
        torch.from_numpy(ytr),
        torch.from_numpy(xva),
        torch.from_numpy(yva),
    )


def digits_task() -> Task:
    xtr, ytr, xva, yva = _digits_split()
    batch = 64

    def model(seed: int) -> nn.Module:
        torch.manual_seed(seed)
        return DigitsCNN()

    def optimizer(m: nn.Module, lr: float | torch.Tensor) -> torch.optim.Optimizer:
        return torch.optim.SGD(m.parameters(), lr=lr, momentum=0.9, nesterov=True)

    def batches(seed: int) -> Iterator[Batch]:
        gen = torch.Generator().manual_seed(10_000 + seed)
        while True:  # epochs of shuffled, full batches
            order = torch.randperm(len(xtr), generator=gen)
            for i in range(0, len(order) - batch + 1, batch):
                idx = order[i : i + batch]
                yield xtr[idx], ytr[idx]

    def evaluate(m: nn.Module) -> tuple[float, float]:
        m.eval()
        with torch.no_grad():
            out = m(xva)
            loss = nn.functional.cross_entropy(out, yva).item()
            acc = (out.argmax(1) == yva).float().mean().item()
        m.train()
        return loss, acc

    return Task(
        name="digits",
        title="digits CNN (scikit-learn 8x8 digits, SGD + Nesterov momentum)",
        model=model,
        optimizer=optimizer,
        batches=batches,
        loss_fn=nn.functional.cross_entropy,
        evaluate=evaluate,
        peak_lr=0.1,
        high_lr=0.2,
        target_loss=0.15,
        accuracy_name="validation accuracy",
        range_test=(1e-4, 10.0),
    )


# ---------------------------------------------------------------------------------------------
# charlm: post-LN character transformer, Adam


def reference_text() -> str:
    """The Python Language Reference as shipped in CPython's ``pydoc_data.topics`` (sorted keys)."""
    from pydoc_data.topics import topics

    return "\n\n".join(topics[k] for k in sorted(topics))


class CharTransformer(nn.Module):
    """Token + position embeddings -> post-LN encoder layers (causal mask) -> linear head."""

    def __init__(self, vocab: int, context: int, width: int = 64, heads: int = 4, layers: int = 2):
        super().__init__()
        self.tok = nn.Embedding(vocab, width)
        self.pos = nn.Embedding(context, width)
        layer = nn.TransformerEncoderLayer(
            width, heads, dim_feedforward=4 * width, dropout=0.0, batch_first=True, norm_first=False
        )
        self.blocks = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.head = nn.Linear(width, vocab)
        self.register_buffer(
            "mask", nn.Transformer.generate_square_subsequent_mask(context), persistent=False
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[1]
        h = self.tok(x) + self.pos(torch.arange(n, device=x.device))
        h = self.blocks(h, mask=self.mask[:n, :n], is_causal=True)
        return self.head(h)  # (batch, n, vocab)


def _lm_loss(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return nn.functional.cross_entropy(out.reshape(-1, out.shape[-1]), y.reshape(-1))


def charlm_task(
    context: int = 64, batch: int = 32, eval_windows: int = 128, target_loss: float = 2.0
) -> Task:
    text = reference_text()
    chars = sorted(set(text))
    lookup = {c: i for i, c in enumerate(chars)}
    ids = torch.tensor([lookup[c] for c in text], dtype=torch.long)
    cut = int(0.9 * len(ids))
    train, val = ids[:cut], ids[cut:]
    # fixed, evenly spaced validation windows
    starts = torch.linspace(0, len(val) - context - 2, eval_windows).long()
    xva = torch.stack([val[s : s + context] for s in starts])
    yva = torch.stack([val[s + 1 : s + context + 1] for s in starts])

    def model(seed: int) -> nn.Module:
        torch.manual_seed(seed)
        return CharTransformer(len(chars), context)

    def optimizer(m: nn.Module, lr: float | torch.Tensor) -> torch.optim.Optimizer:
        return torch.optim.Adam(m.parameters(), lr=lr)

    def batches(seed: int) -> Iterator[Batch]:
        gen = torch.Generator().manual_seed(20_000 + seed)
        offsets = torch.arange(context)
        while True:
            s = torch.randint(0, len(train) - context - 1, (batch,), generator=gen)
            idx = s[:, None] + offsets
            yield train[idx], train[idx + 1]

    def evaluate(m: nn.Module) -> tuple[float, float]:
        m.eval()
        with torch.no_grad():
            out = m(xva)
            loss = _lm_loss(out, yva).item()
            acc = (out.argmax(-1) == yva).float().mean().item()
        m.train()
        if not math.isfinite(loss):
            loss = math.inf
        return loss, acc

    return Task(
        name="charlm",
        title=(
            "post-LN character transformer (2 layers, width 64, Adam) on the Python Language "
            "Reference text"
        ),
        model=model,
        optimizer=optimizer,
        batches=batches,
        loss_fn=_lm_loss,
        evaluate=evaluate,
        peak_lr=3e-3,
        high_lr=3e-2,
        target_loss=target_loss,
        accuracy_name="next-character accuracy",
        range_test=(1e-5, 1.0),
    )


TASKS: dict[str, Callable[..., Task]] = {"digits": digits_task, "charlm": charlm_task}
