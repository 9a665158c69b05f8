"""A reusable, resumable training loop for image classifiers on in-memory tensors.

Small CPUs decode JPEGs slower than they train small networks, so the loop
trains from a uint8 ``(N, H, W, 3)`` array decoded once (see
:func:`blurkit.data.archive.decode_archive_uint8`). It is the engine behind the
bundled CIFAR-10 model (``scripts/train_bundled_cifar.py``) and is meant to be
reused by the robustness-training methods through ``batch_transform`` (e.g. a
blur augmentation applied in pixel space before the model's normalisation).

The recipe follows the fast CIFAR-10 trainers (Page's "How to train your
ResNet", airbench): SGD with Nesterov momentum, a one-cycle (linear warm-up,
linear decay) learning rate, label smoothing, random translation (padded crop)
and horizontal flips, weight decay on weights only. A checkpoint is written
after every epoch and reloaded on restart; all randomness comes from one seeded
``torch.Generator``, so a resumed run draws the same batches as an unbroken one.
Optionally each epoch trains at its own resolution (progressive resizing,
FixRes-style: cheap low-resolution epochs first, the last at full size).

Extensions for the robustness methods (all optional; without them the loop runs
exactly as before): ``step_fn`` replaces the per-batch loss (a training-step
strategy of :mod:`blurkit.defenses.methods`: blur augmentation, adversarial
blur, consistency), its ``state_dict`` rides in the checkpoint; under
``torch.distributed`` (``torchrun``) the model is wrapped in
``DistributedDataParallel`` and every process draws the same global batch from
the shared generator and trains on its slice ``rank::world`` of it, so the
optimiser sees the gradient of the same global batch as one process would;
``progress`` and ``on_epoch_end`` are callbacks for progress bars and tests.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from .._checks import ParameterError, UnsafeFileError
from .._seeds import make_generator

__all__ = [
    "TrainConfig",
    "load_checkpoint",
    "StepInfo",
    "train_classifier",
    "evaluate_accuracy",
    "augment_batch",
    "one_cycle",
]


@dataclass
class TrainConfig:
    """Hyper-parameters of :func:`train_classifier` (defaults: the bundled CIFAR recipe)."""

    epochs: int = 3
    batch_size: int = 256
    lr: float = 0.3
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 5e-4
    label_smoothing: float = 0.2
    warmup: float = 0.25  # fraction of the steps spent warming up
    final_lr_frac: float = 0.0
    translate: int = 4  # random translation in pixels (reflect-padded crop)
    flip: bool = True
    sizes: Sequence[int] | None = None  # per-epoch training resolution; None = native
    seed: int = 0
    threads: int | None = 2
    log_every: int = 20
    extra: dict = field(default_factory=dict)


@dataclass
class StepInfo:
    """What a ``step_fn`` knows about the step it computes.

    Attributes:
        step, total: global step (0-based) and number of steps of the run.
        epoch: 0-based epoch.
        local: the slice of the global batch this process trains on (``rank::world``).
        module: the bare model (not wrapped in DDP): for extra passes that must not
            go through DDP's gradient synchronisation (e.g. an inner attack loop).
        indices: dataset indices of the global batch.
        label_smoothing: the run's label smoothing.
    """

    step: int
    total: int
    epoch: int
    local: slice
    module: nn.Module
    indices: torch.Tensor
    label_smoothing: float = 0.0

    @property
    def progress(self) -> float:
        """Fraction of the run's steps done before this one, in [0, 1)."""
        return self.step / max(1, self.total)


def one_cycle(step: int, total: int, warmup: float, final: float = 0.0) -> float:
    """Linear warm-up from 0 to 1 over ``warmup * total`` steps, then linear decay to ``final``.

    >>> [round(one_cycle(s, 8, 0.25), 3) for s in range(8)]
    [0.5, 1.0, 0.833, 0.667, 0.5, 0.333, 0.167, 0.0]
    """
    w = max(1, round(warmup * total))
    if step < w:
        return (step + 1) / w
    return final + (1 - final) * max(0.0, (total - 1 - step) / max(1, total - 1 - w + 1))


