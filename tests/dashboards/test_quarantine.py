"""The quarantine browser on the Runs tab: rejected rows with value and rule, by rule, paged,
as CSV."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from core.store import queries
from core.store.engine import make_engine, migrate
from core.store.schema import pipeline_runs, quarantine
from dashboards.components.quarantine import PAGE_SIZE, quarantine_csv
from dashboards.context import make_context
from dashboards.testing import open_page
from tests.dashboards.test_task_page import TIMEOUT
from tests.fakes import make_task

RANGE, MISSING = "in_range(1, 72)", "not_nullable"
RANGE_ROWS, MISSING_ROWS = 60, 3


@pytest.fixture(scope="module")
def rejected(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A store whose one ingest run rejected 60 rows for a range and 3 for a missing value."""
    url = f"sqlite:///{tmp_path_factory.mktemp('quarantine') / 'verticals.db'}"
    engine = make_engine(url)
    migrate(engine)
    task = make_task()
    started = datetime(2025, 3, 1, 9, tzinfo=UTC)
    with engine.begin() as conn:
        run = conn.execute(pipeline_runs.insert().values(
            task=task.name, pipeline="ingest", status="succeeded", started_at=started,
            finished_at=started, duration_s=1.25, rows_in=100, rows_out=37,
            rows_rejected=63)).inserted_primary_key[0]
        conn.execute(quarantine.insert(), [
            {"task": task.name, "run_id": run, "source": "sample.csv", "row_number": n,
             "column": "months", "value": str(-n), "rule": RANGE,
             "payload": json.dumps({"application_id": f"A{n:07d}", "months": -n})}
            for n in range(RANGE_ROWS)] + [
            {"task": task.name, "run_id": run, "source": "sample.csv", "row_number": 100 + n,
             "column": "region", "value": None, "rule": MISSING, "payload": "{}"}
            for n in range(MISSING_ROWS)])
    engine.dispose()
    return url


def test_quarantine_page_query_pages_and_filters(rejected: str) -> None:
    engine = make_engine(rejected)
    try:
        assert queries.quarantine_count(engine, "test.fake") == RANGE_ROWS + MISSING_ROWS
        assert queries.quarantine_count(engine, "test.fake", MISSING) == MISSING_ROWS
        second = queries.quarantine_page(engine, "test.fake", RANGE, page=1, size=50)
        assert second["row_number"].tolist() == list(range(50, RANGE_ROWS))
        assert set(second["rule"]) == {RANGE} and second["value"].iloc[0] == "-50"
        assert json.loads(second["payload"].iloc[0]) == {"application_id": "A0000050",
                                                         "months": -50}
        assert queries.quarantine_page(engine, "other.task").empty
    finally:
        engine.dispose()


def test_runs_tab_browses_rejected_rows_by_rule(rejected: str) -> None:
    task = make_task()
    at = open_page(task.name, rejected, registry={task.name: task}, timeout=TIMEOUT)
    assert not at.exception, at.exception
    runs = next(df.value for df in at.dataframe if "pipeline" in df.value.columns)
    assert runs["duration"].tolist() == ["1.25 s"]
    assert {"rows in", "rows out", "rows rejected"} <= set(runs.columns)
    page = next(df.value for df in at.dataframe if "rule" in df.value.columns
                and "raw row" in df.value.columns)
    assert len(page) == PAGE_SIZE
    assert list(page.columns) == ["row", "column", "value", "rule", "source", "run",
                                  "recorded", "raw row"]
    assert any(f"Rejections 1–50 of {RANGE_ROWS + MISSING_ROWS};" in c.value for c in at.caption)
    assert len(at.get("download_button")) == 1

    at.selectbox(key="test_fake-quarantine-rule").set_value(MISSING).run()
    assert not at.exception, at.exception
    page = next(df.value for df in at.dataframe if "raw row" in df.value.columns)
    assert page["rule"].tolist() == [MISSING] * MISSING_ROWS
    assert page["column"].tolist() == ["region"] * MISSING_ROWS
    assert any(f"Rejections 1–3 of 3 for rule {MISSING};" in c.value for c in at.caption)


def test_csv_download_holds_every_row_of_the_rule(rejected: str, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VERTICALS_HOME", str(tmp_path))
    ctx = make_context(make_task(), rejected)
    every = pd.read_csv(io.StringIO(quarantine_csv(ctx, None)))
    assert len(every) == RANGE_ROWS + MISSING_ROWS  # more than one page
    ranged = pd.read_csv(io.StringIO(quarantine_csv(ctx, RANGE)))
    assert ranged["rule"].unique().tolist() == [RANGE]
    assert sorted(ranged["value"].tolist()) == sorted(-n for n in range(RANGE_ROWS))
