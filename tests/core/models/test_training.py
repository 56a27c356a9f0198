"""The training helper: budgets that follow the data, device-resident batches, early stopping."""

from __future__ import annotations

from itertools import islice

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from core.models.training import Batches, auto_batch_size, fit_module

GIB = 2**30


class Counting(nn.Module):
    """A linear model that records the rows of every training step."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(2, 1)
        self.steps: list[int] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if torch.is_grad_enabled():
            self.steps.append(len(x))
        return self.linear(x).squeeze(1)


def data(rows: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(rows, 2, generator=g)
    return x, x @ torch.tensor([1.0, -2.0]) + 0.1 * torch.randn(rows, generator=g)


@pytest.mark.parametrize(("rows", "memory", "expected"), [
    (500, None, 128),  # German credit's fits: the batch they always had
    (11_000, None, 128),
    (15_360, None, 256),  # a 30,000-row table's inner fit
    (640_000, None, 4096),  # a million rows: the CPU ceiling
    (640_000, 139 * GIB, 8192),  # rows / 64, under an H200's ceiling of 8 x 4096
    (10_000_000, 139 * GIB, 32768),
    (10_000_000, 8 * GIB, 4096),  # a small GPU keeps the CPU's ceiling
])
def test_auto_batch_size_grows_with_rows_and_gpu_memory(rows, memory, expected) -> None:
    assert auto_batch_size(rows, memory) == expected


@pytest.mark.parametrize(("rows", "batches"), [(50, 7), (48, 6)])  # partial last batch or not
def test_batches_draw_what_the_dataloader_drew(rows, batches) -> None:
    x, y = data(rows)
    loader = DataLoader(TensorDataset(x, y), batch_size=8, shuffle=True,
                        generator=torch.Generator().manual_seed(3))
    ours = Batches((x, y), 8, torch.Generator().manual_seed(3))
    assert len(ours) == len(loader) == batches
    for _ in range(3):  # epochs, each read as Lightning does: len() batches, never one more
        torch.manual_seed(1)
        expected = [b[1] for b in islice(loader, batches)], torch.rand(1)
        torch.manual_seed(1)
        got = [b[1] for b in islice(ours, batches)], torch.rand(1)
        assert all(torch.equal(a, b) for a, b in zip(expected[0], got[0], strict=True))
        assert torch.equal(expected[1], got[1])  # the same global draws (dropout's) after


def test_batches_in_order() -> None:
    x, y = data(50)
    in_order = Batches((x, y), 20, None)
    assert [len(b[0]) for b in in_order] == [20, 20, 10]
    assert torch.equal(torch.cat([b[0] for b in in_order]), x)


def test_max_steps_caps_the_fit() -> None:
    net = Counting()
    fit_module(net, nn.MSELoss(), data(320), data(64, 1), max_epochs=50, batch_size=16,
               max_steps=5, patience=100)
    assert net.steps == [16] * 5


def test_max_minutes_caps_the_fit() -> None:
    net = Counting()
    fit_module(net, nn.MSELoss(), data(320), data(64, 1), max_epochs=1000, batch_size=16,
               max_minutes=0.5 / 60, patience=10_000)
    assert 0 < len(net.steps) < 1000 * 20


def test_auto_batch_and_early_stopping_keep_the_best_epoch() -> None:
    net = Counting()
    valid = data(64, 1)
    losses: list[float] = []

    def loss(p: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        value = nn.functional.mse_loss(p, y)
        if not torch.is_grad_enabled():
            losses.append(float(value))
        return value

    fit_module(net, loss, data(300), valid, max_epochs=400, batch_size=None,
               learning_rate=0.5, patience=3)
    assert net.steps[:3] == [128, 128, 44]  # 300 rows: the smallest automatic batch
    assert len(losses) < 400 and net.epochs_ == len(losses)  # stopped early
    assert min(losses) not in losses[-3:]  # three epochs without a better validation loss
    with torch.no_grad():  # the weights returned are those of the best epoch
        best = nn.functional.mse_loss(net(valid[0]), valid[1])
    assert float(best) == pytest.approx(min(losses), rel=1e-6)


@pytest.mark.parametrize("budget", [{"max_steps": 0}, {"max_minutes": 0.0}])
def test_an_empty_budget_is_refused(budget) -> None:
    with pytest.raises(ValueError, match="must be"):
        fit_module(Counting(), nn.MSELoss(), data(32), data(8, 1), **budget)


def test_min_delta_stops_a_fit_whose_loss_only_creeps() -> None:
    """Epochs that lower the loss by less than the fraction min_delta do not reset patience."""
    steady = [1.0, 0.9, 0.8999, 0.8998, 0.8997, 0.8996, 0.8995, 0.8994]

    def run(min_delta: float) -> tuple[int, float]:
        epoch = iter(steady)
        net = Counting()

        def loss(p: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            value = nn.functional.mse_loss(p, y)
            if torch.is_grad_enabled():
                return value
            return value * 0 + next(epoch)  # the scripted validation loss of this epoch

        fit_module(net, loss, data(32), data(8, 1), max_epochs=len(steady), batch_size=32,
                   patience=3, min_delta=min_delta)
        return net.epochs_, len(net.steps)

    assert run(0.0) == (len(steady), len(steady))  # every creep counted: ran to max_epochs
    assert run(1e-3) == (5, 5)  # best real gain at epoch 2, then 3 epochs of creep


@pytest.mark.parametrize("min_delta", [-0.1, 1.0])
def test_min_delta_must_be_a_fraction(min_delta) -> None:
    with pytest.raises(ValueError, match="min_delta"):
        fit_module(Counting(), nn.MSELoss(), data(32), data(8, 1), min_delta=min_delta)
