"""The corruption contract, for every registered family: same shape, dtype and device,
values in [0, 1], a batch with per-image seeds equals a loop of single images, the
same seed gives the same output, drawn parameters replay, differentiable in the image,
and the same result for non-contiguous and channels-last input."""

from __future__ import annotations

import _contract_base as base  # registered by conftest.py
import pytest
import torch

from blurkit.corruptions import corrupt, get_corruption, sample_corruption

SEEDS = [11, 12]

#: corruptions whose gradient is by design not the derivative of the output
STRAIGHT_THROUGH = {
    "glass_blur": "its uint8 quantisation (as ImageNet-C's) passes gradients straight through",
}


class TestCorruptionContract(base.BaseTester):
    def images(self, device, dtype, c: int = 3):
        return self.image(2, c, 16, 16, device=device, dtype=dtype)

    @pytest.mark.parametrize("channels", [1, 3])
    def test_shape_dtype_range(self, corruption_name, channels, device, dtype):
        # every preset at 8 px: tests/test_api_surface.py; here the first, on each device
        x = self.images(device, dtype, channels)
        y = corrupt(x, corruption_name, 3, seed=SEEDS)
        assert y.shape == x.shape and y.dtype == dtype and y.device.type == device.type
        assert torch.isfinite(y).all()
        assert float(y.min()) >= 0 and float(y.max()) <= 1, y.aminmax()

    def test_batch_equals_loop(self, corruption_name, device, dtype):
        x = self.images(device, dtype)
        y = corrupt(x, corruption_name, 3, seed=SEEDS)
        for i, s in enumerate(SEEDS):
            one = corrupt(x[i : i + 1], corruption_name, 3, seed=[s])
            self.assert_close(one[0], y[i], msg=f"image {i}")

    def test_replay(self, corruption_name, device, dtype):
        x = self.images(device, dtype)
        y = corrupt(x, corruption_name, 3, seed=SEEDS)
        assert torch.equal(y, corrupt(x, corruption_name, 3, seed=SEEDS)), "same seed"
        drawn = sample_corruption(x, corruption_name, 3, seed=SEEDS)
        assert set(drawn) <= set(get_corruption(corruption_name).params), sorted(drawn)
        # the drawn parameters, given back, reproduce the call without its seed
        self.assert_close(corrupt(x, corruption_name, 3, **drawn), y)

    @pytest.mark.parametrize("layout", ["non_contiguous", "channels_last"])
    def test_memory_layout(self, corruption_name, layout, device, dtype):
        x = self.images(device, dtype)
        y = corrupt(x, corruption_name, 3, seed=SEEDS)
        self.assert_close(corrupt(self.layouts(x)[layout], corruption_name, 3, seed=SEEDS), y)

    def test_gradcheck_image(self, corruption_name, device):
        if corruption_name in STRAIGHT_THROUGH:
            pytest.skip(f"{corruption_name}: {STRAIGHT_THROUGH[corruption_name]}")
        # mid-grey images keep the output off the [0, 1] clamp, where it is not smooth
        x = self.image(1, 1, 8, 8, device=device, dtype=torch.float64, low=0.3, high=0.7)
        drawn = sample_corruption(x, corruption_name, 2, seed=[5])
        self.gradcheck(lambda im: corrupt(im, corruption_name, 2, **drawn), (x,))
