"""Critical blur: precision and pass bounds, agreement with a dense grid, flags and summaries."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import pytest
import torch
from torch import nn

from blurkit import ParameterError, ShapeError
from blurkit.corruptions import corrupt
from blurkit.kernels import gaussian_blur, motion_blur
from blurkit.measure import psnr, ssim
from blurkit.robustness import (
    classification_margin,
    critical_blur,
    get_family,
    grid_agreement,
    grid_critical_blur,
    list_families,
)
from blurkit.robustness.critical import scan_plan

torch.set_num_threads(1)


# ----------------------------------------------------------------- models and data


class EdgeEnergy(nn.Module):
    """A hand-set 'CNN': class 0 when the image holds more edge energy than a threshold.

    Total variation never grows under Gaussian blur (convolution with a kernel of mass
    one, and Gaussians form a semigroup), so the flip is monotone in sigma and the
    critical sigma is well defined: a reference the search must hit.
    """

    def __init__(self, threshold: float = 0.06) -> None:
        super().__init__()
        k = torch.tensor([[-1.0, 1.0]])
        self.register_buffer("dx", k.reshape(1, 1, 1, 2).repeat(3, 1, 1, 1))
        self.register_buffer("dy", k.reshape(1, 1, 2, 1).repeat(3, 1, 1, 1))
        self.log_t = math.log(threshold)

    def forward(self, x):
        gx = nn.functional.conv2d(x, self.dx, groups=3).abs().mean((1, 2, 3))
        gy = nn.functional.conv2d(x, self.dy, groups=3).abs().mean((1, 2, 3))
        e = torch.log(gx + gy)
        return torch.stack([e, torch.full_like(e, self.log_t)], 1)


_spec = importlib.util.spec_from_file_location("_toy", Path(__file__).with_name("_toy.py"))
_toy = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_toy)
gratings = _toy.gratings


@pytest.fixture(scope="module")
def tiny_cnn():
    """A tiny CNN trained for a few seconds to tell grating orientations apart."""
    return _toy.train_tiny_cnn()


@pytest.fixture(scope="module")
def textures():
    g = torch.Generator().manual_seed(3)
    # smooth random fields plus noise of random amplitude: varied edge energy
    base = torch.rand(24, 3, 8, 8, generator=g)
    x = nn.functional.interpolate(base, size=32, mode="bilinear", align_corners=False)
    amp = torch.linspace(0.02, 0.3, 24)[:, None, None, None]
    return (x + amp * torch.rand(24, 3, 32, 32, generator=g)).clamp(0, 1)


# ----------------------------------------------------------------- precision and passes


def _ref_critical_sigma(model, x, lo, hi, iters=40):
    """Independent reference: plain float64 bisection, one image at a time."""
    out = []
    for xi in x.double():
        a, b = math.log(lo), math.log(hi)
        for _ in range(iters):
            m = (a + b) / 2
            y = model(gaussian_blur(xi[None], math.exp(m))).argmax(1)
            a, b = (a, m) if int(y) != 0 else (m, b)
        out.append(math.exp(b))
    return torch.tensor(out)


def test_precision_and_pass_bound_against_reference(textures):
    # float64 throughout, so that re-evaluating a bracket end in another batch (the
    # Gaussian's support follows the batch's largest sigma) cannot tip a float32 tie
    model = EdgeEnergy().double()
    textures = textures.double()
    labels = torch.zeros(len(textures), dtype=torch.long)
    r = critical_blur(model, textures, labels, "gaussian")
    assert r.correct.all() and r.flipped.sum() >= 20
    assert int(r.passes.max()) <= 12
    fl = r.flipped
    # the bracket: 'strength' flips, 'lower' does not, and they are within 1 %
    assert bool((r.strength[fl] / r.lower[fl] <= 1.01 * (1 + 1e-6)).all())
    # re-evaluated alone, 'strength' flips and 'lower' does not, up to a margin of 1e-4 (the
    # margin moves by about 6e-3 across a 1 % bracket here):
    # the search may land 'lower' on the root itself, and gaussian_blur sizes its kernel
    # by the batch's largest sigma, which moves the logits by about 1e-5
    mb = classification_margin(model(gaussian_blur(textures[fl], r.strength[fl])), labels[fl])
    ml = classification_margin(model(gaussian_blur(textures[fl], r.lower[fl])), labels[fl])
    assert float(mb.max()) < 1e-4 and float(ml.min()) > -1e-4
    ref = _ref_critical_sigma(model, textures[fl], r.min_strength, r.max_strength)
    rel = (r.strength[fl].double() / ref - 1).abs()
    assert float(rel.max()) <= 0.0101
    # SSIM and PSNR are those of the image blurred at the reported strength
    xb = gaussian_blur(textures[fl], r.strength[fl])
    torch.testing.assert_close(r.ssim[fl], ssim(textures[fl], xb), atol=1e-6, rtol=0)
    torch.testing.assert_close(r.psnr[fl], psnr(textures[fl], xb), atol=1e-4, rtol=0)


def test_itp_needs_fewer_passes_than_bisection(textures):
    model = EdgeEnergy()
    labels = torch.zeros(len(textures), dtype=torch.long)
    itp = critical_blur(model, textures, labels, "gaussian")
    bis = critical_blur(model, textures, labels, "gaussian", method="bisect")
    fl = itp.flipped
    # bisection: clean + scan points up to the first that flips + bisection of its cell
    plan = scan_plan(0.1, 8.0, 0.01, 12)
    expected = []
    for s in bis.strength[fl].tolist():
        j = next(i for i, p in enumerate(plan) if p >= s * (1 - 1e-6))
        expected.append(j + 2 + _steps(([0.1] + plan)[j], plan[j], 0.01))
    assert bis.passes[fl].tolist() == expected
    assert int(bis.passes[fl].max()) <= 12 and int(itp.passes[fl].max()) <= 12
    assert float(itp.passes[fl].float().mean()) < float(bis.passes[fl].float().mean()) - 1
    torch.testing.assert_close(itp.strength[fl], bis.strength[fl], rtol=0.0201, atol=0)


def test_finer_tolerance_and_too_few_steps(textures):
    model = EdgeEnergy()
    labels = torch.zeros(len(textures), dtype=torch.long)
    r = critical_blur(model, textures[:8], labels[:8], "gaussian", rel_tol=1e-3, max_steps=16)
    assert float(r.precision[r.flipped].max()) <= 1e-3 * (1 + 1e-6)
    assert int(r.passes.max()) <= 16
    with pytest.warns(UserWarning, match="max_steps"):
        r = critical_blur(model, textures[:8], labels[:8], "gaussian", max_steps=5)
    assert int(r.passes.max()) <= 5
    assert float(r.precision[r.flipped].max()) > 0.01  # reported, not hidden


def test_flags_never_flipped_and_incorrect(textures):
    model = EdgeEnergy(threshold=1e-6)  # edge energy never falls that low: never flips
    n = 6
    labels = torch.tensor([0, 0, 0, 1, 1, 0])
    r = critical_blur(model, textures[:n], labels, "gaussian", max_strength=2.0)
    assert r.correct.tolist() == [True, True, True, False, False, True]
    assert torch.isinf(r.strength[r.correct]).all() and torch.isnan(r.strength[~r.correct]).all()
    assert torch.isnan(r.ssim).all()
    # clean + every scan point up to the top of the bracket; clean only when wrong
    k = len(scan_plan(0.1, 2.0, 0.01, 12))
    assert k >= 2
    assert r.passes.tolist() == [1 + k, 1 + k, 1 + k, 1, 1, 1 + k]
    s = r.summary()
    assert (
        s["fraction_flipped"] == 0.0 and s["correct"] == 4 and s["strength"]["median"] == math.inf
    )


def test_below_min_flag(textures):
    r = critical_blur(EdgeEnergy(threshold=0.5), textures[:4], torch.zeros(4, dtype=torch.long))
    # threshold above every image's energy: wrong when clean, all NaN
    assert not r.correct.any()
    model = EdgeEnergy()
    x = textures[-2:]
    e = model(x)[:, 0]
    # the threshold just under the clean energy: the flip comes below min_strength = 0.5
    model = EdgeEnergy(threshold=math.exp(float(e.min())) * 0.9999)
    r = critical_blur(model, x, torch.zeros(2, dtype=torch.long), min_strength=0.5)
    assert r.below_min.all() and bool((r.strength <= 0.5 * 1.01 + 1e-9).all())
    assert r.summary()["below_min"] == 2


def test_labels_none_uses_clean_prediction(tiny_cnn):
    x, _ = gratings(12, seed=9)
    r = critical_blur(tiny_cnn, x, None, "gaussian")
    assert r.correct.all()
    torch.testing.assert_close(r.labels, tiny_cnn(x).argmax(1))


def test_batch_size_and_seeded_angles_do_not_change_result(tiny_cnn):
    x, y = gratings(10, seed=4)
    a = critical_blur(tiny_cnn, x, y, "motion", batch_size=3, seed=7)
    b = critical_blur(tiny_cnn, x, y, "motion", batch_size=10, seed=7)
    # equal up to float32 rounding: the margins ITP interpolates differ in the last bit
    # between batch compositions (the convolution's summation order)
    torch.testing.assert_close(a.strength, b.strength, equal_nan=True, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(a.context["angle"], b.context["angle"])
    # an explicit angle overrides the draw, and the flip is verified with motion_blur itself
    c = critical_blur(tiny_cnn, x, y, "motion", angle=30.0)
    fl = c.flipped
    yb = tiny_cnn(motion_blur(x[fl], c.strength[fl], 30.0)).argmax(1)
    assert bool((yb != y[fl]).all())


def test_scan_plan_leaves_every_cell_enough_passes():
    for lo, hi, tol, steps in [(0.1, 8.0, 0.01, 12), (0.25, 64.0, 0.01, 12), (0.1, 2.0, 0.001, 20)]:
        plan = scan_plan(lo, hi, tol, steps)
        assert plan[-1] == hi and all(b > a for a, b in zip([lo, *plan], plan))
        for j, (a, b) in enumerate(zip([lo, *plan], plan)):
            # clean + j + 1 scan passes, then bisection of (a, b] to tol with what is left
            assert j + 2 + _steps(a, b, tol) <= steps
    # too few passes for the bracket: the top alone (and a warning from the search)
    assert scan_plan(0.1, 8.0, 0.01, 5) == [8.0]


def _steps(lo, hi, tol):
    return max(0, math.ceil(math.log2(math.log(hi / lo) / math.log1p(tol)) - 1e-9))


# ----------------------------------------------------------------- dense grid


@pytest.mark.parametrize("family", ["gaussian", "defocus", "motion"])
def test_agrees_with_dense_grid(tiny_cnn, family):
    x, y = gratings(40, seed=11)
    r = critical_blur(tiny_cnn, x, y, family)
    g = grid_critical_blur(tiny_cnn, x, y, family, points=120)
    a = grid_agreement(r, g)
    assert a["images"] >= 36
    assert r.flipped.sum() >= 20
    # every disagreement must be an image whose prediction is non-monotone on the grid
    assert a["agreement"] >= 0.95 and len(a["disagree"]) == a["disagree_nonmonotone"]
    assert int(r.passes.max()) <= 12


def test_grid_cells():
    class Step(nn.Module):  # flips exactly where the Gaussian-blurred centre pixel drops below 0.5
        def forward(self, x):
            v = x[:, 0, 8, 8]
            return torch.stack([v, torch.full_like(v, 0.5)], 1)

    x = torch.zeros(2, 3, 17, 17)
    x[:, :, 8, 8] = 1.0
    g = grid_critical_blur(
        Step(), x, torch.zeros(2, dtype=torch.long), "gaussian", strengths=[0.2, 0.4, 0.8]
    )
    # centre weight of a sampled Gaussian: ~1 at 0.2, 0.56 at 0.4 (4 neighbours ~0.11), < 0.5 at 0.8
    assert g.cell_low.tolist() == [0.4, 0.4] and g.cell_high.tolist() == [0.8, 0.8]
    assert not g.nonmonotone.any()


# ----------------------------------------------------------------- summaries


def test_summary_and_ssim_curve(tiny_cnn):
    x, y = gratings(24, seed=2)
    r = critical_blur(tiny_cnn, x, y, "defocus")
    s = r.summary()
    fin = r.strength[r.correct].double()
    assert s["strength"]["median"] == pytest.approx(float(fin.median()))
    assert s["strength"]["q25"] <= s["strength"]["q50"] <= s["strength"]["q75"]
    assert s["passes_max"] <= 12 and 0 < s["fraction_flipped"] <= 1
    curve = r.ssim_curve([0.0, 0.2, 0.5, 0.8, 1.0])
    f = curve["fraction_correct"]
    assert bool((f[1:] >= f[:-1]).all()) and float(f[-1]) == 1.0
    # independent count at t = 0.5
    crit = r.ssim[r.correct & r.flipped]
    never = int((r.correct & ~r.flipped).sum())
    want = (int((crit < 0.5).sum()) + never) / int(r.correct.sum())
    assert float(f[2]) == pytest.approx(want)
    assert len(r.rows()) == 24 and set(r.rows()[0]) >= {"strength", "ssim", "psnr", "passes"}


def test_corruption_family_by_name(tiny_cnn):
    x, y = gratings(8, seed=6)
    r = critical_blur(tiny_cnn, x, y, "gaussian_blur", max_strength=4.0)
    assert r.family == "gaussian_blur" and r.flipped.any()
    fl = r.flipped
    yb = tiny_cnn(corrupt(x[fl], "gaussian_blur", 1, sigma=r.strength[fl])).argmax(1)
    assert bool((yb != y[fl]).all())


def test_registry_and_errors(tiny_cnn):
    assert {"gaussian", "defocus", "motion", "myopia"} <= set(list_families())
    assert get_family("gaussian").low > 0
    x, y = gratings(2)
    with pytest.raises(ParameterError, match="family"):
        critical_blur(tiny_cnn, x, y, "no_such_blur")
    with pytest.raises(ParameterError, match="continuous"):
        critical_blur(tiny_cnn, x, y, "glass_blur", max_strength=1.0)
    with pytest.raises(ParameterError, match="rel_tol"):
        critical_blur(tiny_cnn, x, y, rel_tol=0.0)
    with pytest.raises(ParameterError, match="max_steps"):
        critical_blur(tiny_cnn, x, y, max_steps=2)
    with pytest.raises(ShapeError, match="labels"):
        critical_blur(tiny_cnn, x, y[:1])
    with pytest.raises(ParameterError, match="max_strength"):
        critical_blur(tiny_cnn, x, y, min_strength=2.0, max_strength=1.0)


# ----------------------------------------------------------------- bundled model


def _bundled():
    # the bundled CIFAR-10 model and sample ship in the wheel (src/blurkit/assets): if either
    # fails to load, that is a bug to see, not a reason to skip
    from blurkit.cli.cmd_evaluate import default_model
    from blurkit.data import open_dataset
    from blurkit.models import load_model

    # the bundled CIFAR-10 model, whatever its registered name
    return load_model(default_model()), open_dataset("sample")


def test_bundled_model_grid_agreement():
    model, ds = _bundled()
    from blurkit.robustness.evaluate import spread_positions

    # spread over the class-sorted sample; 48 images keep the 100-point grid to ~20 s
    items = [ds[i] for i in spread_positions(len(ds), 48)]
    x = torch.stack([it[0] for it in items])
    y = torch.tensor([it[1] for it in items])
    r = critical_blur(model, x, y, "gaussian")
    g = grid_critical_blur(model, x, y, "gaussian", points=100)
    a = grid_agreement(r, g)
    assert int(r.passes.max()) <= 12
    # the 98% is measured over the whole sample by benchmarks/critical_blur.py;
    # here a regression guard (before the first-change scan this was 10/21)
    assert a["agreement"] >= 0.9, a


def test_seeds_follow_the_one_seed_rule():
    import blurkit

    m = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 16 * 16, 4))
    x = torch.rand(2, 3, 16, 16)
    assert len(critical_blur(m, x, family="motion", seed=2**70)) == 2  # folded, not Overflow
    with pytest.raises(blurkit.DTypeError):
        critical_blur(m, x, family="motion", seed="a")
