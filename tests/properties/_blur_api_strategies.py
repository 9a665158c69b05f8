"""Hypothesis strategies shared by the property tests of kernels, ``blur`` and corruptions:
ordinary values most of the time, hostile ones (NaN, infinities, huge, negative, tiny,
wrong types, odd tensors) often enough that every check is reached."""

from __future__ import annotations

import math

import torch
from hypothesis import event
from hypothesis import strategies as st

from blurkit import BlurkitError

NAN, INF = math.nan, math.inf

#: numbers a careless or hostile caller passes
HOSTILE_NUMBERS = st.sampled_from(
    [NAN, INF, -INF, -1.0, -1e-300, 0.0, 5e-324, 1e-30, 1e30, 1e300, 2.0**70, -(2.0**70), 3.4e38]
)
#: values of the wrong type
HOSTILE_TYPES = st.sampled_from(["3", None, [], True, (1.0, "a"), object()])
FLOAT_DTYPES = st.sampled_from([torch.float16, torch.float32, torch.float64])


def tensor_of(values: st.SearchStrategy, max_size: int = 3) -> st.SearchStrategy:
    """A 1-D tensor of 0 to ``max_size`` of ``values`` in a floating dtype (maybe 0-d)."""

    def build(vals, dtype, zero_d):
        t = torch.tensor(vals, dtype=torch.float64).to(dtype)
        return t[0] if zero_d and t.numel() else t

    return st.builds(
        build, st.lists(values, min_size=0, max_size=max_size), FLOAT_DTYPES, st.booleans()
    )


def param(lo: float, hi: float, *, tensors: bool = True) -> st.SearchStrategy:
    """A parameter: mostly a float in ``[lo, hi]``, else hostile numbers, types or tensors."""
    ok = st.floats(lo, hi, allow_nan=False, allow_infinity=False)
    options = [ok, ok, ok, ok, HOSTILE_NUMBERS, HOSTILE_NUMBERS, HOSTILE_TYPES]
    if tensors:
        options += [tensor_of(st.one_of(ok, ok, HOSTILE_NUMBERS))]
    return st.one_of(*options)


#: kernel sides: mostly none or small odd, else zero, even, negative, huge, wrong types
SIZES = st.one_of(
    st.none(),
    st.none(),
    st.sampled_from([1, 3, 5, 9, 15]),
    st.integers(-3, 40),
    st.sampled_from([10**5 + 1, 2**31 - 1, 2**70, 4097, 1025, 1027]),
    st.sampled_from(["9", 9.0, True, [9], torch.tensor(9)]),
)

#: seeds: mostly fine, else the values the seed rule must refuse or fold
SEEDS = st.one_of(
    st.none(),
    st.integers(0, 2**31),
    st.sampled_from([0, 2**63, 2**64, 2**70, 2**200, -1, "a", 1.5, [], True, b"x"]),
)


def only_typed_errors(fn):
    """``fn()``; ``None`` when it raised a :class:`BlurkitError` (anything else escapes)."""
    try:
        out = fn()
    except BlurkitError as e:
        event(f"raised {type(e).__name__}")
        return None
    event("returned")
    return out


def images(
    *,
    batch=st.integers(0, 3),
    channels=st.integers(1, 4),
    height=st.integers(1, 24),
    width=st.integers(1, 24),
    poison: bool = True,
) -> st.SearchStrategy:
    """``(tensor, finite)``: images in [0, 1] of a drawn shape and float dtype, sometimes with
    a NaN or infinite pixel (``finite`` says whether it has none)."""

    @st.composite
    def build(draw):
        shape = (draw(batch), draw(channels), draw(height), draw(width))
        dtype = draw(FLOAT_DTYPES)
        seed = draw(st.integers(0, 2**31))
        x = torch.rand(shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
        x = x.to(dtype)
        finite = True
        if poison and x.numel() and draw(st.integers(0, 4)) == 0:
            bad = draw(st.sampled_from([NAN, INF, -INF]))
            x.view(-1)[draw(st.integers(0, x.numel() - 1))] = bad
            finite = False
        return x, finite

    return build()
