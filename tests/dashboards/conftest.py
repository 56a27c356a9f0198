"""Stores for the dashboard tests: hand-made (exact numbers) and filled by the real pipelines."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.store.engine import make_engine, migrate
from tests.dashboards.handmade import Store, populate
from tests.fakes import make_task


@pytest.fixture(scope="module")
def handmade(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Store]:
    """A migrated SQLite store with the hand-made rows of tests.dashboards.handmade."""
    path: Path = tmp_path_factory.mktemp("handmade") / "verticals.db"
    url = f"sqlite:///{path}"
    engine = make_engine(url)
    migrate(engine)
    store = populate(engine, make_task())
    engine.dispose()
    return url, store
