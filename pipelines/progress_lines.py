"""The progress line of long CLI runs: core.progress tasks rendered on stderr through rich."""

from __future__ import annotations

import time
from datetime import timedelta

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from core import progress


class ProgressLines:
    """core.progress tasks on stderr through rich: live bars on a terminal; elsewhere (logs,
    pipes) one line per finished step, and one per `every_s` seconds of a long step (a net's
    epochs), so a long run leaves a readable trail."""

    def __init__(self, console: Console, every_s: float = 30.0) -> None:
        self.console = console
        self.every_s = every_s
        self.printed_at = time.monotonic()
        self.bars = Progress(
            SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
            MofNCompleteColumn(), TextColumn("{task.fields[detail]}"), TimeElapsedColumn(),
            TextColumn("{task.fields[eta]}"), console=console, transient=True)
        self.ids: dict[int, TaskID] = {}

    def started(self, task: progress.Task) -> None:
        if not self.ids and self.console.is_terminal:
            self.bars.start()
        self.ids[id(task)] = self.bars.add_task(task.description, total=task.total,
                                                detail="", eta="")

    def changed(self, task: progress.Task, counted: bool) -> None:
        eta = "" if task.remaining_s is None else f"~{clock(task.remaining_s)} left"
        self.bars.update(self.ids[id(task)], completed=task.done, total=task.total,
                         detail=task.detail, eta=eta)
        if self.console.is_terminal:
            return
        if counted or time.monotonic() - self.printed_at >= self.every_s:
            parts = [f"{task.done}/{task.total if task.total is not None else '?'}",
                     task.detail, f"{clock(task.elapsed_s)} elapsed", eta]
            self.console.print(f"{task.description}: " + " · ".join(p for p in parts if p))
            self.printed_at = time.monotonic()

    def finished(self, task: progress.Task) -> None:
        self.bars.remove_task(self.ids.pop(id(task)))
        if not self.ids and self.console.is_terminal:
            self.bars.stop()


def clock(seconds: float) -> str:
    """Seconds as h:mm:ss."""
    return str(timedelta(seconds=round(seconds)))
