"""The page bench's kept store (VERTICALS_BENCH_STORE): filled once, found again, never mixed
with the caller's home."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import sqlalchemy as sa

from pipelines.page_bench import _scored_rows, kept_store
from pipelines.score import score
from tests.fakes import fake_sample
from tests.pipelines.test_score import TASK, _ingest


def test_a_kept_store_is_found_again_with_its_scored_rows(
        tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pipelines.train import train

    folder = tmp_path / "kept"
    with kept_store(folder, TASK, 120) as engine:
        assert os.environ["VERTICALS_HOME"] == str(folder)  # the artifacts go beside the file
        assert engine.url.database == str(folder / "bench_test_score_120.db")
        assert _scored_rows(engine, TASK) == 0
        _ingest(engine, fake_sample(120, seed=3))
        train(engine, TASK, profile="smoke")
        score(engine, TASK, chunk_size=50)
    assert os.environ["VERTICALS_HOME"] == str(home)
    with kept_store(folder, TASK, 120) as engine:
        assert _scored_rows(engine, TASK) == 120
        assert sa.inspect(engine).has_table("score_bins")
    with kept_store(folder, TASK, 500) as engine:  # another size: another store
        assert _scored_rows(engine, TASK) == 0
