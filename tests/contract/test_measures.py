"""The measure contract, for every registered no-reference measure: one value per
image of the images' dtype, ``reduction="mean"`` a scalar, a batch equals a loop of
single images, the same call the same value, differentiable where the measure is,
and the same result for non-contiguous and channels-last input."""

from __future__ import annotations

import _contract_base as base  # registered by conftest.py
import pytest
import torch

from blurkit.measure import get_metric


class TestMeasureContract(base.BaseTester):
    def images(self, name, device, dtype, b: int = 2, c: int = 3):
        side = max(16, get_metric(name).min_size)
        return self.image(b, c, side, side, device=device, dtype=dtype)

    def test_shape_dtype(self, measure_name, device, dtype):
        fn = get_metric(measure_name).fn
        x = self.images(measure_name, device, dtype)
        y = fn(x)
        assert y.shape == (2,) and y.dtype == dtype and y.device.type == device.type
        assert torch.isfinite(y).all()
        m = fn(x, reduction="mean")
        assert m.shape == () and torch.isfinite(m)

    def test_batch_equals_loop_and_replay(self, measure_name, device, dtype):
        fn = get_metric(measure_name).fn
        x = self.images(measure_name, device, dtype)
        y = fn(x)
        assert torch.equal(y, fn(x)), "the same images, the same values"
        self.assert_close(torch.cat([fn(x[i : i + 1]) for i in range(2)]), y)

    @pytest.mark.parametrize("layout", ["non_contiguous", "channels_last"])
    def test_memory_layout(self, measure_name, layout, device, dtype):
        fn = get_metric(measure_name).fn
        x = self.images(measure_name, device, dtype)
        self.assert_close(fn(self.layouts(x)[layout]), fn(x))

    def test_gradcheck_image(self, measure_name, device):
        fn = get_metric(measure_name).fn
        x = self.images(measure_name, device, torch.float64, b=1, c=1)
        if not fn(x.clone().requires_grad_()).requires_grad:
            pytest.skip(f"{measure_name}: not differentiable (thresholds or edge detection)")
        self.gradcheck(fn, (x,))
