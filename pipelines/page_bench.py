"""Page bench: first paint and completion of every dashboard page in headless Chromium, served
by `streamlit run dashboards/app.py` on a store holding N scored rows of one Task."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from core.store.bulk import insert_frame
from core.store.engine import ensure_task_table
from core.store.runs import track_run
from core.task import Task, tasks
from pipelines.demo import streamlit_command
from pipelines.score import score
from pipelines.throughput import TRAIN_ROWS, fresh_store, home_at, migrated, schema_url
from pipelines.train import train

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

# Debian's package (`apt-get install chromium`): Playwright drives it, it never downloads one.
CHROMIUM = Path(os.environ.get("VERTICALS_CHROMIUM", "/usr/bin/chromium"))
OVERVIEW = "overview"  # the overview's name in the JSON
# The default page is served at the root: "/overview" is Streamlit's "Page not found".
OVERVIEW_PATH = ""
MODEL = "lightgbm"
SERVER_START_S = 60.0
# The goals of issue 14 at 1,000,000 rows, reported beside the figures.
FIRST_PAINT_GOAL_S, COMPLETE_GOAL_S = 2.0, 5.0
# Streamlit marks its root with the script's run state; "notRunning" once a run has finished.
DONE = '[data-testid="stApp"][data-test-script-state="notRunning"]'
# An exception, an error alert, or a modal (Streamlit's "Page not found" is one; no page of
# ours opens a dialog by itself).
PROBLEMS = ('[data-testid="stException"], [data-testid="stAlertContentError"], '
            '[role="dialog"]')


def chromium() -> Path:
    """The system Chromium (VERTICALS_CHROMIUM, /usr/bin/chromium or `chromium` on PATH)."""
    if CHROMIUM.is_file():
        return CHROMIUM
    found = shutil.which("chromium")
    if found is None:
        raise FileNotFoundError(f"no Chromium at {CHROMIUM}: install Debian's (`apt-get install "
                                "-y chromium`) or set VERTICALS_CHROMIUM to a Chromium binary")
    return Path(found)


@dataclass(frozen=True)
class Server:
    """A running `streamlit run dashboards/app.py` and the file its output goes to."""

    base: str
    log: Path

    def log_text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def served(url: str, home: Path, log: Path, *, timeout_s: float = SERVER_START_S
           ) -> Iterator[Server]:
    """The dashboard on a free port reading the store at `url` (artifacts under `home`); every
    log line names its logger, so deprecations (streamlit.deprecation_util) can be found."""
    port = free_port()
    env = {**os.environ, "VERTICALS_HOME": str(home), "VERTICALS_DB_URL": url}
    command = [*streamlit_command(port), "--logger.messageFormat",
               "%(levelname)s %(name)s: %(message)s"]
    with log.open("w", encoding="utf-8") as sink:
        process = subprocess.Popen(command, env=env, stdout=sink, stderr=subprocess.STDOUT)
    server = Server(f"http://127.0.0.1:{port}", log)
    try:
        _wait_healthy(server, process, timeout_s)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_healthy(server: Server, process: subprocess.Popen, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"streamlit exited with {process.returncode}:\n"
                               f"{server.log_text()}")
        try:
            with urllib.request.urlopen(f"{server.base}/_stcore/health", timeout=2) as reply:
                if reply.status == 200:
                    return
        except OSError:  # not listening yet
            time.sleep(0.3)
    raise RuntimeError(f"streamlit did not answer within {timeout_s:.0f} s:\n{server.log_text()}")


def page_paths(registry: Mapping[str, Task] | None = None) -> dict[str, str]:
    """The URL path of every page the router serves, by its heading: the overview (the root),
    then one per registered Task."""
    served_tasks = tasks() if registry is None else registry
    return {"Verticals": OVERVIEW_PATH,
            **{task.title: task.slug for task in served_tasks.values()}}


def wait_done(page: Page, timeout_s: float) -> None:
    """Until the page has a heading and its script run has finished."""
    page.locator("h1").first.wait_for(timeout=timeout_s * 1000)
    page.locator(DONE).wait_for(timeout=timeout_s * 1000)


def problems_on(page: Page) -> list[str]:
    """Exception boxes and error alerts on the page, as text."""
    shown = page.locator(PROBLEMS)
    return [shown.nth(i).inner_text()[:500] for i in range(shown.count())]


def time_page(page: Page, base: str, url_path: str, timeout_s: float) -> dict[str, Any]:
    """Seconds from navigation to the heading shown (first paint) and to the run finished."""
    start = time.perf_counter()
    page.goto(f"{base}/{url_path}", wait_until="commit")
    page.locator("h1").first.wait_for(timeout=timeout_s * 1000)
    painted = time.perf_counter() - start
    page.locator(DONE).wait_for(timeout=timeout_s * 1000)
    complete = time.perf_counter() - start
    return {"first_paint_s": round(painted, 2), "complete_s": round(complete, 2),
            "errors": len(problems_on(page))}


@contextmanager
def launched() -> Iterator[Browser]:
    """Headless system Chromium driven by Playwright (never a downloaded browser)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=str(chromium()))
        try:
            yield browser
        finally:
            browser.close()


def measure_pages(browser: Browser, base: str, paths: Mapping[str, str],
                  timeout_s: float) -> dict[str, Any]:
    """Each page cold (the server's first view of it) then warm (a new session, caches filled),
    each in a fresh browser context as a new visitor gets."""
    timings: dict[str, Any] = {}
    for visit in ("cold", "warm"):
        for url_path in paths.values():
            context = browser.new_context(viewport={"width": 1400, "height": 1000})
            try:
                shown = time_page(context.new_page(), base, url_path, timeout_s)
            finally:
                context.close()
            timings.setdefault(url_path or OVERVIEW, {})[visit] = shown
    return timings


