"""TabularClassification: binary classification of table rows (credit default, failure, churn)."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from core import progress
from core.evaluate import (
    classification_metrics,
    leaderboard,
    repeated_stratified_folds,
    stratified_split,
    time_split,
)
from core.intervals import classification_intervals
from core.kinds.base import (
    PRIMARY_OUTPUT,
    SECTIONS,
    Batching,
    Benchmark,
    Candidate,
    Gate,
    TaskSpec,
    require_format,
    sorted_groups,
)
from core.kinds.live import classifier_metrics, realised_rows
from core.kinds.tabular_modes import (
    ModeHead,
    base_rate,
    learnable,
    mode_labels,
    mode_metrics,
)
from core.kinds.tabular_predictor import (
    FORMAT_PREFIX,
    ReasonText,
    TabularPredictor,
    decision_params,
)
from core.models.calibration import Calibrator
from core.models.formats import BUILTIN, lazy_factory
from core.models.protocol import json_params
from core.monitor import reference_profile

if TYPE_CHECKING:
    from core.models.formats import Formats
    from core.models.protocol import Model

BLEND = "blend"
SPLIT = (0.6, 0.2, 0.2)  # fit / calibration / test


@dataclass(frozen=True)
class TabularClassification:
    """A Kind for "will this row be positive?" with one id column and an optional time column.

    Features are every column except the id, the time, the target and the Task's protected
    attributes (`Task.protected`, unless it opts in; datetime columns are skipped too), so a
    generic CSV with any columns trains unchanged. Splits are time-ordered
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
    # feature -> the sentence a reason on it reads as, in the user's words (a planner's
    # "power 9,350 W, above the 9,000 W limit"); features without one show name and value.
    reason_text: Mapping[str, ReasonText] | None = field(default=None, hash=False,
                                                          compare=False)
    # profile -> the candidates its bench cross-validates (15 folds, a fit each, two on small
    # tables: a net there can cost more than the rest together); a profile not named benches
    # them all.
    bench_models: Mapping[str, tuple[str, ...]] = field(default_factory=dict, hash=False,
                                                        compare=False)

    name = "tabular_classification"
    primary_metric = "auc"
    higher_is_better = True
    batching = Batching.ROWS
    display_metrics = ("auc", "ks", "gini", "brier", "ece")
    sections = (*SECTIONS, "performance")
    bench_options = ()
    frame_attrs = ()
    gate = Gate("auc", 0.6, min_outcomes=50)

    def __post_init__(self) -> None:
        if len(self.decisions) != 2 or len(set(self.decisions)) != 2 or not all(self.decisions):
            raise ValueError(f"decisions must be two different non-empty words (below, at or "
                             f"above the cut-off), got {self.decisions!r}")
        if (len(set(self.modes)) != len(self.modes) or not all(self.modes)
                or self.target in self.modes):
            raise ValueError(f"modes must be unique non-empty column names other than the "
                             f"target {self.target!r}, got {self.modes!r}")

    # --- the declared contract (core.kinds.base.Kind) -------------------------------------------

    @property
    def outputs(self) -> tuple[str, ...]:
        """The target's probability, then one per mode (output = the mode's column name)."""
        return (PRIMARY_OUTPUT, *self.modes)

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
            dataset=False, options=("rows", "chunk_size")),
            "scaling": Benchmark(
            "scaling", "each candidate fit on the Task's generated rows at --sizes (default "
            "10^3..10^6, at most --max-rows): fit seconds and AUC on one held-out sample, and "
            "the growth exponent of fit time in rows (1 = linear)",
            dataset=False, options=("sizes", "max_rows"), run=self._scaling)}

    def _scaling(self, task: TaskSpec, frame: None, *, profile: str, seed: int,
                 sizes: str | Sequence[int] | None = None,
                 max_rows: int | None = None) -> dict[str, Any]:
        from core.evaluate import auc
        from core.kinds.scaling import WARM_UP_ROWS, SampledTask, parse_sizes, scaling

        if not isinstance(task, SampledTask):
            raise ValueError(f"the scaling bench generates rows: {task.name} has no sample()")
        chosen = parse_sizes(sizes, max_rows)
        names, _ = self._members(task, self.bench_models.get(profile))

        def fit(name: str, rows: pd.DataFrame) -> Model:
            labelled, y = self.labelled(rows)
            return task.build_model(name, profile, seed=seed).fit(
                labelled[self.feature_columns(labelled, task.protected.excluded)], y)

        def score(model: Model, rows: pd.DataFrame) -> float:
            labelled, y = self.labelled(rows)
            X = labelled[self.feature_columns(labelled, task.protected.excluded)]
            return auc(y, model.predict_proba(X)[:, 1])

        result = scaling(task, names, fit, score, metric=self.primary_metric, seed=seed,
                         sizes=chosen)
        protocol = (
            f"per size n: every candidate ({profile} profile) fit on {task.name}'s generator "
            f"rows sample(n, seed {seed}), its main target only (raw scores: AUC needs no "
            "calibration), its fit alone timed (after one untimed warm-up fit on at most "
            f"{WARM_UP_ROWS:,} rows); AUC on one held-out sample({result['test_rows']}, "
            f"seed {seed + 1}); growth = slope of log fit seconds on log rows from 10^4 rows "
            "up (all sizes when fewer reach it)")
        return {"task": task.name, "benchmark": "scaling", "protocol": protocol,
                "profile": profile, "metric": self.primary_metric, **result}

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

    def feature_columns(self, frame: pd.DataFrame, exclude: Collection[str] = ()) -> list[str]:
        """The columns a model reads: all but keys, time, labels, datetimes and `exclude`
        (the Task's protected attributes: `Protected.excluded`)."""
        skip = {*self.key_columns(), self.time, *self.label_columns, *exclude}
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
        features = self.feature_columns(rows, task.protected.excluded)
        # Protected attributes a Task opted in to: read by the model, never named as a reason.
        unspoken = tuple(c for c in task.protected.columns if c in features)
        X = rows[features]
        if self.time is not None and self.time in rows.columns:
            parts = time_split(rows[self.time], SPLIT)
        else:
            parts = stratified_split(y, SPLIT, seed)
        (X_fit, X_cal, X_test), (y_fit, y_cal, y_test) = (
            [X.iloc[p] for p in parts], [y[p] for p in parts])
        names, wants_blend = self._members(task, models)
        reference = reference_profile(X_fit, features)
        modes = {mode: mode_labels(rows, mode) for mode in self.modes}
        fitted: dict[str, tuple[Model, Calibrator, dict[str, ModeHead]]] = {}
        candidates = []
        with progress.task("candidates", total=len(names)):
            for name in names:
                progress.update(candidate=name)
                model = task.build_model(name, profile, seed=seed).fit(X_fit, y_fit)
                calibrator = Calibrator(self.calibration).fit(
                    model.predict_proba(X_cal)[:, 1], y_cal)
                heads = {mode: self._fit_head(
                    lambda n=name: task.build_model(n, profile, seed=seed), X, labels, parts)
                         for mode, labels in modes.items()}
                fitted[name] = (model, calibrator, heads)
                candidates.append(self._candidate(
                    name, model, calibrator, heads, features, X_test, y_test, len(X_fit),
                    reference, self._cutoff(model, calibrator, X_cal, y_cal), modes, parts[2],
                    unspoken))
                progress.advance()
        if wants_blend:
            from core.models.blend import Blend

            # weights stacked on the calibration rows, as the members' calibrations are
            model = Blend.stacked({n: m for n, (m, _, _) in fitted.items()},
                                  {n: c for n, (_, c, _) in fitted.items()}, X_cal, y_cal)
            calibrator = Calibrator(self.calibration).fit(model.predict_proba(X_cal)[:, 1], y_cal)
            heads = {mode: self._blend_head([h[mode] for _, _, h in fitted.values()], names,
                                            X, labels, parts)
                     for mode, labels in modes.items()}
            candidates.append(self._candidate(
                BLEND, model, calibrator, heads, features, X_test, y_test, len(X_fit), reference,
                self._cutoff(model, calibrator, X_cal, y_cal), modes, parts[2], unspoken))
        return candidates

    def _fit_head(self, build: Callable[[], Model], X: pd.DataFrame, labels: np.ndarray,
                  parts: Sequence[np.ndarray]) -> ModeHead:
        """One mode's model, fit on the fit rows and calibrated on the calibration rows where
        the mode is known; its base rate alone when either part is too thin to learn from."""
        fit, cal = (p[~np.isnan(labels[p])] for p in parts[:2])
        y_fit, y_cal = labels[fit].astype(int), labels[cal].astype(int)
        if not learnable(y_fit, y_cal):
            return ModeHead(None, Calibrator("identity"), base_rate(y_fit, y_cal))
        model = build().fit(X.iloc[fit], y_fit)
        return ModeHead(model, Calibrator(self.calibration).fit(
            model.predict_proba(X.iloc[cal])[:, 1], y_cal))

    def _blend_head(self, members: list[ModeHead], names: list[str], X: pd.DataFrame,
                    labels: np.ndarray, parts: Sequence[np.ndarray]) -> ModeHead:
        """The members' mode heads blended like their main models (weights stacked on the mode's
        calibration rows)."""
        if any(head.model is None for head in members):
            return members[0]  # the same rows were too thin for every member
        from core.models.blend import Blend

        cal = parts[1][~np.isnan(labels[parts[1]])]
        model = Blend.stacked({n: h.model for n, h in zip(names, members, strict=True)},
                              {n: h.calibrator for n, h in zip(names, members, strict=True)},
                              X.iloc[cal], labels[cal].astype(int))
        return ModeHead(model, Calibrator(self.calibration).fit(
            model.predict_proba(X.iloc[cal])[:, 1], labels[cal].astype(int)))

    def _cutoff(self, model: Model, calibrator: Calibrator, X_cal: pd.DataFrame,
                y_cal: np.ndarray) -> float:
        """The fixed cut-off, or with `costs` the one minimising expected cost on held-out
        calibration rows (never the rows the model was fit on)."""
        if self.costs is None:
            return self.cutoff
        from core.decision import Costs, best_threshold

        p = calibrator.transform(model.predict_proba(X_cal)[:, 1])
        return best_threshold(y_cal, p, Costs(*self.costs))[0]

    def _candidate(self, name: str, model: Model, calibrator: Calibrator,
                   heads: dict[str, ModeHead], features: list[str], X_test: pd.DataFrame,
                   y_test: np.ndarray, train_rows: int, reference: dict[str, Any],
                   cutoff: float, modes: Mapping[str, np.ndarray],
                   test: np.ndarray, unspoken: tuple[str, ...]) -> Candidate:
        p = calibrator.transform(model.predict_proba(X_test)[:, 1])
        metrics = classification_metrics(y_test, p, cutoff)
        for mode, head in heads.items():
            metrics.update(mode_metrics(mode, modes[mode][test], head.score(X_test), cutoff))
        predictor = TabularPredictor(features, model, calibrator, self.id, self.time, cutoff,
                                     self.decisions, heads, self.reason_text, unspoken)
        # The cut-off and decision words ride in the version's record too: a page shows and
        # explains a version's decisions without loading its model (seconds with torch).
        params = {"model": json_params(model.get_params()), "calibration": calibrator.to_dict(),
                  "features": features, "test_rows": int(len(y_test)),
                  "modes": {m: h.describe() for m, h in heads.items()},
                  **decision_params(cutoff, self.decisions)}
        return Candidate(name=name, predictor=predictor, metrics=metrics, params=params,
                         train_rows=train_rows, reference=reference,
                         intervals=classification_intervals(y_test, p))

    def load_predictor(self, directory: Path, config: Mapping[str, Any],
                       formats: Formats) -> TabularPredictor:
        require_format(directory, config, FORMAT_PREFIX, "a tabular predictor")
        return TabularPredictor.load(Path(directory), formats, self.reason_text)

    def bench(
        self, task: TaskSpec, frame: pd.DataFrame, *, dataset: str, profile: str, seed: int,
        **options: Any,
    ) -> dict[str, Any]:
        """Stratified 5-fold CV repeated 3 times; mean test metrics per candidate; best by AUC."""
        from core.kinds.tabular_bench import REFIT_BELOW, cross_validate, refits

        rows, y = self.labelled(frame)
        X = rows[self.feature_columns(rows, task.protected.excluded)]
        names, wants_blend = self._members(task, self.bench_models.get(profile))
        wants_blend = wants_blend or (self.blend and len(names) >= 2)
        folds = list(repeated_stratified_folds(y, n_splits=5, n_repeats=3, seed=seed))
        costs = None
        if self.costs is not None:
            from core.decision import Costs

            costs = Costs(*self.costs)
        modes = {mode: mode_labels(rows, mode) for mode in self.modes}
        results = cross_validate(
            lambda name: task.build_model(name, profile, seed=seed), names, wants_blend, X, y,
            folds, self.calibration, self.cutoff, seed, costs=costs, modes=modes)
        best_name, best = leaderboard(results, self.primary_metric, self.higher_is_better)[0]
        at = (f"cut-off {self.cutoff}" if costs is None else
              f"each fold's cost-minimising cut-off on its calibration rows (missed "
              f"{costs.missed:g}, needless {costs.needless:g}; precision, recall and cost per "
              "1,000 rows there against never / always acting); f1_at_f1_threshold at each "
              "fold's F1-maximising cut-off on the same calibration rows")
        protocol = (
            f"stratified 5-fold CV repeated 3 times (seed {seed}, {len(y)} labelled rows); in "
            f"each fold every model is fit on 80% of the training folds, {self.calibration}-"
            "calibrated on the other 20% (calibration and cut-offs from those rows only), "
            + ("refit on all training folds with that calibration (training folds under "
               f"{REFIT_BELOW:,} rows: a small table's 20% is data the model would miss)"
               if refits(folds) else
               "that model kept as it is (one fit per candidate per fold, as `train` fits "
               f"the model it ships; no refit from {REFIT_BELOW:,} training rows)")
            + ", scored on the test fold; blend = weighted mean of calibrated member PDs "
            "(non-negative weights stacked on the calibration rows); metrics are means "
            f"over the 15 test folds; error_rate/f1 at {at}; label columns are never features"
            + (f"; protected attributes {', '.join(task.protected.excluded)} are not features"
               if task.protected.excluded else "")
            + ("; recall_M = share of mode-M rows the target's alert fires on" if modes else "")
        )
        result = {"task": task.name, "dataset": dataset, "protocol": protocol,
                  "models": results, "best": {"model": best_name, **best}}
        if modes:
            result["mode_rates"] = {m: round(float(np.nanmean(v)), 4) for m, v in modes.items()}
        return result
