"""Sequence nets: learn a monotone degradation signal, ordered quantiles, exact round trip."""

from __future__ import annotations

import json

import numpy as np
import pytest

from core import progress
from core.models.sequence_nets import (
    FAST_PARAMS,
    SequenceCNN,
    SequenceGRU,
    SequenceTransformer,
    mse_pinball_loss,
    pinball_loss,
)

CLASSES = [SequenceCNN, SequenceGRU, SequenceTransformer]
WINDOW, FEATURES, CAP = 8, 3, 50.0


def degrading_windows(n_units: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Units of 40-80 cycles; feature 0 rises with wear (RUL falls), the others are noise."""
    rng = np.random.default_rng(seed)
    windows, target = [], []
    for _ in range(n_units):
        life = int(rng.integers(40, 80))
        rul = np.minimum(life - 1 - np.arange(life), CAP)
        signal = 1 - rul / CAP + rng.normal(0, 0.05, life)
        series = np.column_stack([signal, rng.normal(0, 1, (life, FEATURES - 1))])
        for end in range(WINDOW, life + 1):
            windows.append(series[end - WINDOW:end])
            target.append(rul[end - 1])
    return np.asarray(windows, np.float32), np.asarray(target, np.float32)


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, ...]:
    return (*degrading_windows(12, 0), *degrading_windows(4, 1))


def small(cls: type, seed: int = 0):
    return cls(**FAST_PARAMS[cls.format], seed=seed)


@pytest.mark.parametrize("cls", CLASSES)
def test_learns_signal_ordered_quantiles_and_exact_round_trip(cls, data, tmp_path) -> None:
    X, y, X_valid, y_valid = data
    model = small(cls).fit(X, y, (X_valid, y_valid))
    q = model.predict_quantiles(X_valid)
    assert q.shape == (len(X_valid), 3)
    assert (np.diff(q, axis=1) >= 0).all()
    rmse = np.sqrt(np.mean((q[:, 1] - y_valid) ** 2))
    baseline = np.sqrt(np.mean((y.mean() - y_valid) ** 2))
    assert rmse < 0.6 * baseline, (rmse, baseline)
    model.save(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.safetensors",
                                                          "sequence_net.json"]
    config = json.loads((tmp_path / "sequence_net.json").read_text())
    assert config["params"] == model.get_params() and config["window"] == WINDOW
    loaded = cls.load(tmp_path)
    assert loaded.get_params() == model.get_params()
    assert np.array_equal(loaded.predict_quantiles(X_valid), q)


@pytest.mark.parametrize("cls", CLASSES)
def test_deterministic_with_a_seed(cls, data) -> None:
    X, y, X_valid, y_valid = data
    first = small(cls, seed=3).fit(X, y, (X_valid, y_valid)).predict_quantiles(X_valid)
    again = small(cls, seed=3).fit(X, y, (X_valid, y_valid)).predict_quantiles(X_valid)
    assert np.array_equal(first, again)


def test_pinball_loss_values() -> None:
    import torch

    prediction = torch.tensor([[1.0, 2.0, 3.0]])
    # target 2: q0.1 under by 1 -> 0.1; median exact; q0.9 over by 1 -> 0.1; mean 0.2 / 3
    assert float(pinball_loss(prediction, torch.tensor([2.0]))) == pytest.approx(0.2 / 3)


def test_bad_windows_are_named(data) -> None:
    X, y, X_valid, y_valid = data
    model = small(SequenceGRU)
    with pytest.raises(ValueError, match="training: windows hold NaN"):
        bad = X.copy()
        bad[0, 0, 0] = np.nan
        model.fit(bad, y, (X_valid, y_valid))
    with pytest.raises(ValueError, match="expected"):
        model.fit(X, y[:-1], (X_valid, y_valid))
    model.fit(X, y, (X_valid, y_valid))
    with pytest.raises(ValueError, match="fitted on"):
        model.predict_quantiles(X[:, :-1])


def test_unknown_schedule_is_refused(data) -> None:
    X, y, X_valid, y_valid = data
    params = {**FAST_PARAMS[SequenceCNN.format], "schedule": "cosine"}
    with pytest.raises(ValueError, match="schedule='cosine' is not one of"):
        SequenceCNN(**params).fit(X, y, (X_valid, y_valid))


def test_mse_pinball_loss_values() -> None:
    import torch

    prediction = torch.tensor([[1.0, 3.0, 3.0]])
    # target 2: q0.1 under by 1 -> 0.1, q0.9 over by 1 -> 0.1 (mean 0.1); median off by 1 -> 1
    assert float(mse_pinball_loss(prediction, torch.tensor([2.0]))) == pytest.approx(1.1)


def test_the_refit_budget_is_the_epoch_early_stopping_kept(data) -> None:
    """Stopped `patience` epochs after its best: a constant-rate fit of exactly the best epoch
    count lands on the same weights; a run that never stopped early keeps all its epochs."""
    X, y, X_valid, y_valid = data
    params = {**FAST_PARAMS[SequenceGRU.format], "epochs": 60, "patience": 3,
              "schedule": "constant", "learning_rate": 3e-2, "loss": "mse_pinball"}
    stopped = SequenceGRU(**params).fit(X, y, (X_valid, y_valid))
    (ran,) = stopped.epochs_
    assert ran < 60 and stopped.best_epochs_ == ran - 3
    assert stopped.refit_params() == {"epochs": stopped.best_epochs_,
                                      "patience": stopped.best_epochs_ + 1}
    again = SequenceGRU(**params | stopped.refit_params()).fit(X, y, (X_valid, y_valid))
    assert np.array_equal(again.predict_quantiles(X_valid), stopped.predict_quantiles(X_valid))
    assert again.epochs_ == [again.best_epochs_] == [stopped.best_epochs_]  # ran them all
    with pytest.raises(ValueError, match="loss='l1' is not one of"):
        SequenceGRU(**params | {"loss": "l1"}).fit(X, y, (X_valid, y_valid))
    # A seed ensemble's refit runs the mean of the budgets its nets' early stopping chose.
    other = SequenceGRU(**params, seed=1).fit(X, y, (X_valid, y_valid))
    pair = SequenceGRU(**params, ensemble=2).fit(X, y, (X_valid, y_valid))
    assert pair.epochs_ == stopped.epochs_ + other.epochs_
    assert pair.refit_params()["epochs"] == round((stopped.best_epochs_ + other.best_epochs_) / 2)


def test_a_seed_ensemble_averages_nets_started_differently_and_round_trips(data,
                                                                           tmp_path) -> None:
    """`ensemble=2`: its first net is the single model's (same seed), the second is started
    from seed + 1; the quantiles are their mean, and save/load keeps both nets."""
    X, y, X_valid, y_valid = data
    seen: list[str] = []

    class Details:
        def started(self, task: progress.Task) -> None: ...

        def changed(self, task: progress.Task, counted: bool) -> None:
            seen.append(task.detail)

        def finished(self, task: progress.Task) -> None: ...

    single = small(SequenceGRU).fit(X, y, (X_valid, y_valid))
    second = small(SequenceGRU, seed=1).fit(X, y, (X_valid, y_valid))
    pair = SequenceGRU(**FAST_PARAMS[SequenceGRU.format], ensemble=2).fit(
        X, y, (X_valid, y_valid))
    assert len(pair.nets_) == 2 and len(pair.epochs_) == 2
    both = np.sort((single.predict_quantiles(X_valid) + second.predict_quantiles(X_valid)) / 2,
                   axis=1)
    assert not np.allclose(single.predict_quantiles(X_valid), second.predict_quantiles(X_valid))
    np.testing.assert_allclose(pair.predict_quantiles(X_valid), both, rtol=1e-5, atol=1e-4)
    pair.save(tmp_path)
    loaded = SequenceGRU.load(tmp_path)
    assert len(loaded.nets_) == 2
    assert np.array_equal(loaded.predict_quantiles(X_valid), pair.predict_quantiles(X_valid))
    with progress.listen(Details()), progress.task("train"):
        progress.update(candidate="gru")
        SequenceGRU(**FAST_PARAMS[SequenceGRU.format], ensemble=2).fit(X, y, (X_valid, y_valid))
    # The progress line says which net an epoch belongs to: the count starts over for each.
    assert "candidate gru · net 1/2 · epoch 8/8" in seen
    assert seen[seen.index("candidate gru · net 1/2 · epoch 8/8") + 1:][:2] == [
        "candidate gru · net 2/2", "candidate gru · net 2/2 · epoch 1/8"]
    with pytest.raises(ValueError, match="ensemble=0: train at least 1 net"):
        SequenceGRU(**FAST_PARAMS[SequenceGRU.format], ensemble=0).fit(X, y, (X_valid, y_valid))


def test_an_artifact_saved_before_seed_ensembles_loads_as_one_net(data, tmp_path) -> None:
    """A model saved with one unprefixed net and no `members` (older releases) still loads."""
    from safetensors.torch import load_file, save_file

    X, y, X_valid, y_valid = data
    model = small(SequenceCNN).fit(X, y, (X_valid, y_valid))
    model.save(tmp_path)
    state = load_file(str(tmp_path / "model.safetensors"))
    save_file({k.removeprefix("m0."): v for k, v in state.items()},
              str(tmp_path / "model.safetensors"))
    config = json.loads((tmp_path / "sequence_net.json").read_text())
    del config["members"]
    config["params"].pop("ensemble")
    (tmp_path / "sequence_net.json").write_text(json.dumps(config))
    loaded = SequenceCNN.load(tmp_path)
    assert len(loaded.nets_) == 1
    assert np.array_equal(loaded.predict_quantiles(X_valid), model.predict_quantiles(X_valid))
