"""The audit log: who viewed or overrode which prediction, when, and why."""

from __future__ import annotations

import getpass
import os

import pandas as pd
import sqlalchemy as sa

from core.store.schema import audit_log, utcnow

ACTIONS = ("view", "override", "upload")
ACTOR_ENV = "VERTICALS_USER"


class AuditError(ValueError):
    """An audit entry is incomplete (no actor, no reason for an override)."""


def default_actor() -> str:
    """VERTICALS_USER, else the operating-system user (the dashboard lets the user change it)."""
    return os.environ.get(ACTOR_ENV) or getpass.getuser()


def record(
    engine: sa.Engine, *, task: str, entity_key: str, action: str, actor: str,
    model_version_id: int | None = None, score: float | None = None,
    old_label: str | None = None, new_label: str | None = None, reason: str | None = None,
) -> int:
    """Write one audit row in its own transaction; returns its id."""
    if action not in ACTIONS:
        raise AuditError(f"unknown audit action {action!r}: use one of {', '.join(ACTIONS)}")
    if not actor or not actor.strip():
        raise AuditError("an audit entry needs the name of who acted (actor)")
    if action == "override":
        if not reason or not reason.strip():
            raise AuditError(f"overriding the decision on {entity_key} needs a reason")
        if new_label is None or new_label == old_label:
            raise AuditError(f"override of {entity_key}: the new decision {new_label!r} must "
                             f"differ from the current one {old_label!r}")
    with engine.begin() as connection:
        return connection.execute(audit_log.insert().values(
            task=task, entity_key=entity_key, action=action, actor=actor.strip(), at=utcnow(),
            model_version_id=model_version_id, score=None if score is None else float(score),
            old_label=old_label, new_label=new_label,
            reason=reason.strip() if reason else None,
        ).returning(audit_log.c.id)).scalar_one()


def record_view(engine: sa.Engine, task: str, entity_key: str, actor: str, *,
                model_version_id: int | None = None, score: float | None = None,
                label: str | None = None) -> int:
    return record(engine, task=task, entity_key=entity_key, action="view", actor=actor,
                  model_version_id=model_version_id, score=score, old_label=label)


def record_override(engine: sa.Engine, task: str, entity_key: str, actor: str, *,
                    old_label: str | None, new_label: str, reason: str,
                    model_version_id: int | None = None, score: float | None = None) -> int:
    return record(engine, task=task, entity_key=entity_key, action="override", actor=actor,
                  model_version_id=model_version_id, score=score, old_label=old_label,
                  new_label=new_label, reason=reason)


def history(engine: sa.Engine, task: str, entity_key: str | None = None,
            limit: int = 200) -> pd.DataFrame:
    """Newest audit rows of a Task (or of one study) first."""
    statement = sa.select(audit_log).where(audit_log.c.task == task)
    if entity_key is not None:
        statement = statement.where(audit_log.c.entity_key == entity_key)
    statement = statement.order_by(audit_log.c.id.desc()).limit(limit)
    with engine.connect() as connection:
        rows = connection.execute(statement).mappings().all()
    return pd.DataFrame(rows, columns=[c.name for c in audit_log.columns])


def current_override(engine: sa.Engine, task: str, entity_key: str) -> str | None:
    """The decision of the latest override of a study, or None when nobody overrode it."""
    statement = (sa.select(audit_log.c.new_label)
                 .where(audit_log.c.task == task, audit_log.c.entity_key == entity_key,
                        audit_log.c.action == "override")
                 .order_by(audit_log.c.id.desc()).limit(1))
    with engine.connect() as connection:
        return connection.execute(statement).scalar()
