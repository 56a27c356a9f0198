"""Bad input to the finance Tasks (issue #15): a message, never a traceback; every good row kept;
each bad row quarantined with its rule; nothing accepted that is wrong. Both dialects."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from core.store.engine import ensure_task_table
from core.store.schema import pipeline_runs, quarantine
from core.task import get_task
from pipelines.cli import app
from pipelines.ingest import IngestError, ingest_dataset, ingest_file
from pipelines.validation import EXTRA_FIELDS, read_csv

CREDIT = get_task("finance.credit_scoring")
STOCK = get_task("finance.stock_forecasting")
WINDOW = "in_range(1900-01-01, today + 7 days)"
PRICE = "in_range(0.0001, 10000000.0)"


def _invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception  # a traceback fails the test loudly
    return result.exit_code, result.stdout + result.stderr


def _credit_csv(tmp_path: Path, cells: dict[tuple[int, str], str], rows: int = 10) -> Path:
    frame = CREDIT.sample(rows, 1).astype(object)
    for (row, column), value in cells.items():
        frame.loc[row, column] = value
    path = tmp_path / "applications.csv"
    frame.to_csv(path, index=False)
    return path


def _stock_csv(tmp_path: Path, cells: dict[tuple[int, str], str], rows: int = 200) -> Path:
    frame = STOCK.sample(rows, 1).astype(object)
    for (row, column), value in cells.items():
        frame.loc[row, column] = value
    path = tmp_path / "bars.csv"
    frame.to_csv(path, index=False)
    return path


def _quarantined(engine: sa.Engine) -> list[tuple]:
    with engine.connect() as conn:
        rows = conn.execute(sa.select(quarantine).order_by(quarantine.c.row_number,
                                                           quarantine.c.column)).all()
    return [(r.row_number, r.column, r.rule, r.value) for r in rows]


def _stored(engine: sa.Engine, task: object, column: str) -> list:
    table = ensure_task_table(engine, task)  # type: ignore[arg-type]
    with engine.connect() as conn:
        return list(conn.execute(sa.select(table.c[column]).order_by(table.c._row_id)).scalars())


def _day(value: object) -> str:
    return str(pd.Timestamp(value).date())


# --- credit scoring ------------------------------------------------------------------------


def test_credit_date_with_an_offset_keeps_its_local_date(engine: sa.Engine,
                                                         tmp_path: Path) -> None:
    path = _credit_csv(tmp_path, {(2, "application_date"): "2024-03-01T00:00:00+02:00",
                                  (3, "application_date"): "2024-03-02T23:30:00Z"})
    result = ingest_file(engine, CREDIT, path)
    assert (result.accepted, result.quarantined) == (10, 0)
    dates = [pd.Timestamp(value) for value in _stored(engine, CREDIT, "application_date")]
    assert dates[2] == pd.Timestamp("2024-03-01 00:00")  # the wall-clock time as written
    assert dates[3] == pd.Timestamp("2024-03-02 23:30")


def test_credit_infinite_integer_is_quarantined(engine: sa.Engine, tmp_path: Path) -> None:
    path = _credit_csv(tmp_path, {(2, "age_years"): "inf", (5, "credit_amount"): "-inf",
                                  (6, "duration_months"): "1e30"})
    result = ingest_file(engine, CREDIT, path)
    assert (result.accepted, result.quarantined) == (7, 3)
    assert _quarantined(engine) == [(3, "age_years", "finite", "inf"),
                                    (6, "credit_amount", "finite", "-inf"),
                                    (7, "duration_months", "dtype('int64')", "1e30")]


def test_credit_row_with_extra_fields_is_quarantined_with_its_line(
    engine: sa.Engine, tmp_path: Path
) -> None:
    path = _credit_csv(tmp_path, {})
    lines = path.read_text().splitlines()
    lines[4] += ",surplus,values"  # data row 4, line 5 of the file
    path.write_text("\n".join(lines) + "\n")
    code, out = _invoke("ingest", CREDIT.name, str(path))
    assert code == 0 and "extra_fields" in out and "Traceback" not in out
    ((row, column, rule, value),) = _quarantined(engine)
    assert (row, column, rule) == (4, None, "extra_fields")
    assert value.startswith("line 5 of applications.csv has 25 fields where the header has 23")
    assert "'surplus', 'values'" in value and "quote the values" in value
    assert len(_stored(engine, CREDIT, "application_id")) == 9


@pytest.mark.parametrize("date", ["9999-01-01", "1500-06-01", "2099-01-01", "1899-12-31"])
def test_credit_date_outside_the_window_quarantines_only_its_row(
    engine: sa.Engine, tmp_path: Path, date: str
) -> None:
    path = _credit_csv(tmp_path, {(4, "application_date"): date})
    result = ingest_file(engine, CREDIT, path)
    assert (result.accepted, result.quarantined) == (9, 1)
    ((row, column, rule, value),) = _quarantined(engine)
    assert (row, column, rule) == (5, "application_date", WINDOW) and value.startswith(date)


def test_nul_byte_is_quarantined_never_cut(engine: sa.Engine, tmp_path: Path) -> None:
    path = _credit_csv(tmp_path, {(2, "age_years"): "45\x007", (6, "purpose"): "car_\x00new"})
    code, out = _invoke("ingest", CREDIT.name, str(path))
    assert code == 0 and "nul_byte" in out
    assert _quarantined(engine) == [(3, "age_years", "nul_byte", "45\\x007"),
                                    (7, "purpose", "nul_byte", "car_\\x00new")]
    assert 45 not in _stored(engine, CREDIT, "age_years")[2:3]
    assert len(_stored(engine, CREDIT, "application_id")) == 8
    with engine.connect() as conn:
        payload = conn.execute(sa.select(quarantine.c.payload)
                               .where(quarantine.c.row_number == 3)).scalar_one()
    assert json.loads(payload)["age_years"] == "45\x007"  # the row as written, for the fix


# --- stock forecasting: schema CSVs ---------------------------------------------------------


def test_stock_date_with_an_offset_keeps_its_local_date(engine: sa.Engine,
                                                        tmp_path: Path) -> None:
    frame = STOCK.sample(200, 1)
    day = frame.loc[2, "date"]
    path = _stock_csv(tmp_path, {(2, "date"): f"{day.date()} 00:00:00-05:00"})
    result = ingest_file(engine, STOCK, path)
    assert (result.accepted, result.quarantined) == (200, 0)
    assert pd.Timestamp(_stored(engine, STOCK, "date")[2]) == day


@pytest.mark.parametrize("value, rule", [
    ("inf", "finite"), ("-inf", "finite"), ("1e308", PRICE), ("1e-300", PRICE), ("0", PRICE),
    ("-3.5", PRICE), ("2e7", PRICE),
])
def test_stock_implausible_price_is_quarantined(
    engine: sa.Engine, tmp_path: Path, value: str, rule: str
) -> None:
    path = _stock_csv(tmp_path, {(7, "adj_close"): value})
    result = ingest_file(engine, STOCK, path)
    assert (result.accepted, result.quarantined) == (199, 1)
    ((row, column, found, _),) = _quarantined(engine)
    assert (row, column, found) == (8, "adj_close", rule)


@pytest.mark.parametrize("date", ["1500-01-02", "2099-01-02", "9999-12-31"])
def test_stock_date_outside_the_window_is_quarantined(
    engine: sa.Engine, tmp_path: Path, date: str
) -> None:
    path = _stock_csv(tmp_path, {(9, "date"): date})
    result = ingest_file(engine, STOCK, path)
    assert (result.accepted, result.quarantined) == (199, 1)
    ((row, column, rule, _),) = _quarantined(engine)
    assert (row, column, rule) == (10, "date", WINDOW)


def test_stock_file_without_its_price_column_is_refused(engine: sa.Engine,
                                                        tmp_path: Path) -> None:
    path = tmp_path / "no_price.csv"
    STOCK.sample(200, 1).drop(columns=["adj_close"]).to_csv(path, index=False)
    code, out = _invoke("ingest", STOCK.name, str(path))
    assert code == 1 and "Traceback" not in out
    assert str(path) in out.replace("\n", "") and "missing required column(s): adj_close" in out
    assert _stored(engine, STOCK, "ticker") == [] and _quarantined(engine) == []
    with engine.connect() as conn:
        (status,) = conn.execute(sa.select(pipeline_runs.c.status)).scalars().all()
    assert status == "failed"


def test_stock_nul_byte_is_quarantined(engine: sa.Engine, tmp_path: Path) -> None:
    result = ingest_file(engine, STOCK, _stock_csv(tmp_path, {(3, "adj_close"): "45\x007"}))
    assert (result.accepted, result.quarantined) == (199, 1)
    assert _quarantined(engine) == [(4, "adj_close", "nul_byte", "45\\x007")]


# --- stock forecasting: the Yahoo folder adapter ----------------------------------------------


def _yahoo_folder(tmp_path: Path, edit: dict[tuple[int, str], str] | None = None,
                  yfinance: bool = False) -> Path:
    """AAA.csv (edited) and BBB.csv, 20 bars each, as Yahoo (or yfinance) writes them."""
    folder = tmp_path / "yahoo"
    folder.mkdir()
    for seed, ticker in enumerate(("AAA", "BBB")):
        bars = STOCK.sample(20, seed)
        dates = bars["date"].dt.strftime("%Y-%m-%d" + (" 00:00:00-05:00" if yfinance else ""))
        frame = pd.DataFrame({
            "Date": dates, "Open": bars["open"], "High": bars["high"], "Low": bars["low"],
            "Close": bars["close"], "Adj Close": bars["adj_close"], "Volume": bars["volume"],
        }).astype(object)
        for (row, column), value in (edit or {}).items() if ticker == "AAA" else ():
            frame.loc[row, column] = value
        frame.to_csv(folder / f"{ticker}.csv", index=False)
    return folder


def test_yahoo_yfinance_dates_are_the_exchanges_local_dates(engine: sa.Engine,
                                                             tmp_path: Path) -> None:
    folder = _yahoo_folder(tmp_path, yfinance=True)
    code, out = _invoke("ingest", STOCK.name, str(folder))
    assert code == 0 and "40 new rows accepted" in out
    days = [_day(value) for value in _stored(engine, STOCK, "date")]
    expected = [_day(day) for seed in (0, 1) for day in STOCK.sample(20, seed)["date"]]
    assert days == expected
    assert all(pd.Timestamp(value).hour == 0 for value in _stored(engine, STOCK, "date"))


def test_yahoo_bad_cells_quarantine_their_rows_and_keep_the_rest(engine: sa.Engine,
                                                                 tmp_path: Path) -> None:
    folder = _yahoo_folder(tmp_path, {(3, "Close"): "abc", (6, "Date"): "2015-02-30",
                                      (9, "Adj Close"): "inf", (12, "Volume"): "45\x007"})
    code, out = _invoke("ingest", STOCK.name, str(folder))
    assert code == 0 and "36 new rows accepted" in out and "4 quarantined" in out
    with engine.connect() as conn:
        rows = conn.execute(sa.select(quarantine).order_by(quarantine.c.row_number)).all()
    found = [(json.loads(r.payload)["origin"], r.column, r.rule, r.value) for r in rows]
    assert found == [("AAA.csv:5", "close", "dtype('float64')", "abc"),
                     ("AAA.csv:8", "date", "dtype('datetime64[ns]')", "2015-02-30"),
                     ("AAA.csv:11", "adj_close", "finite", "inf"),
                     ("AAA.csv:14", "volume", "nul_byte", "45\\x007")]
    tickers = _stored(engine, STOCK, "ticker")
    assert tickers.count("AAA") == 16 and tickers.count("BBB") == 20


def test_yahoo_implausible_price_and_date_are_quarantined(engine: sa.Engine,
                                                          tmp_path: Path) -> None:
    folder = _yahoo_folder(tmp_path, {(2, "Adj Close"): "1e308", (4, "Date"): "1500-01-05"})
    result = ingest_dataset(engine, STOCK, STOCK.datasets["yahoo_csv"], folder)
    assert (result.accepted, result.quarantined) == (38, 2)
    assert {(c, rule) for _, c, rule, _ in _quarantined(engine)} == {
        ("adj_close", PRICE), ("date", WINDOW)}


def test_yahoo_file_without_adj_close_refuses_the_folder_by_name(engine: sa.Engine,
                                                                 tmp_path: Path) -> None:
    folder = _yahoo_folder(tmp_path)
    pd.read_csv(folder / "BBB.csv").drop(columns=["Adj Close"]).to_csv(folder / "BBB.csv",
                                                                      index=False)
    with pytest.raises(IngestError, match=r"BBB\.csv: not a Yahoo CSV, missing columns "
                                          r"\['Adj Close'\].*auto_adjust=False"):
        ingest_dataset(engine, STOCK, STOCK.datasets["yahoo_csv"], folder)
    assert _stored(engine, STOCK, "ticker") == [] and _quarantined(engine) == []


# --- the CSV reader ----------------------------------------------------------------------------


def test_read_csv_keeps_nul_bytes_quoting_and_line_numbers(tmp_path: Path) -> None:
    path = tmp_path / "odd.csv"
    big = "x" * 200_000  # beyond the csv module's default field limit (128 KiB)
    path.write_bytes(
        "\ufeffid,note,amount,note\n"  # a BOM and a repeated name, as pandas reads them
        f'A1,"multi\nline, quoted",4\x005,{big}\n'
        "\n"
        "A2,plain,7,x,surplus\n"
        "A3,short\n".encode()
    )
    frame = read_csv(path)
    assert list(frame.columns)[:4] == ["id", "note", "amount", "note.1"]
    assert frame["amount"].tolist()[:2] == ["4\x005", "7"] and pd.isna(frame["amount"][2])
    assert frame.loc[0, "note"] == "multi\nline, quoted" and frame.loc[0, "note.1"] == big
    notes = frame[EXTRA_FIELDS].tolist()
    assert pd.isna(notes[0]) and pd.isna(notes[2])
    assert notes[1].startswith("line 5 of odd.csv has 5 fields where the header has 4")


def test_read_csv_clean_file_is_read_as_before(tmp_path: Path) -> None:
    path = tmp_path / "clean.csv"
    path.write_text("id,amount\nA1, 2\nA2,\n")
    frame = read_csv(path)
    assert frame["amount"].tolist()[0] == " 2" and pd.isna(frame["amount"][1])
    assert EXTRA_FIELDS not in frame.columns


def test_read_csv_of_a_folder_is_a_message(tmp_path: Path) -> None:
    with pytest.raises(IngestError, match="is a folder, not a CSV file"):
        read_csv(tmp_path)


def test_read_csv_bad_quoting_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "quotes.csv"
    path.write_bytes(b'id,amount\nA1,2\nA2,"3\x00\n')
    with pytest.raises(IngestError, match="cannot parse .*line 3"):
        read_csv(path)
