"""SequenceRegression: remaining useful life of units (engines, pumps) from their sensor
histories, with an 80% interval and a maintenance recommendation per unit."""

from __future__ import annotations

import math
import time as clock
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from core import progress
from core.intervals import error_intervals
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
from core.kinds.live import _naive_times, regression_metrics
from core.kinds.sequence_predictor import (
    ENSEMBLE,
    FORMAT_PREFIX,
    SequencePredictor,
    seen_in_training,
)
from core.kinds.sequence_windows import (
    Normaliser,
    calibrated,
    conformal_scale,
    ensemble_quantiles,
    risk_budget,
    rul_metrics,
    smoothed,
    stacked_weights,
    unit_windows,
)
from core.models.formats import BUILTIN, lazy_factory
from core.models.protocol import json_params
from core.monitor import reference_profile

if TYPE_CHECKING:
    from core.models.formats import Formats

NETS = ("sequence_cnn", "sequence_gru", "sequence_transformer")


@dataclass(frozen=True)
class SequenceRegression:
    """A Kind for "how many steps has this unit got left, and how sure are we?".

    Rows are (unit, step) with sensor readings; `label` is the step at which the unit failed,
    repeated on its rows (null while the unit is in service). Labels are that one column
    rather than none because the RUL is derived from it (RUL = label - step, capped at
    `rul_cap`) for every row of a unit whose failure is known; the live gate joins on it too.
    Features never read it. `sensors` empty means every numeric column of the feature frame
    except the keys, the label and `condition` (a column naming the operating condition;
    sensors are z-scored within it, and those constant within their conditions are dropped).

    `train` fits only on units run to failure (history reaching the label). A history that
    stops before its known failure (C-MAPSS test units: label = last step + the published RUL)
    is an evaluation unit: scored like any unit, never fitted, so the store's "predicted
    against true" stays out of sample; a version's params name its fit and validation units.
    Validation holds out whole units (a seeded shuffle of units, `holdout` of them), cut at
    `cuts` seeded random steps each as the truncated test units are: `min_history` steps
    observed (None: a full window) and a true RUL of at most `horizon` (None: 1.2 x rul_cap;
    C-MAPSS test units stop 7..145 cycles before failure on FD001); the metrics are at those
    last steps, against the true RUL, uncapped, as a test unit's is. The interval is
    calibrated there (split conformal).
    Cuts anywhere in a unit's life against the capped RUL were 3 RMSE easier than the test
    (11.4 against 14.5 for the CNN on FD001): early cuts, where every model says the cap and
    the capped truth agrees, are half of them, and a true RUL above the cap counted as the cap.
    With `refit` each candidate is then fitted again on all units run to failure, fit and
    held-out alike, for the epochs (boosting rounds) early stopping chose on the held-out ones
    (`SequenceModel.refit_params`); the metrics and the interval scale stay the held-out
    fit's, so both remain out of sample (the refit model, fitted on more units, is if anything
    a little better than the interval assumes). It costs twice the fit time, so it is off by
    default and a Task turns it on where its data pays for it (the RUL Task does: its nets
    gain most from the quarter more units, recorded there). The
    ensemble weighs its members by stacking on the held-out cuts
    (`sequence_windows.stacked_weights`); its held-out metrics are taken on the cuts its
    weights were fitted on, so they flatter it a little (four weights on hundreds of cuts).

    `smoothing`: the alpha of a causal exponential moving average of each unit's normalised
    sensors (`sequence_windows.smoothed`; None: raw readings). C-MAPSS sensors are noisy
    readings of a slow wear; smoothing each value with its own past only keeps a forecast at
    the last step (or any step) free of the future, in training and scoring alike, and
    scoring reads every stored row of a unit (Batching.SERIES), so the average starts where
    it started in training. `age`: each window also carries the row's step (the unit's age
    in steps, divided by rul_cap): a unit with many cycles behind it has, on the same sensor
    readings, fewer ahead; known at scoring, it reads no future either (what it gained on
    FD001 is recorded where the Task chose it, verticals/manufacturing/remaining_useful_life.py).
    The maintenance decision is `sequence_windows.maintenance_plan`'s.
    """

    unit: str
    step: str
    label: str
    sensors: tuple[str, ...] = ()
    condition: str | None = None
    rul_cap: int = 125
    window: int = 30
    lead_time: int = 10
    failure_cost: float = 10.0
    overhaul_cost: float = 1.0
    holdout: float = 0.2
    cuts: int = 10
    horizon: int | None = None
    min_history: int | None = None
    smoothing: float | None = None
    age: bool = False
    refit: bool = False
    ensemble: bool = True
    decisions: tuple[str, str] = ("run", "plan overhaul")

    name = "sequence_regression"
    primary_metric = "rmse"
    higher_is_better = False
    outputs = (PRIMARY_OUTPUT,)
    batching = Batching.SERIES  # a window needs the unit's latest W steps
    display_metrics = ("rmse", "mae", "phm08", "coverage80")
    sections = SECTIONS
    bench_options = ("seeds",)
    frame_attrs = ()
    gate = Gate("rmse", 30.0, min_outcomes=20, higher_is_better=False)

    def __post_init__(self) -> None:
        if self.window < 1 or self.rul_cap < 1 or not 0 < self.holdout < 1:
            raise ValueError(f"window ({self.window}) and rul_cap ({self.rul_cap}) must be "
                             f"positive and holdout ({self.holdout}) in (0, 1)")
        if self.lead_time < 0:
            raise ValueError(f"lead_time must be 0 or more steps, got {self.lead_time}")
        for name, steps in (("horizon", self.horizon), ("min_history", self.min_history)):
            if steps is not None and steps < 1:
                raise ValueError(f"{name} must be None or a positive number of steps, got "
                                 f"{steps}")
        if self.smoothing is not None and not 0 < self.smoothing <= 1:
            raise ValueError(f"smoothing must be None or in (0, 1], got {self.smoothing}")
        risk_budget(self.failure_cost, self.overhaul_cost)  # raises unless both positive

    # --- the declared contract (core.kinds.base.Kind) -------------------------------------------

    @property
    def entity(self) -> str:
        return self.unit

    @property
    def step_column(self) -> str | None:
        return self.step

    @property
    def label_columns(self) -> tuple[str, ...]:
        return (self.label,)

    def key_columns(self) -> tuple[str, ...]:
        return (self.unit, self.step)

    def scoring_columns(self, task: TaskSpec) -> list[str]:
        return [c for c in task.schema.columns if c != self.label]

    def scoring_groups(self, keys: Sequence[Any], chunk_size: int) -> list[list[Any]]:
        return sorted_groups(keys, chunk_size)

    def benchmarks(self) -> Mapping[str, Benchmark]:
        return {}

    def default_models(self) -> Mapping[str, Callable[..., Any]]:
        return {name: lazy_factory(BUILTIN[name]) for name in ("window_lightgbm", *NETS)}

    def realised(self, task: TaskSpec, frame: pd.DataFrame,
                 ledger: pd.DataFrame) -> pd.DataFrame:
        """`outcomes` less the forecasts for units their version was fitted or validated on
        (flagged in the payload when scored): the live gate judges a version on units it never
        trained on, as a fitted unit's failure is in its training set."""
        unseen = ~ledger["payload"].map(seen_in_training).astype(bool)
        return self.outcomes(frame, ledger[unseen])

    def outcomes(self, frame: pd.DataFrame, ledger: pd.DataFrame) -> pd.DataFrame:
        """Forecasts of units whose failure step is now known, seen in training or not:
        actual = failure - step (the true RUL, uncapped), at = the prediction's created_at."""
        failures = self.failures(frame)
        rows = ledger[ledger["output"] == PRIMARY_OUTPUT]
        if rows.empty or failures.empty:
            return rows.iloc[0:0].assign(actual=np.nan, baseline=np.nan, at=pd.NaT)
        known = pd.DataFrame({"entity_key": failures.index.astype(str),
                              "failure": failures.to_numpy(dtype=float)})
        joined = rows.merge(known, on="entity_key", how="inner")
        joined["actual"] = joined["failure"] - joined["step"].astype(float)
        joined["baseline"] = np.nan
        joined["at"] = (_naive_times(joined["created_at"]) if "created_at" in joined.columns
                        else pd.Timestamp("1970-01-01"))
        return joined.drop(columns=["failure"])

    def live_metrics(self, realised: pd.DataFrame) -> dict[str, float]:
        """rmse, mae, n, and the PHM08 score and 80% coverage of the realised forecasts."""
        out = regression_metrics(realised)
        ok = realised["actual"].notna() & realised["score"].notna()
        rows = realised[ok]
        if len(rows):
            q = rows[["lower", "score", "upper"]].to_numpy(dtype=float)
            metrics = rul_metrics(q, rows["actual"].to_numpy(dtype=float))
            out |= {"phm08": metrics["phm08"], "coverage80": metrics["coverage80"]}
        else:
            out |= {"phm08": float("nan"), "coverage80": float("nan")}
        return out

    # --- data ---------------------------------------------------------------------------------

    def with_features(self, task: TaskSpec, frame: pd.DataFrame) -> pd.DataFrame:
        """The frame with the Task's features unless they are there already (pipelines hand
        raw rows, check_task featured ones)."""
        if self.condition is None or self.condition in frame.columns:
            return frame
        return task.feature_frame(frame)

    def sensor_columns(self, frame: pd.DataFrame) -> list[str]:
        if self.sensors:
            missing = [c for c in self.sensors if c not in frame.columns]
            if missing:
                raise KeyError(f"the frame lacks sensor columns {missing}")
            return list(self.sensors)
        skip = {self.unit, self.step, self.label, self.condition}
        return [c for c in frame.columns if c not in skip
                and pd.api.types.is_numeric_dtype(frame[c])
                and not pd.api.types.is_bool_dtype(frame[c])]

    def ordered(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Rows in (unit, step) order; a repeated step within a unit is an error naming it."""
        rows = frame.assign(**{self.unit: frame[self.unit].astype(str)})
        rows = rows.sort_values([self.unit, self.step], kind="stable").reset_index(drop=True)
        repeated = rows.duplicated([self.unit, self.step])
        if repeated.any():
            first = rows[repeated].iloc[0]
            raise ValueError(f"unit {first[self.unit]!r} has step {first[self.step]} twice: "
                             "each (unit, step) must be one row")
        return rows

    def failures(self, frame: pd.DataFrame) -> pd.Series:
        """unit -> failure step, for units whose failure is known."""
        known = frame[frame[self.label].notna()]
        return known.groupby(known[self.unit].astype(str))[self.label].max().astype(float)

    def known_failures(self, frame: pd.DataFrame) -> tuple[list[str], list[str]]:
        """(units run to failure: the history reaches the failure step; units truncated
        before their known failure: evaluation units, never fitted). In-service units (no
        label) are in neither."""
        failure = self.failures(frame)
        last = frame.groupby(frame[self.unit].astype(str))[self.step].max().astype(float)
        reached = failure <= last.reindex(failure.index)
        return sorted(failure.index[reached]), sorted(failure.index[~reached])

    @property
    def cut_horizon(self) -> int:
        """The largest true RUL a validation cut is taken at: `horizon`, else 1.2 x rul_cap."""
        return self.horizon if self.horizon is not None else math.ceil(1.2 * self.rul_cap)

    def cut_steps(self, steps: np.ndarray, failure: float) -> np.ndarray:
        """Row indices of one unit (steps in order) where a validation cut may fall: the test
        units' truncations, i.e. at least `min_history` steps observed (None: a full window)
        and a true RUL of at most `cut_horizon`. A unit with no such row is cut at the rows
        with that history, else at its last row."""
        index = np.arange(len(steps))
        history = self.window if self.min_history is None else self.min_history
        full = index + 1 >= min(history, len(steps))
        allowed = index[full & (failure - steps <= self.cut_horizon)]
        return allowed if len(allowed) else index[full]

    def _windows(self, rows: pd.DataFrame, values: np.ndarray, units: Sequence[str],
                 which: str, rng: np.random.Generator | None = None
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(windows, RUL of their last step, unit of each) for `units` of ordered `rows`:
        "all" ends every row, "last" at each unit's last row, "cuts" at `cuts` random rows
        of those `cut_steps` allows (drawn with replacement)."""
        failure = (self.failures(rows) if self.label in rows.columns
                   else pd.Series(dtype=float))  # scoring rows carry no label
        starts = rows.groupby(self.unit, sort=False).indices
        out, targets, owners = [], [], []
        for unit in units:
            index = starts[unit]
            steps = rows[self.step].to_numpy()[index].astype(float)
            if which == "all":
                ends = np.arange(len(index))
            elif which == "last":
                ends = np.array([len(index) - 1])
            else:
                assert rng is not None
                ends = np.sort(rng.choice(self.cut_steps(steps, failure.get(unit, np.nan)),
                                          size=self.cuts))
            out.append(unit_windows(values[index], self.window, ends))
            rul = failure.get(unit, np.nan) - steps[ends]
            targets.append(rul)
            owners += [unit] * len(ends)
        return (np.concatenate(out), np.concatenate(targets), np.asarray(owners, dtype=object))

    # --- train / bench ------------------------------------------------------------------------

    def _split(self, units: list[str], seed: int) -> tuple[list[str], list[str]]:
        """Whole units: a seeded shuffle, `holdout` of them (at least one) held out."""
        if len(units) < 2:
            raise ValueError(f"training needs at least 2 units run to failure (found "
                             f"{len(units)}): one to fit, one to hold out; units truncated "
                             "before their known failure only evaluate")
        order = np.random.default_rng(seed).permutation(sorted(units))
        held = max(1, int(round(len(units) * self.holdout)))
        return sorted(order[held:].tolist()), sorted(order[:held].tolist())

    def values(self, rows: pd.DataFrame, normaliser: Normaliser) -> np.ndarray:
        """The normalised sensors of ordered `rows`, smoothed per unit when `smoothing` is
        set (after normalising: within-condition z-scores are comparable across the
        operating conditions a unit flies through, raw readings are not), with the step /
        rul_cap as a last column when `age` is set."""
        values = normaliser.transform(rows, self.condition)
        if self.smoothing is not None:
            starts = np.flatnonzero(rows[self.unit].ne(rows[self.unit].shift()).to_numpy())
            values = smoothed(values, starts, self.smoothing)
        if not self.age:
            return values
        # The step itself, never smoothed (an average of a ramp lags it), in units of the cap.
        age = rows[self.step].to_numpy(dtype=np.float32)[:, None] / np.float32(self.rul_cap)
        return np.concatenate([values, age], axis=1)

    def _fit(self, task: TaskSpec, rows: pd.DataFrame, units: list[str], *, profile: str,
             seed: int, models: tuple[str, ...] | None) -> dict[str, Any]:
        """Fit every candidate on `units` less the held-out ones, calibrate each on the
        held-out cuts and, with `refit`, fit it again on all `units` for the budget early
        stopping chose; the members, weights, scales, held-out metrics and fit seconds."""
        fit_units, valid_units = self._split(units, seed)
        sensors = self.sensor_columns(rows)
        train_rows = rows[rows[self.unit].isin(fit_units)]
        normaliser = Normaliser().fit(train_rows, sensors, self.condition)
        values = self.values(rows, normaliser)
        cap = float(self.rul_cap)
        X, y, _ = self._windows(rows, values, fit_units, "all")
        Xv, yv, _ = self._windows(rows, values, valid_units, "all")
        Xc, yc, cut_units = self._windows(rows, values, valid_units, "cuts",
                                          np.random.default_rng(seed + 1))
        # Rows after a unit's recorded failure carry no target; a cut there reads as failed.
        keep, held = y >= 0, yv >= 0
        X, y = X[keep], np.minimum(y[keep], cap)
        # The cuts are scored against the true RUL, uncapped, as the test units are: the
        # cap shapes the training target, not what a forecast is judged on.
        Xv, yv, yc = Xv[held], np.minimum(yv[held], cap), np.clip(yc, 0.0, None)
        names = list(task.candidates()) if models is None else [m for m in models
                                                                 if m != ENSEMBLE]
        fitted: dict[str, Any] = {}
        for name in names:
            progress.update(candidate=name, seed=seed)
            started = clock.perf_counter()
            model = task.build_model(name, profile, seed=seed).fit(X, y, (Xv, yv))
            raw = model.predict_quantiles(Xc)
            item: dict[str, Any] = {"members": [model], "raw": raw,
                                    "scale": conformal_scale(raw, yc)}
            if self.refit:
                # The held-out units join the fit; early stopping has nothing left to watch,
                # so the model runs the epochs (rounds) it chose on them. The scale stays the
                # held-out model's: the refit model has seen the cuts it would be judged on.
                again = task.build_model(name, profile, seed=seed).set_params(
                    **model.refit_params())
                item["members"] = [again.fit(np.concatenate([X, Xv]), np.concatenate([y, yv]),
                                             (Xv, yv))]
            fitted[name] = item | {"seconds": clock.perf_counter() - started}
        wants = (self.ensemble and models is None) or (models is not None and ENSEMBLE in models)
        if wants and len(names) >= 2:
            raws = [f["raw"] for f in fitted.values()]
            weights = stacked_weights(raws, yc)
            raw = ensemble_quantiles(raws, weights)
            fitted[ENSEMBLE] = {"members": [m for f in fitted.values() for m in f["members"]],
                                "weights": weights, "raw": raw,
                                "scale": conformal_scale(raw, yc),
                                "seconds": sum(f["seconds"] for f in fitted.values())}
        for item in fitted.values():
            item.setdefault("weights", [1.0])
            q = calibrated(item["raw"], item["scale"])
            item["metrics"] = rul_metrics(q, yc, per=self.cuts)
            # Whole held-out units with all their cuts: one engine's cuts share its wear.
            item["intervals"] = error_intervals(q[:, 1] - yc, cut_units, over="held-out units",
                                                covered=(q[:, 0] <= yc) & (yc <= q[:, 2]),
                                                names={"coverage": "coverage80"})
        return {"fitted": fitted, "normaliser": normaliser, "fit_units": fit_units,
                "valid_units": valid_units,
                "train_windows": int(len(X) + len(Xv) if self.refit else len(X)),
                "sensors": sensors}

    def _predictor(self, result: dict[str, Any], name: str) -> SequencePredictor:
        item = result["fitted"][name]
        # Every unit the members saw (fitted, or held out for early stopping and the
        # interval): `realised` never counts their forecasts as live outcomes.
        seen = sorted(result["fit_units"] + result["valid_units"])
        return SequencePredictor(item["members"], result["normaliser"], item["scale"], self,
                                 tuple(item["weights"]), tuple(seen))

    def train(
        self, task: TaskSpec, frame: pd.DataFrame, *, profile: str, seed: int,
        models: tuple[str, ...] | None = None,
    ) -> list[Candidate]:
        """Fit on the units run to failure (whole units held out for validation); units
        truncated before their known failure are left out: they are the evaluation units."""
        rows = self.ordered(self.with_features(task, frame))
        units, truncated = self.known_failures(rows)
        result = self._fit(task, rows, units, profile=profile, seed=seed, models=models)
        normaliser = result["normaliser"]
        reference = reference_profile(rows[rows[self.unit].isin(result["fit_units"])],
                                      normaliser.sensors_)
        candidates = []
        for name, item in result["fitted"].items():
            params = {"models": [json_params(m.get_params()) for m in item["members"]],
                      "weights": item["weights"], "interval_scale": item["scale"],
                      "sensors": normaliser.sensors_, "dropped_sensors": normaliser.dropped_,
                      "smoothing": self.smoothing, "refit": self.refit,
                      "fit_units": result["fit_units"], "valid_units": result["valid_units"],
                      "truncated_units": truncated, "fit_seconds": item["seconds"]}
            candidates.append(Candidate(
                name=name, predictor=self._predictor(result, name),
                metrics=item["metrics"], params=params, train_rows=result["train_windows"],
                reference=reference, intervals=item["intervals"]))
        return candidates

    def bench(
        self, task: TaskSpec, frame: pd.DataFrame, *, dataset: str, profile: str, seed: int,
        seeds: int = 1, **options: Any,
    ) -> dict[str, Any]:
        """Train on the run-to-failure units (failure = their last step), evaluate at the last
        step of every unit truncated before its known failure (the C-MAPSS test units) against
        its true, uncapped RUL; mean and std over `seeds` seeds (seed, seed+1, ...)."""
        rows = self.ordered(self.with_features(task, frame))
        ran, tested = self.known_failures(rows)
        if not tested:
            raise ValueError("the bench needs units truncated before their known failure "
                             "(test units with their RUL file); the frame has none")
        runs: dict[str, list[dict[str, float]]] = {}
        for s in range(seed, seed + max(int(seeds), 1)):
            result = self._fit(task, rows, ran, profile=profile, seed=s, models=None)
            values = self.values(rows, result["normaliser"])
            Xt, yt, _ = self._windows(rows, values, tested, "last")
            for name, item in result["fitted"].items():
                q = self._predictor(result, name).quantiles(Xt)
                metrics = rul_metrics(q, yt)
                # Against the RUL capped as in training too, as many published C-MAPSS
                # results score: a figure to set beside them (the targets use the uncapped).
                capped = rul_metrics(q, np.minimum(yt, float(self.rul_cap)))
                metrics |= {"rmse_capped": capped["rmse"], "phm08_capped": capped["phm08"]}
                # The held-out figures beside the test's: what the choices were made on.
                held = {f"valid_{k}": item["metrics"][k] for k in ("rmse", "coverage80")}
                runs.setdefault(name, []).append({**metrics, **held,
                                                  "fit_seconds": item["seconds"]})
        summary = {name: {f"{k}_{stat}": round(float(fn([r[k] for r in per])), 4)
                          for k in per[0] for stat, fn in (("mean", np.mean), ("std", np.std))}
                   for name, per in runs.items()}
        best = min(summary, key=lambda n: summary[n]["rmse_mean"])
        refit = ("; then refit on all of them for the epochs/rounds chosen there, the interval "
                 "scale kept from the held-out fit" if self.refit else "")
        smoothing = ("" if self.smoothing is None else
                     f", sensors exponentially smoothed per unit (alpha {self.smoothing})")
        protocol = (
            f"train on the {len(ran)} run-to-failure units ({int(round(self.holdout * 100))}% "
            f"of them held out, seeded, for early stopping, the ensemble weights and the "
            f"conformal 80% interval, scored at {self.cuts} cuts each with at least "
            f"{self.window if self.min_history is None else self.min_history} steps observed "
            f"and a true RUL of at most {self.cut_horizon}: valid_*{refit}), evaluate at the "
            f"last step of each of the "
            f"{len(tested)} truncated units against the true RUL (uncapped); RUL capped at "
            f"{self.rul_cap} in training, windows of {self.window} steps{smoothing}; mean/std "
            f"over {max(int(seeds), 1)} seed(s) from {seed}; phm08 is the sum over test units; "
            f"rmse_capped/phm08_capped score against the true RUL capped at {self.rul_cap}")
        return {"task": task.name, "dataset": dataset, "protocol": protocol, "models": summary,
                "best": {"model": best, **summary[best]}}

    def load_predictor(self, directory: Path, config: Mapping[str, Any],
                       formats: Formats) -> SequencePredictor:
        require_format(directory, config, FORMAT_PREFIX, "a sequence predictor")
        return SequencePredictor.load(Path(directory), formats, self)
