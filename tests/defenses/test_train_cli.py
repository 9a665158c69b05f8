"""`blurkit train` end to end on a tiny ImageFolder tree / tar archive: every method,
resume after a kill, and DDP under torchrun with two gloo processes."""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from blurkit._checks import ParameterError
from blurkit.cli import app
from blurkit.defenses.methods import load_trained, train_model
from blurkit.defenses.training import TrainConfig, train_classifier


def _make_tree(root: Path, n_per_class: int = 24) -> Path:
    """Two classes that differ in texture frequency (learnable, blur-sensitive)."""
    g = np.random.default_rng(0)
    for ci, name in enumerate(("coarse", "fine")):
        d = root / name
        d.mkdir(parents=True)
        for i in range(n_per_class):
            base = g.random((8 if ci == 0 else 32, 8 if ci == 0 else 32, 3))
            img = np.kron(base, np.ones((4, 4, 1))) if ci == 0 else base
            Image.fromarray((img * 255).astype(np.uint8)).save(d / f"{i:03d}.png")
    return root


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    root = _make_tree(tmp_path_factory.mktemp("tree") / "train")
    tar = root.parent / "train.tar"
    with tarfile.open(tar, "w") as tf:
        tf.add(root, arcname="train")
    return root, tar


_COMMON = ["--model", "airnet-tiny", "--batch-size", "16", "--threads", "1", "-q"]


@pytest.mark.parametrize(
    "method,extra",
    [
        ("baseline", []),
        ("augment", ["--families", "gaussian=0.5:1.5,motion=1:4"]),
        ("adversarial", ["--adv-steps", "1", "--adv-fraction", "0.5"]),
        ("consistency", ["--families", "gaussian,defocus"]),
        ("adversarial_consistency", ["--adv-steps", "1", "--adv-fraction", "0.5"]),
    ],
)
def test_train_each_method_one_epoch(tiny_data, tmp_path, method, extra):
    root, tar = tiny_data
    data = tar if method in ("baseline", "adversarial") else root  # both readers
    out = tmp_path / method
    r = CliRunner().invoke(
        app, ["train", "--data", str(data), "--out", str(out), "--method", method]
        + _COMMON + extra,
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    for f in ("checkpoint.pt", "model.pt", "model.safetensors", "summary.json"):
        assert (out / f).exists(), f
    clf = load_trained(out)
    assert clf.classes == ["coarse", "fine"]
    assert clf(torch.rand(2, 3, 32, 32)).shape == (2, 2)
    # the bundled-format copy loads to the same network
    clf2 = load_trained(out / "model.safetensors")
    x = torch.rand(3, 3, 32, 32)
    torch.testing.assert_close(clf(x), clf2(x), rtol=1e-5, atol=1e-5)


def test_bad_method_is_an_error(tiny_data, tmp_path):
    r = CliRunner().invoke(
        app, ["train", "--data", str(tiny_data[0]), "--out", str(tmp_path), "--method", "nope"]
    )
    assert r.exit_code != 0 and "method" in r.output


class _Killed(Exception):
    pass


def test_killed_run_resumes_to_the_same_weights(tiny_data, tmp_path):
    root, _ = tiny_data
    kw = dict(
        model="airnet-tiny", method="augment", epochs=2, batch_size=16, threads=1,
        method_options={"families": ["gaussian", "motion"]}, log=lambda s: None,
    )  # fmt: skip
    full = train_model(root, tmp_path / "full", **kw)

    def kill(epoch):
        if epoch == 1:
            raise _Killed  # the process dies right after the first epoch's checkpoint

    with pytest.raises(_Killed):
        train_model(root, tmp_path / "resumed", on_epoch_end=kill, **kw)
    assert not (tmp_path / "resumed" / "model.pt").exists()
    lines = []
    train_model(root, tmp_path / "resumed", **{**kw, "log": lines.append})
    assert any(line.startswith("resumed") for line in lines)
    a = torch.load(tmp_path / "full" / "model.pt", weights_only=True)["state_dict"]
    b = torch.load(tmp_path / "resumed" / "model.pt", weights_only=True)["state_dict"]
    assert full["epochs"] == 2
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=0, msg=k)


# --------------------------------------------------------------------------- DDP

