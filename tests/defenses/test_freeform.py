"""The free-form blind kernel estimator (coarse-to-fine L0-gradient MAP) and its defaults."""

from __future__ import annotations

import pytest
import torch

from blurkit import blur
from blurkit._checks import DTypeError, ParameterError, ShapeError
from blurkit.defenses.deblur import (
    BlindDeblur,
    blind_deblur,
    estimate_freeform_kernel,
    estimate_kernel,
    make_deblurrer,
    tv_deconv,
)
from blurkit.defenses.deblur import freeform as ff
from blurkit.kernels import camera_shake_kernel
from blurkit.measure import compare_up_to_shift, error_ratio
from blurkit.measure.fit import kernel_error


def _camera(size: int = 128) -> torch.Tensor:
    from skimage.data import camera

    return torch.from_numpy(camera()[60 : 60 + size, 150 : 150 + size]).float()[None, None] / 255


@pytest.mark.parametrize("seed", [1, 3])
def test_recovers_a_synthetic_shake(seed):
    x = _camera()
    k = camera_shake_kernel(1, 12.0, seed=seed)
    assert k.shape[-1] == 9  # a real shake, not a dot
    y = blur(x, k)
    est = estimate_freeform_kernel(y, 15)
    assert est.shape[:2] == (1, 1) and est.shape[-1] % 2 == 1
    assert (est >= 0).all() and abs(float(est.sum()) - 1) < 1e-5
    # measured 0.28 / 0.32 (a blind estimate of a dot-free 9 px path); a box blur of the
    # same support scores 0.8, the true kernel shifted by one pixel about 0.9
    assert kernel_error(est[0, 0], k[0, 0]) < 0.45
    c = lambda z: float(compare_up_to_shift(z, x, border=10).psnr)  # noqa: E731
    blind, true, inp = c(tv_deconv(y, est)), c(tv_deconv(y, k)), c(y)
    # measured: input 25.2 / 22.9, true kernel 35.6 / 36.5, blind 32.9 / 32.3 dB
    assert blind > inp + 5 and blind > true - 5, (inp, blind, true)


def test_batched_rgb_gives_one_gray_kernel_per_image():
    x = _camera(96).expand(2, 3, 96, 96).clone()
    x[1] = x[1].flip(-1)
    ks = camera_shake_kernel(2, 12.0, seed=1)
    y = torch.cat([blur(x[:1], ks[:1]), blur(x[1:], ks[1:])])
    est = estimate_freeform_kernel(y, 11, iterations=1, crop=False)
    assert est.shape == (2, 1, 11, 11)
    one = estimate_freeform_kernel(y[1:], 11, iterations=1, crop=False)
    torch.testing.assert_close(est[1:], one, atol=1e-4, rtol=0)
    # grayscale copies of a gray image estimate the same kernel as the gray image, up to
    # the rounding of the luma weights (float32), which the thresholds can amplify: 1.01e-4
    # on one tap of 121 on one machine, against taps of 1e-2 to 1e-1
    gray = estimate_freeform_kernel(y[:1, :1], 11, iterations=1, crop=False)
    torch.testing.assert_close(est[:1], gray, atol=1e-3, rtol=0)


def test_normalized_sparsity_falls_as_an_image_sharpens():
    x = _camera(96)
    ns = lambda z: float(ff.normalized_sparsity(z))  # noqa: E731
    assert ns(x) < ns(blur(x, camera_shake_kernel(1, 12.0, seed=1)))
    # scale-free: contrast does not enter
    assert abs(ns(0.5 * x) - ns(x)) < 1e-4 * ns(x)


def test_several_depths_keep_the_sparsest_estimate_per_image():
    x = _camera(96).expand(2, 1, 96, 96).clone()
    x[1] = x[1].flip(-1)
    y = torch.cat([blur(x[i : i + 1], camera_shake_kernel(1, 10.0, seed=i + 1)) for i in (0, 1)])
    kw = dict(iterations=1, crop=False)
    both = estimate_freeform_kernel(y, 11, coarsest=(3, 9), **kw)
    one = [estimate_freeform_kernel(y, 11, coarsest=c, **kw) for c in (3, 9)]
    assert not torch.allclose(one[0], one[1])  # two different pyramids
    for i in range(2):
        scores = [float(ff.normalized_sparsity(tv_deconv(y[i : i + 1], k[i : i + 1]))) for k in one]
        torch.testing.assert_close(both[i], one[scores.index(min(scores))][i], atol=1e-5, rtol=0)
    # depths that build the same pyramid run once and give that pyramid's estimate
    torch.testing.assert_close(estimate_freeform_kernel(y, 11, coarsest=(9, 11), **kw), one[1])


def test_projection_keeps_strong_components_and_unit_sum():
    k = torch.zeros(1, 1, 9, 9)
    k[0, 0, 2, 2:5] = 1.0  # the main path
    k[0, 0, 7, 7] = 0.2  # a speck, 6% of the mass
    k[0, 0, 4, 4] = -0.5  # negative values go
    lab = ff._components(k > 0)
    assert len(set(lab[lab > 0].tolist())) == 2
    p = ff._project(k, 0.05, 0.1)
    assert p[0, 0, 7, 7] == 0 and p[0, 0, 4, 4] == 0
    torch.testing.assert_close(p.sum(), torch.tensor(1.0))
    torch.testing.assert_close(p[0, 0, 2, 2:5], torch.full((3,), 1 / 3))
    c = ff._center(p)
    assert c[0, 0, 4, 3:6].sum() > 0.99  # centroid moved to the centre row


