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
}


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


def champion_sentence(model: ModelSummary) -> str:
    """Which model, how good, trained when and on what: the caption under every champion tile."""
    rows = f"{count(model.train_rows)} rows" if model.train_rows is not None else "unknown rows"
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
