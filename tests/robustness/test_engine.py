"""The streaming engine: shards merged equal one process, each image decoded once per
model, autocast and channels-last, and a task plugged in without touching the engine."""

from __future__ import annotations

import importlib.util
import multiprocessing as mp
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from blurkit import ParameterError
from blurkit.robustness import (
    EvalConfig,
    ResumeError,
    Task,
    evaluate_model,
    list_tasks,
    merge_results,
    register_task,
)
from blurkit.robustness.tasks import TASKS

_spec = importlib.util.spec_from_file_location("_evalkit", Path(__file__).with_name("_evalkit.py"))
kit = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(kit)

GRID = dict(
    corruptions=["box", "noise"],
    severities=[1, 3],
    batch_size=4,
    chunk_size=5,
    examples=3,
    flip_frames=3,
    flip_images=7,
    critical=("gaussian",),
    critical_images=4,
)


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.relative_to(root).parts[0] not in ("records",)
    }


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("one")
    r = evaluate_model(kit.TinyNet(1), kit.make_dataset(23), out, corrupt_fn=kit.Counter(), **GRID)
    return out, r


def test_two_shards_merged_equal_one_process(tmp_path, reference):
    ref, _ = reference
    data = kit.make_dataset(23)
    for i in range(2):
        r = evaluate_model(
            kit.TinyNet(1), data, tmp_path / f"s{i}", corrupt_fn=kit.Counter(), shard=f"{i}/2",
            **GRID,
        )  # fmt: skip
        assert not r.complete and r.rows == [] and not (tmp_path / f"s{i}" / "cells.csv").exists()
    # shard 1 holds chunks 1 and 3 only; shard 0 also the examples and the critical blur
    assert len(list((tmp_path / "s1" / "records" / "tiny1" / "chunk").glob("*.npz"))) == 2
    assert not (tmp_path / "s1" / "examples").exists()
    with pytest.raises(ParameterError, match="missing"):
        merge_results([tmp_path / "s0"], tmp_path / "partial")
    m = merge_results([tmp_path / "s0", tmp_path / "s1"], tmp_path / "merged")
    a, b = _files(ref), _files(tmp_path / "merged")
    assert a.keys() == b.keys() and "cells.csv" in a and "summary.json" in a
    for k in a:
        assert a[k] == b[k], k
    assert len(m.rows) == 5


def test_shards_sharing_one_directory_and_the_merge_command(tmp_path, reference):
    from blurkit.cli import app

    ref, _ = reference
    data = kit.make_dataset(23)
    shared = tmp_path / "shared"
    for i in (2, 0, 1):  # any order
        evaluate_model(kit.TinyNet(1), data, shared, corrupt_fn=kit.Counter(), shard=(i, 3), **GRID)
    res = CliRunner().invoke(app, ["merge", str(shared), "--out", str(shared), "--no-report"])
    assert res.exit_code == 0, res.output
    assert (shared / "cells.csv").read_bytes() == (ref / "cells.csv").read_bytes()
    assert (shared / "summary.json").read_bytes() == (ref / "summary.json").read_bytes()


def test_merge_refuses_shards_of_different_runs(tmp_path):
    data = kit.make_dataset(10)
    kw = dict(corruptions=["box"], severities=[1], chunk_size=5, examples=0)
    evaluate_model(
        kit.TinyNet(1), data, tmp_path / "a", corrupt_fn=kit.Counter(), shard="0/2", **kw
    )
    evaluate_model(
        kit.TinyNet(1), data, tmp_path / "b", corrupt_fn=kit.Counter(), shard="1/2", seed=1, **kw
    )
    with pytest.raises(ResumeError, match="different"):
        merge_results([tmp_path / "a", tmp_path / "b"], tmp_path / "m")
    with pytest.raises(ParameterError, match="shard"):
        evaluate_model(kit.TinyNet(1), data, tmp_path / "c", shard="2/2", **kw)


class Counted(torch.utils.data.Dataset):
    """Counts every item read, across loader worker processes."""

    def __init__(self, items):
        self.items = items
        self.reads = mp.Value("i", 0)

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        with self.reads.get_lock():
            self.reads.value += 1
        return self.items[i]


@pytest.mark.parametrize("workers", [0, 2])
def test_each_image_is_read_once_per_model(tmp_path, workers):
    data = Counted(kit.make_dataset(19))
    r = evaluate_model(
        [kit.TinyNet(1), kit.TinyNet(2)], data, tmp_path, corruptions=["box", "noise"],
        severities=[1, 2, 3], corrupt_fn=kit.Counter(), batch_size=4, chunk_size=8,
        num_workers=workers, flip_frames=3, flip_images=5, examples=0,
    )  # fmt: skip
    assert data.reads.value == 2 * 19  # 7 cells and a flip sweep, one read per image and model
    assert len(r.rows) == 14


