"""The PageContext every page gets (core.page): the store, the Task and its champion, with the
queries, rows and predictors cached by Streamlit."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd
import sqlalchemy as sa
import streamlit as st

from core.fields import Field, schema_fields
from core.kinds.base import Predictor
from core.store import input_queries, queries, schema, summaries
from core.store.engine import database_url, make_engine, read_task_frame
from core.task import Task

# Cached results are keyed on the store's state (store_state), not a timer: a write a page shows
# moves the key, so a page is cold once per change, not once a minute. The TTL only frees
# results of states no page asks for again.
QUERY_TTL_S = 3600


def _state_columns() -> list[sa.ColumnElement[Any]]:
    """Aggregates that move with every write a page shows: runs started and finished (ingest,
    train, score, bench), promotions, audit entries, the loop's schedules, live metrics, gate
    decisions, held batches and work orders. Each is a primary-key maximum or a small table's."""
    t = schema
    paused = sa.func.sum(sa.case((t.schedules.c.paused, 1), else_=0))
    return [sa.func.max(t.pipeline_runs.c.id), sa.func.max(t.pipeline_runs.c.finished_at),
            sa.func.max(t.aliases.c.updated_at), sa.func.max(t.audit_log.c.id),
            sa.func.max(t.schedules.c.id), sa.func.max(t.schedules.c.last_slot), paused,
            sa.func.max(t.live_metrics.c.id), sa.func.max(t.gate_decisions.c.id),
            sa.func.max(t.held_batches.c.id), sa.func.max(t.held_batches.c.released_at),
            sa.func.max(t.work_order_events.c.id), sa.func.max(t.work_orders.c.updated_at)]


def store_state(url: str) -> tuple[str, ...]:
    """The cache key of the store at `url`: one row of cheap aggregates, read on every page
    run (uncached: it is what tells a cached result is stale)."""
    with engine_for(url).connect() as conn:
        row = conn.execute(sa.select(*(sa.select(c).scalar_subquery() for c in
                                       _state_columns()))).one()
    return tuple(str(value) for value in row)


@st.cache_resource(show_spinner=False)
def engine_for(url: str) -> sa.Engine:
    """One engine (and pool) per store URL for the whole server process."""
    return make_engine(url)


def input_table(task: Task) -> sa.Table:
    return schema.task_table(task, sa.MetaData())


# st.cache_data hashes every argument except those named with a leading underscore: the key is
# the store URL, the Task name and plain values; the engine and Task objects ride along unhashed.
# `state` (store_state) is part of every key: a new run, promotion or audit entry is a miss.
@st.cache_data(ttl=QUERY_TTL_S, show_spinner=False)
def cached_query(url: str, state: tuple[str, ...], name: str, *args: Any, **kwargs: Any) -> Any:
    """Run `core.store.queries.<name>(engine, *args, **kwargs)`, cached per store state (read
    from the per-batch summaries, core.store.summaries, where one exists)."""
    summarised = summaries.QUERIES.get(name)
    if summarised is not None:
        return summarised(engine_for(url), *args, **kwargs,
                          covered=cached_coverage(url, state, *_scope(name, args)))
    return getattr(queries, name)(engine_for(url), *args, **kwargs)


def _scope(name: str, args: tuple[Any, ...]) -> tuple[str, int | None]:
    """(task, version or None) a summarised query's `covered` is about (task name first)."""
    return args[0], args[1] if summaries.BY_VERSION[name] else None


@st.cache_data(ttl=QUERY_TTL_S, show_spinner=False)
def cached_coverage(url: str, state: tuple[str, ...], task_name: str,
                    version_id: int | None) -> bool:
    """Whether the summaries cover the Task's (or one version's) ledger: one index-only count
    of the ledger per store state, not one per query of a page."""
    with engine_for(url).connect() as conn:
        return summaries.covers(conn, task_name, version_id)


@st.cache_data(ttl=QUERY_TTL_S, show_spinner=False)
def cached_input_query(url: str, state: tuple[str, ...], task_name: str, name: str, *args: Any,
                       _task: Task, **kwargs: Any) -> Any:
    """Run `core.store.input_queries.<name>(engine, <the Task's input table>, ...)`, cached
    (core.store.summaries.INPUT_QUERIES first: counts kept per scored batch)."""
    summarised = summaries.INPUT_QUERIES.get(name)
    if summarised is not None:
        return summarised(engine_for(url), input_table(_task), *args, **kwargs,
                          covered=cached_coverage(url, state, *_scope(name, args)))
    return getattr(input_queries, name)(engine_for(url), input_table(_task), *args, **kwargs)