_DDP_SCRIPT = textwrap.dedent(
    """
    import sys, torch, torch.distributed as dist
    from blurkit.defenses.training import TrainConfig, train_classifier
    sys.path.insert(0, sys.argv[2])
    from _ddp_model import make, data
    dist.init_process_group("gloo")
    torch.set_num_threads(1)
    model = make()
    x, y = data()
    cfg = TrainConfig(epochs=2, batch_size=16, lr=0.1, threads=1, translate=2, log_every=1000)
    train_classifier(model, x, y, cfg, log=lambda s: None)
    flat = torch.cat([p.detach().flatten() for p in model.parameters()])
    out = [torch.zeros_like(flat) for _ in range(dist.get_world_size())]
    dist.all_gather(out, flat)
    if dist.get_rank() == 0:
        torch.save(torch.stack(out), sys.argv[1])
    dist.destroy_process_group()
    """
)

_DDP_MODEL = textwrap.dedent(
    """
    import torch
    def make():
        torch.manual_seed(0)
        # no BatchNorm: per-process batch statistics would differ from one process's
        return torch.nn.Sequential(
            torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(4),
            torch.nn.Flatten(), torch.nn.Linear(64, 2))
    def data():
        g = torch.Generator().manual_seed(1)
        x = (torch.rand(48, 16, 16, 3, generator=g) * 255).to(torch.uint8)
        return x, (x.float().mean((1, 2, 3)) > 127.5).long()
    """
)


def test_ddp_two_gloo_processes_match_one_process(tmp_path):
    """Two processes with the same global batch reach the weights one process reaches
    (BN-free model, so per-process batch statistics play no part): the gradient of the
    global batch is the mean of the two halves' gradients, averaged by DDP."""
    (tmp_path / "_ddp_model.py").write_text(_DDP_MODEL)
    script = tmp_path / "ddp.py"
    script.write_text(_DDP_SCRIPT)
    out = tmp_path / "w.pt"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    r = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
         "--master_port", "29561", str(script), str(out), str(tmp_path)],
        capture_output=True, text=True, timeout=240, env=env,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr[-3000:]
    w = torch.load(out)
    torch.testing.assert_close(w[0], w[1], rtol=0, atol=0)  # synchronised
    sys.path.insert(0, str(tmp_path))
    try:
        from _ddp_model import data, make
    finally:
        sys.path.remove(str(tmp_path))
    model = make()
    x, y = data()
    cfg = TrainConfig(epochs=2, batch_size=16, lr=0.1, threads=1, translate=2, log_every=1000)
    train_classifier(model, x, y, cfg, log=lambda s: None)
    single = torch.cat([p.detach().flatten() for p in model.parameters()])
    moved = (single - torch.cat([p.detach().flatten() for p in make().parameters()])).abs().max()
    assert moved > 1e-3  # training did something
    torch.testing.assert_close(w[0], single, rtol=1e-4, atol=1e-5)


def test_adversarial_consistency_is_the_adversary_plus_the_js_term():
    from blurkit.defenses.methods import AUGMIX_WEIGHT, make_method

    step = make_method("adversarial_consistency", adversary={"steps": 1})
    assert step.name == "adversarial_consistency" and step.consistency_weight == AUGMIX_WEIGHT
    assert make_method("adversarial").consistency_weight == 0.0
    with pytest.raises(ParameterError, match="consistency_weight"):
        make_method("adversarial_consistency", consistency_weight=0.0)


def test_blur_share_sets_the_blurred_fraction_of_every_batch(tiny_data, tmp_path):
    from blurkit.defenses.methods import make_method

    step = make_method("augment", families=["gaussian"], blur_share=0.75)
    for progress in (0.0, 0.5, 1.0):  # constant from the first step
        step.schedule.step(step.blur, progress)
        assert step.blur.p == 0.75
    with pytest.raises(ParameterError, match="blur_share"):
        make_method("consistency", blur_share=0.5)  # every view is blurred there
    with pytest.raises(ParameterError, match="blur_share"):
        make_method("augment", blur_share=1.5)
    root, _ = tiny_data
    args = ["train", "--data", str(root), "--out", str(tmp_path / "a"), "--method", "augment",
            "--families", "gaussian", "--blur-share", "1", *_COMMON]  # fmt: skip
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(app, [*args[: -len(_COMMON)], "--blur-share", "2", *_COMMON])
    assert r.exit_code == 2 and "--blur-share" in r.output
