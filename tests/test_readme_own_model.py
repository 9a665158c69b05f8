"""The README's "Evaluate your own model" examples run as written, on a tiny user setup:
a torchvision ResNet-18 saved as a state dict and as TorchScript, a folder of photos and a
CSV list of them, in the current directory."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import numpy as np
import pytest
import torch

README = Path(__file__).resolve().parents[1] / "README.md"


def _section_blocks(lang: str) -> list[str]:
    text = README.read_text()
    sec = text.split("### Evaluate your own model", 1)[1].split("\n### ", 1)[0]
    return re.findall(rf"```{lang}\n(.*?)```", sec, flags=re.S)


@pytest.fixture
def user_setup(tmp_path, monkeypatch):
    tv = pytest.importorskip("torchvision")
    from PIL import Image

    monkeypatch.chdir(tmp_path)
    torch.manual_seed(0)
    net = tv.models.resnet18(num_classes=10).eval()
    torch.save(net.state_dict(), "resnet18.pt")
    torch.jit.script(net).save("resnet18.ts")
    rng = np.random.default_rng(0)
    lines = ["path,label"]
    for c in range(10):  # the model's 10 classes, two photos each
        (tmp_path / "my_photos" / str(c)).mkdir(parents=True)
        for i in range(2):
            p = f"my_photos/{c}/{i}.png"
            Image.fromarray(rng.integers(0, 255, (72, 80, 3), dtype=np.uint8)).save(p)
            lines.append(f"{p},{c}")
    Path("my_list.csv").write_text("\n".join(lines) + "\n")
    return tmp_path


def test_readme_cli_examples_run(user_setup):
    from typer.testing import CliRunner

    from blurkit.cli import app

    (block,) = _section_blocks("bash")
    commands = [c for c in block.replace("\\\n", " ").splitlines() if c.strip()]
    assert len(commands) == 3
    for cmd in commands:
        args = shlex.split(cmd)
        assert args[0] == "blurkit"
        # as written, plus options that only make the tiny run faster
        fast = ["--critical-images", "2", "--flip-frames", "0", "--quiet"]
        r = CliRunner().invoke(app, [*args[1:], *fast])
        assert r.exit_code == 0, (cmd, r.output)
    assert (user_setup / "runs/mine/cells.csv").exists()
    assert (user_setup / "runs/features/report.html").exists()


def test_readme_python_example_runs(user_setup, capsys):
    (block,) = _section_blocks("python")
    exec(compile(block, "README.md", "exec"), {})
    out = capsys.readouterr().out
    assert "defocus_blur" in out and "accuracy" in out
