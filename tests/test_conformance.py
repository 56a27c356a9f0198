"""One conformance test, parametrized over every registered Task (the scikit-learn shape)."""

from __future__ import annotations

import pytest

from core.task import tasks
from core.testing import check_task


@pytest.mark.parametrize("name", list(tasks()))
def test_task_conforms(name: str) -> None:
    check_task(tasks()[name])
