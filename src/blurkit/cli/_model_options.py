"""The model options every command that names a model shares (``evaluate``, ``attack``,
``train --finetune``), and their translation into :func:`blurkit.models.load_model`
keyword arguments.

Decorate a typer command with :func:`with_model_options`: the options are appended to its
signature, and the command receives them validated, as one keyword argument
``model_options`` (the :func:`model_kwargs` of the options the user set). The ``*_OPTION``
objects stay public for a command that needs one of them alone.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from pathlib import Path

import typer

__all__ = [
    "WEIGHTS_OPTION",
    "NUM_CLASSES_OPTION",
    "CLASSES_OPTION",
    "MEAN_OPTION",
    "STD_OPTION",
    "INPUT_SIZE_OPTION",
    "TRUST_PICKLE_OPTION",
    "LABEL_SPACE_OPTION",
    "model_kwargs",
    "with_model_options",
]

WEIGHTS_OPTION = typer.Option(
    None,
    "--weights",
    help="State dict for --model (.pt/.pth/.safetensors; state_dict/model/ema containers "
    "and a DDP 'module.' prefix are unwrapped; loaded strictly, never executing code).",
)
NUM_CLASSES_OPTION = typer.Option(None, "--num-classes", help="Outputs of the network.")
CLASSES_OPTION = typer.Option(
    None,
    "--classes",
    help="Text file of class names, one per line, in output order "
    "(default: the model's, else the dataset's folder names).",
)
MEAN_OPTION = typer.Option(None, "--mean", help="Input normalisation mean, 'a,b,c'.")
STD_OPTION = typer.Option(None, "--std", help="Input normalisation std, 'a,b,c'.")
INPUT_SIZE_OPTION = typer.Option(
    None,
    "--input-size",
    help="Side S of the model's view: geometric resize/centre-crop before the blur "
    "(ImageNet-C protocol), normalisation after it.",
)
TRUST_PICKLE_OPTION = typer.Option(
    False,
    "--trust-pickle",
    help="Allow a pickled full model (torch.save(model)). Loading it can run code: "
    "only for files you trust.",
)

LABEL_SPACE_OPTION = typer.Option(
    "auto",
    "--label-space",
    help="auto: a model with more classes than the data is scored on the data's classes by "
    "restricting its logits (ImageNet-R/A style; stated in the model's name); full: arg-max "
    "over every class of the model.",
)


def model_kwargs(
    weights: Path | str | None = None,
    num_classes: int | None = None,
    classes: Path | str | None = None,
    mean: str | None = None,
    std: str | None = None,
    input_size: int | None = None,
    trust_pickle: bool = False,
) -> dict:
    """The :func:`blurkit.models.load_model` keyword arguments of the given options
    (only those set), validated: a bad value raises a :class:`~blurkit.BlurkitError`.

    >>> model_kwargs(mean="0.5,0.5,0.5", num_classes=10)
    {'num_classes': 10, 'mean': (0.5, 0.5, 0.5)}
    """
    from .._checks import ParameterError, check_int
    from ..models.loading import parse_triple, read_classes

    out: dict = {}
    if weights is not None:
        if not Path(weights).is_file():
            raise ParameterError(f"--weights: expected an existing file, got {str(weights)!r}")
        out["weights"] = str(weights)
    if num_classes is not None:
        out["num_classes"] = check_int(num_classes, "--num-classes", low=1, high=1_000_000)
    if classes is not None:
        out["classes"] = read_classes(Path(classes))
    if mean is not None:
        out["mean"] = parse_triple(mean, "mean")
    if std is not None:
        out["std"] = parse_triple(std, "std")
    if input_size is not None:
        out["input_size"] = check_int(input_size, "--input-size", low=1, high=8192)
    if trust_pickle:
        out["trust_pickle"] = True
    if "classes" in out and "num_classes" in out and len(out["classes"]) != out["num_classes"]:
        raise ParameterError(
            f"--classes: {len(out['classes'])} names but --num-classes {out['num_classes']}"
        )
    return out


#: the shared options: (parameter name, type, typer default), in --help order
_SHARED = (
    ("weights", Path, WEIGHTS_OPTION),
    ("num_classes", int, NUM_CLASSES_OPTION),
    ("classes", Path, CLASSES_OPTION),
    ("mean", str, MEAN_OPTION),
    ("std", str, STD_OPTION),
    ("input_size", int, INPUT_SIZE_OPTION),
    ("trust_pickle", bool, TRUST_PICKLE_OPTION),
)


def with_model_options(command: Callable) -> Callable:
    """Add the shared model options to a typer ``command`` that takes a keyword argument
    ``model_options``; it is called with their :func:`model_kwargs` (validated before the
    command body runs, so a bad value is refused before any lock, model or data)."""
    sig = inspect.signature(command, eval_str=True)
    if "model_options" not in sig.parameters:
        raise TypeError(f"{command.__name__} must take a 'model_options' keyword argument")
    names = [n for n, _, _ in _SHARED]
    kept = [p for p in sig.parameters.values() if p.name != "model_options"]
    added = [
        inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, default=d, annotation=t)
        for n, t, d in _SHARED
    ]

    @functools.wraps(command)
    def wrapper(**kwargs):
        options = model_kwargs(**{n: kwargs.pop(n) for n in names})
        return command(**kwargs, model_options=options)

    wrapper.__signature__ = sig.replace(parameters=kept + added)
    wrapper.__annotations__ = {p.name: p.annotation for p in kept + added}
    if sig.return_annotation is not inspect.Signature.empty:
        wrapper.__annotations__["return"] = sig.return_annotation
    return wrapper
