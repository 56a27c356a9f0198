"""Credit scoring's store filled by the real pipelines (ingest, smoke train, score) once."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import pytest

from core.store.engine import ensure_task_table, make_engine, migrate

CREDIT = "finance.credit_scoring"
DEMO_ROWS = 600


@dataclass(frozen=True)
class DemoStore:
    """A pipeline-filled store and the home holding its artifacts."""

    url: str
    home: Path
    champion_metric: str  # the formatted primary metric the pages must show, e.g. "AUC 0.812"


@functools.cache
def credit_store(base: Path) -> DemoStore:
    """Populate `base`/credit-demo once per session (several test modules share it)."""
    from core.registry import champion
    from core.task import get_task
    from dashboards.components.formats import metric
    from pipelines.ingest import ingest_file
    from pipelines.score import score
    from pipelines.train import train

    home = base / "credit-demo"
    home.mkdir()
    url = f"sqlite:///{home / 'verticals.db'}"
    task = get_task(CREDIT)
    sample = home / "sample.csv"
    task.sample(DEMO_ROWS, 0).to_csv(sample, index=False)
    # Only while populating: tests set VERTICALS_HOME themselves (artifacts resolve from it).
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("VERTICALS_HOME", str(home))
        patch.delenv("VERTICALS_DB_URL", raising=False)
        engine = make_engine(url)
        migrate(engine)
        ensure_task_table(engine, task)
        ingest_file(engine, task, sample)
        train(engine, task, profile="smoke")
        score(engine, task)
        best = champion(engine, task.name)
        engine.dispose()
    if best is None:
        raise RuntimeError(f"training {CREDIT} promoted no champion")
    return DemoStore(url, home, metric(best.primary_metric, best.primary_value))


def credit_section(url: str) -> None:
    """The credit page's own section (AppTest.from_function runs it on the store at `url`)."""
    from core.task import get_task
    from dashboards.context import make_context
    from verticals.finance.credit_page import render

    render(make_context(get_task("finance.credit_scoring"), url))
