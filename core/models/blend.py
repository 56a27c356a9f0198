"""Blend: the mean of several fitted candidates' calibrated probabilities (and contributions)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

import numpy as np
import pandas as pd

from core.models.calibration import Calibrator
from core.models.protocol import Model

if TYPE_CHECKING:
    from core.models.formats import Formats

FILE = "blend.json"


class Blend:
    """Averages calibrated PDs of its members; explains itself by averaging their contributions.

    Members are built (and usually fitted) elsewhere; `fit` fits them on X and calibrates each
    on (X_valid, y_valid). All members must share one feature encoding (same training frame).
    """

    format = "blend"

    def __init__(self, members: dict[str, Model], calibrators: dict[str, Calibrator]) -> None:
        self.members = members
        self.calibrators = calibrators

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        params: dict[str, Any] = {"members": list(self.members)}
        if deep:
            params.update({f"{n}__{k}": v for n, m in self.members.items()
                           for k, v in m.get_params().items()})
        return params

    def fit(
        self, X: pd.DataFrame, y: np.ndarray, *,
        X_valid: pd.DataFrame | None = None, y_valid: np.ndarray | None = None,
    ) -> Self:
        if X_valid is None or y_valid is None:
            raise ValueError("Blend.fit needs X_valid/y_valid: each member is calibrated on them")
        for name, member in self.members.items():
            member.fit(X, y)
            self.calibrators[name] = Calibrator(self.calibrators.get(
                name, Calibrator()).method).fit(member.predict_proba(X_valid)[:, 1], y_valid)
        return self

    def _first(self) -> Model:
        if not self.members:
            raise ValueError("Blend has no members")
        return next(iter(self.members.values()))

    @property
    def features_(self) -> list[str]:
        return self._first().features_

    @property
    def categories_(self) -> dict[str, list[str]]:
        return self._first().categories_

    def to_array(self, X: pd.DataFrame) -> np.ndarray:
        return self._first().to_array(X)

    def explain_array(self, A: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        probabilities, contributions = [], []
        for name, member in self.members.items():
            p, c = member.explain_array(A)
            probabilities.append(self.calibrators[name].transform(p))
            contributions.append(c)
        return np.mean(probabilities, axis=0), np.mean(contributions, axis=0)

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        p = np.mean([self.calibrators[name].transform(member.predict_proba(X)[:, 1])
                     for name, member in self.members.items()], axis=0)
        return np.column_stack([1 - p, p])

    def contributions(self, X: pd.DataFrame) -> pd.DataFrame:
        _, contrib = self.explain_array(self.to_array(X))
        return pd.DataFrame(contrib, columns=self.features_, index=X.index)

    def save(self, directory: Path) -> None:
        state = {"members": {name: m.format for name, m in self.members.items()},
                 "calibrators": {name: c.to_dict() for name, c in self.calibrators.items()}}
        for name, member in self.members.items():
            (Path(directory) / name).mkdir()
            member.save(Path(directory) / name)
        Path(directory, FILE).write_text(json.dumps(state, indent=1))

    @classmethod
    def load(cls, directory: Path, formats: Formats | None = None) -> Self:
        """The blend and its members; `formats` (default: the installed ones) loads members of
        formats a Task added."""
        from core.models.formats import installed_formats

        formats = formats or installed_formats()
        state = json.loads(Path(directory, FILE).read_text())
        members = {name: formats.load(fmt, Path(directory) / name)
                   for name, fmt in state["members"].items()}
        calibrators = {name: Calibrator.from_dict(c) for name, c in state["calibrators"].items()}
        return cls(members, calibrators)
