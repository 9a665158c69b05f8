"""A family registered before collection enters the contract suite with no edit to it.

A plugin (``-p toy_families``) registers a toy kernel family and a toy corruption the
way a user's package would (``register_kernel``, ``register_corruption``); a pytest run
of the contract modules in a subprocess must then collect and pass every contract test
for both names.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent
ROOT = HERE.parents[1]

PLUGIN = '''
import math

import torch

from blurkit.corruptions import Corruption, register_corruption
from blurkit.kernels import register_kernel


@register_kernel("toy_box")
def toy_box_kernel(width=1.5, size=None, *, device=None, dtype=None):
    """A soft box, batched over width and differentiable in it."""
    dtype = dtype or torch.get_default_dtype()
    w = torch.as_tensor(width, device=device).to(dtype).reshape(-1)
    side = size or 2 * math.ceil(float(w.detach().max())) + 1
    r = (torch.arange(side, device=w.device, dtype=dtype) - side // 2).abs()
    g = torch.sigmoid(3.0 * (w[:, None] - r))
    k = g[:, :, None] * g[:, None, :]
    return (k / k.sum((-2, -1), keepdim=True))[:, None]


def _fade(images, severity, preset, **params):
    return (images * (1 - 0.1 * severity) + 0.05 * severity).clamp(0, 1)


register_corruption(Corruption("toy_fade", _fade, description="a toy"))
'''

#: contract module -> the toy name its tests must run on
EXPECTED = {
    "test_kernels.py": "toy_box",
    "test_blur_engine.py": "toy_box",
    "test_corruptions.py": "toy_fade",
}


def _test_functions(module: str) -> set[str]:
    return set(re.findall(r"^    def (test_\w+)", (HERE / module).read_text(), re.M))


def test_a_family_registered_by_a_plugin_enters_every_contract_test(tmp_path):
    (tmp_path / "toy_families.py").write_text(PLUGIN)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(tmp_path), str(ROOT / "src"), env.get("PYTHONPATH", "")]
    )
    cmd = [sys.executable, "-m", "pytest", "-q", "-rA", "-p", "no:cacheprovider"]
    cmd += ["-p", "toy_families", "-k", "toy_box or toy_fade"]
    r = subprocess.run(
        cmd + [str(HERE / m) for m in EXPECTED],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    passed = re.findall(r"^PASSED \S*?(test_\w+\.py)::\w+::(test_\w+)\[([^\]]+)\]", r.stdout, re.M)
    for module, name in EXPECTED.items():
        ran = {fn for mod, fn, ids in passed if mod == module and name in ids.split("-")}
        # every contract test of the module ran on the toy family, and passed
        assert ran == _test_functions(module), (module, sorted(_test_functions(module) - ran))
