"""Ingest deduplicates on the whole key (`Kind.key_columns()`), on SQLite and PostgreSQL.

New rows of a known series are accepted, the same rows again add nothing, rows whose key is
stored are counted "already in store", and later copies of a key within one file are
quarantined (`duplicate_key(...)`) while the first valid copy is written.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

import pipelines.ingest as ingest_module
from core.store.engine import ensure_task_table, make_engine, read_task_frame
from core.store.schema import quarantine
from core.task import Task
from pipelines import cli
from pipelines.bench import data_root
from pipelines.ingest import IngestResult, ingest_dataset, ingest_file
from tests.fakes import FAKE_SCHEMA, FakeKind, fake_sample, make_task
from verticals.finance import credit_scoring, stock_forecasting

STOCKS = stock_forecasting.TASK
CREDIT = credit_scoring.TASK
FAKE = make_task("test.ingest_keys")
TABULAR = [pytest.param(FAKE, id="fake"), pytest.param(CREDIT, id="credit")]


@dataclass(frozen=True)
class ReadingsKind(FakeKind):
    """A fake Kind keyed by series + a tz-aware time (sensor readings), entity the series."""

    def key_columns(self) -> tuple[str, ...]:
        return (self.entity, "applied_at")


READINGS = make_task("test.ingest_readings", kind=ReadingsKind(), schema=FAKE_SCHEMA.update_column(
    "applied_at", dtype=pd.DatetimeTZDtype("ns", "UTC")))


def _csv(tmp_path: Path, frame: pd.DataFrame, name: str) -> Path:
    path = tmp_path / name
    frame.to_csv(path, index=False)
    return path


def _stored(engine: sa.Engine, task: Task) -> pd.DataFrame:
    ensure_task_table(engine, task)
    with engine.connect() as conn:
        frame = read_task_frame(conn, task, columns=[*task.schema.columns, "_run_id"])
    return frame.astype({"_run_id": int})  # read back as text (an Integer, not a schema column)


def _quarantined(engine: sa.Engine, run_id: int) -> list[sa.Row]:
    with engine.connect() as conn:
        return conn.execute(sa.select(quarantine).where(quarantine.c.run_id == run_id)
                            .order_by(quarantine.c.row_number)).all()


def _counts(result: IngestResult) -> tuple[int, int, int, int]:
    return result.rows_read, result.accepted, result.skipped_existing, result.quarantined


def _by_key(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    return frame.sort_values(keys, kind="stable").reset_index(drop=True)


def _same_rows(stored: pd.DataFrame, expected: pd.DataFrame, keys: list[str]) -> None:
    columns = list(expected.columns)
    pd.testing.assert_frame_equal(_by_key(stored[columns], keys), _by_key(expected, keys),
                                  check_dtype=False, check_exact=False, rtol=1e-12)


# --- forecasting: series + time -------------------------------------------------------------


def _bars(n: int = 600) -> pd.DataFrame:
    return stock_forecasting.sample(n, seed=3)  # 5 tickers x 120 business days


def test_new_days_of_known_series_are_accepted_and_repeats_add_nothing(
    engine: sa.Engine, tmp_path: Path
) -> None:
    bars = _bars()
    # The first 80 days of three tickers: the full file adds 40 days to each of those and
    # two whole new series.
    part = bars[bars["ticker"].isin(["TCK1", "TCK2", "TCK3"])].groupby("ticker").head(80)
    first = ingest_file(engine, STOCKS, _csv(tmp_path, part, "part.csv"))
    assert _counts(first) == (240, 240, 0, 0)
    full = ingest_file(engine, STOCKS, _csv(tmp_path, bars, "full.csv"))
    assert _counts(full) == (600, 360, 240, 0)
    stored = _stored(engine, STOCKS)
    assert len(stored) == 600
    _same_rows(stored, bars, ["ticker", "date"])
    runs = stored.groupby("_run_id").size().to_dict()
    assert runs == {first.run_id: 240, full.run_id: 360}
    new_days = stored[stored["_run_id"] == full.run_id]
    assert (new_days.groupby("ticker")["date"].min()[["TCK1", "TCK2", "TCK3"]]
            == bars["date"].min() + pd.offsets.BDay(80)).all()

    again = ingest_file(engine, STOCKS, _csv(tmp_path, bars, "full.csv"))
    assert _counts(again) == (600, 0, 600, 0)
    assert len(_stored(engine, STOCKS)) == 600 and not _quarantined(engine, again.run_id)


def test_one_date_in_several_series_is_several_keys(engine: sa.Engine, tmp_path: Path) -> None:
    bars = _bars()
    day = bars["date"].iloc[0]
    ingest_file(engine, STOCKS, _csv(tmp_path, bars[bars["ticker"] == "TCK1"], "one.csv"))
    same_day = bars[bars["date"] == day]  # the same date for all five tickers
    result = ingest_file(engine, STOCKS, _csv(tmp_path, same_day, "day.csv"))
    assert _counts(result) == (5, 4, 1, 0)
    stored = _stored(engine, STOCKS)
    assert sorted(stored.loc[stored["date"] == day, "ticker"]) == [f"TCK{i}" for i in range(1, 6)]


def test_yahoo_folder_appends_new_bars(engine: sa.Engine, tmp_path: Path) -> None:
    """The issue's case in small: a Yahoo folder re-read with more bars per ticker."""
    bars = _bars()
    yahoo = {v: k for k, v in stock_forecasting.YAHOO_COLUMNS.items()}

    def folder(name: str, days: int) -> Path:
        path = tmp_path / name
        path.mkdir()
        for ticker, rows in bars.groupby("ticker"):
            (rows.head(days).drop(columns="ticker").rename(columns=yahoo)
             .assign(Date=lambda f: f["Date"].dt.strftime("%Y-%m-%d"))
             .to_csv(path / f"{ticker}.csv", index=False))
        return path

    dataset = STOCKS.datasets["yahoo_csv"]
    part = ingest_dataset(engine, STOCKS, dataset, folder("part", 100))
    assert _counts(part) == (500, 500, 0, 0)
    full_folder = folder("full", 120)
    full = ingest_dataset(engine, STOCKS, dataset, full_folder)
    assert _counts(full) == (600, 100, 500, 0)
    again = ingest_dataset(engine, STOCKS, dataset, full_folder)
    assert _counts(again) == (600, 0, 600, 0)
    _same_rows(_stored(engine, STOCKS), bars, ["ticker", "date"])


