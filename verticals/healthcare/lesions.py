"""Seeded synthetic breast-ultrasound-like studies: a dark lesion in speckle, benign or malignant.

The classes differ the way the BI-RADS ultrasound lexicon describes them:
- benign: an oval, circumscribed (smooth-edged) lesion, wider than tall, homogeneous inside, with
  posterior acoustic enhancement (a brighter band below it);
- malignant: an irregular lesion whose edge is spiculated (radius modulated by random harmonics
  and spikes), often taller than wide, heterogeneous inside, with posterior shadowing (darker
  below).
Size, position, contrast and speckle vary within both classes, so neither class is separable by
brightness alone; about 40% of studies are malignant. Splits are 70/10/20 train/val/test.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from core.images import encode

SIDE = 28
MALIGNANT_SHARE = 0.4


def _speckle(rng: np.random.Generator, side: int) -> np.ndarray:
    # Rayleigh speckle smoothed by a 3x3 box: the grain of an ultrasound image.
    noise = rng.rayleigh(0.35, (side + 2, side + 2))
    return sum(noise[i:i + side, j:j + side] for i in range(3) for j in range(3)) / 9.0


def lesion_image(rng: np.random.Generator, malignant: bool, side: int = SIDE) -> np.ndarray:
    """One uint8 (side, side) image."""
    yy, xx = np.mgrid[0:side, 0:side].astype(float)
    cy, cx = rng.uniform(0.38, 0.6) * side, rng.uniform(0.35, 0.65) * side
    radius = rng.uniform(0.16, 0.26) * side
    angle = np.arctan2(yy - cy, xx - cx)
    if malignant:
        wide, tall = rng.uniform(0.8, 1.3), rng.uniform(0.8, 1.3)  # often taller than wide
        edge = sum(rng.uniform(0.0, 0.12) * np.cos(k * angle + rng.uniform(0, 2 * np.pi))
                   for k in rng.choice(np.arange(3, 9), 3, replace=False))
        spikes = rng.uniform(0.0, 0.3) * np.maximum(
            np.cos(rng.integers(5, 10) * angle + rng.uniform(0, 6)), 0) ** 8
        boundary = radius * (1 + edge + spikes)
    else:
        wide, tall = rng.uniform(0.9, 1.5), rng.uniform(0.7, 1.15)  # oval, wider than tall
        lobes = rng.uniform(0.0, 0.06) * np.cos(rng.integers(2, 5) * angle + rng.uniform(0, 6))
        boundary = radius * (1 + 0.03 * np.cos(2 * angle + rng.uniform(0, 6)) + lobes)
    distance = np.hypot((xx - cx) / wide, (yy - cy) / tall)
    softness = rng.uniform(0.5, 0.9) if malignant else rng.uniform(0.8, 1.4)
    inside = 1 / (1 + np.exp((distance - boundary) / softness))
    background = 0.45 + 0.45 * _speckle(rng, side) + rng.normal(0, 0.03)
    texture = rng.uniform(0.05, 0.2) if malignant else rng.uniform(0.03, 0.15)
    interior = rng.uniform(0.08, 0.2) + texture * _speckle(rng, side)
    image = background * (1 - inside) + interior * inside
    below = (yy > cy + boundary.mean() * tall) & (np.abs(xx - cx) < radius * wide)
    posterior = rng.uniform(0.75, 1.15) if malignant else rng.uniform(0.9, 1.3)
    image = np.where(below, image * posterior, image)  # shadowing vs enhancement
    image = image * rng.uniform(0.85, 1.15)  # gain differs between scanners
    return np.clip(image * 255, 0, 255).astype(np.uint8)


def sample(n: int, seed: int = 0) -> pd.DataFrame:
    """n synthetic studies in the imaging_diagnosis schema (deterministic for a seed)."""
    rng = np.random.default_rng(seed)
    malignant = rng.random(n) < MALIGNANT_SHARE
    split = np.array(["train", "val", "test"])[
        np.searchsorted([0.7, 0.8], rng.random(n), side="right")]
    ids = [f"syn-{seed}-{i:05d}" for i in range(n)]
    return pd.DataFrame({
        "id": pd.Series(ids, dtype="str"),
        "study": pd.Series(ids, dtype="str"),
        "modality": pd.Series(["US"] * n, dtype="str"),
        "image": pd.Series([encode(lesion_image(rng, m)) for m in malignant], dtype="str"),
        "label": pd.Series(np.where(malignant, "malignant", "benign"), dtype="str"),
        "split": pd.Series(split, dtype="str"),
        "source": pd.Series(["synthetic"] * n, dtype="str"),
    })
