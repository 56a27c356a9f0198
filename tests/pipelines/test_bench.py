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
from verticals.manufacturing.failure_prediction import TASK as FAILURES


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


@pytest.mark.parametrize("task", [CREDIT, FAILURES], ids=lambda task: task.name)
def test_scaling_fits_every_candidate_at_every_size(sqlite_engine, task) -> None:
    result = bench(sqlite_engine, task, benchmark="scaling", options={"sizes": "400,200"},
                   profile="smoke", seed=0)
    names = list(task.kind.bench_models.get("smoke", task.candidates()))
    assert result["benchmark"] == "scaling" and result["metric"] == "auc"
    assert result["sizes"] == [200, 400] and result["test_rows"] == 400
    assert list(result["models"]) == names and "blend" not in result["models"]
    for runs in result["models"].values():
        assert list(runs) == ["200", "400"]
        assert all(run["fit_s"] > 0 and 0.0 <= run["auc"] <= 1.0 for run in runs.values())
    assert set(result["growth"]) == set(names)
    assert all(isinstance(value, float) for value in result["growth"].values())
    with sqlite_engine.connect() as conn:
        row = conn.execute(sa.select(pipeline_runs).where(
            pipeline_runs.c.pipeline == "bench")).one()
    assert row.status == "succeeded" and row.rows_out == len(names)


def test_scaling_refuses_sizes_above_its_guard_before_fitting(sqlite_engine) -> None:
    with pytest.raises(BenchError, match="'scaling' of finance.credit_scoring: size 5,000 is "
                                         "above --max-rows 1,000"):
        bench(sqlite_engine, CREDIT, benchmark="scaling",
              options={"sizes": "500,5000", "max_rows": 1000}, profile="smoke")
