"""Artifact format key -> model class, imported only when that format is loaded."""

from __future__ import annotations

from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from core.models.protocol import Model

# Lazy references keep torch out of processes that only load classical models.
LOADERS: dict[str, str] = {
    "blend": "core.models.blend:Blend",
    "lightgbm": "core.models.boosting:LightGBM",
    "scorecard": "core.models.scorecard:Scorecard",
    "tabular_mlp": "core.models.nets.tabular_mlp:TabularMLP",
}


def load_model(format: str, directory: Path) -> Model:
    """Load the model saved in `directory` by the class registered for `format`."""
    if format not in LOADERS:
        raise ValueError(
            f"unknown model format {format!r} in {directory}: known formats are "
            f"{', '.join(sorted(LOADERS))}; was the artifact written by a newer version?"
        )
    module, _, name = LOADERS[format].partition(":")
    return getattr(import_module(module), name).load(Path(directory))
