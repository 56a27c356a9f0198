"""The router: st.navigation built from the Task registry, every page reachable and rendered
(opened with dashboards.testing.open_page, the helper domain teams use too)."""

from __future__ import annotations

import pytest

from core.task import tasks
from dashboards.testing import OVERVIEW, open_page
from tests.dashboards.demo import DemoStore
from tests.dashboards.handmade import Store
from tests.dashboards.test_task_page import TIMEOUT, texts
from tests.fakes import make_task


def test_the_overview_lands_first_and_links_every_task(handmade: tuple[str, Store]) -> None:
    url, _ = handmade
    task = make_task()
    at = open_page(OVERVIEW, url, registry={task.name: task}, timeout=TIMEOUT)
    assert not at.exception, at.exception
    assert "AUC 0.812" in texts(at)  # the overview is the landing page
    assert at.title[0].value == "Verticals"


def test_a_task_page_renders_through_the_router(handmade: tuple[str, Store]) -> None:
    url, _ = handmade
    task = make_task()
    at = open_page(task.name, url, registry={task.name: task}, timeout=TIMEOUT)
    assert not at.exception, at.exception
    assert at.title[0].value == "Fake"
    assert "Champion **boosting v2**: AUC 0.812" in texts(at)
    # A widget change reruns the same page (the switch happens on the first run only).
    at.multiselect(key="test_fake-filter-by").set_value(["region"]).run()
    assert not at.exception, at.exception
    assert at.title[0].value == "Fake"


def test_open_page_names_the_pages_it_knows() -> None:
    task = make_task()
    with pytest.raises(LookupError, match="no dashboard page 'nope'.*test.fake"):
        open_page("nope", registry={task.name: task})


def test_the_real_registry_on_a_pipeline_filled_store(on_credit_store: DemoStore) -> None:
    """The app as `verticals dashboard` serves it: every registered page renders."""
    at = open_page(timeout=TIMEOUT)  # the configured store, the real registry
    assert not at.exception, at.exception
    assert on_credit_store.champion_metric in texts(at)  # overview
    for name in sorted(tasks()):
        at = open_page(name, timeout=TIMEOUT)
        assert not at.exception, (name, at.exception)
    at = open_page("finance.credit_scoring", timeout=TIMEOUT)
    text = texts(at)
    assert on_credit_store.champion_metric in text  # champion tiles + sentence
    leaderboard = next(df.value for df in at.dataframe if "champion" in df.value.columns)
    assert sorted(leaderboard["version"]) == list(range(1, len(leaderboard) + 1))
    assert leaderboard["champion"].sum() == 1
