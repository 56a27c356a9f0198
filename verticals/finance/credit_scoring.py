"""Credit scoring: probability that a retail loan application defaults (the reference Task)."""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa

from core.fairness import Protected
from core.kinds.tabular import TabularClassification
from core.task import Dataset, Task
from verticals.finance import credit_data as data
from verticals.finance.plausibility import date_window

ID, DATE, TARGET = "application_id", "application_date", "default"


def _category(name: str) -> pa.Column:
    return pa.Column(str, pa.Check.isin(sorted(data.CODES[name].values())), nullable=False)


def _number(low: int, high: int) -> pa.Column:
    return pa.Column(int, pa.Check.in_range(low, high))


SCHEMA = pa.DataFrameSchema(
    {
        ID: pa.Column(str, unique=True),
        DATE: pa.Column("datetime64[ns]", date_window()),
        "checking_account_status": _category("checking_account_status"),
        "duration_months": _number(1, 120),
        "credit_history": _category("credit_history"),
        "purpose": _category("purpose"),
        "credit_amount": _number(1, 1_000_000),
        "savings_account": _category("savings_account"),
        "employment_since": _category("employment_since"),
        "installment_rate_pct_income": _number(1, 4),
        "personal_status_sex": _category("personal_status_sex"),
        "other_debtors_guarantors": _category("other_debtors_guarantors"),
        "residence_since": _number(1, 4),
        "property": _category("property"),
        "age_years": _number(18, 100),
        "other_installment_plans": _category("other_installment_plans"),
        "housing": _category("housing"),
        "num_existing_credits": _number(0, 20),
        "job": _category("job"),
        "num_people_liable": _number(0, 20),
        "telephone": _category("telephone"),
        "foreign_worker": _category("foreign_worker"),
        TARGET: pa.Column("Int64", pa.Check.isin([0, 1]), nullable=True),
    },
    strict=True, coerce=True,
)


def features(frame: pd.DataFrame) -> pd.DataFrame:
    """Adds monthly_payment (amount / duration): lenders judge affordability by the instalment.

    Tables from the generic csv adapter lack these columns and pass through unchanged.
    """
    if not {"credit_amount", "duration_months"} <= set(frame.columns):
        return frame
    months = frame["duration_months"].where(frame["duration_months"] > 0)
    return frame.assign(monthly_payment=(frame["credit_amount"] / months).round(2))


TASK = Task(
    name="finance.credit_scoring",
    title="Credit scoring",
    description="Probability of default for retail loan applications, with score points, "
                "a decline/approve decision at the cut-off and the top reasons per applicant.",
    kind=TabularClassification(target=TARGET, id=ID, time=DATE, positive=1, cutoff=0.5),
    schema=SCHEMA,
    sample=data.sample,
    features=features,
    # Fair lending: sex/marital status, age and foreign-worker status are kept for the fairness
    # report and never read by a model (so never a reason). The report groups age in bands:
    # under 25, 25-34, 35-49, 50-64, 65 and over.
    protected=Protected(("personal_status_sex", "age_years", "foreign_worker"),
                        bands={"age_years": (25, 35, 50, 65)}),
    page="verticals.finance.credit_page:render",
    datasets={
        "german_credit": Dataset(
            "german_credit", "Statlog German credit (UCI): folder with german_credit.csv or "
            "german.data", data.german_credit),
        "csv": Dataset(
            "csv", "any credit CSV: --target COL [--id COL] [--positive VALUE] [--protected "
            "COL,COL: left out of the features; default: columns named like sex, marriage, "
            "age]", data.csv_table, options=("target", "id", "positive", "protected"),
            conforms=False),
    },
    profiles={
        "smoke": {
            "scorecard": {"max_n_prebins": 5, "min_prebin_size": 0.1},
            "lightgbm": {"n_estimators": 20, "n_jobs": 1},
            "tabular_net": {"max_epochs": 3, "hidden": (16,), "batch_size": 128},
        },
        "quick": {  # the demo: the whole Task in well under a minute on 2 cores
            "scorecard": {"max_n_prebins": 10},
            "lightgbm": {"n_estimators": 300, "learning_rate": 0.03},
            # the batch grows with the rows (the net's default); steps cap a big table's fit
            "tabular_net": {"max_epochs": 40, "max_steps": 2_000},
        },
        # The models' defaults, whose budgets follow the rows (an epoch is ~64 net steps at any
        # size), and a ceiling on the net: 10,000 steps are ~130 epochs of a 30,000-row table
        # (early stopping ends it first) and ~50 of a million rows (batch 4,096), where the
        # net's min_delta ends it first too: ~19 epochs, ~3,700 steps.
        "full": {"tabular_net": {"max_steps": 10_000}},
    },
)

