"""One safetensors file for a seed ensemble's nets: each net's tensors under "m<i>.", so
ImageCNN and the sequence nets store and restore any number of nets the same way."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from torch import nn


def save_nets(nets: Sequence[nn.Module], path: Path) -> None:
    from safetensors.torch import save_file

    save_file({f"m{i}.{k}": v.contiguous() for i, net in enumerate(nets)
               for k, v in net.state_dict().items()}, str(path))


def load_nets(build: Callable[[], nn.Module], path: Path, members: int | None
              ) -> list[nn.Module]:
    """`members` nets built by `build` with their saved weights, in eval mode; None reads a
    file of one net with unprefixed keys (sequence nets saved before seed ensembles)."""
    from safetensors.torch import load_file

    state = load_file(str(path))
    if members is None:
        state, members = {f"m0.{k}": v for k, v in state.items()}, 1
    nets = []
    for i in range(members):
        prefix = f"m{i}."
        net = build()
        net.load_state_dict({k[len(prefix):]: v for k, v in state.items()
                             if k.startswith(prefix)})
        nets.append(net.eval())
    return nets
