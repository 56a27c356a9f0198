"""Model versions: artifacts in safe formats with a sha256 manifest, the champion alias,
promotion."""

from __future__ import annotations

import hashlib
import json
import math
import shutil
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import sqlalchemy as sa

from core.intervals import PARAMS_KEY, Interval, recorded
from core.store.engine import home
from core.store.schema import aliases, model_versions, utcnow

if TYPE_CHECKING:
    from core.kinds.base import Candidate, Predictor
    from core.task import Task

CHAMPION = "champion"
CONFIG = "config.json"
MANIFEST = "manifest.json"
MODEL_DIR = "model"  # the Predictor's own files, apart from ours so names never clash


class RegistryError(RuntimeError):
    """A model version is missing or cannot be registered."""


class ArtifactIntegrityError(RegistryError):
    """An artifact's files do not match the sha256 recorded when it was registered."""


@dataclass(frozen=True)
class ModelVersion:
    """One registered candidate of a Task, as stored in `model_versions`."""

    id: int
    task: str
    version: int
    model: str
    format: str
    created_at: datetime
    metrics: dict[str, float]
    params: dict[str, Any]
    primary_metric: str
    primary_value: float | None
    train_rows: int | None
    dataset: str | None
    profile: str | None
    run_id: int | None
    artifact_path: str
    artifact_sha256: str
    reference: dict[str, Any]

    @property
    def directory(self) -> Path:
        return home() / self.artifact_path

    @property
    def intervals(self) -> dict[str, Interval]:
        """Metric name -> its bootstrap interval ({} for versions trained before intervals)."""
        return recorded(self.params)


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path | datetime):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable; store plain values")


def _dumps(value: Any) -> str:
    return json.dumps(value, default=_plain, sort_keys=True)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _files(directory: Path) -> list[str]:
    return sorted(p.relative_to(directory).as_posix() for p in directory.rglob("*") if p.is_file())


def _row_to_version(row: sa.RowMapping) -> ModelVersion:
    return ModelVersion(
        id=row["id"], task=row["task"], version=row["version"], model=row["model"],
        format=row["format"], created_at=row["created_at"], metrics=json.loads(row["metrics"]),
        params=json.loads(row["params"]), primary_metric=row["primary_metric"],
        primary_value=row["primary_value"], train_rows=row["train_rows"], dataset=row["dataset"],
        profile=row["profile"], run_id=row["run_id"], artifact_path=row["artifact_path"],
        artifact_sha256=row["artifact_sha256"],
        reference=json.loads(row["reference"]) if row["reference"] else {},
    )


def _write_artifact(directory: Path, predictor: Predictor, config: dict[str, Any]) -> str:
    """Save the predictor, config and manifest into `directory`; returns the manifest's sha256."""
    (directory / MODEL_DIR).mkdir()
    predictor.save(directory / MODEL_DIR)
    (directory / CONFIG).write_text(_dumps(config))
    manifest = {name: _sha256(directory / name) for name in _files(directory)}
    payload = _dumps(manifest).encode()
    (directory / MANIFEST).write_bytes(payload)
    return hashlib.sha256(payload).hexdigest()


def stored_params(candidate: Candidate) -> dict[str, Any]:
    """The candidate's params with its metric intervals under PARAMS_KEY: model_versions.params
    keeps them (no column of their own), `ModelVersion.intervals` reads them back."""
    if PARAMS_KEY in candidate.params:
        raise RegistryError(f"candidate {candidate.name!r}: params key {PARAMS_KEY!r} is the "
                            "registry's (Candidate.intervals); name the parameter otherwise")
    if not candidate.intervals:
        return dict(candidate.params)
    return {**candidate.params,
            PARAMS_KEY: {name: interval.to_dict()
                         for name, interval in sorted(candidate.intervals.items())}}


def register(
    engine: sa.Engine, task: Task, candidate: Candidate, *,
    run_id: int | None = None, profile: str | None = None, dataset: str | None = "store",
) -> ModelVersion:
    """Store a trained candidate as the Task's next version (artifact first, then its row).

    The artifact is written to a temporary directory and renamed into place; if the row
    cannot be inserted the directory is removed, so no version is ever half-registered.
    """
    params = stored_params(candidate)  # refused before any file is written
    root = home() / "artifacts" / task.slug
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=root))
    predictor = candidate.predictor
    config = {"format": predictor.format, "task": task.name, "model": candidate.name,
              "kind": type(task.kind).__name__, "params": params}
    placed: Path | None = None
    try:
        digest = _write_artifact(staging, predictor, config)
        primary = task.kind.primary_metric
        value = candidate.metrics.get(primary)
        with engine.begin() as connection:
            version = 1 + (connection.execute(
                sa.select(sa.func.max(model_versions.c.version))
                .where(model_versions.c.task == task.name)).scalar() or 0)
            final = root / f"v{version}"
            if final.exists():
                raise RegistryError(
                    f"artifact directory {final} already exists but the store has no version "
                    f"{version} of {task.name}: it is left from another store or a crashed run; "
                    "move it away (or use a fresh VERTICALS_HOME) and register again")
            staging.rename(final)
            placed = final
            row_id = connection.execute(model_versions.insert().values(
                task=task.name, version=version, model=candidate.name, format=predictor.format,
                created_at=utcnow(), run_id=run_id, profile=profile, dataset=dataset,
                train_rows=candidate.train_rows, primary_metric=primary,
                primary_value=None if value is None else float(value),
                metrics=_dumps(candidate.metrics), params=_dumps(params),
                reference=_dumps(candidate.reference),
                artifact_path=final.relative_to(home()).as_posix(), artifact_sha256=digest,
            ).returning(model_versions.c.id)).scalar_one()
    except BaseException:
        # The original error is what matters; a leftover directory would be named by the next try.
        shutil.rmtree(placed or staging, ignore_errors=True)
        raise
    return get_version(engine, task.name, version=None, version_id=row_id)


