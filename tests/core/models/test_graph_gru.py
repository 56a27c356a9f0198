"""GraphGRU: supports from an asymmetric adjacency, shapes, and that the graph carries signal."""

import numpy as np
import torch

from core.models.nets.graph_gru import GraphGRU, random_walk_supports
from core.models.nets.series_gru import SeriesGRU


def test_supports_are_row_stochastic_both_directions():
    s = random_walk_supports(np.array([[0, 1, 0], [0, 0, 1], [0, 0, 0]]))
    assert s.shape == (2, 3, 3)
    assert torch.allclose(s.sum(dim=2), torch.ones(2, 3))
    assert s[0, 0, 1] == 0.5 and s[1, 1, 0] == 0.5


def test_output_shape_and_residual_on_last_reading():
    torch.manual_seed(0)
    x = torch.rand(2, 4, 3, 2)
    for net in (GraphGRU(np.ones((3, 3)), 2, 5, hidden=4), SeriesGRU(2, 5, hidden=4)):
        assert net(x).shape == (2, 5, 3)


def test_graph_net_learns_upstream_signal_the_node_gru_cannot():
    from core.models.training import fit_module

    rng = np.random.default_rng(0)
    # node 1 copies node 0's last value one step later: only the graph sees it
    x = torch.tensor(rng.random((400, 2, 2, 1)), dtype=torch.float32)
    y = x[:, -1, 0, 0][:, None, None].repeat(1, 1, 2)
    y[:, 0, 0] = x[:, -1, 0, 0]
    adjacency = np.array([[0, 0], [1, 0]])
    loss = torch.nn.functional.mse_loss
    errors = []
    for net in (GraphGRU(adjacency, 1, 1, hidden=8), SeriesGRU(1, 1, hidden=8)):
        fit_module(net, loss, (x[:300], y[:300]), (x[300:], y[300:]), max_epochs=40,
                   batch_size=32, learning_rate=1e-2, patience=40, seed=0)
        with torch.no_grad():
            errors.append(float(loss(net(x[300:]), y[300:])))
    assert errors[0] < 0.5 * errors[1]
