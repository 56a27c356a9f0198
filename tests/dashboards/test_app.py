"""The router: st.navigation built from the Task registry, every page reachable and rendered."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.task import tasks
from tests.dashboards.demo import DemoStore
from tests.dashboards.handmade import Store
from tests.dashboards.test_task_page import TIMEOUT, texts
from tests.fakes import make_task

APP = Path(__file__).resolve().parents[2] / "dashboards" / "app.py"


def registered(at: AppTest) -> dict[str, str]:
    """url_path -> page hash of the pages st.navigation registered in the last run.

    AppTest.switch_page only opens file-based pages (Streamlit 1.67); our pages are callables,
    so we read the registration AppTest keeps and select the page by its hash.
    """
    return {str(info.get("url_pathname")): page_hash
            for page_hash, info in at._registered_pages.items()}


def open_page(at: AppTest, url_path: str) -> AppTest:
    at._page_hash = registered(at)[url_path]
    return at.run()


@pytest.fixture
def app(handmade: tuple[str, Store], monkeypatch: pytest.MonkeyPatch) -> AppTest:
    url, _ = handmade
    task = make_task()
    # The router reads core.task.tasks() on every run: serve the fake Task's registry.
    monkeypatch.setattr("core.task.tasks", lambda: {task.name: task})
    monkeypatch.setenv("VERTICALS_DB_URL", url)
    return AppTest.from_file(str(APP), default_timeout=TIMEOUT)


def test_router_lists_overview_then_tasks(app: AppTest) -> None:
    at = app.run()
    assert not at.exception, at.exception
    assert set(registered(at)) == {"", "test_fake"}  # the default page is served at the root
    assert "AUC 0.812" in texts(at)  # the overview is the landing page


def test_every_task_page_renders_through_the_router(app: AppTest) -> None:
    at = open_page(app.run(), "test_fake")
    assert not at.exception, at.exception
    assert at.title[0].value == "Fake"
    assert "Champion **boosting v2**: AUC 0.812" in texts(at)


def test_the_real_registry_on_a_pipeline_filled_store(on_credit_store: DemoStore) -> None:
    """The app as `verticals dashboard` serves it: every registered page renders."""
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT).run()
    assert not at.exception, at.exception
    assert on_credit_store.champion_metric in texts(at)  # overview
    pages = registered(at)
    assert set(pages) == {"", *(task.slug for task in tasks().values())}
    for slug in sorted(set(pages) - {""}):
        at = open_page(at, slug)
        assert not at.exception, (slug, at.exception)
    at = open_page(at, "finance_credit_scoring")
    text = texts(at)
    assert on_credit_store.champion_metric in text  # champion tiles + sentence
    leaderboard = next(df.value for df in at.dataframe if "champion" in df.value.columns)
    assert sorted(leaderboard["version"]) == list(range(1, len(leaderboard) + 1))
    assert leaderboard["champion"].sum() == 1
