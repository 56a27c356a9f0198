"""1D-CNN over sensor windows (Li et al. 2018 DCNN style) with a 3-quantile head."""

from __future__ import annotations

import torch
from torch import nn

from core.models.nets.quantile_head import QuantileHead


class SequenceCNN(nn.Module):
    """Stacked same-padded convolutions along time (every sensor is a channel), then a dense
    layer on the flattened feature map. Input (batch, window, features); output (batch, 3)
    ordered quantiles q0.1 <= q0.5 <= q0.9 in the scaled target's units.

    Li et al. use 4 x (10 filters, kernel 10) + (1 filter, kernel 3) and tanh; flattening
    keeps *where* in the window a pattern sits (the latest cycles matter most).
    """

    def __init__(self, n_features: int, window: int, channels: int = 10, kernel: int = 10,
                 layers: int = 4, dense: int = 100, dropout: float = 0.5) -> None:
        super().__init__()
        blocks: list[nn.Module] = []
        width = n_features
        for _ in range(layers):
            blocks += [nn.Conv1d(width, channels, kernel, padding="same"), nn.Tanh()]
            width = channels
        blocks += [nn.Conv1d(width, 1, 3, padding="same"), nn.Tanh()]
        self.convolutions = nn.Sequential(*blocks)
        self.dense = nn.Sequential(nn.Flatten(), nn.Dropout(dropout),
                                   nn.Linear(window, dense), nn.Tanh())
        self.head = QuantileHead(dense)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.dense(self.convolutions(x.transpose(1, 2))))
