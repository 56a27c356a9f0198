"""Small stand-ins for tests: a fake Kind, a JSON Predictor and a Task factory."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pandera.pandas as pa

from core.kinds.base import (
    PRIMARY_OUTPUT,
    SECTIONS,
    Batching,
    Benchmark,
    Candidate,
    Gate,
    ledger_frame,
    sorted_groups,
)
from core.kinds.live import classifier_metrics, realised_rows
from core.task import Task

FAKE_SCHEMA = pa.DataFrameSchema(
    {
        "application_id": pa.Column(str),
        "amount": pa.Column(float, nullable=True),
        "months": pa.Column(int),
        "owner": pa.Column(bool),
        "applied_at": pa.Column("datetime64[ns]"),
        "region": pa.Column(str, nullable=True),
        "default": pa.Column(int, nullable=True),
    }
)


@dataclass
class FakePredictor:
    """Scores rows with a fixed weight; its artifact is two JSON files."""

    weight: float = 0.5
    format: str = "fake-json"

    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        score = 1.0 / (1.0 + np.exp(-self.weight * frame["months"].to_numpy(dtype=float) / 10))
        return ledger_frame(len(frame), frame["application_id"].astype(str).to_numpy(), score,
                            label=np.where(score > 0.5, "bad", "good"))

    def save(self, directory: Path) -> None:
        (directory / "weights.json").write_text(json.dumps({"weight": self.weight}))
        (directory / "notes").mkdir()
        (directory / "notes" / "readme.json").write_text(json.dumps({"note": "fake"}))


@dataclass(frozen=True)
class FakeKind:
    """The declared Kind protocol (core.kinds.base.Kind) and nothing else: what the store, the
    registry and the pipelines may rely on (tests/core/kinds/test_contract.py checks it)."""

    name: str = "fake"
    primary_metric: str = "auc"
    higher_is_better: bool = True
    entity: str = "application_id"
    step_column: str | None = None
    label_columns: tuple[str, ...] = ("default",)
    outputs: tuple[str, ...] = (PRIMARY_OUTPUT,)
    batching: Batching = Batching.ROWS
    display_metrics: tuple[str, ...] = ("auc", "ks")
    sections: tuple[str, ...] = SECTIONS
    bench_options: tuple[str, ...] = ()
    frame_attrs: tuple[str, ...] = ()
    gate: Gate = Gate("auc", 0.6, min_outcomes=4)

    def realised(self, task: Task, frame: pd.DataFrame, ledger: pd.DataFrame) -> pd.DataFrame:
        return realised_rows(ledger, frame, entity=self.entity, label=self.label_columns[0])

    def live_metrics(self, realised: pd.DataFrame) -> dict[str, float]:
        return classifier_metrics(realised, 0.5)

    def default_models(self) -> Mapping[str, Callable[..., Any]]:
        return {}

    def key_columns(self) -> tuple[str, ...]:
        return (self.entity,)

    def scoring_columns(self, task: Task) -> list[str]:
        return [c for c in task.schema.columns if c not in self.label_columns]

    def scoring_groups(self, keys: Sequence[Any], chunk_size: int) -> list[list[Any]]:
        return sorted_groups(keys, chunk_size)

    def train(self, task: Task, frame: pd.DataFrame, *, profile: str, seed: int,
              models: tuple[str, ...] | None = None) -> list[Candidate]:
        return [candidate("fake", 0.7)]

    def load_predictor(self, directory: Path, config: Mapping[str, Any],
                       formats: Any) -> FakePredictor:
        assert config["format"] == "fake-json"
        weights = json.loads((directory / "weights.json").read_text())
        return FakePredictor(weight=weights["weight"])

    def bench(self, task: Task, frame: pd.DataFrame, *, dataset: str, profile: str, seed: int,
              **options: Any) -> dict[str, Any]:
        return {}

    def benchmarks(self) -> Mapping[str, Benchmark]:
        return {}


def fake_sample(n: int, seed: int = 0) -> pd.DataFrame:
    """Rows with every column type the store maps, including missing values."""
    rng = np.random.default_rng(seed)
    amount = rng.normal(1000, 300, n).round(2)
    amount[::7] = np.nan
    region = pd.Series(rng.choice(["north", "south", "ëast"], n), dtype="str")
    region[::5] = None
    target = pd.Series(rng.integers(0, 2, n), dtype="Int64")
    target[::3] = pd.NA
    return pd.DataFrame({
        "application_id": pd.Series([f"A{i:07d}" for i in range(n)], dtype="str"),
        "amount": amount,
        "months": rng.integers(6, 72, n),
        "owner": rng.random(n) < 0.4,
        "applied_at": pd.Timestamp("2024-01-01 08:30:00.123456")
        + pd.to_timedelta(rng.integers(0, 10**9, n), unit="s"),
        "region": region,
        "default": target,
    })


def make_task(name: str = "test.fake", kind: FakeKind | None = None,
              schema: pa.DataFrameSchema = FAKE_SCHEMA) -> Task:
    return Task(name=name, title="Fake", description="A Task for store tests.",
                kind=kind or FakeKind(), schema=schema, sample=fake_sample)


def candidate(name: str, value: float, weight: float = 0.5) -> Candidate:
    return Candidate(name=name, predictor=FakePredictor(weight=weight),
                     metrics={"auc": value, "ks": value / 2}, params={"weight": weight},
                     train_rows=100, reference={"months": {"bins": [0, 12, 72]}})
