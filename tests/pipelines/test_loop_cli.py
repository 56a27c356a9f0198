"""The loop's commands refuse bad input with one clear line and exit code 1, no traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipelines.cli import app


@pytest.mark.parametrize(("args", "message"), [
    (["schedule", "add", "finance.credit_scoring", "score", "--cron", "*/15 * *"],
     "is not a cron expression"),
    (["schedule", "add", "nowhere.task", "score", "--cron", "* * * * *"], "nowhere.task"),
    (["schedule", "add", "finance.credit_scoring", "deploy", "--cron", "* * * * *"],
     "unknown pipeline 'deploy'"),
    (["schedule", "add", "finance.credit_scoring", "ingest", "--cron", "0 6 * * *",
      "--path", "/no/such/file.csv"], "no such file or folder"),
    (["schedule", "add", "finance.credit_scoring", "score", "--cron", "0 6 * * *"],
     "has no champion to score with"),
    (["monitor", "nowhere.task"], "nowhere.task"),
])
def test_bad_loop_commands_are_one_clear_error(home: Path, args: list[str], message: str
                                               ) -> None:
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1, result.output
    assert "error:" in result.output and message in result.output
    assert "Traceback" not in result.output


def test_export_needs_exactly_one_format(home: Path) -> None:
    result = CliRunner().invoke(app, ["schedule", "export"])
    assert result.exit_code != 0 and "--crontab or --systemd" in result.output
