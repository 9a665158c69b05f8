"""The robust-training study: every method from the same start, same budget, one comparison.

:func:`run_study` trains one model per method (:data:`~blurkit.defenses.methods.METHODS`)
with :func:`~blurkit.defenses.methods.train_model` (the same data, seed,
initialisation or fine-tuning checkpoint, epochs and batch size for all), evaluates
them together with :func:`blurkit.robustness.evaluate` (the engine of ``blurkit
evaluate``: the same blurred images for every model, critical blur on a subset),
attacks each with :func:`blurkit.robustness.blur_attack` at one SSIM budget, and
writes one comparison:

- per method: clean accuracy, error per blur family and severity, mean blur error,
  critical-blur medians, adversarial success rate, training time;
- the transfer question: with ``train_families`` the blur-training methods see only
  those families; the evaluated corruptions split into *seen* (a training family
  or its benchmark twin: ``gaussian`` ~ ``gaussian_blur``, ``motion`` ~
  ``motion_blur``, ``defocus`` ~ ``defocus_blur``) and *held-out*, with the mean
  error of each group per method.

Outputs in ``out``: ``train/<method>/`` (training runs, resumable), ``eval/`` (the
evaluation results directory and its ``report.html``), ``study.json``,
``study.csv`` (one row per method), ``study.md`` and ``study.html`` (rendered by
:mod:`~blurkit.defenses.study_tables`). Rerunning the same call resumes: finished
trainings and evaluation cells are reused. With ``seeds=(0, 1, 2)`` the whole study runs
once per seed in ``out/seed-<k>/`` and ``out/study.*`` holds the aggregate: mean +- sd per
method and the paired differences to the baseline, each marked resolved or not
(:mod:`~blurkit.defenses.study_seeds`).
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import torch

from .._checks import ParameterError
from .._json import dumps
from .._seeds import check_seed_list
from ..kernels.family import BLUR_FAMILIES, blur_families
from ..report import render_report
from ..robustness.attack import blur_attack
from ..robustness.evaluate import evaluate, resolve_corruptions
from ..robustness.store import atomic_write
from ..robustness.structure import latent_structure
from .deblur import DeblurFrontEnd, make_deblurrer
from .methods import METHODS, load_trained, load_training_arrays, train_model
from .study_seeds import aggregate_studies, write_seed_tables
from .study_tables import write_tables

__all__ = ["run_study", "ArrayDataset"]


class ArrayDataset:
    """Items ``(image (3, H, W) float in [0, 1], label, index)`` from uint8 NHWC arrays."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, classes: Sequence[str]):
        self.images, self.labels, self.classes = images, labels, list(classes)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int):
        if not 0 <= i < len(self):
            raise IndexError(i)
        return self.images[i].permute(2, 0, 1).float() / 255.0, int(self.labels[i]), i


def _seen(corruption: str, families: Sequence[str] | None) -> bool | None:
    if families is None:
        return None
    # a blur family stands for its corruption twin (the benchmark corruption of that blur)
    twins = {BLUR_FAMILIES[f].corruption for f in families if f in BLUR_FAMILIES}
    names = set(families) | (twins - {None})
    return corruption in names


