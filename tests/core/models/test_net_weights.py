"""net_weights: any number of nets in one safetensors file, and the older one-net layout."""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import save_file
from torch import nn

from core.models.net_weights import load_nets, save_nets


def test_each_net_comes_back_with_its_own_weights(tmp_path: Path) -> None:
    torch.manual_seed(0)
    nets = [nn.Linear(3, 2), nn.Linear(3, 2)]
    path = tmp_path / "model.safetensors"
    save_nets(nets, path)
    loaded = load_nets(lambda: nn.Linear(3, 2), path, 2)
    assert len(loaded) == 2 and not any(net.training for net in loaded)
    for net, again in zip(nets, loaded, strict=True):
        assert torch.equal(net.weight, again.weight) and torch.equal(net.bias, again.bias)
    assert not torch.equal(loaded[0].weight, loaded[1].weight)


def test_a_file_of_one_net_with_unprefixed_keys_loads_as_one_net(tmp_path: Path) -> None:
    net = nn.Linear(3, 2)
    path = tmp_path / "model.safetensors"
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(path))
    [again] = load_nets(lambda: nn.Linear(3, 2), path, None)
    assert torch.equal(net.weight, again.weight)
