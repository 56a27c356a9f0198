"""pytorch-forecasting glue: the long frame, the TimeSeriesDataSet and the scaling it learned."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from core.forecast.panel import Panel

if TYPE_CHECKING:
    from pytorch_forecasting import TimeSeriesDataSet

TARGET = "y"  # one-step change over the volatility known before it (Panel.scaled_change)
KNOWN_REALS = ("dow",)  # calendar: known for every future step
VOLATILITY = "log_vol"  # log EWMA volatility at the row: the regime the scaled moves live in
UNKNOWN = "\x00unknown"  # target_scale key for series the dataset never saw (code 0, the NaN class)


@dataclass(frozen=True)
class DatasetSpec:
    """Everything the dataset learned, as plain values: enough to rebuild batches by hand
    (core.forecast.fast_predict) and to rebuild the network after loading (JSON-able)."""

    encoder_length: int
    horizon: int
    freq: str
    reals: tuple[str, ...]
    scalers: dict[str, tuple[float, float]]  # non-target real -> (mean, scale) of its scaler
    codes: dict[str, int]  # series -> categorical code (unknown series: the NaN class 0)
    target_scale: dict[str, tuple[float, float]]  # series -> (center, scale) of the target
    groups: dict[str, int]  # series -> group-id code (only echoed in the batch)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> DatasetSpec:
        return cls(**{**state, "reals": tuple(state["reals"]),
                      "scalers": {k: tuple(v) for k, v in state["scalers"].items()},
                      "target_scale": {k: tuple(v) for k, v in state["target_scale"].items()}})


def future_times(origins: np.ndarray, horizon: int, freq: str) -> np.ndarray:
    """The next `horizon` timestamps after each origin on the Kind's calendar, shape (n, H)."""
    origins = np.asarray(origins, dtype="datetime64[ns]")
    if freq == "B":
        days = origins.astype("datetime64[D]")
        steps = [np.busday_offset(days, k, roll="forward") for k in range(1, horizon + 1)]
        return np.stack(steps, axis=1).astype("datetime64[ns]")
    offset = pd.tseries.frequencies.to_offset(freq)
    return np.stack([(pd.DatetimeIndex(origins) + k * offset).to_numpy()
                     for k in range(1, horizon + 1)], axis=1)


def calendar(times: np.ndarray) -> np.ndarray:
    """Day of week (0 = Monday) as floats: the known covariate."""
    days = pd.DatetimeIndex(np.ravel(times)).dayofweek.to_numpy(dtype=float)
    return days.reshape(np.shape(times))


def observed(panel: Panel) -> tuple[str, ...]:
    """The observed (past-only) reals a network may read: log volatility and the Kind's
    covariates (the stock Task's volume z-score)."""
    return (VOLATILITY, *panel.covariates)


def observed_values(panel: Panel, name: str, rows: np.ndarray) -> np.ndarray:
    """An observed real at panel rows `rows` (any shape; each value known at the close of its
    row). Only those rows are computed: the fast path calls this for every origin."""
    if name == VOLATILITY:
        return np.log(panel.sigma[rows])
    return panel.frame[name].to_numpy(dtype=float)[rows]


def long_frame(panel: Panel) -> pd.DataFrame:
    """Rows with a scaled change (not a series' first WARMUP rows) in pytorch-forecasting's
    shape, with every observed real. The networks learn moves in volatility units, as
    LightGBM does: the shape of a move is far more stable across calm and stormy years than
    its size, which the EWMA supplies."""
    rows = np.flatnonzero(np.isfinite(panel.scaled_change))
    frame = panel.frame.iloc[rows]
    out = pd.DataFrame({
        "series": frame["series"].astype("str").to_numpy(),
        "time_idx": frame["pos"].to_numpy(dtype=np.int64),
        TARGET: panel.scaled_change[rows],
        "dow": calendar(frame["time"].to_numpy()),
    })
    for name in observed(panel):
        out[name] = np.nan_to_num(observed_values(panel, name, rows))
    return out


def build_dataset(frame: pd.DataFrame, encoder_length: int, horizon: int,
                  observed: tuple[str, ...] = ()) -> TimeSeriesDataSet:
    """A fixed-length dataset: `encoder_length` past changes (and `observed` reals) -> the
    next `horizon` changes.

    The target is standardised by one TorchNormalizer fitted on `frame` (the past of the refit
    origin), the calendar and observed reals by StandardScalers; series are a static category
    with a NaN class so an unseen ticker still scores. Not a GroupNormalizer: in
    pytorch-forecasting 1.8, when the group column is also a category, it scales the inputs
    with one series' statistics and rescales the outputs with another's.
    """
    from pytorch_forecasting import TimeSeriesDataSet
    from pytorch_forecasting.data import NaNLabelEncoder, TorchNormalizer

    return TimeSeriesDataSet(
        frame, time_idx="time_idx", target=TARGET, group_ids=["series"],
        max_encoder_length=encoder_length, min_encoder_length=encoder_length,
        max_prediction_length=horizon, min_prediction_length=horizon,
        static_categoricals=["series"], time_varying_known_reals=list(KNOWN_REALS),
        time_varying_unknown_reals=[TARGET, *observed],
        categorical_encoders={"series": NaNLabelEncoder(add_nan=True)},
        target_normalizer=TorchNormalizer(method="standard"),
        add_relative_time_idx=False, add_target_scales=False, add_encoder_length=False,
    )


