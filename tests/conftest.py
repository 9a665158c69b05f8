"""Shared fixtures: natural test photographs, synthetic images, the shared data folder."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

SHARED_DATA = Path(
    os.environ.get(
        "BLURKIT_SHARED_DATA", Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
    )
).resolve()


def shared_data_path(*parts: str) -> Path:
    """Path under ../shared/data, or skip the test with a reason when it is absent."""
    p = SHARED_DATA.joinpath(*parts)
    if not p.exists():
        pytest.skip(f"needs {p} (the project's shared data folder, absent in a fresh clone)")
    return p


@pytest.fixture(scope="session")
def shared_data():
    """:func:`shared_data_path` for tests (under ``--import-mode=importlib`` a test module
    cannot import this conftest, so it asks for the fixture instead of copying the helper):
    ``shared_data("levin", "im01_ker01.mat")`` is the path, or the test is skipped."""
    return shared_data_path


def _skimage_photos() -> dict[str, np.ndarray]:
    from skimage import data

    names = ["astronaut", "coffee", "chelsea", "rocket", "camera", "cat"]
    out = {}
    for n in names:
        img = getattr(data, n)()
        if img.ndim == 2:
            img = np.stack([img] * 3, -1)
        out[n] = img[..., :3]
    return out


@pytest.fixture(scope="session")
def photos_uint8() -> dict[str, np.ndarray]:
    """scikit-image's sample photographs as uint8 HWC RGB arrays."""
    return _skimage_photos()


def center_crop_uint8(img: np.ndarray, size: int) -> np.ndarray:
    """Resize the shorter side to ``size`` (PIL bicubic) and centre-crop to size x size."""
    from PIL import Image

    im = Image.fromarray(img)
    w, h = im.size
    s = size / min(w, h)
    im = im.resize((max(size, round(w * s)), max(size, round(h * s))), Image.BICUBIC)
    w, h = im.size
    left, top = (w - size) // 2, (h - size) // 2
    return np.asarray(im.crop((left, top, left + size, top + size)))


def to_tensor(img: np.ndarray, dtype=torch.float32) -> torch.Tensor:
    """uint8 HWC -> float CHW in [0, 1]."""
    return torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1).to(dtype) / 255.0


@pytest.fixture
def rng() -> torch.Generator:
    return torch.Generator().manual_seed(0)
