"""The deep forecasters' own choices: N-HiTS forecasts changes without echoing the last one."""

from __future__ import annotations

import numpy as np
import torch

from core.forecast.fast_predict import build_batch, forward
from core.models.deep_forecasters import DeepForecaster
from verticals.finance.stock_forecasting import TASK, features


def test_nhits_does_not_add_the_last_change_to_its_forecast() -> None:
    """N-HiTS' default `naive_level` adds the last encoder value to every forecast: for
    returns that repeats yesterday's move (MAE about sqrt 2 of the random walk's). With every
    weight zeroed, the forecast must not depend on the last change at all."""
    panel = TASK.kind.panel(features(TASK.sample(300, 4)))
    model = DeepForecaster(architecture="nhits", encoder_length=10, hidden_size=4, max_epochs=1,
                           limit_train_batches=2, batch_size=32).fit(panel)
    with torch.no_grad():
        for parameter in model.network_.parameters():
            parameter.zero_()
    rows = panel.last_rows()
    calm = build_batch(panel, rows, model.spec_)
    shocked = {k: v.clone() for k, v in calm.items()}
    shocked["encoder_target"][:, -1] += 0.2  # a 20% move yesterday, in the target's units
    shocked["encoder_cont"][:, -1, list(model.spec_.reals).index("y")] += 50.0  # scaled
    np.testing.assert_array_equal(forward(model.network_, calm),
                                  forward(model.network_, shocked))
