"""The model protocol: scikit-learn's rules, for classical and deep models alike."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol, Self

import numpy as np
import pandas as pd


class Model(Protocol):
    """A candidate estimator.

    The constructor only stores its arguments; fitted attributes end in `_`; `fit` returns self.
    Models never touch the store: pipelines do.
    """

    format: str  # artifact format key (core.models.formats maps it to the loader)

    def fit(
        self, X: pd.DataFrame, y: np.ndarray, *,
        X_valid: pd.DataFrame | None = None, y_valid: np.ndarray | None = None,
    ) -> Self: ...

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray: ...

    def contributions(self, X: pd.DataFrame) -> pd.DataFrame:
        """Per-feature additive effect on the model's log-odds (or points), one column per feature."""
        ...

    def get_params(self, deep: bool = True) -> dict[str, Any]: ...

    def save(self, directory: Path) -> None: ...

    @classmethod
    def load(cls, directory: Path) -> Self: ...
