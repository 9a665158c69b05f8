"""``blurkit blur`` and ``blurkit kernels``: files in, files out, clear errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from blurkit import ParameterError
from blurkit.cli import app
from blurkit.files import blur_files
from blurkit.io import read_image

runner = CliRunner()


@pytest.fixture
def images(tmp_path):
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (40, 48, 3), dtype=np.uint8)).save(tmp_path / "rgb.png")
    Image.fromarray(rng.integers(0, 255, (36, 36), dtype=np.uint8)).save(
        tmp_path / "gray.jpg", quality=95
    )
    (tmp_path / "broken.png").write_bytes(b"not an image")
    return tmp_path


def test_blur_corruption_writes_files_and_reports_failures(images, tmp_path):
    out = tmp_path / "out"
    args = [
        "blur",
        str(images / "rgb.png"),
        str(images / "gray.jpg"),
        str(images / "broken.png"),
        str(images / "nope.png"),
    ]
    r = runner.invoke(
        app,
        [
            *args,
            "--corruption",
            "defocus_blur",
            "-s",
            "2",
            "--preset",
            "cifar-10-c",
            "--out",
            str(out),
        ],
    )
    assert r.exit_code == 1, r.output
    assert sorted(p.name for p in out.iterdir()) == ["gray.jpg", "rgb.png"]
    assert "broken.png" in r.output and "nope.png" in r.output and "2 file(s) failed" in r.output
    assert read_image(out / "gray.jpg").shape[0] == 1  # grayscale stays grayscale


def test_blur_same_seed_same_output_and_kernel_spec(images, tmp_path):
    for run in ("a", "b"):
        r = runner.invoke(
            app,
            [
                "blur",
                str(images / "rgb.png"),
                "-c",
                "motion_blur",
                "-s",
                "3",
                "--seed",
                "7",
                "--out",
                str(tmp_path / run),
            ],
        )
        assert r.exit_code == 0, r.output
    assert torch.equal(
        read_image(tmp_path / "a" / "rgb.png"), read_image(tmp_path / "b" / "rgb.png")
    )
    r = runner.invoke(
        app,
        [
            "blur",
            str(images / "rgb.png"),
            "--kernel",
            "defocus(radius=2.5)",
            "--out",
            str(tmp_path / "k"),
        ],
    )
    assert r.exit_code == 0, r.output
    blurred, clean = read_image(tmp_path / "k" / "rgb.png"), read_image(images / "rgb.png")
    assert blurred.std() < clean.std()  # smoothing lowers the contrast of noise


@pytest.mark.parametrize(
    "extra, message",
    [
        (["-c", "sharpen"], "unknown name 'sharpen'"),
        (["-c", "gaussian_blur", "-s", "6"], "severity"),
        (["-c", "gaussian_blur", "--preset", "tiny"], "preset"),
        (["--kernel", "defocus(radius=-1)"], "radius"),
        (["--kernel", "gaussian(sigma=1e9)"], "sigma"),
        (["--kernel", "defocus(radius=30)"], "larger than the image"),
        (["--kernel", "gaussian(sigma="], "cannot parse"),
        ([], "exactly one of"),
    ],
)
def test_blur_bad_input_exits_nonzero_with_a_message(images, tmp_path, extra, message):
    r = runner.invoke(app, ["blur", str(images / "rgb.png"), *extra, "--out", str(tmp_path / "o")])
    assert r.exit_code != 0
    assert message in " ".join(r.output.split()), r.output
    assert "Traceback" not in r.output


def test_blur_nan_pixels_reported(tmp_path):
    arr = np.full((16, 16), np.nan, dtype=np.float32)
    Image.fromarray(arr, mode="F").save(tmp_path / "nan.tif")
    res = blur_files([tmp_path / "nan.tif"], tmp_path / "o", kernel="gaussian(sigma=1.0)")
    # Pillow reads float TIFFs; non-finite pixels are reported, not blurred into garbage
    assert res.written == [] and len(res.failed) == 1
    assert "NaN" in res.failed[0][1]


def test_blur_files_api_validates_before_reading(tmp_path):
    with pytest.raises(ParameterError, match="severity"):
        blur_files([tmp_path / "missing.png"], tmp_path, corruption="zoom_blur", severity=0)


def test_kernels_gallery(tmp_path):
    out = tmp_path / "g.png"
    r = runner.invoke(app, ["kernels", "--out", str(out)])
    assert r.exit_code == 0, r.output
    im = Image.open(out)
    assert im.size[0] > 600 and im.size[1] > 200
    r = runner.invoke(app, ["kernels", "--list"])
    assert "defocus" in r.output and "motion" in r.output
    r = runner.invoke(app, ["kernels", "-k", "nosuch(a=1)", "--out", str(out)])
    assert r.exit_code == 2 and "unknown family" in r.output
