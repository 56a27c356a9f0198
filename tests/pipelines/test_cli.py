"""The `verticals` CLI through Typer's runner: output, exit codes, clean errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from core.task import get_task, tasks
from pipelines import cli
from pipelines.cli import app
from pipelines.progress_lines import ProgressLines

TASK = get_task("finance.credit_scoring")
runner = CliRunner()


@pytest.fixture(autouse=True)
def wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """A wide console so table cells are not folded mid-word in the captured output."""
    monkeypatch.setattr(cli.out, "width", 200)
    monkeypatch.setattr(cli.err, "width", 200)


def invoke(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def test_tasks_json_lists_every_task(home: Path) -> None:
    code, out, _ = invoke("tasks", "--json")
    assert code == 0 and json.loads(out) == list(tasks())
    assert "finance.credit_scoring" in json.loads(out)


def test_pipeline_commands(home: Path, tmp_path: Path) -> None:
    sample = tmp_path / "applications.csv"
    TASK.sample(600, 1).to_csv(sample, index=False)
    assert invoke("init")[0] == 0

    code, out, _ = invoke("ingest", TASK.name, str(sample))
    assert code == 0 and "600" in out and "accepted" in out

    code, out, _ = invoke("train", TASK.name, "--profile", "smoke", "--model", "scorecard",
                          "--model", "lightgbm")
    assert code == 0 and "leaderboard" in out and "lightgbm" in out
    # Each version's AUC with its bootstrap interval, as the registry recorded it.
    from core import registry
    from core.store.engine import make_engine

    engine = make_engine()
    for version in registry.versions(engine, TASK.name):
        interval = version.intervals["auc"]
        assert f"{interval.low:.3f}-{interval.high:.3f}" in out.replace("\n", "")
    engine.dispose()

    code, out, _ = invoke("models", TASK.name)
    assert code == 0 and "scorecard" in out and "lightgbm" in out

    code, out, _ = invoke("promote", TASK.name, "2")
    assert code == 0 and "version 2" in out
    engine = make_engine()
    assert registry.champion(engine, TASK.name).version == 2

    code, out, _ = invoke("score", TASK.name, "--chunk-size", "250")
    assert code == 0 and "scored 600 row(s)" in out and "3 batch(es)" in out

    code, out, _ = invoke("runs", "--task", TASK.name)
    assert code == 0 and all(word in out for word in ("ingest", "train", "score", "succeeded"))
    header = next(line for line in out.splitlines() if "pipeline" in line)
    assert "task" not in header  # filtered to one Task: its name is the title, not a column
    code, out, _ = invoke("runs")
    header = next(line for line in out.splitlines() if "pipeline" in line)
    assert code == 0 and "task" in header
    engine.dispose()


@pytest.mark.parametrize("args, message", [
    (("ingest", "finance.credit_scoring", "missing.csv"), "file not found"),
    (("train", "finance.credit_scoring", "--profile", "smoke"), "no labelled rows"),
    (("score", "finance.credit_scoring"), "no champion"),
    (("promote", "finance.credit_scoring", "7"), "no model version 7"),
    (("models", "no.such_task"), "no Task named 'no.such_task'"),
    (("bench", "finance.credit_scoring", "--dataset", "nope", "--data", "."), "no dataset"),
])
def test_user_errors_are_one_clean_line(home: Path, args: tuple[str, ...], message: str) -> None:
    code, out, err = invoke(*args)
    assert code == 1 and message in err
    assert "Traceback" not in out + err


def test_progress_on_a_terminal_is_live_bars_that_leave_no_trail() -> None:
    import io

    from rich.console import Console

    from core import progress

    screen = io.StringIO()
    lines = ProgressLines(Console(file=screen, force_terminal=True, width=120))
    with progress.listen(lines), progress.task("cross-validation", total=2):
        progress.update(candidate="lightgbm", fold="1/2")
        progress.advance()
        assert lines.bars.live.is_started and len(lines.ids) == 1
    assert not lines.bars.live.is_started and lines.ids == {}
    assert "cross-validation" in screen.getvalue()
    assert "cross-validation: 1/2" not in screen.getvalue()  # bars, not log lines


def test_progress_in_a_log_prints_finished_steps_and_long_steps_now_and_then() -> None:
    import io

    from rich.console import Console

    from core import progress

    log = io.StringIO()
    lines = ProgressLines(Console(file=log, width=200), every_s=0.0)
    with progress.listen(lines), progress.task("bench images (full)"):
        progress.update(candidate="cnn", seed=0)
        progress.update(epoch="1/30")
    assert [line.split(" · 0:00")[0] for line in log.getvalue().splitlines()] == [
        "bench images (full): 0/? · candidate cnn · seed 0",
        "bench images (full): 0/? · candidate cnn · seed 0 · epoch 1/30"]
    quiet = io.StringIO()
    lines = ProgressLines(Console(file=quiet, width=200))  # every 30 s: none this fast
    with progress.listen(lines), progress.task("bench images (full)"):
        progress.update(candidate="cnn", epoch="1/30")
    assert quiet.getvalue() == ""


def test_train_reports_each_candidate_and_quiet_silences_it(home: Path, tmp_path: Path) -> None:
    sample = tmp_path / "applications.csv"
    TASK.sample(400, 2).to_csv(sample, index=False)
    assert invoke("ingest", TASK.name, str(sample))[0] == 0
    args = ("train", TASK.name, "--profile", "smoke", "--model", "scorecard", "--model",
            "lightgbm")
    code, out, err = invoke(*args)
    assert code == 0 and "leaderboard" in out
    steps = [line for line in err.splitlines() if line.startswith("candidates: ")]
    assert [s.split(" · ")[:2] for s in steps] == [["candidates: 1/2", "candidate scorecard"],
                                                    ["candidates: 2/2", "candidate lightgbm"]]
    code, out, err = invoke(*args, "--quiet")
    assert code == 0 and "leaderboard" in out and err == ""


def _stored(home: Path, sql: str) -> list[tuple]:
    from core.store.engine import make_engine

    engine = make_engine()
    try:
        with engine.connect() as conn:
            return [tuple(row) for row in conn.execute(sa.text(sql))]
    finally:
        engine.dispose()


def test_ingest_picks_the_dicom_adapter_by_suffix_and_keeps_paths_out(home: Path,
                                                                       tmp_path: Path) -> None:
    import shutil

    from pydicom.data import get_testdata_file

    folder = tmp_path / "Doe_John_1961"  # patient folders are named like this in the wild
    folder.mkdir()
    shutil.copy(get_testdata_file("CT_small.dcm"), folder / "one.dcm")
    shutil.copy(get_testdata_file("MR_small.dcm"), folder / "two.dcm")

    code, stdout, stderr = invoke("ingest", "healthcare.imaging_diagnosis", str(folder / "one.dcm"))
    assert code == 0, stderr
    code, _, stderr = invoke("ingest", "healthcare.imaging_diagnosis", str(folder))
    assert code == 0, stderr
    rows = _stored(
        home, "SELECT modality FROM input_healthcare_imaging_diagnosis ORDER BY modality"
    )
    assert rows == [("CT",), ("MR",)]  # the folder re-reads one.dcm: skipped, not duplicated
    runs = _stored(home, "SELECT params FROM pipeline_runs WHERE pipeline = 'ingest'")
    assert len(runs) == 2
    assert all("Doe_John" not in params and "dicom:sha256:" in params for (params,) in runs)


def test_ingest_of_a_corrupt_dicom_is_a_clean_error_that_writes_nothing(home: Path,
                                                                       tmp_path: Path) -> None:
    fake = tmp_path / "scan.dcm"
    fake.write_text("PatientName,Doe^John\n")
    code, _, stderr = invoke("ingest", "healthcare.imaging_diagnosis", str(fake))
    assert code == 1 and "not a DICOM file" in stderr and "Traceback" not in stderr
    assert _stored(home, "SELECT count(*) FROM input_healthcare_imaging_diagnosis") == [(0,)]
    assert _stored(home, "SELECT status FROM pipeline_runs") == [("failed",)]


def test_train_from_a_private_folder_names_it_by_digest_never_by_path(home: Path,
                                                                      tmp_path: Path) -> None:
    from PIL import Image

    folder = tmp_path / "Doe_Jane_1961"  # a folder named after the patient
    for label in ("benign", "malignant"):
        (folder / "train" / label).mkdir(parents=True)
        (folder / "test" / label).mkdir(parents=True)
        for i in range(12):
            for split in ("train", "test"):
                pixels = np.random.default_rng(i).integers(0, 255, (28, 28), dtype=np.uint8)
                Image.fromarray(pixels).save(folder / split / label / f"{i}.png")
    code, _, stderr = invoke("train", "healthcare.imaging_diagnosis", "--profile", "smoke",
                             "--model", "logistic", "--dataset", "image_folder",
                             "--data", str(folder))
    assert code == 0, stderr
    stored = _stored(home, "SELECT dataset FROM model_versions") + _stored(
        home, "SELECT params FROM pipeline_runs")
    assert stored and not any("Doe" in str(row) for row in stored)
    assert _stored(home, "SELECT dataset FROM model_versions")[0][0].startswith(
        "image_folder:sha256:")
