"""``blurkit evaluate`` and its output folder: a corrupt record is recomputed with a
warning, the folder is locked while a run writes it, ``--format`` prints the summary."""

from __future__ import annotations

import csv
import io
import json
import os
import socket
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from blurkit.cli import app

runner = CliRunner()

TINY = [
    "evaluate",
    "--limit",
    "8",
    "-c",
    "gaussian_blur",
    "--severities",
    "2",
    "--no-critical",
    "--flip-frames",
    "0",
    "--examples",
    "0",
    "--no-report",
    "-q",
]


def _evaluate(out, *extra):
    return runner.invoke(app, [*TINY, "--out", str(out), *extra])


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("eval") / "out"
    r = _evaluate(out)
    assert r.exit_code == 0, r.output
    return out, (out / "cells.csv").read_text()


def test_truncated_record_is_recomputed_with_a_warning(first_run, tmp_path):
    import shutil

    src, cells = first_run
    out = tmp_path / "out"
    shutil.copytree(src, out)
    rec = next((out / "records").glob("*/cell/gaussian_blur_2.json"))
    data = rec.read_bytes()
    rec.write_bytes(data[: len(data) // 2])  # a copy cut short
    r = _evaluate(out)
    assert r.exit_code == 0, r.output
    assert "Traceback" not in r.output
    warn = [ln for ln in r.output.splitlines() if ln.startswith("warning:")]
    assert len(warn) == 1 and rec.name in warn[0] and "recomputed" in warn[0], r.output
    assert (out / "cells.csv").read_text() == cells  # the same final table
    assert json.loads(rec.read_text())["row"]["corruption"] == "gaussian_blur"
    assert rec.with_name(rec.name + ".corrupt").exists()  # kept aside for inspection


def test_record_that_is_not_an_object_is_recomputed(first_run, tmp_path):
    import shutil

    src, cells = first_run
    out = tmp_path / "out"
    shutil.copytree(src, out)
    rec = next((out / "records").glob("*/cell/clean_0.json"))
    rec.write_text("[1, 2]")
    r = _evaluate(out)
    assert r.exit_code == 0, r.output
    assert "warning:" in r.output and (out / "cells.csv").read_text() == cells


def test_corrupt_config_is_a_one_line_error(first_run, tmp_path):
    import shutil

    src, _ = first_run
    out = tmp_path / "out"
    shutil.copytree(src, out)
    cfg = next((out / "records").glob("*/config.json"))
    cfg.write_text('{"hash": ')
    r = _evaluate(out)
    assert r.exit_code == 2, r.output
    line = r.output.strip().splitlines()[-1]
    assert line.startswith("error: ") and "is corrupt" in line and "--overwrite" in line


def _write_lock(out, pid, host=None):
    out.mkdir(parents=True, exist_ok=True)
    (out / ".lock").write_text(
        json.dumps({"pid": pid, "host": host or socket.gethostname(), "command": "evaluate"})
    )


def test_out_in_use_by_a_live_run_is_refused(tmp_path):
    out = tmp_path / "out"
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        _write_lock(out, live.pid)
        for cmd in (TINY, ["attack"], ["train", "--data", "sample"], ["study", "--data", "x"]):
            r = runner.invoke(app, [*cmd, "--out", str(out)])
            assert r.exit_code == 2, r.output
            line = r.output.strip().splitlines()[-1]
            assert line.startswith("error: --out: ") and "in use by another run" in line
            assert f"pid {live.pid}" in line
        assert not (out / "cells.csv").exists()
        assert json.loads((out / ".lock").read_text())["pid"] == live.pid  # left alone
    finally:
        live.kill()
        live.wait()


def test_lock_of_another_host_is_refused_with_a_hint(tmp_path):
    out = tmp_path / "out"
    _write_lock(out, 1, host="some-other-host")
    r = runner.invoke(app, [*TINY, "--out", str(out)])
    assert r.exit_code == 2
    assert "delete" in r.output and ".lock" in r.output


def test_stale_lock_is_taken_over_with_a_note_and_released(tmp_path):
    out = tmp_path / "out"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    _write_lock(out, dead.pid)
    r = _evaluate(out)
    assert r.exit_code == 0, r.output
    note = [ln for ln in r.output.splitlines() if ln.startswith("warning:")]
    assert len(note) == 1 and f"stale lock of pid {dead.pid}" in note[0], r.output
    assert (out / "cells.csv").exists()
    assert not (out / ".lock").exists()  # released at exit


def test_lock_is_released_after_an_error(tmp_path):
    out = tmp_path / "out"
    r = runner.invoke(app, [*TINY, "--out", str(out), "--data", str(tmp_path / "missing")])
    assert r.exit_code == 2, r.output
    assert out.is_dir() and not (out / ".lock").exists()


def test_a_second_lock_in_the_same_process_is_refused(tmp_path):
    from blurkit._lock import OutputLockedError, lock_out_dir

    with lock_out_dir(tmp_path, "evaluate"):
        with pytest.raises(OutputLockedError, match="in use by another run"):
            lock_out_dir(tmp_path, "train")
    lock_out_dir(tmp_path, "train").release()  # free again


def test_lock_holds_pid_and_host(tmp_path):
    from blurkit._lock import lock_out_dir

    lock = lock_out_dir(tmp_path, "attack")
    try:
        rec = json.loads((tmp_path / ".lock").read_text())
        assert rec["pid"] == os.getpid() and rec["host"] == socket.gethostname()
        assert rec["command"] == "attack"
    finally:
        lock.release()


def test_format_json_and_csv_on_stdout(first_run, tmp_path):
    import shutil

    src, _ = first_run
    out = tmp_path / "out"
    shutil.copytree(src, out)  # resumes: nothing to compute
    r = _evaluate(out, "--format", "json")
    assert r.exit_code == 0, r.output
    text = r.stdout
    summary = json.loads(text[: text.rindex("}") + 1])
    assert summary == json.loads((out / "summary.json").read_text())
    r = _evaluate(out, "--format", "csv")
    assert r.exit_code == 0, r.output
    rows = list(csv.DictReader(io.StringIO(r.stdout.split("results in")[0])))
    assert len(rows) == 1 and set(rows[0]) >= {"model", "clean_accuracy", "mean_blur_accuracy"}
    assert float(rows[0]["clean_accuracy"]) == summary["models"][rows[0]["model"]]["clean_accuracy"]
    r = _evaluate(out)  # table by default
    assert r.exit_code == 0 and "blur robustness" in r.stdout
