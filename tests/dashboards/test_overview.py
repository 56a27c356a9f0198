"""The overview page rendered with AppTest against the hand-made store."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

from dashboards.testing import OVERVIEW, open_page
from tests.dashboards.handmade import ROWS, Store, store_with_ingest
from tests.dashboards.test_task_page import TIMEOUT, texts
from tests.fakes import make_task


def fake_overview(url: str) -> AppTest:
    task = make_task()
    return open_page(OVERVIEW, url, registry={task.name: task}, timeout=TIMEOUT)


def test_overview_explains_the_champion(handmade: tuple[str, Store]) -> None:
    url, _ = handmade
    at = fake_overview(url)
    assert not at.exception, at.exception
    text = texts(at)
    assert "AUC 0.812" in text  # tile
    assert "Champion **boosting v2**: AUC 0.812 on held-out data" in text
    assert "trained 2025-03-01 09:12 UTC on `store` (fit on 100 rows, smoke profile)" in text
    assert f"Input rows {ROWS:,}" in text and f"Predictions {ROWS:,}" in text
    assert "Quarantined 2" in text
    assert "Drift flags 1" in text  # months at PSI 0.31 in the last batch
    assert "Champion v2" in text
    runs = at.dataframe[0].value
    assert runs["pipeline"].tolist() == ["ingest", "score", "train"]
    # Readable headers, durations in seconds with sensible precision, counts with separators.
    assert list(runs.columns) == ["pipeline", "status", "started", "duration", "rows in",
                                  "rows out", "rows rejected"]
    assert runs["duration"].tolist() == ["3.00 s"] * 3
    # Every tile says what it is, on which rows and which way is good.
    helps = {m.label: m.proto.help for m in at.metric}
    assert helps["AUC"] == ("Primary metric of the champion. On held-out rows the model never "
                            "trained on. Higher is better.").replace("Primary", "primary")
    assert helps["Drift flags"].endswith("Lower is better.")


def test_overview_on_an_emptystore_with_ingest(tmp_path: Path) -> None:
    at = fake_overview(f"sqlite:///{tmp_path / 'x.db'}")
    assert not at.exception, at.exception
    assert any("verticals demo" in i.value for i in at.info)



def test_overview_marks_a_champion_trained_on_the_synthetic_sample(tmp_path: Path) -> None:
    demo = store_with_ingest(tmp_path / "demo.db", {"source": "data_samples/test_fake.csv",
                                         "synthetic": True})
    at = fake_overview(demo)
    assert not at.exception, at.exception
    marks = [w.value for w in at.warning if "Synthetic data" in w.value]
    # The Task page's banner says the same sentence (dashboards/components/model_card.py).
    assert marks == ["**Synthetic data.** Champion v2 was trained on the Task's seeded "
                     "synthetic sample (`verticals demo` / `verticals sample`), not real "
                     "records."]
    real = fake_overview(store_with_ingest(tmp_path / "real.db",
                                           {"source": "/data/loans-2025.csv"}))
    assert not real.exception, real.exception
    assert not any("Synthetic" in w.value for w in real.warning)