def augment_batch(
    x: torch.Tensor, generator: torch.Generator, translate: int = 4, flip: bool = True
) -> torch.Tensor:
    """Random translation (reflect-padded crop, one offset per image) and horizontal flip.

    Vectorised through advanced indexing; no Python loop over the batch.
    """
    b, _, h, w = x.shape
    if translate > 0:
        p = translate
        xp = F.pad(x, (p, p, p, p), mode="reflect").permute(0, 2, 3, 1)
        dy = torch.randint(0, 2 * p + 1, (b,), generator=generator)
        dx = torch.randint(0, 2 * p + 1, (b,), generator=generator)
        bi = torch.arange(b)[:, None, None]
        rows = (dy[:, None] + torch.arange(h))[:, :, None]
        cols = (dx[:, None] + torch.arange(w))[:, None, :]
        x = xp[bi, rows, cols].permute(0, 3, 1, 2)
    if flip:
        m = torch.rand(b, generator=generator) < 0.5
        x = torch.where(m.view(b, 1, 1, 1), x.flip(3), x)
    return x


_CHECKPOINT_KEYS = ("model", "opt", "sched", "gen", "epoch", "history", "seconds")


def load_checkpoint(path: str | os.PathLike) -> dict:
    """Read a training checkpoint with ``torch.load(weights_only=True)``: tensors and plain
    containers only, so a crafted file cannot run code.

    Raises:
        UnsafeFileError: the file holds pickled objects other than tensors and containers.
        ParameterError: it is not a checkpoint of :func:`train_classifier`.
    """
    import pickle

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        if "Unsupported global" not in str(e) and "GLOBAL" not in str(e):
            raise ParameterError(
                f"checkpoint: {path} is not a torch file ({e}); delete it to start over"
            ) from e
        raise UnsafeFileError(
            f"checkpoint: refused to load {path}: it holds pickled objects that are not "
            f"tensors or plain containers (loading them could run code); delete it to "
            f"start over ({str(e).splitlines()[0][:200]})"
        ) from e
    except Exception as e:  # truncated, not a torch file, ...
        raise ParameterError(
            f"checkpoint: could not read {path} ({type(e).__name__}: {e}); delete it to start over"
        ) from e
    missing = [k for k in _CHECKPOINT_KEYS if not isinstance(state, dict) or k not in state]
    if missing:
        raise ParameterError(
            f"checkpoint: {path} is not a training checkpoint (missing {missing}); "
            "delete it to start over"
        )
    if not isinstance(state["gen"], torch.Tensor) or state["gen"].dtype != torch.uint8:
        raise ParameterError(f"checkpoint: {path}: 'gen' must be the generator's ByteTensor")
    if not isinstance(state["epoch"], int) or state["epoch"] < 0:
        raise ParameterError(f"checkpoint: {path}: 'epoch' must be a non-negative int")
    return state


def _to_float(images_u8: torch.Tensor) -> torch.Tensor:
    return images_u8.permute(0, 3, 1, 2).float().div_(255.0)


@torch.no_grad()
def evaluate_accuracy(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    batch_size: int = 500,
    flip_tta: bool = False,
) -> float:
    """Top-1 accuracy of ``model`` (pixel-space input) on uint8 NHWC or float NCHW images."""
    was = model.training
    model.eval()
    correct = 0
    for i in range(0, len(images), batch_size):
        xb = images[i : i + batch_size]
        xb = _to_float(xb) if xb.dtype == torch.uint8 else xb
        xb = xb.contiguous(memory_format=torch.channels_last)
        logits = model(xb)
        if flip_tta:
            logits = logits + model(xb.flip(3))
        correct += (logits.argmax(1) == labels[i : i + batch_size]).sum().item()
    model.train(was)
    return correct / max(1, len(images))


