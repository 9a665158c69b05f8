"""Model files a user hands us: every usual format, and nothing that runs code by default.

:func:`load_model_file` opens, by content:

- a safetensors file written by :func:`~blurkit.models.save_model` (``blurkit_model``
  metadata) or by ``blurkit train`` (AirNet metadata);
- a ``model.pt`` written by ``blurkit train`` (read with ``weights_only=True``;
  :func:`load_trained` also takes its output directory);
- a TorchScript archive (``torch.jit.save``; TorchScript is not Python pickle);
- a ``torch.export`` program (``torch.export.save``, usually ``.pt2``);
- a pickled full model (``torch.save(model)``) -- refused with
  :class:`~blurkit._checks.UnsafeFileError` unless ``trust_pickle=True``, the one
  place ``weights_only=False`` is ever used.

A bare state dict has no architecture: it is refused with a message saying to
name the architecture and pass the file as ``weights``.

:func:`apply_options` then sets what the file cannot know or the user overrides:
class names, mean/std, input size. Metadata is validated as it is parsed: a value
that is not the JSON expected, an architecture that is not a known name (never a
path, so a file cannot name itself) or widths too large to allocate all raise
:class:`~blurkit._checks.ParameterError`.

In the models stack this module sits above the state-file layer
(:mod:`~blurkit.models._weights`) and the by-name builders
(:mod:`~blurkit.models._named`: a ``save_model`` file names what rebuilds it), and
below :mod:`~blurkit.models.registry`, whose :func:`~blurkit.models.load_model` opens
files through :func:`load_model_file`.
"""

from __future__ import annotations

import json
import math
import os
import warnings
import zipfile
from pathlib import Path

import torch
from torch import nn

from .._checks import ParameterError, UnsafeFileError, check_int
from ._named import build_named, is_model_name
from ._weights import load_into, read_safetensors, torch_load_weights, unwrap_state_dict
from .architectures import canonical_architecture, instantiate
from .wrappers import Classifier, Normalize, ResizeCenterCrop, _ToTensor

__all__ = [
    "load_model_file",
    "apply_options",
    "read_classes",
    "parse_triple",
    "describe_preprocess",
    "meta_json",
    "load_trained",
    "trained_from_state",
    "wrap_trained",
]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def meta_json(meta: dict, key: str, kind: type | tuple, source: str, default=None):
    """``json.loads(meta[key])`` checked to be of ``kind``; typed errors for anything else."""
    if key not in meta:
        if default is not None:
            return default
        raise ParameterError(f"model: {source} has no {key!r} metadata")
    raw = meta[key]
    try:
        value = json.loads(raw) if isinstance(raw, str) else raw
    except (json.JSONDecodeError, RecursionError) as e:
        raise ParameterError(f"model: {source}: metadata {key!r} is not valid JSON ({e})") from e
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        raise ParameterError(
            f"model: {source}: metadata {key!r} should be a {getattr(kind, '__name__', kind)}, "
            f"got {type(value).__name__}"
        )
    return value


def read_classes(classes) -> list[str] | None:
    """Class names from a list, or from a text file of one name per line (blank lines ignored)."""
    if classes is None:
        return None
    if isinstance(classes, (str, os.PathLike)):
        p = Path(classes)
        if not p.is_file():
            raise ParameterError(
                f"classes: expected a text file of one name per line, got {str(p)!r}"
            )
        try:
            names = [ln.strip() for ln in p.read_text(encoding="utf-8").splitlines()]
        except (UnicodeDecodeError, OSError) as e:
            raise ParameterError(f"classes: could not read {str(p)!r} as UTF-8 text ({e})") from e
        names = [n for n in names if n]
    else:
        names = list(classes)
    if not names or not all(isinstance(n, str) and n for n in names):
        raise ParameterError(f"classes: expected non-empty names, got {names[:5]!r}")
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        raise ParameterError(f"classes: names must be unique, repeated: {dup[:5]}")
    return names


