"""Credit-scoring data: German-credit codes in plain words, the sample generator, the adapters."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

ID, DATE, TARGET = "application_id", "application_date", "default"

# UCI Statlog (German credit) attribute codes -> the plain values of the Task schema.
CODES: dict[str, dict[str, str]] = {
    "checking_account_status": {"A11": "lt_0", "A12": "0_to_200", "A13": "ge_200", "A14": "none"},
    "credit_history": {
        "A30": "no_credits_or_all_paid", "A31": "all_paid_at_this_bank",
        "A32": "existing_paid_duly", "A33": "past_delays", "A34": "critical_account"},
    "purpose": {
        "A40": "car_new", "A41": "car_used", "A42": "furniture_equipment", "A43": "radio_tv",
        "A44": "domestic_appliances", "A45": "repairs", "A46": "education", "A47": "vacation",
        "A48": "retraining", "A49": "business", "A410": "other"},
    "savings_account": {
        "A61": "lt_100", "A62": "100_to_500", "A63": "500_to_1000", "A64": "ge_1000",
        "A65": "unknown_or_none"},
    "employment_since": {
        "A71": "unemployed", "A72": "lt_1y", "A73": "1_to_4y", "A74": "4_to_7y", "A75": "ge_7y"},
    "personal_status_sex": {
        "A91": "male_divorced_separated", "A92": "female_divorced_separated_married",
        "A93": "male_single", "A94": "male_married_widowed", "A95": "female_single"},
    "other_debtors_guarantors": {"A101": "none", "A102": "co_applicant", "A103": "guarantor"},
    "property": {
        "A121": "real_estate", "A122": "savings_agreement_or_life_insurance",
        "A123": "car_or_other", "A124": "unknown_or_none"},
    "other_installment_plans": {"A141": "bank", "A142": "stores", "A143": "none"},
    "housing": {"A151": "rent", "A152": "own", "A153": "for_free"},
    "job": {
        "A171": "unemployed_or_unskilled_non_resident", "A172": "unskilled_resident",
        "A173": "skilled_employee", "A174": "management_or_self_employed"},
    "telephone": {"A191": "no", "A192": "yes"},
    "foreign_worker": {"A201": "yes", "A202": "no"},
}
COLUMNS = [
    "checking_account_status", "duration_months", "credit_history", "purpose", "credit_amount",
    "savings_account", "employment_since", "installment_rate_pct_income", "personal_status_sex",
    "other_debtors_guarantors", "residence_since", "property", "age_years",
    "other_installment_plans", "housing", "num_existing_credits", "job", "num_people_liable",
    "telephone", "foreign_worker",
]
NUMBERS = [c for c in COLUMNS if c not in CODES]

# Generator: (share of applicants, default rate) per category, as seen in German credit.
PROFILE: dict[str, dict[str, tuple[float, float]]] = {
    "checking_account_status": {"A11": (274, .49), "A12": (269, .39), "A13": (63, .22),
                                "A14": (394, .12)},
    "credit_history": {"A30": (40, .62), "A31": (49, .57), "A32": (530, .32), "A33": (88, .32),
                       "A34": (293, .17)},
    "purpose": {"A40": (234, .38), "A41": (103, .17), "A42": (181, .32), "A43": (280, .22),
                "A44": (12, .33), "A45": (22, .36), "A46": (50, .44), "A48": (9, .11),
                "A49": (97, .35), "A410": (12, .42)},
    "savings_account": {"A61": (603, .36), "A62": (103, .33), "A63": (63, .17), "A64": (48, .12),
                        "A65": (183, .17)},
    "employment_since": {"A71": (62, .37), "A72": (172, .41), "A73": (339, .31),
                         "A74": (174, .22), "A75": (253, .25)},
    "personal_status_sex": {"A91": (50, .40), "A92": (310, .35), "A93": (548, .27),
                            "A94": (92, .27)},
    "other_debtors_guarantors": {"A101": (907, .30), "A102": (41, .44), "A103": (52, .19)},
    "property": {"A121": (282, .21), "A122": (232, .31), "A123": (332, .31), "A124": (154, .44)},
    "other_installment_plans": {"A141": (139, .41), "A142": (47, .40), "A143": (814, .28)},
    "housing": {"A151": (179, .39), "A152": (713, .26), "A153": (108, .41)},
    "job": {"A171": (22, .32), "A172": (200, .28), "A173": (630, .30), "A174": (148, .34)},
    "telephone": {"A191": (596, .31), "A192": (404, .28)},
    "foreign_worker": {"A201": (963, .31), "A202": (37, .11)},
}
BASE_RATE = 0.30
SHRINK = 0.9  # category effects overlap in real data; 0.9 puts a fitted AUC near 0.78
INTERCEPT = -0.12  # fixed once so the default rate is ~30% (checked by a test)
START = pd.Timestamp("2024-01-01")
DAYS = 730


def _logit(p: np.ndarray | float) -> np.ndarray | float:
    return np.log(np.asarray(p) / (1 - np.asarray(p)))


def sample(n: int, seed: int = 0) -> pd.DataFrame:
    """Seeded synthetic loan applications with a ~30% default rate.

    Mechanics: each categorical attribute is drawn with German-credit frequencies and shifts the
    default log-odds by SHRINK x its category's log-odds vs the 30% base rate (no checking
    account and critical history lower risk; negative balances, no savings, young applicants
    and long durations raise it). Durations are 4-72 months (mostly 12-24); credit amounts are
    log-normal and grow with duration; long loans (+0.03 per month over 20) and large
    instalments relative to amount/duration add risk; each year of age below 30 adds 0.03.
    The default is a Bernoulli draw from the resulting probability (plus unit logistic noise
    from the draw itself), so a well-fitted model reaches an AUC near 0.78, as on German credit.
    Applications are spread over 2024-2025 and sorted by date.
    """
    rng = np.random.default_rng(seed)
    frame: dict[str, object] = {}
    z = np.full(n, INTERCEPT + _logit(BASE_RATE))
    for column, table in PROFILE.items():
        codes = list(table)
        shares = np.array([table[c][0] for c in codes], dtype=float)
        rates = np.array([table[c][1] for c in codes])
        pick = rng.choice(len(codes), size=n, p=shares / shares.sum())
        z += SHRINK * (_logit(rates) - _logit(BASE_RATE))[pick]
        frame[column] = np.array([CODES[column][c] for c in codes], dtype=object)[pick]
    duration = np.clip(np.round(rng.lognormal(np.log(18), 0.5, n) / 3) * 3, 4, 72).astype(int)
    amount = np.clip(np.round(rng.lognormal(np.log(110 * duration ** 0.85), 0.55)), 250, 20000)
    age = np.clip(np.round(19 + rng.gamma(2.2, 7.0, n)), 19, 80).astype(int)
    rate = rng.choice([1, 2, 3, 4], size=n, p=[.14, .23, .16, .47])
    z += 0.03 * np.clip(duration - 20, 0, None) + 0.12 * (rate - 2.5) * (amount > 4000)
    z += 0.03 * np.clip(30 - age, 0, None)
    default = (rng.random(n) < 1 / (1 + np.exp(-z))).astype(int)
    dates = START + pd.to_timedelta(np.sort(rng.integers(0, DAYS, n)), unit="D")
    frame.update({
        "duration_months": duration, "credit_amount": amount.astype(int),
        "installment_rate_pct_income": rate, "residence_since": rng.integers(1, 5, n),
        "age_years": age,
        "num_existing_credits": rng.choice([1, 2, 3, 4], n, p=[.63, .33, .03, .01]),
        "num_people_liable": rng.choice([1, 2], n, p=[.845, .155]),
    })
    out = pd.DataFrame({ID: [f"APP-{i + 1:07d}" for i in range(n)], DATE: dates})
    out = pd.concat([out, pd.DataFrame(frame)[COLUMNS]], axis=1)
    out[TARGET] = pd.array(default, dtype="Int64")
    return _typed(out)


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    for column in CODES:
        frame[column] = frame[column].astype("str")
    for column in NUMBERS:
        frame[column] = frame[column].astype("int64")
    frame[ID] = frame[ID].astype("str")
    frame[DATE] = pd.to_datetime(frame[DATE]).astype("datetime64[ns]")
    return frame


def german_credit(path: str | Path) -> pd.DataFrame:
    """Statlog German credit in the Task schema: codes -> plain values, class 2 -> default 1.

    `path` is the dataset folder (german_credit.csv preferred, else german.data) or either
    file. application_id is GC-0001.. in file order; application_date is synthetic but fixed:
    the rows are spread evenly over 2024-2025 in file order (the file carries no dates).
    """
    path = Path(path)
    if path.is_dir():
        csv, raw = path / "german_credit.csv", path / "german.data"
        path = csv if csv.exists() else raw
    if not path.exists():
        raise FileNotFoundError(f"{path}: expected german_credit.csv or german.data from UCI "
                                "Statlog German credit (see shared/datasets/german_credit)")
    first = 2 if path.suffix == ".csv" else 1  # the file line of the first row
    _refuse_nul_bytes(path, path.read_bytes())
    if path.suffix == ".csv":
        frame = pd.read_csv(path, dtype=str)
    else:
        frame = pd.read_csv(path, sep=r"\s+", header=None, names=[*COLUMNS, "class"], dtype=str)
    unknown = {c: sorted(set(frame[c].fillna("(missing)")) - set(CODES[c])) for c in CODES}
    unknown = {c: v for c, v in unknown.items() if v}
    if unknown:
        raise ValueError(f"{path}: unknown German-credit codes {unknown}")
    for column in [*NUMBERS, "class"]:
        whole = frame[column].str.fullmatch(r"\d+", na=False)
        if not whole.all():
            row = int(np.argmin(whole.to_numpy()))
            raise ValueError(f"{path}: line {row + first}, column {column}: "
                             f"{frame[column].iloc[row]!r} is not a whole number; the UCI file "
                             "holds only whole numbers there: re-download it")
    out = pd.DataFrame({
        ID: [f"GC-{i + 1:04d}" for i in range(len(frame))],
        DATE: START + pd.to_timedelta(np.arange(len(frame)) * DAYS // max(len(frame), 1), "D"),
    })
    for column in COLUMNS:
        out[column] = frame[column].map(CODES[column]) if column in CODES else frame[column]
    out[TARGET] = pd.array((frame["class"].astype(int) == 2).astype(int), dtype="Int64")
    return _typed(out)


def _refuse_nul_bytes(path: Path, data: bytes) -> None:
    """A fixed public file with a NUL byte is damaged: pandas' parser would cut the cell."""
    at = data.find(b"\x00")
    if at >= 0:
        line = data.count(b"\n", 0, at) + 1
        raise ValueError(f"{path}: line {line} holds a NUL byte, so the file is damaged (the UCI "
                         "German credit files are plain text): re-download it")


