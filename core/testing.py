"""Conformance check for Tasks: tells a domain team everything its Task gets wrong, at once."""

from __future__ import annotations

import json
import math
import re
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from core.kinds.base import LEDGER_COLUMNS
from core.kinds.contract import (
    KindError,
    check_kind,
    interval_problems,
    protected_declaration_problems,
    protected_problems,
)
from core.store.dataset_attrs import encode
from core.task import PROFILES, Task

__all__ = ["ConformanceError", "KindError", "check_kind", "check_task"]

NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$")


class ConformanceError(AssertionError):
    """A Task breaks the contract; the message lists every problem found."""

    def __init__(self, task: str, problems: list[str]) -> None:
        self.problems = problems
        listing = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"Task {task!r} does not conform ({len(problems)} problems):\n{listing}")


def check_task(task: Task, *, rows: int = 240, seed: int = 0) -> None:
    """Run every contract check on `task`; raise ConformanceError listing all failures.

    Checks: the Kind implements the declared contract (check_kind); the name, profiles and
    datasets are well formed; the sample generator is seeded, valid under the schema and sets
    the Kind's frame_attrs as JSON the store can keep; features
    keep the row count and never read a label column; every candidate fits on the sample with
    its smoke settings, predicts ledger-shaped rows and survives a save/load round trip through
    the Task's format registry; every metric computes; each candidate's primary metric has a
    bootstrap interval that holds its point value; the declared protected attributes
    are schema columns, and unless the Task opted in no feature or score moves when they are
    shuffled, and no reason names one.
    """
    problems: list[str] = []
    try:
        check_kind(task.kind)
    except KindError as error:
        # The other checks call the Kind: with its contract broken they would only add noise.
        raise ConformanceError(task.name, [f"kind: {p}" for p in error.problems]) from error

    def check(what: str, step: Callable[[], None]) -> bool:
        try:
            step()
        except ConformanceError:
            raise
        except Exception as error:  # collected and reported, never swallowed
            problems.append(f"{what}: {type(error).__name__}: {error}")
            return False
        return True

    check("name", lambda: _check_declaration(task))
    problems.extend(f"protected: {p}" for p in protected_declaration_problems(task))
    sample: dict[str, pd.DataFrame] = {}
    if check("sample", lambda: sample.update(frame=_check_sample(task, rows, seed))):
        frame = sample["frame"]
        if check("features", lambda: _check_features(task, frame)):
            check("candidates", lambda: _check_candidates(task, frame, seed, problems))
    if problems:
        raise ConformanceError(task.name, problems)


def _check_declaration(task: Task) -> None:
    errors = []
    if not NAME_PATTERN.match(task.name):
        errors.append(f"name {task.name!r} must look like 'vertical.task' (lower_snake parts)")
    if not task.title or not task.description:
        errors.append("title and description must be non-empty (the dashboard shows them)")
    models = set(task.candidates())
    if not models:
        errors.append("no candidate models: set `models` or use a Kind with default models")
    for profile, per_model in task.profiles.items():
        if profile not in PROFILES:
            errors.append(f"profile {profile!r} is not one of {PROFILES}")
        unknown = set(per_model) - models
        if unknown:
            errors.append(f"profile {profile!r} names unknown models {sorted(unknown)}")
    for key, dataset in task.datasets.items():
        if key != dataset.name:
            errors.append(f"dataset registered as {key!r} is named {dataset.name!r}")
        if not callable(dataset.load):
            errors.append(f"dataset {key!r}: load is not callable")
    try:
        page = task.page_function()
    except Exception as error:  # reported with the other declaration problems
        errors.append(str(error))
    else:
        if page is not None and not callable(page):
            errors.append("page must be a function page(ctx), a 'module:function' string or None")
    if errors:
        raise ValueError("; ".join(errors))


