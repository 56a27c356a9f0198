"""The graph-free baseline of GraphGRU: one GRU shared by every sensor, each series on its own."""

from __future__ import annotations

import torch
from torch import nn


class SeriesGRU(nn.Module):
    """The graph-free baseline: one GRU shared by every sensor, each series on its own; the
    same residual head as GraphGRU so the graph is the only difference."""

    def __init__(self, n_features: int, horizon: int, hidden: int = 32) -> None:
        super().__init__()
        self.gru = nn.GRU(n_features, hidden, batch_first=True)
        self.head = nn.Sequential(nn.Linear(hidden + n_features, hidden), nn.ReLU(),
                                  nn.Linear(hidden, horizon))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, steps, n, f = x.shape
        seq = x.permute(0, 2, 1, 3).reshape(batch * n, steps, f)
        _, h = self.gru(seq)
        out = self.head(torch.cat([h[-1], seq[:, -1]], dim=-1)).reshape(batch, n, -1)
        return out.permute(0, 2, 1) + x[:, -1:, :, 0]
