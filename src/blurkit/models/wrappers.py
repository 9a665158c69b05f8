"""The :class:`Classifier` wrapper every blurkit model is served as.

Blur is a physical effect on the light that reaches the sensor, so blurkit
applies it to images in ``[0, 1]`` pixel space; the per-channel normalisation a
network was trained with is an implementation detail of that network. The
wrapper therefore puts the normalisation *inside* the model: ``forward`` takes
pixel-space images, which keeps the blur -> normalise order right for every
model and lets gradients (adversarial blur) flow back to pixel space.

``preprocess`` is the geometric part of the evaluation pipeline (resize and
centre crop for ImageNet models, nothing for CIFAR), which the ImageNet-C
protocol applies *before* the blur.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ..io import pil_to_tensor  # re-exported: the models' default preprocessing
from .features import FeatureEncoder

__all__ = ["Classifier", "Normalize", "ResizeCenterCrop", "pil_to_tensor"]


class ResizeCenterCrop:
    """Resize the shorter side to ``resize`` (PIL ``interpolation``) and centre-crop ``crop``.

    The standard ImageNet evaluation view (e.g. 256 then 224, bicubic for the
    EfficientNet family). Callable on a PIL image; returns a ``(3, crop, crop)``
    tensor in ``[0, 1]``.
    """

    def __init__(self, resize: int, crop: int, interpolation: str = "bicubic") -> None:
        self.resize, self.crop, self.interpolation = int(resize), int(crop), interpolation

    def __call__(self, image) -> torch.Tensor:
        from PIL import Image  # PIL loads on the first image, as in blurkit.io

        image = image.convert("RGB")
        w, h = image.size
        if min(w, h) != self.resize:
            s = self.resize / min(w, h)
            size = (max(self.resize, round(w * s)), max(self.resize, round(h * s)))
            resample = {"bicubic": Image.BICUBIC, "bilinear": Image.BILINEAR}[self.interpolation]
            image = image.resize(size, resample)
            w, h = image.size
        left, top = (w - self.crop) // 2, (h - self.crop) // 2
        return pil_to_tensor(image.crop((left, top, left + self.crop, top + self.crop)))

    def __repr__(self) -> str:
        return f"ResizeCenterCrop(resize={self.resize}, crop={self.crop}, {self.interpolation})"


class _ToTensor:
    def __init__(self, size: int) -> None:
        self.size = size

    def __call__(self, image) -> torch.Tensor:
        from PIL import Image  # PIL loads on the first image, as in blurkit.io

        image = image.convert("RGB")
        if image.size != (self.size, self.size):
            image = image.resize((self.size, self.size), Image.BICUBIC)
        return pil_to_tensor(image)

    def __repr__(self) -> str:
        return f"ToTensor(size={self.size})"


class Normalize(nn.Module):
    """``(x - mean) / std`` per channel, with the statistics as non-persistent buffers.

    Example:
        >>> Normalize((0.5,) * 3, (0.5,) * 3)(torch.ones(1, 3, 2, 2)).unique()
        tensor([1.])
    """

    def __init__(self, mean: Sequence[float], std: Sequence[float]) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean.to(x.dtype)) / self.std.to(x.dtype)


class Classifier(nn.Module):
    """A network served on pixel-space input: ``logits = net(normalize(x))``.

    Args:
        net: the network, fed normalised images.
        mean, std: its per-channel input normalisation.
        classes: class names (or synsets) in class-index order.
        input_size: the side ``S`` of the ``(B, 3, S, S)`` view the model expects.
        preprocess: callable PIL image -> ``(3, S, S)`` tensor in ``[0, 1]`` (the
            geometric pre-processing applied before any blur); default converts
            to a tensor, resizing to ``S`` only if the image is another size.
        name: registry name (or path) the model was loaded from.
        info: free-form metadata (training recipe, measured accuracy, ...).
        channels_last: run the network in the channels-last memory format (NHWC).
            oneDNN's CPU convolutions are faster in it: 1.4x for the bundled CIFAR
            network's inference at batch 256 on one CPU thread (measured once against
            the contiguous layout). The logits are the same up to float rounding (4e-6).

    Example:
        >>> from blurkit.models.cifar import ResNet9
        >>> clf = Classifier(ResNet9(widths=(4, 8, 8, 8)), (0.5,) * 3, (0.5,) * 3,
        ...                  classes=list("abcdefghij"), input_size=32)
        >>> clf(torch.rand(2, 3, 32, 32)).shape
        torch.Size([2, 10])
    """

    def __init__(
        self,
        net: nn.Module,
        mean: Sequence[float],
        std: Sequence[float],
        classes: Sequence[str],
        input_size: int,
        preprocess=None,
        name: str = "",
        info: dict | None = None,
        channels_last: bool = False,
    ) -> None:
        super().__init__()
        self.channels_last = bool(channels_last)
        self.net = net.to(memory_format=torch.channels_last) if channels_last else net
        self.normalize = Normalize(mean, std)
        self.classes = list(classes)
        self.input_size = int(input_size)
        self._preprocess = preprocess if preprocess is not None else _ToTensor(self.input_size)
        self.name = name
        self.info = dict(info or {})

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def preprocess(self, image) -> torch.Tensor:
        """PIL image -> ``(3, S, S)`` float tensor in ``[0, 1]`` (geometry only, before blur)."""
        return self._preprocess(image)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.normalize(x)
        if self.channels_last and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        return self.net(x)

    def features(self, x: torch.Tensor, layer: str | None = None) -> torch.Tensor:
        """``(B, D)`` embeddings of pixel-space images: the input of the network's last
        linear layer, or the pooled output of the sub-module ``layer`` (see
        :class:`~blurkit.models.features.FeatureEncoder`)."""
        return FeatureEncoder(self, layer)(x)

    def extra_repr(self) -> str:
        return f"name={self.name!r}, input_size={self.input_size}, classes={len(self.classes)}"
