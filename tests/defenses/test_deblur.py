"""Deblurring front-ends: pinned to scikit-image, restore natural photographs, batch vs
loop, typed errors, the front-end module, the CLI."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from skimage import restoration
from typer.testing import CliRunner

from blurkit import DTypeError, ParameterError, ShapeError
from blurkit.defenses.deblur import (
    BlindDeblur,
    DeblurFrontEnd,
    DeblurNet,
    NonBlindDeblur,
    blind_deblur,
    deblur_files,
    deconvolve,
    estimate_kernel,
    hyper_laplacian_deconv,
    make_deblurrer,
    richardson_lucy,
    tv_deconv,
    wiener,
)
from blurkit.functional import blur
from blurkit.kernels import disk_kernel, gaussian_kernel, motion_kernel
from blurkit.measure import psnr

KERNELS = {
    "gaussian": lambda dt: gaussian_kernel(2.0, dtype=dt),
    "defocus": lambda dt: disk_kernel(3.0, dtype=dt),
    "motion": lambda dt: motion_kernel(9.0, 30.0, dtype=dt),
}


def _gray(photos, name, top, left, size, dtype=torch.float64):
    a = photos[name][top : top + size, left : left + size].astype(np.float64).mean(-1) / 255
    return torch.from_numpy(a).to(dtype)[None, None]


@pytest.fixture(scope="module")
def crops(photos_uint8):
    """Two natural crops, RGB float64, 96x96: camera (gray as RGB) and astronaut."""
    cam = photos_uint8["camera"][150:246, 200:296]
    ast = photos_uint8["astronaut"][30:126, 180:276]
    x = np.stack([cam, ast]).astype(np.float64) / 255
    return torch.from_numpy(x).permute(0, 3, 1, 2).contiguous()


# --- pinned against scikit-image -------------------------------------------------------


@pytest.mark.parametrize("family", list(KERNELS))
def test_wiener_matches_skimage_in_circular_mode(photos_uint8, family):
    # scikit-image's model: periodic image, Laplacian regulariser, unitary FFTs that
    # cancel, kernel centre at k // 2 -- the same operator in float64 to rounding.
    x = _gray(photos_uint8, "camera", 100, 150, 80)
    k = KERNELS[family](torch.float64)
    y = blur(x, k, boundary="reflect")
    ours = wiener(y, k, 0.01, boundary="circular", clip=False)[0, 0].numpy()
    ref = restoration.wiener(y[0, 0].numpy(), k[0, 0].numpy(), 0.01, clip=False)
    np.testing.assert_allclose(ours, ref, atol=1e-12)


def test_wiener_matches_skimage_float32(photos_uint8):
    x = _gray(photos_uint8, "astronaut", 40, 200, 64, torch.float32)
    k = motion_kernel(7.0, 120.0)
    y = blur(x, k)
    ours = wiener(y, k, 0.003, boundary="circular", clip=False)[0, 0].numpy()
    ref = restoration.wiener(y[0, 0].numpy(), k[0, 0].numpy(), 0.003, clip=False)
    assert ref.dtype == np.float32
    np.testing.assert_allclose(ours, ref, atol=2e-5)  # float32 FFT rounding, stated


@pytest.mark.parametrize("filter_epsilon", [None, 0.05])
def test_richardson_lucy_matches_skimage(photos_uint8, filter_epsilon):
    # scikit-image: start at 0.5, scipy.signal.convolve(mode="same") (zero boundary),
    # eps 1e-12 added to the re-blurred estimate.
    x = _gray(photos_uint8, "camera", 100, 150, 64)
    k = KERNELS["motion"](torch.float64)
    y = blur(x, k)
    ours = richardson_lucy(
        y, k, 15, boundary="zeros", init=0.5, clip=False, filter_epsilon=filter_epsilon
    )[0, 0].numpy()
    ref = restoration.richardson_lucy(
        y[0, 0].numpy(), k[0, 0].numpy(), 15, clip=False, filter_epsilon=filter_epsilon
    )
    np.testing.assert_allclose(ours, ref, atol=1e-10)


def test_richardson_lucy_clip_matches_skimage_in_range(photos_uint8):
    x = _gray(photos_uint8, "camera", 100, 150, 48)
    k = KERNELS["defocus"](torch.float64)
    y = blur(x, k)
    ours = richardson_lucy(y, k, 10, boundary="zeros", init=0.5)[0, 0].numpy()
    ref = restoration.richardson_lucy(y[0, 0].numpy(), k[0, 0].numpy(), 10)  # clips to [-1, 1]
    np.testing.assert_allclose(ours, np.clip(ref, 0, 1), atol=1e-10)


# --- restoration of natural photographs --------------------------------------------------

GAINS = {  # minimum PSNR gain (dB) over the blurred input on the two crops, 8-bit input
    "wiener": 2.0,
    "rl": 1.5,
    "tv": 2.0,
    "hyper_laplacian": 2.0,
}


@pytest.mark.parametrize("family", list(KERNELS))
@pytest.mark.parametrize("method", list(GAINS))
def test_psnr_improves_on_photographs(crops, family, method):
    k = KERNELS[family](torch.float64)
    y = (blur(crops, k, boundary="reflect") * 255).round() / 255  # as read from a file
    z = deconvolve(y, k, method)
    gain = psnr(z, crops) - psnr(y, crops)
    assert (gain > GAINS[method]).all(), gain


@pytest.mark.parametrize("family", list(KERNELS))
def test_blind_improves_on_photographs(crops, family):
    k = KERNELS[family](torch.float64)
    y = (blur(crops, k, boundary="reflect") * 255).round() / 255
    z = blind_deblur(y, family)
    assert (psnr(z, crops) > psnr(y, crops) + 1.0).all()


def test_estimated_kernel_close_to_truth(crops):
    y = blur(crops, disk_kernel(3.0, dtype=torch.float64))
    _, p = estimate_kernel(y, "defocus", shrink=1.0)
    assert torch.allclose(p["radius"], torch.full((2,), 3.0, dtype=torch.float64), atol=0.6)


def test_taper_removes_border_ringing(crops):
    # a circular model on a non-periodic photo rings from the borders; pad + taper does not
    k = KERNELS["defocus"](torch.float64)
    y = (blur(crops, k, boundary="reflect") * 255).round() / 255
    border = torch.ones_like(crops, dtype=torch.bool)
    border[..., 10:-10, 10:-10] = False

    def border_psnr(z):
        return -10 * torch.log10((z - crops)[border].square().mean())

    tapered = border_psnr(wiener(y, k, 1e-3))
    periodic = border_psnr(wiener(y, k, 1e-3, boundary="circular"))
    assert tapered > border_psnr(y) + 1.0
    assert tapered > periodic + 5.0


# --- batching, per-sample kernels, dtype, device, gradients ------------------------------


@pytest.mark.parametrize("method", ["wiener", "rl", "tv", "hyper_laplacian"])
def test_batch_equals_loop_with_per_sample_kernels(method):
    g = torch.Generator().manual_seed(0)
    x = torch.rand(3, 2, 24, 28, generator=g, dtype=torch.float64)
    k = torch.cat(
        [
            gaussian_kernel(1.2, size=9, dtype=torch.float64),
            disk_kernel(2.0, size=9, dtype=torch.float64),
            motion_kernel(6.0, 45.0, size=9, dtype=torch.float64),
        ]
    )
    y = blur(x, k)
    params = {"num_iter": 5} if method == "rl" else {}
    batched = deconvolve(y, k, method, **params)
    looped = torch.cat([deconvolve(y[i : i + 1], k[i : i + 1], method, **params) for i in range(3)])
    torch.testing.assert_close(batched, looped, atol=1e-10, rtol=0)
    # per-channel kernels: channel c of image b deblurred with kernel (b, c)
    kc = torch.stack([k[:, 0], k.flip(0)[:, 0]], 1)
    both = deconvolve(y, kc, method, **params)
    ch1 = deconvolve(y[:, 1:], k.flip(0), method, **params)
    torch.testing.assert_close(both[:, 1:], ch1, atol=1e-10, rtol=0)


def test_single_image_rank_dtype_and_even_kernel():
    x = torch.rand(3, 20, 20)
    k = torch.ones(4, 4) / 16  # even side: centre at index 2, as blurkit.blur
    for method in ("wiener", "rl", "tv"):
        z = deconvolve(blur(x, k), k, method)
        assert z.shape == x.shape and z.dtype == torch.float32
    z = wiener(x.double()[None], k.double())
    assert z.dtype == torch.float64


def test_even_kernel_restores_like_its_odd_padding():
    x = torch.rand(1, 1, 24, 24, dtype=torch.float64)
    k = torch.rand(1, 1, 4, 6, dtype=torch.float64)
    k = k / k.sum()
    k_odd = torch.nn.functional.pad(k, (0, 1, 0, 1))
    y = blur(x, k)
    for method in ("wiener", "rl"):
        torch.testing.assert_close(deconvolve(y, k, method), deconvolve(y, k_odd, method))


def test_gradients_flow_to_image_kernel_and_balance():
    x = torch.rand(1, 1, 16, 16, dtype=torch.float64, requires_grad=True)
    k = gaussian_kernel(1.0, size=5, dtype=torch.float64).requires_grad_(True)
    bal = torch.tensor([1e-2], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda a, b, c: wiener(a, b, c, clip=False), (x, k, bal), eps=1e-6, atol=1e-5
    )
    z = tv_deconv(x, k.detach(), clip=False)
    (gx,) = torch.autograd.grad(z.sum(), x)
    assert torch.isfinite(gx).all() and gx.abs().sum() > 0
    z = richardson_lucy(x.detach().clamp_min(0.05).requires_grad_(True), k.detach(), 3)
    assert z.requires_grad


def test_hyper_laplacian_shrinkage_is_the_minimiser():
    from blurkit.defenses.deblur.nonblind import _shrink

    v = torch.linspace(-2, 2, 81, dtype=torch.float64)
    for alpha in (1.0, 2 / 3, 0.5):
        for beta in (1.0, 8.0, 64.0):
            w = _shrink(v, beta, alpha, newton_steps=8)
            grid = torch.linspace(-2.5, 2.5, 20001, dtype=torch.float64)
            energy = grid.abs()[None] ** alpha + beta / 2 * (grid[None] - v[:, None]) ** 2
            best = energy.min(1).values
            got = w.abs() ** alpha + beta / 2 * (w - v) ** 2
            assert (got <= best + 1e-6).all(), (alpha, beta)


# --- typed errors ------------------------------------------------------------------------


def test_typed_errors():
    x = torch.rand(2, 3, 16, 16)
    k = gaussian_kernel(1.0)
    with pytest.raises(ShapeError):
        wiener(x, torch.ones(3, 1, 3, 3) / 9)  # 3 kernels for 2 images
    with pytest.raises(ShapeError):
        richardson_lucy(x, torch.ones(1, 2, 3, 3) / 9)  # 2 channels for 3
    with pytest.raises(ShapeError):
        wiener(torch.rand(16, 16), k)
    with pytest.raises(DTypeError):
        wiener((x * 255).to(torch.uint8), k)
    with pytest.raises(ParameterError, match="balance"):
        wiener(x, k, -1.0)
    with pytest.raises(ParameterError, match="boundary"):
        wiener(x, k, boundary="zeros")  # no FFT model for zero padding
    with pytest.raises(DTypeError, match="num_iter"):  # the integer rule (check_int)
        richardson_lucy(x, k, 2.5)
    with pytest.raises(ParameterError, match="alpha"):
        hyper_laplacian_deconv(x, k, alpha=1.5)
    with pytest.raises(ParameterError, match="method"):
        deconvolve(x, k, "magic")
    with pytest.raises(ParameterError, match="family"):
        blind_deblur(x, "zoom")
    with pytest.raises(ParameterError, match="kernel"):
        make_deblurrer("wiener")
    with pytest.raises(ParameterError, match="kernel"):
        make_deblurrer("blind", k)


# --- modules and the front-end -----------------------------------------------------------


class _Clf(torch.nn.Module):
    """A Classifier-like module: pixel-space input, attributes of blurkit.models.Classifier."""

    def __init__(self):
        super().__init__()
        self.net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 32 * 32, 10))
        self.classes = [f"c{i}" for i in range(10)]
        self.input_size = 32
        self.name = "toy"
        self.info = {"acc": 0.5}

    @property
    def num_classes(self):
        return len(self.classes)

    def preprocess(self, image):
        return torch.zeros(3, 32, 32)

    def forward(self, x):
        return self.net(x)


def test_frontend_forward_and_passthrough():
    clf = _Clf().double()
    k = disk_kernel(1.0, dtype=torch.float64)
    deb = NonBlindDeblur(k, "wiener", balance=1e-3)
    fe = DeblurFrontEnd(clf, deb)
    x = torch.rand(4, 3, 32, 32, dtype=torch.float64)
    out = fe(x)
    assert out.shape == (4, 10)
    torch.testing.assert_close(out, clf(wiener(x, k, 1e-3)))
    assert fe.classes == clf.classes and fe.input_size == 32 and fe.num_classes == 10
    assert fe.info == {"acc": 0.5} and fe.preprocess(None).shape == (3, 32, 32)
    assert fe.name == "toy+NonBlindDeblur"
    assert isinstance(fe, torch.nn.Module) and any(p is clf.net[1].weight for p in fe.parameters())
    with pytest.raises(AttributeError):
        _ = fe.no_such_attribute
    # gradients reach the input through the differentiable deblurrer
    xr = x.clone().requires_grad_(True)
    fe(xr).sum().backward()
    assert torch.isfinite(xr.grad).all() and xr.grad.abs().sum() > 0


def test_frontend_with_real_classifier_wrapper():
    from blurkit.models.cifar import ResNet9
    from blurkit.models.wrappers import Classifier

    clf = Classifier(
        ResNet9(widths=(4, 8, 8, 8)), (0.5,) * 3, (0.5,) * 3, list("abcdefghij"), 32, name="r9"
    ).eval()
    fe = DeblurFrontEnd(clf, BlindDeblur("gaussian")).eval()
    assert fe(torch.rand(2, 3, 32, 32)).shape == (2, 10)
    assert fe.classes == list("abcdefghij") and fe.input_size == 32 and fe.name.startswith("r9+")


def test_modules_agree_with_functions():
    x = torch.rand(2, 3, 40, 40, dtype=torch.float64)
    k = motion_kernel(5.0, 10.0, dtype=torch.float64)
    torch.testing.assert_close(NonBlindDeblur(k, "tv")(x), tv_deconv(x, k))
    torch.testing.assert_close(
        BlindDeblur("motion", "rl", num_iter=4)(x), blind_deblur(x, "motion", "rl", num_iter=4)
    )


def test_deblur_net_shape_residual_and_grayscale():
    net = DeblurNet(width=8)
    for p in net.body[-1].parameters():
        torch.nn.init.zeros_(p)  # zero correction: the identity
    x = torch.rand(2, 3, 20, 24)
    torch.testing.assert_close(net(x), x)
    assert net(x[:, :1]).shape == (2, 1, 20, 24)
    assert net(x[0]).shape == (3, 20, 24)
    with pytest.raises(ShapeError):
        net(torch.rand(1, 2, 8, 8))
    assert 40_000 < sum(p.numel() for p in DeblurNet().parameters()) < 150_000


def test_bundled_deblur_net_restores_blurred_photos(crops):
    from blurkit.defenses.deblur.learned import _asset_path, load_deblur_net

    if not _asset_path().is_file():
        pytest.skip("bundled deblurring weights not trained yet (scripts/train_deblur_net.py)")
    net = load_deblur_net()
    x = torch.nn.functional.avg_pool2d(crops.float(), 2)  # CIFAR-like detail per pixel
    y = (blur(x, disk_kernel(1.5)) * 255).round() / 255
    with torch.no_grad():
        z = net(y)
    assert (psnr(z, x) > psnr(y, x) + 0.5).all()


# --- files and the command line -----------------------------------------------------------


@pytest.fixture
def image_dir(tmp_path, photos_uint8):
    Image.fromarray(photos_uint8["astronaut"][:64, 180:244]).save(tmp_path / "a.png")
    Image.fromarray(photos_uint8["camera"][100:148, 150:198, 0]).save(tmp_path / "g.png")
    (tmp_path / "broken.png").write_bytes(b"not an image")
    return tmp_path


def test_deblur_files_reports_and_skips(image_dir, tmp_path):
    files = [image_dir / n for n in ("a.png", "g.png", "broken.png", "nope.png")]
    r = deblur_files(files, tmp_path / "out", "rl", kernel="gaussian(sigma=1.0)", num_iter=3)
    assert sorted(d.name for _, d in r.written) == ["a.png", "g.png"]
    assert sorted(p.name for p, _ in r.failed) == ["broken.png", "nope.png"]
    assert np.asarray(Image.open(tmp_path / "out" / "g.png")).ndim == 2  # stays grayscale
    with pytest.raises(ParameterError):
        deblur_files(files, tmp_path / "o2", "wiener")  # non-blind without a kernel


def test_cli_deblur(image_dir, tmp_path):
    from blurkit.cli import app

    runner = CliRunner()
    out = tmp_path / "cli"
    r = runner.invoke(
        app,
        ["deblur", str(image_dir / "a.png"), str(image_dir / "broken.png"), "--method", "wiener",
         "--kernel", "defocus(radius=2)", "--balance", "0.01", "--out", str(out)],
    )  # fmt: skip
    assert r.exit_code == 1, r.output  # one file failed, reported
    assert (out / "a.png").is_file() and "broken.png" in r.output
    r = runner.invoke(
        app,
        ["deblur", str(image_dir / "a.png"), "--method", "blind", "--family", "motion",
         "--out", str(out / "b")],
    )  # fmt: skip
    assert r.exit_code == 0, r.output and (out / "b" / "a.png").is_file()
    r = runner.invoke(
        app, ["deblur", str(image_dir / "a.png"), "--method", "tv", "--out", str(out)]
    )
    assert r.exit_code == 2 and "kernel" in r.output
    r = runner.invoke(
        app, ["deblur", str(image_dir / "a.png"), "-m", "rl", "-k", "gaussian", "--lam", "5",
              "--out", str(out)],
    )  # fmt: skip
    assert r.exit_code == 2 and "lam" in r.output
