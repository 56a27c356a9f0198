"""Compute device choice (cuda -> mps -> cpu), training precision and seeding."""

from __future__ import annotations

import os
import random

import numpy as np


def device() -> str:
    """The best available torch device: "cuda", then "mps", else "cpu"."""
    import torch  # lazy: classical-only paths never import torch

    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def precision() -> str:
    """Lightning precision: mixed only on CUDA (MPS/CPU autocast costs more than it saves)."""
    return "16-mixed" if device() == "cuda" else "32-true"


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and (when already imported) torch, so runs repeat exactly."""
    os.environ["PYTHONHASHSEED"] = str(seed)
    random.seed(seed)
    np.random.seed(seed)
    import sys

    if "torch" in sys.modules:  # never import torch just to seed it
        import torch

        torch.manual_seed(seed)
        if torch.cuda.is_available():
            torch.cuda.manual_seed_all(seed)
