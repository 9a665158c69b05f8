"""The one JSON rule (blurkit._json): strict JSON, non-finite numbers as null."""

import dataclasses
import json
import math

import numpy as np
import pytest
import torch

from blurkit._json import dumps, to_jsonable


def test_non_finite_numbers_become_null_whatever_their_type():
    values = [math.inf, -math.inf, math.nan, np.float32("inf"), np.float64("nan")]
    assert to_jsonable(values) == [None] * 5
    assert to_jsonable(torch.tensor([1.0, float("inf")])) == [1.0, None]
    assert to_jsonable(np.array([[np.nan, 2.0]])) == [[None, 2.0]]


def test_containers_scalars_and_others():
    @dataclasses.dataclass
    class D:
        a: float
        b: tuple

    out = to_jsonable({1: D(math.inf, (np.int64(3), np.bool_(True), True)), "p": object})
    assert out == {"1": {"a": None, "b": [3, True, True]}, "p": str(object)}
    assert type(out["1"]["b"][0]) is int and out["1"]["b"][2] is True


def test_dumps_is_strict_and_passes_options():
    text = dumps({"m": float("inf"), "x": [1, float("nan")]}, indent=1, sort_keys=True)
    assert "Infinity" not in text and "NaN" not in text
    assert json.loads(text) == {"m": None, "x": [1, None]}
    with pytest.raises(ValueError):  # json.dumps itself would write Infinity
        json.dumps({"m": float("inf")}, allow_nan=False)


def test_cli_json_writers_use_the_rule():
    # the three sanitisers that disagreed on inf ("inf" strings vs null) are gone
    from blurkit.cli import cmd_attack, cmd_evaluate
    from blurkit.robustness import summary

    assert not hasattr(cmd_attack, "_jsonable")
    assert not hasattr(cmd_evaluate, "_clean_json")
    assert not hasattr(summary, "jsonable")
