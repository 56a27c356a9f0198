"""Live accuracy helpers the Kinds share: joining ledger rows with arriving outcomes, and the
realised metrics (classifier, forecaster, regressor) computed on the joined rows."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from core.kinds.base import EPOCH, PRIMARY_OUTPUT

REALISED_COLUMNS = ("actual", "baseline", "at")


def _naive_times(values: pd.Series) -> pd.Series:
    """Timestamps without a zone, so the ledger's naive as_of and the store's times compare."""
    times = pd.to_datetime(values)
    if getattr(times.dt, "tz", None) is not None:
        times = times.dt.tz_convert("UTC").dt.tz_localize(None)
    return times.astype("datetime64[ns]")


def _empty(ledger: pd.DataFrame) -> pd.DataFrame:
    return ledger.iloc[0:0].assign(actual=np.nan, baseline=np.nan, at=pd.NaT)


def realised_rows(
    ledger: pd.DataFrame, frame: pd.DataFrame, *, entity: str, label: str,
    actual: Any = None, step: str | None = None, time: str | None = None,
) -> pd.DataFrame:
    """Primary-output ledger rows of entities (and steps) whose `label` is known in `frame`.

    `actual(labels) -> numbers` turns the stored label into the score's terms (1.0 for the
    positive class); identity when None. `at` is the row's `time` when the Task has one, else
    the prediction's created_at (the ledger's own clock), else EPOCH.
    """
    known = frame[frame[label].notna()]
    if ledger.empty or known.empty:
        return _empty(ledger)
    outcomes = pd.DataFrame({"entity_key": known[entity].astype(str).to_numpy()})
    keys = ["entity_key"]
    if step is not None:
        outcomes["step"] = known[step].astype("int64").to_numpy()
        keys.append("step")
    values = known[label] if actual is None else actual(known[label])
    outcomes["actual"] = np.asarray(values, dtype=float)
    if time is not None and time in known.columns:
        outcomes["at"] = _naive_times(known[time]).to_numpy()
    outcomes = outcomes.drop_duplicates(keys, keep="last")
    rows = ledger[ledger["output"] == PRIMARY_OUTPUT]
    joined = rows.merge(outcomes, on=keys, how="inner")
    if "at" not in joined.columns:
        joined["at"] = (_naive_times(joined["created_at"]) if "created_at" in joined.columns
                        else EPOCH)
    joined["baseline"] = np.nan
    return joined


def realised_forecasts(
    ledger: pd.DataFrame, frame: pd.DataFrame, *, series: str, time: str, target: str,
    log_return: bool,
) -> pd.DataFrame:
    """Forecast rows (origin as_of, horizon h) whose target h stored steps after the origin is
    known: `actual` in the score's terms (the level, or ln(y[t+h]/y[t]) for log returns) and
    `baseline` the random walk's forecast (y[t], or 0 for log returns)."""
    if ledger.empty or frame.empty:
        return _empty(ledger)
    stored = pd.DataFrame({"entity_key": frame[series].astype(str).to_numpy(),
                           "time": _naive_times(frame[time]).to_numpy(),
                           "y": pd.to_numeric(frame[target], errors="coerce").to_numpy()})
    stored = stored.sort_values(["entity_key", "time"], kind="stable")
    stored = stored.drop_duplicates(["entity_key", "time"], keep="last")
    stored["pos"] = stored.groupby("entity_key").cumcount()
    rows = ledger[ledger["output"] == PRIMARY_OUTPUT].copy()
    rows["as_of"] = _naive_times(rows["as_of"])
    origin = stored.rename(columns={"time": "as_of", "y": "y_origin", "pos": "pos_origin"})
    joined = rows.merge(origin, on=["entity_key", "as_of"], how="inner")
    joined["pos"] = joined["pos_origin"] + joined["horizon"].astype("int64")
    target_rows = stored.rename(columns={"time": "at", "y": "y_target"})
    joined = joined.merge(target_rows, on=["entity_key", "pos"], how="inner")
    joined = joined[joined["y_target"].notna() & joined["y_origin"].notna()]
    if log_return:
        positive = (joined["y_target"] > 0) & (joined["y_origin"] > 0)
        joined = joined[positive]
        joined["actual"] = np.log(joined["y_target"] / joined["y_origin"])
        joined["baseline"] = 0.0
    else:
        joined["actual"] = joined["y_target"]
        joined["baseline"] = joined["y_origin"]
    return joined.drop(columns=["y_origin", "y_target", "pos", "pos_origin"])


