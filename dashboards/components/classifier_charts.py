"""A binary classifier's charts from its scores and 0/1 outcomes: ROC, KS, cumulative gains and
lift, calibration, the confusion matrix and the decision rates against the cut-off.

Pure functions: arrays in, frames (the numbers) and Plotly figures (drawn from those frames)
out, so a test checks a chart's numbers against sklearn on the same rows. A row is "flagged"
when its score is at or above the cut-off, as the tabular predictor decides.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from dashboards.components.charts import ACCENT, BAD, GOOD, MUTED, WARN

MAX_CURVE_POINTS = 400  # a million-row ROC has up to a million corners; the eye needs far fewer
CUTOFF_GRID = tuple(np.round(np.linspace(0.0, 1.0, 101), 2))


@dataclass(frozen=True)
class Outcomes:
    """Scores and 0/1 outcomes of the same rows (positive = 1: the event the score predicts)."""

    y: np.ndarray
    p: np.ndarray

    @classmethod
    def of(cls, y: Sequence[float] | np.ndarray, p: Sequence[float] | np.ndarray) -> Outcomes:
        """The rows where both the outcome and the score are known; outcomes must be 0 or 1."""
        y_all, p_all = np.asarray(y, dtype=float), np.asarray(p, dtype=float)
        if y_all.shape != p_all.shape:
            raise ValueError(f"{len(y_all)} outcomes but {len(p_all)} scores: pass the same rows")
        known = np.isfinite(y_all) & np.isfinite(p_all)
        y_known = y_all[known]
        odd = sorted(set(np.unique(y_known).tolist()) - {0.0, 1.0})
        if odd:
            raise ValueError(f"outcomes must be 0 or 1, got {odd[:5]}")
        return cls(y_known.astype(int), p_all[known])

    @property
    def rows(self) -> int:
        return len(self.y)

    @property
    def positives(self) -> int:
        return int(self.y.sum())

    @property
    def both_classes(self) -> bool:
        return 0 < self.positives < self.rows


def _thin(frame: pd.DataFrame, limit: int = MAX_CURVE_POINTS) -> pd.DataFrame:
    """At most `limit` rows of a curve, first and last kept (for drawing; numbers use all)."""
    if len(frame) <= limit:
        return frame
    keep = np.unique(np.linspace(0, len(frame) - 1, limit).round().astype(int))
    return frame.iloc[keep]


# --- the numbers ------------------------------------------------------------------------------


def roc_frame(data: Outcomes) -> pd.DataFrame:
    """The ROC curve: per threshold (flagged at or above it), the false and true positive rates;
    starts at (0, 0) and ends at (1, 1). Needs both classes."""
    if not data.both_classes:
        raise ValueError(f"a ROC curve needs both outcomes; the {data.rows} rows hold "
                         f"{data.positives} positives")
    from sklearn.metrics import roc_curve  # here: a page without this chart never pays for it

    fpr, tpr, thresholds = roc_curve(data.y, data.p)
    return pd.DataFrame({"threshold": thresholds, "fpr": fpr, "tpr": tpr})


def auc_of(roc: pd.DataFrame) -> float:
    """The area under a roc_frame (trapezoids: the same as sklearn's roc_auc_score)."""
    return float(np.trapezoid(roc["tpr"], roc["fpr"]))


def ks_of(roc: pd.DataFrame) -> tuple[float, float]:
    """KS (the largest gap between the positives' and negatives' shares flagged, max TPR - FPR)
    and the threshold where it is reached."""
    gap = (roc["tpr"] - roc["fpr"]).to_numpy()
    at = int(np.argmax(gap))
    return float(gap[at]), float(roc["threshold"].iloc[at])


def gains_frame(data: Outcomes, groups: int = 10) -> pd.DataFrame:
    """Cumulative gains and lift by score group, highest scores first: per group, the share of
    rows taken so far, the share of all positives among them (gains) and gains / rows share
    (lift: 1 is random). Tied scores stay in the group of their first row."""
    if data.positives == 0:
        raise ValueError(f"gains need positives; the {data.rows} rows hold none")
    order = np.argsort(-data.p, kind="mergesort")
    y = data.y[order]
    edges = np.linspace(0, data.rows, groups + 1).round().astype(int)[1:]
    taken = np.cumsum(y)
    rows = pd.DataFrame({"group": np.arange(1, groups + 1), "rows": edges,
                         "positives": taken[edges - 1]})
    rows["rows_share"] = rows["rows"] / data.rows
    rows["gains"] = rows["positives"] / data.positives
    rows["lift"] = rows["gains"] / rows["rows_share"]
    rows["min_score"] = data.p[order][edges - 1]
    return rows


def calibration_frame(data: Outcomes, bins: int = 10) -> pd.DataFrame:
    """Reliability: rows in equal-count score bins, each bin's mean score against the share of
    positives in it (on the diagonal when scores are calibrated probabilities)."""
    if data.rows == 0:
        raise ValueError("calibration needs rows; none given")
    order = np.argsort(data.p, kind="mergesort")
    parts = [part for part in np.array_split(order, min(bins, data.rows)) if len(part)]
    return pd.DataFrame({
        "bin": np.arange(1, len(parts) + 1),
        "rows": [len(part) for part in parts],
        "mean_score": [float(data.p[part].mean()) for part in parts],
        "observed_rate": [float(data.y[part].mean()) for part in parts],
        "low": [float(data.p[part].min()) for part in parts],
        "high": [float(data.p[part].max()) for part in parts],
    })


def ece_of(calibration: pd.DataFrame) -> float:
    """Expected calibration error of a calibration_frame: |mean score - observed| weighted by
    the bin's rows."""
    weights = calibration["rows"] / calibration["rows"].sum()
    return float((weights * (calibration["mean_score"] - calibration["observed_rate"]).abs()).sum())


@dataclass(frozen=True)
class Confusion:
    """Counts at one cut-off: flagged = score at or above it; positive = outcome 1."""

    cutoff: float
    true_positive: int
    false_positive: int
    true_negative: int
    false_negative: int

    @property
    def rows(self) -> int:
        return (self.true_positive + self.false_positive + self.true_negative
                + self.false_negative)

    @property
    def flagged(self) -> int:
        return self.true_positive + self.false_positive

    @property
    def passed(self) -> int:
        """Rows below the cut-off (credit: approved)."""
        return self.true_negative + self.false_negative

    @property
    def pass_rate(self) -> float:
        return self.passed / self.rows if self.rows else float("nan")

    @property
    def positive_rate_passed(self) -> float:
        """Share of positives among rows below the cut-off (credit: the approved's bad rate)."""
        return self.false_negative / self.passed if self.passed else float("nan")

    @property
    def sensitivity(self) -> float:
        positives = self.true_positive + self.false_negative
        return self.true_positive / positives if positives else float("nan")

    @property
    def specificity(self) -> float:
        negatives = self.true_negative + self.false_positive
        return self.true_negative / negatives if negatives else float("nan")


def confusion_at(data: Outcomes, cutoff: float) -> Confusion:
    flagged = data.p >= cutoff
    positive = data.y == 1
    return Confusion(cutoff, int((flagged & positive).sum()), int((flagged & ~positive).sum()),
                     int((~flagged & ~positive).sum()), int((~flagged & positive).sum()))


def cutoff_frame(data: Outcomes, cutoffs: Sequence[float] = CUTOFF_GRID) -> pd.DataFrame:
    """Per cut-off: the share of rows below it (credit: approval rate) and the share of
    positives among them (credit: bad rate of the approved; NaN when none pass)."""
    order = np.sort(data.p)
    y_by_score = data.y[np.argsort(data.p, kind="mergesort")]
    positives_below = np.r_[0, np.cumsum(y_by_score)]
    below = np.searchsorted(order, np.asarray(cutoffs, dtype=float), side="left")
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(below > 0, positives_below[below] / np.maximum(below, 1), np.nan)
    return pd.DataFrame({"cutoff": np.asarray(cutoffs, dtype=float), "passed": below,
                         "pass_rate": below / data.rows if data.rows else np.nan,
                         "positive_rate_passed": rate})


# --- the figures --------------------------------------------------------------------------


def _layout(fig: go.Figure, title: str, x_title: str, y_title: str,
            height: int = 340) -> go.Figure:
    # The title on top, the legend in a row of its own between it and the plot.
    fig.update_layout(height=height, margin={"l": 10, "r": 10, "t": 80, "b": 10},
                      title={"text": title, "y": 0.98, "yanchor": "top"},
                      template="plotly_white", xaxis_title=x_title, yaxis_title=y_title,
                      legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0})
    return fig