def run_study(
    data: str | os.PathLike,
    out: str | os.PathLike,
    *,
    eval_data: str | os.PathLike = "sample",
    methods: Sequence[str] = METHODS,
    frontends: Sequence[str] = (),
    model: str = "airnet",
    finetune: str | os.PathLike | None = None,
    epochs: int = 1,
    batch_size: int = 256,
    lr: float | None = None,
    seed: int = 0,
    seeds: Sequence[int] | None = None,
    limit: int | None = None,
    eval_limit: int | None = None,
    train_families: Sequence[str] | Mapping | None = None,
    corruptions: str | Sequence[str] = "cifar-10-c-blur",
    severities: Sequence[float] = (1, 2, 3, 4, 5),
    critical: Sequence[str] | bool = blur_families(twinned=True),
    critical_images: int = 100,
    attack_images: int = 100,
    attack_budget: float = 0.9,
    attack_steps: int = 20,
    method_options: Mapping[str, dict] | None = None,
    latent_images: int = 500,
    eval_report: bool = True,
    threads: int | None = None,
    cache: str | os.PathLike | None = None,
    log: Callable[[str], None] = print,
    progress: Callable[[str, int, int], None] | None = None,
) -> dict:
    """Train every method alike, evaluate all together, write the comparison report.

    Args:
        data: training data (see :func:`~blurkit.defenses.methods.load_training_arrays`).
        out: study directory.
        eval_data: evaluation data (same readers; default the bundled CIFAR-10 sample).
        methods: the methods to compare.
        frontends: deblurring front-ends to compare as well, each ``"<method>+<deblurrer>"``
            with a trained method and a blind deblurrer (``learned``: the bundled
            network; ``blind``: the per-image kernel estimate, slow), e.g.
            ``"baseline+learned"``: that method's model behind the deblurrer
            (:class:`~blurkit.defenses.deblur.DeblurFrontEnd`), evaluated on the same
            images. It adds no training: its budget is the method's.
        model, finetune, epochs, batch_size, lr, seed, limit: the shared training budget
            and start (see :func:`~blurkit.defenses.methods.train_model`).
        seeds: repeat the whole study once per seed, in ``out/seed-<k>/`` (each resumable),
            and write the aggregate (mean +- sd, paired differences to the baseline with
            95 % intervals; :mod:`~blurkit.defenses.study_seeds`) as ``out/study.*``;
            ``seed`` is then unused.
        eval_limit: evaluate on N images (a fixed random subset drawn with ``seed``).
        train_families: blur families the augment / consistency methods train with
            (names or ``{name: range}``); the transfer split uses them.
        corruptions, severities: the evaluation grid (a suite name or names).
        critical: critical-blur families (``False`` to skip); ``critical_images``: how many.
        attack_images, attack_budget, attack_steps: the free-form adversarial blur attack
            (0 images to skip).
        method_options: per method, extra :func:`~blurkit.defenses.methods.make_method`
            options (e.g. ``{"adversarial": {"adversary": {"steps": 2}}}``).
        latent_images: the latent-structure columns on this many evaluation images (0
            skips them): clean kNN accuracy, class separation and CKA to the baseline
            (:func:`~blurkit.robustness.structure.latent_structure`), and the mean cosine
            and kNN accuracy under blur from the embedding task on the same grid and the
            same per-image seeds (:mod:`blurkit.robustness.embedding`).
        eval_report: also render the evaluation's full HTML report (``eval/report.html``,
            the slowest part of a small study: a figure per family).

    Returns:
        The comparison (also ``study.json``): ``{"methods": {name: row}, "config": ...}``;
        with ``seeds``, the aggregate of :func:`~blurkit.defenses.study_seeds.aggregate_studies`.
    """
    if seeds is not None:
        # every other argument, unchanged, for each seed's study (locals() here is exactly
        # the parameters: nothing has been assigned yet)
        params = dict(locals())
        shared = {k: v for k, v in params.items() if k not in ("data", "out", "seed", "seeds")}
        seed_list = check_seed_list(seeds)
        studies = []
        for i, s in enumerate(seed_list):
            log(f"seed {s} ({i + 1}/{len(seed_list)})")
            studies.append(run_study(data, Path(out) / f"seed-{s}", seed=s, **shared))
        agg = aggregate_studies(studies, seed_list)
        Path(out).mkdir(parents=True, exist_ok=True)
        write_seed_tables(out, agg)
        return agg

    bad = [m for m in methods if m not in METHODS]
    if bad or not methods:
        raise ParameterError(f"methods: expected some of {', '.join(METHODS)}, got {list(methods)}")
    fronts = [_check_frontend(f, methods) for f in frontends]
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    arrays = load_training_arrays(data, cache)
    fam_names = None
    if train_families is not None:
        fam_names = list(train_families)
    trained = {}
    for i, m in enumerate(methods):
        run_dir = out / "train" / m
        if (run_dir / "model.pt").exists() and (run_dir / "summary.json").exists():
            summary = json.loads((run_dir / "summary.json").read_text())
            log(f"{m}: trained already ({run_dir})")
        else:
            opts = dict((method_options or {}).get(m, {}))
            if m in ("augment", "consistency") and train_families is not None:
                opts.setdefault("families", train_families)
            log(f"{m}: training ({i + 1}/{len(methods)})")
            summary = train_model(
                data, run_dir, model=model, method=m, finetune=finetune, epochs=epochs,
                batch_size=batch_size, lr=lr, seed=seed, limit=limit, threads=threads,
                method_options=opts, arrays=arrays, log=log,
            )  # fmt: skip
        trained[m] = summary

    models = {m: load_trained(out / "train" / m, name=m) for m in methods}
    for name, m, deblurrer in fronts:
        models[name] = DeblurFrontEnd(models[m], make_deblurrer(deblurrer), name=name)
        trained[name] = trained[m]
    ev_images, ev_labels, ev_classes = load_training_arrays(eval_data, cache)
    if eval_limit and eval_limit < len(ev_images):
        # a fixed random subset: archives are sorted by class, a prefix would hold one class
        g = torch.Generator().manual_seed(seed)
        pick = torch.randperm(len(ev_images), generator=g)[:eval_limit].sort().values
        ev_images, ev_labels = ev_images[pick], ev_labels[pick]
    classes = list(next(iter(models.values())).classes)
    if list(ev_classes) != classes:
        raise ParameterError(
            f"eval_data: its classes {list(ev_classes)[:4]}... differ from the models' "
            f"{classes[:4]}..."
        )
    ds = ArrayDataset(ev_images, ev_labels, ev_classes)
    corrs = resolve_corruptions(corruptions)
    t0 = time.perf_counter()
    result = evaluate(
        models,
        ds,
        out / "eval",
        corruptions=corrs,
        severities=severities,
        seed=seed,
        critical=list(critical) if critical and critical is not True else critical,
        critical_images=critical_images,
        examples=4,
        baseline="baseline" if "baseline" in models else None,
        dataset_id=f"{eval_data}" + (f"[random {eval_limit}, seed {seed}]" if eval_limit else ""),
        progress=progress,
    )
    eval_s = time.perf_counter() - t0
    if eval_report:
        render_report([result.out], out / "eval" / "report.html", title="blurkit study: evaluation")

    latent = _latent_columns(models, ds, out, corrs, severities, seed, latent_images)
    rows = {}
    n_att = min(int(attack_images), len(ds))
    if n_att:
        xa = torch.stack([ds[i][0] for i in range(n_att)])
        ya = torch.tensor([ds[i][1] for i in range(n_att)])
    for m in models:
        s = result.summary["models"][m]
        row = {
            "method": m,
            "clean_accuracy": s["clean_accuracy"],
            "clean_error": None if s["clean_accuracy"] is None else 1 - s["clean_accuracy"],
            "mean_blur_error": None
            if s["mean_blur_accuracy"] is None
            else 1 - s["mean_blur_accuracy"],
            "mce_baseline": s.get("mce_baseline"),
            "errors": {},
            "critical_median": {},
            "train_seconds": trained[m].get("seconds"),
            "train_epochs": trained[m].get("epochs"),
            "train_images": trained[m].get("images"),
            # the budget in images x passes over the data (images per epoch x epochs)
            "train_image_passes": None
            if trained[m].get("images") is None
            else trained[m]["images"] * trained[m].get("epochs", 1),
        }
        for c, pc in s["corruptions"].items():
            row["errors"][c] = {
                sv: 1 - a for sv, a in zip(pc["severities"], pc["accuracy"], strict=True)
            }
            row[f"error_{c}"] = pc["mean_error"]
        for f, cs in s.get("critical", {}).items():
            med = cs.get("strength", {}).get("median")
            if med is None and cs.get("correct") and cs.get("fraction_flipped", 0) < 0.5:
                med = math.inf  # stored as null: most images never flipped within the range
            row["critical_median"][f] = med
        if n_att:
            res = blur_attack(
                models[m], xa, ya, kernel="freeform", ssim_budget=attack_budget,
                steps=attack_steps, seed=seed,
            )  # fmt: skip
            row["attack_success_rate"] = res.success_rate
        row.update(latent.get(m, {}))
        if fam_names is not None:
            seen = [c for c in s["corruptions"] if _seen(c, fam_names)]
            held = [c for c in s["corruptions"] if not _seen(c, fam_names)]
            for key, group in (("seen", seen), ("heldout", held)):
                errs = [s["corruptions"][c]["mean_error"] for c in group]
                row[f"{key}_families"] = group
                row[f"{key}_mean_error"] = sum(errs) / len(errs) if errs else None
        rows[m] = row

    study = {
        "schema": 1,
        "methods": rows,
        "config": {
            "data": str(data),
            "eval_data": str(eval_data),
            "model": model,
            "frontends": [name for name, _, _ in fronts],
            "finetune": str(finetune) if finetune else None,
            "epochs": epochs,
            "batch_size": batch_size,
            "lr": lr,
            "seed": seed,
            "limit": limit,
            "eval_images": len(ds),
            "corruptions": list(corrs),
            "severities": [float(v) for v in severities],
            "train_families": fam_names,
            "attack": {
                "kernel": "freeform",
                "ssim_budget": attack_budget,
                "steps": attack_steps,
                "images": n_att,
            },
            "critical": list(critical) if critical and critical is not True else critical,
        },  # fmt: skip
        "eval_dir": str(result.out),
        "eval_seconds": eval_s,
    }
    # strict JSON: a non-finite median (most images never flipped) is written as null,
    # as summary.json does; the tables below still print it as "inf"
    atomic_write(
        out / "study.json",
        dumps(study, indent=1),
    )
    write_tables(out, study, corrs)
    return study


