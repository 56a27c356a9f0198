"""check_kind: does an object implement the declared Kind contract (core.kinds.base.Kind)?

The one place outside a Kind's own module that inspects a Kind's members by name: everything
else uses them as declared. Problems are collected and reported at once, each saying what to
change, so a Kind written against an older contract learns exactly what is missing.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

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
