"""The Data tab on an image Task: thumbnails instead of base64 text, no chart of identifiers."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from core.store.engine import make_engine, migrate
from dashboards.components.explorer import THUMBNAILS, image_columns, is_identifier
from dashboards.testing import open_page
from pipelines.ingest import ingest
from tests.dashboards.test_task_page import TIMEOUT
from verticals.healthcare.imaging_diagnosis import TASK

STUDIES = 30


@pytest.fixture(scope="module")
def image_store(tmp_path_factory: pytest.TempPathFactory) -> str:
    """30 synthetic studies ingested, nothing trained (the Data tab needs no model)."""
    url = f"sqlite:///{tmp_path_factory.mktemp('image-explorer') / 'verticals.db'}"
    engine = make_engine(url)
    migrate(engine)
    ingest(engine, TASK, lambda: TASK.sample(STUDIES, 1), source="test")
    engine.dispose()
    return url


def test_image_cells_are_thumbnails_and_ids_are_not_charted(
        image_store: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VERTICALS_HOME", str(tmp_path))
    at = open_page(TASK.name, image_store, registry={TASK.name: TASK}, timeout=TIMEOUT)
    assert not at.exception, at.exception
    picker = at.selectbox(key=f"{TASK.slug}-column")
    assert "image" not in picker.options and "id" not in picker.options
    # One page of thumbnails (24 of the 30 studies), not base64 text in the table.
    assert len(at.get("image")) == THUMBNAILS
    sample = next(df.value for df in at.dataframe if "modality" in df.value.columns)
    assert "image" not in sample.columns and len(sample) == STUDIES
    assert any("image: image cells, shown as thumbnails" in c.value for c in at.caption)
    # A column with groups is charted; `study`, one value per row, is said to be an
    # identifier instead of drawn as 30 bars of height 1.
    picker.set_value("label").run()
    charts = len(at.get("plotly_chart"))
    assert not any("has its own" in i.value for i in at.info)
    at.selectbox(key=f"{TASK.slug}-column").set_value("study").run()
    assert not at.exception, at.exception
    assert any("Every matching row has its own study" in i.value for i in at.info)
    assert len(at.get("plotly_chart")) == charts - 1
    # The second page holds the remaining thumbnails.
    at.number_input(key=f"{TASK.slug}-thumbs-page").set_value(2).run()
    assert len(at.get("image")) == STUDIES - THUMBNAILS


def test_identifier_and_image_detection() -> None:
    assert is_identifier(pd.DataFrame({"value": ["a", "b"], "rows": [1, 1]}))
    assert not is_identifier(pd.DataFrame({"value": ["a", "b"], "rows": [2, 1]}))
    assert not is_identifier(pd.DataFrame({"value": ["a"], "rows": [1]}))  # one row: a value
    from core.fields import Field

    sample = TASK.sample(3, 2)
    fields = [Field("image", "text"), Field("study", "text"), Field("split", "category")]
    assert image_columns(fields, sample) == ["image"]
