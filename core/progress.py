"""Progress of long runs: core code says what it is doing, a front end (the CLI) shows it.

Core code opens a task and reports on it; without a listener (tests, library use) nothing is
shown, and `update`/`advance` outside any task do nothing, so model and Kind code can call
them freely:

    with progress.task("cross-validation", total=len(folds) * len(names)):
        for fold ...:
            for name in names:
                progress.update(candidate=name, fold=f"{i}/{len(folds)}")
                ...fit...
                progress.advance()

The active task and the listener are context-local (contextvars), never module globals.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Protocol


class Listener(Protocol):
    """What renders tasks (pipelines/cli.py: rich on stderr)."""

    def started(self, task: Task) -> None: ...

    def changed(self, task: Task, counted: bool) -> None:
        """`counted`: a step finished (advance), else only the details changed (update)."""
        ...

    def finished(self, task: Task) -> None: ...


@dataclass
class Task:
    """One long piece of work: `done` of `total` steps (None: unknown), details, times."""

    description: str
    total: int | None = None
    done: int = 0
    fields: dict[str, Any] = field(default_factory=dict)
    clock: Callable[[], float] = time.monotonic
    started_at: float = 0.0
    parent: Task | None = None

    def __post_init__(self) -> None:
        self.started_at = self.clock()

    @property
    def elapsed_s(self) -> float:
        return self.clock() - self.started_at

    @property
    def remaining_s(self) -> float | None:
        """Elapsed time per finished step times the steps left; None before the first step
        or without a total."""
        if self.total is None or self.done <= 0:
            return None
        return self.elapsed_s / self.done * max(self.total - self.done, 0)

    @property
    def detail(self) -> str:
        """The details in the order they were set: "candidate lightgbm · fold 3/15"."""
        return " · ".join(f"{key} {value}" for key, value in self.fields.items())

    def set_fields(self, fields: dict[str, Any]) -> None:
        # A detail set earlier is described by those set after it (a candidate's fold, a
        # fold's epoch): giving it a new value drops them, so no stale epoch shows beside
        # the next candidate. The details given together are all kept, in their order.
        keys = list(self.fields)
        known = [keys.index(key) for key in fields if key in self.fields]
        if known:
            self.fields = {key: self.fields[key] for key in keys[:min(known)]}
        self.fields.update(fields)


_active: ContextVar[Task | None] = ContextVar("verticals_progress_task", default=None)
_listener: ContextVar[Listener | None] = ContextVar("verticals_progress_listener", default=None)


def current() -> Task | None:
    """The innermost open task of this context, if any."""
    return _active.get()


@contextmanager
def listen(listener: Listener | None) -> Iterator[None]:
    """Tasks opened inside go to `listener` (None: shown nowhere, e.g. `--quiet`)."""
    token = _listener.set(listener)
    try:
        yield
    finally:
        _listener.reset(token)


@contextmanager
def task(description: str, total: int | None = None, *,
         clock: Callable[[], float] = time.monotonic) -> Iterator[Task]:
    """Open a task (nested in the open one, if any) for the duration of the block."""
    opened = Task(description, total, clock=clock, parent=_active.get())
    listener = _listener.get()
    token = _active.set(opened)
    if listener is not None:
        listener.started(opened)
    try:
        yield opened
    finally:
        _active.reset(token)
        if listener is not None:
            listener.finished(opened)


def update(**fields: Any) -> None:
    """Say what the open task is doing now (candidate, fold, epoch); no-op without one."""
    _report(0, fields)


def advance(steps: int = 1, **fields: Any) -> None:
    """Count `steps` finished steps of the open task (and set details); no-op without one."""
    _report(steps, fields)


def _report(steps: int, fields: dict[str, Any]) -> None:
    opened = _active.get()
    if opened is None:
        return
    opened.done += steps
    opened.set_fields(fields)
    listener = _listener.get()
    if listener is not None:
        listener.changed(opened, counted=steps > 0)
