"""The Task registry: entry points (+ a map passed in), read-only, duplicates are errors."""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from dataclasses import replace
from importlib.metadata import entry_points as installed_entry_points
from pathlib import Path
from types import SimpleNamespace

import pytest

import core.task as task_module
from core.task import ENTRY_POINT_GROUP, Task, TaskRegistryError, discover, get_task, tasks

ROOT = Path(__file__).resolve().parents[2]

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


def test_a_name_from_two_origins_is_an_error_naming_both(monkeypatch) -> None:
    monkeypatch.setattr(
        task_module, "entry_points",
        lambda group: [entry_point("finance.credit_scoring", CREDIT)],
    )
    with pytest.raises(
        TaskRegistryError,
        match=r"duplicate Task name 'finance.credit_scoring': from the map passed to "
              r"discover\(\) and from entry point 'finance.credit_scoring' of acme-verticals",
    ):
        discover({"finance.credit_scoring": CREDIT})


def test_two_distributions_claiming_one_name_are_both_named(monkeypatch) -> None:
    other = SimpleNamespace(name="finance.credit_scoring", value=CREDIT,
                            dist=SimpleNamespace(name="other-verticals"))
    monkeypatch.setattr(task_module, "entry_points",
                        lambda group: [entry_point("finance.credit_scoring", CREDIT), other])
    with pytest.raises(TaskRegistryError, match="of acme-verticals and from .* of other-verticals"):
        discover()


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
    with pytest.raises(TaskRegistryError, match="is a tuple, not a Task"):
        discover({"x.y": "core.task:PROFILES"}, include_entry_points=False)


def test_a_task_can_be_passed_in_as_it_is() -> None:
    from verticals._template import TASK as TEMPLATE

    found = discover({TEMPLATE.name: TEMPLATE}, include_entry_points=False)
    assert found[TEMPLATE.name] is TEMPLATE
    with pytest.raises(TaskRegistryError, match="registers a Task under 'x.y'"):
        discover({"x.y": TEMPLATE}, include_entry_points=False)


def test_the_builtin_tasks_are_the_entry_points_pyproject_declares() -> None:
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["entry-points"][
        ENTRY_POINT_GROUP]
    installed = {ep.name: ep.value for ep in installed_entry_points(group=ENTRY_POINT_GROUP)
                 if ep.dist is not None and ep.dist.name == "verticals"}
    assert installed == declared, (
        "the installed entry points differ from pyproject.toml: run `pip install -e .`")
    assert list(declared) == sorted(declared), "keep the Task entry points alphabetical"
    assert set(declared) <= set(tasks())


def test_every_task_module_of_verticals_is_declared() -> None:
    """A module under verticals/ defining TASK (the templates aside) has its entry point."""
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["entry-points"][
        ENTRY_POINT_GROUP]
    referenced = {ref.partition(":")[0] for ref in declared.values()}
    defining = set()
    for path in sorted((ROOT / "verticals").rglob("*.py")):
        if path.name.startswith("_template"):
            continue
        tree = ast.parse(path.read_text(), filename=str(path))
        names = {target.id for node in tree.body if isinstance(node, ast.Assign | ast.AnnAssign)
                 for target in (node.targets if isinstance(node, ast.Assign) else [node.target])
                 if isinstance(target, ast.Name)}
        if "TASK" in names:
            defining.add(".".join(path.relative_to(ROOT).with_suffix("").parts))
    assert defining - referenced == set(), (
        "add these Task modules to [project.entry-points.\"verticals.tasks\"] in pyproject.toml")


def test_discover_imports_no_vertical_of_its_own() -> None:
    code = ("import sys; from core.task import discover; found = discover("
            "include_entry_points=False); "
            "print(len(found), [m for m in sys.modules if m.split('.')[0] == 'verticals'])")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True, cwd=ROOT)
    assert result.stdout.strip() == "0 []"


def test_a_task_of_another_installed_package_joins_by_entry_point(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A third-party distribution (a dist-info with entry_points.txt) is found like ours."""
    package = tmp_path / "acme_machines"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "failure.py").write_text(
        "from dataclasses import replace\n"
        "from verticals._template import TASK as TEMPLATE\n"
        "TASK = replace(TEMPLATE, name='acme.failure')\n")
    info = tmp_path / "acme_machines-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-machines\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        f"[{ENTRY_POINT_GROUP}]\nacme.failure = acme_machines.failure:TASK\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        found = discover()
        assert found["acme.failure"].vertical == "acme"
        assert {"acme.failure", "finance.credit_scoring"} <= set(found)
    finally:
        for name in ("acme_machines.failure", "acme_machines"):
            sys.modules.pop(name, None)


def test_get_task_lists_the_registered_names_on_a_miss() -> None:
    assert get_task("finance.credit_scoring") is tasks()["finance.credit_scoring"]
    with pytest.raises(TaskRegistryError, match="registered: .*finance.credit_scoring"):
        get_task("finance.nope")


def test_an_empty_registry_says_how_to_install_the_entry_points(monkeypatch) -> None:
    monkeypatch.setattr(task_module, "_TASKS", task_module.MappingProxyType({}))
    with pytest.raises(TaskRegistryError, match=r"no 'verticals.tasks' entry points .*pip install"):
        get_task("finance.credit_scoring")


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
    code = ("import sys; from core.task import tasks; tasks(); "
            "print('streamlit' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "False"
