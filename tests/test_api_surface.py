"""The public API, pinned (kornia's api-surface idea).

``PUBLIC`` is a snapshot of ``__all__`` of every public subpackage and module: adding,
removing or renaming a public name fails here until the snapshot is edited, so every
change of the public surface is deliberate. The other tests check that every name of
``__all__`` resolves, that every submodule is pinned and reachable as an attribute
after ``import blurkit`` (lazily: ``import blurkit`` loads only the kernels, the blur
engine and the corruptions).
"""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import blurkit

PUBLIC: dict[str, list[str]] = {
    "blurkit": """
        __version__ blur BlurkitError corrupt corruptions data defenses DTypeError
        EvalConfig evaluate functional kernels list_corruptions measure models
        ParameterError report robustness ShapeError SUITES UnsafeFileError
    """.split(),
    "blurkit.files": """
        blur_files file_seed FilesResult map_image_files
    """.split(),
    "blurkit.cli": """
        app console fail main
    """.split(),
    "blurkit.corruptions": """
        corrupt Corruption get_corruption interpolate_row list_corruptions make_generators
        register_corruption sample_corruption SUITES
    """.split(),
    "blurkit.data": """
        CifarBatchesDataset CsvImageDataset decode_archive_uint8 ImageFolderDataset
        index_archive make_loader open_dataset SAMPLE_PATH shard_indices TarImageDataset
    """.split(),
    "blurkit.defenses": """
        AlbumentationsRandomBlur BlurSchedule consistency_loss js_divergence KernelAdversary
        RandomBlur RandomBlurBase RandomBlurTransform RandomGaussianBlur RandomMotionBlur
        SCHEDULES
    """.split(),
    "blurkit.defenses.augment": """
        AlbumentationsRandomBlur BANKABLE BlurSchedule DEFAULT_FAMILIES KERNEL_FAMILIES
        RandomBlur RandomBlurBase RandomBlurTransform RandomGaussianBlur RandomMotionBlur
        SCHEDULES
    """.split(),
    "blurkit.defenses.deblur": """
        blind_deblur BLIND_FAMILIES BlindDeblur deblur_files DEBLUR_METHODS DEBLUR_NET_ASSET
        DeblurFrontEnd DeblurNet deconvolve estimate_freeform_kernel
        estimate_kernel FREEFORM_PRIORS hyper_laplacian_deconv load_deblur_net
        make_deblurrer NONBLIND_METHODS NonBlindDeblur richardson_lucy tv_deconv wiener
    """.split(),
    "blurkit.functional": """
        blur blur_separable BOUNDARIES choose_method convolve depth_blur depth_defocus
        product_convolution PRODUCT_MODES zoom_blur ZoomBlur
    """.split(),
    "blurkit.io": """
        display_path IMAGE_EXTENSIONS ImageReadError iter_image_files read_image
        pil_to_tensor walk_image_files write_image
    """.split(),
    "blurkit.kernels": """
        anisotropic_gaussian_kernel arcmin_per_pixel astigmatism_blur astigmatism_kernel
        AstigmatismBlur camera_shake_kernel center_kernel compose_kernels crop_to_energy
        defocus_blur DefocusBlur dirty_lens_blur DirtyLensBlur disk_coverage disk_kernel
        gaussian_blur gaussian_kernel gaussian_kernel1d GaussianBlur
        generalized_gaussian_kernel get_kernel imagenet_c_disk_kernel kernel_centroid
        kernel_grid lens_blur_radius list_kernels make_kernel motion_blur motion_kernel
        MotionBlur myopia_blur myopia_kernel MyopiaBlur normalize_kernel odd_size pad_kernel
        parse_kernel_spec register_kernel render_kernels RGB_WAVELENGTHS_NM
        sample_shake_trajectory scatter_kernel trajectory_kernel zernike_index ZERNIKE_NAMES
        zernike_polynomial zernike_psf
    """.split(),
    "blurkit.measure": """
        blur_effect BT709 compare_up_to_shift cpbd edge_width error_ratio estimate_blur
        FAMILIES FIT_FAMILIES fit_psf get_metric hf_energy_ratio laplacian_variance
        list_metrics measure_files MeasureResult MetricInfo METRICS ms_ssim ms_ssim_levels
        MS_SSIM_WEIGHTS PSFFit psnr radial_power_spectrum sharpness_sign ShiftComparison
        spectral_slope ssim tenengrad to_gray
    """.split(),
    "blurkit.models": """
        AirNet ALIASES ARCHITECTURES build_model BUNDLED_CIFAR BUNDLED_CIFAR_ROBUST
        CIFAR10_CLASSES Classifier DEFAULT_MODEL DOWNLOAD efficientnet_lite0_weights_path
        estimate_parameters imagenet_classes instantiate list_models load_model
        load_state_file load_trained match_label_space model_info Normalize register_model
        ResizeCenterCrop ResNet20 ResNet9 restrict_classes save_model
    """.split(),
    "blurkit.report": """
        load_results render_report
    """.split(),
    "blurkit.robustness": """
        ALEXNET_CLEAN_ERR ALEXNET_ERR attack_success_curve AttackResult blur_attack
        BlurFamily classification_margin ClassificationTask corruption_error critical_blur
        CriticalBlurResult DistContext embedding_critical_blur EmbeddingTask EvalConfig
        evaluate_model EvaluationResult fixed_family_at_budget flip_probability flip_rate
        get_family get_task grid_agreement grid_critical_blur GridResult image_seeds
        init_distributed KERNEL_SPACES list_families list_tasks mean_corruption_error
        merge_results project_simplex read_cells_csv register_family register_task
        relative_corruption_error ResultStore ResumeError scan_plan shard_indices
        spread_positions summarize Task topk_correct wilson_interval
    """.split(),
}