def classifier_metrics(realised: pd.DataFrame, cutoff: float,
                       decided: np.ndarray | None = None) -> dict[str, float]:
    """AUC, KS and F1 of scores against 0/1 outcomes (AUC/KS NaN with one class); F1 of the
    decisions `decided` (booleans) when given, else of score >= `cutoff`."""
    # Imported here: the dashboard imports every Kind, and sklearn.metrics costs about a
    # second of the overview's first paint.
    from sklearn.metrics import f1_score, roc_auc_score, roc_curve

    y = realised["actual"].to_numpy(dtype=float)
    p = realised["score"].to_numpy(dtype=float)
    ok = np.isfinite(y) & np.isfinite(p)
    y, p = y[ok], p[ok]
    positive = (p >= cutoff) if decided is None else np.asarray(decided, dtype=bool)[ok]
    out = {"n": float(len(y)), "positive_rate": float(y.mean()) if len(y) else float("nan"),
           "auc": float("nan"), "ks": float("nan"), "f1": float("nan")}
    if len(y) and len(set(y.tolist())) == 2:
        fpr, tpr, _ = roc_curve(y, p)
        out |= {"auc": float(roc_auc_score(y, p)), "ks": float(np.max(tpr - fpr))}
    if len(y):
        out["f1"] = float(f1_score(y.astype(int), positive.astype(int), zero_division=0))
    return out


def forecast_metrics(realised: pd.DataFrame) -> dict[str, float]:
    """MAE, the random walk's MAE, their ratio (below 1 beats it) and 80% interval coverage."""
    y = realised["actual"].to_numpy(dtype=float)
    f = realised["score"].to_numpy(dtype=float)
    b = realised["baseline"].to_numpy(dtype=float)
    ok = np.isfinite(y) & np.isfinite(f) & np.isfinite(b)
    out = {"n": float(ok.sum()), "mae": float("nan"), "naive_mae": float("nan"),
           "mae_ratio": float("nan"), "coverage80": float("nan")}
    if not ok.any():
        return out
    mae, naive = float(np.mean(np.abs(f[ok] - y[ok]))), float(np.mean(np.abs(b[ok] - y[ok])))
    out |= {"mae": mae, "naive_mae": naive,
            "mae_ratio": mae / naive if naive > 0 else float("nan")}
    lo = realised["lower"].to_numpy(dtype=float)[ok]
    hi = realised["upper"].to_numpy(dtype=float)[ok]
    has = np.isfinite(lo) & np.isfinite(hi)
    if has.any():
        inside = (lo[has] <= y[ok][has]) & (y[ok][has] <= hi[has])
        out["coverage80"] = float(inside.mean())
    return out


def regression_metrics(realised: pd.DataFrame) -> dict[str, float]:
    """MAE and RMSE of point predictions against numeric outcomes."""
    y = realised["actual"].to_numpy(dtype=float)
    f = realised["score"].to_numpy(dtype=float)
    ok = np.isfinite(y) & np.isfinite(f)
    if not ok.any():
        return {"n": 0.0, "mae": float("nan"), "rmse": float("nan")}
    error = f[ok] - y[ok]
    return {"n": float(ok.sum()), "mae": float(np.mean(np.abs(error))),
            "rmse": float(np.sqrt(np.mean(error ** 2)))}
