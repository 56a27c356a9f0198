"""The audit log on SQLite and PostgreSQL: views, overrides with reasons, history."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from core.store import audit


def test_views_and_overrides_are_recorded_newest_first(engine: sa.Engine):
    audit.record_view(engine, "healthcare.imaging_diagnosis", "im-1", "dr.a", score=0.8,
                      label="malignant")
    assert audit.current_override(engine, "healthcare.imaging_diagnosis", "im-1") is None
    audit.record_override(engine, "healthcare.imaging_diagnosis", "im-1", " dr.b ",
                          old_label="malignant", new_label="benign", reason="old scar, stable")
    audit.record_view(engine, "healthcare.imaging_diagnosis", "im-2", "dr.a")
    rows = audit.history(engine, "healthcare.imaging_diagnosis", "im-1")
    assert rows["action"].tolist() == ["override", "view"]
    newest = rows.iloc[0]
    assert (newest["actor"], newest["old_label"], newest["new_label"], newest["reason"]) == (
        "dr.b", "malignant", "benign", "old scar, stable")
    assert newest["at"].tzinfo is not None
    assert audit.current_override(engine, "healthcare.imaging_diagnosis", "im-1") == "benign"
    assert len(audit.history(engine, "healthcare.imaging_diagnosis")) == 3


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"reason": "  "}, "needs a reason"),
    ({"new_label": "malignant"}, "must differ"),
    ({"actor": ""}, "who acted"),
])
def test_incomplete_overrides_are_refused_and_not_written(engine: sa.Engine, kwargs, message):
    args = {"actor": "dr.a", "old_label": "malignant", "new_label": "benign", "reason": "why"}
    args.update(kwargs)
    actor = args.pop("actor")
    with pytest.raises(audit.AuditError, match=message):
        audit.record_override(engine, "t.x", "im-1", actor, **args)
    assert audit.history(engine, "t.x").empty
