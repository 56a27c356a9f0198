"""`verticals bench` and `verticals sample` (pipelines/bench_cli.py) through the CLI."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipelines import cli
from tests.pipelines.test_cli import TASK, invoke, wide_terminal  # noqa: F401 (autouse)


def _card_table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A card-default CSV for the csv adapter; the Task benches LightGBM alone."""
    # The real bench protocol (15 folds) with one candidate keeps these tests to seconds.
    lightgbm_only = replace(TASK, models={"lightgbm": TASK.candidates()["lightgbm"]})
    monkeypatch.setattr(cli, "get_task", lambda name: lightgbm_only)
    rng = np.random.default_rng(0)
    n = 240
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    frame = pd.DataFrame({
        "ID": np.arange(n), "LIMIT_BAL": (x1 * 1000 + 5000).round(),
        "EDUCATION": rng.choice(["school", "university", "other"], n), "PAY_0": x2.round(1),
        "Y": (x1 + x2 + rng.normal(size=n) > 0.5).astype(int),
    })
    path = tmp_path / "cards.csv"
    frame.to_csv(path, index=False)
    return path


def test_bench_prints_one_json_line_and_its_progress_on_stderr(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _card_table(tmp_path, monkeypatch)
    code, out, err = invoke("bench", TASK.name, "--dataset", "csv", "--data", str(path),
                            "--target", "Y", "--id", "ID", "--profile", "smoke")
    assert code == 0
    lines = out.strip().splitlines()
    assert len(lines) == 1
    result = json.loads(lines[0])
    assert result["task"] == TASK.name and result["dataset"] == "csv"
    assert result["best"]["model"] == "lightgbm" and list(result["models"]) == ["lightgbm"]
    assert 0.5 < result["best"]["auc"] <= 1
    # Not a terminal: one line per finished fold, with candidate, fold, elapsed and ETA.
    steps = [line for line in err.splitlines() if line.startswith("cross-validation: ")]
    assert len(steps) == 15
    assert steps[0].startswith("cross-validation: 1/15 · candidate lightgbm · fold 1/15 · ")
    assert "elapsed" in steps[0] and "left" in steps[0]
    assert steps[-1].startswith("cross-validation: 15/15 · candidate lightgbm · fold 15/15")


def test_bench_quiet_prints_its_json_and_nothing_on_stderr(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _card_table(tmp_path, monkeypatch)
    code, out, err = invoke("bench", TASK.name, "--dataset", "csv", "--data", str(path),
                            "--target", "Y", "--id", "ID", "--profile", "smoke", "--quiet")
    assert code == 0 and err == ""
    assert len(out.strip().splitlines()) == 1 and json.loads(out)["models"].keys() == {"lightgbm"}


def test_bench_takes_the_csv_adapters_protected_columns(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _card_table(tmp_path, monkeypatch)
    code, out, err = invoke("bench", TASK.name, "--dataset", "csv", "--data", str(path),
                            "--target", "Y", "--id", "ID", "--profile", "smoke", "--quiet",
                            "--protected", "EDUCATION")
    assert code == 0 and json.loads(out)["models"].keys() == {"lightgbm"}
    code, out, err = invoke("bench", TASK.name, "--dataset", "csv", "--data", str(path),
                            "--target", "Y", "--id", "ID", "--profile", "smoke", "--quiet",
                            "--protected", "SEXX")
    assert code != 0 and out == ""
    assert "SEXX" in err and "LIMIT_BAL" in err and "Traceback" not in err  # names the columns


def test_bench_scaling_takes_its_sizes_and_guard_from_the_command_line(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lightgbm_only = replace(TASK, models={"lightgbm": TASK.candidates()["lightgbm"]})
    monkeypatch.setattr(cli, "get_task", lambda name: lightgbm_only)
    code, out, err = invoke("bench", TASK.name, "--bench", "scaling", "--sizes", "200,400",
                            "--profile", "smoke")
    assert code == 0 and len(out.strip().splitlines()) == 1
    runs = json.loads(out)["models"]["lightgbm"]
    assert list(runs) == ["200", "400"] and all(run["fit_s"] > 0 for run in runs.values())
    assert "scaling: 2/2 · rows 400 · candidate lightgbm" in err
    code, out, err = invoke("bench", TASK.name, "--bench", "scaling", "--sizes", "200,4000",
                            "--max-rows", "1000", "--profile", "smoke")
    assert code == 1 and out == "" and "size 4,000 is above --max-rows 1,000" in err
    assert "Traceback" not in err


def test_bench_refuses_seeds_for_a_kind_whose_protocol_fixes_them(home: Path) -> None:
    code, stdout, stderr = invoke("bench", "finance.credit_scoring", "--dataset", "german_credit",
                                  "--data", str(home), "--seeds", "3")
    assert code == 1 and stdout == ""
    assert "takes no --seeds" in stderr


def test_sample_writes_the_tasks_seeded_generator_output(tmp_path: Path) -> None:
    out = tmp_path / "sample.csv"
    code, stdout, _ = invoke("sample", "finance.credit_scoring", "--rows", "50", "--seed", "3",
                             "--out", str(out))
    assert code == 0 and "wrote 50 rows" in stdout
    written = pd.read_csv(out)
    expected = TASK.sample(50, 3)
    assert list(written.columns) == list(expected.columns)
    assert written["application_id"].tolist() == expected["application_id"].tolist()
    assert not out.with_name(out.name + ".partial").exists()


def test_sample_refuses_zero_rows(tmp_path: Path) -> None:
    code, _, stderr = invoke("sample", "finance.credit_scoring", "--rows", "0",
                             "--out", str(tmp_path / "s.csv"))
    assert code == 2 and "--rows" in stderr
    assert not (tmp_path / "s.csv").exists()


def _files(folder: Path) -> dict[str, tuple[int, int]]:
    return {p.name: (p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(folder.iterdir())
            } if folder.is_dir() else {}


def test_sample_writes_to_the_current_directory_never_into_the_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pipelines.demo import REPO_ROOT, sample_file

    shipped = REPO_ROOT / "data_samples"
    before, root_csv = _files(shipped), sorted(REPO_ROOT.glob("*.csv"))
    monkeypatch.chdir(tmp_path)
    code, stdout, _ = invoke("sample", TASK.name, "--rows", "40", "--seed", "2")
    assert code == 0 and "wrote 40 rows" in stdout and "finance_credit_scoring.csv" in stdout
    written = pd.read_csv(tmp_path / "finance_credit_scoring.csv")
    assert written["application_id"].tolist() == TASK.sample(40, 2)["application_id"].tolist()
    assert _files(shipped) == before and sorted(REPO_ROOT.glob("*.csv")) == root_csv
    if (shipped / "finance_credit_scoring.csv").is_file():  # the demo still reads the shipped one
        assert sample_file(TASK) == shipped / "finance_credit_scoring.csv"
