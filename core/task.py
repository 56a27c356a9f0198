"""The Task contract (what a domain team writes) and the read-only registry of Tasks."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import import_module
from importlib.metadata import entry_points
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import pandas as pd

from core.fairness import Protected
from core.kinds.base import Gate

if TYPE_CHECKING:
    import pandera.pandas as pa
    import sqlalchemy as sa

    from core.kinds.base import Kind
    from core.models.formats import Formats
    from core.models.protocol import Model

ENTRY_POINT_GROUP = "verticals.tasks"
# An empty registry nearly always means the distribution is not installed: its own Tasks are
# entry points, which exist only once pip has installed the package.
NO_TASKS = (f"(none: no {ENTRY_POINT_GROUP!r} entry points are installed; run "
            "`pip install -e .` in the checkout, or install the package declaring them)")
PROFILES = ("smoke", "quick", "full")


@dataclass(frozen=True)
class Dataset:
    """An adapter that turns a public file or folder into a frame the Task can train on.

    `load(path, **options)` returns a frame. When `conforms` is true the frame follows the
    Task's schema (and can be ingested); otherwise it only carries the Kind's id and target
    columns plus arbitrary feature columns (a generic CSV, say) and is used by bench/train
    from a file. `suffixes` lets `verticals ingest TASK FILE` pick this adapter by the file's
    suffix (".dcm", ".npz"; "/" for a folder) instead of reading FILE as a CSV of schema rows.
    `private_paths` says paths may carry identifiers (patient folders): run records then keep
    a digest of the path, never the path.
    """

    name: str
    description: str
    load: Callable[..., pd.DataFrame]
    options: tuple[str, ...] = ()
    conforms: bool = True
    suffixes: tuple[str, ...] = ()
    private_paths: bool = False


@dataclass(frozen=True)
class Task:
    """A named prediction problem: schema, Kind, candidates, sample generator, page.

    Values and plain functions only: nothing to inherit or override.
    """

    name: str
    title: str
    description: str
    kind: Kind
    schema: pa.DataFrameSchema
    sample: Callable[[int, int], pd.DataFrame]
    datasets: Mapping[str, Dataset] = field(default_factory=dict)
    features: Callable[[pd.DataFrame], pd.DataFrame] | None = None
    # name -> factory called with the profile's keyword arguments; None means the Kind's list.
    models: Mapping[str, Callable[..., Model]] | None = None
    # profile ("smoke" | "quick" | "full") -> model name -> keyword arguments for its factory.
    profiles: Mapping[str, Mapping[str, Mapping[str, Any]]] = field(default_factory=dict)
    # Extra Streamlit section: page(ctx) with a core.page.PageContext, or a lazy
    # "module:function" reference so loading the Task never imports Streamlit.
    page: Callable[..., None] | str | None = None
    sample_rows: int = 3000
    # Format key -> model class ("module:Class") for candidates the Task adds in `models` whose
    # format is not built in: the registry saves and loads them like the built-ins.
    formats: Mapping[str, str | type] = field(default_factory=dict)
    # The live-accuracy gate (None: the Kind's default) and how many drifting features in the
    # latest scored batch start a retrain (`verticals monitor`).
    gate: Gate | None = None
    drift_limit: int = 3
    # Data-quality gate at ingest: a batch whose quarantined-row or missing-value share exceeds
    # it is held back from scoring until released (`verticals release`).
    quality_limit: float = 0.5
    # Called with (connection, ledger rows) inside each scored batch's transaction, after the
    # rows are written (task, model_version_id, run_id, batch columns added): decisions that
    # must commit or fail with the predictions (core.store.work_orders.WorkOrders).
    after_score: Callable[[sa.Connection, pd.DataFrame], None] | None = None
    # Attributes decisions must not rest on (fair lending: sex, age, nationality): kept in the
    # store for the fairness report, left out of the model's features (so never a reason)
    # unless `Protected(use=True, note=...)` opts in. `check_task` verifies the declaration.
    protected: Protected = field(default_factory=Protected)

    @property
    def live_gate(self) -> Gate:
        return self.gate if self.gate is not None else self.kind.gate

    @property
    def vertical(self) -> str:
        return self.name.split(".", 1)[0]

    @property
    def slug(self) -> str:
        """The name as an SQL/URL-safe identifier
        (finance.credit_scoring -> finance_credit_scoring)."""
        return self.name.replace(".", "_")

    def candidates(self) -> Mapping[str, Callable[..., Model]]:
        return self.models if self.models is not None else self.kind.default_models()

    def model_params(self, model: str, profile: str) -> dict[str, Any]:
        if profile not in PROFILES:
            raise ValueError(f"unknown profile {profile!r}: use one of {', '.join(PROFILES)}")
        return dict(self.profiles.get(profile, {}).get(model, {}))

    def build_model(self, model: str, profile: str, *, seed: int | None = None) -> Model:
        """The candidate `model` with the profile's settings; `seed` is set when it takes one."""
        factories = self.candidates()
        if model not in factories:
            raise KeyError(
                f"Task {self.name} has no model {model!r}; candidates: {', '.join(factories)}"
            )
        built = factories[model](**self.model_params(model, profile))
        if seed is not None and "seed" in built.get_params():
            built.set_params(seed=seed)
        return built

    def model_formats(self) -> Formats:
        """The format registry this Task's artifacts load through: built-ins, plugins, and the
        Task's own `formats`."""
        from core.models.formats import installed_formats

        return installed_formats().with_formats(self.formats, f"Task {self.name}")

    def page_function(self) -> Callable[..., None] | None:
        """The page callable, importing a "module:function" reference on first use."""
        if not isinstance(self.page, str):
            return self.page
        module_name, _, attribute = self.page.partition(":")
        try:
            return getattr(import_module(module_name), attribute)
        except (ImportError, AttributeError) as error:
            raise TaskRegistryError(
                f"Task {self.name}: page {self.page!r} cannot be loaded: {error}"
            ) from error

    def feature_frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The Task's domain features, or the frame itself when it declares none."""
        return self.features(frame) if self.features is not None else frame

    def sample_path(self, root: Path) -> Path:
        return root / f"{self.slug}.csv"


