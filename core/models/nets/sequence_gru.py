"""GRU over sensor windows with a 3-quantile head."""

from __future__ import annotations

import torch
from torch import nn

from core.models.nets.quantile_head import QuantileHead


class SequenceGRU(nn.Module):
    """Stacked GRU reads the window oldest -> newest; the last hidden state (the engine's
    condition now) goes through a small MLP to ordered quantiles. Input (batch, window,
    features); output (batch, 3)."""

    def __init__(self, n_features: int, hidden: int = 32, layers: int = 2, dense: int = 32,
                 dropout: float = 0.1) -> None:
        super().__init__()
        self.gru = nn.GRU(n_features, hidden, num_layers=layers, batch_first=True,
                          dropout=dropout if layers > 1 else 0.0)
        self.dense = nn.Sequential(nn.Dropout(dropout), nn.Linear(hidden, dense), nn.ReLU())
        self.head = QuantileHead(dense)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        output, _ = self.gru(x)
        return self.head(self.dense(output[:, -1]))
