"""``blurkit study``: train every robustness method alike and compare them in one report.

A thin wrapper over :func:`blurkit.defenses.study.run_study`.
"""

from __future__ import annotations

from pathlib import Path

import typer

from .._checks import BlurkitError, ParameterError
from .._seeds import check_seed_list
from ..kernels.family import blur_families
from ._app import app, console, fail, hold_out_lock
from ._options import finite_float, float_list, nonneg_int, positive_int


def _floats(text: str, name: str) -> list[float]:
    """Comma-separated severities, each finite and in [1, 5] (a typed error otherwise)."""
    return float_list(text, name, low=1.0, high=5.0)


def _seeds(text: str) -> list[int]:
    """Comma-separated distinct non-negative integer seeds (a typed error otherwise)."""
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not all(p.isdigit() for p in parts):
        raise ParameterError(
            f"--seeds: expected comma-separated non-negative integers, got {text!r}"
        )
    return check_seed_list([int(p) for p in parts], "--seeds")


@app.command("study")
def study_command(
    data: str = typer.Option(..., "--data", "-d", help="Training data (folder, archive, npz)."),
    out: Path = typer.Option(..., "--out", "-o", help="Study directory (rerun to resume)."),
    eval_data: str = typer.Option("sample", help="Evaluation data (default: bundled sample)."),
    methods: str = typer.Option(
        "baseline,augment,adversarial,consistency", help="Comma-separated methods."
    ),
    frontends: str = typer.Option(
        "",
        help="Deblurring front-ends to compare too, '<method>+<deblurrer>' with deblurrer "
        "learned or blind, e.g. baseline+learned (comma-separated).",
    ),
    model: str = typer.Option("airnet", "--model", "-m", help="Architecture from scratch."),
    finetune: str = typer.Option(None, help="Common starting weights for every method."),
    epochs: int = typer.Option(1, help="Epochs per method.", callback=positive_int()),
    batch_size: int = typer.Option(256, help="Batch size.", callback=positive_int()),
    lr: float = typer.Option(
        None, help="Peak learning rate.", callback=finite_float(0.0, low_inclusive=False)
    ),
    seed: int = typer.Option(0, help="Seed shared by every run.", callback=nonneg_int()),
    seeds: str = typer.Option(
        None,
        help="Repeat the study per seed, e.g. 0,1,2 (out/seed-<k>/), and report mean ± sd "
        "and the paired differences to the baseline with 95% intervals; replaces --seed.",
    ),
    limit: int = typer.Option(
        None, help="Train on N images of a fixed random subset.", callback=positive_int()
    ),
    eval_limit: int = typer.Option(
        None, help="Evaluate on N images (a fixed random subset).", callback=positive_int()
    ),
    train_families: str = typer.Option(
        None, help="Blur families to train with (transfer: the rest are held out)."
    ),
    corruptions: str = typer.Option("cifar-10-c-blur", help="Evaluation suite or names."),
    severities: str = typer.Option("1,2,3,4,5", help="Evaluation severities."),
    critical: str = typer.Option(
        ",".join(blur_families(twinned=True)), help="Critical-blur families ('' = none)."
    ),
    critical_images: int = typer.Option(
        100, help="Images for critical blur.", callback=positive_int()
    ),
    attack_images: int = typer.Option(
        100, help="Images for the adversarial attack (0 = skip).", callback=nonneg_int()
    ),
    latent_images: int = typer.Option(
        500,
        help="Images for the latent-structure columns: clean kNN, separation, CKA to the "
        "baseline, cosine and kNN under blur (0 = skip).",
        callback=nonneg_int(),
    ),
    attack_budget: float = typer.Option(
        0.9,
        help="SSIM budget of the attack.",
        callback=finite_float(0.0, 1.0, low_inclusive=False),
    ),
    attack_steps: int = typer.Option(
        20, help="Steps of the adversarial attack.", callback=positive_int()
    ),
    eval_report: bool = typer.Option(
        True, "--eval-report/--no-eval-report", help="Also render eval/report.html."
    ),
    adv_steps: int = typer.Option(
        3, help="Inner steps of the adversarial-training adversary.", callback=positive_int()
    ),
    threads: int = typer.Option(None, help="Torch threads.", callback=positive_int()),
    cache: Path = typer.Option(None, help="Directory to cache decoded archives in."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Less output."),
) -> None:
    """Train baseline/augment/adversarial/consistency from one start and compare them."""
    sevs = _floats(severities, "--severities")
    seed_list = _seeds(seeds) if seeds is not None else None
    fams = [f.strip() for f in train_families.split(",") if f.strip()] if train_families else None
    hold_out_lock(out, "study")
    from ..defenses.study import run_study

    try:
        study = run_study(
            data,
            out,
            eval_data=eval_data,
            methods=[m.strip() for m in methods.split(",") if m.strip()],
            frontends=[f.strip() for f in frontends.split(",") if f.strip()],
            model=model,
            finetune=finetune,
            epochs=epochs,
            batch_size=batch_size,
            lr=lr,
            seed=seed,
            seeds=seed_list,
            limit=limit,
            eval_limit=eval_limit,
            train_families=fams,
            corruptions=corruptions,
            severities=sevs,
            critical=[f.strip() for f in critical.split(",") if f.strip()] or False,
            critical_images=critical_images,
            attack_images=attack_images,
            latent_images=latent_images,
            attack_budget=attack_budget,
            attack_steps=attack_steps,
            eval_report=eval_report,
            method_options={"adversarial": {"adversary": {"steps": adv_steps}}},
            threads=threads,
            cache=cache,
            log=(lambda s: None) if quiet else (lambda s: console.print(s, highlight=False)),
        )
    except BlurkitError as e:
        fail(str(e))
    console.print((Path(out) / "study.md").read_text(), highlight=False)
    if seed_list is None:
        console.print(f"wrote {Path(out) / 'study.html'}", highlight=False)
    else:
        console.print(f"wrote {Path(out) / 'study.md'} (per seed: seed-<k>/)", highlight=False)
    del study
