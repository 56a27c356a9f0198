"""Compute device choice (cuda -> mps -> cpu), training precision, CPU threads and seeding."""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

THREADS_ENV = "VERTICALS_TORCH_THREADS"


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


def torch_threads(default: int | None) -> int | None:
    """Torch's intra-op CPU threads for a fit: $VERTICALS_TORCH_THREADS, else `default`
    (None: torch's own choice, one per core)."""
    raw = os.environ.get(THREADS_ENV, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"{THREADS_ENV}={raw!r} is not a positive whole number: set it to the "
                         "intra-op threads a torch fit may use (e.g. 1), or unset it")
    return int(raw)


@contextmanager
def cpu_threads(default: int | None) -> Iterator[None]:
    """Run a torch fit on `torch_threads(default)` intra-op threads, restoring the count after.

    Small nets gain nothing from more threads and lose badly when processes share the cores:
    on 2 cores a TFT fit took 10.0 s on one thread and 10.5 s on two alone, but with two fits
    side by side 11 s on one thread each against 51 s on two (N-HiTS: 3.3 s against 54 s),
    because OpenMP workers spin on barriers while the other process holds the cores.
    """
    import torch

    threads = torch_threads(default)
    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)
