"""Imaging diagnosis's own dashboard section: study browser with Grad-CAM, audited overrides,
upload-and-diagnose, ROC and confusion matrix at the operating point."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from core import images
from core.dicom import read_dicom
from core.kinds.images import (
    IMAGE_MARGIN,
    ImageClassification,
    operating_rates,
    pixel_statistics,
)
from core.ood import describe, out_of_range
from core.store import audit

if TYPE_CHECKING:
    from core.page import PageContext

STUDY_CHOICES = 200
DISPLAY_PX = 224
UPLOAD_TYPES = ["png", "jpg", "jpeg", "dcm"]


@dataclass(frozen=True)
class Diagnosis:
    """One image's calibrated probabilities, decision at the operating point and heatmap."""

    probabilities: dict[str, float]
    score: float  # probability of the positive class
    decision: str
    threshold: float
    heatmap: np.ndarray


def diagnose(predictor: Any, pixels: np.ndarray) -> Diagnosis:
    probabilities, heat = predictor.explain(pixels)
    positive = predictor.classes[predictor.positive]
    P = np.array([[probabilities[c] for c in predictor.classes]])
    return Diagnosis(probabilities, probabilities[positive], str(predictor.decide(P)[0]),
                     predictor.threshold, heat)


def read_upload(name: str, data: bytes) -> tuple[np.ndarray, str]:
    """Uploaded bytes -> (pixels, pseudonymous key); DICOM is de-identified on read."""
    if name.lower().endswith((".dcm", ".dicom")) or data[128:132] == b"DICM":
        study = read_dicom(data, where=name)
        return study.pixels, study.image
    return images.decode_bytes(data, name), f"upload-{hashlib.sha256(data).hexdigest()[:16]}"


def overlay(pixels: np.ndarray, heat: np.ndarray, alpha: float = 0.45) -> np.ndarray:
    """The image in grey with the heatmap in red-yellow on top, DISPLAY_PX wide (uint8 RGB)."""
    from PIL import Image

    grey = pixels if pixels.ndim == 2 else np.asarray(Image.fromarray(pixels).convert("L"))
    base = np.asarray(Image.fromarray(grey).resize((DISPLAY_PX, DISPLAY_PX)), dtype=float) / 255
    h = np.asarray(Image.fromarray((np.clip(heat, 0, 1) * 255).astype(np.uint8)).resize(
        (DISPLAY_PX, DISPLAY_PX), Image.Resampling.BILINEAR), dtype=float) / 255
    colour = np.stack([np.ones_like(h), h, np.zeros_like(h)], axis=-1)  # red -> yellow
    weight = (alpha * h)[..., None]
    mixed = base[..., None] * (1 - weight) + colour * weight
    return (mixed * 255).astype(np.uint8)


def page(ctx: PageContext) -> None:
    """The section the imaging TASK names as `page=`."""
    st.header(":material/radiology: Imaging review")
    if ctx.champion is None:
        st.info(f"No champion yet: run `verticals train {ctx.task.name}` first.")
        return
    predictor = ctx.predictor()
    actor = st.text_input("Reviewer", value=audit.default_actor(), key="img-actor",
                          help="Written to the audit log with every view and override.")
    browse, upload, performance = st.tabs([":material/photo_library: Studies",
                                           ":material/upload_file: Upload",
                                           ":material/monitoring: Operating point"])
    with browse:
        study_browser(ctx, predictor, actor)
    with upload:
        upload_section(ctx, predictor, actor)
    with performance:
        operating_point(ctx)


def image_column(ctx: PageContext) -> str:
    """The column holding the study image: this page is for ImageClassification Tasks."""
    kind = ctx.task.kind
    if not isinstance(kind, ImageClassification):
        raise TypeError(f"Task {ctx.task.name}: the imaging page needs an ImageClassification "
                        f"Kind, not {type(kind).__name__}; name another page in its Task")
    return kind.image


