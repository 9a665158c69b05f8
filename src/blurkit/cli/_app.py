"""The typer application shared by every sub-command, and error reporting.

Every sub-command runs under one handler (:class:`_Group`), so that no user error ends
in a traceback:

- a :class:`~blurkit.BlurkitError` (bad input) prints ``error: <message>`` and exits 2;
- a known environment failure (device not available, permission denied, a path that is
  a file where a folder is needed or the reverse, disk full, out of memory) prints a
  one-line ``error: ...`` and exits 2;
- anything else prints ``internal error: <type>: <message>; rerun with --debug for the
  traceback`` and exits :data:`EXIT_INTERNAL`. ``blurkit --debug ...`` (or
  ``BLURKIT_DEBUG=1``) lets the traceback through instead.

Typer/click usage errors (unknown option, missing argument) are left to click (exit 2).
Warnings raised while a command runs are shown as one ``warning: ...`` line each.
"""

from __future__ import annotations

import errno
import os
import sys
import warnings
from typing import NoReturn

import typer
from rich.console import Console
from typer.core import TyperGroup

try:  # typer >= 0.2x carries its own copy of click
    from typer._click import exceptions as _click_exceptions
    from typer._click.globals import get_current_context
except ImportError:  # pragma: no cover - older typer, on click itself
    from click import exceptions as _click_exceptions
    from click import get_current_context


def _passthrough() -> tuple[type[BaseException], ...]:
    """Exceptions the handler leaves to typer/click: usage errors, exits, aborts."""
    found: list[type[BaseException]] = [typer.Exit, typer.Abort]
    mods = [_click_exceptions]
    try:
        import click.exceptions

        mods.append(click.exceptions)
    except ImportError:  # pragma: no cover
        pass
    for m in mods:
        found += [getattr(m, n) for n in ("ClickException", "Exit", "Abort") if hasattr(m, n)]
    return tuple(found)


_PASSTHROUGH = _passthrough()

#: exit status of an unexpected internal error (EX_SOFTWARE of sysexits.h)
EXIT_INTERNAL = 70
#: exit status of a user or environment error
EXIT_USER = 2

console = Console(stderr=True)


def _debug_requested(ctx) -> bool:
    if os.environ.get("BLURKIT_DEBUG", "").strip().lower() in ("1", "true", "yes", "on"):
        return True
    while ctx is not None:
        if ctx.params.get("debug"):
            return True
        ctx = ctx.parent
    return False


_OS_REASONS = (
    (PermissionError, "permission denied"),
    (IsADirectoryError, "is a folder, expected a file"),
    (NotADirectoryError, "a part of this path is a file, expected a folder"),
    (FileNotFoundError, "no such file or folder"),
)
_ERRNO_REASONS = {
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EROFS: "read-only file system",
    errno.ELOOP: "too many levels of symbolic links (a symlink loop)",
    errno.ENAMETOOLONG: "file name too long",
}
#: exceptions of file parsers that mean "this file is not what it claims to be"
_BAD_FILE_ERRORS = {
    "SafetensorError": "not a valid safetensors weights file",
    "UnpicklingError": "not a loadable weights file",
}
_DEVICE_HINTS = ("cuda", "nvidia driver", "mps backend", "no hip gpus", "xpu")


