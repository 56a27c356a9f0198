"""The dashboard in a real browser: `streamlit run dashboards/app.py` on a pipeline-filled store,
driven by Playwright in Debian's headless Chromium (never a downloaded browser)."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from core.store.engine import ensure_task_table, make_engine, migrate
from core.task import get_task

# Absent locally: skipped; under CI the browser suite must run (as tests/conftest.py does for
# PostgreSQL), so there a missing Playwright is an import error.
if not os.environ.get("CI"):
    pytest.importorskip("playwright.sync_api", reason="pip install -e '.[test]' for Playwright")
from playwright.sync_api import Browser, Page  # noqa: E402

from pipelines.page_bench import (  # noqa: E402
    OVERVIEW_PATH,
    Server,
    chromium,
    measure_pages,
    page_paths,
    problems_on,
    served,
    wait_done,
)

TASKS = ("finance.credit_scoring", "finance.stock_forecasting", "healthcare.imaging_diagnosis")
SAMPLE_ROWS = {"finance.credit_scoring": 600, "finance.stock_forecasting": 300,
               "healthcare.imaging_diagnosis": 200}
PAGE_TIMEOUT_S = 60.0
# What Streamlit logs when a page uses an API it will remove (streamlit.deprecation_util).
DEPRECATION = re.compile(r"deprecat|will be removed|Please replace", re.IGNORECASE)


def chromium_path() -> str:
    """Debian's Chromium; its absence skips locally and fails under CI."""
    try:
        return str(chromium())
    except FileNotFoundError as missing:
        message = f"{missing}; .ci/run installs it"
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the browser suite: {message}", pytrace=False)
        pytest.skip(message)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict) -> dict:
    """pytest-playwright's launch options, pointed at the system Chromium."""
    return {**browser_type_launch_args, "executable_path": chromium_path()}


def build_store(home: Path) -> str:
    """Ingest a small sample of each of TASKS, train (smoke) and score, as `verticals demo`
    does; returns the store URL."""
    from pipelines.demo import SYNTHETIC
    from pipelines.ingest import ingest_file
    from pipelines.score import score
    from pipelines.train import train

    url = f"sqlite:///{home / 'verticals.db'}"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("VERTICALS_HOME", str(home))  # artifacts resolve from it
        patch.delenv("VERTICALS_DB_URL", raising=False)
        engine = make_engine(url)
        migrate(engine)
        for name in TASKS:
            task = get_task(name)
            ensure_task_table(engine, task)
            sample = task.sample_path(home)
            task.sample(SAMPLE_ROWS[name], 0).to_csv(sample, index=False)
            ingest_file(engine, task, sample, params=SYNTHETIC)  # as the demo marks it
            train(engine, task, profile="smoke")
            score(engine, task)
        engine.dispose()
    return url


@dataclass(frozen=True)
class Store:
    url: str
    home: Path


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    chromium_path()  # no store built for nothing
    home = tmp_path_factory.mktemp("browser-store")
    return Store(build_store(home), home)


@pytest.fixture(scope="module")
def server(store: Store) -> Iterator[Server]:
    with served(store.url, store.home, store.home / "streamlit.log") as running:
        yield running


def open_page(page: Page, base: str, url_path: str) -> None:
    """Load a page and wait until its script has finished (Streamlit's run state)."""
    page.goto(f"{base}/{url_path}")
    wait_done(page, PAGE_TIMEOUT_S)


def test_every_page_loads_without_errors_or_deprecations(server: Server, page: Page) -> None:
    failures: list[str] = []
    trained = {get_task(name).slug for name in TASKS}
    for title, url_path in page_paths().items():
        offset = len(server.log_text())
        open_page(page, server.base, url_path)
        heading = page.locator("h1").first.inner_text()
        if heading.strip() != title:
            failures.append(f"{url_path}: heading {heading!r}, expected {title!r}")
        failures += [f"{url_path}: shows {text!r}" for text in problems_on(page)]
        # Every Task trained here learned from its seeded sample: its page must say so.
        if url_path in trained and not page.get_by_text("Synthetic data.").count():
            failures.append(f"{url_path}: no synthetic-data banner")
        logged = server.log_text()[offset:]
        failures += [f"{url_path}: server logged {line!r}" for line in logged.splitlines()
                     if DEPRECATION.search(line) or "Traceback" in line]
    assert failures == []


