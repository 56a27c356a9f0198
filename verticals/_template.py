"""TEMPLATE — copy to verticals/<industry>/<task>.py and fill in every TODO (not registered).

A Task is a form: values and plain functions, nothing to inherit. When it is filled in:
  1. register it: add `"<industry>.<task>" = "verticals.<industry>.<task>:TASK"` under
     [project.entry-points."verticals.tasks"] in pyproject.toml, then `pip install -e .`
     (from your own package: the same line in its pyproject.toml);
  2. `verticals sample <industry>.<task> --out data_samples/<industry>_<task>.csv` writes the
     sample the demo ingests (without --out: ./<industry>_<task>.csv);
  3. `pytest tests/test_conformance.py -k <task>` tells you everything the Task still gets wrong.
A forecasting Task starts from verticals/_template_forecasting.py instead.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pandera.pandas as pa

from core.kinds.tabular import TabularClassification
from core.task import Dataset, Task

ID, TARGET = "machine_id", "failed"  # TODO: your id and target columns

# TODO: one Column per input field, with its type, range and allowed values; ingest quarantines
# every row that breaks a check, with the column, value and rule.
SCHEMA = pa.DataFrameSchema(
    {
        ID: pa.Column(str, unique=True),
        "temperature_c": pa.Column(float, pa.Check.in_range(-40, 200)),
        "line": pa.Column(str, pa.Check.isin(["a", "b", "c"])),
        TARGET: pa.Column("Int64", pa.Check.isin([0, 1]), nullable=True),
    },
    strict=True, coerce=True,
)


def sample(n: int, seed: int) -> pd.DataFrame:
    """TODO: a seeded generator with realistic structure; document the rule that makes the target.

    Here: failures get likelier with temperature, and line "c" runs hot.
    """
    rng = np.random.default_rng(seed)
    line = rng.choice(["a", "b", "c"], size=n, p=[0.5, 0.3, 0.2])
    temperature = rng.normal(60, 15, n) + np.where(line == "c", 10, 0)
    failed = rng.random(n) < 1 / (1 + np.exp(-(temperature - 85) / 8))
    return pd.DataFrame({
        ID: [f"M-{i:06d}" for i in range(n)],
        "temperature_c": temperature.clip(-40, 200).round(1),
        "line": line,
        TARGET: failed.astype("int64"),
    })


def load_public(path, **options) -> pd.DataFrame:
    """TODO: turn a public benchmark file into SCHEMA rows (read it from --data, never copy it)."""
    raise NotImplementedError("fill in the adapter for your public dataset")


TASK = Task(
    name="template.example",  # TODO: "<industry>.<task>": registry key, URL path, SQL key
    title="Example",  # TODO
    description="TODO: one sentence an analyst understands.",
    kind=TabularClassification(target=TARGET, id=ID),  # TODO: or Forecasting, ImageClassification
    schema=SCHEMA,
    sample=sample,
    datasets={"public": Dataset("public", "TODO: which file, from where", load_public)},
    # features=...,  # optional: pure domain feature engineering; never reads the target
    # models=...,    # optional: name -> factory; default is the Kind's candidates
    # protected=Protected(("sex", "age")),  # optional (from core.fairness): attributes no
    #                # decision may rest on: kept in the store for the fairness report, never a
    #                # feature or a reason; continuous ones need bands={"age": (25, 35, 50, 65)};
    #                # Protected(..., use=True, note="why") opts in. check_task verifies it.
    profiles={  # TODO: "smoke" must fit every candidate in seconds (tests); "quick" is the demo
        "smoke": {
            "scorecard": {"max_n_prebins": 5, "min_prebin_size": 0.1},
            "lightgbm": {"n_estimators": 20, "n_jobs": 1},
            "tabular_net": {"max_epochs": 3, "hidden": (16,), "batch_size": 128},
        },
    },
    # page=...,      # optional: extra Streamlit section, page(ctx)
)
