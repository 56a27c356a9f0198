"""Every candidate follows scikit-learn's rule: get_params returns the constructor's arguments."""

from __future__ import annotations

import pytest

from core.models.protocol import constructor_params
from core.task import tasks

CANDIDATES = sorted({(task_name, model) for task_name, task in tasks().items()
                     for model in task.candidates()})


@pytest.mark.parametrize(("task_name", "model"), CANDIDATES)
def test_get_params_rebuilds_an_equal_model(task_name: str, model: str) -> None:
    built = tasks()[task_name].build_model(model, "smoke")
    params = built.get_params(deep=False)
    assert type(built)(**params).get_params(deep=False) == params


class Example:
    def __init__(self, depth: int = 3, *, rate: float = 0.1) -> None:
        self.depth = depth
        self.rate = rate


def test_constructor_params_reads_back_what_the_constructor_stored() -> None:
    assert constructor_params(Example(5, rate=0.5)) == {"depth": 5, "rate": 0.5}


def test_set_params_takes_constructor_arguments_only() -> None:
    from core.models.protocol import set_constructor_params

    model = set_constructor_params(Example(), {"depth": 7})
    assert constructor_params(model) == {"depth": 7, "rate": 0.1}
    with pytest.raises(ValueError, match=r"Example has no parameter\(s\) \['width'\]"):
        set_constructor_params(model, {"width": 2})
    assert model.depth == 7  # a refused call changes nothing
