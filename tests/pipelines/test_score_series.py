"""Score for forecasting Kinds: whole series per batch, a re-run replaces forecasts at the
origin."""

from __future__ import annotations

import json

import pandas as pd
import sqlalchemy as sa

from core.store.schema import predictions
from core.task import get_task
from pipelines.ingest import ingest
from pipelines.score import score
from pipelines.train import train

TASK = get_task("finance.stock_forecasting")


def _forecasts(engine: sa.Engine) -> pd.DataFrame:
    with engine.connect() as conn:
        rows = conn.execute(sa.select(predictions.c.entity_key, predictions.c.as_of,
                                      predictions.c.horizon, predictions.c.batch,
                                      predictions.c.payload)).all()
    return pd.DataFrame(rows, columns=["entity_key", "as_of", "horizon", "batch", "payload"])


def test_series_are_scored_whole_at_their_latest_date_and_rerun_replaces(engine) -> None:
    frame = TASK.sample(160, 0)
    tickers = sorted(frame[TASK.kind.series].unique())
    ingest(engine, TASK, lambda: frame, source="frame")
    train(engine, TASK, profile="smoke", models=("random_walk", "drift"))

    first = score(engine, TASK, chunk_size=2)  # two series per batch
    forecasts = _forecasts(engine)
    horizons = TASK.kind.horizon
    assert first.rows == len(tickers) * horizons == len(forecasts)
    assert first.batches == list(range((len(tickers) + 1) // 2))
    latest = frame.groupby(TASK.kind.series)[TASK.kind.time].max()
    for ticker, rows in forecasts.groupby("entity_key"):
        assert sorted(rows["horizon"]) == list(range(1, horizons + 1))
        assert set(pd.to_datetime(rows["as_of"]).dt.tz_localize(None)) == {latest[ticker]}
        for payload in rows["payload"]:  # the fan: monotone quantiles around the point
            quantiles = json.loads(payload)["quantiles"]
            values = [quantiles[q] for q in sorted(quantiles, key=float)]
            assert values == sorted(values) and len(values) >= 5

    score(engine, TASK, chunk_size=2)  # same origins again: replaced, not duplicated
    assert len(_forecasts(engine)) == len(forecasts)


def test_dask_scores_series_groups_like_the_local_path(engine) -> None:
    from dask.distributed import LocalCluster

    frame = TASK.sample(500, 1)  # 5 tickers
    ingest(engine, TASK, lambda: frame, source="frame")
    train(engine, TASK, profile="smoke", models=("random_walk", "drift"))
    local = score(engine, TASK, chunk_size=2)
    expected = _forecasts(engine).sort_values(["entity_key", "horizon"]).reset_index(drop=True)

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                      dashboard_address=None) as cluster:
        result = score(engine, TASK, chunk_size=2, scheduler=cluster.scheduler_address)

    assert (result.rows, sorted(result.batches)) == (local.rows, [0, 1, 2])
    got = _forecasts(engine).sort_values(["entity_key", "horizon"]).reset_index(drop=True)
    assert len(got) == 5 * TASK.kind.horizon  # replaced at the same origins, not duplicated
    pd.testing.assert_frame_equal(got[["entity_key", "as_of", "horizon", "batch", "payload"]],
                                  expected[["entity_key", "as_of", "horizon", "batch", "payload"]])


def test_a_series_too_short_to_forecast_is_reported_not_silently_dropped(engine) -> None:
    frame = TASK.sample(120, 2)
    newcomer = frame[frame[TASK.kind.series] == "TCK1"].tail(1).assign(ticker="NEW")
    ingest(engine, TASK, lambda: pd.concat([frame, newcomer], ignore_index=True),
           source="frame")
    train(engine, TASK, profile="smoke", models=("random_walk",))

    result = score(engine, TASK, chunk_size=10)

    assert result.unscored == ["NEW"]  # one bar: no volatility yet, so no interval
    assert set(_forecasts(engine)["entity_key"]) == set(frame[TASK.kind.series])
    with engine.connect() as conn:
        rejected = conn.execute(sa.text(
            "SELECT rows_rejected FROM pipeline_runs WHERE id = :id"), {"id": result.run_id}
        ).scalar_one()
    assert rejected == 1
