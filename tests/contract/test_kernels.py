"""The kernel contract, for every registered family: ``(B, 1|C, k, k)`` kernels of the
requested device and dtype, non-negative, summing to 1, batched over their strength
exactly as a loop of single builds, replayable, and differentiable in their strength."""

from __future__ import annotations

import _contract_base as base  # registered by conftest.py
import pytest
import torch

from blurkit.kernels import get_kernel


def _strength_values(case, device, dtype) -> torch.Tensor:
    v = float(case.params.get(case.strength, 1.0))
    return torch.tensor([v, 1.25 * v], device=device, dtype=dtype)


class TestKernelContract(base.BaseTester):
    def build(self, name, device, dtype, **extra):
        fn = get_kernel(name)
        case = base.kernel_case(name, fn)
        return base.call_kernel(fn, case.params, device=device, dtype=dtype, **extra)

    def test_shape_dtype_device(self, kernel_name, device, dtype):
        k = self.build(kernel_name, device, dtype)
        assert k.ndim == 4 and k.shape[0] == 1 and k.shape[1] in (1, 3), tuple(k.shape)
        assert k.dtype == dtype and k.device.type == device.type
        assert torch.isfinite(k).all()

    def test_non_negative_and_sums_to_one(self, kernel_name, device, dtype):
        k = self.build(kernel_name, device, dtype)
        assert (k >= 0).all(), f"{kernel_name}: negative taps, min {float(k.min())}"
        self.assert_close(
            k.sum((-2, -1)), torch.ones(k.shape[:2], device=device, dtype=dtype), atol=1e-5
        )

    def test_batch_equals_loop(self, kernel_name, device, dtype):
        fn = get_kernel(kernel_name)
        case = base.kernel_case(kernel_name, fn)
        if case.strength is None:
            pytest.skip(f"{kernel_name}: no strength parameter to batch over")
        if base.is_seeded(fn):
            pytest.skip(f"{kernel_name}: one random stream per batch; the seed replay covers it")
        v = _strength_values(case, device, dtype)
        batch = base.call_kernel(fn, {**case.params, case.strength: v}, device=device, dtype=dtype)
        assert batch.shape[0] == 2, tuple(batch.shape)
        size = {"size": batch.shape[-1]} if base.accepts(fn, "size") else {}
        for i in range(2):
            one = base.call_kernel(
                fn, {**case.params, case.strength: v[i : i + 1]}, device=device, dtype=dtype, **size
            )
            self.assert_close(one[0], batch[i], msg=f"{kernel_name}[{i}]")

    def test_non_contiguous_strength(self, kernel_name, device, dtype):
        fn = get_kernel(kernel_name)
        case = base.kernel_case(kernel_name, fn)
        if case.strength is None or base.is_seeded(fn):
            pytest.skip(f"{kernel_name}: no deterministic strength to batch over")
        v = _strength_values(case, device, dtype)
        strided = torch.stack([v, torch.zeros_like(v)], 1)[:, 0]
        assert not strided.is_contiguous()
        a = base.call_kernel(fn, {**case.params, case.strength: v}, device=device, dtype=dtype)
        b = base.call_kernel(
            fn, {**case.params, case.strength: strided}, device=device, dtype=dtype
        )
        assert torch.equal(a, b)

    def test_replay(self, kernel_name, device, dtype):
        # a family's kernels depend only on its parameters, and its seed if it draws
        fn = get_kernel(kernel_name)
        case = base.kernel_case(kernel_name, fn)
        seed = {"seed": 3} if base.is_seeded(fn) else {}
        a = base.call_kernel(fn, case.params, device=device, dtype=dtype, **seed)
        assert torch.equal(a, base.call_kernel(fn, case.params, device=device, dtype=dtype, **seed))
        if seed:
            b = base.call_kernel(fn, case.params, device=device, dtype=dtype, seed=4)
            assert a.shape != b.shape or not torch.equal(a, b), "another seed, another kernel"

    def test_gradcheck_strength(self, kernel_name, device):
        fn = get_kernel(kernel_name)
        case = base.kernel_case(kernel_name, fn)
        if case.strength is None:
            pytest.skip(f"{kernel_name}: no continuous strength parameter")
        if not case.differentiable:
            pytest.skip(f"{kernel_name}: {case.why_not}")
        v = torch.tensor([float(case.params.get(case.strength, 1.0))], dtype=torch.float64)
        k = base.call_kernel(
            fn, {**case.params, case.strength: v}, device=device, dtype=torch.float64
        )
        size = {"size": k.shape[-1]} if base.accepts(fn, "size") else {}

        def build(s):
            p = {**case.params, case.strength: s}
            return base.call_kernel(fn, p, device=device, dtype=torch.float64, **size)

        self.gradcheck(build, (v.to(device),))
