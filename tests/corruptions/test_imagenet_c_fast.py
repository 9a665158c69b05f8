"""The fast CPU paths of ImageNet-C glass and motion blur against their general paths.

Glass: offset codes from PCG64's raw stream equal numpy's ``Generator.integers``; the
numba walk (values and indices) equals the pure-torch pointer-jumping walk bit for bit;
the quantisation loop equals the torch expression. Motion: the OpenCV shifted-copy sum
equals the engine's direct convolution (float64, to rounding).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from blurkit._checks import ParameterError, ShapeError
from blurkit.corruptions import _glass_walk as gw
from blurkit.corruptions import imagenet_c as ic


@pytest.mark.parametrize("n", [4, 16, 36, 64, 100, 144, 196, 256])
def test_draw_codes_equal_numpy_integers(n):
    for seed, count in [(0, 1), (7, 1001), (2**40 + 3, 20_000)]:
        expected = np.random.default_rng(seed).integers(0, n, count, dtype=np.uint8)
        np.testing.assert_array_equal(gw.draw_codes(seed, count, n), expected)


def test_glass_displacements_keep_numpy_integers_values():
    # the offsets as first defined: integers(0, span**2) split into (v // span, v % span) - d
    d, it, h, w = 3, 2, 19, 23
    disp = ic.glass_displacements([5, 11], h, w, d, it)
    span = 2 * d
    for b, seed in enumerate([5, 11]):
        v = (
            np.random.default_rng(seed)
            .integers(0, span * span, (it, h - 2 * d, w - 2 * d), dtype=np.uint8)
            .astype(np.int64)
        )
        np.testing.assert_array_equal(disp[b, :, 0].numpy(), v // span - d)
        np.testing.assert_array_equal(disp[b, :, 1].numpy(), v % span - d)


def _no_numba(monkeypatch):
    monkeypatch.setattr(ic, "numba_walk", lambda: None)


@pytest.mark.parametrize(
    "shape,sigma,d,it",
    [((3, 3, 29, 31), 0.7, 1, 2), ((2, 1, 24, 24), 1.0, 2, 3), ((2, 5, 20, 26), 1.5, 4, 2)],
)
def test_numba_glass_equals_pointer_jumping(monkeypatch, shape, sigma, d, it):
    pytest.importorskip("numba")
    torch.manual_seed(0)
    for dtype in (torch.float32, torch.float64):
        x = torch.rand(*shape, dtype=dtype)
        seeds = list(range(3, 3 + shape[0]))
        fast = ic.imagenet_c_glass_blur(x, sigma, d, it, shuffle_seed=seeds)
        disp = ic.glass_displacements(seeds, shape[2], shape[3], d, it)
        explicit = ic.imagenet_c_glass_blur(x, sigma, d, it, displacements=disp)
        with monkeypatch.context() as m:
            _no_numba(m)
            slow = ic.imagenet_c_glass_blur(x, sigma, d, it, shuffle_seed=seeds)
        assert torch.equal(fast, slow) and torch.equal(explicit, slow)
        # with a gradient the index walk feeds a gather (the Gaussians run in torch there)
        xg = x.clone().requires_grad_()
        fast_g = ic.imagenet_c_glass_blur(xg, sigma, d, it, shuffle_seed=seeds)
        with monkeypatch.context() as m:
            _no_numba(m)
            slow_g = ic.imagenet_c_glass_blur(xg, sigma, d, it, shuffle_seed=seeds)
        assert torch.equal(fast_g, slow_g)
        fast_g.sum().backward()
        assert xg.grad is not None and float(xg.grad.abs().sum()) > 0


def test_numba_walk_index_equals_pointer_jumping():
    pytest.importorskip("numba")
    h, w, d = 21, 17, 2
    disp = ic.glass_displacements([1, 2], h, w, d, 3)
    expected = ic._glass_index(disp, h, w, d).numpy()
    codes = ic._codes_of(disp, 2, h - 2 * d, w - 2 * d, d)
    idx = np.repeat(np.arange(h * w, dtype=np.int64)[None], 2, axis=0)
    gw.walk(idx.reshape(2, h, w, 1), codes, 2 * d, d, w)
    np.testing.assert_array_equal(idx, expected)


def test_glass_fast_path_leaves_the_input_alone_and_broadcasts_displacements():
    pytest.importorskip("numba")
    x = torch.rand(2, 3, 16, 16)
    x0 = x.clone()
    disp = ic.glass_displacements([4], 16, 16, 1, 2)
    y = ic.imagenet_c_glass_blur(x, 1e-3, 1, 2, displacements=disp)  # identity Gaussian
    assert torch.equal(x, x0)
    assert torch.equal(y[1], ic.imagenet_c_glass_blur(x[1:], 1e-3, 1, 2, displacements=disp)[0])
    assert not torch.equal(y, x.clamp(0, 1))


def test_glass_rejects_bad_displacements():
    x = torch.rand(1, 3, 16, 16)
    with pytest.raises(ShapeError, match="displacements"):
        ic.imagenet_c_glass_blur(x, 1.0, 2, 1, displacements=torch.zeros(1, 1, 2, 5, 5))
    if gw.numba_walk() is not None:  # the compiled walk must never read outside the image
        with pytest.raises(ParameterError, match="displacements"):
            ic.imagenet_c_glass_blur(
                x, 1.0, 2, 1, displacements=torch.full((1, 1, 2, 12, 12), 2, dtype=torch.int8)
            )


def test_quantize_equals_the_torch_expression():
    pytest.importorskip("numba")
    rng = np.random.default_rng(0)
    k = np.arange(256)
    # every quantisation boundary k / 255 and its float neighbours, plus random values
    edges = (k / 255).astype(np.float32)
    vals32 = np.concatenate(
        [
            edges,
            np.nextafter(edges, np.float32(-1)),
            np.nextafter(edges, np.float32(2)),
            rng.random(100_000, dtype=np.float32) * 1.2 - 0.1,
        ]
    )
    for vals in (vals32, vals32.astype(np.float64) + rng.normal(0, 1e-9, vals32.size)):
        t = torch.from_numpy(vals.copy())
        expected = (t + (torch.floor(t * 255) / 255 - t)).numpy()
        got = vals.copy()
        gw.quantize(got)
        np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("shape", [(3, 3, 40, 37), (2, 1, 30, 30), (2, 6, 25, 33), (1, 3, 8, 8)])
def test_motion_copies_equal_the_direct_convolution(shape):
    torch.manual_seed(0)
    x = torch.rand(*shape, dtype=torch.float64)
    angles = torch.tensor([-44.0, 0.0, 30.0][: shape[0]], dtype=torch.float64)
    for r, s in [(10, 3), (20, 15), (2.5, 1.0), (0.0, 1.0)]:
        fast = ic.imagenet_c_motion_blur(x, r, s, angles)
        direct = ic.imagenet_c_motion_blur(x, r, s, angles, method="direct")
        torch.testing.assert_close(fast, direct, rtol=0, atol=1e-12)
        one = ic.imagenet_c_motion_blur(x[:1], r, s, 12.0)  # one kernel for the batch
        torch.testing.assert_close(
            one, ic.imagenet_c_motion_blur(x[:1], r, s, 12.0, method="direct"), rtol=0, atol=1e-12
        )