def _param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    decay, no_decay = [], []
    for p in model.parameters():
        if not p.requires_grad:
            continue
        (decay if p.ndim > 1 else no_decay).append(p)
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]


def train_classifier(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    config: TrainConfig,
    checkpoint: str | os.PathLike | None = None,
    log: Callable[[str], None] = print,
    batch_transform: Callable[[torch.Tensor, torch.Tensor, torch.Generator], torch.Tensor]
    | None = None,
    eval_fn: Callable[[nn.Module], dict] | None = None,
    *,
    step_fn: Callable | None = None,
    progress: Callable[[int, int], None] | None = None,
    on_epoch_end: Callable[[int], None] | None = None,
) -> dict:
    """Train ``model`` (pixel-space input, e.g. a :class:`~blurkit.models.Classifier`).

    Args:
        model: takes ``(B, 3, H, W)`` images in ``[0, 1]`` and returns logits.
        images: ``(N, H, W, 3)`` uint8 training images (decoded once).
        labels: ``(N,)`` int64 labels.
        config: hyper-parameters.
        checkpoint: file rewritten after every epoch; when it exists the run
            resumes from it (same config expected).
        log: receives one progress line at a time.
        batch_transform: ``f(x, y, generator) -> x`` applied after the standard
            augmentation, in pixel space (hook for blur augmentation).
        eval_fn: called with the model after each epoch; its dict is logged.
        step_fn: ``f(net, x, y, generator, info) -> (loss, logits, y_used)`` computes
            the loss of one step from the global batch ``x, y`` (after the standard
            augmentation), on the slice ``info.local`` (:class:`StepInfo`); ``net`` is
            the model to call (DDP-wrapped under torchrun). Random draws should be
            made for the whole global batch from ``generator`` and then sliced, so
            every process stays in step. If it has ``state_dict`` /
            ``load_state_dict`` its state is checkpointed. ``None``: cross-entropy.
        progress: ``progress(steps_done, total_steps)`` after every step (rank 0).
        on_epoch_end: ``on_epoch_end(epochs_done)`` after each epoch's checkpoint.

    Returns:
        A summary dict: epochs, steps, seconds, the last training loss/accuracy
        and the per-epoch history.
    """
    if config.threads:
        torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    import torch.distributed as dist

    world = dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1
    rank = dist.get_rank() if world > 1 else 0
    if world > 1 and config.batch_size % world:
        raise ValueError(
            f"batch_size: expected a multiple of the {world} processes, got {config.batch_size}"
        )
    if rank != 0:
        log = lambda *_a, **_k: None  # noqa: E731
        progress = None
    local = slice(rank, None, world)
    n = len(images)
    steps_per_epoch = n // config.batch_size  # drop the last partial batch
    total = steps_per_epoch * config.epochs
    opt = torch.optim.SGD(
        _param_groups(model, config.weight_decay),
        lr=config.lr,
        momentum=config.momentum,
        nesterov=config.nesterov,
    )
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: one_cycle(s, total, config.warmup, config.final_lr_frac)
    )
    gen = make_generator(config.seed)
    start_epoch, history, seconds = 0, [], 0.0
    if checkpoint is not None and os.path.exists(checkpoint):
        state = load_checkpoint(checkpoint)
        try:
            model.load_state_dict(state["model"])
            opt.load_state_dict(state["opt"])
            sched.load_state_dict(state["sched"])
            gen.set_state(state["gen"])
        except (RuntimeError, ValueError, KeyError, TypeError) as e:
            raise ParameterError(
                f"checkpoint: {checkpoint} does not match this run ({type(e).__name__}: {e}); "
                "delete it to start over"
            ) from e
        start_epoch, history, seconds = state["epoch"], state["history"], state["seconds"]
        if step_fn is not None and hasattr(step_fn, "load_state_dict") and "strategy" in state:
            step_fn.load_state_dict(state["strategy"])
        log(f"resumed from {checkpoint} at epoch {start_epoch}")
    model = model.to(memory_format=torch.channels_last)
    model.train()
    net = model
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel

        net = DistributedDataParallel(model)  # broadcasts rank 0's weights
    for epoch in range(start_epoch, config.epochs):
        t0 = time.perf_counter()
        perm = torch.randperm(n, generator=gen)
        size = config.sizes[epoch] if config.sizes else None
        run_loss = run_acc = 0.0
        for step in range(steps_per_epoch):
            idx = perm[step * config.batch_size : (step + 1) * config.batch_size]
            x = _to_float(images[idx])
            y = labels[idx]
            x = augment_batch(x, gen, config.translate, config.flip)
            if batch_transform is not None:
                x = batch_transform(x, y, gen)
            if size is not None and size != x.shape[-1]:
                x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True)
            x = x.contiguous(memory_format=torch.channels_last)
            if step_fn is None and world == 1:
                logits = model(x)
                loss = F.cross_entropy(logits, y, label_smoothing=config.label_smoothing)
            elif step_fn is None:
                y = y[local]
                logits = net(x[local])
                loss = F.cross_entropy(logits, y, label_smoothing=config.label_smoothing)
            else:
                info = StepInfo(
                    epoch * steps_per_epoch + step, total, epoch, local, model, idx,
                    config.label_smoothing,
                )  # fmt: skip
                loss, logits, y = step_fn(net, x, y, gen, info)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            run_loss = 0.9 * run_loss + 0.1 * loss.item() if step else loss.item()
            acc = (logits.argmax(1) == y).float().mean().item()
            run_acc = 0.9 * run_acc + 0.1 * acc if step else acc
            if progress is not None:
                progress(epoch * steps_per_epoch + step + 1, total)
            if (step + 1) % config.log_every == 0 or step + 1 == steps_per_epoch:
                el = time.perf_counter() - t0
                done = (step + 1) * config.batch_size
                left = (steps_per_epoch - step - 1) * config.batch_size / max(done / el, 1e-9)
                log(
                    f"epoch {epoch + 1}/{config.epochs} step {step + 1}/{steps_per_epoch} "
                    f"size {size or x.shape[-1]} lr {sched.get_last_lr()[0]:.4f} "
                    f"loss {run_loss:.3f} acc {run_acc:.3f} {done / el:.0f} img/s "
                    f"epoch-eta {left / 60:.1f} min"
                )
        ep_s = time.perf_counter() - t0
        seconds += ep_s
        rec = {"epoch": epoch + 1, "loss": run_loss, "train_acc": run_acc, "seconds": ep_s}
        if eval_fn is not None and rank == 0:
            rec.update(eval_fn(model))
        history.append(rec)
        log(json.dumps(rec))
        if checkpoint is not None and rank == 0:
            tmp = f"{checkpoint}.tmp"
            torch.save(
                {
                    "model": model.state_dict(),
                    "opt": opt.state_dict(),
                    "sched": sched.state_dict(),
                    "gen": gen.get_state(),
                    "epoch": epoch + 1,
                    "history": history,
                    "seconds": seconds,
                    "config": asdict(config),
                    **(
                        {"strategy": step_fn.state_dict()}
                        if step_fn is not None and hasattr(step_fn, "state_dict")
                        else {}
                    ),
                },
                tmp,
            )
            os.replace(tmp, checkpoint)
        if world > 1:
            dist.barrier()
        if on_epoch_end is not None:
            on_epoch_end(epoch + 1)
    model.eval()
    last = history[-1] if history else {}
    return {
        "epochs": config.epochs,
        "steps": total,
        "seconds": seconds,
        "hours": seconds / 3600,
        "history": history,
        **{k: v for k, v in last.items() if k not in ("epoch", "seconds")},
        "config": asdict(config),
    }