def dataset_spec(dataset: TimeSeriesDataSet, frame: pd.DataFrame, freq: str) -> DatasetSpec:
    """Read the scalers, codes and per-series target scale the dataset fitted."""
    # The fitted encoders and scalers live in the private attributes; the public ones are the
    # unfitted objects passed in.
    encoder = dataset._categorical_encoders["series"]
    keys = sorted(pd.unique(frame["series"]))
    codes = {k: int(c) for k, c in zip(keys, encoder.transform(np.asarray(keys)), strict=True)}
    scalers = {name: (float(dataset._scalers[name].mean_[0]),
                      float(dataset._scalers[name].scale_[0]))
               for name in dataset.reals if name != TARGET}
    target_scale, groups = _library_scales(dataset, frame)
    fallback = dataset.target_normalizer.get_parameters([0])
    target_scale[UNKNOWN] = tuple(float(v) for v in fallback)
    return DatasetSpec(encoder_length=dataset.max_encoder_length,
                       horizon=dataset.max_prediction_length, freq=freq,
                       reals=tuple(dataset.reals), scalers=scalers, codes=codes,
                       target_scale=target_scale, groups=groups)


def _library_scales(dataset: TimeSeriesDataSet, frame: pd.DataFrame
                    ) -> tuple[dict[str, tuple[float, float]], dict[str, int]]:
    """The target scale and group code the library itself attaches to each series' batch.

    Read from a predict batch rather than from the normalizer's attributes, so the fast path
    uses exactly what the library's own predict would.
    """
    from pytorch_forecasting import TimeSeriesDataSet

    predict = TimeSeriesDataSet.from_dataset(dataset, frame, predict=True,
                                             stop_randomization=True)
    x, _ = predict._collate_fn([predict[i] for i in range(len(predict))])
    keys = predict.x_to_index(x)["series"].astype("str").tolist()
    scales = {k: (float(c), float(s)) for k, (c, s) in zip(keys, x["target_scale"].tolist(),
                                                            strict=True)}
    groups = {k: int(g) for k, g in zip(keys, x["groups"][:, 0].tolist(), strict=True)}
    return scales, groups


def placeholder_dataset(spec: DatasetSpec) -> TimeSeriesDataSet:
    """A dataset with the same series, columns and lengths as the trained one, from dummy
    values: only used to rebuild the network's architecture before loading its weights."""
    length = spec.encoder_length + spec.horizon + 1
    extra = spec_observed(spec)
    frame = pd.concat([pd.DataFrame({
        "series": key, "time_idx": np.arange(length, dtype=np.int64),
        TARGET: np.linspace(-1.0, 1.0, length) * (1 + i), "dow": np.arange(length) % 5 * 1.0,
        **{name: np.linspace(0.0, 1.0, length) for name in extra},
    }) for i, key in enumerate(sorted(spec.codes, key=spec.codes.__getitem__))], ignore_index=True)
    return build_dataset(frame, spec.encoder_length, spec.horizon, extra)


def spec_observed(spec: DatasetSpec) -> tuple[str, ...]:
    """The observed reals the trained dataset had, in its order."""
    return tuple(name for name in spec.reals if name != TARGET and name not in KNOWN_REALS)


def predict_frame(panel: Panel, rows: np.ndarray, spec: DatasetSpec) -> pd.DataFrame:
    """For the library's own `predict`: each origin's encoder window plus `horizon` future
    rows on the calendar (target and observed reals 0: unknown), one pseudo-series per origin."""
    parts = []
    frame = panel.frame
    extra = spec_observed(spec)
    for n, row in enumerate(rows):
        past = frame.iloc[row - spec.encoder_length + 1: row + 1]
        future = future_times(frame["time"].to_numpy()[[row]], spec.horizon, spec.freq)[0]
        pos = int(frame["pos"].iloc[row])
        parts.append(pd.DataFrame({
            "series": frame["series"].iloc[row], "origin": n,
            "time_idx": np.arange(pos - spec.encoder_length + 1, pos + spec.horizon + 1),
            TARGET: np.r_[panel.scaled_change[row - spec.encoder_length + 1: row + 1],
                          np.zeros(spec.horizon)],
            "dow": np.r_[calendar(past["time"].to_numpy()), calendar(future)],
            **{name: np.r_[observed_values(panel, name, np.arange(row - spec.encoder_length + 1,
                                                                   row + 1)),
                           np.zeros(spec.horizon)] for name in extra},
        }))
    return pd.concat(parts, ignore_index=True)
