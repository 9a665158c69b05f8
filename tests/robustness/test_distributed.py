"""Two CPU processes with the gloo backend (launched as torchrun would: RANK,
WORLD_SIZE, MASTER_ADDR, MASTER_PORT) give the same cells as one process."""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
from pathlib import Path

from blurkit.data import shard_indices
from blurkit.robustness.distributed import init_distributed
from blurkit.robustness.evaluate import evaluate

HERE = Path(__file__).parent
_spec = importlib.util.spec_from_file_location("_evalkit", HERE / "_evalkit.py")
kit = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(kit)

GRID = dict(
    corruptions=["box", "noise"],
    severities=[1, 3],
    batch_size=4,
    chunk_size=6,  # 4 chunks dealt to the 2 ranks
    examples=3,
    flip_frames=3,
    flip_images=7,
)

_SCRIPT = """
import sys
sys.path.insert(0, {kit!r})
import _evalkit as kit
from blurkit.robustness.evaluate import evaluate

r = evaluate(kit.TinyNet(1), kit.make_dataset(21), {out!r}, corrupt_fn=kit.Counter(), **{grid!r})
print("rank done", len(r.rows))
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_shards_cover_every_image_once():
    n, w = 23, 3
    got = sorted(i for r in range(w) for i in shard_indices(n, (r, w)))
    import blurkit.robustness

    assert blurkit.robustness.shard_indices is shard_indices  # one function, one signature
    assert got == list(range(n))


def test_single_process_context():
    ctx = init_distributed("cpu")
    assert (ctx.rank, ctx.world, ctx.is_main, ctx.active) == (0, 1, True, False)


def test_two_gloo_processes_match_one(tmp_path):
    out = tmp_path / "dist"
    script = tmp_path / "run.py"
    script.write_text(_SCRIPT.format(kit=str(HERE), out=str(out), grid=GRID))
    port = _free_port()
    procs = []
    for rank in range(2):
        env = {
            **os.environ,
            "OMP_NUM_THREADS": "1",
            "RANK": str(rank),
            "LOCAL_RANK": str(rank),
            "WORLD_SIZE": "2",
            "MASTER_ADDR": "127.0.0.1",
            "MASTER_PORT": str(port),
        }
        procs.append(
            subprocess.Popen(
                [sys.executable, str(script)],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    outs = [p.communicate(timeout=180) for p in procs]
    for p, (_so, se) in zip(procs, outs, strict=True):
        assert p.returncode == 0, se[-3000:]
    ref = tmp_path / "one"
    evaluate(kit.TinyNet(1), kit.make_dataset(21), ref, corrupt_fn=kit.Counter(), **GRID)
    assert (out / "cells.csv").read_bytes() == (ref / "cells.csv").read_bytes()
    assert (out / "summary.json").read_bytes() == (ref / "summary.json").read_bytes()
    for name in ("box@3.png", "meta.json"):
        assert (out / "examples" / name).read_bytes() == (ref / "examples" / name).read_bytes()
    assert "rank done 5" in outs[0][0] and "rank done 0" in outs[1][0]
