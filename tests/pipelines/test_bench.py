"""Bench: the dataset protocol and the Kind's named benchmarks, chosen by what the Kind declares."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa

from core.kinds.base import Benchmark
from core.store.engine import make_engine, migrate
from core.store.schema import pipeline_runs
from pipelines.bench import BenchError, bench
from tests.fakes import FakeKind, make_task
from verticals.finance.credit_scoring import TASK as CREDIT
from verticals.finance.stock_forecasting import TASK as STOCKS


@pytest.fixture
def sqlite_engine(sqlite_url: str):
    engine = make_engine(sqlite_url)
    migrate(engine)
    yield engine
    engine.dispose()


@dataclass(frozen=True)
class EchoKind(FakeKind):
    """A Kind with one named benchmark that reports what it was given."""

    def benchmarks(self) -> dict[str, Benchmark]:
        def run(task: Any, frame: pd.DataFrame | None, *, profile: str, seed: int,
                **options: Any) -> dict[str, Any]:
            return {"models": {"echo": {"seed": seed}}, "frame": frame is None,
                    "options": options, "profile": profile}

        return {"echo": Benchmark("echo", "reports its inputs", dataset=False,
                                  options=("rows",), run=run)}


def test_a_named_benchmark_gets_its_own_options_and_leaves_a_run_row(sqlite_engine) -> None:
    task = make_task(kind=EchoKind())
    result = bench(sqlite_engine, task, benchmark="echo", options={"rows": 5}, profile="smoke",
                   seed=3)
    assert result == {"models": {"echo": {"seed": 3}}, "frame": True, "options": {"rows": 5},
                      "profile": "smoke"}
    with sqlite_engine.connect() as conn:
        row = conn.execute(sa.select(pipeline_runs).where(
            pipeline_runs.c.pipeline == "bench")).one()
    assert row.status == "succeeded" and '"benchmark": "echo"' in row.params


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"dataset": "throughput"}, "is a named benchmark: --bench throughput"),
    ({"benchmark": "nope"}, "no named benchmark 'nope'; datasets"),
    ({}, "say what to run"),
    ({"benchmark": "throughput", "dataset": "german_credit"}, "makes its own data"),
    ({"benchmark": "throughput", "seeds": 2}, "takes no --seeds"),
    ({"dataset": "german_credit", "seeds": 2}, "takes no --seeds"),
])
def test_wrong_requests_are_refused_with_the_menu(sqlite_engine, kwargs, message) -> None:
    with pytest.raises(BenchError, match=message):
        bench(sqlite_engine, CREDIT, **kwargs)


def test_predict_speed_needs_a_dataset(sqlite_engine) -> None:
    with pytest.raises(BenchError, match="runs on a dataset: add --dataset NAME .*yahoo_csv"):
        bench(sqlite_engine, STOCKS, benchmark="predict_speed")


@pytest.mark.parametrize("dialect", ["sqlite", pytest.param("postgresql",
                                                          marks=pytest.mark.postgres)])
def test_throughput_is_a_named_benchmark_of_tabular_kinds(sqlite_engine, dialect, request,
                                                          monkeypatch) -> None:
    if dialect == "postgresql":  # the bench makes its own scratch schema on this server
        monkeypatch.setenv("VERTICALS_DB_URL", request.getfixturevalue("pg_server_url"))
    result = bench(sqlite_engine, CREDIT, benchmark="throughput",
                   options={"rows": 2000, "chunk_size": 500}, seed=0, log=lambda _: None)
    assert result["benchmark"] == "throughput" and result["rows"] == 2000
    assert result["end_to_end_s"] > 0 and 0 < result["ratio"]
    assert result["dialect"] == dialect and result["chunk_size"] == 500
