"""Diffusion-convolution GRU with an adaptive adjacency (DCRNN / Graph WaveNet class)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


def random_walk_supports(adjacency: np.ndarray) -> torch.Tensor:
    """Forward and backward random-walk transition matrices with self loops (K=2, N, N): the
    adjacency may be weighted and asymmetric (roads are one-way)."""
    a = np.asarray(adjacency, dtype=np.float32)
    a = a + np.eye(len(a), dtype=np.float32)
    forward = a / a.sum(axis=1, keepdims=True)
    backward = a.T / a.T.sum(axis=1, keepdims=True)
    return torch.tensor(np.stack([forward, backward]))


class DiffusionConv(nn.Module):
    """x -> sum over supports S and hops k of S^k x W_{S,k}: information flows along roads."""

    def __init__(self, n_in: int, n_out: int, n_supports: int, hops: int) -> None:
        super().__init__()
        self.hops = hops
        self.linear = nn.Linear(n_in * (1 + n_supports * hops), n_out)

    def forward(self, x: torch.Tensor, supports: torch.Tensor) -> torch.Tensor:
        parts = [x]
        for s in supports:
            h = x
            for _ in range(self.hops):
                h = torch.einsum("nm,bmf->bnf", s, h)
                parts.append(h)
        return self.linear(torch.cat(parts, dim=-1))


class GraphGRU(nn.Module):
    """Encoder GRU whose gates are diffusion convolutions over the road graph plus a learnt
    adaptive adjacency softmax(relu(E1 E2^T)) (links the map misses), and a linear head that
    reads every horizon from the last state. Forecasts are changes from the last reading
    (a residual on persistence), in scaled units.

    Input x: (batch, history, nodes, features), feature 0 the scaled speed; output
    (batch, horizon, nodes).
    """

    def __init__(self, adjacency: np.ndarray, n_features: int, horizon: int,
                 hidden: int = 32, hops: int = 2, embedding: int = 8) -> None:
        super().__init__()
        n = len(adjacency)
        self.register_buffer("supports", random_walk_supports(adjacency))
        self.source = nn.Parameter(torch.randn(n, embedding) * 0.1)
        self.target = nn.Parameter(torch.randn(n, embedding) * 0.1)
        self.node = nn.Parameter(torch.zeros(n, hidden))  # per-sensor bias
        k = self.supports.shape[0] + 1
        self.gates = DiffusionConv(n_features + hidden, 2 * hidden, k, hops)
        self.candidate = DiffusionConv(n_features + hidden, hidden, k, hops)
        self.head = nn.Sequential(nn.Linear(hidden + n_features, hidden), nn.ReLU(),
                                  nn.Linear(hidden, horizon))
        self.hidden = hidden

    def _supports(self) -> torch.Tensor:
        adaptive = torch.softmax(torch.relu(self.source @ self.target.T), dim=1)
        return torch.cat([self.supports, adaptive[None]], dim=0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, steps, n, _ = x.shape
        supports = self._supports()
        h = self.node.expand(batch, n, self.hidden)
        for t in range(steps):
            xt = x[:, t]
            zr = torch.sigmoid(self.gates(torch.cat([xt, h], dim=-1), supports))
            z, r = zr.chunk(2, dim=-1)
            c = torch.tanh(self.candidate(torch.cat([xt, r * h], dim=-1), supports))
            h = z * h + (1 - z) * c
        out = self.head(torch.cat([h, x[:, -1]], dim=-1))  # (batch, n, horizon)
        return out.permute(0, 2, 1) + x[:, -1:, :, 0]
