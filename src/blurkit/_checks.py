"""Input validation in one place.

Every user-facing function validates its inputs through these helpers so that
bad input raises a typed exception that names the parameter, says what was
expected and what came. The checks read only shapes, dtypes and Python
scalars: nothing here synchronises with a GPU on the hot path (value checks
on tensors are the finite and kernel-value rules, skipped inside :class:`trusted_values`).

Exceptions subclass the built-in ``ValueError`` / ``TypeError`` so callers that
already catch those keep working, and :class:`BlurkitError` lets a caller catch
everything blurkit raises about its input.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

__all__ = [
    "BlurkitError",
    "ShapeError",
    "ParameterError",
    "DTypeError",
    "UnsafeFileError",
    "check_image",
    "check_kernel",
    "check_scalar",
    "check_choice",
    "check_finite",
    "as_param",
    "float_dtype",
    "common_dtype",
    "check_size",
    "check_int",
    "check_allocation",
    "MAX_KERNEL_SIZE",
    "MAX_ALLOC_BYTES",
]

#: the largest kernel side blurkit builds, asked for or derived from a parameter; larger
#: requests are almost always a unit mistake (radius in mm, sigma in %) and a 1025^2 kernel
#: already costs 4 MB per image and channel
MAX_KERNEL_SIZE = 1025

#: the most memory one parameter-driven allocation may ask for (bytes); override with the
#: environment variable ``BLURKIT_MAX_ALLOC_GB``. Sizes read from an argument or a file
#: (kernel sides, optics grids, model widths in metadata, archive members) are checked
#: against it *before* anything is allocated.
MAX_ALLOC_BYTES = int(float(__import__("os").environ.get("BLURKIT_MAX_ALLOC_GB", "4")) * 2**30)


class BlurkitError(Exception):
    """Base class of every input error blurkit raises."""


class ShapeError(BlurkitError, ValueError):
    """A tensor has the wrong rank or size."""


class DTypeError(BlurkitError, TypeError):
    """A tensor or value has the wrong type or dtype."""


class ParameterError(BlurkitError, ValueError):
    """A parameter value is out of its valid range or unknown."""


class UnsafeFileError(BlurkitError, ValueError):
    """A file holds something that would run code when loaded (a pickled object that is
    not plain data); it is refused before anything in it runs."""


def _describe(x: object) -> str:
    if isinstance(x, torch.Tensor):
        return f"tensor of shape {tuple(x.shape)} and dtype {x.dtype}"
    return f"{type(x).__name__} {x!r}"[:120]


def common_dtype(*values: object, dtype: torch.dtype | None = None) -> torch.dtype:
    """The dtype rule for several parameters: ``dtype`` if given (by :func:`float_dtype`),
    else the floating tensors among ``values`` promoted together (``torch.promote_types``),
    else float32. Every kernel builder sets its working dtype through this.

    >>> common_dtype(1.0, torch.tensor([2.0], dtype=torch.float64))
    torch.float64
    >>> common_dtype(torch.tensor([1.0]), torch.tensor([2.0], dtype=torch.float64))
    torch.float64
    >>> common_dtype(torch.tensor([1]), dtype=torch.int64)
    torch.float32
    """
    if dtype is not None:
        return float_dtype(dtype)
    out = None
    for v in values:
        if isinstance(v, torch.Tensor) and v.dtype.is_floating_point:
            out = v.dtype if out is None else torch.promote_types(out, v.dtype)
    return torch.float32 if out is None else out


def float_dtype(dtype: torch.dtype | None) -> torch.dtype:
    """The dtype rule for one value: floating dtypes are kept; anything else (``None``,
    integers, bool) becomes float32. :func:`common_dtype` applies it to several parameters.

    >>> float_dtype(torch.float64)
    torch.float64
    >>> float_dtype(torch.uint8)
    torch.float32
    """
    if dtype is not None and dtype.is_floating_point:
        return dtype
    return torch.float32


def check_image(x: object, name: str = "images") -> tuple[torch.Tensor, bool]:
    """Validate an image tensor and bring it to ``(B, C, H, W)``.

    Accepts ``(B, C, H, W)`` or a single ``(C, H, W)`` image of a floating dtype.
    Returns the 4-D tensor and whether the input was a single image (so the
    caller can return the same rank).
    """
    if not isinstance(x, torch.Tensor):
        raise DTypeError(
            f"{name}: expected a torch.Tensor of shape (B, C, H, W), got {_describe(x)}"
        )
    if not x.dtype.is_floating_point:
        raise DTypeError(
            f"{name}: expected a floating-point tensor with values in [0, 1], got dtype {x.dtype}; "
            "convert with images.float() / 255"
        )
    if x.ndim == 3:
        return x.unsqueeze(0), True
    if x.ndim != 4:
        raise ShapeError(f"{name}: expected shape (B, C, H, W) or (C, H, W), got {tuple(x.shape)}")
    return x, False


def check_kernel(k: object, name: str = "kernels") -> torch.Tensor:
    """Validate a kernel tensor and bring it to ``(B, 1|C, kh, kw)``.

    A 2-D ``(kh, kw)`` kernel is taken as one kernel shared by the batch and channels.
    """
    if not isinstance(k, torch.Tensor):
        raise DTypeError(
            f"{name}: expected a torch.Tensor of shape (B, C, kh, kw), got {_describe(k)}"
        )
    if not k.dtype.is_floating_point:
        raise DTypeError(f"{name}: expected a floating-point tensor, got dtype {k.dtype}")
    if k.ndim == 2:
        k = k[None, None]
    elif k.ndim == 3:
        k = k[:, None]
    elif k.ndim != 4:
        raise ShapeError(
            f"{name}: expected shape (B, 1|C, kh, kw) or (kh, kw), got {tuple(k.shape)}"
        )
    if k.shape[-1] < 1 or k.shape[-2] < 1:
        raise ShapeError(f"{name}: kernel spatial size must be >= 1, got {tuple(k.shape[-2:])}")
    return k


def check_scalar(
    value: object,
    name: str,
    *,
    low: float | None = None,
    high: float | None = None,
    low_inclusive: bool = True,
    high_inclusive: bool = True,
) -> float:
    """Validate a finite Python (or 0-d tensor) scalar within ``[low, high]``."""
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise DTypeError(f"{name}: expected a number, got {_describe(value)}")
    v = float(value)
    if not math.isfinite(v):
        raise ParameterError(f"{name}: expected a finite number, got {v}")
    _check_range(v, name, low, high, low_inclusive, high_inclusive)
    return v


def _check_range(v, name, low, high, low_inclusive, high_inclusive):
    bad_low = low is not None and (v < low if low_inclusive else v <= low)
    bad_high = high is not None and (v > high if high_inclusive else v >= high)
    if bad_low or bad_high:
        lo = "-inf" if low is None else f"{low:g}"
        hi = "inf" if high is None else f"{high:g}"
        lb = "[" if low_inclusive else "("
        hb = "]" if high_inclusive else ")"
        raise ParameterError(f"{name}: expected a value in {lb}{lo}, {hi}{hb}, got {v:g}")


def check_choice(value: object, name: str, choices: Sequence[str]) -> str:
    """Validate that ``value`` is one of ``choices``."""
    if not isinstance(value, str) or value not in choices:
        raise ParameterError(f"{name}: expected one of {sorted(choices)}, got {value!r}")
    return value


def as_param(
    value: object,
    name: str,
    batch: int | None = None,
    *,
    device: torch.device | None = None,
    dtype: torch.dtype | None = None,
    low: float | None = None,
    high: float | None = None,
    low_inclusive: bool = True,
) -> torch.Tensor:
    """Turn a Python scalar, sequence or tensor into a ``(B,)`` parameter tensor.

    Range checks are applied to Python values only; tensors are trusted (a check
    on a CUDA tensor would synchronise) unless they live on the CPU.
    ``dtype=None`` keeps a floating tensor's dtype (else float32).
    """
    if dtype is None and isinstance(value, torch.Tensor):
        dtype = value.dtype
    dtype = float_dtype(dtype)
    if isinstance(value, torch.Tensor):
        t = value.to(device=device if device is not None else value.device, dtype=dtype)
        if t.ndim == 0:
            t = t.reshape(1)
        if t.ndim != 1:
            raise ShapeError(
                f"{name}: expected a scalar or a (B,) tensor, got shape {tuple(t.shape)}"
            )
        check_values = t.device.type == "cpu" and not t.requires_grad
    else:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            vals = [float(value)]
        elif (
            isinstance(value, Sequence)
            and not isinstance(value, str)
            and len(value) > 0
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
        ):
            vals = [float(v) for v in value]
        else:
            raise DTypeError(
                f"{name}: expected a number, a sequence or a (B,) tensor, got {_describe(value)}"
            )
        t = torch.tensor(vals, device=device, dtype=dtype)
        check_values = True
    if check_values and t.numel():
        if not bool(torch.isfinite(t).all()):
            raise ParameterError(f"{name}: expected finite values, got {t.tolist()[:8]}")
        lo_v, hi_v = float(t.min()), float(t.max())
        _check_range(lo_v, name, low, high, low_inclusive, True)
        _check_range(hi_v, name, low, high, low_inclusive, True)
    if batch is not None and t.shape[0] not in (1, batch):
        raise ShapeError(f"{name}: expected 1 or {batch} values (one per image), got {t.shape[0]}")
    if batch is not None and t.shape[0] == 1 and batch != 1:
        t = t.expand(batch)
    return t


def _as_int(value: object, name: str) -> int:
    """An integer from an int, a numpy integer or an integral 0-d tensor (not bool, not str)."""
    if isinstance(value, torch.Tensor) and value.numel() == 1 and not value.is_floating_point():
        value = value.item()
    if isinstance(value, bool) or not hasattr(value, "__index__"):
        raise DTypeError(f"{name}: expected an integer, got {_describe(value)}")
    return int(value.__index__())


def check_int(value: object, name: str, *, low: int | None = None, high: int | None = None) -> int:
    """Validate an integer (Python or numpy, not bool or str) within ``[low, high]``.

    >>> check_int(3, "batch_size", low=1)
    3
    """
    v = _as_int(value, name)
    if (low is not None and v < low) or (high is not None and v > high):
        lo = "-inf" if low is None else str(low)
        hi = "inf" if high is None else str(high)
        raise ParameterError(f"{name}: expected an integer in [{lo}, {hi}], got {v}")
    return v


def check_size(
    size: object, name: str = "size", *, odd: bool = True, limit: int = MAX_KERNEL_SIZE
) -> int:
    """The size rule: a kernel side is a positive integer, odd where a centre pixel is needed,
    at most ``limit`` (:data:`MAX_KERNEL_SIZE`), whether given or derived from a parameter.

    >>> check_size(9)
    9
    >>> check_size(8)
    Traceback (most recent call last):
    ...
    blurkit._checks.ParameterError: size: expected a positive odd integer, got 8
    """
    v = _as_int(size, name)
    if v < 1 or (odd and v % 2 == 0):
        kind = "positive odd integer" if odd else "positive integer"
        raise ParameterError(f"{name}: expected a {kind}, got {v}")
    if v > limit:
        raise ParameterError(
            f"{name}: the kernel would be {v}x{v} pixels (limit {limit}); "
            "check the parameter's units"
        )
    return v


def check_allocation(
    name: str, shape: Sequence[int] | int, *, itemsize: int = 4, limit: int | None = None
) -> None:
    """The allocation guard: raise :class:`ParameterError` naming ``name`` when a buffer of
    ``shape`` (or that many elements) of ``itemsize`` bytes would exceed ``limit`` bytes
    (:data:`MAX_ALLOC_BYTES`). Call it before allocating anything sized by a parameter.

    >>> check_allocation("size", (64, 1, 1025, 1025))
    >>> check_allocation("radius", (1, 1, 200001, 200001))
    Traceback (most recent call last):
    ...
    blurkit._checks.ParameterError: radius: would allocate 149 GiB (shape (1, 1, 200001, 200001)); the limit is 4 GiB (BLURKIT_MAX_ALLOC_GB)
    """
    limit = MAX_ALLOC_BYTES if limit is None else limit
    dims = [int(shape)] if isinstance(shape, int) else [int(d) for d in shape]
    n = 1
    for d in dims:
        n *= max(d, 0)
    if n * itemsize > limit:
        raise ParameterError(
            f"{name}: would allocate {n * itemsize / 2**30:.0f} GiB (shape {tuple(dims)}); "
            f"the limit is {limit / 2**30:.0f} GiB (BLURKIT_MAX_ALLOC_GB)"
        )


# --------------------------------------------------------------------------- degenerate inputs
# The policy (docs/input_policy.md): at every user-facing call, images must be finite and have
# no zero-size channel or spatial axis (an empty *batch* is fine and gives an empty result);
# PSF kernels must be finite, non-negative and not all zero. These value checks read the data
# once (a sum on the fast path; on CUDA one synchronisation per call) and run at the boundary
# only: calls made inside blurkit after the boundary checked its inputs skip them
# (:func:`trusted_values`), so no internal loop pays for them.

#: negative kernel taps down to ``-KERNEL_NEGATIVE_TOLERANCE * max |k|`` (per kernel) are taken
#: as float rounding of a zero (an FFT-made kernel) and accepted; anything below is an error
KERNEL_NEGATIVE_TOLERANCE = 1e-6

__all__ += [
    "KERNEL_NEGATIVE_TOLERANCE",
    "MAX_ITERATIONS",
    "check_images",
    "check_kernel_values",
    "check_psf",
    "check_nonempty",
    "trusted_values",
]

_TRUSTED = __import__("contextvars").ContextVar("blurkit_trusted_values", default=False)


class trusted_values:  # noqa: N801  (used as a context manager, like torch.no_grad)
    """Context in which :func:`check_finite` and :func:`check_kernel_values` do nothing.

    For blurkit's own internal calls after a user-facing function has checked its inputs
    (a corruption calling the blur engine, a product convolution looping over its kernels):
    the values are then known to be valid, and re-checking them would cost a pass (and a
    GPU synchronisation) per internal call. Not for user code.
    """

    def __enter__(self) -> None:
        self._token = _TRUSTED.set(True)

    def __exit__(self, *exc) -> None:
        _TRUSTED.reset(self._token)


def check_nonempty(x: torch.Tensor, name: str = "images") -> torch.Tensor:
    """The empty-input rule: a ``(B, C, H, W)`` tensor with ``C``, ``H`` or ``W`` zero is a
    :class:`ShapeError`; ``B = 0`` is accepted (the caller returns an empty result)."""
    if x.ndim >= 3 and min(x.shape[-3:]) == 0:
        raise ShapeError(
            f"{name}: expected at least one channel, row and column, got shape {tuple(x.shape)}"
        )
    return x


def check_finite(x: torch.Tensor, name: str = "images") -> torch.Tensor:
    """The finite rule, for images and for parameter maps alike: NaN or infinite values
    raise :class:`ParameterError`, which says how many there are.

    One pass over the data (a sum, whose result is finite exactly when every value is,
    unless it overflows; then an exact count), one synchronisation on a GPU. Skipped inside
    :class:`trusted_values`.

    >>> check_finite(torch.tensor([[float("nan"), 0.0]]))
    Traceback (most recent call last):
    ...
    blurkit._checks.ParameterError: images: expected finite values, got 1 NaN or infinite value(s) among 2 (shape (1, 2))
    """
    if _TRUSTED.get() or x.numel() == 0:
        return x
    v = x.detach()
    acc = torch.float32 if v.dtype in (torch.float16, torch.bfloat16) else None
    if bool(torch.isfinite(v.sum(dtype=acc))):
        return x
    bad = int((~torch.isfinite(v)).sum())
    if bad:
        raise ParameterError(
            f"{name}: expected finite values, got {bad} NaN or infinite value(s) "
            f"among {v.numel()} (shape {tuple(v.shape)})"
        )
    return x


def check_images(x: object, name: str = "images", *, finite: bool = True):
    """:func:`check_image` plus the degenerate-input policy: no zero-size channel or spatial
    axis (:class:`ShapeError`, :func:`check_nonempty`), and finite values
    (:class:`ParameterError`, :func:`check_finite`) unless ``finite=False``.
    Returns ``(x4, single)`` like :func:`check_image`."""
    x4, single = check_image(x, name)
    check_nonempty(x4, name)
    if finite:
        check_finite(x4, name)
    return x4, single


def check_kernel_values(k: torch.Tensor, name: str = "kernels") -> torch.Tensor:
    """The PSF value rule: finite, non-negative (up to :data:`KERNEL_NEGATIVE_TOLERANCE`
    relative rounding) and a positive finite sum, per kernel (batch item and channel).

    Raises :class:`ParameterError` naming what is wrong. Skipped inside :class:`trusted_values`.

    >>> check_kernel_values(torch.zeros(1, 1, 3, 3))
    Traceback (most recent call last):
    ...
    blurkit._checks.ParameterError: kernels: expected every kernel to have a positive sum, got a kernel summing to 0
    """
    if _TRUSTED.get() or k.numel() == 0:
        return k
    v = k.detach()
    if not bool(torch.isfinite(v).all()):
        bad = int((~torch.isfinite(v)).sum())
        raise ParameterError(f"{name}: expected finite values, got {bad} NaN or infinite value(s)")
    flat = v.reshape(-1, v.shape[-2] * v.shape[-1])
    peak = flat.abs().amax(-1)
    low = flat.amin(-1)
    if bool((low < -KERNEL_NEGATIVE_TOLERANCE * peak).any()):
        raise ParameterError(
            f"{name}: expected non-negative values (a point-spread function), got a minimum of "
            f"{float(low.min()):.3g}; use blurkit.functional.convolve for signed filters"
        )
    total = flat.sum(-1)
    if not bool(((total > 0) & torch.isfinite(total)).all()):
        worst = float(total.min()) if bool(torch.isfinite(total).all()) else math.inf
        raise ParameterError(
            f"{name}: expected every kernel to have a positive sum, got a kernel summing to "
            f"{worst:g}"
        )
    return k


def check_psf(k: torch.Tensor, name: str = "kernels") -> torch.Tensor:
    """:func:`check_kernel_values`, then each kernel normalised to sum 1 (the kernel rule
    of the deconvolutions: a blur keeps the image's mean, so a kernel of another sum is the
    same PSF in other units).

    >>> check_psf(torch.ones(1, 1, 3, 3)).sum().item()
    1.0
    """
    check_kernel_values(k, name)
    return k / k.sum((-2, -1), keepdim=True)


# --- measure / deblur limits

#: the most iterations an iterative method runs (Richardson-Lucy's ``num_iter``, the
#: half-quadratic continuation steps and ``inner_iter`` of the TV / hyper-Laplacian MAP):
#: past a few hundred they only amplify noise, and 10**9 would run for days
MAX_ITERATIONS = 10_000
