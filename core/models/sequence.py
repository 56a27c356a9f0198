"""The sequence model protocol: what a SequenceRegression candidate (the window LightGBM, the
sequence nets) implements. The Kind builds the windows; models never see frames or the store."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol, Self

import numpy as np

# The quantiles every sequence model returns, in this column order.
QUANTILES = (0.1, 0.5, 0.9)


class SequenceModel(Protocol):
    """A remaining-useful-life regressor on fixed-length windows.

    The constructor only stores plain JSON values (`core.models.protocol.Hyperparameters`),
    the seed is `seed`; fitted attributes end in `_`; `fit` returns self.
    """

    format: str  # artifact format key (core.models.formats maps it to the class)

    def fit(self, windows: np.ndarray, target: np.ndarray,
            valid: tuple[np.ndarray, np.ndarray]) -> Self:
        """`windows` float32 (n, W, F), normalised by the Kind; `target` (n,) the capped RUL;
        `valid` (windows, target) of held-out units (early stopping, never fitting)."""
        ...

    def predict_quantiles(self, windows: np.ndarray) -> np.ndarray:
        """(n, 3): the 0.1, 0.5 and 0.9 quantiles of the RUL of each window's last step."""
        ...

    def refit_params(self) -> dict[str, Any]:
        """After `fit`: the hyperparameters that refit the model on all units (held-out ones
        included) for the budget early stopping chose (epochs, boosting rounds), with early
        stopping off: the validation windows are then part of the training set."""
        ...

    def get_params(self, deep: bool = True) -> dict[str, Any]: ...

    def save(self, directory: Path) -> None: ...

    @classmethod
    def load(cls, directory: Path) -> Self: ...


def sorted_quantiles(q: np.ndarray) -> np.ndarray:
    """Quantile columns sorted per row: separately fitted quantile heads can cross."""
    return np.sort(np.asarray(q, dtype=float), axis=1)
