"""A small stock-forecasting store for page tests: sample bars, a random walk and a drift model
trained (smoke) and the champion's forecasts at the last day."""

from __future__ import annotations

from pathlib import Path

import pytest

from core import registry
from core.store.bulk import insert_frame
from core.store.engine import ensure_task_table, make_engine, migrate
from core.store.schema import predictions
from verticals.finance.stock_forecasting import TASK


def build_stock_store(home: Path) -> str:
    """Fill a SQLite store under `home`; returns its URL."""
    url = f"sqlite:///{home / 'verticals.db'}"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("VERTICALS_HOME", str(home))
        engine = make_engine(url)
        migrate(engine)
        frame = TASK.sample(300, 0)
        with engine.begin() as conn:
            insert_frame(conn, ensure_task_table(engine, TASK), frame)
        candidates = TASK.kind.train(TASK, TASK.feature_frame(frame), profile="smoke", seed=0,
                                     models=("random_walk", "drift"))
        for candidate in candidates:
            registry.register(engine, TASK, candidate, profile="smoke")
        champion = registry.promote_best(engine, TASK)
        ledger = next(c for c in candidates if c.name == champion.model).predictor.predict(
            TASK.feature_frame(frame))
        with engine.begin() as conn:
            insert_frame(conn, predictions, ledger.assign(
                task=TASK.name, model_version_id=champion.id, run_id=None, batch=0))
        engine.dispose()
    return url