@st.cache_data(ttl=QUERY_TTL_S, show_spinner=False, max_entries=64)
def cached_row(url: str, state: tuple[str, ...], task_name: str, key: Any,
               _task: Task) -> pd.DataFrame:
    """The first input row whose entity is `key`, with the columns `score` reads (labels left
    out unless they are the history), in the schema's dtypes."""
    kind = _task.kind
    # A bare column: read_task_frame builds its own Table, and a clause on another Table object
    # would join the two.
    match = sa.column(kind.entity) == key
    with engine_for(url).connect() as conn:
        return read_task_frame(conn, _task, match, columns=kind.scoring_columns(_task), limit=1)


@st.cache_resource(show_spinner="Loading the model…", max_entries=8)
def cached_predictor(url: str, task_name: str, version: int, created: str, _task: Task) -> Any:
    """A model version's predictor, loaded (and sha256-checked) once per server process."""
    from core.registry import load_predictor  # the registry pulls in the model stack: load late

    return load_predictor(engine_for(url), _task, version)


@dataclass(frozen=True)
class CachedPageContext:
    """core.page.PageContext on the store at `url`, every query cached per store `state`."""

    url: str
    task: Task
    champion: queries.ModelSummary | None
    state: tuple[str, ...] = ()  # store_state when the page run began

    @property
    def engine(self) -> sa.Engine:
        return engine_for(self.url)

    @property
    def table(self) -> sa.Table:
        """The Task's input table (see core.store.schema.task_table)."""
        return input_table(self.task)

    def query(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """A cached `core.store.queries` call about this Task (task name passed first)."""
        return cached_query(self.url, self.state, name, self.task.name, *args, **kwargs)

    def input_query(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """A cached `core.store.input_queries` call on this Task's input table."""
        return cached_input_query(self.url, self.state, self.task.name, name, *args,
                                  _task=self.task, **kwargs)

    def has_input(self) -> bool:
        return queries.has_table(self.engine, self.table.name)

    def fields(self) -> list[Field]:
        """The schema's columns as form/filter fields (choices, ranges, kinds)."""
        return schema_fields(self.task.schema)

    def row(self, key: Any) -> pd.DataFrame:
        """The first input row whose entity is `key` (an empty frame when there is none)."""
        return cached_row(self.url, self.state, self.task.name, key, _task=self.task)

    def reference(self) -> dict[str, Any]:
        """The champion's drift reference profile (core.monitor.reference_profile)."""
        if self.champion is None:
            return {}
        return cached_query(self.url, self.state, "reference_profile", self.champion.id)

    def predictor(self, version: int | None = None) -> Predictor | None:
        """The predictor of a version (default: the champion); None before the first training."""
        if version is None:
            if self.champion is None:
                return None
            version = self.champion.version
        model = next((m for m in self.query("versions") if m.version == version), None)
        if model is None:
            raise LookupError(f"Task {self.task.name} has no model version {version}")
        # The creation time joins the key: a store rebuilt at the same URL reuses version numbers.
        return cached_predictor(self.url, self.task.name, version, model.created_at.isoformat(),
                                _task=self.task)


def store_url() -> str:
    return database_url()


def make_context(task: Task, url: str | None = None) -> CachedPageContext:
    """A context for `task` on the store at `url` (default: VERTICALS_DB_URL / VERTICALS_HOME)."""
    url = url or store_url()
    if not store_ready(url):
        return CachedPageContext(url=url, task=task, champion=None)
    state = store_state(url)
    champion = cached_query(url, state, "champion", task.name)
    return CachedPageContext(url=url, task=task, champion=champion, state=state)


def store_ready(url: str) -> bool:
    """True when the store has its tables; an unreachable store stops the page with the reason."""
    try:
        # Not cached: the first page view after `verticals demo` must not see a stale "empty".
        return queries.has_store(engine_for(url))
    except sa.exc.OperationalError as error:
        shown = sa.make_url(url).render_as_string(hide_password=True)
        st.error(f"Cannot open the store at `{shown}`: {error.orig or error}. Check "
                 "VERTICALS_DB_URL (or VERTICALS_HOME) and that the database is running.",
                 icon=":material/error:")
        st.stop()


def empty_store_message(url: str) -> None:
    """Tell the user how to fill an empty or uninitialised store instead of failing."""
    shown = sa.make_url(url).render_as_string(hide_password=True)
    st.info(
        f"The store at `{shown}` has no Verticals tables yet. Run `verticals demo --no-serve` "
        "(ingest the samples, train, score) or `verticals init` then `verticals ingest`/`train`/"
        "`score` for one Task, and reload this page.",
        icon=":material/database:",
    )