def _study_keys(ctx: PageContext) -> list[str]:
    """The studies to pick from: those matching the id typed (searched in the whole store),
    else the STUDY_CHOICES highest-scored ones."""
    wanted = st.text_input("Find a study by id", key="img-find",
                           help=f"searches every stored study; without it the list holds the "
                                f"{STUDY_CHOICES} highest-scored")
    if wanted.strip():
        found = [str(k) for k in ctx.input_query("find_keys", ctx.task.kind.entity, wanted)]
        if not found:
            st.warning(f"No stored study has an id starting with {wanted.strip()!r}.")
        return found
    scored = ctx.query("prediction_page", ctx.champion.id, size=STUDY_CHOICES, order="score_desc")
    if len(scored):
        return scored["entity_key"].astype(str).tolist()
    return [str(k) for k in ctx.input_query("distinct_keys", ctx.task.kind.entity,
                                                        STUDY_CHOICES)]


def _show(diagnosis: Diagnosis, pixels: np.ndarray, final: str | None = None) -> None:
    left, right = st.columns(2)
    left.image(overlay(pixels, diagnosis.heatmap), caption="Grad-CAM overlay (where the model "
               "looked for the positive class)", width=DISPLAY_PX)
    right.metric("Probability", f"{diagnosis.score:.3f}",
                 help="calibrated probability of the positive class")
    right.metric("Decision", diagnosis.decision,
                 help=f"positive when the probability is at least {diagnosis.threshold:.3f}")
    if final is not None:
        right.metric("Final decision", final, help="after the latest audited override")
    right.caption(f"Threshold {diagnosis.threshold:.3f} · " + " · ".join(
        f"{c}: {p:.3f}" for c, p in diagnosis.probabilities.items()))


def unlike_training(ctx: PageContext, pixels: np.ndarray) -> list[str]:
    """Why this image is unlike the champion's training images (its brightness, contrast or
    size beyond their range by more than IMAGE_MARGIN of it); [] when it is like them."""
    return describe(out_of_range(ctx.reference(), pixel_statistics([pixels]),
                                 margin=IMAGE_MARGIN))


def _warn_if_unlike(ctx: PageContext, pixels: np.ndarray) -> None:
    reasons = unlike_training(ctx, pixels)
    if reasons:
        st.warning("This image is unlike the images the champion was trained on, so its "
                   "probability may mean little: " + "; ".join(reasons) + ".",
                   icon=":material/warning:")


def study_browser(ctx: PageContext, predictor: Any, actor: str) -> None:
    keys = _study_keys(ctx)
    if not keys:
        if not st.session_state.get("img-find", "").strip():
            st.info(f"No studies yet: `verticals ingest {ctx.task.name}` a file first.")
        return
    key = st.selectbox("Study", keys, key="img-study")
    row = ctx.row(key)
    if row.empty:
        st.warning(f"Study {key} is in the ledger but not in the input table any more.")
        return
    pixels = images.decode(row[image_column(ctx)].iloc[0], f"study {key}")
    diagnosis = diagnose(predictor, pixels)
    viewed = st.session_state.setdefault("img-viewed", set())
    if (ctx.champion.id, key) not in viewed:  # one audit row per study per session, not per rerun
        audit.record_view(ctx.engine, ctx.task.name, key, actor or "unknown",
                          model_version_id=ctx.champion.id, score=diagnosis.score,
                          label=diagnosis.decision)
        viewed.add((ctx.champion.id, key))
    final = audit.current_override(ctx.engine, ctx.task.name, key)
    _warn_if_unlike(ctx, pixels)
    _show(diagnosis, pixels, final or diagnosis.decision)
    with st.form("img-override", clear_on_submit=True):
        current = final or diagnosis.decision
        choices = [c for c in predictor.classes if c != current]
        new = st.selectbox("Override the decision to", choices, key="img-new-label")
        reason = st.text_area("Reason (required)", key="img-reason")
        if st.form_submit_button("Record override", key="img-override-submit"):
            try:
                audit.record_override(ctx.engine, ctx.task.name, key, actor, old_label=current,
                                      new_label=new, reason=reason,
                                      model_version_id=ctx.champion.id, score=diagnosis.score)
            except audit.AuditError as error:
                st.error(str(error))
            else:
                st.success(f"Override recorded: {current} -> {new}")
                st.rerun()
    st.caption("Audit trail of this study")
    st.dataframe(audit.history(ctx.engine, ctx.task.name, key)[
        ["at", "actor", "action", "old_label", "new_label", "reason"]], hide_index=True)