def roc_figure(roc: pd.DataFrame, cutoff_point: Confusion | None = None) -> go.Figure:
    """The ROC curve against the diagonal (a random score), the cut-off's point marked."""
    shown = _thin(roc)
    fig = go.Figure()
    fig.add_scatter(x=[0, 1], y=[0, 1], mode="lines", name="random",
                    line={"dash": "dot", "color": MUTED}, hoverinfo="skip")
    fig.add_scatter(x=shown["fpr"], y=shown["tpr"], mode="lines", name="model",
                    line={"color": ACCENT}, customdata=shown["threshold"],
                    hovertemplate="flagged at ≥ %{customdata:.3f}: FPR %{x:.1%}, "
                                  "TPR %{y:.1%}<extra></extra>")
    if cutoff_point is not None:
        fig.add_scatter(x=[1 - cutoff_point.specificity], y=[cutoff_point.sensitivity],
                        mode="markers", name=f"cut-off {cutoff_point.cutoff:.2f}",
                        marker={"color": BAD, "size": 11})
    fig.update_yaxes(range=[0, 1.02], tickformat=".0%")
    fig.update_xaxes(range=[0, 1], tickformat=".0%")
    return _layout(fig, f"ROC, AUC {auc_of(roc):.3f}", "false positive rate (negatives flagged)",
                   "true positive rate (positives flagged)")


