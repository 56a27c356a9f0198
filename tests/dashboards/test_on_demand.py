"""Sections that join every scored row run on request above ON_DEMAND_ROWS."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest


def gated(rows: int) -> None:
    from types import SimpleNamespace

    import streamlit as st

    from dashboards.components.on_demand import requested

    ctx = SimpleNamespace()
    if requested(ctx, "report-run", "the report", rows):
        st.write("computed")


def test_small_stores_compute_at_once_large_ones_on_request() -> None:
    small = AppTest.from_function(gated, args=(50_000,)).run()
    assert [m.value for m in small.markdown] == ["computed"] and not small.toggle
    large = AppTest.from_function(gated, args=(1_000_000,)).run()
    assert not large.markdown
    assert large.toggle[0].label == "Compute the report on all 1,000,000 scored rows"
    large.toggle[0].set_value(True).run()
    assert [m.value for m in large.markdown] == ["computed"]
