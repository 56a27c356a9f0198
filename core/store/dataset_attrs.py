"""Dataset attributes in the store: what an adapter says of a whole dataset rather than of a
row (a road graph's adjacency and its sensor order), for the names a Kind declares in
`Kind.frame_attrs`.

Ingest writes them in the transaction of its rows, a new row only when the value changed (a
re-run adds nothing; a corrected adjacency file adds its value, the old one stays as history);
every frame read back from the store (core.store.engine.read_task_frame: train, score, the
dashboards) carries the latest value of each name in `frame.attrs`, so a model trained from
the store sees what one trained from the file saw.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

import sqlalchemy as sa

from core.store.schema import dataset_attrs, utcnow


def encode(name: str, value: Any) -> str:
    """The stored JSON of one attribute; a value JSON cannot hold is refused by name."""
    try:
        return json.dumps(value, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as error:
        raise ValueError(f"dataset attribute {name!r} cannot be stored as JSON ({error}): an "
                         "adapter must give lists, numbers and strings") from error


def write_attrs(conn: sa.Connection, task: str, attrs: Mapping[str, Any], names: Iterable[str],
                run_id: int | None) -> list[str]:
    """Store each of `names` that `attrs` holds and whose value differs from the latest
    stored one; returns the names written."""
    wanted = [n for n in names if n in attrs]
    if not wanted:
        return []
    latest = _latest(conn, task, wanted, "sha256")
    written = []
    for name in wanted:
        value = encode(name, attrs[name])
        digest = hashlib.sha256(value.encode()).hexdigest()
        if latest.get(name) == digest:
            continue
        conn.execute(sa.insert(dataset_attrs).values(
            task=task, name=name, value=value, sha256=digest, run_id=run_id,
            created_at=utcnow()))
        written.append(name)
    return written


def latest_attrs(conn: sa.Connection, task: str, names: Iterable[str]) -> dict[str, Any]:
    """The latest stored value of each of `names` that was ever ingested for `task`."""
    wanted = list(names)
    if not wanted:
        return {}
    return {name: json.loads(value)
            for name, value in _latest(conn, task, wanted, "value").items()}


def _latest(conn: sa.Connection, task: str, names: list[str], column: str) -> dict[str, str]:
    newest = (sa.select(sa.func.max(dataset_attrs.c.id))
              .where(dataset_attrs.c.task == task, dataset_attrs.c.name.in_(names))
              .group_by(dataset_attrs.c.name))
    rows = conn.execute(sa.select(dataset_attrs.c.name, dataset_attrs.c[column])
                        .where(dataset_attrs.c.id.in_(newest))).all()
    return {name: value for name, value in rows}
