"""check_task reports every broken part of a Task at once, in words a domain team can act on."""

from __future__ import annotations

from dataclasses import replace

import pytest

from core.fairness import Protected
from core.task import get_task
from core.testing import ConformanceError, check_task


@pytest.fixture(scope="module")
def credit():
    return get_task("finance.credit_scoring")


def test_sample_that_breaks_the_schema_is_reported(credit) -> None:
    def bad_sample(n: int, seed: int):
        frame = credit.sample(n, seed)
        frame.loc[frame.index[:3], credit.kind.target] = 7  # not a 0/1 label
        return frame

    with pytest.raises(ConformanceError) as error:
        check_task(replace(credit, sample=bad_sample))
    assert "sample:" in str(error.value)
    assert credit.kind.target in str(error.value)


def test_features_that_drop_rows_or_read_the_target_are_reported(credit) -> None:
    with pytest.raises(ConformanceError, match="features changed the row count"):
        check_task(replace(credit, features=lambda frame: frame.iloc[:-1]))

    def leaky(frame):
        frame = frame.copy()
        frame["leak"] = frame[credit.kind.target].fillna(0) * 2
        return frame

    with pytest.raises(ConformanceError, match="must not read any label column"):
        check_task(replace(credit, features=leaky))


def test_declaration_problems_are_all_listed(credit) -> None:
    broken = replace(
        credit, name="Credit Scoring", title="",
        profiles={**credit.profiles, "huge": {}, "quick": {"oracle": {}}},
    )
    with pytest.raises(ConformanceError) as error:
        check_task(broken)
    message = str(error.value)
    assert "'vertical.task'" in message
    assert "title and description" in message
    assert "profile 'huge'" in message
    assert "unknown models ['oracle']" in message


def test_unseeded_sample_is_reported(credit) -> None:
    with pytest.raises(ConformanceError, match="sample ignores its seed"):
        check_task(replace(credit, sample=lambda n, seed: credit.sample(n, 0)))


def test_frame_attrs_the_sample_does_not_set_or_the_store_cannot_hold_are_reported() -> None:
    traffic = get_task("traffic.flow_prediction")

    def bare(n: int, seed: int):
        frame = traffic.sample(n, seed)
        frame.attrs.clear()  # an adapter's adjacency forgotten
        return frame

    with pytest.raises(ConformanceError, match=r"frame_attrs \['adjacency', 'sensors'\]"):
        check_task(replace(traffic, sample=bare), rows=480)

    def unstorable(n: int, seed: int):
        frame = traffic.sample(n, seed)
        frame.attrs["adjacency"] = {1, 2}  # a set is no JSON
        return frame

    with pytest.raises(ConformanceError, match="'adjacency' cannot be stored as JSON"):
        check_task(replace(traffic, sample=unstorable), rows=480)


def lightgbm_only(task):
    """The Task with its LightGBM candidate alone: a protected leak needs one model to show."""
    return replace(task, models={"lightgbm": task.candidates()["lightgbm"]},
                   profiles={"smoke": {"lightgbm": task.profiles["smoke"]["lightgbm"]}})


def test_credit_keeps_its_protected_attributes_out_of_the_models(credit) -> None:
    assert credit.protected.columns == ("personal_status_sex", "age_years", "foreign_worker")
    assert not credit.protected.use
    check_task(lightgbm_only(credit))  # no protected problem is raised


def test_features_derived_from_a_protected_attribute_fail_with_a_clear_message(credit) -> None:
    def leaky(frame):
        frame = credit.features(frame)
        return frame.assign(young=(frame["age_years"] < 30).astype(int))

    with pytest.raises(ConformanceError) as error:
        check_task(lightgbm_only(replace(credit, features=leaky)))
    message = str(error.value)
    assert ("protected: features ['young'] change when protected columns "
            "['personal_status_sex', 'age_years', 'foreign_worker'] are shuffled") in message
    assert "opt in with Protected(use=True, note=<why>)" in message


def test_protected_columns_the_schema_lacks_and_unbanded_ages_are_reported(credit) -> None:
    with pytest.raises(ConformanceError) as error:
        check_task(lightgbm_only(replace(credit, protected=Protected(
            ("religion", "age_years")))))
    message = str(error.value)
    assert "protected column 'religion' is not in the schema" in message
    assert "protected column 'age_years' is numeric" in message
    assert "declare its report bands" in message


def test_a_kind_that_records_no_interval_is_told_each_candidate(credit) -> None:
    from dataclasses import dataclass, fields

    from core.kinds.tabular import TabularClassification

    @dataclass(frozen=True)
    class PointOnly(TabularClassification):
        """A Kind written before Candidate.intervals: point metrics only."""

        def train(self, task, frame, **options):
            return [replace(c, intervals={}) for c in super().train(task, frame, **options)]

    kind = PointOnly(**{f.name: getattr(credit.kind, f.name) for f in fields(credit.kind)})
    with pytest.raises(ConformanceError) as error:
        check_task(replace(credit, kind=kind))
    problems = [p for p in error.value.problems if p.startswith("intervals:")]
    assert problems == [
        f"intervals: candidate {name!r}: no interval for the primary metric 'auc': record one "
        "in Candidate.intervals (core.intervals.bootstrap over the held-out units the metric "
        "is measured on)" for name in ("scorecard", "lightgbm", "tabular_net", "blend")]
    assert problems == error.value.problems  # nothing else is wrong with it
