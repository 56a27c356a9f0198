"""The declared Kind contract: every Kind conforms, the fake is the contract, breaks are named."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from core.kinds.base import Batching, Benchmark
from core.kinds.contract import KindError, check_kind, declared_members
from core.kinds.forecasting import Forecasting
from core.kinds.images import ImageClassification
from core.kinds.sequence import SequenceRegression
from core.kinds.tabular import TabularClassification
from core.task import tasks
from tests.fakes import FakeKind

KINDS = [
    TabularClassification(target="default", id="id", time="applied_at"),
    Forecasting(series="ticker", time="date", target="close"),
    Forecasting(series="sensor", time="time", target="speed", graph=[[0, 1], [1, 0]]),
    ImageClassification(labels=("benign", "malignant")),
    SequenceRegression(unit="unit", step="cycle", label="failure_cycle"),
]


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: f"{type(k).__name__}")
def test_every_kind_conforms(kind: Any) -> None:
    check_kind(kind)


BUILT_IN = ["finance.credit_scoring", "finance.stock_forecasting", "healthcare.imaging_diagnosis"]


@pytest.mark.parametrize("name", BUILT_IN)
def test_every_registered_tasks_kind_conforms(name: str) -> None:
    assert set(BUILT_IN) <= set(tasks()), "a built-in Task is not registered"
    check_kind(tasks()[name].kind)


def test_the_fake_kind_is_the_declared_protocol_and_nothing_else() -> None:
    public = {n for n in dir(FakeKind()) if not n.startswith("_")}
    assert public == declared_members()
    check_kind(FakeKind())


def test_declared_members_are_the_ones_the_pipelines_use() -> None:
    assert {"entity", "step_column", "label_columns", "outputs", "batching", "display_metrics",
            "sections", "bench_options", "frame_attrs", "benchmarks", "key_columns",
            "scoring_columns",
            "scoring_groups", "train", "load_predictor", "bench"} <= declared_members()


@dataclass(frozen=True)
class OldKind:
    """A Kind written against the contract before it was declared (8 members)."""

    target: str = "y"
    id: str = "id"
    name: str = "old"
    primary_metric: str = "auc"
    higher_is_better: bool = True

    def default_models(self) -> dict:
        return {}

    def key_columns(self) -> tuple[str, ...]:
        return (self.id,)

    def train(self, task: Any, frame: Any, *, profile: str, seed: int, models: Any = None
              ) -> list:
        return []

    def load_predictor(self, directory: Path, config: dict) -> Any:
        return None

    def bench(self, task: Any, frame: Any, *, dataset: str, profile: str, seed: int) -> dict:
        return {}


def test_an_old_kind_is_told_every_member_it_lacks() -> None:
    with pytest.raises(KindError) as error:
        check_kind(OldKind())
    message = str(error.value)
    for member in ("entity", "label_columns", "outputs", "batching", "display_metrics",
                   "sections", "bench_options", "frame_attrs", "benchmarks", "scoring_columns",
                   "scoring_groups", "step_column"):
        assert f"missing member {member!r}" in message
    assert "load_predictor" not in message  # present; its signature is checked once complete


def test_wrong_values_and_signatures_are_named() -> None:
    broken = replace(FakeKind(), outputs=("failure",), batching="rows", display_metrics=("ks",),
                     sections=("data", "map"), entity="nowhere", frame_attrs="adjacency")
    with pytest.raises(KindError) as error:
        check_kind(broken)
    message = str(error.value)
    assert "outputs must be" in message and "batching must be" in message
    assert "lack the primary metric 'auc'" in message and "['map']" in message
    assert "frame_attrs must be a tuple of str" in message

    @dataclass(frozen=True)
    class NoFormats(FakeKind):
        def load_predictor(self, directory: Path, config: dict) -> Any:  # type: ignore[override]
            return None

    with pytest.raises(KindError, match=r"load_predictor\(\) takes no formats"):
        check_kind(NoFormats())


def test_entity_and_step_column_must_be_keys_and_slices_need_a_step() -> None:
    @dataclass(frozen=True)
    class FixedKeys(FakeKind):
        def key_columns(self) -> tuple[str, ...]:
            return ("application_id",)

    with pytest.raises(KindError, match="entity 'nowhere' must be one of key_columns"):
        check_kind(replace(FixedKeys(), entity="nowhere"))
    with pytest.raises(KindError, match="step_column 'day' must be None or one of"):
        check_kind(replace(FixedKeys(), step_column="day"))
    with pytest.raises(KindError, match="SLICES batching cuts the panel along step_column"):
        check_kind(replace(FakeKind(), batching=Batching.SLICES))


def test_scoring_groups_must_be_stable_and_cover_each_key_once() -> None:
    @dataclass(frozen=True)
    class Unstable(FakeKind):
        def scoring_groups(self, keys: Any, chunk_size: int) -> list:
            return [list(keys)]  # ignores chunk_size and keeps duplicates

    with pytest.raises(KindError, match="scoring_groups"):
        check_kind(Unstable())


def test_benchmarks_are_named_by_their_key() -> None:
    @dataclass(frozen=True)
    class Misnamed(FakeKind):
        def benchmarks(self) -> dict:
            return {"speed": Benchmark("throughput", "x")}

    with pytest.raises(KindError, match="must be a Benchmark named 'speed'"):
        check_kind(Misnamed())


def test_graph_forecasting_scores_whole_slices_and_plain_forecasting_whole_series() -> None:
    plain, graph = KINDS[1], KINDS[2]
    assert plain.batching is Batching.SERIES and graph.batching is Batching.SLICES
    assert graph.step_column == "time" and plain.entity == "ticker"
    assert TabularClassification(target="y", id="id").step_column is None


def test_protected_problems_name_a_model_that_reads_and_explains_by_a_protected_column() -> None:
    import json
    from types import SimpleNamespace

    import numpy as np

    from core.fairness import Protected
    from core.kinds.base import ledger_frame
    from core.kinds.contract import protected_problems
    from tests.fakes import fake_sample, make_task

    def predict(frame):  # a model reading "months" though the Task protects it
        reasons = [json.dumps([{"feature": "months", "value": int(m), "effect": 0.1}])
                   for m in frame["months"]]
        return ledger_frame(len(frame), frame["application_id"].to_numpy(),
                            frame["months"].to_numpy(dtype=float) / 100,
                            reasons=np.asarray(reasons, dtype=object))

    reader = SimpleNamespace(name="reader", predictor=SimpleNamespace(predict=predict))
    frame = fake_sample(60)
    task = replace(make_task(), protected=Protected(("months",), bands={"months": (12, 24)}))
    assert protected_problems(task, frame, [reader]) == [
        "candidate 'reader': scores change when protected columns ['months'] are shuffled, so "
        "the model reads them; leave them out of features, or opt in with "
        "Protected(use=True, note=<why>)",
        "candidate 'reader': reasons name protected attributes ['months']; a decision must "
        "never be explained by them (leave them out of features)"]
    opted_in = replace(task, protected=Protected(("months",), use=True, note="study",
                                                 bands={"months": (12, 24)}))
    # opted in, reading them is allowed; explaining a decision by them never is
    assert protected_problems(opted_in, frame, [reader]) == [
        "candidate 'reader': reasons name protected attributes ['months']; a decision must "
        "never be explained by them (leave them out of features)"]


def test_interval_problems_name_a_missing_a_malformed_and_a_misplaced_interval() -> None:
    from core.intervals import Interval
    from core.kinds.contract import interval_problems
    from tests.fakes import candidate

    def at(low: float, high: float, **fields: Any) -> Interval:
        return replace(Interval(low, high, 0.95, 200, 48, "test rows"), **fields)

    kind = FakeKind()  # primary metric auc
    good = replace(candidate("good", 0.75), intervals={"auc": at(0.7, 0.8), "ks": at(0.3, 0.4)})
    assert interval_problems(kind, [good]) == []
    problems = interval_problems(kind, [
        candidate("none", 0.75),
        replace(candidate("elsewhere", 0.75), intervals={"auc": at(0.6, 0.7)}),
        replace(candidate("reversed", 0.75), intervals={"auc": at(0.8, 0.7)}),
        replace(candidate("unsaid", 0.75), intervals={"auc": at(0.7, 0.8, over="")}),
        replace(candidate("stray", 0.75), intervals={"auc": at(0.7, 0.8), "f1": at(0, 1)}),
        replace(candidate("tuple", 0.75), intervals={"auc": (0.7, 0.8)}),
    ])
    assert problems == [
        "candidate 'none': no interval for the primary metric 'auc': record one in "
        "Candidate.intervals (core.intervals.bootstrap over the held-out units the metric is "
        "measured on)",
        "candidate 'elsewhere': the 'auc' interval [0.6, 0.7] does not hold the point value "
        "0.75: resample the same held-out units the metric is computed on",
        "candidate 'reversed': interval 'auc' (0.8, 0.7) must be finite with low <= high",
        "candidate 'unsaid': interval 'auc' must say its level in (0, 1), resamples, units and "
        "what they are, got Interval(low=0.7, high=0.8, level=0.95, resamples=200, units=48, "
        "over='')",
        "candidate 'stray': interval 'f1' names no metric of the candidate",
        "candidate 'tuple': interval 'auc' must be a core.intervals.Interval, got tuple",
    ]
