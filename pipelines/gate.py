"""The gate: live accuracy and drift against the Task's limits, retrain into a challenger,
shadow-score it beside the champion, promote it only when it wins on the arriving outcomes."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from core import registry
from core.live import realised, refresh_live
from core.store.runs import TRIGGER, track_run
from core.store.schema import aliases, drift_reports, gate_decisions, utcnow
from core.task import Task

CHALLENGER = "challenger"
LEDGER_KEY = ["entity_key", "output", "as_of", "step", "horizon"]


@dataclass
class Decision:
    decision: str  # passed | waiting | retrain | promoted | kept_back
    reason: str
    champion_version: int | None = None
    challenger_version: int | None = None
    figures: dict[str, Any] = field(default_factory=dict)


def challenger(engine: Engine, task_name: str) -> registry.ModelVersion | None:
    with engine.connect() as conn:
        row = conn.execute(sa.select(aliases.c.model_version_id).where(
            aliases.c.task == task_name, aliases.c.alias == CHALLENGER)).scalar()
    return None if row is None else registry.get_version(engine, task_name, version_id=row)


def _set_challenger(engine: Engine, task_name: str, version_id: int | None) -> None:
    with engine.begin() as conn:
        conn.execute(aliases.delete().where(aliases.c.task == task_name,
                                            aliases.c.alias == CHALLENGER))
        if version_id is not None:
            conn.execute(aliases.insert().values(task=task_name, alias=CHALLENGER,
                                                 model_version_id=version_id,
                                                 updated_at=utcnow()))


def score_with_shadow(engine: Engine, task: Task, *, chunk_size: int = 50_000) -> list[Any]:
    """Score with the champion, then shadow-score the challenger (if any) on the same rows."""
    from pipelines.score import score

    results = [score(engine, task, chunk_size=chunk_size)]
    shadow = challenger(engine, task.name)
    if shadow is not None:
        results.append(score(engine, task, chunk_size=chunk_size, version=shadow.version))
    return results


def _clean(metrics: dict[str, float]) -> dict[str, float | None]:
    return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in metrics.items()}


def drift_flags(engine: Engine, version_id: int) -> list[str]:
    """Features flagged in the version's latest scored run."""
    with engine.connect() as conn:
        last = conn.execute(sa.select(sa.func.max(drift_reports.c.run_id)).where(
            drift_reports.c.model_version_id == version_id)).scalar()
        if last is None:
            return []
        rows = conn.execute(sa.select(drift_reports.c.feature).where(
            drift_reports.c.model_version_id == version_id, drift_reports.c.run_id == last,
            drift_reports.c.flag.is_(True))).scalars()
        return sorted(set(rows))


def compare(task: Task, joined: pd.DataFrame, champion_id: int,
            challenger_id: int) -> tuple[dict[str, float], dict[str, float]]:
    """Both versions' live metrics on the outcomes both predicted (the same rows)."""
    mine = joined[joined["model_version_id"] == champion_id]
    theirs = joined[joined["model_version_id"] == challenger_id]
    shared = mine[LEDGER_KEY].merge(theirs[LEDGER_KEY], on=LEDGER_KEY)
    mine, theirs = (part.merge(shared, on=LEDGER_KEY) for part in (mine, theirs))
    return task.kind.live_metrics(mine), task.kind.live_metrics(theirs)


def _record(engine: Engine, task: Task, decision: Decision, run_id: int | None) -> Decision:
    with engine.begin() as conn:
        conn.execute(gate_decisions.insert().values(
            task=task.name, decision=decision.decision, reason=decision.reason,
            champion_version=decision.champion_version,
            challenger_version=decision.challenger_version,
            figures=json.dumps(_clean(decision.figures), sort_keys=True, default=str),
            run_id=run_id, at=utcnow()))
    return decision


