"""Quarantine browser: the rows ingest rejected, with their value and rule, filtered by rule,
paged, and downloadable as CSV."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core.page import PageContext
from core.store.queries import QUARANTINE_EXPORT_ROWS
from dashboards.components.formats import count, readable_columns, when

PAGE_SIZE = 50
ALL_RULES = "every rule"


def quarantine_table(rows: pd.DataFrame) -> pd.DataFrame:
    """A page of quarantine rows as shown and exported: readable headers, times in UTC."""
    shown = rows.assign(created_at=[when(t) for t in rows["created_at"]])
    return readable_columns(shown)


def quarantine_csv(ctx: PageContext, rule: str | None) -> str:
    """Every rejected row of the rule (all rules when None), up to QUARANTINE_EXPORT_ROWS."""
    rows = ctx.query("quarantine_page", rule, page=0, size=QUARANTINE_EXPORT_ROWS)
    return quarantine_table(rows).to_csv(index=False)


def quarantine_browser(ctx: PageContext) -> None:
    """Counts per column and rule, then the rejected rows themselves."""
    rules = ctx.query("quarantine_rules", limit=200)
    if rules.empty:
        return
    key = f"{ctx.task.slug}-quarantine"
    st.markdown("**Quarantined rows** — what ingest rejected, and why")
    st.dataframe(readable_columns(rules), hide_index=True)
    left, right = st.columns([3, 1])
    rule = left.selectbox("Rule", [ALL_RULES, *dict.fromkeys(rules["rule"])],
                          key=f"{key}-rule", help="show the rows one rule rejected")
    chosen = None if rule == ALL_RULES else rule
    total = ctx.query("quarantine_count", chosen)
    pages = max(1, -(-total // PAGE_SIZE))
    # The page widget belongs to the rule: another rule starts on its first page.
    page = right.number_input(f"Page (of {pages})", 1, pages, 1, key=f"{key}-page-{rule}")
    rows = ctx.query("quarantine_page", chosen, page=int(page) - 1, size=PAGE_SIZE)
    st.dataframe(quarantine_table(rows), hide_index=True, height=320)
    st.caption(f"Rejections {count((int(page) - 1) * PAGE_SIZE + 1)}–"
               f"{count((int(page) - 1) * PAGE_SIZE + len(rows))} of {count(total)}"
               + (f" for rule {rule}" if chosen else "") + "; "
               "raw row: the row as ingest read it (JSON). Fix the source and ingest again.")
    st.download_button("Download as CSV", data=lambda: quarantine_csv(ctx, chosen),
                       file_name=f"{ctx.task.slug}-quarantine.csv", mime="text/csv",
                       key=f"{key}-csv", icon=":material/download:",
                       help=f"every row shown by this filter, up to "
                            f"{count(QUARANTINE_EXPORT_ROWS)}")
