"""The bundled assets folder: the one place that says where blurkit's shipped files live.

``src/blurkit/assets`` holds the CIFAR-10 sample archive, the bundled model and deblurring
weights and the ImageNet class list (packaged by ``[tool.setuptools.package-data]``).
Every module that reads one of them goes through :func:`asset_path`.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["ASSETS", "asset_path"]

#: the folder of the bundled files (inside the installed package)
ASSETS = Path(__file__).resolve().parent / "assets"


def asset_path(name: str) -> Path:
    """The path of the bundled file ``name`` (it may not exist, e.g. weights not trained yet).

    >>> asset_path("imagenet_classes.tsv").name
    'imagenet_classes.tsv'
    """
    return ASSETS / name
