"""The format registry: built-ins, a Task's own candidates (blend members too), clashes."""

from __future__ import annotations

from dataclasses import replace

import pandas as pd
import pytest

from core import registry
from core.models.boosting import LightGBM
from core.models.formats import BUILTIN, Formats, installed_formats, lazy_factory
from core.store.engine import make_engine, migrate
from core.testing import check_task
from pipelines.train import train
from verticals.finance.credit_scoring import TASK as CREDIT


class ShallowTrees(LightGBM):
    """A candidate a Task brings itself, with a format the core has never heard of."""

    format = "shallow_trees"


def own_task(formats=None):
    models = {"lightgbm": lazy_factory(BUILTIN["lightgbm"], n_estimators=20),
              "shallow": lazy_factory(ShallowTrees, n_estimators=20, num_leaves=3)}
    return replace(CREDIT, models=models, profiles={},
                   formats={"shallow_trees": ShallowTrees} if formats is None else formats)


def test_every_builtin_model_class_declares_the_key_it_is_registered_under() -> None:
    formats = installed_formats()
    for key in BUILTIN:
        assert formats.model_class(key).format == key


def test_a_tasks_own_candidate_is_saved_and_loaded_like_the_builtins(sqlite_url: str) -> None:
    task = own_task()
    engine = make_engine(sqlite_url)
    migrate(engine)
    frame = CREDIT.sample(600, 0)
    candidates = {c.name: c for c in task.kind.train(task, task.feature_frame(frame),
                                                     profile="smoke", seed=0)}
    assert set(candidates) == {"lightgbm", "shallow", "blend"}
    rows = task.feature_frame(frame.drop(columns=[CREDIT.kind.target]).head(50))
    for name in ("shallow", "blend"):  # the blend holds the Task's model as a member
        version = registry.register(engine, task, candidates[name], profile="smoke")
        loaded = registry.load_predictor(engine, task, version.version)
        expected = candidates[name].predictor.predict(rows)
        pd.testing.assert_frame_equal(loaded.predict(rows), expected)
    shallow = registry.load_predictor(engine, task, 1)
    assert isinstance(shallow.model, ShallowTrees) and shallow.model.num_leaves == 3
    engine.dispose()


def test_an_unregistered_format_is_refused_with_what_to_do(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    migrate(engine)
    result = train(engine, own_task(), profile="smoke", frame=CREDIT.sample(400, 1),
                   models=("shallow",))
    forgetful = own_task(formats={})
    with pytest.raises(ValueError, match="unknown model format 'shallow_trees'.*Task.formats"):
        registry.load_predictor(engine, forgetful, result.versions[0].version)
    engine.dispose()


def test_check_task_round_trips_a_tasks_own_format() -> None:
    check_task(own_task(), rows=300)


def test_a_key_is_bound_once() -> None:
    with pytest.raises(ValueError, match=r"binds model format\(s\) \['lightgbm'\] already bound"):
        Formats(BUILTIN).with_formats({"lightgbm": ShallowTrees}, "Task x.y")
    same = Formats(BUILTIN).with_formats({"lightgbm": BUILTIN["lightgbm"]}, "Task x.y")
    assert same.keys() == sorted(BUILTIN)


def test_payload_points_only_for_a_scorecard_and_decisions_in_the_tasks_words() -> None:
    kind = replace(CREDIT.kind, decisions=("retain", "contact"))
    task = replace(CREDIT, kind=kind, profiles={})
    frame = CREDIT.sample(500, 2)
    candidates = {c.name: c for c in kind.train(task, task.feature_frame(frame), profile="smoke",
                                                 seed=0, models=("scorecard", "lightgbm"))}
    rows = task.feature_frame(frame.head(40))
    card = candidates["scorecard"].predictor.predict(rows)
    trees = candidates["lightgbm"].predictor.predict(rows)
    assert set(card["label"]) | set(trees["label"]) <= {"retain", "contact"}
    assert (trees["label"] == "contact").eq(trees["score"] >= kind.cutoff).all()
    assert card["payload"].str.match(r'^\{"points": \d+\}$').all()
    assert trees["payload"].isna().all()
    assert pd.Series(trees["output"]).eq("").all() and (trees["step"] == 0).all()


def test_decisions_must_be_two_different_words() -> None:
    with pytest.raises(ValueError, match="two different non-empty words"):
        replace(CREDIT.kind, decisions=("same", "same"))
