"""Per-image seeds and evenly spread subsets: what makes a cell independent of
the batch, the shard, the process and a resume.

Image ``i``'s random draw in a cell (a motion angle, a glass shuffle) comes
from its own seed, ``hash(seed, corruption, severity, dataset index)``, so the
blurred image depends on nothing else and every model compared sees the same
blurred images.
"""

from __future__ import annotations

import hashlib

from ..data.sources import spread_positions  # re-exported (defined with the data)
from .store import format_severity

__all__ = ["image_seeds", "spread_positions"]

_MASK64 = (1 << 64) - 1


def _splitmix64(z: int) -> int:
    z = (z + 0x9E3779B97F4A7C15) & _MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return z ^ (z >> 31)


def image_seeds(seed: int, corruption: str, severity, indices) -> list[int]:
    """One seed per image: a hash of (global seed, corruption, severity, dataset index).

    The seed depends on nothing else (not the batch, the shard or the model),
    which is what makes results reproducible across runs, resumes and
    processes. ``severity`` may be any text key (the flip sweep uses one key for
    the whole sweep so that the draw stays fixed while the strength grows).

    Example:
        >>> a = image_seeds(0, "motion_blur", 3, [5, 6])
        >>> a == image_seeds(0, "motion_blur", 3, [5, 6])
        True
        >>> a[0] == image_seeds(0, "motion_blur", 3, [7, 5])[1]  # batch order does not matter
        True
        >>> a[0] != image_seeds(1, "motion_blur", 3, [5])[0]
        True
    """
    key = severity if isinstance(severity, str) else format_severity(severity)
    base = int.from_bytes(
        hashlib.blake2b(f"{int(seed)}|{corruption}|{key}".encode(), digest_size=8).digest(),
        "little",
    )
    return [_splitmix64(base ^ _splitmix64(int(i))) >> 1 for i in indices]
