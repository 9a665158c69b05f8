"""The result store: atomic writes, the resume guard, and runs that resume after
being killed end with exactly the results of an uninterrupted run."""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from blurkit.robustness.evaluate import evaluate, spread_positions
from blurkit.robustness.store import ResultStore, ResumeError, atomic_write, read_cells_csv

HERE = Path(__file__).parent
_spec = importlib.util.spec_from_file_location("_evalkit", HERE / "_evalkit.py")
kit = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(kit)

GRID = dict(
    corruptions=["box", "noise"],
    severities=[1, 2, 3],
    batch_size=8,
    examples=2,
    flip_frames=3,
    flip_images=6,
)
N_CELLS = 1 + 2 * 3


def test_atomic_write_replaces_and_leaves_no_temp(tmp_path):
    p = tmp_path / "d" / "x.json"
    atomic_write(p, "one")
    atomic_write(p, b"two")
    assert p.read_text() == "two"
    assert sorted(os.listdir(p.parent)) == ["x.json"]


def test_resume_guard(tmp_path):
    st = ResultStore(tmp_path)
    st.open_model("m", {"seed": 0, "preset": "cifar-10-c"})
    st.open_model("m", {"preset": "cifar-10-c", "seed": 0})  # same config: resumes
    with pytest.raises(ResumeError, match="seed: stored 0, now 1"):
        st.open_model("m", {"seed": 1, "preset": "cifar-10-c"})
    st.save("m", "cell", "clean@0", {"row": {}})
    st.open_model("m", {"seed": 1, "preset": "cifar-10-c"}, overwrite=True)
    assert not st.has("m", "cell", "clean@0")


def test_evaluate_refuses_to_mix_configurations(tmp_path):
    data = kit.make_dataset(12)
    evaluate(
        kit.TinyNet(1),
        data,
        tmp_path,
        corruptions=["box"],
        severities=[1],
        corrupt_fn=kit.Counter(),
        examples=0,
    )
    with pytest.raises(ResumeError):
        evaluate(
            kit.TinyNet(1),
            data,
            tmp_path,
            corruptions=["box"],
            seed=3,
            corrupt_fn=kit.Counter(),
            examples=0,
        )
    # a different model under the same name is a different configuration too
    with pytest.raises(ResumeError, match="weights"):
        m = kit.TinyNet(2)
        m.name = "tiny1"
        evaluate(m, data, tmp_path, corruptions=["box"], corrupt_fn=kit.Counter(), examples=0)


class Stop(Exception):
    pass


def _files(root: Path) -> dict[str, bytes]:
    skip = {"records"}
    out = {}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root)
        if p.is_file() and rel.parts[0] not in skip:
            out[str(rel)] = p.read_bytes()
    return out


@pytest.mark.parametrize("stop_after", [1, 2])
def test_resume_after_interruption_gives_identical_results(tmp_path, stop_after):
    data = kit.make_dataset(20)
    grid = {**GRID, "chunk_size": 6}  # 4 chunks: 6 + 6 + 6 + 2 images
    ref = tmp_path / "ref"
    evaluate(kit.TinyNet(1), data, ref, corrupt_fn=kit.Counter(), **grid)

    out = tmp_path / "run"
    done = []

    def on_chunk(model, n_done, total):
        done.append(n_done)
        if len(done) == stop_after:
            raise Stop

    with pytest.raises(Stop):
        evaluate(kit.TinyNet(1), data, out, corrupt_fn=kit.Counter(), on_chunk=on_chunk, **grid)
    chunks = out / "records" / "tiny1" / "chunk"
    assert len(list(chunks.glob("*.npz"))) == stop_after
    assert not (out / "records" / "tiny1" / "cell").exists() and not (out / "cells.csv").exists()
    fn = kit.Counter()
    evaluate(kit.TinyNet(1), data, out, corrupt_fn=fn, **grid)
    # the rerun computed only the missing chunks: one batch per chunk (chunk 6 < batch 8),
    # 6 corrupted cells per batch, plus the flip sweep on the chunks' swept images
    missing = range(stop_after, 4)
    swept = set(spread_positions(20, GRID["flip_images"]))
    flip_batches = sum(1 for k in missing if swept & set(range(6 * k, min(6 * k + 6, 20))))
    report_calls = 6 + 6  # example strips of the 6 corrupted cells + 6 kernel thumbnails
    assert fn.calls == 6 * len(missing) + 3 * 2 * flip_batches + report_calls
    a, b = _files(ref), _files(out)
    assert a.keys() == b.keys() and "cells.csv" in a and "summary.json" in a
    for k in a:
        assert a[k] == b[k], k
    rows = read_cells_csv(out / "cells.csv")
    assert len(rows) == N_CELLS and rows[0]["corruption"] == "clean"


def test_chunk_size_and_workers_do_not_change_results(tmp_path):
    data = kit.make_dataset(20)
    evaluate(kit.TinyNet(1), data, tmp_path / "a", corrupt_fn=kit.Counter(), **GRID)
    evaluate(
        kit.TinyNet(1), data, tmp_path / "b", corrupt_fn=kit.Counter(), chunk_size=3,
        num_workers=2, **{**GRID, "batch_size": 2},
    )  # fmt: skip
    a, b = _files(tmp_path / "a"), _files(tmp_path / "b")
    assert a.keys() == b.keys()
    for k in a:
        assert a[k] == b[k], k


_SCRIPT = """
import sys, time
sys.path.insert(0, {kit!r})
import _evalkit as kit
from blurkit.robustness.evaluate import evaluate

class Slow(kit.Counter):
    def __call__(self, *a, **k):
        time.sleep({delay})
        return super().__call__(*a, **k)

evaluate(kit.TinyNet(1), kit.make_dataset(20), {out!r}, corrupt_fn=Slow(), chunk_size=4,
         **{grid!r})
print("finished")
"""


def test_resume_after_sigkill(tmp_path):
    out = tmp_path / "killed"
    script = tmp_path / "run.py"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    script.write_text(_SCRIPT.format(kit=str(HERE), out=str(out), grid=GRID, delay=0.25))
    proc = subprocess.Popen(
        [sys.executable, str(script)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    chunks = out / "records" / "tiny1" / "chunk"  # 5 chunks of 4 images
    deadline = time.time() + 60
    while time.time() < deadline and len(list(chunks.glob("*.npz"))) < 2:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    n_done = len(list(chunks.glob("*.npz")))
    assert 2 <= n_done < 5, "the run was not killed part-way"
    assert not (out / "cells.csv").exists()
    # resume in this process (the same code path as a fresh command)
    grid = {**GRID, "chunk_size": 4}
    evaluate(kit.TinyNet(1), kit.make_dataset(20), out, corrupt_fn=kit.Counter(), **grid)
    ref = tmp_path / "ref"
    evaluate(kit.TinyNet(1), kit.make_dataset(20), ref, corrupt_fn=kit.Counter(), **grid)
    a, b = _files(ref), _files(out)
    assert a.keys() == b.keys()
    for k in a:
        assert a[k] == b[k], k
