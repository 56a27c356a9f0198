"""Small Transformer encoder over sensor windows with a 3-quantile head."""

from __future__ import annotations

import math

import torch
from torch import nn

from core.models.nets.quantile_head import QuantileHead


def sinusoidal_encoding(length: int, width: int) -> torch.Tensor:
    """Vaswani et al.'s fixed positional encoding (length, width): attention alone is blind
    to order, and the order of cycles is the degradation."""
    position = torch.arange(length, dtype=torch.float32)[:, None]
    frequency = torch.exp(torch.arange(0, width, 2, dtype=torch.float32)
                          * (-math.log(10000.0) / width))
    encoding = torch.zeros(length, width)
    encoding[:, 0::2] = torch.sin(position * frequency)
    encoding[:, 1::2] = torch.cos(position * frequency[: width // 2])
    return encoding


class SequenceTransformer(nn.Module):
    """Project each cycle's sensors to d_model, add positions, pre-norm encoder layers, then
    pool (mean over the window + the last cycle) to ordered quantiles. Input (batch, window,
    features); output (batch, 3)."""

    def __init__(self, n_features: int, window: int, d_model: int = 32, heads: int = 4,
                 layers: int = 2, feedforward: int = 64, dropout: float = 0.1) -> None:
        super().__init__()
        self.project = nn.Linear(n_features, d_model)
        self.register_buffer("positions", sinusoidal_encoding(window, d_model))
        layer = nn.TransformerEncoderLayer(d_model, heads, feedforward, dropout,
                                           batch_first=True, norm_first=True)
        # enable_nested_tensor only helps padded batches; windows are never padded.
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d_model)
        self.dense = nn.Sequential(nn.Linear(2 * d_model, d_model), nn.ReLU())
        self.head = QuantileHead(d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.norm(self.encoder(self.project(x) + self.positions[: x.shape[1]]))
        return self.head(self.dense(torch.cat([h.mean(dim=1), h[:, -1]], dim=1)))
