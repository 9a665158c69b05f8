"""A small learned deblurring network, trained by the project on synthetic blur.

Why a small residual CNN: published learned deblurrers (MPRNet, Restormer, NAFNet)
reach 32-34 dB on GoPro but have millions of parameters and no registry package
ships their weights; a front-end here must be trained by the project itself, on
a CPU, in minutes. :class:`DeblurNet` follows IRCNN (Zhang, Zuo, Gu & Zhang,
"Learning deep CNN denoiser prior for image restoration", CVPR 2017,
doi:10.1109/CVPR.2017.300): seven 3x3 convolutions with dilations 1, 2, 3, 4, 3,
2, 1 (a 33x33 receptive field, enough for the blur of CIFAR-10-C and for moderate
blur of photographs) and residual learning (DnCNN, Zhang et al., IEEE TIP 26(7),
2017, doi:10.1109/TIP.2017.2662206): the network predicts the *correction*
``x_sharp - x_blurred``, which starts at zero and is easy to learn. It is blind:
one network for Gaussian, defocus and motion blur of any strength it was trained
on, including none (so it leaves sharp images nearly alone).

The weights are trained by ``scripts/train_deblur_net.py`` (recipe and measured
numbers in ``docs/deblur.md``) and shipped as ``blurkit/assets/deblur_net.safetensors``.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

from ..._assets import asset_path
from ..._checks import (
    ParameterError,
    ShapeError,
    check_allocation,
    check_images,
)

__all__ = ["DeblurNet", "load_deblur_net", "DEBLUR_NET_ASSET"]

DEBLUR_NET_ASSET = "deblur_net.safetensors"

_DILATIONS = (1, 2, 3, 4, 3, 2, 1)


class DeblurNet(nn.Module):
    """IRCNN-style residual deblurring CNN: ``x + net(x)``, clamped to [0, 1].

    Inputs follow the deconvolutions' rule (finite values, ``H, W >= 1``; an empty batch
    gives an empty result); they run in the weights' dtype and come back in their own.

    Args:
        channels: image channels (3 for RGB; grayscale inputs are run per channel).
        width: feature channels of the hidden layers (32 gives ~48k parameters,
            48 gives ~107k).
        dilations: dilation of each 3x3 convolution (the receptive field is
            ``1 + 2 * sum(dilations)``).

    Example:
        >>> net = DeblurNet(width=8)
        >>> net(torch.rand(2, 3, 20, 20)).shape
        torch.Size([2, 3, 20, 20])
    """

    def __init__(self, channels: int = 3, width: int = 32, dilations=_DILATIONS) -> None:
        super().__init__()
        self.channels, self.width, self.dilations = int(channels), int(width), tuple(dilations)
        layers: list[nn.Module] = []
        c_in = self.channels
        for i, d in enumerate(self.dilations):
            last = i == len(self.dilations) - 1
            c_out = self.channels if last else self.width
            layers.append(
                nn.Conv2d(c_in, c_out, 3, padding=d, dilation=d, padding_mode="replicate")
            )
            if not last:
                layers.append(nn.ReLU(inplace=True))
            c_in = c_out
        self.body = nn.Sequential(*layers)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x, single = check_images(images)
        b, c, h, w = x.shape
        # two hidden activations are alive at a time
        check_allocation("images", (b, 2 * self.width, h, w), itemsize=4)
        dtype = x.dtype
        weight = self.body[0].weight
        x = x.to(weight.dtype)
        if c == self.channels:
            y = x + self.body(x)
        elif self.channels == 3 and c == 1:  # grayscale through the colour network
            y = (x + self.body(x.expand(-1, 3, -1, -1))).mean(1, keepdim=True)
        else:
            raise ShapeError(
                f"images: expected {self.channels} channels (or 1 for an RGB network), got {c}"
            )
        y = y.clamp(0, 1).to(dtype)
        return y[0] if single else y

    def config(self) -> dict:
        return {"channels": self.channels, "width": self.width, "dilations": list(self.dilations)}

    def extra_repr(self) -> str:
        n = sum(p.numel() for p in self.parameters())
        return f"params={n}, receptive_field={1 + 2 * sum(self.dilations)}"


def _asset_path() -> Path:
    return asset_path(DEBLUR_NET_ASSET)


def load_deblur_net(path: str | Path | None = None, device="cpu") -> DeblurNet:
    """Load the trained :class:`DeblurNet` (the bundled weights by default), in eval mode.

    Raises:
        ParameterError: the weights file is missing (the bundled one is written by
            ``scripts/train_deblur_net.py``).
    """
    from safetensors import safe_open
    from safetensors.torch import load_file

    p = Path(path) if path is not None else _asset_path()
    if not p.is_file():
        raise ParameterError(
            f"path: no deblurring weights at {p}; train them with scripts/train_deblur_net.py"
        )
    with safe_open(str(p), framework="pt") as f:
        meta = f.metadata() or {}
    cfg = json.loads(meta.get("config", "{}"))
    net = DeblurNet(**cfg)
    state = {k: v.float() for k, v in load_file(str(p)).items()}
    net.load_state_dict(state)
    net.info = {k: v for k, v in meta.items() if k != "config"}
    return net.to(device).eval()
