"""Shared validation of command-line options: one rule per kind of value.

Each factory returns a typer ``callback=`` that checks an option's value when the
command line is parsed and raises :class:`~blurkit.ParameterError` naming the option
(the CLI's handler prints it as one ``error: ...`` line, exit 2). ``None`` (an option
left unset) always passes. Example::

    limit: int = typer.Option(None, callback=positive_int())

Also :func:`parse_device` (``--device``: the device must exist on this machine) and
:func:`float_list` (comma-separated numbers such as ``--severities``).
"""

from __future__ import annotations

from collections.abc import Callable

from .._checks import ParameterError, check_int, check_scalar

__all__ = [
    "device_option",
    "finite_float",
    "float_list",
    "int_at_least",
    "nonneg_int",
    "option_name",
    "parse_device",
    "positive_int",
    "preset_option",
]


def option_name(param) -> str:
    """The longest spelling of a click parameter (``--batch-size``), or its name."""
    opts = list(getattr(param, "opts", None) or [])
    if opts:
        return max(opts, key=len)
    return str(getattr(param, "name", "value"))


def int_at_least(low: int, high: int | None = None) -> Callable:
    """A callback accepting integers in ``[low, high]`` (and ``None``)."""

    def callback(ctx, param, value):
        if value is None:
            return None
        return check_int(value, option_name(param), low=low, high=high)

    return callback


def positive_int() -> Callable:
    """A callback accepting integers >= 1 (and ``None``): batch sizes, limits, steps."""
    return int_at_least(1)


def nonneg_int() -> Callable:
    """A callback accepting integers >= 0 (and ``None``): seeds, counts where 0 skips."""
    return int_at_least(0)


def finite_float(
    low: float | None = None,
    high: float | None = None,
    *,
    low_inclusive: bool = True,
    high_inclusive: bool = True,
) -> Callable:
    """A callback accepting finite numbers within the bounds (and ``None``); NaN and
    infinities are refused."""

    def callback(ctx, param, value):
        if value is None:
            return None
        return check_scalar(
            value,
            option_name(param),
            low=low,
            high=high,
            low_inclusive=low_inclusive,
            high_inclusive=high_inclusive,
        )

    return callback


def float_list(
    text: str,
    name: str,
    *,
    low: float | None = None,
    high: float | None = None,
    low_inclusive: bool = True,
    high_inclusive: bool = True,
    allow_empty: bool = False,
) -> list[float]:
    """Comma-separated finite numbers within the bounds.

    >>> float_list("1, 2.5,5", "--severities", low=1, high=5)
    [1.0, 2.5, 5.0]
    >>> float_list("1,nan", "--severities")
    Traceback (most recent call last):
    ...
    blurkit._checks.ParameterError: --severities: expected a finite number, got nan
    """
    parts = [v.strip() for v in str(text).split(",") if v.strip()]
    values = []
    for v in parts:
        try:
            f = float(v)
        except ValueError:
            raise ParameterError(
                f"{name}: expected comma-separated numbers, got {text!r}"
            ) from None
        values.append(
            check_scalar(
                f, name, low=low, high=high,
                low_inclusive=low_inclusive, high_inclusive=high_inclusive,
            )
        )  # fmt: skip
    if not values and not allow_empty:
        raise ParameterError(f"{name}: expected at least one number, got {text!r}")
    return values


def parse_device(value: str | None, name: str = "--device") -> str | None:
    """Check that a device string names a device present on this machine.

    Accepts ``cpu``, ``cuda``, ``cuda:N``, ``mps`` and the other torch device types;
    refuses unknown strings, ``cuda`` without CUDA, ``cuda:N`` past the device count
    and ``mps`` without MPS, with a :class:`~blurkit.ParameterError`.

    >>> parse_device("cpu")
    'cpu'
    >>> parse_device("gpu0")
    Traceback (most recent call last):
    ...
    blurkit._checks.ParameterError: --device: expected cpu, cuda, cuda:N or mps, got 'gpu0'
    """
    if value is None:
        return None
    import torch

    text = str(value).strip()
    try:
        dev = torch.device(text)
    except (RuntimeError, ValueError, TypeError):
        raise ParameterError(f"{name}: expected cpu, cuda, cuda:N or mps, got {value!r}") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ParameterError(
                f"{name}: {text!r} is not available on this machine (torch.cuda.is_available() "
                "is False: no CUDA GPU, driver or CUDA build of torch); use --device cpu"
            )
        n = torch.cuda.device_count()
        if dev.index is not None and dev.index >= n:
            raise ParameterError(
                f"{name}: {text!r} does not exist; this machine has {n} CUDA device(s) "
                f"(cuda:0 to cuda:{n - 1})"
            )
    elif dev.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise ParameterError(f"{name}: 'mps' is not available on this machine; use cpu")
    elif dev.type != "cpu":
        mod = getattr(torch, dev.type, None)
        available = getattr(mod, "is_available", None)
        if available is None or not available():
            raise ParameterError(f"{name}: {text!r} is not available on this machine; use cpu")
    return text


def preset_option() -> Callable:
    """A callback accepting a severity-table name that some registered corruption has
    (``imagenet-c``, ``cifar-10-c``, ``natural``, ...) and ``None``."""

    def callback(ctx, param, value):
        if value is None:
            return None
        from .._checks import check_choice
        from ..corruptions import get_corruption, list_corruptions

        known = sorted({p for n in list_corruptions() for p in get_corruption(n).presets})
        return check_choice(value, option_name(param), known)

    return callback


def device_option() -> Callable:
    """A callback running :func:`parse_device` on ``--device``."""

    def callback(ctx, param, value):
        return parse_device(value, option_name(param))

    return callback
