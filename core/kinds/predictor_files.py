"""A predictor's artifact directory, written and read the same way by every Kind: the model's
own files under `model/` and the predictor's state (format keys, columns, calibration) as JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from core.models.formats import Formats
    from core.models.protocol import Model

MODEL_DIR = "model"


def save_predictor(directory: Path, file: str, model: Model, state: dict[str, Any]) -> None:
    """Write `model` to directory/model and `state` (+ the model's format key) to `file`."""
    model_dir = Path(directory) / MODEL_DIR
    model_dir.mkdir(parents=True, exist_ok=False)
    model.save(model_dir)
    Path(directory, file).write_text(json.dumps({**state, "model_format": model.format},
                                                indent=1))


def load_predictor_files(directory: Path, file: str, what: str,
                         formats: Formats) -> tuple[dict[str, Any], Model]:
    """(the state `save_predictor` wrote, the model loaded through `formats`)."""
    path = Path(directory, file)
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: {directory} is not a saved {what}")
    state = json.loads(path.read_text())
    return state, formats.load(state["model_format"], Path(directory) / MODEL_DIR)
