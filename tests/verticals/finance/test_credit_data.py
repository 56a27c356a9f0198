"""The csv credit adapter keeps a foreign table's protected attributes out of the features."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from verticals.finance import credit_data
from verticals.finance.credit_scoring import TASK

# Taiwan card-default's header (a few of its columns), as the UCI file spells it.
HEADER = "ID,LIMIT_BAL,SEX,EDUCATION,MARRIAGE,AGE,PAY_0,default payment next month"


@pytest.fixture
def taiwan(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    n = 400
    pay = rng.integers(-1, 4, n)
    frame = pd.DataFrame({
        "ID": range(1, n + 1), "LIMIT_BAL": rng.integers(1, 50, n) * 10_000,
        "SEX": rng.integers(1, 3, n), "EDUCATION": rng.integers(1, 5, n),
        "MARRIAGE": rng.integers(1, 4, n), "AGE": rng.integers(21, 70, n), "PAY_0": pay,
        "default payment next month": (rng.random(n) < 1 / (1 + np.exp(-(pay - 1.5)))).astype(int),
    })
    path = tmp_path / "taiwan.csv"
    frame.to_csv(path, index=False)
    assert path.read_text().splitlines()[0] == HEADER
    return path


def load(path: Path, **options: str) -> pd.DataFrame:
    return credit_data.csv_table(path, target="default payment next month", id="ID", **options)


def test_sex_marriage_and_age_are_left_out_by_their_names(taiwan: Path) -> None:
    frame = load(taiwan)
    assert frame.columns.tolist() == ["application_id", "LIMIT_BAL", "EDUCATION", "PAY_0",
                                      "default"]
    assert TASK.kind.feature_columns(frame, TASK.protected.excluded) == [
        "LIMIT_BAL", "EDUCATION", "PAY_0"]


def test_protected_names_the_columns_exactly(taiwan: Path) -> None:
    frame = load(taiwan, protected="SEX, AGE")
    # Named explicitly, only those are left out: MARRIAGE is the user's call.
    assert frame.columns.tolist() == ["application_id", "LIMIT_BAL", "EDUCATION", "MARRIAGE",
                                      "PAY_0", "default"]
    assert "SEX" not in load(taiwan, protected="SEX,EDUCATION").columns
    assert "EDUCATION" not in load(taiwan, protected="SEX,EDUCATION").columns
    every = load(taiwan, protected="none")  # opting in: every column is a feature
    assert {"SEX", "MARRIAGE", "AGE"} <= set(every.columns)


def test_an_unknown_protected_column_is_named_with_the_columns(taiwan: Path) -> None:
    with pytest.raises(KeyError) as caught:
        load(taiwan, protected="SEX,GENDER")
    message = str(caught.value)
    assert "--protected names ['GENDER']" in message
    assert "columns: ID, LIMIT_BAL, SEX, EDUCATION, MARRIAGE, AGE, PAY_0" in message
    with pytest.raises(KeyError, match="exactly as the header spells them"):
        load(taiwan, protected="sex")  # headers are matched as spelled
    with pytest.raises(KeyError, match="names no column"):
        load(taiwan, protected=" , ")


def test_a_protected_key_or_label_is_refused_when_named(taiwan: Path) -> None:
    with pytest.raises(ValueError, match=r"\['ID'\] are the --target/--id"):
        load(taiwan, protected="ID,SEX")


def test_a_label_named_like_a_protected_attribute_stays_the_label(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("id,x,age,married\n1,3,30,0\n2,4,40,1\n3,5,50,0\n4,6,60,0\n")
    frame = credit_data.csv_table(path, target="married", id="id")
    assert frame.columns.tolist() == ["application_id", "x", "default"]
    assert frame["default"].tolist() == [0, 1, 0, 0]


def test_the_models_never_read_them(taiwan: Path) -> None:
    frame = load(taiwan)
    candidate = TASK.kind.train(TASK, frame, profile="smoke", seed=0, models=("lightgbm",))[0]
    assert candidate.params["features"] == ["LIMIT_BAL", "EDUCATION", "PAY_0"]


def test_the_csv_dataset_declares_the_option() -> None:
    assert "protected" in TASK.datasets["csv"].options
    assert "--protected COL,COL" in TASK.datasets["csv"].description
