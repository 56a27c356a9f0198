"""The `verticals orders …` commands: the work-order queue a Task's scoring fills
(core.store.work_orders), its status changes and their history."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer

from core.task import get_task
from pipelines.cli import TaskArg, _table, app, err, open_store, out, user_errors

orders_app = typer.Typer(help="Work orders from scored batches: list, set status, history.",
                         no_args_is_help=True)
app.add_typer(orders_app, name="orders")
EntityArg = Annotated[str, typer.Argument(help="the entity (machine / run id) of the order")]


@contextmanager
def _order_errors() -> Iterator[None]:
    """Refused status changes are user errors too: one line, exit code 1."""
    from core.store.work_orders import WorkOrderError

    with user_errors():
        try:
            yield
        except WorkOrderError as error:
            err.print(f"[bold red]error:[/] {error}")
            raise typer.Exit(1) from None


def _money(value: float) -> str:
    return f"{value:,.0f}"


@orders_app.command("list")
def orders_list(
    task: TaskArg,
    status: Annotated[str | None, typer.Option(help="only open, scheduled or done")] = None,
) -> None:
    """The queue: orders not done by rank (highest expected cost of waiting first), then done."""
    with _order_errors():
        from core.store import work_orders

        name = get_task(task).name
        queue = work_orders.queue(open_store(), name, status)
        if queue.empty:
            out.print(f"no work orders for {name}" + (f" with status {status}" if status else ""))
            return
        table = _table("rank", "entity", "status", "probability", "mode",
                       "expected cost of waiting", "model version id", "updated (UTC)")
        for row in queue.itertuples():
            table.add_row("" if row.rank != row.rank or row.rank is None else str(int(row.rank)),
                          row.entity_key, row.status, f"{row.probability:.3f}",
                          row.mode if isinstance(row.mode, str) else "",
                          _money(row.expected_cost_of_waiting), str(row.model_version_id),
                          f"{row.updated_at:%Y-%m-%d %H:%M}")
        out.print(table)


@orders_app.command("set")
def orders_set(
    task: TaskArg, entity: EntityArg,
    status: Annotated[str, typer.Argument(help="scheduled, done, or open (unschedule)")],
    by: Annotated[str, typer.Option("--by", help="who makes the change (kept in the history)")],
    note: Annotated[str | None, typer.Option(help="why, or the slot booked")] = None,
) -> None:
    """Move an entity's order to STATUS: open -> scheduled -> done (scheduled -> open too);
    done orders are final."""
    with _order_errors():
        from core.store import work_orders

        name = get_task(task).name
        order = work_orders.set_status(open_store(), name, entity, status, by, note)
        out.print(f"order {order['id']} of {entity}: {order['status']} (by {by.strip()})")


@orders_app.command("history")
def orders_history(task: TaskArg, entity: EntityArg) -> None:
    """Every status change of the entity's orders, oldest first, with who and when."""
    with _order_errors():
        from core.store import work_orders

        name = get_task(task).name
        events = work_orders.history(open_store(), name, entity)
        if events.empty:
            out.print(f"no work orders for {entity} in {name}")
            return
        table = _table("order", "at (UTC)", "from", "to", "by", "note")
        for row in events.itertuples():
            table.add_row(str(row.order_id), f"{row.at:%Y-%m-%d %H:%M:%S}",
                          row.from_status if isinstance(row.from_status, str) else "(new)",
                          row.to_status, row.actor, row.note if isinstance(row.note, str) else "")
        out.print(table)
