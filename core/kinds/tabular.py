"""TabularClassification: binary classification of table rows (credit default, failure, churn)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa

from core.evaluate import (
    classification_metrics,
    leaderboard,
    repeated_stratified_folds,
    stratified_split,
    time_split,
)
from core.explain import top_reasons
from core.kinds.base import (
    EPOCH,
    PRIMARY_OUTPUT,
    SECTIONS,
    Batching,
    Benchmark,
    Candidate,
    Gate,
    TaskSpec,
    ledger_frame,
    require_format,
    sorted_groups,
)
from core.kinds.live import classifier_metrics, realised_rows
from core.kinds.predictor_files import load_predictor_files, save_predictor
from core.models.calibration import Calibrator
from core.models.formats import BUILTIN, lazy_factory
from core.models.protocol import json_params
from core.models.scorecard import points_from_probability
from core.monitor import reference_profile

if TYPE_CHECKING:
    from core.models.formats import Formats
    from core.models.protocol import Model

PREDICTOR_FILE = "predictor.json"
FORMAT_PREFIX = "tabular."
BLEND = "blend"
SCORECARD = "scorecard"  # the one model format whose scores are points by construction
SPLIT = (0.6, 0.2, 0.2)  # fit / calibration / test
TEXT = pd.StringDtype("pyarrow", np.nan)  # pandas 3's default "str" dtype


@dataclass(frozen=True)
class TabularClassification:
    """A Kind for "will this row be positive?" with one id column and an optional time column.

    Features are every column except the id, the time and the target (datetime columns are
    skipped too), so a generic CSV with any columns trains unchanged. Splits are time-ordered
    when `time` is in the frame (the future never trains the past), stratified otherwise.
    `decisions` names the two actions in the Task's words: the first below `cutoff`, the second
    at or above it (credit: approve / decline, the positive class being the bad outcome; a churn
    Task: retain / contact).
    """

    target: str
    id: str
    time: str | None = None
    positive: Any = 1
    cutoff: float = 0.5
    calibration: str = "platt"
    blend: bool = True  # add a "blend" candidate averaging the others' calibrated PDs
    decisions: tuple[str, str] = ("approve", "decline")
    # Further outcome columns of the same row (failure modes): labels, never features.
    modes: tuple[str, ...] = ()
    # (cost of a missed positive, cost of a needless action): when set, each candidate's
    # cut-off minimises expected cost on its calibration predictions (core.decision).
    costs: tuple[float, float] | None = None

    name = "tabular_classification"
    primary_metric = "auc"
    higher_is_better = True
    outputs = (PRIMARY_OUTPUT,)
    batching = Batching.ROWS
    display_metrics = ("auc", "ks", "gini", "brier", "ece")
    sections = SECTIONS
    bench_options = ()
    gate = Gate("auc", 0.6, min_outcomes=50)

    def __post_init__(self) -> None:
        if len(self.decisions) != 2 or len(set(self.decisions)) != 2 or not all(self.decisions):
            raise ValueError(f"decisions must be two different non-empty words (below, at or "
                             f"above the cut-off), got {self.decisions!r}")

    # --- the declared contract (core.kinds.base.Kind) -------------------------------------------

    @property
    def entity(self) -> str:
        return self.id

    @property
    def step_column(self) -> str | None:
        return None  # an application is one row; its date orders nothing

    @property
    def label_columns(self) -> tuple[str, ...]:
        return (self.target, *self.modes)

    def benchmarks(self) -> Mapping[str, Benchmark]:
        return {"throughput": Benchmark(
            "throughput", "end-to-end `score` of --rows generated rows against the bare read, "
            "predict and write of the same rows (ratio = bare / end-to-end)",
            dataset=False, options=("rows", "chunk_size"))}

    def realised(self, task: TaskSpec, frame: pd.DataFrame,
                 ledger: pd.DataFrame) -> pd.DataFrame:
        """Rows whose target arrived: actual 1.0 for the positive class, at = the row's time."""
        return realised_rows(ledger, frame, entity=self.id, label=self.target,
                             actual=lambda labels: (labels == self.positive).astype(float),
                             time=self.time)

    def live_metrics(self, realised: pd.DataFrame) -> dict[str, float]:
        return classifier_metrics(realised, self.cutoff)

    def default_models(self) -> Mapping[str, Callable[..., Model]]:
        return {
            "scorecard": lazy_factory(BUILTIN["scorecard"]),
            "lightgbm": lazy_factory(BUILTIN["lightgbm"]),
            "tabular_net": lazy_factory(BUILTIN["tabular_mlp"]),
        }

    def key_columns(self) -> tuple[str, ...]:
        return (self.id,)  # the id alone identifies an application; its date is not part of it

    def scoring_columns(self, task: TaskSpec) -> list[str]:
        # the model never sees labels
        return [c for c in task.schema.columns if c not in self.label_columns]

    def scoring_groups(self, keys: Sequence[Any], chunk_size: int) -> list[list[Any]]:
        return sorted_groups(keys, chunk_size)

    def feature_columns(self, frame: pd.DataFrame) -> list[str]:
        skip = {*self.key_columns(), self.time, *self.label_columns}
        return [c for c in frame.columns
                if c not in skip and not pd.api.types.is_datetime64_any_dtype(frame[c])]

    def labelled(self, frame: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
        """Rows with a known target, and their 0/1 labels (1 = the `positive` value)."""
        if self.target not in frame.columns:
            raise KeyError(f"the frame has no target column {self.target!r}; "
                           f"columns: {', '.join(map(str, frame.columns))}")
        known = frame[self.target].notna().to_numpy()
        rows = frame[known].reset_index(drop=True)
        y = (rows[self.target].astype("object") == self.positive).to_numpy(dtype=int)
        if len(np.unique(y)) < 2:
            raise ValueError(f"{self.target!r} needs both classes among labelled rows "
                             f"({len(y)} rows; positive value {self.positive!r})")
        return rows, y

    def _members(self, task: TaskSpec, models: tuple[str, ...] | None) -> tuple[list[str], bool]:
        names = list(task.candidates()) if models is None else [m for m in models if m != BLEND]
        wants_blend = (self.blend and models is None) or (models is not None and BLEND in models)
        return names, wants_blend and len(names) >= 2

    def train(
        self, task: TaskSpec, frame: pd.DataFrame, *, profile: str, seed: int,
        models: tuple[str, ...] | None = None,
    ) -> list[Candidate]:
        """Fit each candidate on the fit part, calibrate it on the calibration part, test it."""
        rows, y = self.labelled(frame)
        features = self.feature_columns(rows)
        X = rows[features]
        if self.time is not None and self.time in rows.columns:
            parts = time_split(rows[self.time], SPLIT)
        else:
            parts = stratified_split(y, SPLIT, seed)
        (X_fit, X_cal, X_test), (y_fit, y_cal, y_test) = (
            [X.iloc[p] for p in parts], [y[p] for p in parts])
        names, wants_blend = self._members(task, models)
        reference = reference_profile(X_fit, features)
        fitted: dict[str, tuple[Model, Calibrator]] = {}
        candidates = []
        for name in names:
            model = task.build_model(name, profile, seed=seed).fit(X_fit, y_fit)
            calibrator = Calibrator(self.calibration).fit(model.predict_proba(X_cal)[:, 1], y_cal)
            fitted[name] = (model, calibrator)
            candidates.append(self._candidate(name, model, calibrator, features, X_test, y_test,
                                              len(X_fit), reference, self._cutoff(
                                                  model, calibrator, X_cal, y_cal)))
        if wants_blend:
            from core.models.blend import Blend

            model = Blend({n: m for n, (m, _) in fitted.items()},
                          {n: c for n, (_, c) in fitted.items()})
            calibrator = Calibrator(self.calibration).fit(model.predict_proba(X_cal)[:, 1], y_cal)
            candidates.append(self._candidate(BLEND, model, calibrator, features, X_test, y_test,
                                              len(X_fit), reference, self._cutoff(
                                                  model, calibrator, X_cal, y_cal)))
        return candidates

    def _cutoff(self, model: Model, calibrator: Calibrator, X_cal: pd.DataFrame,
                y_cal: np.ndarray) -> float:
        """The fixed cut-off, or with `costs` the one minimising expected cost on held-out
        calibration rows (never the rows the model was fit on)."""
        if self.costs is None:
            return self.cutoff
        from core.decision import Costs, best_threshold

        p = calibrator.transform(model.predict_proba(X_cal)[:, 1])
        return best_threshold(y_cal, p, Costs(*self.costs))[0]

    def _candidate(self, name: str, model: Model, calibrator: Calibrator, features: list[str],
                   X_test: pd.DataFrame, y_test: np.ndarray, train_rows: int,
                   reference: dict[str, Any], cutoff: float) -> Candidate:
        p = calibrator.transform(model.predict_proba(X_test)[:, 1])
        metrics = classification_metrics(y_test, p, cutoff)
        predictor = TabularPredictor(features, model, calibrator, self.id, self.time, cutoff,
                                     self.decisions)
        params = {"model": json_params(model.get_params()), "calibration": calibrator.to_dict(),
                  "features": features, "test_rows": int(len(y_test))}
        return Candidate(name=name, predictor=predictor, metrics=metrics, params=params,
                         train_rows=train_rows, reference=reference)

    def load_predictor(self, directory: Path, config: Mapping[str, Any],
                       formats: Formats) -> TabularPredictor:
        require_format(directory, config, FORMAT_PREFIX, "a tabular predictor")
        return TabularPredictor.load(Path(directory), formats)

    def bench(
        self, task: TaskSpec, frame: pd.DataFrame, *, dataset: str, profile: str, seed: int,
        **options: Any,
    ) -> dict[str, Any]:
        """Stratified 5-fold CV repeated 3 times; mean test metrics per candidate; best by AUC."""
        from core.kinds.tabular_bench import cross_validate

        rows, y = self.labelled(frame)
        X = rows[self.feature_columns(rows)]
        names, wants_blend = self._members(task, None)
        folds = list(repeated_stratified_folds(y, n_splits=5, n_repeats=3, seed=seed))
        results = cross_validate(
            lambda name: task.build_model(name, profile, seed=seed), names, wants_blend, X, y,
            folds, self.calibration, self.cutoff, seed)
        best_name, best = leaderboard(results, self.primary_metric, self.higher_is_better)[0]
        protocol = (
            f"stratified 5-fold CV repeated 3 times (seed {seed}, {len(y)} labelled rows); in "
            f"each fold every model is fit on 80% of the training folds, {self.calibration}-"
            "calibrated on the other 20%, refit on all training folds with that calibration, "
            "scored on the test fold; blend = mean of calibrated member PDs; metrics are means "
            f"over the 15 test folds; error_rate/f1 at cut-off {self.cutoff}"
        )
        return {"task": task.name, "dataset": dataset, "protocol": protocol, "models": results,
                "best": {"model": best_name, **best}}


@dataclass
class TabularPredictor:
    """A fitted model + calibrator that turns raw rows into ledger rows with reasons."""

    features: list[str]
    model: Any
    calibrator: Calibrator
    id: str
    time: str | None = None
    cutoff: float = 0.5
    decisions: tuple[str, str] = ("approve", "decline")

    @property
    def format(self) -> str:
        return FORMAT_PREFIX + self.model.format

    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Ledger rows: calibrated probability, the decision at the cut-off, top-3 reasons, and
        for a scorecard its points."""
        missing = [c for c in (self.id, *self.features) if c not in frame.columns]
        if missing:
            raise KeyError(f"rows to score lack columns {missing}; the model was trained on "
                           f"{self.features}")
        p_raw, contributions, values, categories = self._explain(frame[self.features])
        score = self.calibrator.transform(p_raw)
        # Text columns are built as Arrow strings: no Python object per row on 1M-row batches.
        above = pa.array((score >= self.cutoff).astype(np.int8))
        labels = pa.DictionaryArray.from_arrays(above, pa.array(list(self.decisions)))
        if self.time is not None and self.time in frame.columns:
            times = frame[self.time]
            # Stores may hand back text; cache=False skips pandas' per-row uniqueness probe.
            as_of = (times if pd.api.types.is_datetime64_any_dtype(times)
                     else pd.to_datetime(times, cache=False)).to_numpy()
        else:
            as_of = np.full(len(frame), EPOCH.to_datetime64())
        extra = {}
        if self.model.format == SCORECARD:  # points mean something only for a scorecard
            points = pd.Series(np.round(points_from_probability(score)).astype(np.int64))
            extra["payload"] = pd.array('{"points": ' + points.astype(TEXT) + "}", dtype=TEXT)
        return ledger_frame(
            len(frame), frame[self.id].astype("str").to_numpy(), score, as_of=as_of,
            label=pd.array(labels.cast(pa.string()), dtype=TEXT),
            reasons=pd.array(top_reasons(contributions, values, self.features,
                                         categories=categories), dtype=TEXT), **extra)

    def _explain(self, X: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, Any, Any]:
        """(raw PD, contributions, values for the reasons, their category maps).

        Our models encode once and explain the array (the fast path); any other Model
        protocol implementation goes through predict_proba + contributions on the frame.
        """
        if hasattr(self.model, "explain_array"):
            A = self.model.to_array(X)
            p_raw, contributions = self.model.explain_array(A)
            return p_raw, contributions, A, self.model.categories_
        p_raw = self.model.predict_proba(X)[:, 1]
        return p_raw, self.model.contributions(X).to_numpy(dtype=float), X, None

    def save(self, directory: Path) -> None:
        save_predictor(directory, PREDICTOR_FILE, self.model, {
            "format": self.format, "features": self.features,
            "calibrator": self.calibrator.to_dict(), "id": self.id, "time": self.time,
            "cutoff": self.cutoff, "decisions": list(self.decisions)})

    @classmethod
    def load(cls, directory: Path, formats: Formats) -> TabularPredictor:
        state, model = load_predictor_files(directory, PREDICTOR_FILE, "tabular predictor",
                                            formats)
        # Artifacts from before decisions were the Task's said approve/decline.
        decisions = tuple(state.get("decisions", ("approve", "decline")))
        return cls(features=state["features"], model=model,
                   calibrator=Calibrator.from_dict(state["calibrator"]), id=state["id"],
                   time=state["time"], cutoff=state["cutoff"], decisions=decisions)
