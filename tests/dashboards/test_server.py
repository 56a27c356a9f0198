"""dashboards/server.py: what `streamlit run` serves imports every page's modules before the
first visitor, and a broken Task does not stop the server."""

from __future__ import annotations

import asyncio
import logging
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

from core.task import TaskRegistryError, tasks
from dashboards import server
from pipelines.demo import DASHBOARD_APP, streamlit_command


def _start_and_stop() -> None:
    async def run() -> None:
        async with server.imported(server.app):
            pass

    # On a thread of its own: the browser tests' Playwright may leave an event loop running
    # on this one (xdist puts them in the same worker), and asyncio.run refuses to nest.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, run()).result()


def test_serves_the_router_and_is_what_the_demo_runs() -> None:
    assert server.APP == DASHBOARD_APP and server.APP.is_file()
    command = streamlit_command(8599)
    assert command[1:4] == ["-m", "streamlit", "run"]
    assert command[4] == str(server.APP.with_name("server.py"))


def test_start_imports_the_router_and_every_task_page(monkeypatch: pytest.MonkeyPatch) -> None:
    assert server.import_pages() == len(tasks())  # the real registry: every page imports
    assert "dashboards.app" in sys.modules

    loaded: list[str] = []

    class Recorded:
        def __init__(self, name: str) -> None:
            self.name = name

        def page_function(self) -> None:
            loaded.append(self.name)

    monkeypatch.setattr(server, "tasks", lambda: {n: Recorded(n) for n in ("a.one", "b.two")})
    assert server.import_pages() == 2
    assert loaded == ["a.one", "b.two"]  # each Task's own page ("module:function") at start


def test_a_broken_task_is_logged_and_the_server_starts(monkeypatch: pytest.MonkeyPatch,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    def broken() -> dict:
        raise TaskRegistryError("Task x.y: page 'nowhere:render' cannot be loaded")

    monkeypatch.setattr(server, "tasks", broken)
    with caplog.at_level(logging.ERROR, logger=server.__name__):
        _start_and_stop()  # no exception: the lifespan yields
    assert "nowhere:render" in caplog.text


def test_other_errors_stop_the_start(monkeypatch: pytest.MonkeyPatch) -> None:
    def failing() -> dict:
        raise ValueError("a bug, not a registry problem")

    monkeypatch.setattr(server, "tasks", failing)
    with pytest.raises(ValueError, match="a bug"):
        _start_and_stop()
