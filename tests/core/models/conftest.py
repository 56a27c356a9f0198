"""A tiny credit-like frame with numbers, categories, missing values and a learnable target."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest


def credit_frame(n: int = 400, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    months = rng.integers(6, 60, n)
    status = rng.choice(["lt_0", "none", "ge_200"], n, p=[0.4, 0.4, 0.2])
    amount = rng.lognormal(7.5, 0.5, n)
    amount[::25] = np.nan
    z = -1.2 + 0.04 * (months - 24) + np.where(status == "lt_0", 1.2, -0.3)
    y = (rng.random(n) < 1 / (1 + np.exp(-z))).astype(int)
    X = pd.DataFrame({"months": months, "status": pd.Series(status, dtype="str"),
                      "amount": amount})
    return X, y


@pytest.fixture
def credit() -> tuple[pd.DataFrame, np.ndarray]:
    return credit_frame()
