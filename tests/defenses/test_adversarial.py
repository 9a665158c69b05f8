"""The kernel adversary of adversarial blur training: the fidelity term is what keeps
it from destroying the image; budgets hold; cost knobs; the training step."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from blurkit._checks import BlurkitError
from blurkit.defenses.adversarial import KernelAdversary
from blurkit.defenses.methods import AdversarialStep
from blurkit.defenses.training import StepInfo
from blurkit.measure import ssim


class SharpnessNet(torch.nn.Module):
    """Class 0 = 'sharp': its logit is the image's mean |Laplacian|, so any blur lowers it
    and raises the loss of label 0: the adversary's easiest move is the blurriest kernel."""

    def forward(self, x):
        c = x[..., 1:-1, 1:-1]
        lap = 4 * c - x[..., :-2, 1:-1] - x[..., 2:, 1:-1] - x[..., 1:-1, :-2] - x[..., 1:-1, 2:]
        hf = lap.abs().mean((1, 2, 3))
        return torch.stack([20 * hf, torch.ones_like(hf)], 1)


def _images(b=8):
    g = torch.Generator().manual_seed(0)
    return F.interpolate(torch.rand(b, 3, 16, 16, generator=g), size=32, mode="bilinear")


def _run(fidelity, **kw):
    x = _images()
    y = torch.zeros(len(x), dtype=torch.long)
    adv = KernelAdversary(support_radius=3, steps=8, fidelity=fidelity, ssim_budget=0.9, **kw)
    xa, info = adv.perturb(SharpnessNet(), x, y)
    torch.testing.assert_close(info["ssim"], ssim(x, xa))  # reported SSIM is the images'
    return x, xa, info


def test_fidelity_term_keeps_ssim_high_without_it_the_adversary_destroys_the_image():
    _, _, free = _run(None)
    _, _, con = _run("constraint")
    _, _, pen = _run("penalty", penalty_weight=20.0)
    # the required comparison: same start, same steps, only the fidelity term differs
    assert float(free["ssim"].mean()) < 0.5
    assert float(con["ssim"].min()) >= 0.9 - 1e-4  # the constraint holds exactly
    assert float(pen["ssim"].mean()) > 0.87  # the penalty holds it near the budget
    assert float(con["ssim"].mean()) - float(free["ssim"].mean()) > 0.4
    # and the unregularised adversary "wins" only by destroying the image
    assert float(free["loss"].mean()) > float(con["loss"].mean())


def test_adversary_raises_the_loss_within_the_budget():
    x = _images()
    y = torch.zeros(len(x), dtype=torch.long)
    m = SharpnessNet()
    base = KernelAdversary(support_radius=3, steps=0, ssim_budget=0.9)
    _, i0 = base.perturb(m, x, y)
    _, i1 = KernelAdversary(support_radius=3, steps=8, ssim_budget=0.9).perturb(m, x, y)
    assert float(i1["loss"].mean()) >= float(i0["loss"].mean()) - 1e-6
    k = i1["kernels"]
    assert bool((k >= 0).all())
    torch.testing.assert_close(k.sum((-1, -2)), torch.ones(len(x), 1))


@pytest.mark.parametrize("kernel", ["motion", "zernike"])
def test_parametric_spaces_hold_the_budget(kernel):
    x = _images(4)
    y = torch.zeros(4, dtype=torch.long)
    adv = KernelAdversary(kernel, support_radius=3, steps=2, ssim_budget=0.85)
    _, info = adv.perturb(SharpnessNet(), x, y)
    assert float(info["ssim"].min()) >= 0.85 - 1e-4


def test_fraction_and_mask_attack_only_a_share():
    x = _images(8)
    y = torch.zeros(8, dtype=torch.long)
    adv = KernelAdversary(support_radius=2, steps=1, fraction=0.25)
    xa, info = adv.perturb(SharpnessNet(), x, y, generator=torch.Generator().manual_seed(0))
    changed = (xa - x).abs().flatten(1).amax(1) > 0
    assert int(info["mask"].sum()) == 2 and torch.equal(changed, info["mask"])


def test_warm_start_reuses_the_kernel_found_last_time():
    x = _images(4)
    y = torch.zeros(4, dtype=torch.long)
    idx = torch.tensor([10, 3, 7, 0])
    adv = KernelAdversary(support_radius=2, steps=3, fidelity=None, warm_start=True)
    _, i1 = adv.perturb(SharpnessNet(), x, y, indices=idx)
    cold = KernelAdversary(support_radius=2, steps=0, fidelity=None)
    warm = KernelAdversary(support_radius=2, steps=0, fidelity=None, warm_start=True)
    warm.load_state_dict(adv.state_dict())
    _, ic = cold.perturb(SharpnessNet(), x, y, indices=idx)
    _, iw = warm.perturb(SharpnessNet(), x, y, indices=idx)
    torch.testing.assert_close(iw["kernels"], i1["kernels"])  # starts where it stopped
    assert not torch.allclose(ic["kernels"], i1["kernels"])


def test_training_step_updates_the_classifier_not_through_the_attack():
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.BatchNorm2d(4), torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(4, 3),
    )  # fmt: skip
    net.train()
    x, y = _images(8), torch.arange(8) % 3
    step = AdversarialStep(KernelAdversary(support_radius=2, steps=2, fraction=0.5))
    bn_before = net[1].running_mean.clone()
    info = StepInfo(0, 10, 0, slice(0, None, 1), net, torch.arange(8))
    loss, logits, ys = step(net, x, y, torch.Generator().manual_seed(0), info)
    # the inner loop ran in eval mode and left no gradients on the weights ...
    assert all(p.grad is None for p in net.parameters())
    assert net.training
    loss.backward()
    assert all(p.grad is not None for p in net.parameters())
    assert logits.shape == (8, 3) and torch.equal(ys, y)
    assert 0.0 < step.last["adv_ssim"] <= 1.0
    # ... and only the final forward (train mode) moved the BatchNorm statistics, once
    assert not torch.equal(net[1].running_mean, bn_before)


def test_bad_arguments():
    with pytest.raises(BlurkitError, match="fidelity"):
        KernelAdversary(fidelity="hard")
    with pytest.raises(BlurkitError, match="fraction"):
        KernelAdversary(fraction=2.0)
    with pytest.raises(BlurkitError, match="kernel"):
        KernelAdversary("pixels")
