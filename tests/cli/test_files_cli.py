"""File commands on odd folders: a file name that is not UTF-8, an empty folder,
symlink loops and broken links."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from blurkit.cli import app
from blurkit.io import display_path, iter_image_files

runner = CliRunner()

BAD = b"bad\xff.png"


def _png(path, seed=0):
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 255, (24, 24, 3), dtype=np.uint8)).save(path)


@pytest.fixture
def odd_folder(tmp_path):
    d = tmp_path / "imgs"
    d.mkdir()
    for i, n in enumerate("abcde"):
        _png(d / f"{n}.png", i)
    try:
        fd = os.open(os.path.join(os.fsencode(d), BAD), os.O_WRONLY | os.O_CREAT, 0o644)
    except (OSError, UnicodeError):
        pytest.skip("this file system refuses non-UTF-8 names")
    os.write(fd, (d / "a.png").read_bytes())
    os.close(fd)
    return d


def test_blur_goes_on_past_a_non_utf8_name(odd_folder, tmp_path):
    out = tmp_path / "out"
    r = runner.invoke(app, ["blur", str(odd_folder), "-c", "gaussian_blur", "-o", str(out)])
    assert r.exit_code == 0, r.output
    names = sorted(os.listdir(os.fsencode(out)))
    assert names == sorted([BAD, *(f"{n}.png".encode() for n in "abcde")])
    assert "wrote 6 image(s)" in r.output
    assert repr(BAD) in r.output  # the odd one is reported, by its bytes


def test_measure_goes_on_past_a_non_utf8_name(odd_folder):
    r = runner.invoke(app, ["measure", str(odd_folder), "-m", "laplacian_variance", "-f", "json"])
    assert r.exit_code == 0, r.output
    text = r.stdout
    rows = json.loads(text[text.index("{") : text.rindex("}") + 1])["results"]
    assert len(rows) == 6
    odd = [x["path"] for x in rows if "bad" in x["path"]]
    assert odd == [display_path(os.fsdecode(os.path.join(os.fsencode(odd_folder), BAD)))]
    assert odd[0].endswith("bad\\xff.png")
    assert repr(BAD) in r.output


def test_measure_csv_goes_on_past_a_non_utf8_name(odd_folder):
    # CliRunner's stdout encodes strictly, like a UTF-8 terminal: a raw name would not print
    r = runner.invoke(app, ["measure", str(odd_folder), "-m", "laplacian_variance", "-f", "csv"])
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert lines[0] == "path,height,width,laplacian_variance" and len(lines) == 7
    assert sum("bad\\xff.png" in ln for ln in lines) == 1


@pytest.mark.parametrize(
    "cmd",
    [
        ["blur", "-c", "gaussian_blur"],
        ["deblur", "--kernel", "gaussian(sigma=1.0)"],
        ["measure"],
    ],
)
def test_empty_folder_exits_2_everywhere(tmp_path, cmd):
    empty = tmp_path / "empty"
    empty.mkdir()
    args = [cmd[0], str(empty), *cmd[1:]]
    if cmd[0] != "measure":
        args += ["-o", str(tmp_path / "out")]
    r = runner.invoke(app, args)
    assert r.exit_code == 2, r.output
    assert r.output.strip() == "error: no image files found"


def test_symlink_loops_are_reported_and_do_not_hang(tmp_path):
    d = tmp_path / "imgs"
    (d / "sub").mkdir(parents=True)
    _png(d / "a.png")
    _png(d / "sub" / "b.png")
    os.symlink(d, d / "sub" / "loop")  # a folder linking back up
    os.symlink(d / "x.png", d / "y.png")  # two links pointing at each other
    os.symlink(d / "y.png", d / "x.png")
    os.symlink(tmp_path / "gone.png", d / "broken.png")
    issues = []
    files = list(iter_image_files([d], issues=issues))
    assert [f.name for f in files] == ["a.png", "b.png"]
    reasons = {os.path.basename(p): why for p, why in issues}
    assert "symlink loop" in reasons["loop"]
    assert "symlink loop" in reasons["x.png"] and "symlink loop" in reasons["y.png"]
    assert "broken symlink" in reasons["broken.png"]
    r = runner.invoke(app, ["measure", str(d), "-m", "laplacian_variance", "-f", "csv"])
    assert r.exit_code == 0, r.output
    assert r.output.count("warning:") == 4 and "loop" in r.output


def test_symlinked_folders_are_followed(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    _png(real / "a.png")
    d = tmp_path / "imgs"
    d.mkdir()
    os.symlink(real, d / "linked")
    assert [f.name for f in iter_image_files([d])] == ["a.png"]
