"""The data-quality gate at ingest: a poor batch is stored but held back from scoring, with
its reason, until released; a clean batch is scored at once."""

from __future__ import annotations

import pandas as pd
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from core import registry
from core.store.schema import predictions
from pipelines.ingest import ingest
from pipelines.quality import QualityError, held, release, shares
from pipelines.score import score
from tests.fakes import candidate, fake_sample, make_task

TASK = make_task("test.quality")


@pytest.fixture
def store(engine: sa.Engine) -> sa.Engine:
    fake = candidate("fake", 0.7)
    fake.reference = {}  # no drift reference: this test is about which rows are scored
    registry.register(engine, TASK, fake)
    registry.promote(engine, TASK.name, 1)
    return engine


def _scored(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(predictions)).scalar()


def _poor(start: int, n: int) -> pd.DataFrame:
    frame = fake_sample(start + n, seed=3).iloc[start:].reset_index(drop=True)
    frame["months"] = frame["months"].astype(object)
    frame.loc[: int(n * 0.6), "months"] = "twelve"  # 60% of rows fail the int check
    return frame


def test_a_poor_batch_waits_until_released_and_a_clean_one_does_not(store: sa.Engine) -> None:
    clean = ingest(store, TASK, lambda: fake_sample(20, seed=3), source="clean")
    assert clean.held is None
    poor = ingest(store, TASK, lambda: _poor(20, 20), source="poor")
    assert poor.held is not None and "quarantined share 65.0% exceeds the limit 50%" in poor.held
    assert poor.accepted == 7
    score(store, TASK)
    assert _scored(store) == 20  # the clean batch only
    rows = held(store, TASK.name)
    assert list(rows["run_id"]) == [poor.run_id] and rows["released_at"].isna().all()
    release(store, TASK, poor.run_id, by="analyst")
    score(store, TASK)
    assert _scored(store) == 27
    assert held(store, TASK.name)["released_by"].tolist() == ["analyst"]
    with pytest.raises(QualityError, match="no held batch"):
        release(store, TASK, poor.run_id, by="analyst")


def test_missing_share_counts_input_cells_not_labels() -> None:
    frame = pd.DataFrame({"application_id": ["a", "b"], "amount": [None, None],
                          "default": [None, None]})
    quarantined, missing = shares(TASK, 4, 2, frame)
    assert quarantined == 0.5
    assert missing == pytest.approx(2 / 4)  # two of four input cells; the labels ignored


def test_release_of_an_unknown_batch_is_a_clear_cli_error(store: sa.Engine) -> None:
    from pipelines.cli import app

    result = CliRunner().invoke(app, ["release", "finance.credit_scoring", "999"])
    assert result.exit_code == 1
    assert "no held batch of finance.credit_scoring from ingest run 999" in result.output
