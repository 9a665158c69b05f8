"""Label spaces: a model scored on a dataset whose classes are a subset of its outputs.

An ImageNet-1k model evaluated on folders named by some of its synsets (or class
names) is scored the way ImageNet-R and ImageNet-A are (Hendrycks et al., 2021):
its logits are *restricted* to the dataset's classes before the arg-max, so a
prediction is always one of the classes present. :func:`match_label_space` makes
that choice explicit: the restricted model's name says so
(``<name>@<k>-of-<n>-classes``), which is what the results tables show.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .._checks import ParameterError
from .wrappers import Classifier

__all__ = ["restrict_classes", "match_label_space", "LABEL_SPACES"]

#: ``auto``: the model's own classes when they are the dataset's, else restricted logits;
#: ``full``: folders mapped into the model's full output (arg-max over every class)
LABEL_SPACES = ("auto", "full")


class _Subset(nn.Module):
    """``net(x)[:, index]``: the logits of some of a network's classes, in a given order."""

    def __init__(self, net: nn.Module, index: Sequence[int]) -> None:
        super().__init__()
        self.net = net
        self.register_buffer(
            "index", torch.as_tensor(list(index), dtype=torch.long), persistent=False
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).index_select(1, self.index.to(x.device))


def _lookup(model: Classifier) -> dict[str, int]:
    table = {}
    aliases = model.info.get("class_names")
    if isinstance(aliases, (list, tuple)) and len(aliases) == model.num_classes:
        table.update({str(a): i for i, a in enumerate(aliases)})
    table.update({str(c): i for i, c in enumerate(model.classes)})  # own names win
    return table


def restrict_classes(model: Classifier, classes: Sequence[str]) -> Classifier:
    """A view of ``model`` whose outputs are only ``classes`` (names or aliases), in that order.

    The network, normalisation and preprocessing are shared with ``model``; when fewer
    classes than the model's are kept, the new model's name is
    ``<name>@<k>-of-<n>-classes`` and ``info['label_space']`` says so (all of them in
    another order: the same name).

    Raises:
        ParameterError: a class the model does not have (by name or alias).

    Example:
        >>> from blurkit.models import load_model
        >>> m = restrict_classes(load_model("cifar10_resnet20"), ["cat", "dog"])
        >>> m(torch.rand(1, 3, 32, 32)).shape, m.name
        (torch.Size([1, 2]), 'cifar10_resnet20@2-of-10-classes')
    """
    table = _lookup(model)
    classes = [str(c) for c in classes]
    unknown = [c for c in classes if c not in table]
    if unknown:
        raise ParameterError(
            f"classes: {unknown[:5]}{'...' if len(unknown) > 5 else ''} are not among the "
            f"model's {model.num_classes} classes (e.g. {list(model.classes)[:3]})"
        )
    index = [table[c] for c in classes]
    if len(set(index)) != len(index):
        raise ParameterError("classes: two dataset classes map to the same model class")
    n = model.num_classes
    subset = len(classes) < n  # all n classes: a reordering, not a restriction
    out = Classifier(
        _Subset(model.net, index), model.normalize.mean.flatten().tolist(),
        model.normalize.std.flatten().tolist(), classes, model.input_size,
        preprocess=model._preprocess,
        name=f"{model.name}@{len(classes)}-of-{n}-classes" if subset else model.name,
        info=dict(model.info),
    )  # fmt: skip
    out.channels_last = model.channels_last
    if subset:
        out.info["label_space"] = {"restricted_from": n, "classes": len(classes)}
    out.info.pop("class_names", None)
    return out.to(model.normalize.mean.device).eval()


def match_label_space(
    model: Classifier, classes: Sequence[str], policy: str = "auto"
) -> Classifier:
    """``model`` ready to be scored on a dataset whose label ``i`` is ``classes[i]``.

    - the model's classes are the dataset's: returned as is;
    - the model has no class names (``info['generic_classes']``) and as many outputs:
      it takes the dataset's names;
    - otherwise (``policy='auto'``) its logits are restricted to the dataset's classes
      (:func:`restrict_classes`).
    """
    if policy not in LABEL_SPACES:
        raise ParameterError(f"label_space: expected one of {LABEL_SPACES}, got {policy!r}")
    classes = [str(c) for c in classes]
    if list(model.classes) == classes:
        return model
    if model.info.get("generic_classes"):
        if len(classes) != model.num_classes:
            raise ParameterError(
                f"classes: the model has {model.num_classes} outputs but the data has "
                f"{len(classes)} classes; pass --classes FILE (one name per line)"
            )
        model.classes = classes
        model.info.pop("generic_classes", None)
        return model
    return restrict_classes(model, classes)
