"""A tiny LightningCLI program with an lrkit schedule stepped per batch and a plateau fed the
validation loss. Run it with its config:

    python examples/lightning_cli.py fit --config examples/configs/lightning_cli.yaml

The config (examples/configs/lightning_cli.yaml) picks the optimizer, the lrkit schedule and the
``ReportMetric`` callback; ``lrkit.lightning.cli.LightningCLI`` makes Lightning step the
scheduler every batch (plain ``LightningCLI`` steps it once per epoch).
"""

from __future__ import annotations

import lightning.pytorch as L
import torch

from lrkit.lightning.cli import LightningCLI


class Regressor(L.LightningModule):
    """A two-layer regressor; logs ``val_loss``."""

    def __init__(self, features: int = 4, hidden: int = 8) -> None:
        super().__init__()
        self.net = torch.nn.Sequential(torch.nn.Linear(features, hidden), torch.nn.Tanh(),
                                       torch.nn.Linear(hidden, 1))

    def _loss(self, batch: list[torch.Tensor]) -> torch.Tensor:
        x, y = batch
        return torch.nn.functional.mse_loss(self.net(x), y)

    def training_step(self, batch: list[torch.Tensor], batch_idx: int) -> torch.Tensor:
        return self._loss(batch)

    def validation_step(self, batch: list[torch.Tensor], batch_idx: int) -> None:
        self.log("val_loss", self._loss(batch))


class NoisySine(L.LightningDataModule):
    """``y = sin(sum(x)) + noise``, a fixed random train and validation set."""

    def __init__(self, train_size: int = 64, val_size: int = 16, batch_size: int = 4,
                 features: int = 4, seed: int = 1) -> None:
        super().__init__()
        self.sizes, self.batch_size, self.features, self.seed = (train_size, val_size), \
            batch_size, features, seed

    def _loader(self, n: int, seed: int) -> torch.utils.data.DataLoader:  # type: ignore[type-arg]
        gen = torch.Generator().manual_seed(seed)
        x = torch.randn(n, self.features, generator=gen)
        y = x.sum(1, keepdim=True).sin() + 0.3 * torch.randn(n, 1, generator=gen)
        return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y),
                                           batch_size=self.batch_size)

    def train_dataloader(self) -> torch.utils.data.DataLoader:  # type: ignore[type-arg]
        return self._loader(self.sizes[0], self.seed)

    def val_dataloader(self) -> torch.utils.data.DataLoader:  # type: ignore[type-arg]
        return self._loader(self.sizes[1], self.seed + 1)


def main(args: list[str] | None = None) -> LightningCLI:
    return LightningCLI(Regressor, NoisySine, args=args)


if __name__ == "__main__":
    main()
