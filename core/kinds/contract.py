"""check_kind: does an object implement the declared Kind contract (core.kinds.base.Kind)?
Do its trained candidates record their metric intervals (`interval_problems`)? And do a
Task's models keep to its protected attributes (`protected_problems`)?

The one place outside a Kind's own module that inspects a Kind's members by name: everything
else uses them as declared. Problems are collected and reported at once, each saying what to
change, so a Kind written against an older contract learns exactly what is missing.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from core.kinds.base import ALL_SECTIONS, PRIMARY_OUTPUT, Batching, Benchmark, Gate, Kind

# Members every Kind declares, with what each must be (the protocol in core/kinds/base.py).
VALUES: dict[str, str] = {
    "name": "a non-empty str (lower_snake)",
    "primary_metric": "the str name of the metric `promote_best` ranks by",
    "higher_is_better": "a bool: whether a larger primary metric is better",
    "entity": "the str column naming what a prediction is about",
    "step_column": "the str key column ordering an entity's rows, or None",
    "label_columns": "a tuple of str: the outcome columns",
    "outputs": f"a non-empty tuple of str starting with PRIMARY_OUTPUT ({PRIMARY_OUTPUT!r})",
    "batching": "a core.kinds.base.Batching member",
    "display_metrics": "a tuple of str metric names, the primary metric among them",
    "sections": f"a tuple of dashboard section names out of {ALL_SECTIONS}",
    "bench_options": "a tuple of str: options `bench` takes besides dataset/profile/seed",
    "frame_attrs": "a tuple of str: frame.attrs names the store keeps for the whole dataset",
    "gate": "a core.kinds.base.Gate: the default gate on live accuracy",
}
# Methods, with the parameters each must accept (by name).
METHODS: dict[str, tuple[str, ...]] = {
    "default_models": (),
    "key_columns": (),
    "scoring_columns": ("task",),
    "scoring_groups": ("keys", "chunk_size"),
    "train": ("task", "frame", "profile", "seed", "models"),
    "load_predictor": ("directory", "config", "formats"),
    "bench": ("task", "frame", "dataset", "profile", "seed"),
    "benchmarks": (),
    "realised": ("task", "frame", "ledger"),
    "live_metrics": ("realised",),
}


class KindError(AssertionError):
    """A Kind breaks the contract; the message lists every problem found."""

    def __init__(self, kind: str, problems: list[str]) -> None:
        self.problems = problems
        listing = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"Kind {kind!r} does not conform ({len(problems)} problems):\n{listing}")


def declared_members() -> set[str]:
    """The names the Kind protocol declares (values and methods)."""
    names = set(getattr(Kind, "__annotations__", {}))
    names |= {n for n, v in vars(Kind).items()
              if not n.startswith("_") and (callable(v) or isinstance(v, property))}
    return names


def check_kind(kind: Kind) -> None:
    """Raise KindError listing every way `kind` departs from the declared contract."""
    problems: list[str] = []
    missing = sorted(n for n in declared_members() if not hasattr(kind, n))
    for name in missing:
        want = VALUES.get(name) or f"a method {name}({', '.join(METHODS.get(name, ()))})"
        problems.append(f"missing member {name!r}: declare {want}")
    if not missing:
        problems += _value_problems(kind)
        problems += _method_problems(kind)
        if not problems:
            problems += _behaviour_problems(kind)
    if problems:
        raise KindError(str(getattr(kind, "name", type(kind).__name__)), problems)


def _is_str_tuple(value: Any) -> bool:
    return isinstance(value, tuple) and all(isinstance(v, str) for v in value)


def _value_problems(kind: Any) -> list[str]:
    problems = []
    for name in ("name", "primary_metric", "entity"):
        value = getattr(kind, name)
        if not isinstance(value, str) or not value:
            problems.append(f"{name} must be {VALUES[name]}, got {value!r}")
    if not isinstance(kind.higher_is_better, bool):
        problems.append(f"higher_is_better must be a bool, got {kind.higher_is_better!r}")
    for name in ("label_columns", "display_metrics", "sections", "bench_options", "frame_attrs"):
        if not _is_str_tuple(getattr(kind, name)):
            problems.append(f"{name} must be {VALUES[name]}, got {getattr(kind, name)!r}")
    outputs = kind.outputs
    if not _is_str_tuple(outputs) or not outputs or outputs[0] != PRIMARY_OUTPUT:
        problems.append(f"outputs must be {VALUES['outputs']}, got {outputs!r}")
    elif len(set(outputs)) != len(outputs):
        problems.append(f"outputs must be unique, got {outputs!r}")
    if not isinstance(kind.batching, Batching):
        problems.append(f"batching must be {VALUES['batching']} "
                        f"({', '.join(b.value for b in Batching)}), got {kind.batching!r}")
    if _is_str_tuple(kind.display_metrics) and kind.primary_metric not in kind.display_metrics:
        problems.append(f"display_metrics {kind.display_metrics} lack the primary metric "
                        f"{kind.primary_metric!r}")
    if not isinstance(kind.gate, Gate):
        problems.append(f"gate must be {VALUES['gate']}, got {kind.gate!r}")
    if _is_str_tuple(kind.sections):
        unknown = [s for s in kind.sections if s not in ALL_SECTIONS]
        if unknown:
            problems.append(f"sections {unknown} are not dashboard sections; known: "
                            f"{ALL_SECTIONS}")
    return problems


# Arguments the pipelines pass by keyword (a **options parameter takes them too).
KEYWORDS = frozenset({"profile", "seed", "models", "dataset"})


def _accepts(function: Callable[..., Any], names: tuple[str, ...], keywords: frozenset[str]
             ) -> list[str]:
    """The names `function` cannot take (by name, or through **kwargs for keywords)."""
    parameters = inspect.signature(function).parameters
    var_keyword = any(p.kind is p.VAR_KEYWORD for p in parameters.values())
    return [n for n in names if n not in parameters and not (var_keyword and n in keywords)]


def _method_problems(kind: Any) -> list[str]:
    problems = []
    for name, wanted in METHODS.items():
        method = getattr(kind, name)
        if not callable(method):
            problems.append(f"{name} must be a method, got {type(method).__name__}")
            continue
        lacking = _accepts(method, wanted, KEYWORDS)
        if lacking:
            problems.append(f"{name}() takes no {', '.join(lacking)}: its signature must accept "
                            f"({', '.join(wanted)}) (see core.kinds.base.Kind.{name})")
    if not problems:
        lacking = _accepts(kind.bench, kind.bench_options, frozenset(kind.bench_options))
        if lacking:
            problems.append(f"bench() takes no {', '.join(lacking)} although bench_options "
                            "declares it")
    return problems


def _behaviour_problems(kind: Any) -> list[str]:
    problems = []
    keys = kind.key_columns()
    if not _is_str_tuple(keys) or not keys:
        problems.append(f"key_columns() must return a non-empty tuple of str, got {keys!r}")
    else:
        if kind.entity not in keys:
            problems.append(f"entity {kind.entity!r} must be one of key_columns() {keys}")
        step = kind.step_column
        if step is not None and (not isinstance(step, str) or step not in keys):
            problems.append(f"step_column {step!r} must be None or one of key_columns() {keys}")
        if kind.batching is Batching.SLICES and step is None:
            problems.append("SLICES batching cuts the panel along step_column: declare one")
    overlap = set(kind.label_columns) & set(keys if _is_str_tuple(keys) else ())
    if overlap:
        problems.append(f"label columns {sorted(overlap)} cannot be key columns")
    sample = [f"k{i:03d}" for i in (7, 3, 11, 3, 0, 5, 9)]
    groups = kind.scoring_groups(sample, 2)
    flat = [k for g in groups for k in g]
    if sorted(flat) != sorted(set(sample)) or any(len(g) > 2 or not g for g in groups):
        problems.append("scoring_groups(keys, 2) must cut the distinct keys into non-empty "
                        f"groups of at most 2, each key once; got {groups!r}")
    elif kind.scoring_groups(list(reversed(sample)), 2) != groups:
        problems.append("scoring_groups must not depend on the keys' order (batch b must mean "
                        "the same keys on every run)")
    benchmarks = kind.benchmarks()
    if not isinstance(benchmarks, Mapping):
        problems.append(f"benchmarks() must return a mapping name -> Benchmark, got "
                        f"{type(benchmarks).__name__}")
    else:
        for key, bench in benchmarks.items():
            if not isinstance(bench, Benchmark) or bench.name != key:
                problems.append(f"benchmarks()[{key!r}] must be a Benchmark named {key!r}")
            elif bench.run is not None and not callable(bench.run):
                problems.append(f"benchmark {key!r}: run must be callable or None")
    models = kind.default_models()
    if not isinstance(models, Mapping) or not all(callable(f) for f in models.values()):
        problems.append("default_models() must return a mapping name -> zero-argument factory")
    return problems


# --- metric intervals (Candidate.intervals, core.intervals) ------------------------------------


def interval_problems(kind: Kind, candidates: Sequence[Any]) -> list[str]:
    """How trained `candidates` break the interval contract: each records, for the Kind's
    primary metric, a core.intervals.Interval over its held-out units that holds the point
    value; every recorded interval is well formed and names a metric the candidate reports."""
    from core.intervals import Interval

    problems = []
    primary = kind.primary_metric
    for candidate in candidates:
        where = f"candidate {candidate.name!r}"
        intervals = candidate.intervals
        if primary not in intervals:
            problems.append(f"{where}: no interval for the primary metric {primary!r}: record "
                            "one in Candidate.intervals (core.intervals.bootstrap over the "
                            "held-out units the metric is measured on)")
        for name, interval in intervals.items():
            if not isinstance(interval, Interval):
                problems.append(f"{where}: interval {name!r} must be a core.intervals.Interval, "
                                f"got {type(interval).__name__}")
                continue
            if name not in candidate.metrics:
                problems.append(f"{where}: interval {name!r} names no metric of the candidate")
                continue
            bounds = (interval.low, interval.high)
            if not all(np.isfinite(bounds)) or interval.low > interval.high:
                problems.append(f"{where}: interval {name!r} {bounds} must be finite with low "
                                "<= high")
            elif not (0 < interval.level < 1 and interval.resamples > 0 and interval.units > 0
                      and interval.over):
                problems.append(f"{where}: interval {name!r} must say its level in (0, 1), "
                                f"resamples, units and what they are, got {interval}")
            elif name == primary and not interval.contains(float(candidate.metrics[name])):
                problems.append(
                    f"{where}: the {name!r} interval [{interval.low:.6g}, {interval.high:.6g}] "
                    f"does not hold the point value {candidate.metrics[name]:.6g}: resample "
                    "the same held-out units the metric is computed on")
    return problems


# --- protected attributes (core.fairness.Protected, Task.protected) -----------------------------

# A numeric protected column with more distinct values than this in the sample is continuous
# (age): its report groups need declared bands, not one group per value.
MAX_GROUPS = 20
OPT_IN = "leave them out of features, or opt in with Protected(use=True, note=<why>)"


def protected_declaration_problems(task: Any) -> list[str]:
    """Declared protected columns the schema lacks (the store keeps only schema columns, so
    the report could never group by them)."""
    columns = list(task.schema.columns)
    return [f"protected column {c!r} is not in the schema (columns: {', '.join(columns)}): "
            "declare it in the schema or drop it from Task.protected"
            for c in task.protected.columns if c not in columns]


def protected_problems(task: Any, frame: pd.DataFrame, candidates: Sequence[Any]) -> list[str]:
    """How `task`'s features and trained `candidates` (Kind.train on the sample `frame`) break
    its protected declaration: a continuous attribute without bands; unless the Task opted in,
    features or scores that move when the protected columns are shuffled (a model reads them,
    directly or through Task.features); and, opted in or not, a reason naming one."""
    protected = task.protected
    present = [c for c in protected.columns if c in frame.columns]
    problems = [
        f"protected column {c!r} is numeric with {frame[c].nunique()} values in the sample: "
        f"declare its report bands, e.g. Protected(bands={{{c!r}: (25, 35, 50, 65)}})"
        for c in present
        if pd.api.types.is_numeric_dtype(frame[c]) and c not in protected.bands
        and frame[c].nunique() > MAX_GROUPS]
    if not present:
        return problems
    shuffled = frame.copy()
    rng = np.random.default_rng(0)
    for column in present:
        shuffled[column] = rng.permutation(shuffled[column].to_numpy())
    rows, moved = task.feature_frame(frame), task.feature_frame(shuffled)
    if not protected.use:
        keep = [c for c in rows.columns
                if c not in (*protected.columns, *task.kind.label_columns)]
        changed = [c for c in keep if c in moved.columns
                   and not rows[c].reset_index(drop=True).equals(moved[c].reset_index(drop=True))]
        if changed:
            problems.append(f"features {changed} change when protected columns {present} are "
                            f"shuffled: Task.features derives them from protected attributes; "
                            f"{OPT_IN}")
    for candidate in candidates:
        where = f"candidate {candidate.name!r}"
        ledger = candidate.predictor.predict(rows)
        if not protected.use:
            again = candidate.predictor.predict(moved)["score"].to_numpy(dtype=float)
            if not np.allclose(ledger["score"].to_numpy(dtype=float), again, rtol=1e-6,
                               atol=1e-9, equal_nan=True):
                problems.append(f"{where}: scores change when protected columns {present} are "
                                f"shuffled, so the model reads them; {OPT_IN}")
        named = sorted(_reason_features(ledger["reasons"]) & set(protected.columns))
        if named:
            problems.append(f"{where}: reasons name protected attributes {named}; a decision "
                            "must never be explained by them (leave them out of features)")
    return problems


def _reason_features(reasons: pd.Series) -> set[str]:
    """The feature names the ledger's reasons JSON lists mention."""
    names: set[str] = set()
    for text in reasons.dropna():
        for reason in json.loads(text) if isinstance(text, str) and text else []:
            if isinstance(reason, dict) and "feature" in reason:
                names.add(str(reason["feature"]))
    return names