def ks_figure(roc: pd.DataFrame) -> go.Figure:
    """The positives' and negatives' shares flagged per threshold; KS is the widest gap."""
    ks, at = ks_of(roc)
    shown = _thin(roc.iloc[1:])  # the first row is roc_curve's "flag nothing" (threshold inf)
    row = roc.iloc[int(np.argmax((roc["tpr"] - roc["fpr"]).to_numpy()))]
    fig = go.Figure()
    fig.add_scatter(x=shown["threshold"], y=shown["tpr"], mode="lines", name="positives flagged",
                    line={"color": BAD, "shape": "hv"})
    fig.add_scatter(x=shown["threshold"], y=shown["fpr"], mode="lines", name="negatives flagged",
                    line={"color": GOOD, "shape": "hv"})
    fig.add_scatter(x=[at, at], y=[row["fpr"], row["tpr"]], mode="lines+markers",
                    name=f"KS {ks:.3f} at {at:.3f}", line={"color": WARN, "width": 3})
    fig.update_yaxes(range=[0, 1.02], tickformat=".0%")
    fig.update_xaxes(autorange="reversed")  # flagging more rows as the threshold falls
    return _layout(fig, f"KS {ks:.3f}", "threshold (flagged at or above; falls to the right)",
                   "share flagged")


def gains_figure(gains: pd.DataFrame) -> go.Figure:
    """Cumulative gains (positives captured) with the lift of each depth on a second axis."""
    fig = go.Figure()
    fig.add_scatter(x=np.r_[0, gains["rows_share"]], y=np.r_[0, gains["rows_share"]],
                    mode="lines", name="random", line={"dash": "dot", "color": MUTED},
                    hoverinfo="skip")
    fig.add_scatter(x=np.r_[0, gains["rows_share"]], y=np.r_[0, gains["gains"]],
                    mode="lines+markers", name="positives captured", line={"color": ACCENT},
                    hovertemplate="top %{x:.0%} of scores: %{y:.1%} of positives<extra></extra>")
    fig.add_scatter(x=gains["rows_share"], y=gains["lift"], mode="lines+markers", name="lift",
                    yaxis="y2", line={"color": WARN, "dash": "dash"},
                    hovertemplate="top %{x:.0%}: lift %{y:.2f}<extra></extra>")
    fig.update_layout(yaxis={"range": [0, 1.02], "tickformat": ".0%"},
                      yaxis2={"overlaying": "y", "side": "right", "title": "lift (1 = random)",
                              "rangemode": "tozero", "showgrid": False, "tickformat": ".1f"})
    fig.update_xaxes(tickformat=".0%")
    return _layout(fig, "Cumulative gains and lift", "rows taken, highest scores first",
                   "share of all positives")