def parse_triple(value, name: str) -> tuple[float, float, float] | None:
    """Three finite numbers from ``"a,b,c"`` or a sequence (``std`` must be positive)."""
    if value is None:
        return None
    parts = value.split(",") if isinstance(value, str) else list(value)
    try:
        out = tuple(float(v) for v in parts if not isinstance(v, str) or v.strip())
    except (TypeError, ValueError):
        raise ParameterError(
            f"{name}: expected three comma-separated numbers, got {value!r}"
        ) from None
    if len(out) != 3 or not all(math.isfinite(v) for v in out):
        raise ParameterError(f"{name}: expected three finite numbers, got {value!r}")
    if name == "std" and min(out) <= 0:
        raise ParameterError(f"std: expected positive numbers, got {value!r}")
    return out


def describe_preprocess(model: Classifier) -> dict:
    """The geometric preprocessing as plain data (saved by ``save_model``)."""
    p = model._preprocess
    if isinstance(p, ResizeCenterCrop):
        return {"kind": "resize_center_crop", "resize": p.resize, "crop": p.crop,
                "interpolation": p.interpolation}  # fmt: skip
    return {"kind": "resize", "size": model.input_size}


def preprocess_from(desc: dict, input_size: int, source: str):
    """The inverse of :func:`describe_preprocess`."""
    kind = desc.get("kind") if isinstance(desc, dict) else None
    if kind == "resize_center_crop":
        resize = check_int(desc.get("resize"), "preprocess.resize", low=1, high=65536)
        crop = check_int(desc.get("crop"), "preprocess.crop", low=1, high=65536)
        interp = desc.get("interpolation", "bicubic")
        if interp not in ("bicubic", "bilinear"):
            raise ParameterError(f"model: {source}: unknown interpolation {interp!r}")
        return ResizeCenterCrop(resize, crop, interp)
    if kind in (None, "resize"):
        return _ToTensor(input_size)
    raise ParameterError(f"model: {source}: unknown preprocess {kind!r}")


def _count_outputs(net: nn.Module, size: int) -> int:
    was = net.training
    net.eval()  # a probe must not touch BatchNorm statistics
    try:
        with torch.no_grad():
            out = net(torch.zeros(2, 3, size, size))  # batch 2: exports often specialise 1
    except Exception as e:
        raise ParameterError(
            f"model: a ({size}x{size}) probe to count the outputs failed ({type(e).__name__}: "
            f"{str(e)[:200]}); pass --input-size / --num-classes"
        ) from e
    finally:
        net.train(was)
    if not isinstance(out, torch.Tensor) or out.dim() != 2:
        raise ParameterError(
            f"model: expected the network to return (batch, classes) logits, got "
            f"{getattr(out, 'shape', type(out).__name__)}"
        )
    return int(out.shape[1])


def apply_options(
    model: Classifier,
    *,
    num_classes: int | None = None,
    classes=None,
    mean=None,
    std=None,
    input_size: int | None = None,
) -> Classifier:
    """Set class names, normalisation and input size on ``model`` (in place; returned).

    ``input_size=S`` keeps the model's resize/crop ratio (an ImageNet model's
    256/224 view becomes ``round(S * 256 / 224)`` then ``S``); a model without a
    crop resizes to ``S``.
    """
    classes = read_classes(classes)
    mean, std = parse_triple(mean, "mean"), parse_triple(std, "std")
    default_view = model.info.pop("default_view", False)
    if input_size is not None:
        size = check_int(input_size, "input_size", low=1, high=8192)
        p = model._preprocess
        if default_view:  # a file that says nothing of its view: resize and crop to S
            model._preprocess = ResizeCenterCrop(size, size, "bilinear")
        elif isinstance(p, ResizeCenterCrop):
            model._preprocess = ResizeCenterCrop(
                round(size * p.resize / p.crop), size, p.interpolation
            )
        else:
            model._preprocess = _ToTensor(size)
        model.input_size = size
    if mean is not None or std is not None:
        old = model.normalize
        model.normalize = Normalize(
            mean or tuple(old.mean.flatten().tolist()), std or tuple(old.std.flatten().tolist())
        ).to(old.mean.device)
    if model.info.pop("outputs_unknown", False):
        if classes is None:
            n = num_classes if num_classes is not None else _count_outputs(model, model.input_size)
            model.classes = [str(i) for i in range(n)]
        else:
            model.classes = classes
            model.info.pop("generic_classes", None)
        return model
    if classes is not None:
        if len(classes) != model.num_classes:
            raise ParameterError(
                f"classes: {len(classes)} names given, the model has {model.num_classes} outputs"
            )
        model.classes = classes
        model.info.pop("generic_classes", None)
    elif num_classes is not None and num_classes != model.num_classes:
        raise ParameterError(
            f"num_classes: the model has {model.num_classes} outputs, got {num_classes}"
        )
    return model


