"""The one seed rule (blurkit._seeds) at the places that used to handle seeds by hand."""

import pytest
import torch

from blurkit._checks import DTypeError, ParameterError, ShapeError
from blurkit._seeds import check_generators, make_generator, make_generators
from blurkit.files import blur_files, file_seed
from blurkit.kernels import sample_shake_trajectory
from blurkit.robustness.config import EvalConfig


def test_make_generator_draws_what_manual_seed_draws():
    for s in (0, 7, 2**63 + 5):
        a = torch.rand(4, generator=make_generator(s))
        assert torch.equal(a, torch.rand(4, generator=torch.Generator().manual_seed(s)))
    with pytest.raises(ParameterError, match="seed: expected a non-negative integer"):
        make_generator(-1)
    with pytest.raises(DTypeError, match="fold_seed"):
        make_generator(1.5, "fold_seed")


def test_check_generators():
    g = torch.Generator()
    assert check_generators(g, 5) == [g] and check_generators(None, 5) == [None]
    with pytest.raises(ShapeError, match="expected 1 or 3 generators"):
        check_generators([g, g], 3)
    with pytest.raises(DTypeError, match="generator: expected a torch.Generator"):
        check_generators(3, 3)


def test_shake_trajectory_seeds_follow_the_rule():
    a = sample_shake_trajectory(2, 20.0, steps=50, seed=3)
    b = sample_shake_trajectory(2, 20.0, steps=50, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b)  # same numbers as before the rule was shared
    per = sample_shake_trajectory(2, 20.0, steps=50, seed=[3, 4])  # one seed per trajectory
    gens = make_generators([3, 4], 2)
    assert torch.equal(per, sample_shake_trajectory(2, 20.0, steps=50, generator=gens))
    with pytest.raises(ShapeError):
        sample_shake_trajectory(2, 20.0, steps=50, seed=[3])
    with pytest.raises(ParameterError, match="seed"):
        sample_shake_trajectory(2, 20.0, steps=50, seed=-2)


def test_file_seed_and_blur_files_check_the_seed(tmp_path):
    assert file_seed(5, "a/cat.png") == (5 * 1_000_003 + file_seed(0, "cat.png")) % 2**63
    with pytest.raises(DTypeError, match="seed"):
        file_seed("5", "cat.png")
    with pytest.raises(ParameterError, match="seed"):  # before any file is read
        blur_files([tmp_path / "missing.png"], tmp_path, corruption="zoom_blur", seed=-1)


def test_eval_config_seed_rule():
    with pytest.raises(ParameterError, match="seed: expected a non-negative integer"):
        EvalConfig(seed=-1).check()
    with pytest.raises(DTypeError, match="seed"):
        EvalConfig(seed="1").check()
    EvalConfig(seed=2**70).check()  # any non-negative int (hashed as given)
