"""The batched fast path gives the library's own `predict` numbers, also after save/load."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.forecast.dataset import build_dataset, long_frame, spec_observed
from core.forecast.fast_predict import build_batch, forward
from core.forecast.speed import library_predict, origin_rows
from core.models.deep_forecasters import DeepForecaster, cumulative_quantiles
from verticals.finance.stock_forecasting import TASK, features


@pytest.fixture(scope="module", params=["tft", "nhits"])
def trained(request):  # noqa: ANN001, ANN201
    panel = TASK.kind.panel(features(TASK.sample(300, 3)))  # 3 tickers x 100 days
    cut = pd.Timestamp(np.unique(panel.time)[-6])
    model = DeepForecaster(architecture=request.param, encoder_length=12, hidden_size=4,
                           max_epochs=1, limit_train_batches=2, batch_size=32).fit(panel.until(cut))
    return panel, cut, model


def test_fast_predict_matches_library_predict(trained) -> None:  # noqa: ANN001
    panel, cut, model = trained
    # The encoder reads the observed reals too (log volatility, volume z-score), in the
    # library's order; the batch must put them where the library does.
    assert spec_observed(model.spec_) == ("log_vol", "volume_z")
    dataset = build_dataset(long_frame(panel.until(cut)), 12, 5, spec_observed(model.spec_))
    blocks = origin_rows(panel, np.unique(panel.time)[-6:], model.spec_)
    assert [len(b) for b in blocks] == [3] * 6
    for rows in blocks[:3]:
        slow = library_predict(model.network_, dataset, panel, rows, model.spec_)
        fast = forward(model.network_, build_batch(panel, rows, model.spec_))
        assert slow.shape == fast.shape == (3, 5, 11)
        np.testing.assert_allclose(fast, slow, rtol=1e-5, atol=1e-7)
    every = forward(model.network_, build_batch(panel, np.concatenate(blocks), model.spec_))
    np.testing.assert_allclose(every[:3], forward(model.network_, build_batch(
        panel, blocks[0], model.spec_)), rtol=1e-5, atol=1e-7)


def test_save_load_round_trip(trained, tmp_path: Path) -> None:  # noqa: ANN001
    panel, _, model = trained
    rows = panel.last_rows()
    model.save(tmp_path)
    assert {p.name for p in tmp_path.iterdir()} == {"network.safetensors", "forecaster.json"}
    loaded = DeepForecaster.load(tmp_path)
    np.testing.assert_allclose(loaded.forecast(panel, rows), model.forecast(panel, rows),
                               rtol=1e-6)


def test_cumulative_quantiles_of_independent_gaussian_steps() -> None:
    from scipy import stats

    from core.forecast.metrics import QUANTILES

    steps = np.tile(0.5 + stats.norm.ppf(QUANTILES), (1, 4, 1))  # N(0.5, 1) per step
    total = cumulative_quantiles(steps)
    expected = 0.5 * 4 + 2.0 * stats.norm.ppf(QUANTILES)  # N(2, 4) after 4 steps
    np.testing.assert_allclose(total[0, 3], expected, atol=1e-12)