# --------------------------------------------------------------------------- blurkit train outputs


def wrap_trained(net, arch, kw, classes, mean, std, size, name="") -> Classifier:
    """A trained network as a :class:`Classifier` carrying ``arch``/``arch_kwargs``."""
    clf = Classifier(
        net, parse_triple(mean, "mean"), parse_triple(std, "std"), read_classes(classes),
        check_int(size, "input_size", low=1, high=8192), name=name,
    )  # fmt: skip
    clf.info.update({"arch": arch, "arch_kwargs": kw})
    return clf


def _freeze_stem(net) -> None:
    if hasattr(net, "whiten"):
        net.whiten.weight.requires_grad_(False)


def trained_from_state(state: dict, source: str, name: str | None = None) -> Classifier:
    """Rebuild a ``model.pt`` dict (already read with ``weights_only=True``)."""
    need = ("arch", "arch_kwargs", "state_dict", "classes", "mean", "std", "input_size")
    missing = [k for k in need if k not in state]
    if missing:
        raise ParameterError(
            f"checkpoint: {source} is not a blurkit training output (missing {missing})"
        )
    if not isinstance(state["arch_kwargs"], dict):
        raise ParameterError(f"checkpoint: {source}: arch_kwargs must be a dict")
    classes = read_classes(state["classes"])
    arch = canonical_architecture(state["arch"])
    net = instantiate(arch, state["arch_kwargs"], len(classes))
    load_into(net, unwrap_state_dict(state["state_dict"], source), source)
    _freeze_stem(net)
    default = Path(source).parent.name
    clf = wrap_trained(
        net, arch, state["arch_kwargs"], classes, state["mean"], state["std"], state["input_size"],
        name or (state.get("name") if isinstance(state.get("name"), str) else None) or default,
    )  # fmt: skip
    info = state.get("info", {})
    if isinstance(info, dict):
        clf.info.update({str(k): v for k, v in info.items()})
    return clf.eval()


def load_trained(path: str | os.PathLike, name: str | None = None) -> Classifier:
    """Load a model written by ``blurkit train`` (``model.pt``), a training output
    directory, or a bundled-format ``.safetensors`` (AirNet metadata).

    Everything is read without running code from the file (``weights_only=True``,
    safetensors), every metadata field is validated, sizes are checked before
    allocating, and the weights load strictly.

    Returns:
        A :class:`Classifier` in eval mode.
    """
    p = Path(path)
    if p.is_dir():
        p = p / "model.pt"
    if not p.is_file():
        raise ParameterError(f"checkpoint: {p} does not exist")
    src = repr(str(p))
    if p.suffix == ".safetensors":
        sd, meta = read_safetensors(p)
        if meta.get("architecture") != "AirNet":
            raise ParameterError(
                f"checkpoint: {src} has no AirNet metadata "
                f"(architecture={str(meta.get('architecture'))[:40]!r})"
            )
        kw = {"widths": meta_json(meta, "widths", list, src)}
        classes = read_classes(meta_json(meta, "classes", list, src))
        net = instantiate("airnet", kw, len(classes))
        load_into(net, {k: v.float() for k, v in sd.items()}, src)
        _freeze_stem(net)
        clf = wrap_trained(
            net, "airnet", kw, classes, meta_json(meta, "mean", list, src),
            meta_json(meta, "std", list, src), meta_json(meta, "input_size", int, src),
            name or p.stem,
        )  # fmt: skip
        return clf.eval()
    state = torch_load_weights(p)
    if not isinstance(state, dict) or "arch" not in state:
        raise ParameterError(f"checkpoint: {src} is not a blurkit training output (no 'arch')")
    clf = trained_from_state(state, str(p), name)
    if name is None and not clf.name:
        clf.name = p.parent.name
    return clf


