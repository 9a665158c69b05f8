"""The blur engine and the evaluation engine on each device of the ``device`` fixture
(cuda when a GPU is present, else a clean skip): the same results as on the CPU."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import _contract_base as base  # registered by conftest.py
import torch

from blurkit import blur
from blurkit.kernels import gaussian_kernel, motion_kernel
from blurkit.robustness import evaluate_model

_spec = importlib.util.spec_from_file_location(
    "_evalkit", Path(__file__).parents[1] / "robustness" / "_evalkit.py"
)
kit = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(kit)


class TestEnginesOnDevice(base.BaseTester):
    def test_blur_engine_matches_cpu_and_differentiates(self, device, dtype):
        x = self.image(2, 3, 24, 24, device="cpu", dtype=dtype)
        k = torch.cat([gaussian_kernel(1.5, size=9), motion_kernel(6.0, 30.0, size=9)]).to(dtype)
        for method in ("direct", "fft"):
            ref = blur(x, k, method=method)
            xd = x.to(device).requires_grad_()
            y = blur(xd, k.to(device), method=method)
            assert y.device.type == device.type and y.dtype == dtype
            self.assert_close(y.detach().cpu(), ref, atol=1e-5 if dtype == torch.float32 else None)
            y.sum().backward()
            g = xd.grad.cpu()
            assert torch.isfinite(g).all() and g.shape == x.shape

    def test_kernel_follows_the_images_device(self, device, dtype):
        # a CPU kernel (the way kernels are usually built) with images on the device
        x = self.image(2, 3, 20, 20, device=device, dtype=dtype)
        k = gaussian_kernel(1.2, size=7)
        for method in ("direct", "fft"):
            y = blur(x, k, method=method)
            assert y.device.type == device.type and y.dtype == dtype
            self.assert_close(y, blur(x, k.to(device, dtype), method=method))

    def test_evaluation_engine_matches_cpu(self, device, tmp_path):
        data = kit.make_dataset(8)
        kw = dict(
            corruptions=["gaussian_blur", "defocus_blur"],
            severities=[1, 3],
            batch_size=4,
            examples=0,
            flip_frames=0,
            critical=False,
        )
        ref = evaluate_model(kit.TinyNet(1), data, tmp_path / "cpu", device="cpu", **kw)
        model = kit.TinyNet(1).to(device)
        got = evaluate_model(model, data, tmp_path / device.type, device=str(device), **kw)
        assert len(got.rows) == len(ref.rows) == 5  # clean + 2 x 2 cells
        for a, b in zip(got.rows, ref.rows, strict=True):
            assert (a["corruption"], a["severity"]) == (b["corruption"], b["severity"])
            # a prediction may flip where two logits tie within float rounding
            assert abs(a["accuracy"] - b["accuracy"]) <= 1 / 8, (a, b)
