"""How numbers, metrics, models and reasons read on screen (one spelling everywhere)."""

from __future__ import annotations

import json
import math
from datetime import datetime
from typing import Any

from core.store.queries import ModelSummary

METRIC_NAMES = {
    "auc": "AUC", "ks": "KS", "gini": "Gini", "brier": "Brier", "ece": "ECE",
    "error_rate": "Error rate", "pr_auc": "PR-AUC", "f1": "F1", "accuracy": "Accuracy",
    "mae": "MAE", "rmse": "RMSE", "mape": "MAPE", "smape": "sMAPE", "mase": "MASE",
    "coverage": "Coverage", "sensitivity": "Sensitivity", "specificity": "Specificity",
    "log_loss": "Log loss", "score": "Score",
    "op_sensitivity": "Sensitivity at the threshold",
    "op_specificity": "Specificity at the threshold",
    "op_guarantee": "Guaranteed sensitivity",
}


# Which way is good, per metric (True: higher). Not listed: no direction is said (coverage,
# whose goal is its nominal level, or a count).
HIGHER_IS_BETTER = {
    "auc": True, "ks": True, "gini": True, "pr_auc": True, "f1": True, "accuracy": True,
    "sensitivity": True, "specificity": True, "op_sensitivity": True, "op_specificity": True,
    "op_guarantee": True, "brier": False, "ece": False, "error_rate": False, "log_loss": False,
    "mae": False, "rmse": False, "mape": False, "smape": False, "mase": False,
}
# Metrics that are shares of rows, shown as percentages.
PERCENT_METRICS = frozenset({"accuracy", "error_rate", "sensitivity", "specificity",
                             "op_sensitivity", "op_specificity", "op_guarantee"})
# Readable headers for the store's raw column names wherever a table shows them.
COLUMN_LABELS = {
    "rows_in": "rows in", "rows_out": "rows out", "rows_rejected": "rows rejected",
    "duration_s": "seconds", "started_at": "started", "finished_at": "finished",
    "run_id": "run", "row_number": "row", "created_at": "recorded", "train_rows": "train rows",
    "entity_key": "entity", "model_version_id": "model version id", "payload": "raw row",
    "kupiec_p99": "Kupiec p (99% VaR)", "kupiec_p95": "Kupiec p (95% VaR)",
    "direction_base": "direction hit rate, baseline", "direction": "direction hit rate",
    "psi": "PSI", "op_threshold": "threshold",
}
COMPACT_FROM = 10_000  # counts below this fit a tile in full
COMPACT_UNITS = ((1e9, "B"), (1e6, "M"), (1e3, "k"))


def column_label(name: str) -> str:
    """A table header for a raw column name: the label map, a metric's name, or the name with
    spaces for underscores."""
    if name in COLUMN_LABELS:
        return COLUMN_LABELS[name]
    if name in METRIC_NAMES:
        return METRIC_NAMES[name]
    return name.replace("_", " ")


def readable_columns(frame: Any) -> Any:
    """The frame with column_label headers (a copy; the values untouched)."""
    return frame.rename(columns={c: column_label(str(c)) for c in frame.columns})


def compact_count(value: int | float | None) -> str:
    """A count that always fits a tile: 9,999 in full, then 12.3k, 1.0M, 2.5B (the exact
    figure belongs in the tile's help, see count)."""
    if value is None:
        return "0"
    n = int(value)
    if abs(n) < COMPACT_FROM:
        return f"{n:,}"
    for size, unit in COMPACT_UNITS:
        if abs(n) >= size:
            shown = f"{n / size:.1f}"
            if shown == "1000.0" and unit != "B":  # 999,950 reads 1.0M, not 1000.0k
                return compact_count(size * 1000)
            return f"{shown}{unit}"
    return f"{n:,}"


def percent(value: float | None, digits: int = 1) -> str:
    """A share as a percentage: 0.957 -> '95.7%'."""
    if value is None or not math.isfinite(value):
        return "n/a"
    return f"{value:.{digits}%}"


def points_change(value: float | None, digits: int = 1) -> str:
    """A difference of two shares in percentage points: 0.012 -> '+1.2 pp'."""
    if value is None or not math.isfinite(value):
        return "n/a"
    return f"{value * 100:+.{digits}f} pp"


