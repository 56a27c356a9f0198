"""Further labels of a tabular row (failure modes): one calibrated probability head per mode."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from core.evaluate import pr_auc
from core.models.calibration import Calibrator

if TYPE_CHECKING:
    from core.models.formats import Formats

MODES_DIR = "modes"
# A mode with fewer positives than this among the fit rows gets its base rate, not a model:
# a boosted model or a scorecard fit on a couple of positives is noise with a confident face.
MIN_MODE_POSITIVES = 5


@dataclass
class ModeHead:
    """One mode's probability: a fitted model and its calibrator, or (model None) the mode's
    base rate on the training rows when they held too few of its positives to fit one."""

    model: Any | None
    calibrator: Calibrator
    rate: float = 0.0

    def score(self, X: pd.DataFrame) -> np.ndarray:
        if self.model is None:
            return np.full(len(X), self.rate)
        return self.calibrator.transform(self.model.predict_proba(X)[:, 1])

    def describe(self) -> dict[str, Any]:
        """What the candidate's params record about this head (JSON)."""
        if self.model is None:
            return {"base_rate": self.rate}
        return {"model": self.model.format, "calibration": self.calibrator.to_dict()}

    def save(self, directory: Path) -> dict[str, Any]:
        """Write the model under `directory`; the JSON state that finds it again."""
        state = {"calibrator": self.calibrator.to_dict(), "rate": self.rate,
                 "model_format": None}
        if self.model is not None:
            directory.mkdir(parents=True, exist_ok=False)
            self.model.save(directory)
            state["model_format"] = self.model.format
        return state

    @classmethod
    def load(cls, directory: Path, state: dict[str, Any], formats: Formats) -> ModeHead:
        model = (None if state["model_format"] is None
                 else formats.load(state["model_format"], directory))
        return cls(model, Calibrator.from_dict(state["calibrator"]), float(state["rate"]))


def mode_labels(rows: pd.DataFrame, mode: str) -> np.ndarray:
    """The mode as floats: 1.0 / 0.0, NaN where unknown (such rows never train the head)."""
    if mode not in rows.columns:
        raise KeyError(f"the frame has no mode column {mode!r}; columns: "
                       f"{', '.join(map(str, rows.columns))}")
    return pd.to_numeric(rows[mode].astype("object"), errors="coerce").to_numpy(dtype=float)


def learnable(y_fit: np.ndarray, y_cal: np.ndarray) -> bool:
    """Enough positives and negatives to fit on, and both classes to calibrate on."""
    positives = int(y_fit.sum())
    return (positives >= MIN_MODE_POSITIVES and len(y_fit) - positives >= MIN_MODE_POSITIVES
            and 0 < int(y_cal.sum()) < len(y_cal))


def base_rate(*labels: np.ndarray) -> float:
    known = np.concatenate(labels)
    return float(known.mean()) if len(known) else 0.0


def mode_metrics(mode: str, labels: np.ndarray, p: np.ndarray,
                 cutoff: float) -> dict[str, float]:
    """recall_M, precision_M and pr_auc_M of the mode's own probability at `cutoff`, on rows
    where the mode is known; nothing when those rows lack either class (no finite value)."""
    known = ~np.isnan(labels)
    y, p = labels[known].astype(int), np.asarray(p, dtype=float)[known]
    if len(np.unique(y)) < 2:
        return {}
    alert = p >= cutoff
    hits = int((alert & (y == 1)).sum())
    return {f"recall_{mode}": hits / int(y.sum()),
            f"precision_{mode}": hits / int(alert.sum()) if alert.any() else 0.0,
            f"pr_auc_{mode}": pr_auc(y, p)}
