"""``RandomBlur``: a random mixture of blur families for training, with replayable draws.

Why a mixture: a network trained on one blur family becomes robust mostly to that
family (Vasiljevic et al., "Examining the impact of blur on recognition by
convolutional networks", 2016, arXiv:1611.05760; Hendrycks & Dietterich, ICLR
2019). Training on a mixture over kernel families and strengths, including the
physically motivated natural families (camera shake, myopia, astigmatism, a
dirty lens, depth defocus), spreads the robustness; holding some families out
of the mixture measures how far it transfers (``blurkit study``).

Each image draws, independently: whether it is blurred (probability ``p``),
which family (mixture ``weights``), and that family's parameters. All draws come
from an explicit ``torch.Generator`` on the images' device (``seed=`` creates one
per device on first use), are returned as a dict of ``(B,)`` tensors by
:meth:`RandomBlur.sample_params` and consumed by the deterministic
:meth:`RandomBlur.apply`, so ``aug(x, params=aug.last_params)`` replays a call.

Families (``families=`` maps a name to a ``(low, high)`` strength range):

- ``"gaussian"``: sigma in pixels (:class:`~blurkit.defenses.RandomGaussianBlur`'s kernels);
- ``"motion"``: streak length in pixels, angle uniform in [-180, 180) degrees
  (:class:`~blurkit.defenses.RandomMotionBlur`'s kernels);
- ``"defocus"``: pillbox radius in pixels (:func:`blurkit.kernels.defocus_blur`);
- any registered corruption (``"camera_shake"``, ``"myopia"``, ``"defocus_blur"``,
  ...): a severity range in [1, 5] of its ``preset`` table, with the family's own
  random draw (e.g. a shake trajectory) seeded per image. Severities are rounded
  to ``severity_step`` so that images sharing a severity go through one batched
  call; the families that are one convolution per image draw their PSFs from a
  bank made once per severity level (``kernel_bank``).

Three front doors to the same operator: the ``nn.Module`` (batches, on any
device, differentiable with respect to the images), :class:`RandomBlurTransform`
(a torchvision ``transforms.v2`` transform for tensors, batched or not) and
:class:`AlbumentationsRandomBlur` (an albumentations image-only transform for
per-image HWC numpy pipelines).

Schedules (:data:`SCHEDULES`, :class:`BlurSchedule`) set ``p`` and the strength
scale along training for the two stages of the robust-training note:
pre-training from scratch (a curriculum: start clean and weak, ramp up) and
fine-tuning a pretrained model (blur from the first step, half the images clean
so the clean accuracy is not forgotten).

Written here because no augmentation library mixes blur families with
per-sample parameters that can be replayed (kornia draws one kernel size per
batch; albumentations works one image at a time on the CPU).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch

from ..._checks import (
    DTypeError,
    ParameterError,
    ShapeError,
    check_images,
    check_scalar,
)
from ..._seeds import check_seed
from ...corruptions import corrupt, get_corruption
from ...functional.conv import blur
from ...kernels._utils import crop_to_energy
from ...kernels.family import BLUR_FAMILIES, BlurFamily, blur_families, get_blur_family
from .base import RandomBlurBase, check_range, mix_seed, stream_base, worker_seed, working_precision

__all__ = ["RandomBlur", "DEFAULT_FAMILIES", "KERNEL_FAMILIES", "BANKABLE"]

#: the blur families ``RandomBlur`` draws as kernels (those with a
#: :class:`~blurkit.kernels.family.Sampler`); any corruption name works too
KERNEL_FAMILIES = blur_families(sampled=True)

#: default mixture for 32 px (CIFAR) images: the kernel families at their samplers' ranges
#: (strengths that span CIFAR-10-C severities 1-5), and two natural families over their
#: severity range
DEFAULT_FAMILIES: dict[str, tuple[float, float]] = {
    # a preset: its order fixes the family indices of the draws (replayable params)
    **{n: get_blur_family(n).sampler.range for n in ("gaussian", "motion", "defocus")},
    "camera_shake": (1.0, 5.0),
    "myopia": (1.0, 5.0),
}

_SEED_SPAN = float(2**24)

#: corruptions that blur every pixel with one kernel per image (their impulse response is
#: the whole operator up to boundaries and clipping), usable with ``kernel_bank``
BANKABLE = (
    "camera_shake",
    "myopia",
    "astigmatism",
    "gaussian_blur",
    "defocus_blur",
    "motion_blur",
)  # seeds drawn below 2^24 survive a float32 round trip


class _Family:
    """One mixture component: draws its parameters, blurs a sub-batch with them."""

    names: tuple[str, ...] = ()

    def __init__(self, name: str, strength, boundary: str) -> None:
        self.name = name
        self.strength = check_range(strength, f"families[{name!r}]", low=0.0)
        self.boundary = boundary

    def draw(self, b: int, uniform, scale: float) -> dict[str, torch.Tensor]:
        lo, hi = self.strength
        return {self.names[0]: lo + (hi - lo) * scale * uniform()}

    def blur(self, x: torch.Tensor, params: dict[str, torch.Tensor]) -> torch.Tensor:
        raise NotImplementedError


class _Kernel(_Family):
    """A blur family drawn by its :class:`~blurkit.kernels.family.Sampler`."""

    def __init__(self, family: BlurFamily, strength, boundary: str) -> None:
        self.family = family
        self.names = (family.strength, *family.sampler.extra)
        super().__init__(family.name, strength, boundary)

    def draw(self, b, uniform, scale):
        out = super().draw(b, uniform, scale)
        if self.family.sampler.draw_extra is not None:
            out.update(self.family.sampler.draw_extra(uniform))
        return out

    def blur(self, x, params):
        return self.family.sampler.blur(x, params, self.boundary)


class _Corruption(_Family):
    names = ("severity", "seed")

    def __init__(self, name, strength, boundary, preset, step, bank=0):
        self.corruption = get_corruption(name)  # raises on unknown names
        super().__init__(name, strength, boundary)
        lo, hi = self.strength
        if lo < 1 or hi > 5:
            raise ParameterError(
                f"families[{name!r}]: expected a severity range within [1, 5], got {self.strength}"
            )
        presets = self.corruption.presets
        self.preset = preset if preset in presets else presets[0]
        self.step = step
        # a bank of impulse responses replaces the corruption call for the families that
        # are one convolution per image (the natural ones are slow to draw: a camera-shake
        # trajectory, a diffraction PSF); others (spatially varying) are always exact
        self.bank = int(bank) if name in BANKABLE else 0
        self._banks: dict = {}

    def draw(self, b, uniform, scale):
        lo, hi = self.strength
        s = lo + (hi - lo) * scale * uniform()
        if self.step:
            s = (torch.round((s - lo) / self.step) * self.step + lo).clamp(lo, hi)
        return {"severity": s, "seed": torch.floor(uniform() * _SEED_SPAN)}

    def _bank_kernels(self, level: float, x: torch.Tensor) -> torch.Tensor:
        """The family's PSFs at ``level`` for images of ``x``'s size: impulse responses of
        ``bank`` draws (seeds ``0..bank-1``), cropped to 99.9 % of their energy."""
        c, h, w = x.shape[1:]
        key = (level, c, h, w, str(x.device), x.dtype)
        if key not in self._banks:
            n = self.bank
            hh, ww = 2 * (h // 2) + 1, 2 * (w // 2) + 1
            delta = torch.zeros(n, c, hh, ww, device=x.device, dtype=x.dtype)
            delta[:, :, hh // 2, ww // 2] = 1.0
            with torch.no_grad():
                k = corrupt(delta, self.name, level, preset=self.preset, seed=list(range(n)))
            k = k.clamp_min(0)
            k = k / k.sum((-2, -1), keepdim=True).clamp_min(1e-12)
            self._banks[key] = crop_to_energy(k, 0.999)
        return self._banks[key]

    def blur(self, x, params):
        sev = params["severity"].detach().to(torch.float64).cpu()
        seeds = params["seed"].detach().to(torch.float64).cpu().long()
        out = torch.empty_like(x)
        for s in torch.unique(sev).tolist():
            idx = (sev == s).nonzero().squeeze(1)
            if self.bank:
                ks = self._bank_kernels(float(s), x)
                pick = (seeds[idx] % ks.shape[0]).to(ks.device)
                out[idx.to(x.device)] = blur(x[idx.to(x.device)], ks[pick], self.boundary)
                continue
            part = corrupt(
                x[idx.to(x.device)],
                self.name,
                float(s),
                preset=self.preset,
                seed=seeds[idx].tolist(),
            )
            out[idx.to(x.device)] = part
        return out


def _sampled(name) -> bool:
    """A registered blur family with a sampler (read at call time: a family registered
    after import is drawn too)."""
    return (
        isinstance(name, str) and name in BLUR_FAMILIES and BLUR_FAMILIES[name].sampler is not None
    )


def _make_family(
    name: str, strength, boundary: str, preset: str, step: float, bank: int = 0
) -> _Family:
    if _sampled(name):
        return _Kernel(BLUR_FAMILIES[name], strength, boundary)
    if not isinstance(name, str):
        raise DTypeError(f"families: expected family names (str), got {name!r}")
    return _Corruption(name, strength, boundary, preset, step, bank)


class RandomBlur(RandomBlurBase):
    """Blur each image with probability ``p`` by a random family of a mixture, at a random strength.

    Args:
        families: ``{name: (low, high)}`` strength ranges (a number fixes the strength),
            or a sequence of names taking their :data:`DEFAULT_FAMILIES` range (kernel
            families) or severities 1-5 (corruptions). Names: ``"gaussian"`` (sigma px),
            ``"motion"`` (length px), ``"defocus"`` (radius px), or any corruption of
            :func:`blurkit.list_corruptions` (severity range).
        p: probability that an image is blurred.
        weights: mixture weights, one per family (default: equal).
        preset: severity table of the corruption families (``"cifar-10-c"``,
            ``"imagenet-c"``, ``"natural"``; a family without it uses its first).
        severity_step: corruption severities are rounded to this step (0 = continuous,
            one call per image).
        kernel_bank: for the corruptions of :data:`BANKABLE` (one convolution per image),
            draw this many PSFs per severity level once (impulse responses of the
            corruption at the images' size, seeds ``0..n-1``) and blur each image with
            bank entry ``seed mod n`` by :func:`blurkit.blur`; drawing a camera-shake
            trajectory or a diffraction PSF per image would cost more than the training
            step (``benchmarks/augment_overhead.py``). 0: call the corruption per image
            (exact, slow). Other corruptions are always called exactly.
        strength_scale: in [0, 1]; each range becomes ``(low, low + scale * (high - low))``
            (set along training by a :class:`BlurSchedule`).
        generator: a ``torch.Generator`` to draw from (its device is used).
        seed: a non-negative int (folded below 2**64, the rule of :mod:`blurkit._seeds`);
            one generator per device is created on first use, on the images' device,
            seeded with it. In ``DataLoader`` workers each worker and epoch gets its own
            stream derived from it and torch's worker seed (the stream rule of
            :mod:`blurkit.defenses.augment`); ``torch.manual_seed`` plus the same seed
            reproduces the whole sequence.
        boundary: image boundary rule of the kernel families, see :func:`blurkit.blur`.

    Shape:
        images ``(B, C, H, W)`` or ``(C, H, W)`` in [0, 1]; output the same.

    Example:
        >>> aug = RandomBlur({"gaussian": (0.5, 2.0), "motion": (2.0, 6.0)}, p=1.0, seed=0)
        >>> x = torch.rand(6, 3, 16, 16)
        >>> y = aug(x)
        >>> torch.equal(y, aug(x, params=aug.last_params))  # replay
        True
        >>> sorted(aug.last_params)
        ['apply', 'family', 'gaussian.sigma', 'motion.angle', 'motion.length']
    """

    def __init__(
        self,
        families: Mapping[str, object] | Sequence[str] | None = None,
        p: float = 0.5,
        *,
        weights: Sequence[float] | None = None,
        preset: str = "cifar-10-c",
        severity_step: float = 0.5,
        kernel_bank: int = 64,
        strength_scale: float = 1.0,
        generator: torch.Generator | None = None,
        seed: int | None = None,
        boundary: str = "reflect",
    ) -> None:
        super().__init__(p, generator=generator, boundary=boundary)
        if seed is not None and generator is not None:
            raise ParameterError("seed: give either generator or seed, not both")
        self.seed = None if seed is None else check_seed(seed)
        self._stream_seed = self.seed  # the seed of this process's (or worker's) stream
        self._generators: dict[str, torch.Generator] = {}
        if families is None:
            families = dict(DEFAULT_FAMILIES)
        if isinstance(families, str):
            families = [families]
        if not isinstance(families, Mapping):
            families = {
                n: BLUR_FAMILIES[n].sampler.range
                if _sampled(n)
                else DEFAULT_FAMILIES.get(n, (1.0, 5.0))
                for n in families
            }
        if not families:
            raise ParameterError("families: expected at least one blur family, got none")
        self.preset = preset
        self.severity_step = check_scalar(severity_step, "severity_step", low=0.0)
        self.families = [
            _make_family(n, r, self.boundary, preset, self.severity_step, kernel_bank)
            for n, r in families.items()
        ]
        if weights is None:
            weights = [1.0] * len(self.families)
        if len(weights) != len(self.families):
            raise ShapeError(
                f"weights: expected {len(self.families)} values (one per family), got {len(weights)}"
            )
        w = [check_scalar(v, "weights", low=0.0) for v in weights]
        if sum(w) <= 0:
            raise ParameterError(f"weights: expected a positive sum, got {weights!r}")
        self.weights = [v / sum(w) for v in w]
        self.strength_scale = check_scalar(strength_scale, "strength_scale", low=0.0, high=1.0)
        self.param_names = tuple(f"{f.name}.{k}" for f in self.families for k in f.names)

    @property
    def family_names(self) -> list[str]:
        return [f.name for f in self.families]

    def _sync_stream(self) -> None:
        """Re-derive the stream on first use in a new ``DataLoader`` worker (the stream rule
        of :mod:`blurkit.defenses.augment`): the seed, or a draw from the given generator,
        mixed with the worker's torch seed."""
        w = worker_seed()
        if w is None or w == self._stream_worker:
            return
        self._stream_worker = w
        if self.seed is not None:
            self._stream_seed = mix_seed(self.seed, w)
            self._generators = {}
        elif self.generator is not None:
            g = torch.Generator(device=self.generator.device)
            self.generator = g.manual_seed(mix_seed(stream_base(None, self.generator), w))

    def _generator_for(self, device) -> torch.Generator | None:
        self._sync_stream()
        if self.generator is not None:
            return self.generator
        if self._stream_seed is None:
            return None
        dev = torch.device(device if device is not None else "cpu")
        key = str(dev)
        if key not in self._generators:
            self._generators[key] = torch.Generator(device=dev).manual_seed(self._stream_seed)
        return self._generators[key]

    def sample_params(
        self, batch: int, *, device=None, dtype=None, generator: torch.Generator | None = None
    ) -> dict[str, torch.Tensor]:
        """Draw one call's parameters for ``batch`` images.

        Returns ``"apply"`` ``(B,)`` bool, ``"family"`` ``(B,)`` int64 (index into
        :attr:`family_names`) and ``"<family>.<param>"`` ``(B,)`` for every family
        (drawn for every image, used where ``apply`` and ``family`` select it). The
        number of draws does not depend on the outcome, so a generator advances by
        the same amount on every call.
        """
        if isinstance(batch, bool) or not isinstance(batch, int) or batch < 0:
            raise ParameterError(f"batch: expected a non-negative int, got {batch!r}")
        g = generator if generator is not None else self._generator_for(device)
        gdev = g.device if g is not None else device

        def uniform() -> torch.Tensor:
            dt = torch.float32 if torch.device(gdev or "cpu").type == "mps" else torch.float64
            return torch.rand(batch, generator=g, device=gdev, dtype=dt).to(torch.float64)

        selected = uniform() < self.p
        cum = torch.tensor(np.cumsum(self.weights[:-1]).tolist(), dtype=torch.float64)
        fam = torch.searchsorted(cum.to(selected.device), uniform().contiguous(), right=True)
        dtype = dtype if dtype is not None else torch.float32
        out = {"apply": selected.to(device=device), "family": fam.to(device=device)}
        for f in self.families:
            for k, v in f.draw(batch, uniform, self.strength_scale).items():
                out[f"{f.name}.{k}"] = v.to(
                    device=device, dtype=torch.float64 if k == "seed" else dtype
                )
        return out

    def _check_params(self, params: dict, batch: int) -> None:
        super()._check_params(params, batch)
        if not isinstance(params.get("family"), torch.Tensor) or params["family"].shape != (batch,):
            raise ShapeError(f"params['family']: expected a ({batch},) tensor")

    def apply(self, images: torch.Tensor, params: dict[str, torch.Tensor]) -> torch.Tensor:
        """Blur the selected images with their family and parameters (deterministic).

        Images must be finite (NaN / inf raise :class:`~blurkit.ParameterError`) with
        ``H, W >= 1``; half-precision images are blurred in float32; blurred images are
        clipped to [0, 1] (as the corruption families are), others pass through.
        """
        x, single = check_images(images)
        b = x.shape[0]
        self._check_params(params, b)
        sel = params["apply"].to(device=x.device, dtype=torch.bool)
        fam = params["family"].to(device=x.device)
        xw = working_precision(x)
        out = x
        for i, f in enumerate(self.families):
            idx = (sel & (fam == i)).nonzero().squeeze(1)
            if idx.numel() == 0:
                continue
            sub = {}
            for k in f.names:
                v = params[f"{f.name}.{k}"].to(device=x.device)
                sub[k] = v[idx] if k == "seed" else v[idx].to(xw.dtype)
            blurred = f.blur(xw.index_select(0, idx), sub).clamp(0.0, 1.0)
            out = out.index_copy(0, idx, blurred.to(x.dtype))
        return out[0] if single else out

    def extra_repr(self) -> str:
        fams = ", ".join(f"{f.name}={f.strength}" for f in self.families)
        return f"{fams}, p={self.p}, strength_scale={self.strength_scale}"
