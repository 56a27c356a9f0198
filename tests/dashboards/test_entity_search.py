"""find_keys: an entity is found by its id anywhere in the store, not only among the first
choices a picker lists (the what-if form's first 500 applicants)."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from core.store import input_queries
from core.store.bulk import insert_frame
from core.store.engine import ensure_task_table, make_engine, migrate
from dashboards.context import make_context
from tests.fakes import fake_sample, make_task

ROWS = 600  # more than the 500 a picker lists


def _fill(engine: sa.Engine) -> sa.Table:
    table = ensure_task_table(engine, make_task())
    with engine.begin() as conn:
        insert_frame(conn, table, fake_sample(ROWS, seed=1))
    return table


def test_an_id_past_the_first_500_is_found(engine: sa.Engine) -> None:
    table = _fill(engine)
    first = input_queries.distinct_keys(engine, table, "application_id", 500)
    assert "A0000501" not in first  # what the picker offered
    assert input_queries.find_keys(engine, table, "application_id", "A0000501") == ["A0000501"]
    # A prefix lists the ids that start with it, the exact one first.
    assert input_queries.find_keys(engine, table, "application_id", " A000059 ") == [
        f"A000059{i}" for i in range(10)]
    assert input_queries.find_keys(engine, table, "application_id", "A000059", limit=3) == [
        "A0000590", "A0000591", "A0000592"]
    # LIKE's wildcards are literal characters here.
    assert input_queries.find_keys(engine, table, "application_id", "A%") == []
    assert input_queries.find_keys(engine, table, "application_id", "A00005_1") == []
    assert input_queries.find_keys(engine, table, "application_id", "nobody") == []
    assert input_queries.find_keys(engine, table, "application_id", "  ") == []
    # A numeric column is matched exactly; text that is no number finds nothing.
    months = input_queries.find_keys(engine, table, "months", "12")
    assert months and set(months) == {12}
    assert input_queries.find_keys(engine, table, "months", "twelve") == []


def test_the_page_context_runs_it_as_a_named_query(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VERTICALS_HOME", str(tmp_path))
    url = f"sqlite:///{tmp_path / 'verticals.db'}"
    store = make_engine(url)
    migrate(store)
    _fill(store)
    store.dispose()
    ctx = make_context(make_task(), url)
    assert ctx.input_query("find_keys", "application_id", "A0000599") == ["A0000599"]
    assert ctx.row("A0000599")["application_id"].tolist() == ["A0000599"]
