"""The one Registry behind kernels, corruptions, models, measures and blur families."""

from __future__ import annotations

import pytest
import torch

from blurkit._checks import DTypeError, ParameterError
from blurkit._registry import Registry


def test_lookup_listing_metadata_and_decorator():
    r: Registry = Registry("thing", what="thing")

    @r.register("b", colour="blue")
    def b():
        return 2

    r.add("a", 1)
    assert r.get_entry("b") is b and r["a"] == 1
    assert r.names() == ["a", "b"] and list(r) == ["b", "a"]  # listing sorted, iteration in order
    assert r.names(lambda e: e == 1) == ["a"]
    assert r.metadata("b") == {"colour": "blue"} and r.metadata("a") == {}
    assert "a" in r and len(r) == 2
    r.metadata("b")["colour"] = "red"  # a copy
    assert r.metadata("b") == {"colour": "blue"}


def test_decorator_defaults_to_the_function_name():
    r: Registry = Registry("thing")

    @r.register()
    def my_entry():
        return None

    assert r.names() == ["my_entry"]


def test_unknown_name_suggests_close_names_and_lists_known():
    r: Registry = Registry("kernel", what="family", known="known families")
    for n in ("gaussian", "defocus", "motion"):
        r.add(n, n)
    with pytest.raises(ParameterError, match=r"unknown family 'gausian'") as e:
        r.get_entry("gausian")
    assert "did you mean 'gaussian'?" in str(e.value)
    assert "known families: defocus, gaussian, motion" in str(e.value)
    with pytest.raises(ParameterError) as e:
        r.get_entry("zzz")
    assert "did you mean" not in str(e.value)
    with pytest.raises(ParameterError, match="unknown family 3"):
        r.get_entry(3)


def test_typed_error_and_hint_are_configurable():
    r: Registry = Registry("model", known="registered", hint=" (or a file)", error=DTypeError)
    r.add("net", 0)
    with pytest.raises(
        DTypeError, match=r"model: unknown name 'nte'.*registered: net \(or a file\)"
    ):
        r.get_entry("nte")


def test_duplicates_refused_same_entry_again_is_a_no_op_and_pop_removes():
    r: Registry = Registry("thing")
    r.add("a", 1)
    entry = object()
    r.add("b", entry)
    r.add("b", entry)
    with pytest.raises(ParameterError, match="already registered"):
        r.add("b", object())
    with pytest.raises(ParameterError, match="non-empty name"):
        r.add("", 1)
    assert r.pop("b") is entry and "b" not in r
    assert r.pop("missing", None) is None


def test_a_kernel_a_corruption_and_a_measure_registered_by_a_test_are_listed():
    from blurkit.corruptions import Corruption, get_corruption, list_corruptions
    from blurkit.corruptions.base import CORRUPTIONS, register_corruption
    from blurkit.kernels import get_kernel, list_kernels
    from blurkit.kernels.registry import KERNELS, register_kernel
    from blurkit.measure import get_metric, list_metrics
    from blurkit.measure.registry import METRICS, register_metric

    def box(size=3):
        return torch.full((1, 1, size, size), 1.0 / size**2)

    register_kernel("test_box")(box)
    c = register_corruption(Corruption("test_identity", lambda x, *a, **k: x))
    register_metric("test_mean", higher_is="sharper", reference="-", weakness="-")(
        lambda x: x.mean((-3, -2, -1))
    )
    try:
        assert "test_box" in list_kernels() and get_kernel("test_box") is box
        assert "test_identity" in list_corruptions() and get_corruption("test_identity") is c
        assert "test_mean" in list_metrics() and get_metric("test_mean").higher_is == "sharper"
    finally:
        KERNELS.pop("test_box")
        CORRUPTIONS.pop("test_identity")
        METRICS.pop("test_mean")
    assert "test_box" not in list_kernels()
