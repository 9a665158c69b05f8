"""The CLI's one error handler: user errors and known OS failures are one line, exit 2;
internal errors say so (exit 70) and ``--debug`` lets the traceback through."""

from __future__ import annotations

import errno
import os

import pytest
import torch
from typer.testing import CliRunner

from blurkit import __version__
from blurkit.cli import app, cmd_evaluate
from blurkit.cli._app import EXIT_INTERNAL, describe_error

runner = CliRunner()


def _one_error_line(output: str, start: str = "error:") -> str:
    lines = [ln for ln in output.splitlines() if ln.strip()]
    hits = [ln for ln in lines if ln.startswith(start)]
    assert len(hits) == 1, output
    assert "Traceback" not in output, output
    return hits[0]


def _raising(exc):
    def fake(*args, **kwargs):
        raise exc

    return fake


def test_version():
    r = runner.invoke(app, ["--version"])
    assert r.exit_code == 0, r.output
    assert r.output.strip() == f"blurkit {__version__}"


def test_usage_errors_stay_clicks():
    r = runner.invoke(app, ["evaluate", "--no-such-option"])
    assert r.exit_code == 2
    assert "No such option" in r.output


@pytest.mark.parametrize(
    "exc, expected",
    [
        (PermissionError(errno.EACCES, "Permission denied", "/x/out"), "/x/out: permission denied"),
        (OSError(errno.ENOSPC, "No space left on device", "/x/o.json"), "no space left"),
        (IsADirectoryError(errno.EISDIR, "Is a directory", "/x/d"), "/x/d: is a folder"),
        (NotADirectoryError(errno.ENOTDIR, "Not a directory", "/x/f/o"), "expected a folder"),
        (MemoryError(), "out of memory"),
        (RuntimeError("Found no NVIDIA driver on your system."), "device not available"),
    ],
)
def test_known_os_failures_are_one_line_exit_2(monkeypatch, tmp_path, exc, expected):
    monkeypatch.setattr(cmd_evaluate, "run_evaluate", _raising(exc))
    r = runner.invoke(app, ["evaluate", "--out", str(tmp_path / "o")])
    assert r.exit_code == 2, r.output
    assert expected in _one_error_line(r.output), r.output


def test_existing_file_error_names_the_file(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    code, msg = describe_error(FileExistsError(errno.EEXIST, "File exists", str(f)))
    assert code == 2 and msg == f"error: {f}: is an existing file, expected a folder"


def test_internal_error_points_to_debug(monkeypatch, tmp_path):
    monkeypatch.setattr(cmd_evaluate, "run_evaluate", _raising(KeyError("boom")))
    r = runner.invoke(app, ["evaluate", "--out", str(tmp_path / "o")])
    assert r.exit_code == EXIT_INTERNAL == 70, r.output
    line = _one_error_line(r.output, "internal error:")
    assert "KeyError" in line and "boom" in line and "--debug" in line


def test_debug_flag_and_env_let_the_traceback_through(monkeypatch, tmp_path):
    monkeypatch.setattr(cmd_evaluate, "run_evaluate", _raising(KeyError("boom")))
    r = runner.invoke(app, ["--debug", "evaluate", "--out", str(tmp_path / "o")])
    assert isinstance(r.exception, KeyError)  # not turned into a message
    assert "internal error" not in r.output
    monkeypatch.setenv("BLURKIT_DEBUG", "1")
    r = runner.invoke(app, ["evaluate", "--out", str(tmp_path / "o2")])
    assert isinstance(r.exception, KeyError)


def test_blurkit_error_from_the_engine_is_one_line(monkeypatch, tmp_path):
    from blurkit import ParameterError

    monkeypatch.setattr(cmd_evaluate, "run_evaluate", _raising(ParameterError("data: nope")))
    r = runner.invoke(app, ["evaluate", "--out", str(tmp_path / "o")])
    assert r.exit_code == 2
    assert _one_error_line(r.output) == "error: data: nope"


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
@pytest.mark.parametrize("cmd", ["evaluate", "attack"])
def test_device_cuda_without_cuda_is_refused_up_front(tmp_path, cmd):
    r = runner.invoke(app, [cmd, "--device", "cuda", "--out", str(tmp_path / "o")])
    assert r.exit_code == 2, r.output
    assert "--device: 'cuda' is not available" in _one_error_line(r.output)
    assert not (tmp_path / "o").exists()  # refused before anything is written


def test_device_unknown_string_and_missing_index(tmp_path):
    r = runner.invoke(app, ["evaluate", "--device", "gpu0", "--out", str(tmp_path / "o")])
    assert r.exit_code == 2
    assert "--device: expected cpu, cuda, cuda:N or mps" in _one_error_line(r.output)


def test_out_that_is_an_existing_file(tmp_path):
    f = tmp_path / "results"
    f.write_text("not a folder")
    for cmd in (["evaluate"], ["attack"]):
        r = runner.invoke(app, [*cmd, "--out", str(f)])
        assert r.exit_code == 2, r.output
        assert "is an existing file; expected a folder" in _one_error_line(r.output)
    r = runner.invoke(app, ["evaluate", "--out", str(f / "sub")])
    assert r.exit_code == 2 and "a part of the path is a file" in _one_error_line(r.output)


def test_out_not_writable(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        if os.access(ro, os.W_OK):  # root ignores the mode: try a folder the kernel refuses
            target = "/sys/blurkit-cli-test"
            try:
                os.mkdir(target)
                os.rmdir(target)
                pytest.skip("no unwritable folder available")
            except PermissionError:
                pass
            except OSError:
                pytest.skip("no unwritable folder available")
        else:
            target = str(ro / "o")
        r = runner.invoke(app, ["evaluate", "--out", target])
        assert r.exit_code == 2, r.output
        assert "permission denied" in _one_error_line(r.output)
    finally:
        ro.chmod(0o700)


def test_failed_replace_names_the_destination():
    e = IsADirectoryError(errno.EISDIR, "Is a directory", "/x/.r.html.tmp", None, "/x/out")
    assert describe_error(e) == (2, "error: /x/out: is a folder, expected a file")


def test_malformed_weights_file_is_a_user_error():
    SafetensorError = type("SafetensorError", (Exception,), {})
    code, msg = describe_error(SafetensorError("header too small"))
    assert code == 2 and msg == "error: not a valid safetensors weights file: header too small"


def test_parse_device_on_any_machine():
    from blurkit import ParameterError
    from blurkit.cli._options import parse_device

    assert parse_device("cpu") == "cpu" and parse_device(None) is None
    with pytest.raises(ParameterError, match="--device"):
        parse_device("cuda:99")  # no machine has 100 GPUs
    if torch.cuda.is_available():
        assert parse_device("cuda") == "cuda"
