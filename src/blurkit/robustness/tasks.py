"""Task adapters: what the evaluation engine asks of a task, and the classification task.

The engine (:mod:`blurkit.robustness.engine`) knows no task. For every batch and
every cell (corruption, severity) it runs the model on the corrupted images and
hands the outputs to the task, which turns them into *per-image records*
(small arrays, one entry per image). The records of a cell accumulate over the
whole dataset (chunk by chunk, resumable, across shards and processes); when
they are complete the task turns them into the cell's columns of ``cells.csv``
and, over all cells, into ``summary.json``.

A new task (an encoder / embedding task, detection) subclasses :class:`Task`
and registers under a name::

    @register_task("embedding")
    class EmbeddingTask(Task):
        columns = ("cosine", "cosine_low", "cosine_high", ...)
        def records(self, outputs, labels, indices, clean=None): ...
        def metrics(self, records, corruption, clean=None): ...

after which ``blurkit.evaluate(..., task="embedding")`` runs it on the same
suites, severities and per-image seeds, without a change to the engine.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import ClassVar

import numpy as np
import torch

from .._checks import ParameterError, check_int
from .._json import to_jsonable as jsonable
from .._registry import Registry
from .critical import critical_blur
from .metrics import flip_probability, wilson_interval

__all__ = [
    "Task",
    "ClassificationTask",
    "TASKS",
    "register_task",
    "get_task",
    "list_tasks",
]

#: name -> task class (the generic registry: "did you mean" on a miss)
TASKS: Registry[type[Task]] = Registry("task", what="task", known="registered")


def register_task(name: str) -> Callable[[type[Task]], type[Task]]:
    """Class decorator: make a :class:`Task` subclass available as ``task=name``."""

    def deco(cls: type[Task]) -> type[Task]:
        if not (isinstance(cls, type) and issubclass(cls, Task)):
            raise ParameterError(f"register_task: expected a Task subclass, got {cls!r}")
        cls.name = name
        TASKS.add(name, cls)
        return cls

    return deco


def list_tasks() -> list[str]:
    """Names of the registered tasks."""
    return TASKS.names()


def get_task(name: str) -> type[Task]:
    """The task class registered as ``name``."""
    return TASKS.get_entry(name)


class Task:
    """What the engine asks of a task. Subclasses override the methods marked *required*.

    Attributes:
        name: the registry name (set by :func:`register_task`).
        columns: the task's columns of ``cells.csv``, in order; the engine adds
            ``model, corruption, severity, n`` in front and ``preset, seed`` after.
    """

    name: ClassVar[str] = ""
    columns: ClassVar[tuple[str, ...]] = ()

    # --- binding ------------------------------------------------------------------------
    @classmethod
    def for_model(cls, model: torch.nn.Module, dataset, config=None, **options) -> Task:
        """The task bound to one model and dataset (e.g. its number of classes);
        ``config`` is the run's :class:`~blurkit.robustness.config.EvalConfig`,
        ``options`` its ``task_options``."""
        return cls(**options)

    def config(self) -> dict:
        """JSON-able settings: part of the resume guard, and enough for
        :meth:`from_config` to rebuild the task when shards are merged."""
        return {}

    @classmethod
    def from_config(cls, config: Mapping) -> Task:
        """The task of a stored configuration (:meth:`config`'s keys)."""
        return cls()

    # --- per batch ------------------------------------------------------------------------
    def outputs(self, model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
        """The model's outputs on a batch of pixel-space images (default: ``model(x)``)."""
        return model(x)

    def records(
        self,
        outputs: torch.Tensor,
        labels: torch.Tensor,
        indices: torch.Tensor,
        clean: torch.Tensor | None = None,
    ) -> dict[str, np.ndarray]:
        """*Required.* Per-image records of one batch of one cell: a dict of arrays whose
        first axis is the batch. ``clean`` is :meth:`outputs` on the same images
        uncorrupted (``None`` in the clean cell itself). The engine adds ``indices``."""
        raise NotImplementedError

    # --- per cell ---------------------------------------------------------------------------
    def metrics(
        self,
        records: Mapping[str, np.ndarray],
        corruption: str,
        clean: Mapping[str, np.ndarray] | None = None,
    ) -> dict:
        """*Required.* The cell's columns (:attr:`columns`) from its complete records
        (all images, sorted by dataset index, ``records["indices"]`` included);
        ``clean``: the clean cell's complete records in the same order (``None`` for
        the clean cell), for metrics across images such as retrieval or CKA."""
        raise NotImplementedError

    def cell_extras(self, records: Mapping[str, np.ndarray]) -> dict:
        """Extra JSON fields kept in the cell's record (the report reads them)."""
        return {"indices": np.asarray(records["indices"]).tolist()}

    def summarize(self, store, models: Sequence[str], baseline: str | None = None) -> dict:
        """``summary.json`` from the stored cell rows (default: the rows only)."""
        return {"schema": 1, "models": {m: {} for m in models}, "baseline": baseline}

    # --- optional stages (``None`` when the task has none) -----------------------------------
    #: per-image values followed along the flip sweep (``sweep_values(outputs) -> (B,)``)
    sweep_values: Callable | None = None
    #: ``sweep_metrics(values (T, m)) -> dict`` for the flip sweep's record
    sweep_metrics: Callable | None = None
    #: ``critical(model, images, labels, family, seed, **kwargs) -> record``
    critical: Callable | None = None


@register_task("classification")
class ClassificationTask(Task):
    """Top-1 / top-k accuracy with 95 % Wilson intervals and the flip rate against the clean
    image; summaries with CE / mCE / relative CE and flip probability.

    Args:
        topk: the "top-5" accuracy's k.
        num_classes: the model's number of classes; top-k is reported only when it
            is larger than ``topk`` (``None``: always).
    """

    columns = (
        "correct",
        "accuracy",
        "accuracy_low",
        "accuracy_high",
        "top5_correct",
        "top5_accuracy",
        "top5_low",
        "top5_high",
        "flip_rate",
    )

    def __init__(self, topk: int = 5, num_classes: int | None = None) -> None:
        self.topk = check_int(topk, "topk", low=1)
        self.num_classes = None if num_classes is None else int(num_classes)

    @classmethod
    def for_model(cls, model, dataset, config=None, **options) -> ClassificationTask:
        topk = options.pop("topk", getattr(config, "topk", 5))
        if options:
            raise ParameterError(
                f"task_options: classification takes 'topk', got {sorted(options)}"
            )
        n = None
        for obj in (model, dataset):
            c = getattr(obj, "classes", None)
            if c:
                n = len(c)
                break
        if n is None:
            n = getattr(model, "num_classes", None)
        return cls(topk=topk, num_classes=n)

    def config(self) -> dict:
        return {"topk": self.topk, "num_classes": self.num_classes}

    @classmethod
    def from_config(cls, config: Mapping) -> ClassificationTask:
        return cls(topk=config.get("topk", 5), num_classes=config.get("num_classes"))

    def records(self, outputs, labels, indices, clean=None):
        if labels.numel() and bool((labels < 0).any()):
            raise ParameterError(
                "data: classification needs a label for every image, and these images have "
                "none (a flat folder, or items without a label); use task='embedding' "
                "(--task embedding), which needs no labels, or give class folders"
            )
        k = min(self.topk, outputs.shape[1])
        top = outputs.topk(k, dim=1).indices
        y = labels.to(top.device)
        rec = {
            "pred": top[:, 0].cpu().numpy(),
            "correct": (top[:, 0] == y).cpu().numpy(),
            "topk_correct": (top == y[:, None]).any(1).cpu().numpy(),
        }
        if clean is not None:
            clean_top1 = clean.topk(k, dim=1).indices[:, 0]
            rec["flipped"] = (clean_top1 != top[:, 0]).cpu().numpy()
        return rec

    def metrics(self, records, corruption, clean=None):
        c1 = np.asarray(records["correct"], dtype=bool)
        n = int(c1.shape[0])
        correct = int(c1.sum())
        lo, hi = wilson_interval(correct, n)
        row = {
            "correct": correct,
            "accuracy": correct / n if n else float("nan"),
            "accuracy_low": lo,
            "accuracy_high": hi,
            "top5_correct": None,
            "top5_accuracy": None,
            "top5_low": None,
            "top5_high": None,
            "flip_rate": None,
        }
        if self.num_classes is None or self.num_classes > self.topk:
            c5 = int(np.asarray(records["topk_correct"], dtype=bool).sum())
            l5, h5 = wilson_interval(c5, n)
            row.update(
                top5_correct=c5,
                top5_accuracy=c5 / n if n else float("nan"),
                top5_low=l5,
                top5_high=h5,
            )
        if "flipped" in records:
            row["flip_rate"] = float(np.asarray(records["flipped"]).mean()) if n else 0.0
        elif corruption == "clean":
            row["flip_rate"] = 0.0
        return row

    def cell_extras(self, records):
        return {
            "indices": np.asarray(records["indices"]).tolist(),
            "pred": np.asarray(records["pred"]).tolist(),
        }

    def summarize(self, store, models, baseline=None):
        from .summary import summarize

        return summarize(store, models, baseline=baseline)

    # flip sweep: the top-1 prediction along the severity sweep
    def sweep_values(self, outputs):
        return outputs.topk(min(self.topk, outputs.shape[1]), dim=1).indices[:, 0].cpu().numpy()

    def sweep_metrics(self, values):
        P = np.asarray(values)
        if not P.size or P.shape[1] == 0:
            return {"flip_probability": 0.0, "flips_per_step": []}
        return {
            "flip_probability": flip_probability(torch.from_numpy(P)),
            "flips_per_step": (P[1:] != P[:-1]).mean(1).tolist(),
        }

    def critical(self, model, images, labels, family, seed, **kwargs):

        res = critical_blur(model, images, labels, family, seed=int(seed), **kwargs)
        curve = res.ssim_curve(torch.linspace(0, 1, 51))
        return {
            "unit": res.unit,
            "summary": jsonable(res.summary()),
            "ssim_curve": jsonable(curve),
            "strength": jsonable(res.strength),
            "ssim": jsonable(res.ssim),
            "correct": jsonable(res.correct),
            "flipped": jsonable(res.flipped),
        }