# --------------------------------------------------------------------------- formats


def _zip_kind(path: Path) -> str | None:
    """``"torchscript"``, ``"export"``, ``"torch"`` (a torch.save zip) or None."""
    try:
        if not zipfile.is_zipfile(path):
            return None
        with zipfile.ZipFile(path) as z:
            names = z.namelist()
    except (OSError, zipfile.BadZipFile):
        return None
    if any(n.endswith("/archive_format") for n in names):
        return "export"
    if any(n.endswith("/constants.pkl") for n in names) and any("/code/" in n for n in names):
        return "torchscript"
    return "torch"


class _Exported(nn.Module):
    """A ``torch.export`` program's module, kept outside the module tree: exported
    modules refuse ``.train()`` / ``.eval()``, which wrapping models call."""

    def __init__(self, gm) -> None:
        super().__init__()
        self.__dict__["gm"] = gm

    def _apply(self, fn, *args, **kwargs):
        self.__dict__["gm"] = self.gm._apply(fn, *args, **kwargs)
        return super()._apply(fn, *args, **kwargs)

    def state_dict(self, *args, **kwargs):
        return self.gm.state_dict(*args, **kwargs)

    def forward(self, x):
        return self.gm(x)


def _external(net: nn.Module, source: str, kind: str) -> Classifier:
    """A network from TorchScript / export / pickle: ImageNet stats and view by default
    (override with mean/std/input_size); class count probed at load."""
    clf = Classifier(
        net, IMAGENET_MEAN, IMAGENET_STD, ["0"], 224,
        preprocess=ResizeCenterCrop(256, 224, "bilinear"), name=source,
    )  # fmt: skip
    clf.info.update(
        {"format": kind, "generic_classes": True, "outputs_unknown": True, "default_view": True}
    )
    return clf


