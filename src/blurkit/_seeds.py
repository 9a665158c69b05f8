"""Seeds in one place: what a ``seed=`` argument may be, and how it becomes generators.

The seed rule, applied by every family, corruption, sampler and evaluation:

- a seed is a non-negative integer (Python or numpy; not bool, not str). Seeds below
  ``2**64`` are used as they are (so every draw made before this rule existed replays
  exactly); larger ones are folded into ``[0, 2**64)`` by ``seed % 2**64``, since torch's
  and numpy's generators take 64-bit seeds;
- ``seed=[s0, s1, ...]`` (or a ``(B,)`` integer tensor) gives one seed per image, and must
  have exactly one entry per image;
- ``None`` draws a fresh seed from torch's global generator (so ``torch.manual_seed``
  makes it reproducible).

Per-image seeds are what make "the same blur for every model" possible: image ``i`` is
blurred from its own generator whatever batch, shard or resume it falls in.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ._checks import DTypeError, ParameterError, ShapeError, _describe

__all__ = [
    "SEED_MODULUS",
    "check_seed",
    "check_seeds",
    "check_seed_list",
    "make_generator",
    "make_generators",
    "check_generators",
    "fresh_seed",
]

SEED_MODULUS = 2**64


def check_seed(seed: object, name: str = "seed") -> int:
    """One seed by the seed rule (module docstring): a non-negative integer, folded below 2**64.

    >>> check_seed(7), check_seed(2**70) == 2**70 % 2**64
    (7, True)
    """
    if isinstance(seed, torch.Tensor) and seed.numel() == 1 and not seed.is_floating_point():
        seed = seed.item()
    if isinstance(seed, bool) or not hasattr(seed, "__index__"):
        raise DTypeError(f"{name}: expected a non-negative integer, got {_describe(seed)}")
    v = int(seed.__index__())
    if v < 0:
        raise ParameterError(f"{name}: expected a non-negative integer, got {v}")
    return v % SEED_MODULUS


def check_seed_list(seeds, name: str = "seeds") -> list[int]:
    """A non-empty list of distinct seeds, each by the seed rule (e.g. a study's seeds).

    >>> check_seed_list((0, 1, 2))
    [0, 1, 2]
    """
    if isinstance(seeds, (str, bytes)) or not isinstance(seeds, Sequence):
        raise ParameterError(f"{name}: expected a sequence of seeds, got {type(seeds).__name__}")
    out = [check_seed(s, f"{name}[{i}]") for i, s in enumerate(seeds)]
    if not out:
        raise ParameterError(f"{name}: expected at least one seed, got none")
    if len(set(out)) != len(out):
        raise ParameterError(f"{name}: expected distinct seeds, got {out}")
    return out


def fresh_seed(generator: torch.Generator | None = None) -> int:
    """A seed drawn from ``generator`` (default: torch's global generator)."""
    return int(torch.randint(0, 2**62, (1,), generator=generator).item())


def check_seeds(seed: object, batch: int, name: str = "seed") -> int | list[int]:
    """A seed for the batch (an int) or one per image (a list of ``batch`` ints).

    ``None`` becomes a fresh seed. A sequence must hold exactly ``batch`` seeds.

    >>> check_seeds([1, 2], 2)
    [1, 2]
    """
    if seed is None:
        return fresh_seed()
    if isinstance(seed, torch.Tensor) and seed.ndim == 1:
        if seed.is_floating_point():
            raise DTypeError(f"{name}: expected integer seeds, got {_describe(seed)}")
        seed = seed.tolist()
    if isinstance(seed, Sequence) and not isinstance(seed, (str, bytes)):
        if len(seed) != batch:
            raise ShapeError(
                f"{name}: expected one int or {batch} ints (one per image), got {len(seed)} values"
            )
        return [check_seed(s, name) for s in seed]
    if hasattr(seed, "ndim") and getattr(seed, "ndim", 0) == 1:  # numpy arrays
        return check_seeds(list(seed), batch, name)
    return check_seed(seed, name)


def make_generators(seed: object, batch: int, name: str = "seed") -> list[torch.Generator]:
    """CPU generators for a batch: ``[g]`` for one shared seed (drawn in order), or one
    generator per image for per-image seeds.

    >>> len(make_generators(0, 4)), len(make_generators([0, 1, 2, 3], 4))
    (1, 4)
    """
    s = check_seeds(seed, batch, name)
    if isinstance(s, int):
        return [torch.Generator().manual_seed(s)]
    return [torch.Generator().manual_seed(v) for v in s]


def make_generator(seed: object, name: str = "seed", device=None) -> torch.Generator:
    """One generator from one seed by the seed rule (``torch.Generator(device)`` seeded with
    :func:`check_seed` ``(seed)``): the same numbers as ``manual_seed(seed)`` for every valid
    seed below 2**64.

    >>> bool(torch.equal(torch.rand(2, generator=make_generator(3)),
    ...                  torch.rand(2, generator=torch.Generator().manual_seed(3))))
    True
    """
    return torch.Generator(device=device).manual_seed(check_seed(seed, name))


def check_generators(
    generator: object, batch: int, name: str = "generator"
) -> list[torch.Generator | None]:
    """A ``generator=`` argument as a list: ``[generator]`` for ``None`` (torch's global
    generator) or one shared ``torch.Generator``, or the list of one generator per image
    (exactly ``batch`` of them).

    >>> len(check_generators(None, 3)), len(check_generators([torch.Generator()] * 3, 3))
    (1, 3)
    """
    if generator is None or isinstance(generator, torch.Generator):
        return [generator]
    if isinstance(generator, Sequence) and all(isinstance(g, torch.Generator) for g in generator):
        if len(generator) != batch:
            raise ShapeError(
                f"{name}: expected 1 or {batch} generators (one per image), got {len(generator)}"
            )
        return list(generator)
    raise DTypeError(
        f"{name}: expected a torch.Generator or a list of them, got {type(generator).__name__}"
    )