def seconds(value: float | None) -> str:
    """A duration with the precision that means something: '0.42 s', '12.3 s', '3 min 05 s'."""
    if value is None or not math.isfinite(value):
        return "n/a"
    if value < 0.01:
        return "<0.01 s"
    if value < 10:
        return f"{value:.2f} s"
    if value < 60:
        return f"{value:.1f} s"
    whole = round(value)
    if whole < 3600:
        return f"{whole // 60} min {whole % 60:02d} s"
    return f"{whole // 3600} h {whole % 3600 // 60:02d} min"


def better(name: str, higher_is_better: bool | None = None) -> str | None:
    """'higher' or 'lower' (which way is good for metric `name`), None when neither is."""
    higher = HIGHER_IS_BETTER.get(name) if higher_is_better is None else higher_is_better
    return None if higher is None else ("higher" if higher else "lower")


def metric_display(name: str, value: float | None) -> str:
    """A metric's value in its unit: shares as percentages, the rest as metric_value."""
    if name in PERCENT_METRICS and value is not None:
        return percent(value)
    return metric_value(value)


def metric_name(name: str) -> str:
    return METRIC_NAMES.get(name, name.replace("_", " ").capitalize())


def metric_value(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:.3f}" if abs(value) < 100 else f"{value:,.1f}"


def metric(name: str, value: float | None) -> str:
    """'AUC 0.812': the form the overview and the Task page both show for a metric."""
    return f"{metric_name(name)} {metric_value(value)}"


def when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment is not None else "never"


def count(value: int | float | None) -> str:
    return f"{int(value):,}" if value is not None else "0"


def model_label(model: ModelSummary) -> str:
    return f"{model.model} v{model.version}"


def held_out_rows(model: ModelSummary) -> int | None:
    """How many held-out rows the version's metrics were measured on, where it recorded it."""
    params = model.params or {}
    parts = params.get("rows")
    test = parts.get("test") if isinstance(parts, dict) else params.get("test_rows")
    return int(test) if isinstance(test, int | float) else None


def split_words(model: ModelSummary) -> str:
    """'fit on 1,800 rows, 600 held out for validation, metrics on 600 test rows': the split
    behind a version's numbers, as far as it recorded it."""
    if model.train_rows is None:
        return "unknown rows"
    words = [f"fit on {count(model.train_rows)} rows"]
    parts = (model.params or {}).get("rows")
    if isinstance(parts, dict) and parts.get("validation"):
        words.append(f"{count(parts['validation'])} held out for calibration")
    test = held_out_rows(model)
    if test is not None:
        words.append(f"metrics on {count(test)} test rows")
    return ", ".join(words)


def metric_rows(model: ModelSummary) -> str:
    """Which rows a version's metrics are on, for a tile's help."""
    test = held_out_rows(model)
    return (f"{count(test)} held-out test rows" if test is not None
            else "held-out rows the model never trained on")


def champion_sentence(model: ModelSummary) -> str:
    """Which model, how good, trained when and on what: the caption under every champion tile."""
    rows = split_words(model)
    profile = f", {model.profile} profile" if model.profile else ""
    return (
        f"Champion **{model_label(model)}**: {metric(model.primary_metric, model.primary_value)} "
        f"on held-out data; trained {when(model.created_at)} on `{model.dataset or 'store'}` "
        f"({rows}{profile})."
    )


def points(payload: str | None) -> int | None:
    """The scorecard points in a ledger row's payload JSON; None when the model wrote none (only
    a scorecard champion's payload carries points: a LightGBM or blend payload is null)."""
    if not isinstance(payload, str) or not payload:  # None, or NaN from a pandas column
        return None
    parsed = json.loads(payload)
    value = parsed.get("points") if isinstance(parsed, dict) else None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return round(value)


def reasons(text: str | None, limit: int = 3) -> list[dict[str, Any]]:
    """The reasons JSON of a ledger row as a list of {feature, value, effect} dicts."""
    if not isinstance(text, str) or not text:
        return []
    parsed = json.loads(text)
    return list(parsed)[:limit] if isinstance(parsed, list) else []


def reasons_text(text: str | None, limit: int = 3) -> str:
    """'duration_months = 48 (+0.42); ...': a ledger row's reasons in one readable line."""
    parts = []
    for reason in reasons(text, limit):
        effect = reason.get("effect")
        shown = f" ({effect:+.2f})" if isinstance(effect, int | float) else ""
        parts.append(f"{reason.get('feature')} = {reason.get('value')}{shown}")
    return "; ".join(parts)
