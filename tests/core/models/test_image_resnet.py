"""ImageCNN's budget: step and time caps per member net, the batch following the images."""

from __future__ import annotations

import numpy as np
import pytest

from core.models.nets.image_resnet import ImageCNN

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def images(rows: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, rows)
    X = rng.random((rows, 1, 16, 16), dtype=np.float32) * 0.5
    X[y == 1, :, 4:12, 4:12] += 0.5  # a bright square marks class 1
    return X, y


def tiny(**budget) -> ImageCNN:
    return ImageCNN(width=4, augment=False, tta=False, max_epochs=50, patience=50, **budget)


def test_max_steps_ends_every_member_within_its_first_epochs() -> None:
    X, y = images(120)  # 102 training images at batch 16: 7 steps an epoch
    model = tiny(batch_size=16, max_steps=10, ensemble=2).fit(X, y)
    # 10 steps: one whole epoch and part of the second (Lightning counts it), not 50 epochs
    assert model.epochs_ == [2, 2]
    p = model.predict_proba(X)
    assert p.shape == (120, 2) and np.allclose(p.sum(axis=1), 1)


def test_max_minutes_is_shared_by_the_members_and_auto_batch_follows_the_rows() -> None:
    X, y = images(64)
    model = tiny(batch_size=None, max_minutes=1 / 60, ensemble=2).fit(X, y)
    assert len(model.epochs_) == 2 and max(model.epochs_) < 50  # half a second each
    assert model.get_params()["batch_size"] is None  # resolved per fit, the param stays plain
