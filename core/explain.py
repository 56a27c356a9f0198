"""Per-prediction explanations: the top reasons from per-feature contributions, as JSON strings."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa

from core.models.encoding import category_maps, to_array

EFFECT_DECIMALS = 4
VALUE_DECIMALS = 6


def top_reasons(
    contributions: np.ndarray, values: pd.DataFrame | np.ndarray, features: Sequence[str],
    k: int = 3, categories: Mapping[str, Sequence[str]] | None = None,
    texts: Mapping[str, Sequence[str] | np.ndarray] | None = None,
) -> pd.Series:
    """JSON list per row of the k features pushing hardest toward the positive (bad) outcome.

    `contributions[i, j]` is feature j's additive effect on row i's log-odds (positive = riskier).
    `values` holds the feature values shown next to each reason: a frame of raw values, or the
    float matrix a model already encoded (core.models.encoding.to_array) together with its
    `categories` (category columns hold codes; unseen or missing values show as null).
    Each row becomes `[{"feature": ..., "value": ..., "effect": ...}, ...]`, largest effect
    first. Scoring calls this on a million rows, so every step works on whole columns:
    distinct values are formatted once and gathered, and NumPy string ufuncs join fixed-width
    ASCII byte pieces (JSON escapes non-ASCII text, so ASCII loses nothing).
    `texts` maps a feature to one sentence per row in the user's words ("power 9,350 W, above
    the 9,000 W limit"); a reason on that feature carries it as "text".
    """
    contributions = np.asarray(contributions, dtype=float)
    n, width = contributions.shape
    if width != len(features):
        raise ValueError(
            f"contributions have {width} columns but {len(features)} feature names were given"
        )
    if n == 0 or width == 0:
        return pd.Series(["[]"] * n, dtype="str")
    if isinstance(values, pd.DataFrame):
        frame = values[list(features)]
        categories = category_maps(frame)
        values = to_array(frame, list(features), categories)
    categories = categories or {}
    k = min(k, width)
    top = _top_k(contributions, k)
    heads = [f'{{"feature": {json.dumps(str(f))}, "value": '.encode() for f in features]
    out = np.full(n, b"[", dtype="S1")
    for rank in range(k):
        column = top[:, rank]
        effect = np.take_along_axis(contributions, column[:, None], axis=1)[:, 0]
        head = _gather_heads(values, features, categories, heads, column, texts or {})
        tail = b"}]" if rank == k - 1 else b"}, "
        out = np.strings.add(out, np.strings.add(head, _numbers(effect, EFFECT_DECIMALS, tail)))
    # Arrow takes the byte strings without a Python object per row (pandas' str dtype is Arrow).
    return pd.Series(pa.array(out).cast(pa.string()), dtype=pd.StringDtype("pyarrow", np.nan))


def _top_k(contributions: np.ndarray, k: int) -> np.ndarray:
    """Column indices of each row's k largest contributions, largest first (ties: lower index)."""
    if k < contributions.shape[1]:
        candidates = np.argpartition(-contributions, k - 1, axis=1)[:, :k]
    else:
        candidates = np.broadcast_to(np.arange(contributions.shape[1]), contributions.shape)
    chosen = np.take_along_axis(contributions, candidates, axis=1)
    # The last key sorts first: effect descending, then column index so ties are reproducible.
    order = np.lexsort((candidates, -chosen), axis=-1)
    return np.take_along_axis(candidates, order, axis=1)


def _gather_heads(
    values: np.ndarray, features: Sequence[str], categories: Mapping[str, Sequence[str]],
    heads: list[bytes], column: np.ndarray, texts: Mapping[str, Sequence[str] | np.ndarray],
) -> np.ndarray:
    """'{"feature": F, "value": V, ["text": T, ]"effect": ' for each row's chosen column."""
    parts = {}
    middle = b', "effect": '
    for j, feature in enumerate(features):
        rows = np.flatnonzero(column == j)
        if not len(rows):
            continue
        chosen = values[rows, j]
        if feature in categories:
            table = [heads[j] + json.dumps(_plain(c)).encode() for c in categories[feature]]
            table = np.array([*table, heads[j] + b"null"], dtype=bytes)
            codes = np.where(np.isnan(chosen) | (chosen < 0), -1, chosen).astype(np.int64)
            text = table[codes]  # -1 picks the trailing null entry
        else:
            text = np.strings.add(heads[j], _numbers(chosen, VALUE_DECIMALS))
        if feature in texts:
            text = np.strings.add(text, _texts(texts[feature], rows))
        parts[j] = (rows, np.strings.add(text, middle))
    width = max(text.dtype.itemsize for _, text in parts.values())
    out = np.empty(len(column), dtype=f"S{width}")
    for rows, text in parts.values():
        out[rows] = text
    return out


def _texts(texts: Sequence[str] | np.ndarray, rows: np.ndarray) -> np.ndarray:
    """', "text": "..."' for the given rows; each distinct sentence JSON-encoded once."""
    uniques, inverse = np.unique(np.asarray(texts, dtype=object)[rows].astype(str),
                                 return_inverse=True)
    encoded = np.array([b', "text": ' + json.dumps(str(t)).encode() for t in uniques],
                       dtype=bytes)
    return encoded[inverse]


def _plain(value: object) -> object:
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if isinstance(value, np.generic):
        return value.item()
    return value if isinstance(value, int | float | str | bool) else str(value)


def _numbers(values: np.ndarray, decimals: int, suffix: bytes = b"") -> np.ndarray:
    """JSON number text + suffix (integers without ".0"; NaN and inf as null).

    Rounded values repeat a lot (effects, amounts), so each distinct one is formatted once.
    """
    rounded = np.round(values, decimals)
    uniques, inverse = np.unique(rounded, return_inverse=True)
    finite = np.isfinite(uniques)
    whole = finite & (uniques == np.trunc(uniques)) & (np.abs(uniques) < 2**53)
    text = np.full(len(uniques), b"null", dtype="S32")
    text[whole] = uniques[whole].astype(np.int64).astype("S32")
    text[finite & ~whole] = uniques[finite & ~whole].astype("S32")
    return np.strings.add(text, suffix)[inverse]
