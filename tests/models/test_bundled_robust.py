"""The shipped goal model, ``cifar10_airnet-robust`` (scripts/train_goal_robust.py): it
loads from the package with its measured numbers, and on the bundled test sample it
keeps its advantage over the baseline. The full-test-set check is the script's
(``goal.json``); this one is a guard against shipping the wrong file."""

from __future__ import annotations

import blurkit
from blurkit import models

ROBUST = "cifar10_airnet-robust"


def test_the_robust_model_ships_with_its_measured_numbers():
    assert models.model_info(ROBUST)["bundled_weights"]
    m = models.load_model(ROBUST)
    assert m.name == ROBUST and m.num_classes == 10 and m.input_size == 32
    err = float(m.info["test_mean_blur_error"])
    base = float(m.info["baseline_test_mean_blur_error"])
    assert err <= 0.5 * base  # the goal, as measured by the recipe on the full test set
    assert float(m.info["test_clean_error"]) - float(m.info["baseline_test_clean_error"]) <= 0.01
    assert ROBUST == models.BUNDLED_CIFAR_ROBUST[0]  # the demo's robust model


def test_on_the_sample_it_halves_the_baseline_blur_error():
    grid = dict(
        corruptions=["defocus_blur", "glass_blur", "motion_blur", "zoom_blur"],
        severities=[3], limit=256, critical=False, flip_frames=0, examples=0,
    )  # fmt: skip
    r = blurkit.evaluate([models.BUNDLED_CIFAR, ROBUST], "sample", **grid)
    err = {}
    for row in r.cells:
        m = err.setdefault(row["model"], {})
        m[row["corruption"]] = 1 - float(row["accuracy"])
    blur = {k: sum(v for c, v in e.items() if c != "clean") / 4 for k, e in err.items()}
    assert blur[ROBUST] <= 0.6 * blur[models.BUNDLED_CIFAR], blur
    assert err[ROBUST]["clean"] <= err[models.BUNDLED_CIFAR]["clean"] + 0.03, err
