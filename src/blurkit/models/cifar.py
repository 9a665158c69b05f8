"""Small CIFAR-10 networks defined in the project.

:class:`ResNet9` is the residual network of Page's "How to train your ResNet"
(Myrtle.ai, 2018), also the backbone of the airbench CIFAR-10 speed-runs
(Jordan, 2024): a 3x3 stem, three stages that each widen, max-pool to halve the
resolution, and (stages 1 and 3) add a two-convolution residual branch, then a
global max-pool and a linear head scaled by 1/8. Max-pool down-sampling and
few, wide layers make it the fastest network per point of accuracy on a CPU,
which is why the project's bundled model uses it at reduced width.

:class:`ResNet20` is the thin ResNet of He et al. (CVPR 2016, section 4.2):
the classic CIFAR baseline, kept for comparison.

Both take images already normalised (the :class:`~blurkit.models.Classifier`
wrapper normalises pixel-space input) and return logits.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["ResNet9", "ResNet20", "CIFAR10_CLASSES", "CIFAR10_MEAN", "CIFAR10_STD"]

CIFAR10_CLASSES = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
]
# per-channel statistics of the CIFAR-10 training set (the usual published values)
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)


def _conv_bn(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    )


class _Residual(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.body = nn.Sequential(_conv_bn(c, c), _conv_bn(c, c))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class ResNet9(nn.Module):
    """Page's ResNet-9 with configurable widths.

    Args:
        num_classes: number of outputs.
        widths: channels of the stem and the three stages; Page's original is
            ``(64, 128, 256, 512)``, the bundled model uses half of it.
        scale: multiplier of the logits (Page: 0.125), which keeps the initial
            softmax soft without a temperature in the loss.

    Example:
        >>> net = ResNet9(widths=(8, 16, 32, 64))
        >>> net(torch.zeros(2, 3, 32, 32)).shape
        torch.Size([2, 10])
    """

    def __init__(
        self,
        num_classes: int = 10,
        widths: tuple[int, int, int, int] = (64, 128, 256, 512),
        scale: float = 0.125,
    ) -> None:
        super().__init__()
        w0, w1, w2, w3 = widths
        self.stem = _conv_bn(3, w0)
        self.layer1 = nn.Sequential(_conv_bn(w0, w1), nn.MaxPool2d(2), _Residual(w1))
        self.layer2 = nn.Sequential(_conv_bn(w1, w2), nn.MaxPool2d(2))
        self.layer3 = nn.Sequential(_conv_bn(w2, w3), nn.MaxPool2d(2), _Residual(w3))
        self.pool = nn.AdaptiveMaxPool2d(1)
        self.fc = nn.Linear(w3, num_classes, bias=False)
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layer3(self.layer2(self.layer1(self.stem(x))))
        return self.fc(torch.flatten(self.pool(x), 1)) * self.scale


class _BasicBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(
                nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(y)) + self.shortcut(x))


class ResNet20(nn.Module):
    """He et al.'s CIFAR ResNet (6n+2 layers; n=3 gives ResNet-20, 0.27 M parameters).

    Example:
        >>> ResNet20(width=4)(torch.zeros(1, 3, 32, 32)).shape
        torch.Size([1, 10])
    """

    def __init__(self, num_classes: int = 10, n: int = 3, width: int = 16) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(3, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True)
        )
        layers: list[nn.Module] = []
        c = width
        for stage, c_out in enumerate((width, 2 * width, 4 * width)):
            for i in range(n):
                layers.append(_BasicBlock(c, c_out, 2 if (i == 0 and stage > 0) else 1))
                c = c_out
        self.layers = nn.Sequential(*layers)
        self.fc = nn.Linear(c, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layers(self.stem(x))
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))


class _ConvGroup(nn.Module):
    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1, bias=False)
        self.pool = nn.MaxPool2d(2)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.act = nn.GELU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act(self.bn1(self.pool(self.conv1(x))))
        return self.act(self.bn2(self.conv2(x)))


class AirNet(nn.Module):
    """The airbench CIFAR-10 network (Jordan, "94% on CIFAR-10 in 3.29 seconds", 2024).

    A 2x2 patch-whitening stem (its weights are set from the eigenvectors of the
    training patches' covariance by :meth:`init_whitening` and then frozen),
    followed by three conv-pool-BN-GELU groups and a max-pooled linear head.
    Pooling right after the first convolution of each group keeps most of the
    compute at low resolution, which is what makes it cheap on a CPU.

    Args:
        num_classes: number of outputs.
        widths: channels of the three groups (airbench: ``(64, 256, 256)``).
        whiten_width: output channels of the stem (twice the 12 eigen-filters).
        scale: logit multiplier (airbench: 1/9).

    Example:
        >>> AirNet(widths=(8, 16, 16))(torch.zeros(2, 3, 32, 32)).shape
        torch.Size([2, 10])
    """

    def __init__(
        self,
        num_classes: int = 10,
        widths: tuple[int, int, int] = (64, 256, 256),
        whiten_width: int = 24,
        scale: float = 1 / 9,
    ) -> None:
        super().__init__()
        self.whiten = nn.Conv2d(3, whiten_width, 2, padding=0, bias=True)
        self.act = nn.GELU()
        w1, w2, w3 = widths
        self.layer1 = _ConvGroup(whiten_width, w1)
        self.layer2 = _ConvGroup(w1, w2)
        self.layer3 = _ConvGroup(w2, w3)
        self.pool = nn.AdaptiveMaxPool2d(1)
        self.fc = nn.Linear(w3, num_classes, bias=False)
        self.scale = scale

    @torch.no_grad()
    def init_whitening(self, images: torch.Tensor, eps: float = 5e-4) -> None:
        """Set the stem to whiten 2x2 patches of ``images`` (normalised, ``(N, 3, H, W)``)."""
        c = self.whiten.out_channels // 2
        patches = images.unfold(2, 2, 1).unfold(3, 2, 1)  # N, 3, H-1, W-1, 2, 2
        patches = patches.permute(0, 2, 3, 1, 4, 5).reshape(-1, 12).double()
        patches = patches - patches.mean(0)
        cov = patches.T @ patches / len(patches)
        eigval, eigvec = torch.linalg.eigh(cov)
        filt = (eigvec.T / torch.sqrt(eigval + eps)[:, None]).flip(0)[:c]
        filt = filt.reshape(c, 3, 2, 2).to(self.whiten.weight.dtype)
        self.whiten.weight.copy_(torch.cat([filt, -filt]))
        self.whiten.weight.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act(self.whiten(x))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(torch.flatten(self.pool(x), 1)) * self.scale
