"""Scoring's scale-out on Dask: submit (batch, work) items to a local or remote cluster and
yield their results to the driver, which writes each in its own transaction; and what a worker
process keeps between items (one engine per store URL, one loaded model per version). Knows
nothing of what the items compute (pipelines.score's score_partition / score_group)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from sqlalchemy.engine import Engine

from core import registry
from core.task import Task

# Per worker process: one engine per URL and one loaded model per version, kept across tasks.
_WORKER_ENGINES: dict[str, Engine] = {}
_WORKER_PREDICTORS: dict[tuple[str, str, int], Any] = {}


def worker_engine(url: str) -> Engine:
    if url not in _WORKER_ENGINES:
        from core.store.engine import make_engine

        _WORKER_ENGINES[url] = make_engine(url)
    return _WORKER_ENGINES[url]


def worker_predictor(url: str, task: Task, version: int) -> Any:
    key = (url, task.name, version)
    if key not in _WORKER_PREDICTORS:  # the model is loaded once per worker, not per partition
        _WORKER_PREDICTORS[key] = registry.load_predictor(worker_engine(url), task, version)
    return _WORKER_PREDICTORS[key]


def on_workers(
    engine: Engine, scheduler: str, function: Callable[..., Any],
    task: Task, champion: Any, work: list[tuple[int, Any]], reference: dict[str, Any],
) -> Iterator[Any]:
    """Workers run `function(url, task, version, version_id, batch, what, reference)` for
    each (batch, what) of `work`; the driver writes each result in its own transaction."""
    from dask.distributed import Client, LocalCluster, as_completed

    cluster = (LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                            dashboard_address=None) if scheduler == "local" else None)
    client = Client(cluster if cluster is not None else scheduler)
    try:
        url = engine.url.render_as_string(hide_password=False)
        futures = [client.submit(function, url, task, champion.version, champion.id, batch,
                                 what, reference, pure=False) for batch, what in work]
        for future in as_completed(futures):
            yield future.result()
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
