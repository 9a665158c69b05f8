"""The HTML report is one self-contained file: every expected figure is an
embedded PNG, the tables are present, and nothing is fetched from elsewhere."""

from __future__ import annotations

import base64
import importlib.util
import io
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from blurkit import ParameterError
from blurkit.report import render_report
from blurkit.robustness.evaluate import evaluate

_spec = importlib.util.spec_from_file_location(
    "_evalkit", Path(__file__).parents[1] / "robustness" / "_evalkit.py"
)
kit = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(kit)


class _Collect(HTMLParser):
    def __init__(self):
        super().__init__()
        self.imgs, self.tables, self.links, self.scripts = {}, set(), [], 0

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "img":
            self.imgs[a.get("id")] = a.get("src", "")
        elif tag == "table":
            self.tables.add(a.get("id"))
        elif tag == "script":
            self.scripts += 1
        elif tag == "link" or (tag in ("a",) and a.get("href", "").startswith("http")):
            self.links.append(a)


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    data = kit.make_dataset(24)
    evaluate(
        kit.TinyNet(1),
        data,
        root / "a",
        corruptions=["box", "noise"],
        severities=[1, 2],
        corrupt_fn=kit.Counter(),
        flip_frames=3,
        flip_images=8,
        critical=("gaussian",),
        critical_images=8,
        examples=4,
    )
    evaluate(
        kit.TinyNet(2),
        data,
        root / "b",
        corruptions=["box", "noise"],
        severities=[1, 2],
        corrupt_fn=kit.Counter(),
        examples=4,
    )
    return root


def test_report_embeds_every_figure(results, tmp_path):
    out = render_report([results / "a", results / "b"], tmp_path / "r.html")
    p = _Collect()
    p.feed(out.read_text())
    expected = {
        "acc-box",
        "acc-noise",
        "critical-gaussian",
        "ssim-curve",
        "examples-box",
        "examples-noise",
        "kernel-box",
        "kernel-noise",
    }
    assert expected <= set(p.imgs)
    from PIL import Image

    for fid, src in p.imgs.items():
        assert src.startswith("data:image/png;base64,"), fid
        im = Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1])))
        assert im.format == "PNG" and min(im.size) > 8, fid
    assert {
        "summary-table",
        "corruption-table",
        "cells-table",
        "flip-table",
        "kernel-table",
    } <= p.tables
    assert p.scripts == 0 and not p.links
    text = out.read_text()
    assert "tiny1" in text and "tiny2" in text


def test_report_rejects_a_non_results_directory(tmp_path):
    with pytest.raises(ParameterError, match="not a blurkit results directory"):
        render_report([tmp_path], tmp_path / "r.html")


def test_report_renders_in_headless_chromium(results, tmp_path):
    exe = (
        shutil.which("chromium")
        or shutil.which("chromium-browser")
        or shutil.which("google-chrome")
    )
    if exe is None:
        pytest.skip("no chromium installed (the parser test above checks the structure)")
    out = render_report([results / "a"], tmp_path / "r.html")
    shot = tmp_path / "shot.png"
    subprocess.run(
        [
            exe,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            f"--screenshot={shot}",
            "--window-size=1200,2000",
            out.as_uri(),
        ],
        capture_output=True,
        timeout=120,
    )
    from PIL import Image

    im = Image.open(shot).convert("L")
    lo, hi = im.getextrema()
    assert hi - lo > 100  # something was drawn


def _header(text: str, table: str) -> list[str]:
    import re

    seg = text.split(f'id="{table}"', 1)[1].split("</tr>", 1)[0]
    return re.findall(r"<th[^>]*>(.*?)</th>", seg)


def test_no_empty_columns_and_the_alexnet_columns_only_on_the_imagenet_grid(tmp_path):
    data = kit.make_dataset(12)
    kw = dict(corrupt_fn=kit.Counter(), examples=0)
    evaluate(kit.TinyNet(1), data, tmp_path / "c", corruptions=["box"], severities=[1, 2], **kw)
    text = render_report([tmp_path / "c"], tmp_path / "c.html").read_text()
    for t in ("summary-table", "corruption-table"):
        head = _header(text, t)
        assert not [h for h in head if "AlexNet" in h or "baseline" in h or "flip prob" in h], t
    assert "mFP %" not in _header(text, "summary-table")  # no flip sweep was run
    assert "glass-note" not in text
    evaluate(
        kit.TinyNet(1), data, tmp_path / "i", corruptions=["defocus_blur"], preset="imagenet-c",
        **kw,
    )  # fmt: skip
    text = render_report([tmp_path / "i"], tmp_path / "i.html").read_text()
    assert "mCE (AlexNet) %" in _header(text, "summary-table")
    assert "CE (AlexNet) %" in _header(text, "corruption-table")


def test_cifar_glass_blur_note(tmp_path):
    from blurkit import list_corruptions

    if "glass_blur" not in list_corruptions():
        pytest.skip("glass_blur not registered")
    data = [(x[:, :8, :8].contiguous(), y, i) for x, y, i in kit.make_dataset(4)]
    evaluate(
        kit.TinyNet(1), data, tmp_path, corruptions=["glass_blur"], severities=[3, 4], examples=0
    )
    text = render_report([tmp_path], tmp_path / "r.html").read_text()
    assert "glass-note" in text and "4: (0.25, 1, 2)" in text and "not monotone" in text
