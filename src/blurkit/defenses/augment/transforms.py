""":class:`~blurkit.defenses.augment.RandomBlur` in other libraries' pipelines: a
torchvision ``transforms.v2`` transform and an albumentations image-only transform."""

from __future__ import annotations

import random

import numpy as np
import torch

from ..._checks import DTypeError, ParameterError, ShapeError
from .base import mix_seed, worker_seed
from .mixture import RandomBlur

__all__ = ["RandomBlurTransform", "AlbumentationsRandomBlur"]


try:  # torchvision is a hard dependency of blurkit, but keep the import failure explicit
    from torchvision import tv_tensors as _tv_tensors
    from torchvision.transforms.v2 import Transform as _V2Transform
except ImportError:  # pragma: no cover
    _V2Transform = torch.nn.Module
    _tv_tensors = None


class RandomBlurTransform(_V2Transform):
    """:class:`RandomBlur` as a torchvision ``transforms.v2`` transform.

    Blurs image tensors (``tv_tensors.Image`` or plain tensors, ``(C, H, W)`` or a
    batch ``(B, C, H, W)``, float in [0, 1] or uint8); every other input (labels,
    boxes, masks) passes through. A batch gets per-image parameters.

    Args:
        blur: a :class:`RandomBlur`; or ``None`` to build one from ``**kwargs``.

    Example:
        >>> from torchvision.transforms import v2
        >>> t = v2.Compose([v2.RandomHorizontalFlip(), RandomBlurTransform(p=1.0, seed=0)])
        >>> t(torch.rand(3, 16, 16)).shape
        torch.Size([3, 16, 16])
    """

    def __init__(self, blur: RandomBlur | None = None, **kwargs) -> None:
        super().__init__()
        if blur is not None and kwargs:
            raise ParameterError("blur: give a RandomBlur or its keyword arguments, not both")
        self.blur = blur if blur is not None else RandomBlur(**kwargs)
        if not isinstance(self.blur, RandomBlur):
            raise DTypeError(f"blur: expected a RandomBlur, got {type(self.blur).__name__}")

    def _is_image(self, inpt) -> bool:
        return (
            isinstance(inpt, torch.Tensor)
            and inpt.ndim in (3, 4)
            and (
                _tv_tensors is None
                or isinstance(inpt, _tv_tensors.Image)
                or type(inpt) is torch.Tensor
            )
        )

    def make_params(self, flat_inputs: list) -> dict:
        img = next((i for i in flat_inputs if self._is_image(i)), None)
        if img is None:
            return {"blur": None}
        b = img.shape[0] if img.ndim == 4 else 1
        return {"blur": self.blur.sample_params(b, device=img.device)}

    def transform(self, inpt, params: dict):
        if not self._is_image(inpt) or params.get("blur") is None:
            return inpt
        x = inpt.as_subclass(torch.Tensor)
        u8 = x.dtype == torch.uint8
        xf = x.float() / 255.0 if u8 else x
        y = self.blur.apply(xf, params["blur"])
        if u8:
            y = (y * 255.0).round_().clamp_(0, 255).to(torch.uint8)
        if _tv_tensors is not None and isinstance(inpt, _tv_tensors.Image):
            return _tv_tensors.wrap(y, like=inpt)
        return y

    # torchvision < 0.21 names
    _get_params = make_params

    def _transform(self, inpt, params):
        return self.transform(inpt, params)


# --------------------------------------------------------------------------- albumentations


def _albu_base():
    # albumentations is optional (extra ``bench``/``test``): without it the adaptor
    # exists but raises a clear ImportError when built, and blurkit still imports
    try:
        import albumentations as A
    except ImportError:
        return object
    return A.ImageOnlyTransform


