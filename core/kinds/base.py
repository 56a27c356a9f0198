"""What every problem Kind provides to the pipelines, the registry and the dashboards."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import pandas as pd

if TYPE_CHECKING:
    from core.models.protocol import Model
    from core.task import Task

# Columns of the frame a Predictor returns; the pipelines add task, model version, run, batch.
LEDGER_COLUMNS = (
    "entity_key",  # str: the Kind's id (tabular row id, series id, study id)
    "as_of",  # datetime64: the time the prediction is for/made at (epoch when the Kind has none)
    "horizon",  # int: steps ahead (0 for non-forecasting Kinds)
    "score",  # float: probability of the positive class, or the point forecast
    "label",  # str | None: the decision at the operating point / cut-off
    "lower",  # float | None: lower interval bound
    "upper",  # float | None: upper interval bound
    "payload",  # str | None: JSON with Kind-specific extras (score points, quantiles)
    "reasons",  # str | None: JSON list of the top reasons [{"feature", "value", "effect"}]
)


class Predictor(Protocol):
    """A fitted candidate as the registry stores it: everything needed to score raw rows."""

    format: str  # artifact format key, written to config.json and used to load it back

    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Ledger-shaped rows (LEDGER_COLUMNS) for raw Task rows (after Task.features)."""
        ...

    def save(self, directory: Path) -> None:
        """Write the artifact files (safe formats only: JSON, LightGBM text, safetensors)."""
        ...


@dataclass
class Candidate:
    """One trained candidate with its held-out metrics, ready to register."""

    name: str
    predictor: Predictor
    metrics: dict[str, float]
    params: dict[str, Any]
    train_rows: int
    reference: dict[str, Any] = field(default_factory=dict)  # drift reference (core.monitor)


class Kind(Protocol):
    """A problem shape: splits, metrics, default candidates, prediction rows."""

    name: str
    primary_metric: str
    higher_is_better: bool

    def default_models(self) -> Mapping[str, Callable[..., Model]]: ...

    def key_columns(self) -> tuple[str, ...]:
        """Columns that identify a row, unique together in the input table (id; series + time)."""
        ...

    def train(
        self, task: Task, frame: pd.DataFrame, *, profile: str, seed: int,
        models: tuple[str, ...] | None = None,
    ) -> list[Candidate]: ...

    def load_predictor(self, directory: Path, config: Mapping[str, Any]) -> Predictor: ...

    def bench(
        self, task: Task, frame: pd.DataFrame, *, dataset: str, profile: str, seed: int,
    ) -> dict[str, Any]: ...


def require_format(directory: Path, config: Mapping[str, Any], prefix: str, what: str) -> None:
    """Refuse an artifact whose config.json names another Kind's format (before any byte of
    the model is read), naming what was found and what was expected."""
    if not str(config.get("format", "")).startswith(prefix):
        raise ValueError(f"{directory}: format {config.get('format')!r} is not {what} "
                         f"(expected '{prefix}<model>')")
