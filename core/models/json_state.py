"""save/load for models whose whole fitted state is a few arrays: their parameters and those
arrays as one JSON file (no pickle), shared by the classical and the slice forecasters."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Self

import numpy as np

from core.models.protocol import Hyperparameters


class JsonState(Hyperparameters):
    """`_fitted` names the array attributes `fit` sets; `state_file` is the artifact's name."""

    state_file = "state.json"
    _fitted: tuple[str, ...] = ()

    def save(self, directory: Path) -> None:
        state = {"params": self.get_params(),
                 "fitted": {k: np.asarray(getattr(self, k)).tolist() for k in self._fitted}}
        Path(directory, self.state_file).write_text(json.dumps(state))

    @classmethod
    def load(cls, directory: Path) -> Self:
        state = json.loads(Path(directory, cls.state_file).read_text())
        model = cls(**state["params"])
        for key, value in state["fitted"].items():
            setattr(model, key, np.asarray(value, dtype=float))
        return model