def upload_section(ctx: PageContext, predictor: Any, actor: str) -> None:
    file = st.file_uploader("A PNG, JPEG or DICOM image", type=UPLOAD_TYPES, key="img-upload")
    if file is None:
        st.caption("DICOM files are de-identified on read; nothing uploaded is stored, only the "
                   "audit row with a pseudonymous key.")
        return
    try:
        pixels, key = read_upload(file.name, file.getvalue())
    except images.ImageError as error:
        st.error(str(error))
        return
    diagnosis = diagnose(predictor, pixels)
    audit.record(ctx.engine, task=ctx.task.name, entity_key=key, action="upload",
                 actor=actor or "unknown", model_version_id=ctx.champion.id,
                 score=diagnosis.score, new_label=diagnosis.decision)
    _warn_if_unlike(ctx, pixels)
    _show(diagnosis, pixels)


def operating_rates_shown(params: dict[str, Any], metrics: dict[str, Any]) -> tuple[
        float, float, float, bool]:
    """(threshold, sensitivity, specificity, from_matrix): read off the stored confusion matrix
    when it was made at the operating point, so the tiles, the ROC marker and the matrix are
    one computation; a matrix stored at argmax (models trained before) leaves the metrics."""
    matrix = params.get("confusion") or {}
    if "threshold" in matrix and "positive" in matrix:
        rates = operating_rates(matrix)
        return (float(matrix["threshold"]), rates["op_sensitivity"], rates["op_specificity"],
                True)
    nan = float("nan")
    return (float(metrics.get("op_threshold", nan)), float(metrics.get("op_sensitivity", nan)),
            float(metrics.get("op_specificity", nan)), False)


def operating_point(ctx: PageContext) -> None:
    model = ctx.champion
    params, metrics = model.params or {}, model.metrics or {}
    threshold, sensitivity, specificity, from_matrix = operating_rates_shown(params, metrics)
    positive = params.get("positive", "the positive class")
    test_rows = (params.get("rows") or {}).get("test")
    on_rows = f"{test_rows:,} held-out test images" if test_rows else "the held-out test images"
    where = f"On {on_rows}; higher is better."
    cols = st.columns(4)
    cols[0].metric("AUC", f"{metrics.get('auc', float('nan')):.3f}", border=True,
                   help=f"Area under the ROC curve of the {positive} probability. {where}")
    cols[1].metric("Threshold", f"{threshold:.3f}", border=True,
                   help=f"{positive} when its calibrated probability is at least this "
                        "(set on validation images).")
    cols[2].metric("Sensitivity", f"{sensitivity:.1%}", border=True,
                   help=f"Share of {positive} cases called {positive} at the threshold. {where}")
    cols[3].metric("Specificity", f"{specificity:.1%}", border=True,
                   help=f"Share of the other cases not called {positive} at the threshold. "
                        f"{where}")
    guarantee = metrics.get("op_guarantee")
    promise = (f" (split-conformal: a new {positive} case scores above it with probability "
               f"≥ {guarantee:.3f})" if guarantee is not None else "")
    st.caption(f"On {on_rows}; the threshold was set on validation images for a "
               f"sensitivity of {params.get('target_sensitivity', 0.95)} for "
               f"{positive}{promise}.")
    roc, matrix = params.get("roc"), params.get("confusion")
    left, right = st.columns(2)
    if roc:
        figure = go.Figure(go.Scatter(x=roc["fpr"], y=roc["tpr"], mode="lines", name="ROC"))
        figure.add_trace(go.Scatter(
            x=[1 - specificity], y=[sensitivity],
            mode="markers", marker={"size": 12, "color": "#cf222e"}, name="operating point"))
        figure.update_layout(xaxis_title="1 - specificity", yaxis_title="sensitivity",
                             height=360, margin={"t": 30})
        left.plotly_chart(figure, key="img-roc")
    if matrix:
        figure = go.Figure(go.Heatmap(z=matrix["matrix"], x=matrix["classes"],
                                      y=matrix["classes"], text=matrix["matrix"],
                                      texttemplate="%{text}", colorscale="Blues"))
        figure.update_layout(xaxis_title="decided", yaxis_title="true", height=360,
                             margin={"t": 30})
        right.plotly_chart(figure, key="img-confusion")
        right.caption(f"Decisions at the threshold {threshold:.3f}: the same counts as the "
                      "sensitivity and specificity tiles." if from_matrix else
                      "This version stored its matrix at argmax (the likeliest class), not at "
                      "the threshold; retrain to see the decisions at the operating point.")