def test_bad_input_is_typed():
    x = torch.rand(1, 1, 64, 64)
    with pytest.raises(ShapeError, match="32x32"):
        estimate_freeform_kernel(torch.rand(1, 1, 24, 64))
    with pytest.raises(ParameterError, match="kernel_size"):
        estimate_freeform_kernel(x, 8)
    with pytest.raises(ParameterError, match="kernel_size"):
        estimate_freeform_kernel(x, 31)  # more than a third of the side
    with pytest.raises(ParameterError, match="coarsest"):
        estimate_freeform_kernel(x, 15, coarsest=())
    with pytest.raises(ParameterError, match="coarsest"):
        estimate_freeform_kernel(x, 15, coarsest=(5, 2))
    with pytest.raises(ParameterError, match="prior"):
        estimate_freeform_kernel(x, prior="tv")
    with pytest.raises(DTypeError):
        estimate_freeform_kernel((x * 255).to(torch.uint8))
    with pytest.raises(ParameterError, match="family 'free'"):
        estimate_kernel(x, "gaussian", kernel_size=9)


def test_free_form_is_the_blind_default():
    m = BlindDeblur()
    assert m.family == "free" and m.method == "tv"
    assert BlindDeblur("gaussian").method == "wiener"  # parametric families keep Wiener
    d = make_deblurrer("blind", kernel_size=9, estimator={"iterations": 1})
    assert d.family == "free" and d.kernel_size == 9
    x = _camera(64)
    y = blur(x, camera_shake_kernel(1, 8.0, seed=1))
    torch.testing.assert_close(d(y), blind_deblur(y, kernel_size=9, estimator={"iterations": 1}))
    assert d(y.expand(1, 3, 64, 64)).shape == (1, 3, 64, 64)


def test_cli_blind_uses_the_free_form_estimate(tmp_path):
    from typer.testing import CliRunner

    from blurkit.cli import app
    from blurkit.io import write_image

    p = tmp_path / "a.png"
    write_image(p, blur(_camera(64), camera_shake_kernel(1, 8.0, seed=1))[0].expand(3, 64, 64))
    runner = CliRunner()
    r = runner.invoke(
        app,
        ["deblur", str(p), "--method", "blind", "--kernel-size", "9", "--out", str(tmp_path / "o")],
    )
    assert r.exit_code == 0, r.output
    assert (tmp_path / "o" / "a.png").is_file()
    r = runner.invoke(
        app, ["deblur", str(p), "-m", "blind", "--family", "motion", "--kernel-size", "9",
              "--out", str(tmp_path / "o")],
    )  # fmt: skip
    assert r.exit_code == 2 and "kernel-size" in r.output


def test_levin_real_shake_error_ratio(shared_data):
    from scipy.io import loadmat

    d = loadmat(shared_data("levin", "im02_ker03.mat"))
    t = lambda a: torch.from_numpy(a).float()[None, None]  # noqa: E731
    x, y, k = t(d["x"]), t(d["y"]), t(d["f"]).flip(-2, -1)
    est = estimate_freeform_kernel(y)  # measured 2.0 (the box chosen: 31 px)
    ratio = float(error_ratio(tv_deconv(y, est), tv_deconv(y, k), x))
    assert ratio < 3.0, ratio


def test_cli_depths_reach_the_estimate(tmp_path):
    from typer.testing import CliRunner

    from blurkit.cli import app
    from blurkit.io import read_image, write_image

    p = tmp_path / "a.png"
    y = blur(_camera(64), camera_shake_kernel(1, 8.0, seed=1))
    write_image(p, y[0])
    runner = CliRunner()
    base = ["deblur", str(p), "-m", "blind", "--kernel-size", "9"]
    r = runner.invoke(app, [*base, "--depths", "3,9", "--out", str(tmp_path / "o")])
    assert r.exit_code == 0, r.output
    want = blind_deblur(read_image(p)[None], kernel_size=9, estimator={"coarsest": (3, 9)})
    got = read_image(tmp_path / "o" / "a.png")[None]
    assert float((got - want).abs().max()) <= 1 / 255 + 1e-6  # the 8-bit file rounds
    for bad, why in (("2,9", "--depths"), ("5.5", "--depths"), ("", "--depths")):
        r = runner.invoke(app, [*base, "--depths", bad, "--out", str(tmp_path / "o2")])
        assert r.exit_code == 2 and why in r.output, (bad, r.output)
    r = runner.invoke(app, ["deblur", str(p), "-m", "wiener", "-k", "gaussian(sigma=1)",
                            "--depths", "5,9", "--out", str(tmp_path / "o3")])  # fmt: skip
    assert r.exit_code == 2 and "--depths" in r.output