def _judge_challenger(engine: Engine, task: Task, champ: Any, shadow: Any) -> Decision:
    gate = task.live_gate
    mine, theirs = compare(task, realised(engine, task), champ.id, shadow.id)
    a, b, n = mine.get(gate.metric, math.nan), theirs.get(gate.metric, math.nan), theirs["n"]
    figures = {"metric": gate.metric, "champion": a, "challenger": b, "n": n,
               "min_outcomes": gate.min_outcomes}
    base = Decision("waiting", "", champ.version, shadow.version, figures)
    if n < gate.min_outcomes or math.isnan(a) or math.isnan(b):
        base.reason = (f"challenger v{shadow.version} has {int(n)} shadow outcomes; the gate "
                       f"compares after {gate.min_outcomes}")
        return base
    if gate.beats(b, a):
        registry.promote(engine, task.name, shadow.version)
        _set_challenger(engine, task.name, None)
        base.decision = "promoted"
        base.reason = (f"challenger v{shadow.version} {gate.metric} {b:.4f} beats champion "
                       f"v{champ.version} {a:.4f} over {int(n)} outcomes")
        return base
    _set_challenger(engine, task.name, None)
    base.decision = "kept_back"
    base.reason = (f"challenger v{shadow.version} {gate.metric} {b:.4f} does not beat champion "
                   f"v{champ.version} {a:.4f} over {int(n)} outcomes")
    return base


def _retrain(engine: Engine, task: Task, champ: Any, profile: str,
             models: tuple[str, ...] | None) -> int:
    """Train challengers (trigger `retrain`); the champion stays; the best new one shadows."""
    from pipelines.train import train

    token = TRIGGER.set("retrain")
    try:
        result = train(engine, task, profile=profile, models=models)
    finally:
        TRIGGER.reset(token)
    registry.promote(engine, task.name, champ.version)  # train promoted its best: undo
    kind = task.kind
    fresh = [v for v in result.versions
             if v.primary_value is not None and not math.isnan(v.primary_value)]
    best = max(fresh, key=lambda v: v.primary_value if kind.higher_is_better
               else -v.primary_value)
    _set_challenger(engine, task.name, best.id)
    return best.version


def monitor(engine: Engine, task: Task, *, profile: str = "quick",
            models: tuple[str, ...] | None = None) -> Decision:
    """Check the champion against the gate and drift limit; act; record the decision."""
    with track_run(engine, task.name, "monitor", {"profile": profile}) as run:
        champ = registry.champion(engine, task.name)
        if champ is None:
            raise registry.RegistryError(f"Task {task.name} has no champion: train it first")
        refresh_live(engine, task)
        shadow = challenger(engine, task.name)
        if shadow is not None:
            return _record(engine, task, _judge_challenger(engine, task, champ, shadow), run.id)
        gate = task.live_gate
        joined = realised(engine, task)
        live = task.kind.live_metrics(joined[joined["model_version_id"] == champ.id])
        value, n = live.get(gate.metric, math.nan), int(live["n"])
        flags = drift_flags(engine, champ.id)
        figures = {"metric": gate.metric, "value": value, "threshold": gate.threshold, "n": n,
                   "min_outcomes": gate.min_outcomes, "drift_flags": flags,
                   "drift_limit": task.drift_limit}
        short = n >= gate.min_outcomes and not math.isnan(value) and not gate.passes(value)
        drifting = len(flags) > task.drift_limit
        if not short and not drifting:
            reason = (f"champion v{champ.version} live {gate.metric} {value:.4f} over {n} "
                      f"outcomes meets {gate.threshold}" if n >= gate.min_outcomes else
                      f"{n} outcomes so far; the gate judges after {gate.min_outcomes}")
            return _record(engine, task, Decision("passed", reason, champ.version, None, figures),
                           run.id)
        why = (f"live {gate.metric} {value:.4f} over {n} outcomes misses {gate.threshold}"
               if short else f"{len(flags)} drifting features exceed the limit {task.drift_limit}")
        version = _retrain(engine, task, champ, profile, models)
        return _record(engine, task, Decision(
            "retrain", f"champion v{champ.version}: {why}; retrained, challenger v{version} "
            "shadow-scores from the next batch", champ.version, version, figures), run.id)


def decisions(engine: Engine, task_name: str) -> pd.DataFrame:
    """The champion's history: every gate decision, newest first."""
    statement = (sa.select(gate_decisions).where(gate_decisions.c.task == task_name)
                 .order_by(gate_decisions.c.id.desc()))
    with engine.connect() as conn:
        return pd.read_sql(statement, conn)
