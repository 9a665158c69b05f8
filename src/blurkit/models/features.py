"""Embeddings of any model: :class:`FeatureEncoder` turns a classifier or an encoder into
a module that returns one ``(B, D)`` feature vector per image.

One mechanism covers the usual cases:

- **an encoder** (any module whose output is ``(B, D)`` and that has no linear head
  to strip, or ``layer="output"``): its output is the embedding;
- **a classifier** (a :class:`~blurkit.models.Classifier`, a timm or torchvision
  network, a CIFAR net): the embedding is the *input of the last linear layer run*
  in the forward pass, the pooled "pre-logits" features the head reads. This is
  what timm's ``forward_head(pre_logits=True)`` returns after ``forward_features``
  and what torchvision's ``fc`` receives after the global pool, found without
  knowing either library's attribute names; the last one *run* (not the last one
  registered) is the head, so attention and MLP blocks inside the body do not
  confuse it;
- **a named layer** (``layer="net.layer3"``): the output of that module, through a
  forward hook, global-average-pooled when it is a ``(B, C, H, W)`` feature map and
  flattened otherwise.

The wrapped model still runs whole (the head's cost is negligible next to the
body), so its preprocessing and normalisation stay exactly those of the classifier.
"""

from __future__ import annotations

import difflib

import torch
from torch import nn

from .._checks import DTypeError, ParameterError, ShapeError

__all__ = ["FeatureEncoder", "list_layers"]


def list_layers(model: nn.Module) -> list[str]:
    """Names of ``model``'s sub-modules that ``layer=`` accepts (``named_modules`` order)."""
    return [name for name, _ in model.named_modules() if name]


class FeatureEncoder(nn.Module):
    """``(B, D)`` embeddings of ``model`` (see the module docstring for what is taken).

    Args:
        model: a classifier or an encoder taking the images the caller gives it
            (for a :class:`~blurkit.models.Classifier`: pixel-space ``[0, 1]``).
        layer: ``None`` (the input of the last linear layer, or the output when the
            model has none), ``"output"`` (the model's output), or the name of a
            sub-module (:func:`list_layers`).

    Raises:
        ParameterError: ``layer`` names no sub-module (the message lists close names
            and how many layers there are).

    Example:
        >>> from blurkit.models.cifar import ResNet9
        >>> enc = FeatureEncoder(ResNet9(widths=(4, 8, 8, 8)))
        >>> enc(torch.rand(2, 3, 32, 32)).shape
        torch.Size([2, 8])
    """

    def __init__(self, model: nn.Module, layer: str | None = None) -> None:
        super().__init__()
        if not isinstance(model, nn.Module):
            raise DTypeError(f"model: expected a torch.nn.Module, got {type(model).__name__}")
        if layer is not None and not isinstance(layer, str):
            raise DTypeError(f"layer: expected a module name (str), got {type(layer).__name__}")
        self.model = model
        self.layer = layer
        self._linears: list[nn.Linear] = []
        if layer is None:
            self._linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
        elif layer != "output":
            modules = dict(model.named_modules())
            if layer not in modules or not layer:
                names = list_layers(model)
                close = difflib.get_close_matches(layer, names, n=5, cutoff=0.4)
                hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
                shown = ", ".join(names[:12]) + (", ..." if len(names) > 12 else "")
                raise ParameterError(
                    f"layer: {type(model).__name__} has no sub-module {layer!r}{hint} "
                    f"({len(names)} layers: {shown})"
                )
            self._target = modules[layer]

    @property
    def source(self) -> str:
        """What the embedding is, in words (for results and reports)."""
        if self.layer == "output" or (self.layer is None and not self._linears):
            return "output"
        if self.layer is None:
            return "input of the last linear layer"
        return f"output of {self.layer}"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        captured: list[torch.Tensor] = []
        handles = []
        if self.layer is None and self._linears:

            def pre_hook(_module, args):
                captured[:] = [args[0]]

            handles = [m.register_forward_pre_hook(pre_hook) for m in self._linears]
        elif self.layer not in (None, "output"):

            def hook(_module, _args, output):
                captured[:] = [output[0] if isinstance(output, (tuple, list)) else output]

            handles = [self._target.register_forward_hook(hook)]
        try:
            out = self.model(x)
        finally:
            for h in handles:
                h.remove()
        feats = captured[0] if captured else out
        if not isinstance(feats, torch.Tensor):
            raise ShapeError(
                f"model: expected the embedding to be a tensor, got {type(feats).__name__} "
                f"(from the {self.source})"
            )
        if self.layer not in (None, "output") and feats.ndim == 4:
            feats = feats.mean((2, 3))
        elif self.layer not in (None, "output") and feats.ndim > 2:
            feats = feats.flatten(1)
        if feats.ndim != 2 or feats.shape[0] != x.shape[0]:
            raise ShapeError(
                f"model: expected (B, D) = ({x.shape[0]}, D) embeddings from the {self.source}, "
                f"got shape {tuple(feats.shape)}; pass layer= to choose another layer"
            )
        return feats

    def extra_repr(self) -> str:
        return f"source={self.source!r}"