def pd_shown(page: Page) -> str:
    return tile_value(page, "PD")


def test_credit_what_if_changes_the_pd(server: Server, page: Page) -> None:
    open_page(page, server.base, get_task("finance.credit_scoring").slug)
    before = pd_shown(page)
    duration = page.get_by_label("duration_months", exact=True)
    stored = int(duration.input_value())
    duration.fill("120" if stored < 60 else "1")  # the longest loan (or the shortest) moves a PD
    duration.press("Enter")
    page.get_by_text("duration_months changed").wait_for(timeout=PAGE_TIMEOUT_S * 1000)
    wait_done(page, PAGE_TIMEOUT_S)
    assert problems_on(page) == []
    assert re.fullmatch(r"\d+\.\d\d%", pd_shown(page))
    assert pd_shown(page) != before


def tile_value(page: Page, label: str) -> str:
    tile = page.locator('[data-testid="stMetric"]').filter(
        has=page.locator('[data-testid="stMetricLabel"]', has_text=re.compile(f"^{label}$")))
    return tile.locator('[data-testid="stMetricValue"]').first.inner_text()


def test_a_promotion_shows_on_the_next_load_not_after_a_timer(store: Store, server: Server,
                                                             page: Page) -> None:
    from core import registry

    task = get_task("finance.credit_scoring")
    engine = make_engine(store.url)
    was = registry.champion(engine, task.name).version
    other = next(v.version for v in registry.versions(engine, task.name) if v.version != was)
    try:
        open_page(page, server.base, task.slug)  # the old champion's results are cached now
        assert tile_value(page, "Champion") == f"v{was}"
        registry.promote(engine, task.name, other)
        open_page(page, server.base, task.slug)
        assert tile_value(page, "Champion") == f"v{other}"
    finally:
        registry.promote(engine, task.name, was)
        engine.dispose()


def test_a_page_that_does_not_exist_is_a_problem(server: Server, page: Page) -> None:
    # The overview is the root: its url_path names no page, so Streamlit opens its "Page not
    # found" dialog there, which the page checks (and the page bench) must count.
    open_page(page, server.base, "overview")
    assert any("Page not found" in problem for problem in problems_on(page))
    open_page(page, server.base, OVERVIEW_PATH)
    assert problems_on(page) == []


def test_the_page_bench_times_paint_before_completion(server: Server, browser: Browser) -> None:
    credit = get_task("finance.credit_scoring").slug
    timings = measure_pages(browser, server.base, {"Verticals": OVERVIEW_PATH, "Credit": credit},
                            PAGE_TIMEOUT_S)
    assert set(timings) == {"overview", credit}
    for timing in timings.values():
        assert set(timing) == {"cold", "warm"}
        for visit in timing.values():
            assert 0 < visit["first_paint_s"] <= visit["complete_s"] < PAGE_TIMEOUT_S
            assert visit["errors"] == 0


def test_a_ticker_change_redraws_the_fan(server: Server, page: Page) -> None:
    task = get_task("finance.stock_forecasting")
    open_page(page, server.base, task.slug)
    page.get_by_role("tab", name=re.compile("Forecast")).click()
    # Streamlit marks a keyed element's container with st-key-<key> (forecast_section's keys).
    fan = page.locator(f".st-key-{task.slug}-forecast-fan .js-plotly-plot")
    series = page.locator(f".st-key-{task.slug}-forecast-series")
    fan.locator(".gtitle").first.wait_for(timeout=PAGE_TIMEOUT_S * 1000)
    shown = series.get_by_role("combobox").input_value()
    assert fan.locator(".gtitle").first.text_content().startswith(f"{shown}: ")
    box = series.get_by_role("combobox")
    box.click()
    box.press("ArrowDown")  # opens baseweb's list wherever a click only focuses it
    options = page.get_by_role("option")
    options.first.wait_for(timeout=PAGE_TIMEOUT_S * 1000)
    names = [options.nth(i).inner_text().strip() for i in range(options.count())]
    other = next(name for name in names if name != shown)
    page.get_by_role("option", name=other, exact=True).click()
    # The chart is drawn again for the new ticker: its title names it.
    fan.locator(".gtitle", has_text=f"{other}: ").first.wait_for(timeout=PAGE_TIMEOUT_S * 1000)
    wait_done(page, PAGE_TIMEOUT_S)
    assert problems_on(page) == []
    assert fan.locator(".gtitle").first.text_content().startswith(f"{other}: ")


