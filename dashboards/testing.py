"""open_page: one dashboard page in Streamlit's AppTest, served by the router (st.navigation)
as `verticals dashboard` serves it, for tests of the generic pages and of a Task's own section."""

from __future__ import annotations

from collections.abc import Mapping

from streamlit.testing.v1 import AppTest

from core.task import Task, tasks

OVERVIEW = "overview"
TIMEOUT_S = 30.0


def open_page(page: str = OVERVIEW, url: str | None = None, *,
              registry: Mapping[str, Task] | None = None,
              timeout: float = TIMEOUT_S) -> AppTest:
    """An AppTest that has run `page` once: a Task's name (its page, with its own section) or
    "overview". `url` is the store (default: VERTICALS_DB_URL / VERTICALS_HOME, read on every
    run like the app does); `registry` the Tasks the router lists (default: core.task.tasks()).

    Interact as with any AppTest (`at.selectbox(key=...).set_value(...).run()`); reruns stay on
    the page the last run ended on, as in a browser.
    """
    served = dict(tasks() if registry is None else registry)
    if page != OVERVIEW and page not in served:
        raise LookupError(f"no dashboard page {page!r}: open {OVERVIEW!r} or a registered Task "
                          f"({', '.join(sorted(served)) or 'none registered'})")
    url_path = "" if page == OVERVIEW else served[page].slug  # the overview is the default page
    at = AppTest.from_function(_serve, args=(url_path, url, served), default_timeout=timeout)
    return at.run()


# AppTest runs this function's source as the script: it imports what it uses, and its
# annotations are builtins.
def _serve(url_path: str, url: str | None, registry: dict) -> None:
    """The router's pages; the first run switches to `url_path` as a page link would."""
    import streamlit as st

    from dashboards.app import build_pages, configure

    configure()
    sections = build_pages(registry, url)
    current = st.navigation(sections)
    opened = "dashboards.testing.opened"
    if not st.session_state.get(opened):
        st.session_state[opened] = True
        if current.url_path != url_path:
            st.switch_page(next(page for pages in sections.values() for page in pages
                                if page.url_path == url_path))
    current.run()
