"""The champion's model card and the synthetic-data banner on every Task page."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from streamlit.testing.v1 import AppTest

from core.store.engine import make_engine, migrate
from core.store.schema import pipeline_runs
from dashboards.components.model_card import is_sample_source, training_of
from dashboards.testing import open_page
from tests.dashboards.handmade import ROWS, store_with_ingest
from tests.fakes import make_task

TIMEOUT = 30


@pytest.fixture(scope="module")
def demo_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """As `verticals demo` records it: the sample file, marked synthetic."""
    return store_with_ingest(tmp_path_factory.mktemp("card") / "demo.db",
                  {"source": "/srv/app/data_samples/test_fake.csv", "synthetic": True})


@pytest.fixture(scope="module")
def real_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Trained on a file that is not the Task's sample."""
    return store_with_ingest(tmp_path_factory.mktemp("card") / "real.db",
                  {"source": "/data/exports/loans-2025.csv"})


def page(url: str) -> AppTest:
    task = make_task()
    return open_page(task.name, url, registry={task.name: task}, timeout=TIMEOUT)


def test_a_sample_source_is_the_recorded_flag_or_the_demos_sample_file() -> None:
    task = make_task()
    assert is_sample_source(task, "anything.csv", {"synthetic": True})
    # A store written before the flag: data_samples/<task>.csv is what the demo ingests.
    assert is_sample_source(task, "/repo/data_samples/test_fake.csv", {})
    assert not is_sample_source(task, "/repo/data_samples/other.csv", {})
    assert not is_sample_source(task, "/home/me/test_fake.csv", {})
    assert not is_sample_source(task, "german_credit:../shared/datasets/german_credit",
                                {"dataset": "german_credit"})


def test_the_banner_says_a_demo_champion_learned_from_the_synthetic_sample(
        demo_url: str) -> None:
    at = page(demo_url)
    assert not at.exception, at.exception
    banners = [w.value for w in at.warning if "Synthetic data" in w.value]
    assert len(banners) == 1
    assert "Champion v2 was trained on the Task's seeded synthetic sample" in banners[0]
    assert "verticals ingest test.fake FILE" in banners[0]  # how to train on real data
    card = next(m.value for m in at.markdown if m.value.startswith("**Model**"))
    assert "— **synthetic sample**" in card


def test_no_banner_for_a_champion_trained_on_another_file(real_url: str) -> None:
    at = page(real_url)
    assert not at.exception, at.exception
    assert not any("Synthetic" in w.value for w in at.warning)
    card = next(m.value for m in at.markdown if m.value.startswith("**Model**"))
    assert "synthetic" not in card
    assert f"`/data/exports/loans-2025.csv` ({ROWS:,} rows)" in card


def test_the_card_says_model_data_split_and_fit_time(real_url: str) -> None:
    at = page(real_url)
    card = next(m.value for m in at.markdown if m.value.startswith("**Model**"))
    lines = card.split("  \n")
    assert lines[0] == "**Model** boosting, version 2, smoke profile"
    assert lines[1] == "**Trained** 2025-03-01 09:12 UTC (train run 2)"
    # The hand-made train run read ROWS rows and the version was fit on 100; no test rows
    # recorded, so none are claimed.
    assert f"**Split** {ROWS:,} labelled rows read: 100 fit" in lines
    assert "**Fit time** 3.00 s for the whole train run (2 versions); per-version fit time is " \
           "not recorded" in lines
    metrics = next(df.value for df in at.dataframe if list(df.value.columns) == [
        "metric", "value", "interval"])
    assert metrics.set_index("metric")["value"].to_dict() == {
        "AUC": "0.812", "Brier": "0.200", "KS": "0.406"}
    assert set(metrics["interval"]) == {"not recorded"}  # never invented
    assert "**Primary metric** AUC 0.812 (no interval: this version was trained before " \
           "intervals were recorded)" in lines
    assert any("trained before intervals were recorded, so it records point values only and "
               "no intervals are shown" in c.value for c in at.caption)


