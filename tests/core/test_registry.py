"""Tests of core.registry: versions, champion, promotion, sha256 checks, atomic registration."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace

import pytest
import sqlalchemy as sa

from core import registry
from core.registry import ArtifactIntegrityError, RegistryError
from core.store import schema
from tests.fakes import FakeKind, FakePredictor, candidate, make_task


def test_register_numbers_versions_per_task_and_writes_a_verified_artifact(engine, home):
    task, other = make_task(), make_task("test.other")
    first = registry.register(engine, task, candidate("logistic", 0.71), profile="smoke")
    second = registry.register(engine, task, candidate("lightgbm", 0.75, weight=2.0), run_id=None)
    elsewhere = registry.register(engine, other, candidate("logistic", 0.6))
    assert (first.version, second.version, elsewhere.version) == (1, 2, 1)
    assert second.model == "lightgbm" and second.format == "fake-json"
    assert second.metrics == {"auc": 0.75, "ks": 0.375} and second.params == {"weight": 2.0}
    assert second.primary_metric == "auc" and second.primary_value == 0.75
    assert second.train_rows == 100 and second.dataset == "store" and first.profile == "smoke"
    assert second.reference == {"months": {"bins": [0, 12, 72]}}
    assert second.created_at.tzinfo is not None
    directory = home.resolve() / "artifacts" / "test_fake" / "v2"
    assert second.artifact_path == "artifacts/test_fake/v2" and second.directory == directory
    manifest = (directory / "manifest.json").read_bytes()
    assert hashlib.sha256(manifest).hexdigest() == second.artifact_sha256
    assert set(json.loads(manifest)) == {"config.json", "model/weights.json",
                                         "model/notes/readme.json"}
    assert json.loads((directory / "config.json").read_text())["format"] == "fake-json"
    assert [v.version for v in registry.versions(engine, task.name)] == [1, 2]
    assert registry.load_predictor(engine, task, version=2) == FakePredictor(weight=2.0)
    assert not list(directory.parent.glob(".staging-*"))


def test_champion_promote_and_promote_best(engine):
    task = make_task()
    assert registry.champion(engine, task.name) is None
    with pytest.raises(RegistryError, match="no champion"):
        registry.load_predictor(engine, task)
    with pytest.raises(RegistryError, match="no model version with a 'auc'"):
        registry.promote_best(engine, task)
    for name, value in [("a", 0.70), ("b", 0.80), ("c", 0.80), ("d", 0.75)]:
        registry.register(engine, task, candidate(name, value, weight=value))
    best = registry.promote_best(engine, task)
    assert (best.version, best.model) == (3, "c")  # tie on 0.80: the newest wins
    assert registry.champion(engine, task.name).version == 3
    assert registry.load_predictor(engine, task).weight == 0.80
    registry.promote(engine, task.name, 1)
    assert registry.champion(engine, task.name).model == "a"
    with engine.connect() as connection:  # one champion row, replaced
        assert connection.execute(sa.select(sa.func.count()).select_from(schema.aliases)
                                  ).scalar_one() == 1
    with pytest.raises(RegistryError, match=r"no model version 9; registered versions: \[1, 2"):
        registry.promote(engine, task.name, 9)
    lower_wins = make_task(kind=replace(FakeKind(), primary_metric="ks", higher_is_better=False))
    assert registry.promote_best(engine, lower_wins).model == "a"  # smallest ks


@pytest.mark.parametrize("target", ["model/weights.json", "model/notes/readme.json",
                                    "config.json"])
def test_a_modified_artifact_byte_is_refused_naming_the_file(engine, target):
    task = make_task()
    version = registry.register(engine, task, candidate("a", 0.7))
    registry.promote(engine, task.name, version.version)
    path = version.directory / target
    data = bytearray(path.read_bytes())
    data[-2] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(ArtifactIntegrityError, match=f"file {target} was modified"):
        registry.load_predictor(engine, task)


def test_planted_missing_files_and_a_rewritten_manifest_are_refused(engine):
    task = make_task()
    version = registry.register(engine, task, candidate("a", 0.7))
    (version.directory / "model" / "extra.pkl").write_bytes(b"\x80\x04")
    with pytest.raises(ArtifactIntegrityError, match="model/extra.pkl is not in the manifest"):
        registry.load_predictor(engine, task, version=1)
    (version.directory / "model" / "extra.pkl").unlink()
    (version.directory / "model" / "weights.json").unlink()
    with pytest.raises(ArtifactIntegrityError, match="model/weights.json is missing"):
        registry.load_predictor(engine, task, version=1)
    (version.directory / "manifest.json").write_text("{}")
    with pytest.raises(ArtifactIntegrityError, match="manifest.json does not match"):
        registry.load_predictor(engine, task, version=1)


def test_a_failed_registration_leaves_no_directory_and_no_row(engine, home, monkeypatch):
    task = make_task()
    registry.register(engine, task, candidate("a", 0.7))

    class Broken(FakePredictor):
        def save(self, directory):
            super().save(directory)
            raise OSError("disk full")

    broken = replace(candidate("b", 0.9), predictor=Broken())
    with pytest.raises(OSError, match="disk full"):
        registry.register(engine, task, broken)
    # The row insert fails after the directory was moved into place: both are undone.
    with monkeypatch.context() as patch, pytest.raises(sa.exc.IntegrityError):
        patch.setattr(registry, "utcnow", lambda: None)  # created_at NOT NULL -> IntegrityError
        registry.register(engine, task, candidate("c", 0.9))
    root = home.resolve() / "artifacts" / "test_fake"
    assert sorted(p.name for p in root.iterdir()) == ["v1"]
    assert [v.version for v in registry.versions(engine, task.name)] == [1]
    assert registry.register(engine, task, candidate("d", 0.8)).version == 2


def test_a_stale_directory_is_reported_not_overwritten(engine, home):
    task = make_task()
    stale = home.resolve() / "artifacts" / "test_fake" / "v1"
    stale.mkdir(parents=True)
    with pytest.raises(RegistryError, match="already exists but the store has no version 1"):
        registry.register(engine, task, candidate("a", 0.7))
    assert stale.is_dir() and not list(stale.iterdir())
    assert registry.versions(engine, task.name) == []


def test_a_versions_intervals_are_kept_in_its_params(engine, home):
    from core.intervals import PARAMS_KEY, Interval

    task = make_task()
    interval = Interval(0.70, 0.79, 0.95, 200, 300, "test rows")
    with_intervals = replace(candidate("logistic", 0.75), intervals={"auc": interval})
    version = registry.register(engine, task, with_intervals)
    assert version.intervals == {"auc": interval}
    assert version.params == {"weight": 0.5, PARAMS_KEY: {"auc": interval.to_dict()}}
    assert registry.get_version(engine, task.name, 1).intervals == {"auc": interval}
    # A version registered before intervals existed (or by a Kind that records none).
    assert registry.register(engine, task, candidate("old", 0.7)).intervals == {}
    clash = replace(candidate("clash", 0.7), params={PARAMS_KEY: 1})
    with pytest.raises(RegistryError, match="params key 'intervals' is the registry's"):
        registry.register(engine, task, clash)
    assert [v.version for v in registry.versions(engine, task.name)] == [1, 2]
    assert not list((home / "artifacts" / task.slug).glob(".staging-*"))
