"""The training tasks of the range-test panel (``python -m bench.rangetest``): small enough for
two CPU cores, varied enough that a rule tuned on some of them has to generalise to the others.

Every task is a plain object: ``model(seed)``, ``optimizer(model, lr)``, ``loader(seed)`` (a
re-iterable ``torch.utils.data.DataLoader`` of shuffled training batches with its own seeded
generator, what a user passes to ``find_lr``), ``loss_fn(output, target)``, ``evaluate(model)``
(the validation loss on a fixed held-out set) and ``steps`` (the training budget in optimizer
steps). The seed fixes the initial weights and the batch order.

``DESIGN`` tasks were used while the method was designed; ``HELD_OUT`` tasks were run only once
the method was fixed (the report keeps the two apart).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import numpy as np
import torch
from torch import nn

from bench.tasks import CharTransformer, DigitsCNN, reference_text

Tensors = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]


@dataclass(frozen=True)
class PanelTask:
    """One training problem of the panel; ``family`` is ``"sgd"`` or ``"adam"``."""

    name: str
    title: str
    family: str
    model: Callable[[int], nn.Module]
    optimizer: OptSpec
    loader: Callable[[int], torch.utils.data.DataLoader[tuple[torch.Tensor, torch.Tensor]]]
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    evaluate: Callable[[nn.Module], float]
    steps: int
    batch: int
    validation: tuple[torch.Tensor, torch.Tensor] = (torch.empty(0), torch.empty(0))
    """The validation inputs and targets ``evaluate`` scores on (one batch)."""
    batched: bool = True
    """Train the grid as one vmapped ensemble (``bench/ensemble.py``); ``False`` where vmap has
    no batching rule (GRU) or is slower than separate runs on this CPU (convolutions)."""


def batch_loader(
    x: torch.Tensor, y: torch.Tensor, batch: int, seed: int
) -> torch.utils.data.DataLoader[tuple[torch.Tensor, torch.Tensor]]:
    """A DataLoader of shuffled full batches with its own generator (``seed``); batches are
    gathered by one fancy index each (a ``BatchSampler`` as sampler), not sample by sample."""
    data = torch.utils.data.TensorDataset(x, y)
    gen = torch.Generator().manual_seed(1_000 + seed)
    sampler = torch.utils.data.BatchSampler(
        torch.utils.data.RandomSampler(data, generator=gen), batch, drop_last=True
    )
    return torch.utils.data.DataLoader(data, sampler=sampler, batch_size=None)


def mlp(sizes: list[int], act: type[nn.Module] = nn.ReLU, norm: bool = False,
        dropout: float = 0.0) -> nn.Module:
    layers: list[nn.Module] = []
    for i in range(len(sizes) - 2):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if norm:
            layers.append(nn.BatchNorm1d(sizes[i + 1]))
        layers.append(act())
        if dropout:
            layers.append(nn.Dropout(dropout))
    layers.append(nn.Linear(sizes[-2], sizes[-1]))
    return nn.Sequential(*layers)


def _evaluator(
    xva: torch.Tensor, yva: torch.Tensor, loss_fn: Callable[[torch.Tensor, torch.Tensor],
                                                            torch.Tensor]
) -> Callable[[nn.Module], float]:
    def evaluate(m: nn.Module) -> float:
        m.eval()
        with torch.no_grad():
            loss = float(loss_fn(m(xva), yva))
        m.train()
        return loss if math.isfinite(loss) else math.inf

    return evaluate


# ---------------------------------------------------------------------------------------------
# data


@cache
def digits(images: bool) -> Tensors:
    """scikit-learn's 8x8 digits, the quality benchmark's stratified 1437 / 360 split."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    data = load_digits()
    x = (data.images / 16.0).astype(np.float32)
    x = x[:, None, :, :] if images else x.reshape(len(x), -1)
    y = data.target.astype(np.int64)
    xtr, xva, ytr, yva = train_test_split(x, y, test_size=360, stratify=y, random_state=0)
    return tuple(torch.from_numpy(a) for a in (xtr, ytr, xva, yva))  # type: ignore[return-value]


