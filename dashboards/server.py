"""The served dashboard: `streamlit run dashboards/server.py` serves dashboards/app.py and, before
it accepts a connection, imports what every page run needs.

Streamlit imports a script's modules on its first run, so without this the first visitor of a
fresh server waits for pandas, pandera, SQLAlchemy, the Task registry and every page's
components (about a second on two cores) before the page's heading shows. The model stack
(torch, LightGBM) is left to the page that loads a model: most pages never need it.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import streamlit as st

from core.task import TaskRegistryError, tasks

APP = Path(__file__).with_name("app.py")
log = logging.getLogger(__name__)


def import_pages() -> int:
    """Import the router, the Task registry and every Task's own page; the number of Tasks."""
    import dashboards.app  # noqa: F401  (the router and the generic pages it imports)

    registry = tasks()
    for task in registry.values():
        task.page_function()
    return len(registry)


@asynccontextmanager
async def imported(_: st.App) -> AsyncIterator[None]:
    try:
        log.info("imported the dashboard's modules and %d Tasks", import_pages())
    except TaskRegistryError as error:
        # The server still starts: every page run raises the same error and shows it, with the
        # fix, to whoever opens it (a broken third-party Task must not take the others down).
        log.error("a Task cannot be loaded; its pages will say so: %s", error)
    yield


app = st.App(APP, lifespan=imported)