class TaskRegistryError(RuntimeError):
    """A Task could not be registered or found."""


def _load_ref(ref: str, origin: str) -> Task:
    module_name, _, attribute = ref.partition(":")
    try:
        task = getattr(import_module(module_name), attribute or "TASK")
    except (ImportError, AttributeError) as error:
        raise TaskRegistryError(f"cannot load Task {ref!r} from {origin}: {error}") from error
    if not isinstance(task, Task):
        raise TaskRegistryError(f"{ref!r} from {origin} is a {type(task).__name__}, not a Task")
    return task


def discover(
    builtin: Mapping[str, str | Task] | None = None, *, include_entry_points: bool = True
) -> Mapping[str, Task]:
    """Load every Task: `builtin`, a name -> "module:TASK" reference (or Task) map passed in,
    then the `verticals.tasks` entry points of every installed distribution, this project's own
    Tasks among them (declared in pyproject.toml).

    core never imports a vertical by name: it follows only the references it is given or finds
    in the entry-point group. A name defined twice is an error naming both origins, never a
    silent override.
    """
    found: dict[str, Task] = {}
    origins: dict[str, str] = {}

    def add(name: str, ref: str | Task, origin: str) -> None:
        task = ref if isinstance(ref, Task) else _load_ref(ref, origin)
        if task.name != name:
            what = "a Task" if isinstance(ref, Task) else repr(ref)
            raise TaskRegistryError(
                f"{origin} registers {what} under {name!r} but its TASK is named {task.name!r}"
            )
        if name in found:
            raise TaskRegistryError(
                f"duplicate Task name {name!r}: from {origins[name]} and from {origin}; "
                "rename one of them"
            )
        found[name] = task
        origins[name] = origin

    for name, ref in sorted((builtin or {}).items()):
        add(name, ref, "the map passed to discover()")
    if include_entry_points:
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            add(ep.name, ep.value, f"entry point {ep.name!r} of {ep.dist.name if ep.dist else '?'}")
    return MappingProxyType(dict(sorted(found.items())))


_TASKS: Mapping[str, Task] | None = None


def tasks() -> Mapping[str, Task]:
    """All registered Tasks by name (read-only, loaded once per process)."""
    global _TASKS
    if _TASKS is None:
        _TASKS = discover()
    return _TASKS


def get_task(name: str) -> Task:
    registry = tasks()
    if name not in registry:
        raise TaskRegistryError(
            f"no Task named {name!r}; registered: {', '.join(registry) or NO_TASKS}"
        )
    return registry[name]
