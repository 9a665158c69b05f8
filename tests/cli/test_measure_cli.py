"""``blurkit measure``: formats, folders, reference, sorting/threshold, unreadable files."""

from __future__ import annotations

import csv
import io
import json

import pytest
import torch
from typer.testing import CliRunner

from blurkit.cli import app
from blurkit.io import write_image
from blurkit.kernels import gaussian_blur


@pytest.fixture(scope="module")
def folder(tmp_path_factory, photos_uint8):
    d = tmp_path_factory.mktemp("photos")
    x = torch.from_numpy(photos_uint8["coffee"][:128, :128].copy()).permute(2, 0, 1).float() / 255
    write_image(d / "sharp.png", x)
    write_image(d / "sub" / "soft.png", gaussian_blur(x, 1.0))
    write_image(d / "sub" / "blurry.jpg", gaussian_blur(x, 3.0))
    (d / "broken.png").write_bytes(b"not an image")
    return d


def _run(*args):
    return CliRunner().invoke(app, ["measure", *map(str, args)])


def test_json_walks_folder_and_skips_unreadable(folder):
    r = _run(folder, "--format", "json", "--estimate", "gaussian")
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout[r.stdout.index("{") :])
    names = sorted(p["path"].rsplit("/", 1)[-1] for p in data["results"])
    assert names == ["blurry.jpg", "sharp.png", "soft.png"]
    assert [s["path"].rsplit("/", 1)[-1] for s in data["skipped"]] == ["broken.png"]
    by = {p["path"].rsplit("/", 1)[-1]: p for p in data["results"]}
    assert by["blurry.jpg"]["sigma"] > by["soft.png"]["sigma"] > by["sharp.png"]["sigma"]
    assert by["blurry.jpg"]["blur_effect"] > by["sharp.png"]["blur_effect"]
    assert "broken.png" in r.stderr


def test_csv_sort_and_threshold_flag_blurry(folder):
    r = _run(
        folder / "sub",
        folder / "sharp.png",
        "-m",
        "laplacian_variance",
        "-f",
        "csv",
        "--sort",
        "laplacian_variance",
        "--threshold",
        "0.002",
    )
    assert r.exit_code == 0, r.output
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert [x["path"].rsplit("/", 1)[-1] for x in rows] == ["blurry.jpg", "soft.png", "sharp.png"]
    assert [x["blurry"] for x in rows] == ["True", "True", "False"]
    assert "2 of 3 images flagged blurry" in r.stderr


def test_reference_adds_fidelity_columns(folder):
    r = _run(
        folder / "sub" / "soft.png", "-m", "none", "--reference", folder / "sharp.png", "-f", "json"
    )
    assert r.exit_code == 0, r.output
    row = json.loads(r.stdout)["results"][0]
    assert set(row) >= {"psnr", "ssim", "ms_ssim"} and 0 < row["ssim"] < 1


def test_table_is_default_and_list(folder):
    r = _run(folder / "sharp.png")
    assert r.exit_code == 0 and "cpbd" in r.stdout
    r = _run(folder, "--list")
    assert r.exit_code == 0 and "Narvekar" in r.stdout


def test_bad_options(folder):
    assert _run(folder, "-m", "nope").exit_code != 0
    assert _run(folder, "-f", "xml").exit_code != 0
    assert _run(folder / "broken.png").exit_code == 1  # nothing measurable
