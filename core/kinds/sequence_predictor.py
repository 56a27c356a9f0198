"""The fitted SequenceRegression predictor: member models, normaliser and interval scale that
turn unit histories into one ledger row per unit (its artifact: predictor.json + one folder
per member)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import pandas as pd

from core.kinds.base import ledger_frame
from core.kinds.sequence_windows import (
    Normaliser,
    calibrated,
    ensemble_quantiles,
    maintenance_plan,
)

if TYPE_CHECKING:
    from core.models.formats import Formats
    from core.models.sequence import SequenceModel

PREDICTOR_FILE = "predictor.json"
FORMAT_PREFIX = "sequence."
ENSEMBLE = "ensemble"
# Payload flag of a forecast for a unit its version was fitted or validated on.
SEEN = "seen_in_training"


class UnitWindows(Protocol):
    """What the predictor reads of its Kind (core.kinds.sequence.SequenceRegression): the
    columns, the window and the decision settings, and how rows become windows. A protocol,
    so this module never imports the Kind that imports it."""

    unit: str
    step: str
    condition: str | None
    window: int
    lead_time: int
    failure_cost: float
    overhaul_cost: float
    decisions: tuple[str, str]

    def ordered(self, frame: pd.DataFrame) -> pd.DataFrame: ...

    def values(self, rows: pd.DataFrame, normaliser: Normaliser) -> np.ndarray: ...

    def _windows(self, rows: pd.DataFrame, values: np.ndarray, units: Any, which: str
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]: ...


def seen_in_training(payload: Any) -> bool:
    """Whether a ledger payload (JSON text, or None) flags its unit as seen in training."""
    if not isinstance(payload, str) or not payload:
        return False
    return bool(json.loads(payload).get(SEEN, False))


@dataclass
class SequencePredictor:
    """Fitted member models (one, or an ensemble's), the normaliser and the interval scale:
    turns unit histories into one ledger row per unit at its latest step."""

    members: list[SequenceModel]
    normaliser: Normaliser
    scale: float
    kind: UnitWindows
    weights: tuple[float, ...] = ()  # the members' ensemble weights (empty: equal)
    seen_units: tuple[str, ...] = ()  # units the members were fitted or validated on

    @property
    def format(self) -> str:
        inner = self.members[0].format if len(self.members) == 1 else ENSEMBLE
        return FORMAT_PREFIX + inner

    def quantiles(self, windows: np.ndarray) -> np.ndarray:
        """Calibrated (n, 3) quantiles: q10, median, q90."""
        members = [m.predict_quantiles(windows) for m in self.members]
        raw = (members[0] if len(members) == 1
               else ensemble_quantiles(members, self.weights or None))
        return calibrated(raw, self.scale)

    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The latest RUL of each unit with its interval, P(failure within the lead time), the
        recommended overhaul step and P(failure before it), and the decision as the label
        (`decisions[1]` when the overhaul must be planned now); a unit with fewer steps than
        the window is scored from a front-padded window and its payload says so."""
        k = self.kind
        rows = k.ordered(frame)
        if not len(rows):
            return ledger_frame(0, [], [])
        values = k.values(rows, self.normaliser)
        units = sorted(rows[k.unit].unique())
        windows, _, _ = k._windows(rows, values, units, "last")
        q = self.quantiles(windows)
        plan = maintenance_plan(q, k.lead_time, k.failure_cost, k.overhaul_cost)
        counts = rows.groupby(k.unit)[k.step].agg(["max", "size"]).loc[units]
        # Units whose window reads a row of a condition the normaliser has no statistics for.
        strange: dict[str, str] = {}
        unseen = self.normaliser.unseen(rows, k.condition)
        if unseen.any():
            recent = (rows.groupby(k.unit).cumcount(ascending=False) < k.window).to_numpy()
            hit = rows[unseen & recent]
            strange = hit.groupby(k.unit)[k.condition].first().astype(str).to_dict()
        seen = set(self.seen_units)
        payloads = []
        for i in range(len(units)):
            item: dict[str, Any] = {
                "quantiles": {"0.1": float(q[i, 0]), "0.5": float(q[i, 1]),
                              "0.9": float(q[i, 2])},
                "p_fail_within_lead": round(float(plan.p_fail_within_lead[i]), 6),
                "lead_time": k.lead_time,
                "recommended_step": int(counts["max"].iloc[i] + plan.ahead[i]),
                "p_fail_by_recommended_step": round(float(plan.p_fail_by_then[i]), 6),
                "cycles": int(counts["size"].iloc[i])}
            if units[i] in seen:
                item[SEEN] = True  # an in-sample forecast: realised() leaves it out
            notes = []
            if counts["size"].iloc[i] < k.window:
                notes.append(f"too short: {int(counts['size'].iloc[i])} of {k.window} "
                             "steps; the window is padded with the first row")
            if units[i] in strange:
                notes.append(f"operating condition {strange[units[i]]} not seen in training: "
                             "its sensors are scaled with all training rows' statistics")
            if notes:
                item["note"] = "; ".join(notes)
            payloads.append(json.dumps(item))
        label = np.where(plan.due, k.decisions[1], k.decisions[0]).astype(object)
        return ledger_frame(len(units), np.asarray(units, dtype=object), q[:, 1],
                            step=counts["max"].to_numpy(dtype=np.int64), lower=q[:, 0],
                            upper=q[:, 2], label=label,
                            payload=np.asarray(payloads, dtype=object))

    def save(self, directory: Path) -> None:
        directory = Path(directory)
        formats = []
        for i, model in enumerate(self.members):
            member = directory / f"model_{i}"
            member.mkdir(parents=True, exist_ok=False)
            model.save(member)
            formats.append(model.format)
        (directory / PREDICTOR_FILE).write_text(json.dumps({
            "format": self.format, "member_formats": formats, "scale": self.scale,
            "weights": list(self.weights), "seen_units": list(self.seen_units),
            "normaliser": self.normaliser.to_dict()}, indent=1))

    @classmethod
    def load(cls, directory: Path, formats: Formats, kind: UnitWindows
             ) -> SequencePredictor:
        path = Path(directory, PREDICTOR_FILE)
        if not path.exists():
            raise FileNotFoundError(f"{path} is missing: {directory} is not a saved sequence "
                                    "predictor")
        state = json.loads(path.read_text())
        members = [formats.load(f, Path(directory, f"model_{i}"))
                   for i, f in enumerate(state["member_formats"])]
        # Artifacts saved before weights and seen units were recorded: equal weights, none seen.
        return cls(members, Normaliser.from_dict(state["normaliser"]), float(state["scale"]),
                   kind, tuple(float(w) for w in state.get("weights", ())),
                   tuple(state.get("seen_units", ())))