def _load_safetensors_model(path: Path, weights, kwargs: dict) -> Classifier:
    if weights is not None:
        raise ParameterError(
            f"weights: {path.name} already holds the weights; pass one or the other"
        )
    _, meta = read_safetensors(path, tensors=False)
    src = repr(str(path))
    if "blurkit_model" in meta:
        arch = meta["blurkit_model"]
        if not is_model_name(arch):
            raise ParameterError(
                f"model: {src}: metadata blurkit_model={str(arch)[:80]!r} is not a registered "
                "or architecture name (a file path is never followed)"
            )
        kw = meta_json(meta, "blurkit_kwargs", dict, src, default={})
        kw.update(kwargs)
        model = apply_options(build_named(arch, path, None, kw)).to("cpu").eval()
        if "blurkit_mean" in meta or "blurkit_std" in meta:
            mean = meta_json(meta, "blurkit_mean", list, src)
            std = meta_json(meta, "blurkit_std", list, src)
            model.normalize = Normalize(parse_triple(mean, "mean"), parse_triple(std, "std"))
        if "blurkit_classes" in meta:
            names = read_classes(meta_json(meta, "blurkit_classes", list, src))
            if len(names) != model.num_classes:
                raise ParameterError(
                    f"model: {src}: {len(names)} class names for {model.num_classes} outputs"
                )
            model.classes = names
            model.info.pop("generic_classes", None)
        if "blurkit_input_size" in meta:
            size = check_int(meta_json(meta, "blurkit_input_size", int, src), "input_size",
                             low=1, high=8192)  # fmt: skip
            model.input_size = size
            desc = meta_json(meta, "blurkit_preprocess", dict, src, default={"kind": "resize"})
            model._preprocess = preprocess_from(desc, size, src)
        if "blurkit_channels_last" in meta:
            cl = meta_json(meta, "blurkit_channels_last", bool, src)
            model.channels_last = cl
            model.net = model.net.to(
                memory_format=torch.channels_last if cl else torch.contiguous_format
            )
        model.name = str(path)
        model.info.update({k: v for k, v in meta.items() if not k.startswith("blurkit_")})
        return model
    if meta.get("architecture") == "AirNet":
        return load_trained(path)
    raise ParameterError(
        f"model: {src} has no architecture metadata (not written by save_model or blurkit "
        "train): name the architecture and pass the file as weights, e.g. "
        "--model torchvision:resnet18 --weights FILE --num-classes N"
    )


def _load_pickled(path: Path) -> nn.Module:
    warnings.warn(
        f"trust_pickle: loading {path} with torch.load(weights_only=False): a pickled model "
        "can run any code; do this only for files you trust",
        stacklevel=3,
    )
    obj = torch.load(path, map_location="cpu", weights_only=False)  # the explicit opt-in
    if isinstance(obj, dict):
        obj = next(
            (obj[k] for k in ("model", "module", "ema") if isinstance(obj.get(k), nn.Module)), obj
        )
    if not isinstance(obj, nn.Module):
        raise ParameterError(f"model: {path} holds a {type(obj).__name__}, not a torch.nn.Module")
    return obj


def load_model_file(
    path: str | os.PathLike, *, weights=None, trust_pickle: bool = False, **kwargs
) -> Classifier:
    """Open a model file of any format the module docstring lists.

    Raises:
        UnsafeFileError: a pickled full model without ``trust_pickle``.
        ParameterError: a malformed file, a bare state dict, or bad metadata.
    """
    path = Path(path)
    src = str(path)
    if path.suffix == ".safetensors":
        return _load_safetensors_model(path, weights, kwargs)
    kind = _zip_kind(path)
    if kind in ("torchscript", "export") and (weights is not None or kwargs):
        raise ParameterError(
            f"model: {path.name} is a {kind} program; it takes no weights= or architecture kwargs"
        )
    if kind == "torchscript":
        try:
            net = torch.jit.load(str(path), map_location="cpu")
        except Exception as e:
            raise ParameterError(f"model: could not load the TorchScript archive {src}: {e}") from e
        return _external(net, src, "torchscript")
    if kind == "export":
        try:
            gm = torch.export.load(str(path)).module()
        except Exception as e:
            first = str(e).splitlines()[0][:300] if str(e) else type(e).__name__
            raise ParameterError(
                f"model: could not load the torch.export program {src}: {first}"
            ) from e
        return _external(_Exported(gm), src, "torch.export")
    try:
        obj = torch_load_weights(path)
    except Exception as e:
        if isinstance(e, UnsafeFileError) and trust_pickle:
            return _external(_load_pickled(path), src, "pickle")
        raise
    if isinstance(obj, dict) and "arch" in obj:
        if weights is not None:
            raise ParameterError(f"weights: {path.name} already holds the weights")
        return trained_from_state(obj, src, name=None)
    raise ParameterError(
        f"model: {src} holds weights but no architecture: name the architecture and pass the "
        "file as weights, e.g. --model torchvision:resnet18 --weights FILE --num-classes N "
        "(Python: load_model('torchvision:resnet18', weights=FILE, num_classes=N))"
    )
