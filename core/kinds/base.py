"""The Kind contract: every member the pipelines, the registry, the dashboards and
`core.testing` use of a problem shape, declared and typed (`check_kind` verifies it)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import pandas as pd

from core.intervals import Interval

if TYPE_CHECKING:
    import pandera.pandas as pa

    from core.fairness import Protected
    from core.models.formats import Formats
    from core.models.protocol import Model

# Columns of the frame a Predictor returns; the pipelines add task, model version, run, batch.
LEDGER_COLUMNS = (
    "entity_key",  # str: the value of the Kind's entity column (row id, series, study, unit)
    "output",  # str: which output this row holds; PRIMARY_OUTPUT for the Kind's main one
    "as_of",  # datetime64: the time the prediction is for/made at (EPOCH when the Kind has none)
    "step",  # int: an integer position (a cycle number) for Kinds indexed by steps, else 0
    "horizon",  # int: steps ahead (0 for non-forecasting Kinds)
    "score",  # float: probability of the positive class, or the point forecast
    "label",  # str | None: the decision at the operating point / cut-off
    "lower",  # float | None: lower interval bound
    "upper",  # float | None: upper interval bound
    "payload",  # str | None: JSON with Kind-specific extras (score points, quantiles)
    "reasons",  # str | None: JSON list of the top reasons [{"feature", "value", "effect"}]
)
# The output every Kind has: its main prediction. Further outputs of one entity (a failure
# mode's probability beside the failure's) are named by the Kind (`Kind.outputs`).
PRIMARY_OUTPUT = ""
EPOCH = pd.Timestamp("1970-01-01")
# The generic dashboard sections (dashboards/task_page.py renders each by name); a Kind lists
# those that apply to it in `Kind.sections`. A new section is added here, for every Kind.
SECTIONS = ("data", "models", "predictions", "drift", "runs")
# Every section name: SECTIONS, which every problem shape has, and those only some shapes
# have: `forecast` (a fan chart per series, a per-horizon leaderboard, error against the naive
# forecast) for Kinds whose ledger rows are forecasts with quantiles; `performance` (ROC, KS,
# gains and lift, calibration, confusion matrix and decision rates at the cut-off, on stored
# outcomes) for binary classifiers.
ALL_SECTIONS = (*SECTIONS, "forecast", "performance")


class Batching(StrEnum):
    """How `score` cuts a Task's stored rows into batches (one transaction each)."""

    ROWS = "rows"  # fixed _row_id ranges: every row is scored on its own (applications, images)
    SERIES = "series"  # groups of whole entities: every stored row of each (histories, units)
    SLICES = "slices"  # whole time slices of the panel: every entity at each time (graphs)


@dataclass(frozen=True)
class Benchmark:
    """A named benchmark a Kind offers besides its dataset protocol (`Kind.bench`).

    `run(task, frame, profile=, seed=, **options) -> dict` runs it on an adapter's frame when
    `dataset` is true (frame is None otherwise); `run=None` names a benchmark of the store and
    pipelines (`pipelines.bench.STORE_BENCHMARKS`), which core cannot run itself. `options` are
    the command-line options it accepts.
    """

    name: str
    description: str
    dataset: bool = True
    options: tuple[str, ...] = ()
    run: Callable[..., dict[str, Any]] | None = None


class TaskSpec(Protocol):
    """What a Kind reads of its Task (core.task.Task implements it): the Kind never imports
    core.task, so the contract has one direction."""

    name: str
    schema: pa.DataFrameSchema
    # Columns kept in the store for the fairness report but, unless opted in, never features.
    protected: Protected

    def candidates(self) -> Mapping[str, Callable[..., Model]]: ...

    def build_model(self, model: str, profile: str, *, seed: int | None = None) -> Model: ...

    def feature_frame(self, frame: pd.DataFrame) -> pd.DataFrame: ...