def describe_error(e: BaseException) -> tuple[int, str]:
    """The exit status and one-line message the CLI prints for an exception."""
    from .._checks import BlurkitError

    if isinstance(e, BlurkitError):
        return EXIT_USER, f"error: {e}"
    torch = sys.modules.get("torch")
    oom = getattr(getattr(torch, "cuda", None), "OutOfMemoryError", None) if torch else None
    if isinstance(e, MemoryError) or (oom is not None and isinstance(e, oom)):
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        return EXIT_USER, (
            "error: out of memory" + (f" ({first[:200]})" if first else "")
            + "; try a smaller --batch-size or --limit"
        )  # fmt: skip
    if isinstance(e, OSError):
        reason = _ERRNO_REASONS.get(e.errno)
        if reason is None:
            for cls, text in _OS_REASONS:
                if isinstance(e, cls):
                    reason = text
                    break
        if reason is None and isinstance(e, FileExistsError):
            isfile = e.filename is not None and os.path.isfile(e.filename)
            reason = "is an existing file, expected a folder" if isfile else "already exists"
        if reason is None:
            reason = e.strerror or str(e) or type(e).__name__
        # a failed os.replace(tmp, dst) names both: the destination is the user's path
        where = e.filename2 if getattr(e, "filename2", None) is not None else e.filename
        if where is not None:
            where = where if isinstance(where, str) else os.fsdecode(where)
            where = where.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
            return EXIT_USER, f"error: {where}: {reason}"
        return EXIT_USER, f"error: {reason}"
    text = str(e).strip()
    first = text.splitlines()[0] if text else ""
    if type(e).__name__ in _BAD_FILE_ERRORS:  # a weights file that does not parse
        return EXIT_USER, f"error: {_BAD_FILE_ERRORS[type(e).__name__]}: {first}"
    if isinstance(e, (RuntimeError, AssertionError)) and any(
        h in first.lower() for h in _DEVICE_HINTS
    ):
        return EXIT_USER, f"error: device not available: {first}"
    return EXIT_INTERNAL, (
        f"internal error: {type(e).__name__}: {first}; rerun with --debug for the traceback"
    )


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    text = str(message).strip().replace("\n", " ")
    from rich.markup import escape

    console.print(f"[yellow]warning:[/] {escape(text)}", highlight=False, soft_wrap=True)


class _Group(TyperGroup):
    """The ``blurkit`` group: runs a sub-command under the one error handler."""

    def invoke(self, ctx):
        with warnings.catch_warnings():
            warnings.showwarning = _show_warning
            try:
                return super().invoke(ctx)
            except _PASSTHROUGH:
                raise
            except Exception as e:
                if _debug_requested(ctx):
                    raise
                code, message = describe_error(e)
                console.print(message, highlight=False, markup=False, soft_wrap=True)
                raise typer.Exit(code) from None


app = typer.Typer(
    name="blurkit",
    help="Blur in computer vision: kernels, corruptions, measurement, robustness.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    cls=_Group,
)


def _version(value: bool) -> None:
    if value:
        from .. import __version__

        typer.echo(f"blurkit {__version__}")
        raise typer.Exit(0)


@app.callback()
def _main(
    debug: bool = typer.Option(
        False,
        "--debug",
        help="Show the full traceback of an error (also: BLURKIT_DEBUG=1).",
    ),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Blur in computer vision: kernels, corruptions, measurement, robustness."""


def fail(message: str, code: int = 2) -> NoReturn:
    """Print an error (no traceback) and exit non-zero."""
    from rich.markup import escape

    console.print(f"[bold red]error:[/] {escape(str(message))}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def run_on_files(images, label: str, run, *, progress_for_one: bool = True):
    """The loop of the file commands (``blur``, ``deblur``, ``measure``): expand ``images``
    (files and folders) to image files, fail when there are none, and call
    ``run(files, on_file)`` under a progress bar ``label`` that ``on_file`` advances; a
    :class:`~blurkit.BlurkitError` becomes a one-line error. Returns what ``run`` returns."""
    from rich.progress import Progress

    from .._checks import BlurkitError
    from ..io import iter_image_files

    files = list(iter_image_files(images))
    if not files:
        fail("no image files found")
    try:
        disable = not progress_for_one and len(files) < 2
        with Progress(console=console, transient=True, disable=disable) as progress:
            task = progress.add_task(label, total=len(files))
            return run(files, lambda _p: progress.advance(task))
    except BlurkitError as e:
        fail(str(e))


def report_files(result, out) -> None:
    """Print what a file command wrote and which files failed; exit 1 if any failed."""
    from ..io import display_path

    console.print(f"wrote {len(result.written)} image(s) to {out}")
    if result.failed:
        console.print(f"[bold red]{len(result.failed)} file(s) failed:[/]")
        for path, reason in result.failed:
            console.print(f"  {display_path(path)}: {reason}", highlight=False, markup=False)
        raise typer.Exit(1)


def hold_out_lock(out, command: str):
    """Take the lock of the output folder ``out`` (:func:`blurkit._lock.lock_out_dir`) for
    the running command; it is released when the command ends, also after an error."""
    from .._lock import lock_out_dir

    lock = lock_out_dir(out, command)
    ctx = get_current_context(silent=True)
    if ctx is not None:
        ctx.call_on_close(lock.release)
    return lock
