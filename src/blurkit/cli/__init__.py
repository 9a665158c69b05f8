"""The ``blurkit`` command: thin typer wrappers over the Python API.

Each sub-command lives in its own module under ``blurkit.cli`` and registers on
:data:`app`; each parses arguments and calls one public function.
"""

from __future__ import annotations

import importlib

from ._app import app, console, fail

# sub-command modules, imported for their registrations
_COMMANDS = (
    "kernels",
    "blur",
    "measure",
    "models",
    "evaluate",
    "merge",
    "attack",
    "train",
    "study",
    "deblur",
    "report",
    "demo",
    "compare_features",
    "fit",
)

for _name in _COMMANDS:
    importlib.import_module(f"{__name__}.cmd_{_name}")


def main() -> None:
    """Console-script entry point."""
    app()


__all__ = ["app", "console", "fail", "main"]