class Predictor(Protocol):
    """A fitted candidate as the registry stores it: everything needed to score raw rows."""

    format: str  # artifact format key, written to config.json and used to load it back

    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Ledger-shaped rows (LEDGER_COLUMNS) for raw Task rows (after Task.features)."""
        ...

    def save(self, directory: Path) -> None:
        """Write the artifact files (safe formats only: JSON, LightGBM text, safetensors)."""
        ...


@dataclass(frozen=True)
class Gate:
    """What a champion must keep up on arriving outcomes (`Kind.gate`, a Task may override it):
    the live `metric` must reach `threshold` over at least `min_outcomes` outcomes; below it a
    retrain starts, and a challenger is promoted only when it beats the champion on `metric`."""

    metric: str
    threshold: float
    min_outcomes: int = 30
    higher_is_better: bool = True

    def passes(self, value: float) -> bool:
        return value >= self.threshold if self.higher_is_better else value <= self.threshold

    def beats(self, challenger: float, champion: float) -> bool:
        return challenger > champion if self.higher_is_better else challenger < champion


@dataclass
class Candidate:
    """One trained candidate with its held-out metrics, ready to register.

    `intervals`: metric name -> its bootstrap interval over the held-out units the metric was
    measured on (core.intervals); every Kind records one for its primary metric (check_task
    verifies it holds the point value), and for display metrics where that is cheap.
    """

    name: str
    predictor: Predictor
    metrics: dict[str, float]
    params: dict[str, Any]
    train_rows: int
    reference: dict[str, Any] = field(default_factory=dict)  # drift reference (core.monitor)
    intervals: Mapping[str, Interval] = field(default_factory=dict)


class Kind(Protocol):
    """A problem shape: columns, splits, metrics, default candidates, score batches, ledger rows.

    Everything outside core/kinds uses a Kind through these members only.
    """

    name: str
    primary_metric: str
    higher_is_better: bool

    @property
    def entity(self) -> str:
        """The column naming what a prediction is about (its ledger entity_key): the row id,
        the series, the study, the unit."""
        ...

    @property
    def step_column(self) -> str | None:
        """The key column that orders an entity's rows (a time, or an integer such as a cycle);
        None when each entity is one row. SLICES batching cuts the panel along it; in the
        ledger its times land in `as_of` and its integers in `step`."""
        ...

    @property
    def label_columns(self) -> tuple[str, ...]:
        """Columns holding outcomes (targets): nullable in the store so unlabelled rows can be
        scored; `train` reads rows where the first is known; features never read any of them."""
        ...

    @property
    def outputs(self) -> tuple[str, ...]:
        """The ledger outputs one entity gets, PRIMARY_OUTPUT first (more for multi-label)."""
        ...

    @property
    def batching(self) -> Batching:
        """How `score` forms batches (see Batching)."""
        ...

    @property
    def display_metrics(self) -> tuple[str, ...]:
        """Metrics the dashboards show for a model version, most important first (the primary
        metric among them)."""
        ...

    @property
    def sections(self) -> tuple[str, ...]:
        """The generic dashboard sections that apply, in order (dashboards.sections names)."""
        ...

    @property
    def bench_options(self) -> tuple[str, ...]:
        """Options the dataset protocol `bench` takes besides dataset/profile/seed ("seeds")."""
        ...

    @property
    def frame_attrs(self) -> tuple[str, ...]:
        """Names of `frame.attrs` entries an adapter sets that describe the whole dataset, not
        a row (a graph's adjacency and its sensor order), JSON values. Ingest stores them with
        the rows and every frame read back from the store carries the latest ones, so `train`
        from the store sees what `train` from the file saw. () for most Kinds."""
        ...

    def key_columns(self) -> tuple[str, ...]:
        """Columns that identify a stored row, unique together (id; series + time): ingest
        deduplicates on all of them."""
        ...

    def scoring_columns(self, task: TaskSpec) -> list[str]:
        """The input columns `score` reads (labels left out unless they are the history)."""
        ...

    def scoring_groups(self, keys: Sequence[Any], chunk_size: int) -> list[list[Any]]:
        """Batches of keys for SERIES (entity values) and SLICES (time values) batching;
        batch b is the b-th group, so a batch number means the same keys on every run."""
        ...

    def default_models(self) -> Mapping[str, Callable[..., Model]]: ...

    def train(
        self, task: TaskSpec, frame: pd.DataFrame, *, profile: str, seed: int,
        models: tuple[str, ...] | None = None,
    ) -> list[Candidate]: ...

    def load_predictor(self, directory: Path, config: Mapping[str, Any],
                       formats: Formats) -> Predictor:
        """The predictor `Predictor.save` wrote to `directory`; models come from `formats`."""
        ...

    def bench(
        self, task: TaskSpec, frame: pd.DataFrame, *, dataset: str, profile: str, seed: int,
        **options: Any,
    ) -> dict[str, Any]: ...

    def benchmarks(self) -> Mapping[str, Benchmark]:
        """Named benchmarks besides the dataset protocol (throughput, predict speed)."""
        ...

    @property
    def gate(self) -> Gate:
        """The default gate on live accuracy (a live_metrics key, threshold, minimum outcomes)."""
        ...

    def realised(self, task: TaskSpec, frame: pd.DataFrame,
                 ledger: pd.DataFrame) -> pd.DataFrame:
        """The ledger rows whose outcome is known in the stored rows `frame`, with `actual`
        (the outcome in the score's terms), `baseline` (the naive forecast, NaN when the Kind
        has none) and `at` (the time the outcome belongs to, for monthly figures) added."""
        ...

    def live_metrics(self, realised: pd.DataFrame) -> dict[str, float]:
        """Realised metrics of `realised` rows (what `realised` returned) with "n" outcomes."""
        ...


def sorted_groups(keys: Sequence[Any], chunk_size: int) -> list[list[Any]]:
    """Sorted keys cut into groups of `chunk_size`: the scoring_groups every built-in Kind uses."""
    ordered = sorted(set(keys))
    size = max(int(chunk_size), 1)
    return [ordered[i:i + size] for i in range(0, len(ordered), size)]


def ledger_frame(n: int, entity_key: Any, score: Any, **columns: Any) -> pd.DataFrame:
    """A LEDGER_COLUMNS frame of `n` rows; columns not given take their neutral value
    (primary output, EPOCH, step 0, horizon 0, no interval, label, payload or reasons)."""
    unknown = sorted(set(columns) - set(LEDGER_COLUMNS))
    if unknown:
        raise KeyError(f"not ledger columns: {unknown}; the ledger has {list(LEDGER_COLUMNS)}")
    defaults: dict[str, Any] = {
        "output": np.full(n, PRIMARY_OUTPUT, dtype=object),
        "as_of": np.full(n, EPOCH.to_datetime64()),
        "step": np.zeros(n, dtype=np.int64),
        "horizon": np.zeros(n, dtype=np.int64),
        "label": np.full(n, None, dtype=object),
        "lower": np.full(n, np.nan),
        "upper": np.full(n, np.nan),
        "payload": np.full(n, None, dtype=object),
        "reasons": np.full(n, None, dtype=object),
    }
    data = {**defaults, "entity_key": entity_key, "score": score, **columns}
    return pd.DataFrame(data, columns=list(LEDGER_COLUMNS))


def require_format(directory: Path, config: Mapping[str, Any], prefix: str, what: str) -> None:
    """Refuse an artifact whose config.json names another Kind's format (before any byte of
    the model is read), naming what was found and what was expected."""
    if not str(config.get("format", "")).startswith(prefix):
        raise ValueError(f"{directory}: format {config.get('format')!r} is not {what} "
                         f"(expected '{prefix}<model>')")
