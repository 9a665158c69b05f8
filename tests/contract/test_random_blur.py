"""RandomBlur's replay contract, for each family it mixes (its defaults and every
corruption): the same seed draws the same blur, ``params=`` replays a call exactly,
and a batch equals a loop of single images given their slice of the parameters."""

from __future__ import annotations

import _contract_base as base  # registered by conftest.py
import torch

from blurkit.corruptions import list_corruptions
from blurkit.defenses import RandomBlur


def _slice(params: dict, i: int) -> dict:
    return {k: v[i : i + 1] for k, v in params.items()}


class TestRandomBlurContract(base.BaseTester):
    def aug(self, family):
        # mild severities and a small kernel bank keep the corruptions cheap (astigmatism's
        # PSFs at severity 5 take seconds); kernel families take their default range
        families = {family: (1.0, 2.0)} if family in list_corruptions() else [family]
        return RandomBlur(families, p=1.0, seed=0, kernel_bank=2)

    def test_seed_and_params_replay(self, random_blur_family, device, dtype):
        x = self.image(3, 3, 16, 16, device=device, dtype=dtype)
        aug = self.aug(random_blur_family)
        y = aug(x)
        assert y.shape == x.shape and y.dtype == dtype and y.device.type == device.type
        assert torch.equal(aug(x, params=aug.last_params), y), "params= replays the call"
        assert torch.equal(self.aug(random_blur_family)(x), y), "the same seed, the same blur"

    def test_batch_equals_loop(self, random_blur_family, device, dtype):
        x = self.image(3, 3, 16, 16, device=device, dtype=dtype)
        aug = self.aug(random_blur_family)
        params = aug.sample_params(3, device=device, dtype=dtype)
        y = aug.apply(x, params)
        for i in range(3):
            self.assert_close(aug.apply(x[i : i + 1], _slice(params, i))[0], y[i], msg=f"{i}")
