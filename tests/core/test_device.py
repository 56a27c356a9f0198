"""Torch's CPU threads for a fit: the setting, the default, and the count restored after."""

from __future__ import annotations

import pytest
import torch

from core.device import THREADS_ENV, cpu_threads, torch_threads


def test_the_setting_overrides_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(THREADS_ENV, raising=False)
    assert torch_threads(1) == 1
    assert torch_threads(None) is None
    monkeypatch.setenv(THREADS_ENV, "3")
    assert torch_threads(1) == 3 and torch_threads(None) == 3


@pytest.mark.parametrize("raw", ["0", "two", "-1", "1.5"])
def test_a_bad_setting_names_the_variable(raw: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(THREADS_ENV, raw)
    with pytest.raises(ValueError, match=THREADS_ENV):
        torch_threads(1)


def test_threads_are_set_inside_and_restored_after(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(THREADS_ENV, raising=False)
    before = torch.get_num_threads()
    target = 2 if before == 1 else 1
    with cpu_threads(target):
        assert torch.get_num_threads() == target
    assert torch.get_num_threads() == before
    with pytest.raises(RuntimeError), cpu_threads(target):
        raise RuntimeError("a failed fit")
    assert torch.get_num_threads() == before