#: the submodules ``import blurkit`` loads (the rest load on first attribute access)
EAGER = {"corruptions", "functional", "kernels"}


def _public_submodules() -> set[str]:
    """Every public module of blurkit found on disk: the top-level ones and the packages
    below them (``blurkit.defenses.deblur``)."""
    top = {m.name for m in pkgutil.iter_modules(blurkit.__path__) if not m.name.startswith("_")}
    found = {f"blurkit.{n}" for n in top}
    for m in pkgutil.walk_packages(blurkit.__path__, "blurkit."):
        if m.ispkg and not any(p.startswith("_") for p in m.name.split(".")):
            found.add(m.name)
    return found


@pytest.mark.parametrize("module", sorted(PUBLIC))
def test_public_names_are_the_snapshot(module):
    names = set(importlib.import_module(module).__all__)
    pinned = set(PUBLIC[module])
    assert names == pinned, (
        f"{module}: new public names {sorted(names - pinned)}, "
        f"lost public names {sorted(pinned - names)}; edit PUBLIC if this is deliberate"
    )


@pytest.mark.parametrize("module", sorted(PUBLIC))
def test_every_public_name_resolves(module):
    mod = importlib.import_module(module)
    assert len(mod.__all__) == len(set(mod.__all__)), f"{module}: __all__ repeats a name"
    missing = [n for n in mod.__all__ if not hasattr(mod, n)]
    assert not missing, f"{module}.__all__ names what it does not have: {missing}"


def test_every_public_submodule_is_pinned_and_reachable():
    assert _public_submodules() == set(PUBLIC) - {"blurkit"}
    listed = dir(blurkit)
    for full in sorted(m for m in PUBLIC if m.count(".") == 1):
        name = full.split(".")[1]
        assert name in listed, f"dir(blurkit) does not list {name!r}"
        assert getattr(blurkit, name) is importlib.import_module(full)
    assert blurkit.defenses.deblur is importlib.import_module("blurkit.defenses.deblur")
    with pytest.raises(AttributeError, match="no attribute 'nonesuch'"):
        blurkit.nonesuch  # noqa: B018


def test_subpackages_load_lazily():
    # a fresh interpreter: what ``import blurkit`` loads, and what one attribute access adds
    code = (
        "import sys, blurkit\n"
        "top = lambda: sorted({m.split('.')[1] for m in sys.modules if m.startswith('blurkit.')})\n"
        "print(top())\n"
        "blurkit.measure\n"
        "print(top())\n"
    )
    src = str(Path(blurkit.__file__).parents[1])
    r = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": src, "PATH": "/usr/bin:/bin"},
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    before, after = (set(eval(line)) for line in r.stdout.split("\n")[:2])  # noqa: S307
    assert before - {"_checks", "_registry", "_seeds"} == EAGER, before
    assert after - before == {"measure", "io"}, after - before  # io: the file layer below it


def test_every_corruption_runs_on_small_rgb_and_gray():
    import torch

    for name in blurkit.list_corruptions():
        for c in (1, 3):
            x = torch.rand(2, c, 8, 8)
            for preset in blurkit.corruptions.get_corruption(name).presets:
                y = blurkit.corrupt(x, name, 5, preset=preset, seed=0)
                assert y.shape == x.shape and torch.isfinite(y).all(), (name, preset)
                assert 0 <= float(y.min()) and float(y.max()) <= 1, (name, preset)


def test_every_registered_kernel_family_builds_with_documented_defaults():
    import torch

    from blurkit.kernels import list_kernels
    from blurkit.kernels.gallery import DEFAULT_GALLERY
    from blurkit.kernels.registry import make_kernel, parse_kernel_spec

    drawn = {parse_kernel_spec(s)[0] for s in DEFAULT_GALLERY}
    assert drawn >= set(list_kernels()) - {"zernike"}, "every family appears in the default gallery"
    for spec in DEFAULT_GALLERY:
        k = make_kernel(spec)
        assert k.ndim == 4 and (k >= 0).all()
        torch.testing.assert_close(k.sum((-2, -1)), torch.ones(k.shape[:2]), atol=1e-5, rtol=0)
