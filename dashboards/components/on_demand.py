"""Sections whose numbers need a join over every scored row (fair lending, performance on all
labelled rows) run on request above a size: a page must finish in seconds at a million rows,
and an analyst who wants the join waits for it knowingly, once per store state (it is cached)."""

from __future__ import annotations

import streamlit as st

from core.page import PageContext
from dashboards.components.formats import count

# Up to this many scored rows the join takes well under a second on either dialect.
ON_DEMAND_ROWS = 50_000


def scored_rows(ctx: PageContext) -> int:
    """How many predictions the champion has stored (from the per-batch summaries: cheap)."""
    if ctx.champion is None:
        return 0
    return int(ctx.query("label_counts", ctx.champion.id)["rows"].sum())


def requested(ctx: PageContext, key: str, what: str, rows: int) -> bool:
    """True when the section may run now: small enough, or the analyst asked for it."""
    if rows <= ON_DEMAND_ROWS:
        return True
    return st.toggle(
        f"Compute {what} on all {count(rows)} scored rows", key=key,
        help=f"It joins every prediction to its input row: seconds to a minute at this size, "
             f"so it runs on request (above {count(ON_DEMAND_ROWS)} rows) and is then kept "
             "until the next run changes the store.")
