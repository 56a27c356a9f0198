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
from core.kinds.images import ImageClassification
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


def study_browser(ctx: PageContext, predictor: Any, actor: str) -> None:
    keys = _study_keys(ctx)
    if not keys:
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
    _show(diagnosis, pixels)


def operating_point(ctx: PageContext) -> None:
    model = ctx.champion
    params, metrics = model.params or {}, model.metrics or {}
    cols = st.columns(4)
    cols[0].metric("AUC", f"{metrics.get('auc', float('nan')):.3f}")
    cols[1].metric("Threshold", f"{metrics.get('op_threshold', float('nan')):.3f}")
    cols[2].metric("Sensitivity", f"{metrics.get('op_sensitivity', float('nan')):.3f}")
    cols[3].metric("Specificity", f"{metrics.get('op_specificity', float('nan')):.3f}")
    guarantee = metrics.get("op_guarantee")
    promise = (f" (split-conformal: a new {params.get('positive', 'positive')} case scores "
               f"above it with probability ≥ {guarantee:.3f})" if guarantee is not None else "")
    st.caption(f"On the held-out test images; the threshold was set on validation images for a "
               f"sensitivity of {params.get('target_sensitivity', 0.95)} for "
               f"{params.get('positive', 'the positive class')}{promise}.")
    roc, matrix = params.get("roc"), params.get("confusion")
    left, right = st.columns(2)
    if roc:
        figure = go.Figure(go.Scatter(x=roc["fpr"], y=roc["tpr"], mode="lines", name="ROC"))
        figure.add_trace(go.Scatter(
            x=[1 - metrics.get("op_specificity", 0)], y=[metrics.get("op_sensitivity", 0)],
            mode="markers", marker={"size": 12, "color": "#cf222e"}, name="operating point"))
        figure.update_layout(xaxis_title="1 - specificity", yaxis_title="sensitivity",
                             height=360, margin={"t": 30})
        left.plotly_chart(figure, key="img-roc")
    if matrix:
        figure = go.Figure(go.Heatmap(z=matrix["matrix"], x=matrix["classes"],
                                      y=matrix["classes"], text=matrix["matrix"],
                                      texttemplate="%{text}", colorscale="Blues"))
        figure.update_layout(xaxis_title="predicted", yaxis_title="true", height=360,
                             margin={"t": 30})
        right.plotly_chart(figure, key="img-confusion")