class AlbumentationsRandomBlur(_albu_base()):
    """:class:`RandomBlur` as an albumentations image-only transform (per-image HWC pipelines).

    Takes a uint8 or float32 ``(H, W)`` / ``(H, W, C)`` numpy image, returns the same
    dtype and shape. Whether it applies is albumentations' ``p``; the family and its
    parameters are drawn by the wrapped :class:`RandomBlur` from a torch generator
    seeded by albumentations' own random state, so ``A.Compose(..., seed=...)``
    reproduces a pipeline and ``get_applied_params()["blur_params"]`` holds the draw.
    In ``DataLoader`` workers that random state is re-seeded per worker and epoch from
    the pipeline's seed and torch's worker seed (albumentations itself would repeat it
    in every worker); ``torch.manual_seed`` plus the same ``seed`` reproduces the run.

    Args:
        blur: a :class:`RandomBlur` (its own ``p`` is ignored); ``None`` builds one
            from ``families`` and ``blur_kwargs``.
        p: probability of applying (albumentations' convention).

    Example:
        >>> import albumentations as A, numpy as np
        >>> t = A.Compose([A.HorizontalFlip(p=0.5), AlbumentationsRandomBlur(p=1.0)], seed=0)
        >>> t(image=np.zeros((16, 16, 3), np.uint8))["image"].dtype
        dtype('uint8')
    """

    def __init__(
        self,
        blur: RandomBlur | None = None,
        families=None,
        p: float = 0.5,
        blur_kwargs: dict | None = None,
    ) -> None:
        if type(self).__mro__[1] is object:
            raise ImportError(
                "AlbumentationsRandomBlur needs albumentations: pip install albumentations "
                "(or blurkit[bench])"
            )
        super().__init__(p=p)
        self.blur = blur if blur is not None else RandomBlur(families, **(blur_kwargs or {}))
        if not isinstance(self.blur, RandomBlur):
            raise DTypeError(f"blur: expected a RandomBlur, got {type(self.blur).__name__}")

    def _sync_stream(self) -> None:
        """Re-seed this transform's albumentations random state on first use in a new
        ``DataLoader`` worker, from its seed (``A.Compose(..., seed=)``; else a draw from its
        copied state) mixed with torch's worker seed, so workers and epochs differ (the
        stream rule of :mod:`blurkit.defenses.augment`)."""
        w = worker_seed()
        if w is None or w == getattr(self, "_stream_worker", None):
            return
        self._stream_worker = w
        seed = getattr(self, "seed", None)
        base = int(seed) if seed is not None else int(self.random_generator.integers(0, 2**62))
        mixed = mix_seed(base, w)
        self.random_generator = np.random.default_rng(mixed)
        self.py_random = random.Random(mixed)

    def should_apply(self, force_apply: bool = False) -> bool:
        self._sync_stream()
        return super().should_apply(force_apply=force_apply)

    def get_params(self) -> dict:
        self._sync_stream()
        seed = int(self.random_generator.integers(0, 2**62))
        g = torch.Generator().manual_seed(seed)
        params = self.blur.sample_params(1, generator=g)
        params["apply"] = torch.ones(1, dtype=torch.bool)
        return {"blur_params": params}

    def apply(self, img: np.ndarray, blur_params: dict | None = None, **kwargs) -> np.ndarray:
        if blur_params is None:
            blur_params = self.get_params()["blur_params"]
        a = np.asarray(img)
        if a.ndim not in (2, 3):
            raise ShapeError(f"img: expected an (H, W) or (H, W, C) image, got shape {a.shape}")
        u8 = a.dtype == np.uint8
        t = torch.from_numpy(np.ascontiguousarray(a)).float()
        t = t / 255.0 if u8 else t
        t = t[None] if a.ndim == 2 else t.permute(2, 0, 1)
        y = self.blur.apply(t, blur_params)
        y = y[0] if a.ndim == 2 else y.permute(1, 2, 0)
        if u8:
            return (y * 255.0).round().clamp(0, 255).to(torch.uint8).numpy()
        return y.numpy().astype(a.dtype, copy=False)

    def get_transform_init_args_names(self) -> tuple[str, ...]:
        return ("blur",)
