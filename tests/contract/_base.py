"""The contract suite's base tester (the shape of kornia's ``testing.BaseTester``).

Every public operator family of blurkit (kernel families, corruptions, measures,
deblurrers) promises the same few things: output shape and dtype, batch equals a
loop of single samples, replayable draws, gradients where it is differentiable, and
the same result for non-contiguous and channels-last input. :class:`BaseTester`
holds the shared checks; the test modules parametrise them over every registered
name (``conftest.py`` reads the registries at collection time), on the ``device``
and ``dtype`` fixtures.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch.autograd import gradcheck

__all__ = ["BaseTester", "KernelCase", "kernel_case", "call_kernel"]

#: {dtype: (rtol, atol)} for comparisons that allow float rounding
TOLERANCES = {torch.float32: (1e-4, 1e-5), torch.float64: (1e-7, 1e-9)}


class BaseTester:
    """Shared checks of the contract suite; subclasses test one kind of operator."""

    @staticmethod
    def tolerances(dtype: torch.dtype) -> tuple[float, float]:
        return TOLERANCES.get(dtype, (1e-4, 1e-5))

    def assert_close(self, actual, expected, *, rtol=None, atol=None, msg: str = "") -> None:
        """``torch.testing.assert_close`` with the dtype's tolerances of :data:`TOLERANCES`."""
        r, a = self.tolerances(expected.dtype)
        torch.testing.assert_close(
            actual,
            expected,
            rtol=r if rtol is None else rtol,
            atol=a if atol is None else atol,
            msg=(lambda m: f"{msg}: {m}") if msg else None,
        )

    @staticmethod
    def image(b, c, h, w, *, device, dtype, seed: int = 0, low=0.0, high=1.0) -> torch.Tensor:
        """Seeded images in ``[low, high]`` (drawn on the CPU, so every device sees the same)."""
        g = torch.Generator().manual_seed(seed)
        x = low + (high - low) * torch.rand(b, c, h, w, generator=g, dtype=torch.float64)
        return x.to(device=device, dtype=dtype)

    @staticmethod
    def layouts(x: torch.Tensor) -> dict[str, torch.Tensor]:
        """The same values as ``x`` in two other memory layouts."""
        nc = x.transpose(-1, -2).contiguous().transpose(-1, -2)
        assert not nc.is_contiguous() and torch.equal(nc, x)
        cl = x.contiguous(memory_format=torch.channels_last)
        assert torch.equal(cl, x)
        return {"non_contiguous": nc, "channels_last": cl}

    @staticmethod
    def gradcheck(fn: Callable, inputs: tuple[torch.Tensor, ...], **kwargs) -> None:
        """float64 ``torch.autograd.gradcheck`` (fast mode: one random direction).

        On CUDA two backward passes may differ in their last bits (padding, index and
        interpolation backwards add with atomics, in a varying order), which gradcheck
        would read as a backward that is not reentrant: ``nondet_tol`` allows that much.
        """
        inputs = tuple(t.detach().to(torch.float64).requires_grad_() for t in inputs)
        kwargs.setdefault("fast_mode", True)
        if any(t.is_cuda for t in inputs):
            kwargs.setdefault("nondet_tol", 1e-10)
        assert gradcheck(fn, inputs, raise_exception=True, **kwargs)


# ----------------------------------------------------------------- kernel families


@dataclass(frozen=True)
class KernelCase:
    """How the contract suite calls one kernel family.

    Attributes:
        params: keyword parameters of a small kernel (at most ~19 px).
        strength: the continuous parameter a batch varies and gradcheck differentiates,
            or ``None`` when the family has none.
        differentiable: whether the kernel is differentiable in ``strength``.
        why_not: the reason when it is not.
    """

    params: dict = field(default_factory=dict)
    strength: str | None = None
    differentiable: bool = True
    why_not: str = ""


#: small parameters of the families built in; a family not listed here (e.g. one
#: registered by a test) is called with its defaults and its first float-defaulted
#: parameter as the strength (``kernel_case``)
KERNEL_CASES: dict[str, KernelCase] = {
    "gaussian": KernelCase({"sigma": 1.0}, "sigma"),
    "anisotropic_gaussian": KernelCase({"sigma_x": 1.5, "sigma_y": 0.7, "angle": 30.0}, "sigma_x"),
    "generalized_gaussian": KernelCase({"sigma": 1.0, "beta": 3.0}, "sigma"),
    "defocus": KernelCase({"radius": 2.3}, "radius"),
    # piecewise constant in its radius (the reference's thresholded disk), smooth in
    # alias_blur; radius 3 keeps the disk inside the grid, where it sums to 1 (at the
    # border the reference kernel does not, and blurkit keeps that: see its docstring)
    "imagenet_c_disk": KernelCase({"radius": 3, "alias_blur": 0.5}, "alias_blur"),
    "motion": KernelCase({"length": 5.3, "angle": 30.0}, "length"),
    "camera_shake": KernelCase(
        {"length": 5.0, "seed": 0, "steps": 200},
        "length",
        differentiable=False,
        why_not="the shake trajectory is drawn and scaled in NumPy (sample_shake_trajectory)",
    ),
    "myopia": KernelCase({"diopters": 0.5}, "diopters"),
    "astigmatism": KernelCase({"cylinder_diopters": 0.5, "axis_deg": 30.0}, "cylinder_diopters"),
    "scatter": KernelCase({"weight": 0.3, "halo_radius": 4.0}, "weight"),
    "zernike": KernelCase({"defocus": 0.3}, "defocus"),
}


def _signature(fn) -> inspect.Signature:
    return inspect.signature(fn)


def kernel_case(name: str, builder: Callable) -> KernelCase:
    """The :class:`KernelCase` of ``name``: the table's, or one inferred from the defaults."""
    if name in KERNEL_CASES:
        return KERNEL_CASES[name]
    strength = next(
        (
            p.name
            for p in _signature(builder).parameters.values()
            if isinstance(p.default, float) and not isinstance(p.default, bool)
        ),
        None,
    )
    return KernelCase({}, strength)


def accepts(builder: Callable, name: str) -> bool:
    """Whether the builder takes a keyword ``name`` (or ``**kwargs``)."""
    params = _signature(builder).parameters
    return name in params or any(p.kind is p.VAR_KEYWORD for p in params.values())


def is_seeded(builder: Callable) -> bool:
    """Whether the family draws at random (it takes a ``seed``)."""
    return "seed" in _signature(builder).parameters


def call_kernel(builder: Callable, params: dict, *, device, dtype, **extra) -> torch.Tensor:
    """``builder(**params, **extra, device=, dtype=)``."""
    return builder(**{**params, **extra}, device=device, dtype=dtype)
