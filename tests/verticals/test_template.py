"""The fill-in template is itself a conforming Task, so a copy starts green."""

from __future__ import annotations

from core.testing import check_task
from verticals import BUILTIN_TASKS
from verticals._template import TASK


def test_template_conforms_and_is_not_registered() -> None:
    check_task(TASK)
    assert TASK.name not in BUILTIN_TASKS
    assert not any(ref.startswith("verticals._template") for ref in BUILTIN_TASKS.values())
