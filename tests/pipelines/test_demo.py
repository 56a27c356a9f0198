"""The demo's samples: what a CSV cannot hold (a graph's adjacency) travels beside it as
FILE.attrs.json, is stored at ingest, and the shipped traffic sample has it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from pipelines.demo import REPO_ROOT, write_sample
from pipelines.ingest import IngestError, attrs_path, ingest_file
from pipelines.train import labelled_rows
from verticals.finance.credit_scoring import TASK as CREDIT
from verticals.traffic.flow_prediction import TASK as TRAFFIC


def test_a_sample_with_frame_attrs_is_ingested_with_them(engine, tmp_path: Path) -> None:
    path, rows = write_sample(TRAFFIC, out=tmp_path / "traffic.csv", rows=480, seed=1)
    side = attrs_path(path)
    assert side == tmp_path / "traffic.attrs.json" and rows == 480
    expected = TRAFFIC.sample(480, 1).attrs
    assert json.loads(side.read_text()) == {"adjacency": expected["adjacency"],
                                            "sensors": expected["sensors"]}
    result = ingest_file(engine, TRAFFIC, path)
    assert result.accepted == 480 and result.attrs == ["adjacency", "sensors"]
    stored = labelled_rows(engine, TRAFFIC).attrs
    assert np.asarray(stored["adjacency"]).tolist() == expected["adjacency"]


def test_a_task_without_frame_attrs_writes_no_side_file(tmp_path: Path) -> None:
    path, _ = write_sample(CREDIT, out=tmp_path / "credit.csv", rows=20)
    assert not attrs_path(path).exists()


def test_a_broken_attrs_file_is_named_and_nothing_is_written(engine, tmp_path: Path) -> None:
    path, _ = write_sample(TRAFFIC, out=tmp_path / "traffic.csv", rows=480)
    attrs_path(path).write_text("{not json", encoding="utf-8")
    with pytest.raises(IngestError, match=r"traffic\.attrs\.json: not valid JSON"):
        ingest_file(engine, TRAFFIC, path)
    assert labelled_rows(engine, TRAFFIC).empty


def test_the_shipped_traffic_sample_carries_its_graph() -> None:
    side = attrs_path(REPO_ROOT / "data_samples" / "traffic_flow_prediction.csv")
    attrs = json.loads(side.read_text())
    assert attrs == {k: TRAFFIC.sample(TRAFFIC.sample_rows, 0).attrs[k]
                     for k in TRAFFIC.kind.frame_attrs}
