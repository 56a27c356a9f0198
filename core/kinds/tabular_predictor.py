"""The tabular Kind's predictor: a fitted model + calibrator (+ a head per failure mode)
that turns raw rows into ledger rows with calibrated probabilities, decisions and reasons."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa

from core.explain import top_reasons
from core.kinds.base import (
    EPOCH,
    ledger_frame,
)
from core.kinds.predictor_files import load_predictor_files, save_predictor
from core.kinds.tabular_modes import (
    MODES_DIR,
    ModeHead,
)
from core.models.calibration import Calibrator
from core.models.scorecard import points_from_probability

if TYPE_CHECKING:
    from core.models.formats import Formats

PREDICTOR_FILE = "predictor.json"
FORMAT_PREFIX = "tabular."
SCORECARD = "scorecard"  # the one model format whose scores are points by construction
TEXT = pd.StringDtype("pyarrow", np.nan)  # pandas 3's default "str" dtype
# A reason phrase: the whole scored frame in, one sentence per row out (vectorised: scoring
# runs on a million rows).
ReasonText = Callable[[pd.DataFrame], "pd.Series | np.ndarray"]


# Keys of a version's params (model_versions.params) that repeat the predictor's decision
# settings, so pages read them without loading the model.
CUTOFF_KEY, DECISIONS_KEY = "cutoff", "decisions"


def decision_params(cutoff: float, decisions: Sequence[str]) -> dict[str, Any]:
    """The params entries `decision_settings` reads back."""
    return {CUTOFF_KEY: float(cutoff), DECISIONS_KEY: list(decisions)}


def decision_settings(params: Mapping[str, Any], predictor: Callable[[], Any]
                      ) -> tuple[float, tuple[str, str]] | None:
    """A version's (cut-off, (word below, word at or above)): from its params (`params`, as
    `decision_params` wrote them), else, for a version trained before they were recorded, from
    its predictor (`predictor()` loads it); None when that is not a TabularPredictor."""
    if CUTOFF_KEY in params and DECISIONS_KEY in params:
        below, above = params[DECISIONS_KEY]
        return float(params[CUTOFF_KEY]), (str(below), str(above))
    loaded = predictor()
    if isinstance(loaded, TabularPredictor):
        return float(loaded.cutoff), (loaded.decisions[0], loaded.decisions[1])
    return None


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
    modes: dict[str, ModeHead] = field(default_factory=dict)
    reason_text: Mapping[str, ReasonText] | None = None
    # Features the model reads that no reason may name: a Task's protected attributes when it
    # opts in (core.fairness.Protected.use). Their effect stays in the PD; the reasons are the
    # strongest of the other features.
    unspoken: tuple[str, ...] = ()

    @property
    def format(self) -> str:
        return FORMAT_PREFIX + self.model.format

    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Ledger rows: calibrated probability, the decision at the cut-off, top-3 reasons, and
        for a scorecard its points; then per mode a row (output = the mode) with the mode's
        calibrated probability and its own model's reasons."""
        missing = [c for c in (self.id, *self.features) if c not in frame.columns]
        if missing:
            raise KeyError(f"rows to score lack columns {missing}; the model was trained on "
                           f"{self.features}")
        X = frame[self.features]
        texts = {f: np.asarray(fn(frame)) for f, fn in (self.reason_text or {}).items()
                 if f in self.features}
        p_raw, contributions, values, categories = _explain(self.model, X)
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
        keys = frame[self.id].astype("str").to_numpy()
        extra = {}
        if self.model.format == SCORECARD:  # points mean something only for a scorecard
            points = pd.Series(np.round(points_from_probability(score)).astype(np.int64))
            extra["payload"] = pd.array('{"points": ' + points.astype(TEXT) + "}", dtype=TEXT)
        primary = ledger_frame(
            len(frame), keys, score, as_of=as_of,
            label=pd.array(labels.cast(pa.string()), dtype=TEXT),
            reasons=self._reasons(contributions, values, categories, texts),
            **extra)
        if not self.modes:
            return primary
        return pd.concat([primary, *(self._mode_rows(mode, head, X, keys, as_of, texts)
                                     for mode, head in self.modes.items())], ignore_index=True)

    def _mode_rows(self, mode: str, head: ModeHead, X: pd.DataFrame, keys: np.ndarray,
                   as_of: np.ndarray, texts: Mapping[str, np.ndarray]) -> pd.DataFrame:
        """The mode's ledger rows: no decision (the target's row carries it), its own reasons
        (none for a base-rate head: nothing in the row moved it)."""
        if head.model is None:
            score, reasons = np.full(len(X), head.rate), pd.array(["[]"] * len(X), dtype=TEXT)
        else:
            p_raw, contributions, values, categories = _explain(head.model, X)
            score = head.calibrator.transform(p_raw)
            reasons = self._reasons(contributions, values, categories, texts)
        return ledger_frame(len(X), keys, score, as_of=as_of,
                            output=np.full(len(X), mode, dtype=object), reasons=reasons)

    def _reasons(self, contributions: np.ndarray, values: pd.DataFrame | np.ndarray,
                 categories: Mapping[str, Any] | None,
                 texts: Mapping[str, np.ndarray]) -> pd.api.extensions.ExtensionArray:
        """The top reasons among the features a reason may name (all but `unspoken`)."""
        features = self.features
        if self.unspoken:
            keep = [i for i, name in enumerate(features) if name not in self.unspoken]
            features = [features[i] for i in keep]
            contributions = contributions[:, keep]
            if not isinstance(values, pd.DataFrame):  # a frame is selected by name in there
                values = values[:, keep]
        return pd.array(top_reasons(contributions, values, features, categories=categories,
                                    texts=texts), dtype=TEXT)

    def save(self, directory: Path) -> None:
        # The phrases are the Task's code, not state: the Kind hands them back on load.
        modes = {mode: head.save(Path(directory) / MODES_DIR / mode)
                 for mode, head in self.modes.items()}
        save_predictor(directory, PREDICTOR_FILE, self.model, {
            "format": self.format, "features": self.features,
            "calibrator": self.calibrator.to_dict(), "id": self.id, "time": self.time,
            "cutoff": self.cutoff, "decisions": list(self.decisions), "modes": modes,
            "unspoken": list(self.unspoken)})

    @classmethod
    def load(cls, directory: Path, formats: Formats,
             reason_text: Mapping[str, ReasonText] | None = None) -> TabularPredictor:
        state, model = load_predictor_files(directory, PREDICTOR_FILE, "tabular predictor",
                                            formats)
        # Artifacts from before decisions were the Task's said approve/decline; from before
        # modes had none.
        decisions = tuple(state.get("decisions", ("approve", "decline")))
        modes = {mode: ModeHead.load(Path(directory) / MODES_DIR / mode, head, formats)
                 for mode, head in state.get("modes", {}).items()}
        return cls(features=state["features"], model=model,
                   calibrator=Calibrator.from_dict(state["calibrator"]), id=state["id"],
                   time=state["time"], cutoff=state["cutoff"], decisions=decisions,
                   modes=modes, reason_text=reason_text,
                   unspoken=tuple(state.get("unspoken", ())))  # none before opt-ins were kept


def _explain(model: Any, X: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, Any, Any]:
    """(raw PD, contributions, values for the reasons, their category maps).

    Our models encode once and explain the array (the fast path); any other Model protocol
    implementation goes through predict_proba + contributions on the frame.
    """
    if hasattr(model, "explain_array"):
        A = model.to_array(X)
        p_raw, contributions = model.explain_array(A)
        return p_raw, contributions, A, model.categories_
    p_raw = model.predict_proba(X)[:, 1]
    return p_raw, model.contributions(X).to_numpy(dtype=float), X, None