def test_an_image_upload_is_scored(server: Server, page: Page, tmp_path: Path) -> None:
    import base64

    task = get_task("healthcare.imaging_diagnosis")
    study = task.sample(1, 5).iloc[0]  # a study the store never saw (another seed)
    upload = tmp_path / "study.png"
    upload.write_bytes(base64.b64decode(study[task.kind.image]))
    open_page(page, server.base, task.slug)
    page.get_by_role("tab", name=re.compile("Upload")).click()
    # The Studies tab shows a Probability too: read the Upload tab's own.
    panel = page.get_by_role("tabpanel").filter(has=page.locator(".st-key-img-upload"))
    panel.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files(upload)

    def shown(label: str) -> str:
        tile = panel.locator('[data-testid="stMetric"]').filter(has=page.locator(
            '[data-testid="stMetricLabel"]', has_text=re.compile(f"^{label}$")))
        tile.first.wait_for(timeout=PAGE_TIMEOUT_S * 1000)
        return tile.locator('[data-testid="stMetricValue"]').first.inner_text()

    probability = shown("Probability")
    wait_done(page, PAGE_TIMEOUT_S)
    assert problems_on(page) == []
    assert re.fullmatch(r"[01]\.\d{3}", probability)
    assert shown("Decision") in set(task.kind.labels)


# README's pictures: (file, page, the tab to open first or None), taken from this suite's store.
# `VERTICALS_SCREENSHOTS=docs/img pytest tests/dashboards/test_browser.py -k screenshots`
# rewrites them; without it they go to a temporary folder and are only checked.
SCREENSHOTS = (
    ("overview.png", "overview", None),
    ("credit_scoring.png", "finance.credit_scoring", None),
    ("credit_performance.png", "finance.credit_scoring", "Performance"),
    ("credit_fairness.png", "finance.credit_scoring", "Fair lending"),
    ("stock_forecasting.png", "finance.stock_forecasting", "Forecast"),
    ("imaging_diagnosis.png", "healthcare.imaging_diagnosis", None),
)
PNG = b"\x89PNG\r\n\x1a\n"


def test_readme_screenshots_are_taken_from_this_run(server: Server, page: Page,
                                                    tmp_path: Path) -> None:
    target = Path(os.environ.get("VERTICALS_SCREENSHOTS") or tmp_path)
    target.mkdir(parents=True, exist_ok=True)
    page.set_viewport_size({"width": 1400, "height": 1000})
    for name, task_name, tab in SCREENSHOTS:
        open_page(page, server.base, OVERVIEW_PATH if task_name == "overview"
                  else get_task(task_name).slug)
        if tab is not None:
            page.get_by_role("tab", name=re.compile(tab)).click()
            wait_done(page, PAGE_TIMEOUT_S)
            # Plotly draws after the script run ends: wait for the tab's first chart.
            page.locator('[role="tabpanel"]:visible .js-plotly-plot').first.wait_for(
                timeout=PAGE_TIMEOUT_S * 1000)
        assert problems_on(page) == [], name
        # Charts load their code lazily: a grey placeholder (stSkeleton) until each is drawn.
        page.wait_for_function(
            "() => !document.querySelector('[data-testid=\"stSkeleton\"]')",
            timeout=PAGE_TIMEOUT_S * 1000)
        page.screenshot(path=str(target / name), full_page=False)
        shot = (target / name).read_bytes()
        assert shot.startswith(PNG) and len(shot) > 20_000, name  # a page, not a blank frame
