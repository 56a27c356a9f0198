"""The model protocol: scikit-learn's rules, for classical and deep models alike."""

from __future__ import annotations

import inspect
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
        """Per-feature additive effect on the model's log-odds (or points), one column per
        feature."""
        ...

    def get_params(self, deep: bool = True) -> dict[str, Any]: ...

    def save(self, directory: Path) -> None: ...

    @classmethod
    def load(cls, directory: Path) -> Self: ...


def constructor_params(model: object) -> dict[str, Any]:
    """scikit-learn's get_params for our models: the constructor's arguments, read back.

    Derived from the signature so the constructor stays the one list of hyperparameters.
    """
    parameters = inspect.signature(type(model).__init__).parameters.values()
    return {p.name: getattr(model, p.name) for p in parameters
            if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}


def set_constructor_params(model: Any, params: dict[str, Any]) -> Any:
    """scikit-learn's set_params: only constructor arguments, an unknown name is an error."""
    known = constructor_params(model)
    unknown = sorted(set(params) - set(known))
    if unknown:
        raise ValueError(f"{type(model).__name__} has no parameter(s) {unknown}; "
                         f"it takes {sorted(known)}")
    for key, value in params.items():
        setattr(model, key, value)
    return model


def json_params(params: dict[str, Any]) -> dict[str, Any]:
    """The JSON-able hyperparameters (tuples as lists), as the registry records them; values
    that are not plain data (a callable, an array) are left out."""
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in params.items()
            if isinstance(v, int | float | str | bool | tuple | list | type(None))}


class Hyperparameters:
    """get_params/set_params from the constructor (scikit-learn's BaseEstimator, nothing
    else): a model's constructor stays the one list of its hyperparameters."""

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        return constructor_params(self)

    def set_params(self, **params: Any) -> Self:
        return set_constructor_params(self, params)