def test_a_repeated_bar_in_one_file_keeps_the_first(engine: sa.Engine, tmp_path: Path) -> None:
    bars = _bars()
    repeat = bars.iloc[[7]].assign(close=1.5, adj_close=1.25)  # same ticker + date, new prices
    # Given twice, the second time as the same instant written differently.
    repeat_text = repeat.astype(object).assign(
        date=repeat["date"].dt.strftime("%Y-%m-%dT%H:%M:%S"))
    frame = pd.concat([bars, repeat, repeat_text], ignore_index=True)
    result = ingest_file(engine, STOCKS, _csv(tmp_path, frame, "repeated.csv"))
    assert _counts(result) == (602, 600, 0, 2)
    assert result.reasons == {("", "duplicate_key(ticker, date)"): 2}
    stored = _stored(engine, STOCKS)
    assert len(stored) == 600
    _same_rows(stored, bars, ["ticker", "date"])  # the first copy's prices, not 1.5 / 1.25
    rows = _quarantined(engine, result.run_id)
    day = bars["date"].iloc[7].strftime("%Y-%m-%d")  # to_csv writes it with 00:00:00
    assert [(r.row_number, r.column, r.rule) for r in rows] == [
        (601, None, "duplicate_key(ticker, date)"), (602, None, "duplicate_key(ticker, date)")]
    assert rows[0].value == f"TCK1, {day} 00:00:00" and rows[1].value == f"TCK1, {day}T00:00:00"
    assert json.loads(rows[0].payload)["close"] == "1.5"
    # The same file again: every row's key is stored, so nothing is quarantined twice.
    again = ingest_file(engine, STOCKS, _csv(tmp_path, frame, "repeated.csv"))
    assert _counts(again) == (602, 0, 602, 0) and not _quarantined(engine, again.run_id)


