"""The options of an evaluation, in one dataclass (the CLI's options, as Python)."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from .._checks import ParameterError, check_choice, check_int, check_scalar
from .._seeds import check_seed

__all__ = ["EvalConfig", "parse_shard", "AMP_DTYPES"]

#: accepted ``amp`` values
AMP_DTYPES = ("bf16", "fp16")


def parse_shard(shard) -> tuple[int, int]:
    """``"i/N"`` or ``(i, N)`` -> ``(i, N)`` with ``0 <= i < N``.

    >>> parse_shard("1/4")
    (1, 4)
    """
    if shard is None:
        return (0, 1)
    try:
        if isinstance(shard, str):
            a, b = shard.split("/")
            i, n = int(a), int(b)
        else:
            i, n = (int(v) for v in shard)
    except (ValueError, TypeError):
        raise ParameterError(f"shard: expected 'i/N' (e.g. '0/4'), got {shard!r}") from None
    if not (n >= 1 and 0 <= i < n):
        raise ParameterError(f"shard: expected 'i/N' with 0 <= i < N, got {shard!r}")
    return (i, n)


@dataclass
class EvalConfig:
    """Everything an evaluation run is asked to do (:func:`blurkit.evaluate`'s options).

    Attributes:
        corruptions: a suite name (``"cifar-10-c-blur"``, ``"imagenet-c-blur"``,
            ``"natural"``), a comma-separated list or a sequence of names.
        severities: severities of the grid in [1, 5] (floats allowed).
        preset: severity table, ``"imagenet-c"`` or ``"cifar-10-c"``; default:
            ``"cifar-10-c"`` for images up to 64 px, else ``"imagenet-c"``.
        seed: global seed; image ``i``'s draw in a cell is ``hash(seed, corruption, severity, i)``.
        batch_size: images per forward pass (per process); default 256, or the
            ``DataLoader``'s when one is given.
        num_workers: loader processes decoding images (default: ``min(4, CPUs)``
            for datasets that decode, 0 for in-memory lists).
        chunk_size: images per resumable chunk (the records of every cell of a
            chunk are written together, atomically).
        device: where to corrupt and run the model (default: the model's device).
        amp: ``"bf16"`` or ``"fp16"``: run the model under ``torch.autocast``
            (corruptions stay float32).
        channels_last: run the model and its inputs in the channels-last layout.
        task: the task adapter's name (:func:`blurkit.robustness.tasks.list_tasks`).
        task_options: extra options of the task.
        topk: the classification task's "top-5" k.
        flip_frames: frames of the ImageNet-P style flip sweep (0 skips it).
        flip_images: images of the flip sweep (spread over the dataset).
        critical: critical blur too: ``True`` for the default families or a sequence of names.
        critical_images: images of the critical-blur search.
        critical_kwargs: extra arguments of :func:`blurkit.robustness.critical_blur`.
        examples: example images per cell kept for the report.
        baseline: name of one of the models to normalise CE by.
        limit: evaluate only this many images, spread evenly over the dataset.
        shard: ``"i/N"``: run only shard ``i`` of ``N`` (chunks ``i, i + N, ...``), for job
            arrays; join the shards' outputs with :func:`blurkit.robustness.merge_results`.
        dataset_id: text that identifies the dataset in the resume guard.
        overwrite: discard stored results of these models made with other arguments.
    """

    corruptions: str | Sequence[str] = "cifar-10-c-blur"
    severities: Sequence[float] = (1, 2, 3, 4, 5)
    preset: str | None = None
    seed: int = 0
    batch_size: int | None = None
    num_workers: int | None = None
    chunk_size: int = 1024
    device: str | None = None
    amp: str | None = None
    channels_last: bool = False
    task: str = "classification"
    task_options: Mapping = field(default_factory=dict)
    topk: int = 5
    flip_frames: int = 0
    flip_images: int = 200
    critical: bool | Sequence[str] = False
    critical_images: int = 100
    critical_kwargs: Mapping | None = None
    examples: int = 8
    baseline: str | None = None
    limit: int | None = None
    shard: str | tuple[int, int] | None = None
    dataset_id: str | None = None
    overwrite: bool = False

    @classmethod
    def from_options(cls, config: EvalConfig | None = None, **options) -> EvalConfig:
        """``config`` (default: the defaults) with ``options`` replacing its fields."""
        names = {f.name for f in dataclasses.fields(cls)}
        bad = sorted(set(options) - names)
        if bad:
            raise ParameterError(f"options: unknown {bad}; expected some of {sorted(names)}")
        base = config if config is not None else cls()
        if not isinstance(base, cls):
            raise ParameterError(f"config: expected an EvalConfig, got {type(base).__name__}")
        return dataclasses.replace(base, **options)

    def resolved_severities(self) -> list[float]:
        sevs = sorted(
            {check_scalar(float(s), "severities", low=1.0, high=5.0) for s in self.severities}
        )
        if not sevs:
            raise ParameterError("severities: expected at least one severity in [1, 5], got none")
        return sevs

    def check(self) -> EvalConfig:
        """Validate the options that need no data (raises :class:`ParameterError`)."""
        self.resolved_severities()
        check_seed(self.seed)  # the seed rule; image_seeds hashes the value as given
        if self.batch_size is not None:
            check_int(self.batch_size, "batch_size", low=1)
        if self.num_workers is not None:
            check_int(self.num_workers, "num_workers", low=0)
        check_int(self.chunk_size, "chunk_size", low=1)
        if self.amp is not None:
            check_choice(self.amp, "amp", AMP_DTYPES)
        check_int(self.flip_frames, "flip_frames", low=0)
        check_int(self.flip_images, "flip_images", low=0)
        check_int(self.critical_images, "critical_images", low=0)
        check_int(self.examples, "examples", low=0)
        if self.limit is not None:
            check_int(self.limit, "limit", low=1)
        parse_shard(self.shard)
        return self

    def workers(self, in_memory: bool) -> int:
        """The loader's worker count (the default depends on whether images decode)."""
        if self.num_workers is not None:
            return int(self.num_workers)
        return 0 if in_memory else min(4, os.cpu_count() or 1)