def get_version(engine: sa.Engine, task_name: str, version: int | None = None, *,
                version_id: int | None = None) -> ModelVersion:
    """One version of a Task, by number (or by row id)."""
    statement = sa.select(model_versions).where(model_versions.c.task == task_name)
    if version_id is not None:
        statement = statement.where(model_versions.c.id == version_id)
    else:
        statement = statement.where(model_versions.c.version == version)
    with engine.connect() as connection:
        row = connection.execute(statement).mappings().first()
    if row is None:
        known = [v.version for v in versions(engine, task_name)]
        raise RegistryError(f"Task {task_name} has no model version {version or version_id}; "
                            f"registered versions: {known or 'none (run `verticals train` first)'}")
    return _row_to_version(row)


def versions(engine: sa.Engine, task_name: str) -> list[ModelVersion]:
    """Every version of a Task, oldest first."""
    statement = (sa.select(model_versions).where(model_versions.c.task == task_name)
                 .order_by(model_versions.c.version))
    with engine.connect() as connection:
        return [_row_to_version(row) for row in connection.execute(statement).mappings()]


def promote(engine: sa.Engine, task_name: str, version: int) -> ModelVersion:
    """Make a version the Task's champion (the one `score` uses)."""
    chosen = get_version(engine, task_name, version)
    with engine.begin() as connection:
        key = (aliases.c.task == task_name) & (aliases.c.alias == CHAMPION)
        connection.execute(aliases.delete().where(key))
        connection.execute(aliases.insert().values(
            task=task_name, alias=CHAMPION, model_version_id=chosen.id, updated_at=utcnow()))
    return chosen


def promote_best(engine: sa.Engine, task: Task) -> ModelVersion:
    """Promote the version that wins on the Kind's primary metric (ties: the newest)."""
    metric, higher = task.kind.primary_metric, task.kind.higher_is_better
    scored = [v for v in versions(engine, task.name)
              if v.primary_value is not None and not math.isnan(v.primary_value)]
    if not scored:
        raise RegistryError(f"Task {task.name} has no model version with a {metric!r} value to "
                            "promote; train it first (`verticals train`)")
    best = max(scored, key=lambda v: (v.primary_value if higher else -v.primary_value, v.version))
    return promote(engine, task.name, best.version)


def champion(engine: sa.Engine, task_name: str) -> ModelVersion | None:
    """The Task's champion version, or None when nothing was promoted yet."""
    statement = (sa.select(model_versions)
                 .join(aliases, aliases.c.model_version_id == model_versions.c.id)
                 .where(aliases.c.task == task_name, aliases.c.alias == CHAMPION))
    with engine.connect() as connection:
        row = connection.execute(statement).mappings().first()
    return None if row is None else _row_to_version(row)


def verify_artifact(model_version: ModelVersion) -> dict[str, Any]:
    """Check every file against the manifest (and the manifest against the store); return config."""
    directory = model_version.directory
    where = f"model {model_version.task} v{model_version.version} ({directory})"
    advice = "re-train or restore the artifact from a backup; do not load files you cannot trust"
    manifest_path = directory / MANIFEST
    if not manifest_path.is_file():
        raise ArtifactIntegrityError(f"{where}: {MANIFEST} is missing; {advice}")
    payload = manifest_path.read_bytes()
    if hashlib.sha256(payload).hexdigest() != model_version.artifact_sha256:
        raise ArtifactIntegrityError(f"{where}: {MANIFEST} does not match the sha256 recorded in "
                                     f"the store; {advice}")
    manifest: dict[str, str] = json.loads(payload)
    present = set(_files(directory)) - {MANIFEST}
    for name in sorted(set(manifest) | present):
        if name not in manifest:
            raise ArtifactIntegrityError(f"{where}: file {name} is not in the manifest; {advice}")
        if name not in present:
            raise ArtifactIntegrityError(f"{where}: file {name} is missing; {advice}")
        if _sha256(directory / name) != manifest[name]:
            raise ArtifactIntegrityError(f"{where}: file {name} was modified (sha256 mismatch); "
                                         f"{advice}")
    return json.loads((directory / CONFIG).read_text())


def load_predictor(engine: sa.Engine, task: Task, version: int | None = None) -> Predictor:
    """The Predictor of a version (None: the champion), verified before a byte of it is read."""
    if version is None:
        chosen = champion(engine, task.name)
        if chosen is None:
            raise RegistryError(f"Task {task.name} has no champion; run `verticals train "
                                f"{task.name}` or `verticals promote {task.name} VERSION`")
    else:
        chosen = get_version(engine, task.name, version)
    config = verify_artifact(chosen)
    return task.kind.load_predictor(chosen.directory / MODEL_DIR, config, task.model_formats())
