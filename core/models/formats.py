"""The model format registry: artifact format key -> model class, imported on first use.

One registry for every Kind. Built-in formats are listed here; a plugin package adds its own
through the `verticals.formats` entry-point group (name = format key, value = "module:Class"),
and a Task adds the formats of the candidates it brings in `Task.formats`. A key is bound once:
a second binding is an error, never a silent override. Only registered classes are ever
imported, so an artifact cannot make the loader import arbitrary code.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import import_module
from importlib.metadata import entry_points
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from core.models.protocol import Model

ENTRY_POINT_GROUP = "verticals.formats"

# Lazy references keep torch out of processes that only load classical models.
BUILTIN: Mapping[str, str] = MappingProxyType({
    "arima": "core.models.forecasters:AutoRegressive",
    "blend": "core.models.blend:Blend",
    "drift": "core.models.forecasters:Drift",
    "graph_gru": "core.models.slice_forecasters:GraphGRUForecaster",
    "image_resnet": "core.models.nets.image_resnet:ImageCNN",
    "lightgbm": "core.models.boosting:LightGBM",
    "lightgbm_quantile": "core.models.forecasters:LightGBMQuantile",
    "pixel_lightgbm": "core.models.pixels:PixelLightGBM",
    "pixel_logistic": "core.models.pixels:PixelLogistic",
    "pytorch_forecasting": "core.models.deep_forecasters:DeepForecaster",
    "random_walk": "core.models.forecasters:RandomWalk",
    "scorecard": "core.models.scorecard:Scorecard",
    "sequence_cnn": "core.models.sequence_nets:SequenceCNN",
    "sequence_gru": "core.models.sequence_nets:SequenceGRU",
    "sequence_transformer": "core.models.sequence_nets:SequenceTransformer",
    "series_gru": "core.models.slice_forecasters:SeriesGRUForecaster",
    "slice_historical_average": "core.models.slice_forecasters:SliceHistoricalAverage",
    "slice_last_value": "core.models.slice_forecasters:SliceLastValue",
    "slice_lightgbm": "core.models.slice_forecasters:SensorLightGBM",
    "slice_window_mean": "core.models.slice_forecasters:SliceWindowMean",
    "tabular_mlp": "core.models.nets.tabular_mlp:TabularMLP",
    "window_lightgbm": "core.models.window_boosting:WindowLightGBM",
})
# Formats whose artifact holds other models (a blend's members): their `load` takes the
# registry as `formats=` so a member of a format a Task added loads too.
NESTED = frozenset({"blend"})


def resolve(reference: str | type) -> type:
    """The class a "module:Class" reference names (a class is returned as it is)."""
    if not isinstance(reference, str):
        return reference
    module, _, name = reference.partition(":")
    try:
        return getattr(import_module(module), name)
    except (ImportError, AttributeError) as error:
        raise ValueError(f"model class {reference!r} cannot be imported: {error}") from error


def lazy_factory(reference: str | type, **fixed: Any) -> Callable[..., Model]:
    """A zero-import factory: `factory(**params)` builds the class with `fixed` + params, and
    imports it only then (torch only for the nets)."""

    def build(**params: Any) -> Model:
        return resolve(reference)(**{**fixed, **params})

    return build


@dataclass(frozen=True)
class Formats:
    """An immutable map of format key -> model class reference; `with_formats` extends it."""

    references: Mapping[str, str | type]

    def with_formats(self, extra: Mapping[str, str | type], origin: str) -> Formats:
        """This registry plus `extra`; a key bound already (to another class) is an error."""
        clashes = sorted(k for k, v in extra.items()
                         if k in self.references and self.references[k] != v)
        if clashes:
            raise ValueError(f"{origin} binds model format(s) {clashes} already bound to "
                             f"{[self.references[k] for k in clashes]}; pick other format keys")
        return Formats(MappingProxyType({**self.references, **extra}))

    def keys(self) -> list[str]:
        return sorted(self.references)

    def model_class(self, key: str) -> type:
        if key not in self.references:
            raise ValueError(
                f"unknown model format {key!r}: known formats are {', '.join(self.keys())}; "
                "a Task that adds a candidate declares its class in Task.formats (or a plugin "
                f"in the {ENTRY_POINT_GROUP!r} entry-point group)"
            )
        return resolve(self.references[key])

    def load(self, key: str, directory: Path) -> Model:
        """The model of format `key` saved in `directory`."""
        cls = self.model_class(key)
        if key in NESTED:
            return cls.load(Path(directory), formats=self)
        return cls.load(Path(directory))


_INSTALLED: Formats | None = None


def installed_formats() -> Formats:
    """The built-in formats plus every `verticals.formats` entry point (loaded once)."""
    global _INSTALLED
    if _INSTALLED is None:
        formats = Formats(BUILTIN)
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            origin = f"entry point {ep.name!r} of {ep.dist.name if ep.dist else '?'}"
            formats = formats.with_formats({ep.name: ep.value}, origin)
        _INSTALLED = formats
    return _INSTALLED
