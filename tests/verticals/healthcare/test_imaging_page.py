"""The imaging section with AppTest: study browser, audited views and overrides, operating point;
the upload path (PNG and DICOM) through its functions."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pydicom.data import get_testdata_file
from streamlit.testing.v1 import AppTest

from core import images, registry
from core.store import audit
from core.store.engine import make_engine, migrate
from pipelines.ingest import ingest
from verticals.healthcare.imaging_diagnosis import TASK
from verticals.healthcare.imaging_page import diagnose, overlay, read_upload

TIMEOUT = 60


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    """120 synthetic studies ingested and a logistic champion registered."""
    home: Path = tmp_path_factory.mktemp("imaging-home")
    url = f"sqlite:///{home / 'verticals.db'}"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("VERTICALS_HOME", str(home))
        patch.delenv("VERTICALS_DB_URL", raising=False)
        engine = make_engine(url)
        migrate(engine)
        frame = TASK.sample(120, 5)
        ingest(engine, TASK, lambda: frame, source="test")
        [candidate] = TASK.kind.train(TASK, TASK.feature_frame(frame), profile="smoke", seed=0,
                                      models=("logistic",))
        registry.register(engine, TASK, candidate, profile="smoke")
        registry.promote_best(engine, TASK)
        engine.dispose()
    return url, home


@pytest.fixture
def on_store(store: tuple[str, Path], monkeypatch: pytest.MonkeyPatch) -> str:
    url, home = store
    monkeypatch.setenv("VERTICALS_HOME", str(home))
    monkeypatch.setenv("VERTICALS_DB_URL", url)
    monkeypatch.setenv("VERTICALS_USER", "dr.test")
    return url


def imaging_section(url: str) -> None:
    from core.task import get_task
    from dashboards.context import make_context
    from verticals.healthcare.imaging_page import page

    page(make_context(get_task("healthcare.imaging_diagnosis"), url))


def _audit_rows(url: str, key: str):
    engine = make_engine(url)
    try:
        return audit.history(engine, TASK.name, key)
    finally:
        engine.dispose()


def test_browser_shows_diagnosis_and_audits_view_and_override(on_store: str) -> None:
    at = AppTest.from_function(imaging_section, args=(on_store,), default_timeout=TIMEOUT).run()
    assert not at.exception, at.exception
    key = at.selectbox(key="img-study").value
    metrics = {m.label: m.value for m in at.metric}
    assert 0 <= float(metrics["Probability"]) <= 1
    assert metrics["Decision"] in ("benign", "malignant")
    assert len(at.get("image")) >= 1  # the overlay image
    views = _audit_rows(on_store, key)
    assert views["action"].tolist() == ["view"] and views["actor"].iloc[0] == "dr.test"
    at.run()  # a rerun is not a new view
    assert len(_audit_rows(on_store, key)) == 1
    # An override without a reason is refused and not written.
    at.button(key="img-override-submit").click().run()
    assert any("needs a reason" in e.value for e in at.error)
    assert len(_audit_rows(on_store, key)) == 1
    new = at.selectbox(key="img-new-label").value
    at.text_area(key="img-reason").input("second reader: benign calcification")
    at.button(key="img-override-submit").click().run()
    assert not at.exception, at.exception
    rows = _audit_rows(on_store, key)
    override = rows[rows["action"] == "override"].iloc[0]
    assert (override["old_label"], override["new_label"]) == (metrics["Decision"], new)
    assert override["reason"] == "second reader: benign calcification"
    assert {m.label: m.value for m in at.metric}["Final decision"] == new


def test_operating_point_tab_shows_roc_and_confusion(on_store: str) -> None:
    at = AppTest.from_function(imaging_section, args=(on_store,), default_timeout=TIMEOUT).run()
    assert not at.exception, at.exception
    labels = [m.label for m in at.metric]
    assert {"AUC", "Threshold", "Sensitivity", "Specificity"} <= set(labels)
    assert len(at.get("plotly_chart")) == 2
    assert any("sensitivity of 0.95 for malignant" in c.value for c in at.caption)
    from core import registry
    from core.store.engine import make_engine

    engine = make_engine(on_store)
    guarantee = registry.champion(engine, TASK.name).metrics["op_guarantee"]
    engine.dispose()
    assert 0 < guarantee < 1
    assert any(f"a new malignant case scores above it with probability ≥ {guarantee:.3f}"
               in c.value for c in at.caption)


def test_upload_png_and_dicom_get_a_diagnosis(store: tuple[str, Path],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    url, home = store
    monkeypatch.setenv("VERTICALS_HOME", str(home))
    monkeypatch.setenv("VERTICALS_PSEUDONYM_SALT", "test-salt")
    engine = make_engine(url)
    predictor = registry.load_predictor(engine, TASK)
    engine.dispose()
    png = io.BytesIO()
    Image.fromarray(images.decode(TASK.sample(1, 9)["image"].iloc[0])).save(png, format="PNG")
    pixels, key = read_upload("study.png", png.getvalue())
    assert key.startswith("upload-")
    result = diagnose(predictor, pixels)
    assert result.decision == ("malignant" if result.score >= predictor.threshold else "benign")
    assert sum(result.probabilities.values()) == pytest.approx(1, abs=1e-5)
    assert overlay(pixels, result.heatmap).shape == (224, 224, 3)
    dicom = Path(get_testdata_file("MR_small.dcm")).read_bytes()
    pixels, key = read_upload("x.dcm", dicom)
    assert key.startswith("im-") and pixels.shape == (64, 64)
    assert np.isfinite(diagnose(predictor, pixels).score)
    with pytest.raises(images.ImageError, match="notes.png: not an image"):
        read_upload("notes.png", b"hello")


def test_no_champion_says_what_to_do(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'verticals.db'}"
    monkeypatch.setenv("VERTICALS_HOME", str(tmp_path))
    engine = make_engine(url)
    migrate(engine)
    engine.dispose()
    at = AppTest.from_function(imaging_section, args=(url,), default_timeout=TIMEOUT).run()
    assert not at.exception, at.exception
    assert any("verticals train healthcare.imaging_diagnosis" in i.value for i in at.info)


# --- one truth at the operating point ------------------------------------------------------

# Eight test cases with the threshold (0.3) below 0.5: argmax calls two of them malignant, the
# operating point five.
CRAFTED_Y = np.array([1, 1, 1, 0, 0, 0, 0, 0])
CRAFTED_P = np.array([0.9, 0.4, 0.35, 0.32, 0.1, 0.2, 0.6, 0.05])


def test_confusion_is_made_at_the_operating_point_not_argmax() -> None:
    from core.kinds.image_metrics import confusion, image_metrics
    from core.kinds.images import operating_confusion, operating_rates

    P = np.column_stack([1 - CRAFTED_P, CRAFTED_P])
    matrix = operating_confusion(CRAFTED_Y, P, ["benign", "malignant"], 1, 0.3)
    assert matrix["matrix"] == [[3, 2], [0, 3]]
    assert confusion(CRAFTED_Y, P.argmax(axis=1), 2) == [[4, 1], [2, 1]]  # what it was
    rates = operating_rates(matrix)
    assert rates == {"op_sensitivity": 1.0, "op_specificity": 0.6}
    metrics = image_metrics(CRAFTED_Y, P, ["benign", "malignant"], 1, 0.3)
    assert (metrics["op_sensitivity"], metrics["op_specificity"]) == (1.0, 0.6)


def _operating_point_tab(params: dict, metrics: dict) -> None:
    from datetime import UTC, datetime
    from types import SimpleNamespace

    from core.store.queries import ModelSummary
    from verticals.healthcare.imaging_page import operating_point

    champion = ModelSummary(id=1, task="t", version=1, model="logistic",
                            created_at=datetime(2026, 1, 1, tzinfo=UTC), profile=None,
                            dataset=None, train_rows=5, primary_metric="auc",
                            primary_value=0.9, metrics=metrics, params=params)
    operating_point(SimpleNamespace(champion=champion))


def test_tiles_and_matrix_agree_on_a_crafted_case() -> None:
    from core.kinds.images import operating_confusion

    P = np.column_stack([1 - CRAFTED_P, CRAFTED_P])
    params = {"positive": "malignant", "rows": {"test": 8},
              "confusion": operating_confusion(CRAFTED_Y, P, ["benign", "malignant"], 1, 0.3)}
    # Metrics that disagree with the matrix (as argmax ones would): the tiles follow the matrix.
    metrics = {"auc": 0.9, "op_threshold": 0.5, "op_sensitivity": 0.333, "op_specificity": 0.8}
    at = AppTest.from_function(_operating_point_tab, args=(params, metrics)).run()
    assert not at.exception, at.exception
    shown = {m.label: m.value for m in at.metric}
    assert shown["Threshold"] == "0.300"
    assert (shown["Sensitivity"], shown["Specificity"]) == ("100.0%", "60.0%")
    [heatmap] = [c for c in at.get("plotly_chart") if "img-confusion" in c.proto.id]
    assert '"z":[[3,2],[0,3]]' in heatmap.proto.spec.replace(" ", "")
    assert any("Decisions at the threshold 0.300" in c.value for c in at.caption)
    assert any("8 held-out test images" in c.value for c in at.caption)


def test_an_argmax_matrix_of_an_older_model_is_said_to_be_one() -> None:
    params = {"confusion": {"classes": ["benign", "malignant"], "matrix": [[4, 1], [2, 1]]}}
    metrics = {"auc": 0.9, "op_threshold": 0.3, "op_sensitivity": 1.0, "op_specificity": 0.6}
    at = AppTest.from_function(_operating_point_tab, args=(params, metrics)).run()
    assert not at.exception, at.exception
    assert {m.label: m.value for m in at.metric}["Sensitivity"] == "100.0%"
    assert any("at argmax" in c.value for c in at.caption)


def test_a_study_is_found_by_its_id_in_the_whole_store(on_store: str) -> None:
    stored = TASK.sample(120, 5)[TASK.kind.entity].astype(str)
    wanted = stored.iloc[-1]
    at = AppTest.from_function(imaging_section, args=(on_store,), default_timeout=TIMEOUT).run()
    at.text_input(key="img-find").input(wanted).run()
    assert not at.exception, at.exception
    assert at.selectbox(key="img-study").options == [wanted]
    at.text_input(key="img-find").input("no-such-study").run()
    assert not at.exception, at.exception
    assert any("No stored study has an id starting with 'no-such-study'" in w.value
               for w in at.warning)


def test_an_image_unlike_the_training_images_is_named_and_a_like_one_is_not(
        store: tuple[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    from types import SimpleNamespace

    from verticals.healthcare.imaging_page import unlike_training

    url, home = store
    engine = make_engine(url)
    reference = registry.champion(engine, TASK.name).reference
    engine.dispose()
    ctx = SimpleNamespace(reference=lambda: reference)
    like = images.decode(TASK.sample(1, 5)["image"].iloc[0])  # one of the training studies
    assert unlike_training(ctx, like) == []
    unlike = np.full((96, 96), 250, dtype=np.uint8)  # a big, flat, near-white image
    reasons = unlike_training(ctx, unlike)
    assert any(r.startswith("brightness = 0.980392 is above the training range") for r in reasons)
    assert any(r.startswith("contrast = 0 is below the training range") for r in reasons)
    assert any(r.startswith("height = 96 is above the training range 28–28") for r in reasons)
