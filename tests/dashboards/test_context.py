"""The page context: dashboards.context implements core.page.PageContext, the Protocol a Task's
own page is written against."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

from core.page import PageContext
from dashboards.context import CachedPageContext, make_context
from tests.dashboards.handmade import Store
from tests.fakes import make_task

ROOT = Path(__file__).resolve().parents[2]


def protocol_members() -> set[str]:
    return {name for name, value in vars(PageContext).items()
            if not name.startswith("_") and (callable(value) or isinstance(value, property))}


def test_the_cached_context_has_every_member_of_the_protocol(
        handmade: tuple[str, Store]) -> None:
    url, store = handmade
    members = protocol_members()
    assert {"url", "task", "champion", "engine", "table", "query", "input_query", "has_input",
            "fields", "row", "reference", "predictor"} <= members
    ctx = make_context(make_task(), url)
    assert isinstance(ctx, CachedPageContext)
    missing = [name for name in sorted(members) if name not in dir(ctx)]
    assert not missing, f"CachedPageContext lacks PageContext members {missing}"
    for name in members:
        declared = getattr(PageContext, name)
        if callable(declared):
            wanted = list(inspect.signature(declared).parameters)
            assert list(inspect.signature(getattr(CachedPageContext, name)).parameters) == wanted
    # The row of one entity, with the columns `score` reads (labels left out).
    key = store.frame["application_id"].iloc[3]
    row = ctx.row(key)
    assert row["application_id"].tolist() == [key] and "default" not in row.columns
    assert ctx.row("no such id").empty


def test_verticals_pages_import_nothing_from_dashboards() -> None:
    for path in sorted((ROOT / "verticals").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            assert not any(n == "dashboards" or n.startswith("dashboards.") for n in names), (
                f"{path.relative_to(ROOT)}:{node.lineno} imports {names}: pages use "
                "core.page.PageContext, which offers the queries they need")

