"""The dashboard router: an overview, then one page per registered Task, grouped by vertical."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import streamlit as st

from core.task import Task, tasks
from dashboards import overview, task_page

# Presentation only: a vertical without an entry here gets the generic icon.
VERTICAL_ICONS = {
    "finance": ":material/account_balance:",
    "healthcare": ":material/medical_services:",
    "traffic": ":material/traffic:",
    "manufacturing": ":material/precision_manufacturing:",
}
TASK_ICON = ":material/analytics:"


def _task_runner(task: Task, url: str | None) -> Callable[[], None]:
    def run() -> None:
        task_page.render(task, url)

    # st.Page keys callables by name; a unique name per Task keeps pages apart.
    run.__name__ = f"task_{task.slug}"
    return run


def build_pages(registry: Mapping[str, Task],
                url: str | None = None) -> dict[str, list[st.Page]]:
    """Navigation sections: the overview first, then each vertical's Task pages by name; every
    page reads the store at `url` (default: the configured store)."""
    task_pages: dict[str, st.Page] = {}
    sections: dict[str, list[st.Page]] = {}
    for name, task in registry.items():
        page = st.Page(_task_runner(task, url), title=task.title, url_path=task.slug,
                       icon=VERTICAL_ICONS.get(task.vertical, TASK_ICON))
        task_pages[name] = page
        sections.setdefault(task.vertical.capitalize(), []).append(page)

    def overview_page() -> None:
        overview.render(registry, task_pages, url)

    home = st.Page(overview_page, title="Overview", url_path="overview",
                   icon=":material/dashboard:", default=True)
    return {"": [home], **sections}


def configure() -> None:
    st.set_page_config(page_title="Verticals", page_icon=":material/insights:", layout="wide")


def main() -> None:
    configure()
    st.navigation(build_pages(tasks())).run()


# Streamlit runs this file as __main__; dashboards.testing imports it for build_pages.
if __name__ == "__main__":
    main()
