"""The demo-like credit store the finance page tests share (built once per session)."""

from __future__ import annotations

import pytest

from tests.dashboards.demo import DemoStore, credit_store


@pytest.fixture
def on_credit_store(tmp_path_factory: pytest.TempPathFactory,
                    monkeypatch: pytest.MonkeyPatch) -> DemoStore:
    """The credit store, with VERTICALS_HOME and VERTICALS_DB_URL pointing at it."""
    store = credit_store(tmp_path_factory.getbasetemp())
    monkeypatch.setenv("VERTICALS_HOME", str(store.home))
    monkeypatch.setenv("VERTICALS_DB_URL", store.url)
    return store
