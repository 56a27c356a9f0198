"""The progress reporter: counts, details, ETA, nesting, and nothing at all when inactive."""

from __future__ import annotations

import pytest

from core import progress
from core.progress import Task


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, str, int, bool | None]] = []

    def started(self, task: Task) -> None:
        self.events.append(("started", task.description, task.done, None))

    def changed(self, task: Task, counted: bool) -> None:
        self.events.append(("changed", task.description, task.done, counted))

    def finished(self, task: Task) -> None:
        self.events.append(("finished", task.description, task.done, None))


def test_update_and_advance_outside_a_task_do_nothing() -> None:
    assert progress.current() is None
    progress.update(candidate="lightgbm")
    progress.advance(fold="1/15")
    assert progress.current() is None


def test_advance_counts_steps_and_update_only_details() -> None:
    with progress.task("bench", total=6) as task:
        progress.update(candidate="scorecard", fold="1/3")
        assert task.done == 0 and task.detail == "candidate scorecard · fold 1/3"
        progress.advance()
        progress.advance(2, candidate="lightgbm")
        assert task.done == 3
    assert progress.current() is None


def test_a_new_value_drops_the_details_set_after_it() -> None:
    with progress.task("bench") as task:
        progress.update(candidate="tabular_net", fold="2/15")
        progress.update(epoch="40/40")
        progress.update(candidate="lightgbm")
        assert task.fields == {"candidate": "lightgbm"}
        progress.update(fold="3/15", epoch="1/40")
        progress.update(fold="4/15")
        assert task.fields == {"candidate": "lightgbm", "fold": "4/15"}
        progress.update(rows=1000, candidate="scorecard")  # given together: both kept
        assert task.fields == {"rows": 1000, "candidate": "scorecard"}
        assert task.detail == "rows 1000 · candidate scorecard"


def test_remaining_time_is_elapsed_per_step_times_steps_left() -> None:
    clock = Clock()
    with progress.task("bench", total=10, clock=clock) as task:
        assert task.remaining_s is None  # nothing finished yet: no estimate
        clock.now += 8.0
        progress.advance(4)
        assert task.elapsed_s == 8.0 and task.remaining_s == 12.0  # 2 s a step, 6 left
        progress.advance(6)
        assert task.remaining_s == 0.0
        progress.advance()  # past the total: never negative
        assert task.remaining_s == 0.0
    with progress.task("open-ended", clock=clock) as task:
        progress.advance()
        assert task.remaining_s is None


def test_nested_tasks_report_to_the_innermost_and_restore_the_outer() -> None:
    recorder = Recorder()
    with progress.listen(recorder), progress.task("train", total=2) as outer:
        with progress.task("cross-validation", total=3) as inner:
            assert inner.parent is outer
            progress.advance()
        progress.advance(epoch="1/5")
    assert outer.done == 1 and inner.done == 1
    assert recorder.events == [
        ("started", "train", 0, None), ("started", "cross-validation", 0, None),
        ("changed", "cross-validation", 1, True), ("finished", "cross-validation", 1, None),
        ("changed", "train", 1, True), ("finished", "train", 1, None)]


def test_without_a_listener_tasks_are_counted_but_shown_nowhere() -> None:
    recorder = Recorder()
    with progress.listen(recorder), progress.listen(None), progress.task("quiet") as task:
        progress.update(candidate="scorecard")
        progress.advance()
    assert task.done == 1 and recorder.events == []


def test_the_task_closes_when_the_block_raises() -> None:
    recorder = Recorder()
    with pytest.raises(RuntimeError, match="fit failed"), progress.listen(recorder), \
            progress.task("failing"):
        raise RuntimeError("fit failed")
    assert progress.current() is None and recorder.events[-1][0] == "finished"


def test_a_net_fit_reports_each_epoch_on_the_open_task() -> None:
    import torch

    from core.models.training import fit_module

    torch.manual_seed(0)
    x = torch.randn(64, 3)
    y = (x.sum(dim=1, keepdim=True) > 0).float()
    seen: list[str] = []

    class Details(Recorder):
        def changed(self, task: Task, counted: bool) -> None:
            seen.append(task.detail)

    with progress.listen(Details()), progress.task("train"):
        progress.update(candidate="net")
        fit_module(torch.nn.Linear(3, 1), torch.nn.functional.binary_cross_entropy_with_logits,
                   (x, y), (x, y), max_epochs=2, batch_size=32, patience=5)
    assert seen == ["candidate net", "candidate net · epoch 1/2", "candidate net · epoch 2/2"]
