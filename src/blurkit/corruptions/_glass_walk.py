"""Fast CPU pieces of ImageNet-C glass blur: the offset draws and the sequential copy walk.

Why a separate private module: the walk (``x[h, w] = x[h + dy, w + dx]`` for every
pixel of the walk, bottom-right first) is inherently sequential. On the CPU it is
fastest as the plain loop the reference runs, compiled by numba; numba is an
*optional* accelerator (the ``reference`` extra installs it), imported lazily on the
first call, and :mod:`blurkit.corruptions.imagenet_c` falls back to its pure-torch
pointer-jumping walk when numba is missing (both give identical results; a test
checks it).

The offsets are numpy's ``Generator.integers(0, span**2, dtype=uint8)`` draws, one
PCG64 generator per image. :func:`draw_codes` computes exactly those values from the
generator's raw 64-bit stream (numpy's buffered Lemire method for 8-bit bounds: the
raw words read as little-endian bytes, a byte ``u`` gives ``(u * n) >> 8`` and is
rejected when ``(u * n) & 255 < (256 - n) % n``) in a few vectorised numpy steps,
several times faster than ``integers``; a test checks that the two agree.
"""

from __future__ import annotations

import numpy as np

__all__ = ["draw_codes", "offset_table", "numba_walk", "quantize", "walk"]


def draw_codes(seed: int, count: int, n: int) -> np.ndarray:
    """``np.random.default_rng(seed).integers(0, n, count, dtype=np.uint8)``, faster.

    ``n`` (at most 256) is the number of codes; a code ``v`` stands for the offset
    pair ``(v // span - d, v % span - d)`` with ``n = span**2``.
    """
    bitgen = np.random.default_rng(seed).bit_generator
    if count == 0:
        return np.empty(0, dtype=np.uint8)
    threshold = (256 - n) % n
    if n & (n - 1) == 0:  # power of two: no byte is ever rejected
        raw = bitgen.random_raw(-(-count // 8)).view(np.uint8)[:count]
        if n == 256:
            return raw.copy()
        return (raw >> (8 - (n.bit_length() - 1))).astype(np.uint8, copy=False)
    out = np.empty(count, dtype=np.uint8)
    done = 0
    while done < count:
        # expected rejection rate is threshold / 256 (under 1/4); draw a little extra
        need = count - done
        raw = bitgen.random_raw(-(-(need + need // 8 + 64) // 8)).view(np.uint8)
        m = raw.astype(np.uint16) * n
        keep = (m >> 8)[(m & 255) >= threshold].astype(np.uint8)
        take = min(keep.size, need)
        out[done : done + take] = keep[:take]
        done += take  # when short, every byte of the words was used: numpy also goes on
    return out


def offset_table(span: int, max_delta: int, row_stride: int) -> np.ndarray:
    """Flat pixel offset ``dy * row_stride + dx`` of each code, ``(span**2,)`` int64."""
    v = np.arange(span * span)
    return (v // span - max_delta) * row_stride + (v % span - max_delta)


_compiled = None  # (walk, quantize) compiled lazily; False when numba is not installed


def _compile():
    global _compiled
    if _compiled is None:
        try:
            import numba
        except ImportError:  # pragma: no cover - exercised only without numba
            _compiled = False
        else:
            jit = numba.njit(cache=True, nogil=True)
            _compiled = (jit(_walk_loop), jit(_quantize_loop))
    return _compiled or None


def numba_walk():
    """The compiled walk, or ``None`` when numba is not installed (imported on first use)."""
    fns = _compile()
    return fns[0] if fns else None


def _walk_loop(x, codes, table, height, width, max_delta):  # pragma: no cover - numba
    # x: (B, H * W * C) in place; codes: (B, iterations, nh, nw); the walk's step (k, j)
    # is pixel (H - d - k, W - d - j) and copies the pixel ``table[code]`` further on
    b, n_it, nh, nw = codes.shape
    c = x.shape[1] // (height * width)
    for i in range(b):
        xi = x[i]
        for it in range(n_it):
            for k in range(nh):
                p = ((height - max_delta - k) * width + (width - max_delta)) * c
                row = codes[i, it, k]
                if c == 3:
                    for j in range(nw):
                        q = p + table[row[j]]
                        xi[p] = xi[q]
                        xi[p + 1] = xi[q + 1]
                        xi[p + 2] = xi[q + 2]
                        p -= 3
                else:
                    for j in range(nw):
                        q = p + table[row[j]]
                        for ch in range(c):
                            xi[p + ch] = xi[q + ch]
                        p -= c


def _quantize_loop(x, scale):  # pragma: no cover - numba
    # x + (floor(x * 255) / 255 - x), in place, one rounding per operation as in torch
    for i in range(x.size):
        v = x[i]
        x[i] = v + (np.floor(v * scale) / scale - v)


def quantize(x: np.ndarray) -> None:
    """``x + (floor(x * 255) / 255 - x)`` in place (float32/64, C-contiguous), with numba."""
    _compile()[1](x.reshape(-1), x.dtype.type(255))


def walk(x: np.ndarray, codes: np.ndarray, span: int, max_delta: int, width: int) -> None:
    """Run the walk in place on ``x`` ``(B, H, W, C)`` (C-contiguous) with numba."""
    b, h, w, c = x.shape
    table = offset_table(span, max_delta, width) * c
    numba_walk()(x.reshape(b, h * w * c), codes, table, h, w, max_delta)
