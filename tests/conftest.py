"""Shared fixtures: a temporary VERTICALS_HOME and the store on SQLite and on PostgreSQL."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

# One compute thread per test process, set before torch/LightGBM load their OpenMP runtimes:
# the suite runs one process per core (pytest -n 2), and two threads per process on two cores
# oversubscribe them (measured ~10x slower torch training under load).
for _variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

# The imports below deliberately follow the thread-count environment variables set above.
import psycopg  # noqa: E402
import pytest  # noqa: E402
import sqlalchemy as sa  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from core.store.engine import make_engine, migrate  # noqa: E402

if TYPE_CHECKING:
    from tests.dashboards.demo import DemoStore

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
DATABASES = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh VERTICALS_HOME; the store defaults to SQLite inside it."""
    path = tmp_path / "verticals-home"
    monkeypatch.setenv("VERTICALS_HOME", str(path))
    monkeypatch.delenv("VERTICALS_DB_URL", raising=False)
    return path


@pytest.fixture
def sqlite_url(home: Path) -> str:
    return f"sqlite:///{home / 'verticals.db'}"


@pytest.fixture(scope="session")
def pg_server_url() -> str:
    """VERTICALS_TEST_PG_URL once reachable; skipped locally, a failure under CI."""
    url = os.environ.get("VERTICALS_TEST_PG_URL", DEFAULT_PG_URL)
    conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    try:
        psycopg.connect(conninfo, connect_timeout=3).close()
    except psycopg.OperationalError as error:
        message = (f"PostgreSQL at {make_url(url).render_as_string(hide_password=True)} is "
                   f"unreachable ({str(error).strip()}); start it or set VERTICALS_TEST_PG_URL")
        if os.environ.get("CI"):
            pytest.fail(f"CI must reach PostgreSQL: {message}", pytrace=False)
        pytest.skip(message)
    return url


@pytest.fixture
def pg_url(pg_server_url: str) -> Iterator[str]:
    """A URL whose connections live in a fresh schema (dropped afterwards) of the test server."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(pg_server_url, poolclass=sa.NullPool)
    with admin.begin() as connection:
        connection.execute(sa.text(f'CREATE SCHEMA "{name}"'))
    url = make_url(pg_server_url).update_query_dict({"options": f"-csearch_path={name}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as connection:
            connection.execute(sa.text("SET lock_timeout = '10s'"))
            connection.execute(sa.text(f'DROP SCHEMA "{name}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=DATABASES)
def db_url(request: pytest.FixtureRequest, home: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The store URL for each dialect, also set as VERTICALS_DB_URL for code that reads it."""
    url: str = request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url")
    monkeypatch.setenv("VERTICALS_DB_URL", url)
    return url


@pytest.fixture
def engine(db_url: str) -> Iterator[sa.Engine]:
    """A migrated store engine on each dialect."""
    store = make_engine(db_url)
    migrate(store)
    yield store
    store.dispose()


@pytest.fixture
def on_credit_store(tmp_path_factory: pytest.TempPathFactory,
                    monkeypatch: pytest.MonkeyPatch) -> DemoStore:
    """The pipeline-filled credit store (tests.dashboards.demo, built once per session) as
    the configured store: dashboard and finance page tests share it."""
    from tests.dashboards.demo import credit_store

    store = credit_store(tmp_path_factory.getbasetemp())
    monkeypatch.setenv("VERTICALS_HOME", str(store.home))
    monkeypatch.setenv("VERTICALS_DB_URL", store.url)
    return store


@pytest.fixture
def one_torch_thread() -> Iterator[None]:
    """One torch thread for the test: on a shared 2-core machine two spinning threads run
    10x slower (modules that train image nets use it for every test)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
