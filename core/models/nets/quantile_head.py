"""The 3-quantile output layer shared by the sequence nets: ordered by construction."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class QuantileHead(nn.Module):
    """Linear -> (median, lower gap, upper gap); q0.1 = median - softplus(gap), q0.9 = median +
    softplus(gap), so the three never cross (no sorting after the fact, no crossing penalty)."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.linear = nn.Linear(width, 3)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        out = self.linear(h).float()  # float32 even under autocast: softplus of a half is coarse
        median = out[:, 0]
        return torch.stack([median - F.softplus(out[:, 1]), median,
                            median + F.softplus(out[:, 2])], dim=1)