#: the deblurrers a study front-end may use: the blind ones (no kernel is known at test time)
FRONTEND_DEBLURRERS = ("learned", "blind")


def _check_frontend(spec, methods: Sequence[str]) -> tuple[str, str, str]:
    """``"<method>+<deblurrer>"`` -> ``(name, method, deblurrer)``, or a typed error."""
    if not isinstance(spec, str) or spec.count("+") != 1:
        raise ParameterError(
            f"frontends: expected '<method>+<deblurrer>' such as 'baseline+learned', got {spec!r}"
        )
    m, d = (p.strip() for p in spec.split("+"))
    if m not in methods:
        raise ParameterError(
            f"frontends: {spec!r} names method {m!r}, expected one of the study's methods "
            f"{', '.join(methods)}"
        )
    if d not in FRONTEND_DEBLURRERS:
        raise ParameterError(
            f"frontends: {spec!r} names deblurrer {d!r}, expected one of "
            f"{', '.join(FRONTEND_DEBLURRERS)} (blind: no kernel is known at test time)"
        )
    return f"{m}+{d}", m, d


def _latent_columns(models, ds, out, corrs, severities, seed, n_images) -> dict:
    """Per method: clean latent structure and representation drift under blur."""
    n = min(int(n_images), len(ds))
    if n <= 0:
        return {}

    ref = "baseline" if "baseline" in models else next(iter(models))
    cols = {
        r["model"]: {
            "clean_knn_accuracy": r["knn_accuracy"],
            "separation": r["separation"],
            "cka_to_baseline": r["cka_to_reference"],
        }
        for r in latent_structure(models, ds, reference=ref, limit=n)
    }
    emb = evaluate(
        models, ds, out / "eval_embedding", task="embedding", corruptions=corrs,
        severities=severities, seed=seed, limit=n, flip_frames=0, examples=0,
    )  # fmt: skip
    for m, e in emb.summary["models"].items():
        if m in cols:
            cols[m]["blur_cosine"] = e.get("mean_cosine")
            cols[m]["blur_knn_accuracy"] = e.get("mean_knn_accuracy")
    return cols