def test_bf16_autocast_and_channels_last_on_cpu(tmp_path):
    data = kit.make_dataset(16)
    kw = dict(corruptions=["box"], severities=[1], corrupt_fn=kit.Counter(), examples=0)
    ref = evaluate_model(kit.TinyNet(1), data, tmp_path / "a", **kw)

    class Probe(kit.TinyNet):
        dtypes: list = []

        def forward(self, x):
            self.dtypes.append((torch.get_autocast_dtype("cpu"), torch.is_autocast_enabled("cpu")))
            return super().forward(x)

    p = Probe(1)
    r = evaluate_model(p, data, tmp_path / "b", amp="bf16", channels_last=True, **kw)
    assert p.dtypes and all(d == (torch.bfloat16, True) for d in p.dtypes)
    for x, y in zip(ref.rows, r.rows, strict=True):  # bf16 changes few predictions of 16
        assert abs(x["accuracy"] - y["accuracy"]) <= 0.25
    with pytest.raises(ParameterError, match="amp"):
        evaluate_model(kit.TinyNet(1), data, tmp_path / "c", amp="fp8", **kw)


def test_a_new_task_plugs_in_without_touching_the_engine(tmp_path):
    @register_task("toy-mean")
    class MeanTask(Task):
        """Per image: the mean output; per cell: its average and the change from clean."""

        columns = ("mean_output", "mean_change")

        def records(self, outputs, labels, indices, clean=None):
            rec = {"mean": outputs.mean(1).cpu().numpy()}
            if clean is not None:
                rec["change"] = (outputs - clean).abs().mean(1).cpu().numpy()
            return rec

        def metrics(self, records, corruption, clean=None):
            assert (clean is None) == (corruption == "clean")
            if clean is not None:  # the clean cell's records, aligned image by image
                assert np.array_equal(clean["indices"], records["indices"])
            ch = records.get("change")
            return {
                "mean_output": float(np.mean(records["mean"])),
                "mean_change": float(np.mean(ch)) if ch is not None else 0.0,
            }

    try:
        assert "toy-mean" in list_tasks()
        data = kit.make_dataset(12)
        model = kit.TinyNet(1)
        r = evaluate_model(
            model, data, tmp_path, task="toy-mean", corruptions=["box"], severities=[2],
            corrupt_fn=kit.Counter(), examples=0, chunk_size=5,
        )  # fmt: skip
        header = (tmp_path / "cells.csv").read_text().splitlines()[0]
        assert header == "model,corruption,severity,n,mean_output,mean_change,preset,seed"
        x = torch.stack([d[0] for d in data])
        with torch.no_grad():
            clean = model(x)
        assert r.rows[0]["mean_output"] == pytest.approx(float(clean.mean()), abs=1e-6)
        assert r.rows[0]["mean_change"] == 0.0 and r.rows[1]["mean_change"] > 0
    finally:
        TASKS.pop("toy-mean", None)
    with pytest.raises(ParameterError, match="task"):
        evaluate_model(kit.TinyNet(1), kit.make_dataset(4), tmp_path / "x", task="nope")


def test_config_dataclass_and_unknown_options(tmp_path):
    cfg = EvalConfig(corruptions=["box"], severities=[1], examples=0)
    r = evaluate_model(kit.TinyNet(1), kit.make_dataset(8), tmp_path, cfg, corrupt_fn=kit.Counter())
    assert [row["corruption"] for row in r.cells] == ["clean", "box"]
    with pytest.raises(ParameterError, match="unknown"):
        evaluate_model(kit.TinyNet(1), kit.make_dataset(8), tmp_path, cfg, severites=[1])
    with pytest.raises(ParameterError, match="num_workers"):
        evaluate_model(kit.TinyNet(1), kit.make_dataset(8), tmp_path, cfg, num_workers=-1)


def test_adding_cells_to_a_finished_run_computes_only_them(tmp_path):
    data = kit.make_dataset(11)
    kw = dict(severities=[1], chunk_size=4, examples=0, batch_size=4)
    evaluate_model(
        kit.TinyNet(1), data, tmp_path / "r", corruptions=["box"], corrupt_fn=kit.Counter(), **kw
    )
    fn = kit.Counter()
    evaluate_model(
        kit.TinyNet(1), data, tmp_path / "r", corruptions=["box", "noise"], corrupt_fn=fn, **kw
    )
    assert {n for call in fn.seeds for n in call} and fn.calls == 3  # noise only, 3 chunks
    evaluate_model(
        kit.TinyNet(1),
        data,
        tmp_path / "f",
        corruptions=["box", "noise"],
        corrupt_fn=kit.Counter(),
        **kw,
    )
    assert (tmp_path / "r" / "cells.csv").read_bytes() == (
        tmp_path / "f" / "cells.csv"
    ).read_bytes()


def test_to_pandas_without_pandas(monkeypatch, reference):
    import sys

    _, r = reference
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(ImportError, match="pip install pandas"):
        r.to_pandas()
