"""Cost-based decisions: expected cost over thresholds and the threshold that minimises it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Costs:
    """What a wrong decision costs: a missed positive (a failure run on) and a needless action
    (a machine stopped that would not have failed)."""

    missed: float
    needless: float

    def __post_init__(self) -> None:
        if self.missed < 0 or self.needless < 0 or self.missed + self.needless == 0:
            raise ValueError(f"costs must be non-negative and not both zero, got {self}")


def cost_curve(y: np.ndarray, p: np.ndarray, costs: Costs,
               thresholds: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(thresholds, mean cost per row) when acting on p >= threshold."""
    y = np.asarray(y, dtype=int)
    p = np.asarray(p, dtype=float)
    if len(y) != len(p) or not len(y):
        raise ValueError(f"y and p need the same non-zero length, got {len(y)} and {len(p)}")
    grid = np.linspace(0.0, 1.0, 201) if thresholds is None else np.asarray(thresholds, float)
    act = p[None, :] >= grid[:, None]
    missed = ((~act) & (y[None, :] == 1)).sum(axis=1)
    needless = (act & (y[None, :] == 0)).sum(axis=1)
    return grid, (missed * costs.missed + needless * costs.needless) / len(y)


def best_threshold(y: np.ndarray, p: np.ndarray, costs: Costs) -> tuple[float, float]:
    """(threshold, mean cost per row) minimising expected cost. Candidates are the observed
    scores; the threshold returned sits halfway below the cheapest one, so new rows scoring
    between two training scores are not decided by an edge of the data."""
    p = np.asarray(p, dtype=float)
    grid, cost = cost_curve(y, p, costs, np.unique(np.concatenate([p, [1.0 + 1e-9]])))
    i = int(np.argmin(cost))
    threshold = grid[i] if i == 0 else (grid[i - 1] + grid[i]) / 2
    return float(min(threshold, 1.0)), float(cost[i])


def policy_costs(y: np.ndarray, costs: Costs) -> dict[str, float]:
    """Mean cost per row of the two naive policies: never act, always act."""
    y = np.asarray(y, dtype=int)
    return {"never": float(y.mean() * costs.missed),
            "always": float((1 - y.mean()) * costs.needless)}
