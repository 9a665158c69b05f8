"""Shared hypothesis strategies of the measure / deblur / random-blur property tests."""

from __future__ import annotations

import math

import torch
from hypothesis import strategies as st

DTYPES = (torch.float16, torch.float32, torch.float64)
#: a value planted in an image: None (a clean image in [0, 1]) or a hostile one
POISONS = (None, None, None, math.nan, math.inf, -math.inf, 1e30, -1.0)


@st.composite
def images(draw, max_side: int = 48, min_side: int = 0):
    """``(B, C, H, W)`` images (B 0-2, C 1 or 3, sides up to ``max_side``, float16/32/64),
    and whether they are clean (finite, in [0, 1])."""
    b = draw(st.integers(0, 2))
    c = draw(st.sampled_from((1, 3)))
    h = draw(st.integers(min_side, max_side))
    w = draw(st.integers(min_side, max_side))
    dtype = draw(st.sampled_from(DTYPES))
    seed = draw(st.integers(0, 2**31))
    x = torch.rand(b, c, h, w, generator=torch.Generator().manual_seed(seed)).to(dtype)
    poison = draw(st.sampled_from(POISONS))
    if poison is not None and x.numel():
        x.view(-1)[draw(st.integers(0, x.numel() - 1))] = poison
    clean = poison is None or x.numel() == 0
    return x, clean


HOSTILE_SEEDS = st.one_of(
    st.integers(0, 2**80),
    st.integers(-(2**70), -1),
    st.sampled_from(["a", "", b"1", 1.5, math.nan, [], [1, 2, 3], (), None, True]),
)
