"""The fill-in templates are themselves conforming Tasks, so a copy starts green."""

from __future__ import annotations

import ast
import io
import tokenize
from importlib import import_module
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from core.task import ENTRY_POINT_GROUP, tasks
from core.testing import check_task

TEMPLATES = ("verticals._template", "verticals._template_forecasting")
DOMAIN_LINES = 80  # DESIGN §3: a plain tabular or forecasting Task is under 80 lines


def code_lines(path: Path) -> int:
    """Lines holding code: blank lines, comments and docstrings do not count."""
    source = path.read_text()
    docstrings: set[int] = set()
    for node in ast.walk(ast.parse(source)):
        body = getattr(node, "body", None)
        if isinstance(node, ast.Module | ast.FunctionDef | ast.ClassDef) and body:
            first = body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) \
                    and isinstance(first.value.value, str):
                docstrings.update(range(first.lineno, first.end_lineno + 1))
    skip = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT,
            tokenize.ENDMARKER}
    lines: set[int] = set()
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type not in skip:
            lines.update(range(token.start[0], token.end[0] + 1))
    return len(lines - docstrings)


@pytest.mark.parametrize("module", TEMPLATES)
def test_template_conforms_and_is_not_registered(module: str) -> None:
    template = import_module(module)
    check_task(template.TASK)
    assert template.TASK.name not in tasks()
    refs = [ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)]
    assert not any(ref.startswith("verticals._template") for ref in refs)


@pytest.mark.parametrize("module", TEMPLATES)
def test_template_is_short_and_says_what_to_fill_in(module: str) -> None:
    path = Path(import_module(module).__file__)
    assert code_lines(path) < DOMAIN_LINES
    text = path.read_text()
    assert text.count("TODO") >= 5
    assert 'project.entry-points."verticals.tasks"' in text  # how to register a copy
