"""TabularClassification: binary classification of table rows (credit default, failure, churn)."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import import_module
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
from core.kinds.base import LEDGER_COLUMNS, Candidate, require_format
from core.models.calibration import Calibrator
from core.models.formats import load_model
from core.models.scorecard import points_from_probability
from core.monitor import reference_profile

if TYPE_CHECKING:
    from core.models.protocol import Model
    from core.task import Task

PREDICTOR_FILE = "predictor.json"
FORMAT_PREFIX = "tabular."
EPOCH = pd.Timestamp("1970-01-01")
BLEND = "blend"
SPLIT = (0.6, 0.2, 0.2)  # fit / calibration / test
TEXT = pd.StringDtype("pyarrow", np.nan)  # pandas 3's default "str" dtype


def _factory(reference: str) -> Callable[..., Model]:
    module, _, name = reference.partition(":")

    def build(**params: Any) -> Model:  # imports on first use: torch only for the net
        return getattr(import_module(module), name)(**params)

    return build


@dataclass(frozen=True)
class TabularClassification:
    """A Kind for "will this row be positive?" with one id column and an optional time column.

    Features are every column except the id, the time and the target (datetime columns are
    skipped too), so a generic CSV with any columns trains unchanged. Splits are time-ordered
    when `time` is in the frame (the future never trains the past), stratified otherwise.
    Scores >= `cutoff` are labelled "decline" (the positive class is the bad outcome).
    """

    target: str
    id: str
    time: str | None = None
    positive: Any = 1
    cutoff: float = 0.5
    calibration: str = "platt"
    blend: bool = True  # add a "blend" candidate averaging the others' calibrated PDs

    name = "tabular_classification"
    primary_metric = "auc"
    higher_is_better = True

    def default_models(self) -> Mapping[str, Callable[..., Model]]:
        return {
            "scorecard": _factory("core.models.scorecard:Scorecard"),
            "lightgbm": _factory("core.models.boosting:LightGBM"),
            "tabular_net": _factory("core.models.nets.tabular_mlp:TabularMLP"),
        }

    def key_columns(self) -> tuple[str, ...]:
        return (self.id,)  # the id alone identifies an application; its date is not part of it

    def feature_columns(self, frame: pd.DataFrame) -> list[str]:
        skip = {*self.key_columns(), self.time, self.target}
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

    def _build(self, task: Task, name: str, profile: str, seed: int) -> Model:
        model = task.build_model(name, profile)
        if "seed" in model.get_params():
            model.set_params(seed=seed)
        return model

    def _members(self, task: Task, models: tuple[str, ...] | None) -> tuple[list[str], bool]:
        names = list(task.candidates()) if models is None else [m for m in models if m != BLEND]
        wants_blend = (self.blend and models is None) or (models is not None and BLEND in models)
        return names, wants_blend and len(names) >= 2

    def train(
        self, task: Task, frame: pd.DataFrame, *, profile: str, seed: int,
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
            model = self._build(task, name, profile, seed).fit(X_fit, y_fit)
            calibrator = Calibrator(self.calibration).fit(model.predict_proba(X_cal)[:, 1], y_cal)
            fitted[name] = (model, calibrator)
            candidates.append(self._candidate(name, model, calibrator, features, X_test, y_test,
                                              len(X_fit), reference))
        if wants_blend:
            from core.models.blend import Blend

            model = Blend({n: m for n, (m, _) in fitted.items()},
                          {n: c for n, (_, c) in fitted.items()})
            calibrator = Calibrator(self.calibration).fit(model.predict_proba(X_cal)[:, 1], y_cal)
            candidates.append(self._candidate(BLEND, model, calibrator, features, X_test, y_test,
                                              len(X_fit), reference))
        return candidates

    def _candidate(self, name: str, model: Model, calibrator: Calibrator, features: list[str],
                   X_test: pd.DataFrame, y_test: np.ndarray, train_rows: int,
                   reference: dict[str, Any]) -> Candidate:
        p = calibrator.transform(model.predict_proba(X_test)[:, 1])
        metrics = classification_metrics(y_test, p, self.cutoff)
        predictor = TabularPredictor(features, model, calibrator, self.id, self.time, self.cutoff)
        params = {"model": _jsonable(model.get_params()), "calibration": calibrator.to_dict(),
                  "features": features, "test_rows": int(len(y_test))}
        return Candidate(name=name, predictor=predictor, metrics=metrics, params=params,
                         train_rows=train_rows, reference=reference)

    def load_predictor(self, directory: Path, config: Mapping[str, Any]) -> TabularPredictor:
        require_format(directory, config, FORMAT_PREFIX, "a tabular predictor")
        return TabularPredictor.load(Path(directory))

    def bench(
        self, task: Task, frame: pd.DataFrame, *, dataset: str, profile: str, seed: int,
    ) -> dict[str, Any]:
        """Stratified 5-fold CV repeated 3 times; mean test metrics per candidate; best by AUC."""
        from core.kinds.tabular_bench import cross_validate

        rows, y = self.labelled(frame)
        X = rows[self.feature_columns(rows)]
        names, wants_blend = self._members(task, None)
        folds = list(repeated_stratified_folds(y, n_splits=5, n_repeats=3, seed=seed))
        results = cross_validate(
            lambda name: self._build(task, name, profile, seed), names, wants_blend, X, y,
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

    @property
    def format(self) -> str:
        return FORMAT_PREFIX + self.model.format

    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Ledger rows: calibrated PD, decline/approve at the cut-off, points, top-3 reasons."""
        missing = [c for c in (self.id, *self.features) if c not in frame.columns]
        if missing:
            raise KeyError(f"rows to score lack columns {missing}; the model was trained on "
                           f"{self.features}")
        p_raw, contributions, values, categories = self._explain(frame[self.features])
        score = self.calibrator.transform(p_raw)
        # Text columns are built as Arrow strings: no Python object per row on 1M-row batches.
        points = pd.Series(np.round(points_from_probability(score)).astype(np.int64))
        declined = pa.array((score >= self.cutoff).astype(np.int8))
        labels = pa.DictionaryArray.from_arrays(declined, pa.array(["approve", "decline"]))
        if self.time is not None and self.time in frame.columns:
            times = frame[self.time]
            # Stores may hand back text; cache=False skips pandas' per-row uniqueness probe.
            as_of = (times if pd.api.types.is_datetime64_any_dtype(times)
                     else pd.to_datetime(times, cache=False)).to_numpy()
        else:
            as_of = np.full(len(frame), EPOCH.to_datetime64())
        ledger = {
            "entity_key": frame[self.id].astype("str").to_numpy(),
            "as_of": as_of,
            "horizon": np.zeros(len(frame), dtype=np.int64),
            "score": score,
            "label": pd.array(labels.cast(pa.string()), dtype=TEXT),
            "lower": np.full(len(frame), np.nan),
            "upper": np.full(len(frame), np.nan),
            "payload": pd.array('{"points": ' + points.astype(TEXT) + "}", dtype=TEXT),
            "reasons": pd.array(top_reasons(contributions, values, self.features,
                                            categories=categories), dtype=TEXT),
        }
        return pd.DataFrame(ledger, columns=list(LEDGER_COLUMNS))

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
        model_dir = Path(directory) / "model"
        model_dir.mkdir(parents=True, exist_ok=False)
        self.model.save(model_dir)
        state = {"format": self.format, "model_format": self.model.format,
                 "features": self.features, "calibrator": self.calibrator.to_dict(),
                 "id": self.id, "time": self.time, "cutoff": self.cutoff}
        Path(directory, PREDICTOR_FILE).write_text(json.dumps(state, indent=1))

    @classmethod
    def load(cls, directory: Path) -> TabularPredictor:
        path = Path(directory, PREDICTOR_FILE)
        if not path.exists():
            raise FileNotFoundError(
                f"{path} is missing: {directory} is not a saved tabular predictor")
        state = json.loads(path.read_text())
        return cls(features=state["features"],
                   model=load_model(state["model_format"], Path(directory) / "model"),
                   calibrator=Calibrator.from_dict(state["calibrator"]), id=state["id"],
                   time=state["time"], cutoff=state["cutoff"])


def _jsonable(params: Mapping[str, Any]) -> dict[str, Any]:
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in params.items()
            if isinstance(v, int | float | str | bool | tuple | list | type(None))}
