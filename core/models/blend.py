"""Blend: a weighted mean of several fitted candidates' calibrated probabilities (and
contributions), the weights stacked on held-out rows."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

import numpy as np
import pandas as pd

from core.models.calibration import Calibrator
from core.models.protocol import Model

if TYPE_CHECKING:
    from core.models.formats import Formats

FILE = "blend.json"
_EPS = 1e-6  # keeps logit(pool) finite
# Ridge on the softmax scores, in units of rows: as if a handful of rows were evidence for
# equal weights. Only a guard against scores running off to infinity; it barely moves weights
# fitted on hundreds of rows.
RIDGE = 1.0


def stack_weights(pds: Mapping[str, np.ndarray], y: np.ndarray) -> dict[str, float]:
    """Weights (non-negative, summing to 1) of a linear pool of the members' calibrated PDs,
    fitted with the pool's recalibration on held-out rows: the members' own out-of-sample
    predictions, never the rows they were fit on.

    Stacking (Wolpert 1992) with Breiman's (1996) non-negativity, for probabilities as Ranjan
    and Gneiting's (2010) recalibrated linear pool: minimise the log-loss of
    sigmoid(a + b * logit(sum_i w_i p_i)) over the simplex w and a, b. A member whose
    information the others already carry, or a weaker one, gets less than an equal share
    rather than diluting the pool; a plain mean is the special case w_i = 1/k. Weights are
    a softmax of free scores, so the fit is smooth and unconstrained; a small ridge on the
    scores (a prior at equal weights) keeps them finite when a member is worthless. (A member
    whose calibrated PD is nearly its base rate shifts every row alike: its weight barely
    changes the pool's ranking or log-loss, so it is loosely determined and harmless.)
    """
    from scipy.optimize import minimize

    names = list(pds)
    if len(names) < 2:
        return dict.fromkeys(names, 1.0)
    P = np.clip(np.column_stack([np.asarray(pds[n], dtype=float) for n in names]),
                _EPS, 1 - _EPS)
    y = np.asarray(y, dtype=float)
    if len(np.unique(y)) < 2:
        raise ValueError(f"blend weights need both classes in the held-out rows ({len(y)} rows)")
    k = len(names)

    def loss(params: np.ndarray) -> float:
        scores, a, b = params[:k], params[k], params[k + 1]
        w = np.exp(scores - scores.max())
        w /= w.sum()
        pool = np.clip(P @ w, _EPS, 1 - _EPS)
        z = a + b * np.log(pool / (1 - pool))
        # log(1 + e^z) - y z, stable for large |z|
        nll = np.logaddexp(0.0, z) - y * z
        return float(nll.mean() + RIDGE * np.sum(scores ** 2) / len(y))

    start = np.r_[np.zeros(k), 0.0, 1.0]
    fit = minimize(loss, start, method="L-BFGS-B")
    if not np.all(np.isfinite(fit.x)):
        raise ValueError(f"blend weights did not converge: {fit.message}")
    w = np.exp(fit.x[:k] - fit.x[:k].max())
    w /= w.sum()
    return {n: float(v) for n, v in zip(names, w, strict=True)}


class Blend:
    """A weighted mean of its members' calibrated PDs (equal weights unless given: see
    `stack_weights`); explains itself by the same weighted mean of their contributions.

    Members are built (and usually fitted) elsewhere; `fit` fits them on X, calibrates each
    on (X_valid, y_valid) and stacks their weights on the same rows. All members must share
    one feature encoding (same training frame).
    """

    format = "blend"

    def __init__(self, members: dict[str, Model], calibrators: dict[str, Calibrator],
                 weights: Mapping[str, float] | None = None) -> None:
        self.members = members
        self.calibrators = calibrators
        self.weights = dict(weights) if weights is not None else None

    def _weights(self) -> np.ndarray:
        if self.weights is None:
            return np.full(len(self.members), 1.0 / max(len(self.members), 1))
        missing = set(self.members) - set(self.weights)
        if missing:
            raise ValueError(f"blend weights lack members {sorted(missing)}")
        return np.array([self.weights[name] for name in self.members], dtype=float)

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
        self.weights = self.stacked(self.members, self.calibrators, X_valid, y_valid).weights
        return self

    @classmethod
    def stacked(cls, members: dict[str, Model], calibrators: dict[str, Calibrator],
                X_valid: pd.DataFrame, y_valid: np.ndarray) -> Self:
        """Fitted, calibrated members, weighted by `stack_weights` on (X_valid, y_valid): rows
        the members were not fit on (their calibration rows)."""
        calibrated = {name: calibrators[name].transform(member.predict_proba(X_valid)[:, 1])
                      for name, member in members.items()}
        return cls(members, calibrators, stack_weights(calibrated, y_valid))

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
        w = self._weights()
        return (np.tensordot(w, np.asarray(probabilities), axes=1),
                np.tensordot(w, np.asarray(contributions), axes=1))

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        p = self._weights() @ np.asarray([
            self.calibrators[name].transform(member.predict_proba(X)[:, 1])
            for name, member in self.members.items()])
        return np.column_stack([1 - p, p])

    def contributions(self, X: pd.DataFrame) -> pd.DataFrame:
        _, contrib = self.explain_array(self.to_array(X))
        return pd.DataFrame(contrib, columns=self.features_, index=X.index)

    def save(self, directory: Path) -> None:
        state = {"members": {name: m.format for name, m in self.members.items()},
                 "calibrators": {name: c.to_dict() for name, c in self.calibrators.items()},
                 "weights": self.weights}
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
        # Blends saved before weights existed (or saved unweighted) are plain means.
        return cls(members, calibrators, state.get("weights"))
