"""Score for SLICES Kinds (a graph forecaster needs every node at once): each batch is a group
of whole time slices, every slice is forecast from the panel up to it, and a re-run scores only
slices that arrived since."""

from __future__ import annotations

import json
from dataclasses import replace

import pandas as pd
import pytest
import sqlalchemy as sa

from core import registry
from core.forecast.health import MISSING
from core.kinds.base import Batching
from core.store.schema import pipeline_runs, predictions
from core.task import get_task
from pipelines.ingest import ingest
from pipelines.score import score
from pipelines.train import train

STOCKS = get_task("finance.stock_forecasting")
# The stock panel as a graph Task: five tickers, fully connected.
GRAPH = replace(STOCKS, name="test.graph_panel",
                kind=replace(STOCKS.kind, scaling="global", horizon=2,  # volatility: panels
                             graph=[[int(i != j) for j in range(5)] for i in range(5)]))


def _ledger(engine: sa.Engine) -> pd.DataFrame:
    with engine.connect() as conn:
        rows = conn.execute(sa.select(
            predictions.c.entity_key, predictions.c.as_of, predictions.c.horizon,
            predictions.c.batch, predictions.c.score).where(
                predictions.c.task == GRAPH.name)).all()
    frame = pd.DataFrame(rows, columns=["entity_key", "as_of", "horizon", "batch", "score"])
    return frame.assign(as_of=pd.to_datetime(frame["as_of"]).dt.tz_localize(None))


def test_every_slice_is_forecast_from_its_own_past_and_reruns_add_only_new_slices(engine):
    assert GRAPH.kind.batching is Batching.SLICES
    frame = STOCKS.sample(500, 0)  # 5 tickers x 100 business days; the test uses 40
    dates = sorted(frame["date"].unique())[:40]
    frame = frame[frame["date"].isin(dates)]
    first_part = frame[frame["date"] <= dates[29]]
    ingest(engine, GRAPH, lambda: first_part, source="first 30 days")
    train(engine, GRAPH, profile="smoke", models=("last_value",))

    result = score(engine, GRAPH, chunk_size=10)  # 10 slices per batch
    ledger = _ledger(engine)
    assert result.batches == [0, 1, 2]
    # Daily data: the history is one step, so even the first slice is forecast.
    assert result.unscored == []
    assert sorted(ledger["as_of"].unique()) == sorted(pd.to_datetime(dates[:30]))
    per_slice = ledger.groupby("as_of")["entity_key"].nunique()
    assert (per_slice == 5).all()  # every node at every slice
    assert result.rows == 30 * 5 * GRAPH.kind.horizon == len(ledger)

    # A slice's forecast is what the champion says from the panel up to that slice.
    predictor = registry.load_predictor(engine, GRAPH)
    t = pd.Timestamp(dates[12])
    expected = predictor.predict(GRAPH.feature_frame(first_part[first_part["date"] <= t]))
    got = ledger[ledger["as_of"] == t].sort_values(["entity_key", "horizon"])
    expected = expected.sort_values(["entity_key", "horizon"])
    assert len(got) == len(expected) == 5 * GRAPH.kind.horizon
    assert got["score"].to_numpy() == pytest.approx(expected["score"].to_numpy(), rel=1e-9)

    again = score(engine, GRAPH, chunk_size=10)  # nothing new: nothing scored
    assert again.rows == 0 and len(_ledger(engine)) == len(ledger)

    ingest(engine, GRAPH, lambda: frame, source="all 40 days")  # 10 new slices arrive
    later = score(engine, GRAPH, chunk_size=10)
    assert later.batches == [3] and later.rows == 10 * 5 * GRAPH.kind.horizon
    assert len(_ledger(engine)) == 40 * 5 * GRAPH.kind.horizon

    forced = score(engine, GRAPH, chunk_size=10, force=True, batches=[1])  # replaced, not added
    assert forced.rows == 10 * 5 * GRAPH.kind.horizon
    assert len(_ledger(engine)) == 40 * 5 * GRAPH.kind.horizon
    with engine.connect() as conn:
        runs = conn.execute(sa.select(pipeline_runs.c.rows_out).where(
            pipeline_runs.c.task == GRAPH.name, pipeline_runs.c.pipeline == "score")
            .order_by(pipeline_runs.c.id)).scalars().all()
    assert runs == [result.rows, 0, later.rows, forced.rows]


def test_a_node_missing_at_a_slice_is_forecast_from_imputed_input_and_flagged(engine):
    # A graph model needs every node at once: a sensor without a reading at the slice is
    # imputed with its usual value, forecast, and carries the MISSING flag in its payload
    # (the operator sees it), never a second row or a forecast from a stale slice.
    frame = STOCKS.sample(500, 1)  # 5 tickers x 100 days; the test uses 30
    frame = frame[frame["date"].isin(sorted(frame["date"].unique())[:30])]
    last = frame["date"].max()
    absent = frame["ticker"].min()
    gap = frame[~((frame["ticker"] == absent) & (frame["date"] == last))]
    ingest(engine, GRAPH, lambda: gap, source="one node missing on the last day")
    train(engine, GRAPH, profile="smoke", models=("last_value",))
    result = score(engine, GRAPH, chunk_size=50)
    assert result.unscored == []
    with engine.connect() as conn:
        rows = conn.execute(sa.select(predictions.c.entity_key, predictions.c.as_of,
                                      predictions.c.payload).where(
            predictions.c.task == GRAPH.name)).all()
    at_last = [(key, json.loads(payload)["flag"]) for key, as_of, payload in rows
               if pd.Timestamp(as_of).tz_localize(None) == last]
    assert {key for key, _ in at_last} == set(frame["ticker"].unique())
    assert {flag & MISSING for key, flag in at_last if key == absent} == {MISSING}
    assert {flag & MISSING for key, flag in at_last if key != absent} == {0}
    stale = _ledger(engine).groupby(["entity_key", "as_of", "horizon"]).size()
    assert (stale == 1).all()
