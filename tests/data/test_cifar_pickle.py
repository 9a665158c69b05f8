"""CIFAR python batches go through a restricted unpickler: a payload never runs."""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest
from typer.testing import CliRunner

from blurkit._checks import BlurkitError, ParameterError, UnsafeFileError
from blurkit.data import open_dataset


class _Payload:
    """Pickles as a call of os.system that would create ``marker``."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _write_batch(path, obj, protocol=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        pickle.dump(obj, f, protocol=protocol)


def _good(n=4):
    rng = np.random.default_rng(0)
    return {b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8), b"labels": [0, 1, 2, 1][:n]}


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_real_batches_load_under_every_protocol(tmp_path, protocol):
    d = tmp_path / "cifar-10-batches-py"
    _write_batch(d / "test_batch", _good(), protocol)
    _write_batch(d / "batches.meta", {b"label_names": [b"a", b"b", b"c"]}, protocol)
    ds = open_dataset(tmp_path)
    assert len(ds) == 4 and ds.classes == ["a", "b", "c"] and ds[3][1] == 1


@pytest.mark.parametrize("where", ["batch", "meta", "nested"])
def test_payload_in_a_batch_never_runs(tmp_path, where):
    marker = tmp_path / "PWNED"
    d = tmp_path / "cifar-10-batches-py"
    batch, meta = _good(), {b"label_names": [b"a", b"b", b"c"]}
    if where == "batch":
        batch = _Payload(marker)
    elif where == "meta":
        meta = _Payload(marker)
    else:
        batch[b"filenames"] = [_Payload(marker)]
    _write_batch(d / "test_batch", batch)
    _write_batch(d / "batches.meta", meta)
    with pytest.raises(UnsafeFileError, match="posix.system|os.system|nt.system"):
        open_dataset(tmp_path)
    assert not marker.exists()


def test_payload_via_evaluate_cli_never_runs(tmp_path):
    from blurkit.cli import app

    marker = tmp_path / "PWNED"
    batch = tmp_path / "test_batch"
    _write_batch(batch, _Payload(marker))
    r = CliRunner().invoke(
        app,
        ["evaluate", "--data", str(batch), "--out", str(tmp_path / "o"), "--no-report", "-q",
         "--corruptions", "gaussian_blur", "--severities", "1", "--no-critical",
         "--flip-frames", "0"],
    )  # fmt: skip
    assert r.exit_code == 2, r.output
    assert "refused" in r.output
    assert not marker.exists()


@pytest.mark.parametrize(
    "batch,match",
    [
        ({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}, r"\(N, 3072\)"),
        ({b"data": np.zeros((2, 3072), np.float32), b"labels": [0, 1]}, "uint8"),
        ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0]}, "expected 2 labels"),
        ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, -1]}, "non-negative"),
        ({b"labels": [0]}, "no b'data'"),
        ([1, 2, 3], "no b'data'"),
    ],
)
def test_malformed_batches_are_typed_errors(tmp_path, batch, match):
    _write_batch(tmp_path / "test_batch", batch)
    with pytest.raises(ParameterError, match=match):
        open_dataset(tmp_path / "test_batch")


def test_truncated_pickle_is_a_typed_error(tmp_path):
    f = tmp_path / "test_batch"
    f.write_bytes(pickle.dumps(_good())[:500])
    with pytest.raises(BlurkitError, match="not a readable CIFAR batch"):
        open_dataset(f)