def test_training_of_lists_the_ingests_before_the_train_run(demo_url: str) -> None:
    from core.store.queries import champion

    engine = make_engine(demo_url)
    task = make_task()
    training = training_of(engine, task, champion(engine, task.name))
    with engine.connect() as conn:
        ingest = conn.execute(sa.select(pipeline_runs.c.id)
                              .where(pipeline_runs.c.pipeline == "ingest")).scalar_one()
    assert [(s.run_id, s.rows, s.synthetic) for s in training.sources] == [(ingest, ROWS, True)]
    assert training.synthetic == "all" and training.rows_read == ROWS
    engine.dispose()


def test_the_demo_marks_its_ingest_runs_synthetic(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from pipelines import demo
    from pipelines.demo import run_demo, write_sample

    task = make_task()
    # Only the ingest is under test: training and scoring the fake Task are other tests'.
    monkeypatch.setattr(demo, "train", lambda *args, **kwargs: None)
    monkeypatch.setattr(demo, "score", lambda *args, **kwargs: None)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("VERTICALS_HOME", str(tmp_path))
    write_sample(task, out=task.sample_path(tmp_path / "data_samples"), rows=120)
    engine = make_engine(f"sqlite:///{tmp_path / 'demo.db'}")
    migrate(engine)
    run_demo(engine, [task], profile="smoke")
    with engine.connect() as conn:
        params = conn.execute(sa.select(pipeline_runs.c.params)
                              .where(pipeline_runs.c.pipeline == "ingest")).scalar_one()
    engine.dispose()
    assert json.loads(params)["synthetic"] is True


@pytest.fixture(scope="module")
def interval_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A champion trained with intervals: AUC over 300 test rows, KS too, Brier without."""
    from core.intervals import PARAMS_KEY, Interval
    from core.store.schema import model_versions

    url = store_with_ingest(tmp_path_factory.mktemp("card") / "intervals.db",
                 {"source": "/data/exports/loans-2025.csv"})
    recorded = {"auc": Interval(0.7764, 0.8449, 0.95, 200, 300, "test rows").to_dict(),
                "ks": Interval(0.3512, 0.4731, 0.95, 200, 300, "test rows").to_dict()}
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(model_versions.update().where(model_versions.c.version == 2).values(
            params=json.dumps({"test_rows": 300, PARAMS_KEY: recorded})))
    engine.dispose()
    return url


def test_the_card_shows_the_primary_metric_with_its_interval(interval_url: str) -> None:
    at = page(interval_url)
    assert not at.exception, at.exception
    card = next(m.value for m in at.markdown if m.value.startswith("**Model**"))
    assert ("**Primary metric** AUC 0.812 (95% CI 0.776–0.845; 200 bootstrap resamples of the "
            "300 test rows)") in card.split("  \n")
    metrics = next(df.value for df in at.dataframe if list(df.value.columns) == [
        "metric", "value", "interval"])
    assert metrics.set_index("metric")["interval"].to_dict() == {
        "AUC": "95% CI 0.776–0.845", "Brier": "not recorded", "KS": "95% CI 0.351–0.473"}
    caption = next(c.value for c in at.caption if c.value.startswith("Measured at train time"))
    assert caption == ("Measured at train time on 300 held-out test rows; intervals are "
                       "percentile bootstraps (200 bootstrap resamples of the 300 test rows): "
                       "the spread of each metric over other draws of the same held-out units.")



def test_a_pipeline_trained_champion_shows_its_bootstrap_interval(on_credit_store) -> None:
    """ingest -> train -> registry -> card: the interval the Kind recorded reaches the page."""
    from core.registry import champion

    engine = make_engine(on_credit_store.url)
    best = champion(engine, "finance.credit_scoring")
    engine.dispose()
    interval = best.intervals["auc"]
    test_rows = best.params["test_rows"]
    assert interval.units == test_rows and interval.over == "test rows"
    assert interval.contains(best.primary_value)
    at = open_page("finance.credit_scoring", on_credit_store.url, timeout=TIMEOUT)
    assert not at.exception, at.exception
    card = next(m.value for m in at.markdown if m.value.startswith("**Model**"))
    assert (f"**Primary metric** {on_credit_store.champion_metric} (95% CI {interval.low:.3f}–"
            f"{interval.high:.3f}; 200 bootstrap resamples of the {test_rows} test rows)"
            ) in card.split("  \n")