# What public credit tables call the attributes a lending decision must not rest on (sex,
# marital status, age, origin; Taiwan card-default's SEX, MARRIAGE, AGE; Home Credit's
# CODE_GENDER, DAYS_BIRTH), compared lower-case with spaces and dashes as underscores. The
# Task's own protected names are schema names a foreign table rarely has, so without these
# its attributes would become features.
PROTECTED_NAMES = frozenset({
    "sex", "gender", "code_gender", "marriage", "marital_status", "married",
    "personal_status_sex", "age", "age_years", "days_birth", "birth_date", "date_of_birth",
    "dob", "race", "ethnicity", "religion", "national_origin", "nationality",
    "foreign_worker", "disability", "pregnancy",
})
NO_PROTECTED = "none"  # --protected none: the user opts in to every column as a feature


def protected_columns(columns: list[str], protected: str | None, where: str) -> list[str]:
    """The columns the csv adapter keeps out of the features: the comma-separated
    `protected` names (each must be a column; NO_PROTECTED for none), or by default those
    whose names are PROTECTED_NAMES."""
    if protected is None:
        return [c for c in columns
                if str(c).strip().lower().replace(" ", "_").replace("-", "_") in PROTECTED_NAMES]
    named = [c.strip() for c in protected.split(",") if c.strip()]
    if [n.lower() for n in named] == [NO_PROTECTED]:
        return []
    unknown = [n for n in named if n not in columns]
    if unknown or not named:
        raise KeyError(f"{where}: --protected names {'no column' if not named else unknown} "
                       f"of the file; columns: {', '.join(map(str, columns))} (give them "
                       f"comma-separated, exactly as the header spells them, or "
                       f"--protected {NO_PROTECTED} to use every column)")
    return named