def fill_store(engine: Any, task: Task, rows: int, *, seed: int, chunk_size: int,
               log: Callable[[str], None]) -> dict[str, float]:
    """`rows` generated rows bulk-loaded into the Task's real input table, a quick champion
    trained on the first TRAIN_ROWS, then `score` end to end (ledger, drift, run rows)."""
    started = time.perf_counter()
    log(f"generating {rows:,} rows with {task.name}'s sample generator")
    frame = task.sample(rows, seed)
    table = ensure_task_table(engine, task)
    with track_run(engine, task.name, "ingest", {"source": "page_bench", "rows": rows}) as run:
        with engine.begin() as conn:
            run.rows_in = run.rows_out = insert_frame(conn, table, frame.assign(_run_id=run.id))
    loaded = time.perf_counter()
    # One quick candidate is enough to serve the pages; LightGBM where the Task has it, as the
    # throughput bench does.
    models = (MODEL,) if MODEL in task.candidates() else None
    log(f"training {', '.join(models or task.candidates())} (quick) on "
        f"{min(TRAIN_ROWS, rows):,} rows")
    train(engine, task, profile="quick", seed=seed, models=models, frame=frame.head(TRAIN_ROWS),
          dataset=f"page_bench:{rows}")
    trained = time.perf_counter()
    log(f"scoring {rows:,} rows")
    score(engine, task, chunk_size=chunk_size)
    done = time.perf_counter()
    return {"load_s": round(loaded - started, 1), "train_s": round(trained - loaded, 1),
            "score_s": round(done - trained, 1)}


# A folder to keep the bench's store in and reuse (a million rows take minutes to fill): the
# SQLite file and the artifacts live there; on PostgreSQL a schema named after the Task and
# the rows holds the tables. Unset, every run fills a throw-away store.
KEEP_STORE = "VERTICALS_BENCH_STORE"


def _scored_rows(engine: Any, task: Task) -> int:
    """Primary-output ledger rows of the Task's champion (0 when there is none)."""
    from core.store.queries import champion, row_counts

    if not sa.inspect(engine).has_table("aliases") or champion(engine, task.name) is None:
        return 0
    return row_counts(engine, task.name)["predictions"]


@contextmanager
def kept_store(folder: Path, task: Task, rows: int) -> Iterator[Any]:
    """The bench store kept under `folder` (see KEEP_STORE), migrated; VERTICALS_HOME points
    at the folder meanwhile (the registry's artifacts)."""
    folder.mkdir(parents=True, exist_ok=True)
    with home_at(folder):
        url = os.environ.get("VERTICALS_DB_URL", "")
        url = (schema_url(url, f"bench_keep_{task.slug}_{rows}") if url.startswith("postgres")
               else f"sqlite:///{folder / f'bench_{task.slug}_{rows}.db'}")
        with migrated(url) as engine:
            yield engine


def page_bench(task: Task, *, rows: int = 1_000_000, seed: int = 0, chunk_size: int = 100_000,
               timeout_s: float = 300.0, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Fill a fresh store (SQLite, or a scratch schema of VERTICALS_DB_URL's PostgreSQL) with
    `rows` scored rows of `task`, serve the dashboard on it and time every page in Chromium.
    With VERTICALS_BENCH_STORE set the store is kept there and a full one is reused."""
    chromium()  # before minutes of filling: say now that there is no browser
    keep = os.environ.get(KEEP_STORE)
    with (kept_store(Path(keep), task, rows) if keep else fresh_store()) as engine:
        if keep and _scored_rows(engine, task) == rows:
            log(f"reusing the store in {keep}: {rows:,} rows scored")
            fill: dict[str, Any] = {"reused": True}
        else:
            if keep and _scored_rows(engine, task):
                raise RuntimeError(f"the kept store in {keep} holds a partial bench store: "
                                   "remove it (or point VERTICALS_BENCH_STORE elsewhere)")
            fill = fill_store(engine, task, rows, seed=seed, chunk_size=chunk_size, log=log)
        url = engine.url.render_as_string(hide_password=False)
        home = Path(os.environ["VERTICALS_HOME"])  # the store's, where the artifacts are
        with tempfile.TemporaryDirectory(prefix="verticals-page-bench-") as logs:
            log("serving the dashboard and opening every page in headless Chromium")
            with (served(url, home, Path(logs) / "streamlit.log") as server,
                  launched() as browser):
                pages = measure_pages(browser, server.base, page_paths(), timeout_s)
        dialect = engine.dialect.name
    cold = {path: timing["cold"] for path, timing in pages.items()}
    slowest = max(cold, key=lambda path: cold[path]["complete_s"])
    return {
        "task": task.name, "benchmark": "dashboards", "rows": rows, "dialect": dialect,
        "fill": fill, "pages": pages, "slowest_cold": slowest,
        "goals_s": {"first_paint": FIRST_PAINT_GOAL_S, "complete": COMPLETE_GOAL_S},
        "meets_goals": all(t["first_paint_s"] <= FIRST_PAINT_GOAL_S
                           and t["complete_s"] <= COMPLETE_GOAL_S and not t["errors"]
                           for timing in pages.values() for t in timing.values()),
    }
