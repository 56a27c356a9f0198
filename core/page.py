"""PageContext: what a dashboard page may use of the store, its Task and the champion (a Protocol,
so a Task's own page depends on core alone; dashboards.context implements it with caches)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import pandas as pd
    import sqlalchemy as sa

    from core.fields import Field
    from core.kinds.base import Predictor
    from core.store.queries import ModelSummary
    from core.task import Task


class PageContext(Protocol):
    """Handed to every page: the generic sections and a Task's own (`Task.page`).

    Queries are named, never written in a page: `query` runs a `core.store.queries` function
    about this Task and `input_query` one of `core.store.input_queries` on its input table, both
    cached by the implementation, so a page reruns cheaply on every widget change.
    """

    @property
    def url(self) -> str:
        """The store's SQLAlchemy URL (the cache key of everything below)."""
        ...

    @property
    def task(self) -> Task: ...

    @property
    def champion(self) -> ModelSummary | None:
        """The version the `champion` alias points at; None before the first training."""
        ...

    @property
    def engine(self) -> sa.Engine:
        """The store's engine, for writes a page makes itself (audit rows)."""
        ...

    @property
    def table(self) -> sa.Table:
        """The Task's input table (core.store.schema.task_table)."""
        ...

    def query(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """`core.store.queries.<name>(engine, <task name>, *args, **kwargs)`, cached."""
        ...

    def input_query(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """`core.store.input_queries.<name>(engine, <the input table>, *args, **kwargs)`, cached."""
        ...

    def has_input(self) -> bool:
        """Whether the Task's input table exists (something was ingested)."""
        ...

    def fields(self) -> list[Field]:
        """The schema's columns as form and filter fields (core.fields.schema_fields)."""
        ...

    def row(self, key: Any) -> pd.DataFrame:
        """The first input row whose entity column (`Kind.entity`) is `key`, with the columns
        `score` reads (`Kind.scoring_columns`); an empty frame when there is none."""
        ...

    def reference(self) -> dict[str, Any]:
        """The champion's drift reference profile (core.monitor.reference_profile); {} if none."""
        ...

    def predictor(self, version: int | None = None) -> Predictor | None:
        """The predictor of a version (default: the champion), loaded once and sha256-checked;
        None before the first training. An unknown version raises LookupError."""
        ...