def csv_table(
    path: str | Path, target: str | None = None, id: str | None = None,
    positive: str | None = None, protected: str | None = None,
) -> pd.DataFrame:
    """Any credit table: its `target` becomes `default` (0/1) and its `id` `application_id`.

    Feature columns keep their own names; numbers stay numeric, everything else is a category.
    Target rule: with `positive`, rows equal to it (compared as text) are 1; otherwise a 0/1 (or
    false/true) column is kept as is; otherwise, with exactly two values, the rarer value is the
    "bad" one (1) - defaults are the minority in credit data. Missing targets stay missing
    (those rows can be scored, not trained on). Without `id`, rows are numbered ROW-1, ROW-2...

    Protected attributes (`protected_columns`: `--protected COL,COL`, by default the columns
    named like PROTECTED_NAMES, e.g. SEX, MARRIAGE, AGE) are dropped: the Task's Protected
    names its own schema's columns, so the Kind would read a foreign table's as features, and
    this frame only trains and benches (it is never stored, so no fairness report needs them).
    """
    if target is None:
        raise ValueError("the csv dataset needs the target column: pass --target COLUMN")
    frame = pd.read_csv(path)
    for column, role in ((target, "--target"), (id, "--id")):
        if column is not None and column not in frame.columns:
            raise KeyError(f"{path}: no column {column!r} for {role}; columns: "
                           f"{', '.join(map(str, frame.columns))}")
    # By default a key or label named like a protected attribute stays what it was given as;
    # named explicitly it is refused below.
    candidates = [c for c in frame.columns if protected is not None or c not in (target, id)]
    excluded = protected_columns(candidates, protected, str(path))
    roles = [c for c in excluded if c in (target, id)]
    if roles:
        raise ValueError(f"{path}: --protected column(s) {roles} are the --target/--id; "
                         "protected attributes are features left out, not keys or labels")
    labels = _binary(frame[target], positive, f"{path}: column {target!r}")
    keys = (frame[id].astype("str") if id is not None
            else pd.Series([f"ROW-{i + 1}" for i in range(len(frame))], dtype="str"))
    features = frame.drop(columns=[c for c in (target, id, *excluded) if c is not None])
    clash = [c for c in (ID, TARGET) if c in features.columns]
    if clash:
        raise ValueError(f"{path}: feature columns {clash} clash with the Task's names; "
                         "rename them or pass them as --id/--target")
    out = pd.concat([pd.DataFrame({ID: keys}), features.reset_index(drop=True)], axis=1)
    out[TARGET] = labels
    return out


def _binary(values: pd.Series, positive: str | None, where: str) -> pd.Series:
    known = values.dropna()
    if positive is not None:
        mapped = (values.astype("str") == str(positive)).astype("Int64")
        if not mapped[values.notna()].any():
            raise ValueError(f"{where} has no value {positive!r}; values: {sorted(set(known))}")
    else:
        distinct = sorted(set(known.astype("str")))
        if set(distinct) <= {"0", "1"} or set(distinct) <= {"False", "True"}:
            mapped = known.astype("str").isin(["1", "True"]).astype("Int64")
        elif len(distinct) == 2:
            counts = known.astype("str").value_counts()
            if counts.iloc[0] == counts.iloc[1]:
                raise ValueError(f"{where}: both values are equally common, so the bad one is "
                                 "ambiguous; pass --positive VALUE")
            mapped = (known.astype("str") == counts.idxmin()).astype("Int64")
        else:
            raise ValueError(f"{where} must have two values to be a default flag, found "
                             f"{len(distinct)} ({distinct[:5]}...); pass --positive VALUE")
    return mapped.reindex(values.index).where(values.notna(), pd.NA).astype("Int64")