def _check_sample(task: Task, rows: int, seed: int) -> pd.DataFrame:
    frame = task.sample(rows, seed)
    if not isinstance(frame, pd.DataFrame) or len(frame) != rows:
        raise ValueError(f"sample({rows}, {seed}) must return a DataFrame of {rows} rows")
    again = task.sample(rows, seed)
    pd.testing.assert_frame_equal(frame, again, obj="sample with the same seed")
    if task.sample(rows, seed + 1).equals(frame):
        raise ValueError("sample ignores its seed: two seeds gave identical frames")
    # What the Kind says the store keeps of a whole dataset, the sample must show (the
    # adapters set the same names), in a form the store can hold.
    missing = [name for name in task.kind.frame_attrs if name not in frame.attrs]
    if missing:
        raise ValueError(f"the Kind declares frame_attrs {missing} but sample() sets no such "
                         "frame.attrs: set them as the adapters do")
    for name in task.kind.frame_attrs:
        encode(name, frame.attrs[name])
    validated = task.schema.validate(frame, lazy=True)
    validated.attrs.update(frame.attrs)
    return validated


def _check_features(task: Task, frame: pd.DataFrame) -> None:
    features = task.feature_frame(frame)
    if len(features) != len(frame):
        raise ValueError(f"features changed the row count: {len(frame)} -> {len(features)}")
    labels = [c for c in task.kind.label_columns if c in frame.columns]
    if task.features is None or not labels:
        return
    # Every label column is shuffled on its own: a feature built from any one of them (a
    # failure mode feeding the failure flag) is a leak.
    kept = features.drop(columns=labels, errors="ignore")
    for column in labels:
        shuffled = frame.copy()
        shuffled[column] = np.random.default_rng(0).permutation(shuffled[column].to_numpy())
        other = task.feature_frame(shuffled).drop(columns=labels, errors="ignore")
        pd.testing.assert_frame_equal(
            kept, other, obj=f"features after shuffling label column {column!r} (features must "
                             "not read any label column)")


def _check_candidates(task: Task, frame: pd.DataFrame, seed: int, problems: list[str]) -> None:
    candidates = task.kind.train(task, task.feature_frame(frame), profile="smoke", seed=seed)
    missing = set(task.candidates()) - {c.name for c in candidates}
    if missing:
        problems.append(f"candidates: train returned no candidate for {sorted(missing)}")
    primary = task.kind.primary_metric
    for candidate in candidates:
        where = f"candidate {candidate.name!r}"
        bad = [k for k, v in candidate.metrics.items() if not _finite(v)]
        if primary not in candidate.metrics:
            problems.append(f"{where}: metrics lack the primary metric {primary!r}")
        if bad:
            problems.append(f"{where}: metrics not finite: {bad}")
        try:
            _check_round_trip(task, candidate, frame)
        except Exception as error:
            problems.append(f"{where}: {type(error).__name__}: {error}")
    problems.extend(f"intervals: {p}" for p in interval_problems(task.kind, candidates))
    problems.extend(f"protected: {p}" for p in protected_problems(task, frame, candidates))


def _check_round_trip(task: Task, candidate, frame: pd.DataFrame) -> None:
    rows = task.feature_frame(frame)
    predicted = candidate.predictor.predict(rows)
    missing = [c for c in LEDGER_COLUMNS if c not in predicted.columns]
    if missing:
        raise ValueError(f"predict() lacks ledger columns {missing}")
    if len(predicted) == 0:
        raise ValueError("predict() returned no rows for the sample")
    if not np.isfinite(predicted["score"].to_numpy(dtype=float)).all():
        raise ValueError("predict() returned non-finite scores")
    outputs = set(predicted["output"])
    if not outputs <= set(task.kind.outputs):
        raise ValueError(f"predict() wrote outputs {sorted(outputs - set(task.kind.outputs))} "
                         f"the Kind does not declare (Kind.outputs = {task.kind.outputs})")
    if not pd.api.types.is_integer_dtype(predicted["step"]):
        raise ValueError(f"predict() step column must be integers, got {predicted['step'].dtype}")
    keys = ["entity_key", "output", "as_of", "step", "horizon"]
    if predicted.duplicated(keys).any():
        raise ValueError(f"predict() wrote two rows with the same ledger key {keys}")
    json.dumps(candidate.reference)  # the drift reference is stored as JSON
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        candidate.predictor.save(directory)
        config = {"format": candidate.predictor.format}
        loaded = task.kind.load_predictor(directory, config, task.model_formats()).predict(rows)
    pd.testing.assert_series_equal(
        predicted["score"].reset_index(drop=True), loaded["score"].reset_index(drop=True),
        check_exact=False, rtol=1e-5, obj="scores after save/load",
    )


def _finite(value: object) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)