def calibration_figure(calibration: pd.DataFrame) -> go.Figure:
    """Each bin's observed positive rate against its mean score, on the diagonal if calibrated."""
    top = float(max(calibration["mean_score"].max(), calibration["observed_rate"].max(), 0.05))
    edge = min(1.0, top * 1.1)
    fig = go.Figure()
    fig.add_scatter(x=[0, edge], y=[0, edge], mode="lines", name="calibrated",
                    line={"dash": "dot", "color": MUTED}, hoverinfo="skip")
    fig.add_scatter(x=calibration["mean_score"], y=calibration["observed_rate"],
                    mode="lines+markers", name="model", line={"color": ACCENT},
                    customdata=calibration["rows"],
                    hovertemplate="mean score %{x:.3f}: observed %{y:.3f} "
                                  "(%{customdata:,} rows)<extra></extra>")
    fig.update_xaxes(range=[0, edge])
    fig.update_yaxes(range=[0, edge])
    return _layout(fig, f"Calibration, ECE {ece_of(calibration):.3f}",
                   "mean predicted probability in the bin", "observed positive rate")


def confusion_figure(confusion: Confusion, flagged: str, passed: str, positive: str,
                     negative: str) -> go.Figure:
    """The 2x2 counts at the cut-off, with each cell's share of all rows; rows are outcomes,
    columns decisions in the Task's words (`flagged` at or above the cut-off)."""
    z = [[confusion.false_negative, confusion.true_positive],
         [confusion.true_negative, confusion.false_positive]]
    total = max(confusion.rows, 1)
    text = [[f"{v:,}<br>{v / total:.1%}" for v in row] for row in z]
    fig = go.Figure(go.Heatmap(
        z=z, x=[passed, flagged], y=[positive, negative], text=text, texttemplate="%{text}",
        colorscale=[[0, "#f6f8fa"], [1, ACCENT]], showscale=False,
        hovertemplate="outcome %{y}, decision %{x}: %{z:,} rows<extra></extra>"))
    fig.update_yaxes(autorange="reversed")
    return _layout(fig, f"Confusion matrix at cut-off {confusion.cutoff:.2f}", "decision",
                   "outcome", height=320)


def cutoff_figure(rates: pd.DataFrame, cutoff: float, passed: str,
                  positive: str) -> go.Figure:
    """The share of rows below each cut-off (`passed`: credit's approvals) and the positive rate
    among them, the page's cut-off marked."""
    fig = go.Figure()
    fig.add_scatter(x=rates["cutoff"], y=rates["pass_rate"], mode="lines",
                    name=f"{passed} rate", line={"color": GOOD},
                    hovertemplate="cut-off %{x:.2f}: %{y:.1%}<extra></extra>")
    fig.add_scatter(x=rates["cutoff"], y=rates["positive_rate_passed"], mode="lines",
                    name=f"{positive} rate among {passed}", line={"color": BAD},
                    hovertemplate="cut-off %{x:.2f}: %{y:.1%}<extra></extra>")
    fig.add_vline(x=cutoff, line_dash="dash", line_color=MUTED,
                  annotation_text=f"cut-off {cutoff:.2f}")
    fig.update_yaxes(range=[0, 1.02], tickformat=".0%")
    return _layout(fig, f"{passed.capitalize()} rate and {positive} rate against the cut-off",
                   "cut-off (score at or above it is flagged)", "share of rows")
