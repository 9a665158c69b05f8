"""The public API: a test that fails if a public name disappears (kornia's api-surface idea).

Adding names is fine; removing or renaming one breaks users and must be deliberate.
"""

from __future__ import annotations

import importlib

import pytest

PUBLIC = {
    "blurkit": [
        "blur",
        "corrupt",
        "list_corruptions",
        "SUITES",
        "kernels",
        "functional",
        "corruptions",
        "BlurkitError",
        "ShapeError",
        "ParameterError",
        "DTypeError",
        "__version__",
    ],
    "blurkit.functional": [
        "blur",
        "blur_separable",
        "choose_method",
        "BOUNDARIES",
        "depth_blur",
        "zoom_blur",
        "product_convolution",
    ],
    "blurkit.kernels": [
        "gaussian_kernel",
        "gaussian_kernel1d",
        "anisotropic_gaussian_kernel",
        "generalized_gaussian_kernel",
        "gaussian_blur",
        "GaussianBlur",
        "disk_kernel",
        "defocus_blur",
        "DefocusBlur",
        "lens_blur_radius",
        "imagenet_c_disk_kernel",
        "motion_kernel",
        "motion_blur",
        "MotionBlur",
        "camera_shake_kernel",
        "sample_shake_trajectory",
        "trajectory_kernel",
        "zernike_psf",
        "myopia_kernel",
        "astigmatism_kernel",
        "scatter_kernel",
        "dirty_lens_blur",
        "normalize_kernel",
        "center_kernel",
        "crop_to_energy",
        "compose_kernels",
        "render_kernels",
        "list_kernels",
        "make_kernel",
        "parse_kernel_spec",
        "register_kernel",
    ],
    "blurkit.corruptions": [
        "corrupt",
        "list_corruptions",
        "get_corruption",
        "register_corruption",
        "Corruption",
        "sample_corruption",
        "SUITES",
    ],
    "blurkit.io": ["read_image", "write_image", "iter_image_files", "ImageReadError"],
    "blurkit.files": ["blur_files", "FilesResult", "map_image_files", "file_seed"],
}


@pytest.mark.parametrize("module", sorted(PUBLIC))
def test_public_names_exist(module):
    mod = importlib.import_module(module)
    missing = [n for n in PUBLIC[module] if not hasattr(mod, n)]
    assert not missing, f"{module} lost public names: {missing}"


@pytest.mark.parametrize(
    "module", ["blurkit", "blurkit.kernels", "blurkit.functional", "blurkit.corruptions"]
)
def test_all_lists_only_real_names(module):
    mod = importlib.import_module(module)
    assert all(hasattr(mod, n) for n in mod.__all__)


def test_every_corruption_runs_on_small_rgb_and_gray():
    import torch

    import blurkit

    for name in blurkit.list_corruptions():
        for c in (1, 3):
            x = torch.rand(2, c, 8, 8)
            for preset in blurkit.corruptions.get_corruption(name).presets:
                y = blurkit.corrupt(x, name, 5, preset=preset, seed=0)
                assert y.shape == x.shape and torch.isfinite(y).all(), (name, preset)
                assert 0 <= float(y.min()) and float(y.max()) <= 1, (name, preset)


def test_every_registered_kernel_family_builds_with_documented_defaults():
    import torch

    from blurkit.kernels import get_kernel, list_kernels
    from blurkit.kernels.gallery import DEFAULT_GALLERY
    from blurkit.kernels.registry import make_kernel, parse_kernel_spec

    drawn = {parse_kernel_spec(s)[0] for s in DEFAULT_GALLERY}
    assert drawn >= set(list_kernels()) - {"zernike"}, "every family appears in the default gallery"
    for spec in DEFAULT_GALLERY:
        k = make_kernel(spec)
        assert k.ndim == 4 and (k >= 0).all()
        torch.testing.assert_close(k.sum((-2, -1)), torch.ones(k.shape[:2]), atol=1e-5, rtol=0)
    assert callable(get_kernel("gaussian"))
