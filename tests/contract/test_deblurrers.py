"""The deblurrer contract, for every method of ``make_deblurrer``: same shape, dtype
and device, values in [0, 1], a batch equals a loop of single images, deterministic,
differentiable in the image where the method is, and the same result for
non-contiguous and channels-last input."""

from __future__ import annotations

import _contract_base as base  # registered by conftest.py
import pytest
import torch

from blurkit import blur
from blurkit.defenses.deblur import NONBLIND_METHODS, make_deblurrer
from blurkit.kernels import gaussian_kernel

#: free-form blind estimation needs 32 x 32 images
SIDE = 32


class TestDeblurrerContract(base.BaseTester):
    def deblurrer(self, name, device, dtype):
        k = gaussian_kernel(1.0, device=device, dtype=dtype)
        d = make_deblurrer(name, k) if name in NONBLIND_METHODS else make_deblurrer(name)
        return d.to(device=device, dtype=dtype), k

    def blurred(self, k, device, dtype, b: int = 2):
        return blur(self.image(b, 3, SIDE, SIDE, device=device, dtype=dtype), k)

    def test_shape_dtype_range(self, deblurrer_name, device, dtype):
        d, k = self.deblurrer(deblurrer_name, device, dtype)
        x = self.blurred(k, device, dtype)
        with torch.no_grad():
            y = d(x)
        assert y.shape == x.shape and y.dtype == dtype and y.device.type == device.type
        assert torch.isfinite(y).all() and float(y.min()) >= 0 and float(y.max()) <= 1

    def test_batch_equals_loop_and_replay(self, deblurrer_name, device, dtype):
        d, k = self.deblurrer(deblurrer_name, device, dtype)
        x = self.blurred(k, device, dtype)
        with torch.no_grad():
            y = d(x)
            assert torch.equal(y, d(x)), "the same images, the same restoration"
            loop = torch.cat([d(x[i : i + 1]) for i in range(2)])
        # float32: the iterative methods (blind, TV) carry rounding of batched FFTs
        self.assert_close(loop, y, atol=1e-4 if dtype == torch.float32 else None)

    @pytest.mark.parametrize("layout", ["non_contiguous", "channels_last"])
    def test_memory_layout(self, deblurrer_name, layout, device, dtype):
        d, k = self.deblurrer(deblurrer_name, device, dtype)
        x = self.blurred(k, device, dtype)
        with torch.no_grad():
            self.assert_close(d(self.layouts(x)[layout]), d(x), atol=1e-5)

    def test_gradcheck_image(self, deblurrer_name, device):
        d, k = self.deblurrer(deblurrer_name, device, torch.float64)
        # mid-grey images keep the restoration off the [0, 1] clip
        x = 0.3 + 0.4 * self.blurred(k, device, torch.float64, b=1)
        if not d(x.clone().requires_grad_()).requires_grad:
            pytest.skip(f"{deblurrer_name}: not differentiable")
        self.gradcheck(d, (x,))
