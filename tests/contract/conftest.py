"""Fixtures of the contract suite: ``device`` (cpu; cuda when a GPU is present, else a
clean skip), ``dtype`` (float32, float64) and the registered names.

The names are read from the public listing functions at collection time
(``pytest_generate_tests``), so a family registered before collection (by a plugin,
a conftest or a user's package) enters every contract test without an edit here:
``test_registration.py`` proves it.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
import torch

# the base tester, importable by the test modules as ``_contract_base`` (the suite runs
# under ``--import-mode=importlib``, where a test folder is not a package)
_spec = importlib.util.spec_from_file_location(
    "_contract_base", Path(__file__).with_name("_base.py")
)
_base = importlib.util.module_from_spec(_spec)
sys.modules["_contract_base"] = _base
_spec.loader.exec_module(_base)


@pytest.fixture(params=["cpu", "cuda"])
def device(request):
    """The device of a contract test. On CUDA the float32 convolutions and matrix
    products run in IEEE float32, not TF32 (cuDNN's default): the suite checks the
    library's arithmetic at the tolerances of float32, and TF32 (a 10-bit mantissa) is
    a precision the user chooses globally, which the library then follows."""
    if request.param == "cuda" and not torch.cuda.is_available():
        pytest.skip("cuda: no GPU on this machine (torch.cuda.is_available() is False)")
    if request.param != "cuda":
        yield torch.device(request.param)
        return
    conv, mm = torch.backends.cudnn.conv, torch.backends.cuda.matmul
    saved = conv.fp32_precision, mm.fp32_precision
    conv.fp32_precision = mm.fp32_precision = "ieee"
    try:
        yield torch.device("cuda")
    finally:
        conv.fp32_precision, mm.fp32_precision = saved


@pytest.fixture(params=[torch.float32, torch.float64], ids=["float32", "float64"])
def dtype(request) -> torch.dtype:
    return request.param


def kernel_names() -> list[str]:
    from blurkit.kernels import list_kernels

    return list_kernels()


def corruption_names() -> list[str]:
    from blurkit.corruptions import list_corruptions

    return list_corruptions()


def measure_names() -> list[str]:
    from blurkit.measure import list_metrics

    return list_metrics()


def deblurrer_names() -> list[str]:
    from blurkit.defenses.deblur import DEBLUR_METHODS

    return list(DEBLUR_METHODS)


def random_blur_families() -> list[str]:
    """What :class:`~blurkit.defenses.RandomBlur` mixes: its default families and every
    corruption."""
    from blurkit.defenses import RandomBlur

    return sorted(set(RandomBlur().family_names) | set(corruption_names()))


#: fixture name -> the listing it is parametrised over
NAMED = {
    "kernel_name": kernel_names,
    "corruption_name": corruption_names,
    "measure_name": measure_names,
    "deblurrer_name": deblurrer_names,
    "random_blur_family": random_blur_families,
}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    for fixture, names in NAMED.items():
        if fixture in metafunc.fixturenames:
            got = names()
            assert got, f"{fixture}: the registry lists no names"
            metafunc.parametrize(fixture, got, ids=got)
