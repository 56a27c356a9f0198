"""The generic Task page rendered with Streamlit's AppTest against a populated store."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

from tests.dashboards.handmade import ROWS, Store

TIMEOUT = 30


def fake_task_page(url: str) -> None:
    from dashboards.task_page import render
    from tests.fakes import make_task

    render(make_task(), url)


def texts(at: AppTest) -> str:
    """Everything the page wrote as text (markdown, captions, metric tiles, alerts)."""
    parts = [e.value for e in (*at.markdown, *at.caption, *at.title, *at.info, *at.warning,
                               *at.success)]
    parts += [f"{m.label} {m.value}" for m in at.metric]
    return "\n".join(str(p) for p in parts)


def run_page(url: str) -> AppTest:
    at = AppTest.from_function(fake_task_page, args=(url,), default_timeout=TIMEOUT)
    return at.run()


def test_task_page_shows_champion_and_every_tab(handmade: tuple[str, Store]) -> None:
    url, store = handmade
    at = run_page(url)
    assert not at.exception, at.exception
    text = texts(at)
    assert "AUC 0.812" in text  # tile and sentence
    assert "Champion **boosting v2**: AUC 0.812 on held-out data" in text
    assert "Champion v2" in text and "KS 0.406" in text
    assert [t.label for t in at.tabs][:5] == [
        ":material/table_chart: Data", ":material/leaderboard: Models",
        ":material/query_stats: Predictions", ":material/monitoring: Drift",
        ":material/history: Runs"]
    # Leaderboard lists every version, champion marked.
    versions = next(df.value for df in at.dataframe if "champion" in df.value.columns)
    assert versions["version"].tolist() == [2, 1]
    assert versions["champion"].tolist() == [True, False]
    # Data explorer: counts computed in SQL.
    assert f"Rows stored {ROWS:,}" in text
    # Predictions: a page of the ledger with readable reasons.
    ledger = next(df.value for df in at.dataframe if "top reasons" in df.value.columns)
    assert len(ledger) == 50 and ledger["top reasons"].iloc[0].startswith("months = ")
    # Drift: the last batch flags months.
    assert any("months (PSI 0.31)" in w.value for w in at.warning)


def test_task_page_filters_and_lookup(handmade: tuple[str, Store]) -> None:
    url, store = handmade
    at = run_page(url)
    at.multiselect(key="test_fake-filter-by").set_value(["region"]).run()
    at.multiselect(key="test_fake-f-region").set_value(["north"]).run()
    assert not at.exception, at.exception
    north = int((store.frame["region"] == "north").sum())
    assert f"Rows matching {north:,}" in texts(at)
    key = store.frame["application_id"].iloc[7]
    at.text_input(key=f"test_fake-{store.champion_id}-lookup").set_value(key).run()
    assert not at.exception, at.exception
    assert "Score 0.0583" in texts(at)  # 7/120


def test_task_page_on_an_empty_store(tmp_path: Path) -> None:
    at = run_page(f"sqlite:///{tmp_path / 'empty.db'}")
    assert not at.exception, at.exception
    assert any("verticals demo" in i.value for i in at.info)