def _standardise(xtr: np.ndarray, xva: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mu, sd = xtr.mean(0), xtr.std(0) + 1e-8
    return ((xtr - mu) / sd).astype(np.float32), ((xva - mu) / sd).astype(np.float32)


@cache
def tabular(kind: str) -> Tensors:
    """Synthetic tabular data (scikit-learn generators, fixed random_state), standardised."""
    from sklearn.datasets import make_classification, make_friedman1

    if kind == "classes5":
        x, y = make_classification(n_samples=5000, n_features=40, n_informative=12,
                                   n_redundant=8, n_classes=5, n_clusters_per_class=2,
                                   flip_y=0.03, class_sep=1.0, random_state=0)
    elif kind == "classes3":
        x, y = make_classification(n_samples=4000, n_features=24, n_informative=10,
                                   n_redundant=4, n_classes=3, n_clusters_per_class=3,
                                   flip_y=0.05, class_sep=0.8, random_state=1)
    elif kind == "covertype_like":  # covertype's shape: 54 features, 7 unbalanced classes
        x, y = make_classification(n_samples=6000, n_features=54, n_informative=14,
                                   n_redundant=6, n_classes=7, n_clusters_per_class=2,
                                   weights=[0.36, 0.49, 0.06, 0.005, 0.017, 0.03, 0.035],
                                   flip_y=0.05, class_sep=1.0, random_state=3)
    elif kind == "friedman":
        x, y = make_friedman1(n_samples=5000, n_features=10, noise=1.0, random_state=0)
    elif kind == "friedman_wide":
        x, y = make_friedman1(n_samples=3000, n_features=30, noise=0.5, random_state=2)
    else:
        raise ValueError(kind)
    n_val = len(x) // 5
    xtr, xva = _standardise(x[n_val:], x[:n_val])
    if kind.startswith("friedman"):
        mu, sd = y[n_val:].mean(), y[n_val:].std()
        ytr, yva = ((y[n_val:] - mu) / sd).astype(np.float32), ((y[:n_val] - mu) / sd).astype(
            np.float32)
    else:
        ytr, yva = y[n_val:].astype(np.int64), y[:n_val].astype(np.int64)
    return tuple(torch.from_numpy(a) for a in (xtr, ytr, xva, yva))  # type: ignore[return-value]


@cache
def text_windows(context: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor,
                                        int]:
    """The Python Language Reference as characters: 20,000 training windows of ``context``
    characters (fixed random offsets in the first 90%) and 128 validation windows (evenly
    spaced in the last 10%); returns x/y train, x/y validation and the vocabulary size."""
    text = reference_text()
    chars = sorted(set(text))
    lookup = {c: i for i, c in enumerate(chars)}
    ids = torch.tensor([lookup[c] for c in text], dtype=torch.long)
    cut = int(0.9 * len(ids))
    train, val = ids[:cut], ids[cut:]
    gen = torch.Generator().manual_seed(0)
    starts = torch.randint(0, len(train) - context - 1, (20_000,), generator=gen)
    offsets = torch.arange(context)
    xtr, ytr = train[starts[:, None] + offsets], train[starts[:, None] + offsets + 1]
    vs = torch.linspace(0, len(val) - context - 2, 128).long()
    xva, yva = val[vs[:, None] + offsets], val[vs[:, None] + offsets + 1]
    return xtr, ytr, xva, yva, len(chars)


def lm_loss(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return nn.functional.cross_entropy(out.reshape(-1, out.shape[-1]), y.reshape(-1))


def half_mse(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return 0.5 * ((out.squeeze(-1) - y) ** 2).mean()


class PreLNTransformer(nn.Module):
    """Token + position embeddings -> pre-LN encoder layers (causal) -> LayerNorm -> head."""

    def __init__(self, vocab: int, context: int, width: int, heads: int, layers: int) -> None:
        super().__init__()
        self.tok = nn.Embedding(vocab, width)
        self.pos = nn.Embedding(context, width)
        layer = nn.TransformerEncoderLayer(width, heads, dim_feedforward=4 * width, dropout=0.0,
                                           batch_first=True, norm_first=True)
        self.blocks = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(width)
        self.head = nn.Linear(width, vocab)
        self.register_buffer("mask", nn.Transformer.generate_square_subsequent_mask(context),
                             persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[1]
        h = self.tok(x) + self.pos(torch.arange(n, device=x.device))
        h = self.blocks(h, mask=self.mask[:n, :n], is_causal=True)
        return self.head(self.norm(h))


class SmallCNN(nn.Module):
    """conv3x3(8) -> BatchNorm -> ReLU -> conv3x3(16) -> BatchNorm -> ReLU -> avgpool -> fc."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
            nn.Conv2d(8, 16, 3, padding=1, stride=2), nn.BatchNorm2d(16), nn.ReLU(),
            nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(64, 10),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class GRUClassifier(nn.Module):
    """A GRU over the 8 rows of a digit (8 features per step), last state -> fc(10)."""

    def __init__(self, hidden: int = 48) -> None:
        super().__init__()
        self.gru = nn.GRU(8, hidden, batch_first=True)
        self.head = nn.Linear(hidden, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.gru(x.reshape(len(x), 8, 8))
        return self.head(out[:, -1])


# ---------------------------------------------------------------------------------------------
# tasks


@dataclass(frozen=True)
class OptSpec:
    """A torch optimizer by its hyperparameters (``kind`` "sgd", "adam" or "adamw"), so that
    ``bench/ensemble.py`` can apply the same update rule to a stacked ensemble."""

    kind: str
    momentum: float = 0.0
    nesterov: bool = False
    weight_decay: float = 0.0

    def __call__(self, m: nn.Module, lr: float) -> torch.optim.Optimizer:
        if self.kind == "sgd":
            return torch.optim.SGD(m.parameters(), lr=lr, momentum=self.momentum,
                                   nesterov=self.nesterov, weight_decay=self.weight_decay)
        if self.kind == "adam":
            return torch.optim.Adam(m.parameters(), lr=lr, weight_decay=self.weight_decay)
        return torch.optim.AdamW(m.parameters(), lr=lr, weight_decay=self.weight_decay)


def _sgd(momentum: float = 0.9, nesterov: bool = False, wd: float = 0.0) -> OptSpec:
    return OptSpec("sgd", momentum, nesterov, wd)


def _adam(wd: float | None = None) -> OptSpec:
    return OptSpec("adam") if wd is None else OptSpec("adamw", weight_decay=wd)


def _seeded(build: Callable[[], nn.Module]) -> Callable[[int], nn.Module]:
    def model(seed: int) -> nn.Module:
        torch.manual_seed(seed)
        return build()
    return model


def _task(name: str, title: str, family: str, build: Callable[[], nn.Module],
          optimizer: OptSpec, data: Tensors,
          loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], steps: int,
          batch: int, batched: bool = True) -> PanelTask:
    xtr, ytr, xva, yva = data
    return PanelTask(
        name=name, title=title, family=family, model=_seeded(build), optimizer=optimizer,
        loader=lambda seed: batch_loader(xtr, ytr, batch, seed), loss_fn=loss_fn,
        evaluate=_evaluator(xva, yva, loss_fn), steps=steps, batch=batch, validation=(xva, yva),
        batched=batched,
    )


def _text_task(name: str, title: str, family: str, build: Callable[[int, int], nn.Module],
               optimizer: OptSpec, context: int,
               steps: int, batch: int) -> PanelTask:
    xtr, ytr, xva, yva, vocab = text_windows(context)
    return _task(name, title, family, lambda: build(vocab, context), optimizer,
                 (xtr, ytr, xva, yva), lm_loss, steps, batch, batched=False)


def design_tasks() -> list[PanelTask]:
    ce = nn.functional.cross_entropy
    return [
        _task("digits_cnn_nesterov", "digits CNN, SGD + Nesterov momentum 0.9, batch 64",
              "sgd", DigitsCNN, _sgd(0.9, nesterov=True), digits(True), ce, 400, 64, batched=False),
        _task("digits_mlp_adam", "digits MLP 64-256-256-10, Adam, batch 64", "adam",
              lambda: mlp([64, 256, 256, 10]), _adam(), digits(False), ce, 400, 64),
        _task("tabular_mlp_sgd", "tabular MLP 40-256-256-5 (synthetic, 5 classes), SGD "
              "momentum 0.9, batch 128", "sgd", lambda: mlp([40, 256, 256, 5]), _sgd(0.9),
              tabular("classes5"), ce, 500, 128),
        _task("regression_mlp_adamw", "regression MLP 10-128-128-1 (Friedman #1), AdamW "
              "wd 0.01, batch 64", "adam", lambda: mlp([10, 128, 128, 1]), _adam(0.01),
              tabular("friedman"), half_mse, 600, 64),
        _text_task("charlm_postln_adam", "post-LN char transformer (2 layers, width 64), Adam, "
                   "context 16, batch 16", "adam",
                   lambda v, c: CharTransformer(v, c, width=64, heads=4, layers=2), _adam(),
                   16, 300, 16),
    ]


def held_out_tasks() -> list[PanelTask]:
    ce = nn.functional.cross_entropy
    return [
        _task("digits_mlp_bn_sgd", "digits MLP 64-128-128-10 with BatchNorm, SGD momentum 0.9, "
              "batch 32", "sgd", lambda: mlp([64, 128, 128, 10], norm=True), _sgd(0.9),
              digits(False), ce, 600, 32),
        _task("digits_cnn_bn_adam", "digits CNN with BatchNorm, Adam, batch 64", "adam",
              SmallCNN, _adam(), digits(True), ce, 300, 64, batched=False),
        _task("tabular_dropout_adamw", "tabular MLP 24-256-256-3 with dropout 0.2 (synthetic, "
              "3 classes), AdamW wd 0.05, batch 256", "adam",
              lambda: mlp([24, 256, 256, 3], dropout=0.2), _adam(0.05), tabular("classes3"),
              ce, 300, 256),
        _task("regression_tanh_sgd", "regression MLP 30-64-64-1 tanh (Friedman #1, 30 features), "
              "SGD momentum 0.9 + weight decay 5e-4, batch 32", "sgd",
              lambda: mlp([30, 64, 64, 1], act=nn.Tanh), _sgd(0.9, wd=5e-4),
              tabular("friedman_wide"), half_mse, 800, 32),
        _task("tabular_long_sgd", "tabular MLP 40-128-5 (synthetic, 5 classes), SGD + Nesterov "
              "0.9, batch 64, a long budget", "sgd", lambda: mlp([40, 128, 5]),
              _sgd(0.9, nesterov=True), tabular("classes5"), ce, 2000, 64),
        _task("digits_gru_adam", "GRU (hidden 48) over digit rows, Adam, batch 64", "adam",
              GRUClassifier, _adam(), digits(False), ce, 400, 64, batched=False),
        _text_task("charlm_preln_adamw", "pre-LN char transformer (2 layers, width 48), AdamW "
                   "wd 0.1, context 16, batch 16", "adam",
                   lambda v, c: PreLNTransformer(v, c, width=48, heads=4, layers=2),
                   _adam(0.1), 16, 400, 16),
    ]


@cache
def sklearn_table(name: str) -> Tensors:
    """A table that ships with scikit-learn (no download): ``"breast_cancer"`` or ``"wine"``,
    standardised, a fifth (stratified, fixed) held out for validation."""
    from sklearn.datasets import load_breast_cancer, load_wine
    from sklearn.model_selection import train_test_split

    data = load_breast_cancer() if name == "breast_cancer" else load_wine()
    x, y = data.data, data.target
    xtr, xva, ytr, yva = train_test_split(x, y, test_size=0.2, stratify=y, random_state=0)
    xtr, xva = _standardise(xtr, xva)
    return tuple(torch.from_numpy(a) for a in (xtr, ytr.astype(np.int64), xva,  # type: ignore[return-value]
                                               yva.astype(np.int64)))


@cache
def motif_sequences() -> Tensors:
    """Synthetic 1-D sequences (length 64, 4 classes): a class's motif (one of 4 fixed random
    waveforms of length 8) planted at a random position in coloured noise, with a random gain;
    4,000 for training, 1,000 for validation."""
    rng = np.random.default_rng(7)
    motifs = rng.normal(size=(4, 8))
    n = 5000
    y = rng.integers(0, 4, size=n)
    noise = rng.normal(size=(n, 64 + 4))
    x = (noise[:, :-4] + noise[:, 1:-3] + noise[:, 2:-2] + noise[:, 4:]) / 2.0
    pos = rng.integers(0, 64 - 8, size=n)
    gain = rng.uniform(0.5, 1.5, size=n)
    for i in range(n):
        x[i, pos[i] : pos[i] + 8] += gain[i] * motifs[y[i]]
    x = x[:, None, :].astype(np.float32)
    return (torch.from_numpy(x[1000:]), torch.from_numpy(y[1000:]), torch.from_numpy(x[:1000]),
            torch.from_numpy(y[:1000]))


class SeqCNN(nn.Module):
    """conv1d(16, 5) -> ReLU -> conv1d(32, 5, stride 2) -> ReLU -> global max pool -> fc(4)."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv1d(1, 16, 5, padding=2), nn.ReLU(),
            nn.Conv1d(16, 32, 5, padding=2, stride=2), nn.ReLU(),
            nn.AdaptiveMaxPool1d(1), nn.Flatten(), nn.Linear(32, 4),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


def fresh_tasks() -> list[PanelTask]:
    """Held-out tasks added with issue 19, run only after its informed method was fixed."""
    ce = nn.functional.cross_entropy
    return [
        _task("logreg_cancer_sgd", "logistic regression on breast cancer (30 features), plain "
              "SGD, batch 32", "sgd", lambda: nn.Linear(30, 2), _sgd(0.0),
              sklearn_table("breast_cancer"), ce, 300, 32),
        _task("seq_cnn_adam", "1-D CNN on synthetic motif sequences (length 64, 4 classes), "
              "Adam, batch 64", "adam", SeqCNN, _adam(), motif_sequences(), ce, 400, 64,
              batched=False),
        _task("wine_mlp_sgd", "wine MLP 13-64-64-3, SGD momentum 0.9, batch 16", "sgd",
              lambda: mlp([13, 64, 64, 3]), _sgd(0.9), sklearn_table("wine"), ce, 400, 16),
        # wine turned out degenerate (36 validation samples, separable: the best validation
        # loss is ~1e-5 and ratios of such losses mean nothing); added before any other run:
        _task("covertype_like_mlp_sgd", "covertype-like tabular MLP 54-128-128-7 (synthetic, 7 "
              "unbalanced classes), SGD momentum 0.9, batch 64", "sgd",
              lambda: mlp([54, 128, 128, 7]), _sgd(0.9), tabular("covertype_like"), ce, 600, 64),
    ]


def all_tasks() -> dict[str, PanelTask]:
    return {t.name: t for t in [*design_tasks(), *held_out_tasks(), *fresh_tasks()]}
