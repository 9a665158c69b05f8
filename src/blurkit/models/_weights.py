"""The state-file layer: weights read without running code, and loaded strictly.

The bottom of the models stack, beside :mod:`~blurkit.models._names`: everything above
(the built-in builders, :mod:`~blurkit.models.loading`, :mod:`~blurkit.models.registry`)
reads weights through here. ``.safetensors`` files are read with their metadata; every
other file with ``torch.load(weights_only=True)`` (a pickled object is refused with
:class:`~blurkit._checks.UnsafeFileError`); checkpoint containers and a DDP ``module.``
prefix are unwrapped; :func:`load_into` loads strictly. :mod:`blurkit.models.registry`
re-exports these names.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file

from .._checks import ParameterError, UnsafeFileError

__all__ = [
    "DOWNLOAD",
    "STATE_CONTAINERS",
    "read_safetensors",
    "torch_load_weights",
    "unwrap_state_dict",
    "load_state_file",
    "load_into",
]

DOWNLOAD = "download"  # the explicit opt-in to fetch weights from the internet

#: containers a checkpoint's state dict is commonly kept under (first match wins)
STATE_CONTAINERS = (
    "state_dict",
    "model",
    "model_state_dict",
    "ema",
    "state_dict_ema",
    "model_ema",
    "module",
)


def read_safetensors(
    path: Path, tensors: bool = True
) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """``(tensors, metadata)`` of a safetensors file (``tensors=False``: metadata only)."""
    try:
        with safe_open(str(path), "pt") as f:
            meta = dict(f.metadata() or {})
        return (load_file(str(path)) if tensors else {}), meta
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise ParameterError(
            f"weights: {str(path)!r} is not a readable safetensors file ({type(e).__name__}: {e})"
        ) from e


def torch_load_weights(path: str | os.PathLike):
    """``torch.load(path, weights_only=True)`` on CPU, with typed errors.

    Raises:
        UnsafeFileError: the file is a pickle of Python objects (e.g. ``torch.save(model)``),
            which only ``weights_only=False`` could load -- and that can run code.
        ParameterError: anything else that is not a torch file (a TorchScript archive
            included: load it as a model, not as weights).
    """
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        if "Unsupported global" not in str(e) and "GLOBAL" not in str(e):
            raise ParameterError(f"weights: {str(path)!r} is not a torch file ({e})") from e
        glob = next((ln.strip() for ln in str(e).splitlines() if "GLOBAL" in ln), "")
        raise UnsafeFileError(
            f"model: refused to load {str(path)!r}: it is a pickled Python object (e.g. "
            f"torch.save(model)), and loading it can run code{f' ({glob[:160]})' if glob else ''}; "
            "save its state_dict instead, or pass --trust-pickle (trust_pickle=True) if you "
            "trust the file"
        ) from e
    except Exception as e:  # truncated zip, TorchScript archive, not a torch file at all
        first = str(e).splitlines()[0][:300] if str(e) else type(e).__name__
        raise ParameterError(f"weights: could not read {str(path)!r} as weights: {first}") from e


def unwrap_state_dict(obj, source: str) -> dict[str, torch.Tensor]:
    """The tensors of a checkpoint: unwrap :data:`STATE_CONTAINERS` and a DDP ``module.`` prefix."""
    for _ in range(3):  # e.g. {"model": {"state_dict": ...}}
        if not isinstance(obj, dict):
            break
        inner = next((obj[k] for k in STATE_CONTAINERS if isinstance(obj.get(k), dict)), None)
        if inner is None:
            break
        obj = inner
    if not isinstance(obj, dict) or not obj:
        raise ParameterError(f"weights: {source} does not hold a state dict")
    bad = [k for k, v in obj.items() if not isinstance(k, str) or not isinstance(v, torch.Tensor)]
    if bad:
        raise ParameterError(
            f"weights: {source} is not a state dict of tensors (entries {bad[:5]} are not tensors)"
        )
    if all(k.startswith("module.") for k in obj):
        obj = {k[len("module.") :]: v for k, v in obj.items()}
    return obj


def load_state_file(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Read a weights file: ``(state_dict, metadata)``.

    safetensors files give their metadata; other files are read with
    ``torch.load(weights_only=True)`` (no arbitrary code runs), unwrapping the
    usual containers (:data:`STATE_CONTAINERS`: ``state_dict``, ``model``, ``ema``,
    ...) and a DDP ``module.`` prefix. Malformed files raise :class:`ParameterError`,
    pickled objects :class:`~blurkit._checks.UnsafeFileError`.
    """
    path = Path(path)
    if not path.is_file():
        raise ParameterError(f"weights: expected an existing file, got {str(path)!r}")
    if path.suffix == ".safetensors":
        state, meta = read_safetensors(path)
        return unwrap_state_dict(state, repr(str(path))), meta
    obj = torch_load_weights(path)
    return unwrap_state_dict(obj, repr(str(path))), {}


def _listing(keys: list[str], n: int = 10) -> str:
    return f"{len(keys)} {keys[:n]}{'...' if len(keys) > n else ''}"


def load_into(net: torch.nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    """Load ``state`` into ``net`` strictly, casting dtypes.

    BatchNorm's ``num_batches_tracked`` counters may be absent from the file (they do
    not change the output). Any other missing or unexpected key, or a shape mismatch,
    raises :class:`ParameterError` listing them: a model is never left partly random.
    """
    own = net.state_dict()
    missing = [k for k in own if k not in state and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in state if k not in own]
    if missing or unexpected:
        raise ParameterError(
            f"weights from {source}: keys do not match the architecture "
            f"(missing {_listing(missing)}; unexpected {_listing(unexpected)})"
        )
    bad = [
        (k, tuple(v.shape), tuple(own[k].shape))
        for k, v in state.items()
        if v.shape != own[k].shape
    ]
    if bad:
        raise ParameterError(f"weights from {source}: shape mismatch (key, file, model) {bad[:5]}")
    full = {k: (state[k].to(v.dtype) if k in state else v) for k, v in own.items()}
    net.load_state_dict(full, strict=True)
