"""docs/kinds.md stays true: every Kind parameter and every candidate's profile key, with its
type and default, and every declared contract member, has its row."""

from __future__ import annotations

import ast
import dataclasses
import inspect
import re
from pathlib import Path
from typing import Any

import pytest

from core.kinds.contract import METHODS, VALUES
from core.kinds.forecasting import Forecasting
from core.kinds.images import ImageClassification
from core.kinds.sequence import SequenceRegression
from core.kinds.tabular import TabularClassification

DOC = Path(__file__).resolve().parents[2] / "docs" / "kinds.md"
SET_BY_KIND = "set by the Kind"
# One instance per built-in Kind, with a horizon and freq unlike the class defaults so the
# parameters a factory takes from its Kind show up as differences from the class defaults.
KINDS = {
    "TabularClassification": TabularClassification(target="y", id="id"),
    "Forecasting": Forecasting(series="s", time="t", target="y", horizon=3, freq="h"),
    "ImageClassification": ImageClassification(labels=("benign", "malignant")),
    "SequenceRegression": SequenceRegression(unit="u", step="c", label="f"),
}
CONTRACT = [*VALUES, *(f"{name}()" for name in ("key_columns", "benchmarks", "default_models"))]


def sections(text: str, level: str) -> dict[str, str]:
    """Heading line -> the text under it, for headings of exactly `level` ('## ', '#### ')."""
    parts = re.split(rf"^{re.escape(level)}(.+)$", text, flags=re.MULTILINE)
    return {parts[i].strip(): parts[i + 1] for i in range(1, len(parts) - 1, 2)}


def rows(text: str) -> dict[str, list[str]]:
    """Table rows whose first cell is a `code` name: name -> the other cells (unescaped)."""
    found = {}
    for line in text.splitlines():
        if line.startswith("| `"):
            cells = [c.strip().replace("\\|", "|")
                     for c in re.split(r"(?<!\\)\|", line.strip().strip("|"))]
            found[cells[0].strip("`")] = cells[1:]
    return found


def literal(cell: str) -> Any:
    match = re.match(r"`([^`]*)`", cell)
    assert match, f"default {cell!r} must be a `literal`, 'required' or '{SET_BY_KIND} ...'"
    return ast.literal_eval(match.group(1))


def check_rows(table: dict[str, list[str]], parameters: dict[str, tuple[str, Any]],
               where: str, fixed: frozenset[str] = frozenset()) -> list[str]:
    """Problems: parameters without a row, rows for no parameter, wrong types or defaults."""
    problems = [f"{where}: `{n}` is not documented" for n in parameters if n not in table]
    problems += [f"{where}: `{n}` is documented but is no parameter" for n in table
                 if n not in parameters]
    for name, (annotation, default) in parameters.items():
        if name not in table:
            continue
        kind_type, cell = table[name][0], table[name][1]
        if kind_type.strip("`") != annotation:
            problems.append(f"{where}: `{name}` type is {annotation!r}, doc says {kind_type!r}")
        if name in fixed and SET_BY_KIND not in cell:
            problems.append(f"{where}: `{name}` comes from the Kind: say '{SET_BY_KIND}'")
        if SET_BY_KIND in cell:
            continue
        if default is inspect.Parameter.empty:
            if cell != "required":
                problems.append(f"{where}: `{name}` is required, doc says {cell!r}")
        elif literal(cell) != default:
            problems.append(f"{where}: `{name}` default is {default!r}, doc says {cell!r}")
    return problems


def kind_section(kind_name: str) -> str:
    found = sections(DOC.read_text(), "## ")
    assert kind_name in found, f"docs/kinds.md has no '## {kind_name}' section"
    return found[kind_name]


def _default(f: dataclasses.Field) -> object:
    # A default_factory field is optional: its documented default is what the factory makes.
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return inspect.Parameter.empty


@pytest.mark.parametrize("kind_name", list(KINDS))
def test_every_kind_parameter_is_documented(kind_name: str) -> None:
    kind = KINDS[kind_name]
    fields = {f.name: (str(f.type), _default(f)) for f in dataclasses.fields(kind)}
    table = rows(sections(kind_section(kind_name), "### ")["Parameters"])
    assert check_rows(table, fields, kind_name) == []


@pytest.mark.parametrize("kind_name", list(KINDS))
def test_every_contract_member_is_documented(kind_name: str) -> None:
    kind = KINDS[kind_name]
    table = rows(sections(kind_section(kind_name), "### ")["Contract"])
    assert [m for m in CONTRACT if m not in table] == []
    assert {m.split("(")[0] for m in table if "(" in m} <= set(METHODS)  # no stale method
    for member in ("name", "primary_metric", "higher_is_better", "bench_options"):
        assert literal(table[member][0]) == getattr(kind, member), member
    for metric in kind.display_metrics:  # "mae_ratio@3" is documented as "mae_ratio@{horizon}"
        generic = re.sub(r"@\d+$", "@{horizon}", metric)
        cell = table["display_metrics"][0]
        assert f"`{metric}`" in cell or f"`{generic}`" in cell, metric
    for name in kind.benchmarks():
        assert f"`{name}`" in table["benchmarks()"][0], name
    assert kind.batching.name in table["batching"][0]


@pytest.mark.parametrize("kind_name", list(KINDS))
def test_every_candidate_profile_key_is_documented(kind_name: str) -> None:
    kind = KINDS[kind_name]
    blocks = sections(kind_section(kind_name), "#### ")
    problems = []
    for name, factory in kind.default_models().items():
        heading = next((h for h in blocks if f"`{name}`" in h.split(":")[0]), None)
        if heading is None:
            problems.append(f"{kind_name}: candidate `{name}` has no '#### `{name}`: ...' block")
            continue
        model = factory()
        cls = type(model)
        assert f"`{cls.__module__}.{cls.__name__}`" in heading, heading
        assert f"(format `{cls.format}`)" in heading, heading
        signature = inspect.signature(cls.__init__)
        parameters = {p.name: (str(p.annotation), p.default)
                      for p in list(signature.parameters.values())[1:]}
        defaults = cls().get_params()
        fixed = frozenset(k for k, v in model.get_params().items() if defaults.get(k) != v)
        problems += check_rows(rows(blocks[heading]), parameters, f"{kind_name}.{name}", fixed)
    assert problems == []


def test_the_checker_catches_a_missing_a_wrong_and_a_stale_row() -> None:
    table = rows("| `a` | `int` | `1` | x |\n| `b` | `str \\| None` | `None` | y |\n"
                 "| `old` | `int` | `0` | gone |\n")
    problems = check_rows(table, {"a": ("int", 2), "b": ("str | None", None), "c": ("int", 0)},
                          "K")
    assert problems == ["K: `c` is not documented", "K: `old` is documented but is no parameter",
                        "K: `a` default is 2, doc says '`1`'"]
