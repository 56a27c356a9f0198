"""The Task registry: built-in map + entry points, read-only, duplicates are errors."""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace

import pytest

import core.task as task_module
from core.task import Task, TaskRegistryError, discover, get_task, tasks

CREDIT = "verticals.finance.credit_scoring:TASK"


def entry_point(name: str, value: str) -> SimpleNamespace:
    return SimpleNamespace(name=name, value=value, dist=SimpleNamespace(name="acme-verticals"))


def test_builtin_map_loads_tasks_by_name() -> None:
    found = discover({"finance.credit_scoring": CREDIT}, include_entry_points=False)
    assert list(found) == ["finance.credit_scoring"]
    assert isinstance(found["finance.credit_scoring"], Task)


def test_registry_is_read_only() -> None:
    found = discover({"finance.credit_scoring": CREDIT}, include_entry_points=False)
    with pytest.raises(TypeError):
        found["x.y"] = found["finance.credit_scoring"]  # type: ignore[index]


def test_entry_point_with_a_builtin_name_is_a_duplicate(monkeypatch) -> None:
    monkeypatch.setattr(
        task_module, "entry_points",
        lambda group: [entry_point("finance.credit_scoring", CREDIT)],
    )
    with pytest.raises(
        TaskRegistryError, match="duplicate Task name 'finance.credit_scoring'.*acme"
    ):
        discover({"finance.credit_scoring": CREDIT})


def test_entry_point_tasks_join_the_registry(monkeypatch) -> None:
    import verticals.finance.credit_scoring as credit

    renamed = replace(credit.TASK, name="acme.credit_copy")
    monkeypatch.setattr(credit, "ACME_COPY", renamed, raising=False)
    monkeypatch.setattr(
        task_module, "entry_points",
        lambda group: [
            entry_point("acme.credit_copy", "verticals.finance.credit_scoring:ACME_COPY")
        ],
    )
    found = discover({"finance.credit_scoring": CREDIT})
    assert list(found) == ["acme.credit_copy", "finance.credit_scoring"]
    assert found["acme.credit_copy"].vertical == "acme"


def test_name_must_match_the_registered_key() -> None:
    with pytest.raises(TaskRegistryError, match="registers .* under 'finance.other'"):
        discover({"finance.other": CREDIT}, include_entry_points=False)


def test_reference_to_a_missing_module_names_it() -> None:
    with pytest.raises(TaskRegistryError, match="cannot load Task 'verticals.nowhere:TASK'"):
        discover({"x.nowhere": "verticals.nowhere:TASK"}, include_entry_points=False)


def test_reference_to_something_else_than_a_task_is_refused() -> None:
    with pytest.raises(TaskRegistryError, match="is a dict, not a Task"):
        discover({"x.y": "verticals:BUILTIN_TASKS"}, include_entry_points=False)


def test_get_task_lists_the_registered_names_on_a_miss() -> None:
    assert get_task("finance.credit_scoring") is tasks()["finance.credit_scoring"]
    with pytest.raises(TaskRegistryError, match="registered: .*finance.credit_scoring"):
        get_task("finance.nope")


def test_unknown_profile_and_model_are_clear_errors() -> None:
    task = get_task("finance.credit_scoring")
    with pytest.raises(ValueError, match="unknown profile 'huge'"):
        task.model_params(next(iter(task.candidates())), "huge")
    with pytest.raises(KeyError, match="no model 'oracle'"):
        task.build_model("oracle", "smoke")


def test_a_page_reference_loads_lazily_and_a_bad_one_is_named() -> None:
    task = get_task("finance.credit_scoring")
    assert isinstance(task.page, str)  # loading the Task imported no Streamlit page
    from verticals.finance.credit_page import render

    assert task.page_function() is render
    broken = replace(task, page="verticals.finance.nowhere:render")
    with pytest.raises(TaskRegistryError, match="page 'verticals.finance.nowhere:render'"):
        broken.page_function()


def test_loading_every_task_imports_no_streamlit() -> None:
    import subprocess
    import sys

    code = ("import sys; from core.task import tasks; tasks(); "
            "print('streamlit' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "False"
