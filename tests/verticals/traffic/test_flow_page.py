"""Traffic's operations view with AppTest on a store filled by the pipelines (adapter ingest,
smoke train with the adjacency, score) from a small generated road network."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from streamlit.testing.v1 import AppTest

from core.forecast.health import flag
from core.store.engine import make_engine, migrate
from core.store.schema import predictions
from verticals.traffic import network
from verticals.traffic.flow_page import (
    congestion_alerts,
    sensor_flags,
    spectral_layout,
)
from verticals.traffic.flow_prediction import TASK
from verticals.traffic.speed_matrix import speed_matrix

TIMEOUT = 60
SENSORS, DAYS = 8, 4
SLICES = DAYS * 96  # 15-minute steps
MODELS = ("historical_average", "last_value", "window_mean")


@pytest.fixture(scope="module")
def traffic_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    from pipelines.ingest import ingest
    from pipelines.score import score
    from pipelines.train import train

    home = tmp_path_factory.mktemp("traffic-home")
    folder = home / "network"
    network.write(str(folder), n_sensors=SENSORS, days=DAYS, seed=3)
    url = f"sqlite:///{home / 'verticals.db'}"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("VERTICALS_HOME", str(home))
        patch.delenv("VERTICALS_DB_URL", raising=False)
        engine = make_engine(url)
        migrate(engine)
        frame = speed_matrix(folder)
        ingest(engine, TASK, lambda: frame.copy(), source=str(folder))
        # From the store, as the scheduled loop trains: the adjacency was stored at ingest.
        train(engine, TASK, profile="smoke", models=MODELS)
        # The page reads the newest forecasts: score the last quarter of the slices only
        # (every slice takes ~25 s on 2 busy cores).
        score(engine, TASK, chunk_size=SLICES // 4, batches=[3])
        engine.dispose()
    return url, folder


def section(url: str) -> None:

    from dashboards.context import make_context
    from verticals.traffic.flow_page import page
    from verticals.traffic.flow_prediction import TASK

    page(make_context(TASK, url))


@pytest.fixture
def at(traffic_store: tuple[str, Path], monkeypatch: pytest.MonkeyPatch) -> AppTest:
    url, _ = traffic_store
    monkeypatch.setenv("VERTICALS_HOME", str(Path(url.removeprefix("sqlite:///")).parent))
    app = AppTest.from_function(section, args=(url,), default_timeout=TIMEOUT).run()
    assert not app.exception, app.exception
    return app


def latest(url: str) -> pd.DataFrame:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        rows = pd.read_sql(sa.select(predictions), conn)
    engine.dispose()
    return rows[rows["as_of"] == rows["as_of"].max()]


def test_graph_is_drawn_from_the_stored_adjacency(at: AppTest,
                                                  traffic_store: tuple[str, Path]) -> None:
    _, folder = traffic_store
    adjacency = pd.read_csv(folder / "adj.csv", header=None).to_numpy()
    links = int((((adjacency + adjacency.T) > 0).sum()) // 2)
    chart = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert chart["layout"]["title"]["text"].startswith("Predicted speed at ")
    nodes = next(t for t in chart["data"] if t["name"] == "sensors")
    assert nodes["text"] == [f"S{i + 1:03d}" for i in range(SENSORS)]
    edges = next(t for t in chart["data"] if t["name"] == "links")
    assert len(edges["x"]) == 3 * links  # two ends and a break per link
    assert f"{SENSORS} sensors, {links} links" in " ".join(c.value for c in at.caption)
    assert at.selectbox(key="flow_horizon").options == ["+15 min", "+30 min", "+45 min",
                                                        "+60 min"]
    at.selectbox(key="flow_horizon").set_value(4).run()
    assert not at.exception, at.exception
    assert "(+4 step(s))" in json.loads(at.get("plotly_chart")[0].proto.spec)["layout"][
        "title"]["text"]


def test_alerts_follow_the_threshold(at: AppTest, traffic_store: tuple[str, Path]) -> None:
    url, _ = traffic_store
    rows = latest(url)
    usual = np.array([json.loads(p)["usual"] for p in rows["payload"]])
    gap = 100 * (usual - rows["score"].to_numpy()) / usual
    threshold = 5.0
    at.number_input(key="flow_threshold").set_value(threshold).run()
    assert not at.exception, at.exception
    expected = int((gap >= threshold).sum())
    tables = [df.value for df in at.dataframe if "below usual (%)" in df.value.columns]
    if expected:
        assert len(tables[0]) == expected
        assert tables[0]["below usual (%)"].is_monotonic_decreasing
        assert (tables[0]["below usual (%)"] >= threshold).all()
    else:
        assert not tables and any("No sensor is forecast" in s.value for s in at.success)


def test_sensor_forecast_flagged_sensors_and_rmse_per_horizon(
        at: AppTest, traffic_store: tuple[str, Path]) -> None:
    url, _ = traffic_store
    at.selectbox(key="flow_sensor").set_value("S002").run()
    assert not at.exception, at.exception
    fan = next(json.loads(c.proto.spec) for c in at.get("plotly_chart")
               if "S002" in json.dumps(json.loads(c.proto.spec)["layout"].get("title", {})))
    assert {"speed", "80% interval", "median"} <= {t["name"] for t in fan["data"]}
    board = next(df.value for df in at.dataframe if "model" in df.value.columns)
    assert len(board) == len(MODELS) and list(board.columns)[1:] == [
        "1 step", "2 steps", "3 steps", "4 steps"]
    # The flags on the last day of stored readings, computed here from the generated CSV.
    _, folder = traffic_store
    wide = pd.read_csv(folder / "speed.csv").drop(columns="date").tail(96)
    counts = flag(wide.to_numpy(dtype=float), stuck_steps=8).counts(list(wide.columns))
    flagged = next((df.value for df in at.dataframe if "stuck" in df.value.columns), None)
    assert counts, "seed 3 should break a sensor in the last day"
    assert flagged is not None
    shown = flagged.set_index("sensor")[["missing", "stuck", "zero"]].to_dict("index")
    assert shown == counts
    assert flagged["flagged steps"].is_monotonic_decreasing


def test_pure_parts() -> None:
    ring = np.roll(np.eye(6), 1, axis=1)
    xy = spectral_layout(ring)
    assert xy.shape == (6, 2)
    assert np.allclose(np.hypot(xy[:, 0], xy[:, 1]), np.hypot(xy[0, 0], xy[0, 1]), atol=1e-6)
    assert np.array_equal(spectral_layout(ring), xy)  # the same picture every run
    circle = spectral_layout(np.zeros((4, 4)))  # no links: a circle in sensor order
    assert np.allclose(circle[0], [1, 0]) and np.allclose(circle[1], [0, 1], atol=1e-9)
    forecasts = pd.DataFrame({"entity_key": ["A", "A", "B"], "horizon": [1, 2, 1],
                              "at": pd.to_datetime(["2024-03-04 08:15", "2024-03-04 08:30",
                                                    "2024-03-04 08:15"]),
                              "score": [30.0, 45.0, 20.0], "usual": [60.0, 50.0, 0.0]})
    alerts = congestion_alerts(forecasts, 20.0)
    assert alerts["sensor"].tolist() == ["A"]  # B has no usual speed: no alert
    assert alerts["below usual (%)"].tolist() == [50.0]
    times = pd.date_range("2024-03-04", periods=12, freq="15min")
    wide = pd.DataFrame({"A": np.r_[np.full(10, 40.0), 41.0, 42.0],
                         "B": np.r_[50.0, np.nan, 0.0, np.arange(9) + 50.0]}, index=times)
    table = sensor_flags(wide, pd.Timedelta("15min"))
    expected = flag(wide.to_numpy(), stuck_steps=8).flags
    assert table.set_index("sensor").loc["A", "stuck"] == int(((expected[:, 0] & 2) > 0).sum())
    assert table.set_index("sensor").loc["B", ["missing", "zero"]].tolist() == [1, 1]


def test_the_task_page_has_the_generic_forecast_tab_for_a_graph_task(
        traffic_store: tuple[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    from dashboards.testing import open_page

    url, _ = traffic_store
    monkeypatch.setenv("VERTICALS_HOME", str(Path(url.removeprefix("sqlite:///")).parent))
    at = open_page(TASK.name, url, registry={TASK.name: TASK}, timeout=TIMEOUT)
    assert not at.exception, at.exception
    assert at.tabs[0].label == ":material/ssid_chart: Forecast"
    assert "no label" not in [m.label for m in at.metric]
    key = f"{TASK.slug}-forecast"
    assert at.selectbox(key=f"{key}-series").options == [f"S{i + 1:03d}" for i in range(SENSORS)]
    board = next(df.value for df in at.dataframe if "rmse_pooled" in df.value.columns)
    assert board["rmse_pooled"].is_monotonic_increasing and len(board) == len(MODELS)
    assert "Backtest error per horizon" in [s.value for s in at.subheader]
    assert any("lower is better" in c.value for c in at.caption)
    assert any(h.value == ":material/traffic: Operations view" for h in at.header)
