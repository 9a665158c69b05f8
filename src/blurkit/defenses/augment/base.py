"""Random blur augmentations with per-sample parameters that can be replayed.

Why: training on blurred copies of the data is the simplest defence against
blur (the data-augmentation baseline of Hendrycks & Dietterich, ICLR 2019, and
of AugMix, Hendrycks et al., ICLR 2020). Each image of a batch gets its own
random blur: one kernel per image. On accelerators all kernels go through one
batched call (a grouped convolution through :func:`blurkit.blur`, or two grouped
1-D passes through :func:`blurkit.functional.blur_separable` for the Gaussian).
On the CPU each image is convolved with its own tight kernel by shifted adds
(symmetric 1-D taps for the Gaussian, the non-zero taps of the streak for
motion), which ``benchmarks/augment.py`` measured faster than one grouped
convolution whose kernels are all padded to the largest. Either way no kernel
is shared by the batch, and gradients flow to the images.

Randomness is apart from the operator (the deepinv generator pattern):
:meth:`RandomBlurBase.sample_params` draws a dict of per-sample parameters from
an explicit ``torch.Generator`` (constructor ``generator=`` or ``seed=``, or the
``generator`` argument of ``forward``), and :meth:`RandomBlurBase.apply` is
deterministic, so ``aug(x, params=aug.last_params)`` replays a call exactly.
Images not selected (probability ``1 - p``) pass through unchanged.

Data-loader workers (the stream rule): a ``DataLoader`` copies the augmentation into
each worker, and re-creates the workers every epoch from the main process's copy, so a
seeded generator would replay the same draws in every worker and every epoch. The
constructor's stream is therefore re-derived on first use in each worker, from the
user's seed (or a draw from the given generator) combined with torch's worker seed
(``torch.utils.data.get_worker_info().seed``: ``base_seed + worker_id``, where the
loader draws ``base_seed`` from torch's global generator, or the loader's
``generator``, each epoch). Workers and epochs get distinct streams, and the same seed
with the same ``torch.manual_seed`` reproduces the whole sequence. In the main process
(``num_workers=0``) the generator is not reset between epochs, so each epoch continues
the stream. A ``generator`` passed to ``forward`` / ``sample_params`` and explicit
``params`` are used as given. Without a seed or generator the draws come from torch's
global generator, which the loader already seeds per worker.

Written here rather than taken from kornia because kornia's
``RandomMotionBlur`` draws one kernel size for the whole batch (every image
gets the same streak length) and only integer lengths.

Subclasses implement two hooks: ``_draw(batch, uniform) -> dict`` and
``_blur(images, params) -> images``. This module holds the base class and the rules
every augmentation of :mod:`blurkit.defenses.augment` shares (ranges, the worker
stream, the working precision); the families are in :mod:`.kernels` and
:mod:`.mixture`, the library adaptors in :mod:`.transforms`, the training schedules
in :mod:`.schedules`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from ..._checks import (
    DTypeError,
    ParameterError,
    ShapeError,
    check_choice,
    check_image,
    check_images,
    check_scalar,
)
from ..._seeds import SEED_MODULUS, check_seed
from ...functional._padding import BOUNDARIES

__all__ = [
    "RandomBlurBase",
    "Uniform",
    "check_range",
    "mix_seed",
    "stream_base",
    "worker_seed",
    "working_precision",
]

Uniform = Callable[[], torch.Tensor]


def worker_seed() -> int | None:
    """Torch's seed of the current ``DataLoader`` worker (``base_seed + worker_id``, new each
    epoch), or ``None`` in the main process."""
    info = torch.utils.data.get_worker_info()
    return None if info is None else int(info.seed) % SEED_MODULUS


def mix_seed(seed: int, worker: int) -> int:
    """A 64-bit seed for the stream of ``seed`` in the worker of seed ``worker`` (numpy's
    ``SeedSequence`` hashing, so nearby seeds and workers give unrelated streams).

    >>> mix_seed(0, 1) != mix_seed(0, 2) != mix_seed(1, 1)
    True
    """
    ss = np.random.SeedSequence([int(seed) % SEED_MODULUS, int(worker) % SEED_MODULUS])
    return int(ss.generate_state(1, np.uint64)[0])


def stream_base(seed: int | None, generator: torch.Generator | None) -> int:
    """What a worker's stream is derived from: the seed, else a draw from (the worker's copy
    of) the generator."""
    if seed is not None:
        return seed
    return int(torch.randint(0, 2**62, (1,), generator=generator, device=generator.device))


def working_precision(x: torch.Tensor) -> torch.Tensor:
    """Half-precision images are blurred in float32 (half convolutions are missing or very
    slow on the CPU); the result is cast back."""
    return x if x.dtype in (torch.float32, torch.float64) else x.float()


def check_range(value, name: str, *, low: float | None = None) -> tuple[float, float]:
    """A ``(lo, hi)`` range from a number (fixed value) or a pair, checked."""
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ParameterError(f"{name}: expected a (low, high) pair, got {value!r}")
        lo = check_scalar(value[0], f"{name}[0]", low=low)
        hi = check_scalar(value[1], f"{name}[1]", low=low)
    elif isinstance(value, (int, float, torch.Tensor)) and not isinstance(value, bool):
        lo = hi = check_scalar(value, name, low=low)
    else:
        raise DTypeError(f"{name}: expected a number or a (low, high) pair, got {value!r}")
    if lo > hi:
        raise ParameterError(f"{name}: expected low <= high, got ({lo:g}, {hi:g})")
    return lo, hi


class RandomBlurBase(nn.Module):
    """Base of the random blur augmentations: selection, parameter draws, replay.

    Args:
        p: probability that an image is blurred (drawn independently per image).
        generator: ``torch.Generator`` the parameters are drawn from (on its device,
            then moved to the images' device). ``None`` with no ``seed`` uses torch's
            global RNG.
        seed: a non-negative int (the seed rule of :mod:`blurkit._seeds`: larger ones are
            folded below 2**64), shorthand for
            ``generator=torch.Generator().manual_seed(seed)``. In a ``DataLoader`` worker
            the stream is re-derived per worker and epoch (module docstring).
        boundary: image boundary rule, see :func:`blurkit.blur`.

    Attributes:
        last_params: the parameter dict of the last ``forward`` call.
    """

    #: names of the per-sample parameters a subclass draws (besides ``"apply"``)
    param_names: tuple[str, ...] = ()

    def __init__(
        self,
        p: float = 0.5,
        *,
        generator: torch.Generator | None = None,
        seed: int | None = None,
        boundary: str = "reflect",
    ) -> None:
        super().__init__()
        self.p = check_scalar(p, "p", low=0.0, high=1.0)
        if generator is not None and seed is not None:
            raise ParameterError("seed: give either generator or seed, not both")
        if generator is not None and not isinstance(generator, torch.Generator):
            raise DTypeError(
                f"generator: expected a torch.Generator, got {type(generator).__name__}"
            )
        self.seed = None if seed is None else check_seed(seed)
        if self.seed is not None:
            generator = torch.Generator().manual_seed(self.seed)
        self.generator = generator
        self._stream_worker: int | None = None  # the worker seed the stream was derived for
        self.boundary = check_choice(boundary, "boundary", BOUNDARIES)
        self.last_params: dict[str, torch.Tensor] | None = None

    def _sync_stream(self) -> None:
        """Re-derive the constructor's stream on first use in a new ``DataLoader`` worker."""
        w = worker_seed()
        if w is None or w == self._stream_worker:
            return
        self._stream_worker = w
        if self.generator is not None:
            base = stream_base(self.seed, self.generator)
            g = torch.Generator(device=self.generator.device)
            self.generator = g.manual_seed(mix_seed(base, w))

    # -- hooks for subclasses ------------------------------------------------
    def _draw(self, batch: int, uniform: Uniform) -> dict[str, torch.Tensor]:
        """Family parameters, ``(B,)`` float64 tensors, from ``uniform()`` draws in U[0, 1)."""
        raise NotImplementedError

    def _blur(self, images: torch.Tensor, params: dict[str, torch.Tensor]) -> torch.Tensor:
        """Blur every image of ``images`` with its parameters (deterministic)."""
        raise NotImplementedError

    # -- public API ------------------------------------------------------------
    def sample_params(
        self,
        batch: int,
        *,
        device=None,
        dtype=None,
        generator: torch.Generator | None = None,
    ) -> dict[str, torch.Tensor]:
        """Draw the parameters of one call for ``batch`` images.

        Returns a dict with ``"apply"`` (``(B,)`` bool, which images are blurred) and
        one ``(B,)`` tensor per family parameter (drawn for every image, used only
        where ``apply`` is true), on ``device`` in ``dtype`` (default float32).
        """
        if isinstance(batch, bool) or not isinstance(batch, int) or batch < 0:
            raise ParameterError(f"batch: expected a non-negative int, got {batch!r}")
        if generator is None:
            self._sync_stream()
        g = generator if generator is not None else self.generator
        gdev = g.device if g is not None else None

        def uniform() -> torch.Tensor:
            return torch.rand(batch, generator=g, device=gdev, dtype=torch.float64)

        selected = uniform() < self.p
        fam = self._draw(batch, uniform)
        dtype = dtype if dtype is not None else torch.float32
        out = {"apply": selected.to(device=device)}
        out.update({k: v.to(device=device, dtype=dtype) for k, v in fam.items()})
        return out

    def _check_params(self, params: dict, batch: int) -> None:
        if not isinstance(params, dict):
            raise DTypeError(
                f"params: expected a dict from sample_params, got {type(params).__name__}"
            )
        for name in ("apply", *self.param_names):
            v = params.get(name)
            if not isinstance(v, torch.Tensor):
                raise ParameterError(
                    f"params: missing tensor {name!r}; expected keys {('apply', *self.param_names)}"
                )
            if v.shape != (batch,):
                raise ShapeError(
                    f"params[{name!r}]: expected shape ({batch},), got {tuple(v.shape)}"
                )

    def apply(self, images: torch.Tensor, params: dict[str, torch.Tensor]) -> torch.Tensor:
        """Blur the selected images with their parameters; the others pass through unchanged.

        Deterministic: the same ``params`` give the same output. When no image is
        selected the input tensor itself is returned. Images must be finite (NaN / inf
        raise :class:`~blurkit.ParameterError`) with ``H, W >= 1``; blurred images are
        clipped to [0, 1], as the corruptions are.
        """
        x, single = check_images(images)
        b = x.shape[0]
        self._check_params(params, b)
        sel = params["apply"].to(device=x.device, dtype=torch.bool)
        xw = working_precision(x)
        fam = {k: params[k].to(device=x.device, dtype=xw.dtype) for k in self.param_names}
        n = int(sel.sum())
        if n == 0:
            out = x
        elif n == b:
            out = self._blur(xw, fam).clamp(0.0, 1.0).to(x.dtype)
        else:
            idx = sel.nonzero().squeeze(1)
            blurred = self._blur(xw.index_select(0, idx), {k: v[idx] for k, v in fam.items()})
            out = x.index_copy(0, idx, blurred.clamp(0.0, 1.0).to(x.dtype))
        return out[0] if single else out

    def forward(
        self,
        images: torch.Tensor,
        params: dict[str, torch.Tensor] | None = None,
        *,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Blur a random subset of ``images``, each with its own random parameters.

        Args:
            images: ``(B, C, H, W)`` or ``(C, H, W)`` in [0, 1].
            params: replay these parameters (e.g. ``self.last_params``) instead of drawing.
            generator: draw from this generator for this call only.
        """
        x, _ = check_image(images)
        if params is None:
            params = self.sample_params(
                x.shape[0], device=x.device, dtype=x.dtype, generator=generator
            )
        self.last_params = params
        return self.apply(images, params)

    def extra_repr(self) -> str:
        return f"p={self.p}, boundary={self.boundary!r}"