def test_lookup_in_slices_matches_every_stored_key(
    engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Many look-up slices, each narrowed to its own series' date range, miss no stored key."""
    monkeypatch.setattr(ingest_module, "_KEY_LOOKUP_SLICE", 2)
    bars = _bars()
    # Every other day of every ticker first, then the whole file.
    stored_first = bars.groupby("ticker").nth(slice(None, None, 2))
    first = ingest_file(engine, STOCKS, _csv(tmp_path, stored_first, "half.csv"))
    full = ingest_file(engine, STOCKS, _csv(tmp_path, bars, "full.csv"))
    assert _counts(first) == (300, 300, 0, 0) and _counts(full) == (600, 300, 300, 0)
    _same_rows(_stored(engine, STOCKS), bars, ["ticker", "date"])


def test_tz_aware_time_keys_match_on_both_dialects(engine: sa.Engine, tmp_path: Path) -> None:
    readings = fake_sample(40, seed=5).assign(application_id=lambda f: "S" + (f.index % 4).astype(
        str), applied_at=lambda f: f["applied_at"].dt.tz_localize("UTC"))
    ingest_file(engine, READINGS, _csv(tmp_path, readings.iloc[:25], "part.csv"))
    # The same instants written in another zone are the same keys.
    shifted = readings.assign(applied_at=readings["applied_at"].dt.tz_convert("Asia/Tokyo"))
    result = ingest_file(engine, READINGS, _csv(tmp_path, shifted, "full.csv"))
    assert _counts(result) == (40, 15, 25, 0)
    stored = _stored(engine, READINGS)
    assert len(stored) == 40
    assert set(stored["applied_at"]) == set(readings["applied_at"].dt.floor("us"))


# --- tabular: the id ------------------------------------------------------------------------


def _applications(task: Task, n: int) -> pd.DataFrame:
    return task.sample(n, seed=11).reset_index(drop=True)


def _id(task: Task) -> str:
    return task.kind.entity


@pytest.mark.parametrize("task", TABULAR)
def test_new_ids_are_accepted_known_ids_skipped(
    engine: sa.Engine, tmp_path: Path, task: Task
) -> None:
    rows = _applications(task, 60)
    first = ingest_file(engine, task, _csv(tmp_path, rows.iloc[:40], "part.csv"))
    assert _counts(first) == (40, 40, 0, 0)
    full = ingest_file(engine, task, _csv(tmp_path, rows, "full.csv"))
    assert _counts(full) == (60, 20, 40, 0)
    again = ingest_file(engine, task, _csv(tmp_path, rows, "full.csv"))
    assert _counts(again) == (60, 0, 60, 0)
    stored = _stored(engine, task)
    assert len(stored) == 60
    _same_rows(stored, rows, [_id(task)])
    assert (stored.set_index(_id(task))["_run_id"][rows[_id(task)]].to_numpy()
            == [first.run_id] * 40 + [full.run_id] * 20).all()


@pytest.mark.parametrize("task", TABULAR)
def test_a_known_id_with_other_values_is_skipped(
    engine: sa.Engine, tmp_path: Path, task: Task
) -> None:
    rows = _applications(task, 10)
    ingest_file(engine, task, _csv(tmp_path, rows, "first.csv"))
    number = "months" if task is FAKE else "duration_months"
    changed = rows.iloc[[3]].assign(**{number: 24 if rows[number].iloc[3] != 24 else 36})
    result = ingest_file(engine, task, _csv(tmp_path, changed, "changed.csv"))
    assert _counts(result) == (1, 0, 1, 0)
    stored = _stored(engine, task)
    _same_rows(stored, rows, [_id(task)])  # the stored row keeps its first values


@pytest.mark.parametrize("task", TABULAR)
def test_a_repeated_id_in_one_file_keeps_the_first_valid_copy(
    engine: sa.Engine, tmp_path: Path, task: Task
) -> None:
    rows = _applications(task, 10)
    number = "months" if task is FAKE else "duration_months"
    ident = _id(task)
    later = rows.iloc[[2]].assign(**{number: 30})  # a second copy of row 2, other values
    invalid = rows.iloc[[5]].astype(object).assign(**{number: "many"})  # bad, before row 5's copy
    frame = pd.concat([rows.iloc[:5], invalid, rows.iloc[5:], later], ignore_index=True)
    result = ingest_file(engine, task, _csv(tmp_path, frame, "repeated.csv"))
    # The invalid copy of row 5 is quarantined for its value; its valid copy is written.
    assert _counts(result) == (12, 10, 0, 2)
    assert result.reasons == {(number, f"dtype('{task.schema.columns[number].dtype}')"): 1,
                              ("", f"duplicate_key({ident})"): 1}
    stored = _stored(engine, task)
    _same_rows(stored, rows, [ident])
    found = {(r.row_number, r.column, r.rule, r.value) for r in _quarantined(engine, result.run_id)}
    assert found == {(6, number, f"dtype('{task.schema.columns[number].dtype}')", "many"),
                     (12, None, f"duplicate_key({ident})", rows[ident].iloc[2])}


@pytest.mark.parametrize("task", TABULAR)
def test_a_repeated_id_already_stored_is_only_skipped(
    engine: sa.Engine, tmp_path: Path, task: Task
) -> None:
    rows = _applications(task, 6)
    ingest_file(engine, task, _csv(tmp_path, rows, "first.csv"))
    twice = pd.concat([rows, rows.iloc[[0, 0]]], ignore_index=True)
    result = ingest_file(engine, task, _csv(tmp_path, twice, "twice.csv"))
    assert _counts(result) == (8, 0, 8, 0)
    assert len(_stored(engine, task)) == 6


def test_many_ids_need_many_lookup_slices(
    engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ingest_module, "_KEY_LOOKUP_SLICE", 7)
    rows = _applications(FAKE, 100)
    rng = np.random.default_rng(0)
    first = rows.iloc[np.sort(rng.choice(100, 45, replace=False))]
    ingest_file(engine, FAKE, _csv(tmp_path, first, "some.csv"))
    result = ingest_file(engine, FAKE, _csv(tmp_path, rows.sample(frac=1, random_state=1),
                                            "shuffled.csv"))
    assert _counts(result) == (100, 55, 45, 0)
    _same_rows(_stored(engine, FAKE), rows, ["application_id"])


def test_the_tasks_schema_is_left_as_declared(engine: sa.Engine, tmp_path: Path) -> None:
    """Ingest relaxes the key's uniqueness and the labels on a copy, never the Task's schema."""
    ingest_file(engine, CREDIT, _csv(tmp_path, _applications(CREDIT, 3), "credit.csv"))
    ingest_file(engine, STOCKS, _csv(tmp_path, _bars().head(3), "bars.csv"))
    assert STOCKS.schema.unique == ["ticker", "date"]
    assert CREDIT.schema.columns["application_id"].unique
    assert CREDIT.schema.columns["default"].required


# --- the case through the CLI, on the real Yahoo data -------------------------------


def _yahoo_aapl() -> Path:
    root = data_root()
    path = root / "stocks_daily" / "AAPL.csv" if root is not None else None
    if path is None or not path.is_file():
        pytest.skip("stocks_daily/AAPL.csv not found (set VERTICALS_DATA)")
    return path


def test_cli_reingest_of_a_longer_yahoo_folder_accepts_the_new_bars(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """AAPL's first 2,000 bars, then all 2,553, then all again (the GitHub issue)."""
    monkeypatch.setattr(cli.out, "width", 200)
    aapl = _yahoo_aapl()
    part, full = tmp_path / "yahoo_part", tmp_path / "yahoo_full"
    part.mkdir(), full.mkdir()
    lines = aapl.read_text().splitlines(keepends=True)
    (part / "AAPL.csv").write_text("".join(lines[:2001]))  # header + 2,000 bars
    (full / "AAPL.csv").write_text("".join(lines))
    outputs = []
    for folder in (part, full, full):
        result = CliRunner().invoke(cli.app, ["ingest", STOCKS.name, str(folder)])
        assert result.exit_code == 0, result.output
        outputs.append(result.stdout.splitlines()[-1])
    assert outputs == [
        "2000 new rows accepted, 0 already in store (same ticker + date: skipped), 0 quarantined",
        "553 new rows accepted, 2000 already in store (same ticker + date: skipped), "
        "0 quarantined",
        "0 new rows accepted, 2553 already in store (same ticker + date: skipped), 0 quarantined",
    ]
    engine = make_engine(db_url)
    try:
        stored = _stored(engine, STOCKS)
    finally:
        engine.dispose()
    expected = stock_forecasting.yahoo_csv(full)
    assert len(stored) == 2553
    _same_rows(stored, expected, ["ticker", "date"])
