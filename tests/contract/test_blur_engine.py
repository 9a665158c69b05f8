"""The blur engine with every registered kernel family: shape and dtype kept, a batch
of per-sample kernels equals a loop of single blurs, linear in the image (float64
gradcheck), and the same result for non-contiguous and channels-last images. On cuda
when a GPU is present (the ``device`` fixture)."""

from __future__ import annotations

import _contract_base as base  # registered by conftest.py
import pytest
import torch

from blurkit import blur
from blurkit.kernels import get_kernel


class TestBlurContract(base.BaseTester):
    def kernels(self, name, device, dtype, batch: bool = False) -> torch.Tensor:
        fn = get_kernel(name)
        case = base.kernel_case(name, fn)
        params = dict(case.params)
        if batch:
            if case.strength is None or base.is_seeded(fn):
                k = base.call_kernel(fn, params, device=device, dtype=dtype)
                return k.expand(2, *k.shape[1:]).clone()
            v = float(params.get(case.strength, 1.0))
            params[case.strength] = torch.tensor([v, 1.25 * v], device=device, dtype=dtype)
        return base.call_kernel(fn, params, device=device, dtype=dtype)

    def test_shape_dtype_device(self, kernel_name, device, dtype):
        x = self.image(2, 3, 16, 16, device=device, dtype=dtype)
        y = blur(x, self.kernels(kernel_name, device, dtype))
        assert y.shape == x.shape and y.dtype == dtype and y.device.type == device.type
        assert torch.isfinite(y).all()

    def test_batch_equals_loop(self, kernel_name, device, dtype):
        x = self.image(2, 3, 16, 16, device=device, dtype=dtype)
        k = self.kernels(kernel_name, device, dtype, batch=True)
        y = blur(x, k)
        for i in range(2):
            self.assert_close(blur(x[i : i + 1], k[i : i + 1])[0], y[i], msg=f"image {i}")

    @pytest.mark.parametrize("layout", ["non_contiguous", "channels_last"])
    def test_memory_layout(self, kernel_name, layout, device, dtype):
        x = self.image(2, 3, 16, 16, device=device, dtype=dtype)
        k = self.kernels(kernel_name, device, dtype)
        self.assert_close(blur(self.layouts(x)[layout], k), blur(x, k))

    def test_gradcheck_image(self, kernel_name, device):
        k = self.kernels(kernel_name, device, torch.float64)
        x = self.image(1, 1, 12, 12, device=device, dtype=torch.float64)
        self.gradcheck(lambda im: blur(im, k), (x,))
