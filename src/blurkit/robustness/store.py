"""The result store of an evaluation: one small JSON record per finished cell,
written atomically, so that a run killed at any point loses at most the cell
it was computing and a rerun with the same arguments resumes where it stopped.

Layout of a results directory ``OUT`` (documented in ``docs/results_schema.md``)::

    OUT/run.json                       order of models and corruptions (for tables)
    OUT/cells.csv                      tidy table, one row per (model, corruption, severity)
    OUT/summary.json                   summaries per model (clean / blur accuracy, CE, mCE, ...)
    OUT/records/<model>/config.json    the run configuration and its hash (resume guard)
    OUT/records/<model>/chunk/<start>.npz   per-image records of every cell of one chunk
    OUT/records/<model>/cell/<corruption>@<severity>.json   row + per-image predictions
    OUT/records/<model>/flip/<corruption>.json              flip-probability sweep
    OUT/records/<model>/critical/<corruption>.json          critical-blur results
    OUT/examples/, OUT/kernels/        PNG strips for the report

A record that is truncated or otherwise unreadable (a disk error, a copy cut short, a
hand edit) is never fatal: :meth:`ResultStore.has` reports it as missing, with a warning,
and moves it aside to ``<name>.json.corrupt``, so a resumed run recomputes that cell.

Every file is written to a temporary file in the same directory and moved into
place with :func:`os.replace`, which is atomic on POSIX and Windows: a reader
(or a resumed run) sees either the old complete file or the new complete one,
never a torn write. Written by hand because it is a few lines over the standard
library and no dependency offers exactly this.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import shutil
import tempfile
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path

from .._checks import BlurkitError
from .tasks import ClassificationTask

__all__ = [
    "CELL_COLUMNS",
    "CorruptRecordError",
    "ResumeError",
    "ResultStore",
    "atomic_write",
    "config_hash",
    "format_severity",
    "read_cells_csv",
]

#: the columns every task's ``cells.csv`` starts and ends with (the engine adds them)
FIXED_FRONT: tuple[str, ...] = ("model", "corruption", "severity", "n")
FIXED_BACK: tuple[str, ...] = ("preset", "seed")

#: columns of a classification ``cells.csv``, in order (``docs/results_schema.md``)
CELL_COLUMNS: tuple[str, ...] = FIXED_FRONT + ClassificationTask.columns + FIXED_BACK

_SCHEMA_VERSION = 1


class ResumeError(BlurkitError, RuntimeError):
    """A results directory holds results of a different run configuration."""


class CorruptRecordError(BlurkitError, ValueError):
    """A record file under ``OUT/records`` is truncated or not a record."""


#: keys a record of each kind must hold to be used (a record missing one is corrupt)
_REQUIRED = {"cell": ("row",)}


def atomic_write(path: str | os.PathLike, data: str | bytes) -> None:
    """Write ``data`` to ``path`` atomically (temporary file + fsync + ``os.replace``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data.encode("utf-8") if isinstance(data, str) else data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def format_severity(severity: float) -> str:
    """Canonical text of a severity, used in file names and tables.

    Example:
        >>> format_severity(3), format_severity(2.5), format_severity(0.0)
        ('3', '2.5', '0')
    """
    return f"{float(severity):.6g}"


def config_hash(config: dict) -> str:
    """Short SHA-256 of a configuration's canonical JSON (sorted keys).

    Example:
        >>> config_hash({"seed": 0, "a": 1}) == config_hash({"a": 1, "seed": 0})
        True
    """
    text = json.dumps(config, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _slug(name: str) -> str:
    s = re.sub(r"[^A-Za-z0-9._+-]+", "_", str(name)).strip("._")
    return s or "model"


def _fmt(v) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.6f}"
    return str(v)


class ResultStore:
    """Atomic, resumable store of evaluation records under one directory.

    Args:
        root: the results directory (created if needed).

    Example:
        >>> import tempfile
        >>> st = ResultStore(tempfile.mkdtemp())
        >>> _ = st.open_model("net", {"seed": 0})
        >>> st.has("net", "cell", "clean@0")
        False
        >>> st.save("net", "cell", "clean@0", {"row": {"model": "net"}})
        >>> st.load("net", "cell", "clean@0")["row"]
        {'model': 'net'}
    """

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    # --- run configuration (resume guard) -----------------------------------------
    def model_dir(self, model: str) -> Path:
        return self.root / "records" / _slug(model)

    def open_model(self, model: str, config: dict, *, overwrite: bool = False) -> str:
        """Register ``model``'s run configuration; resume if it matches the stored one.

        Raises:
            ResumeError: the directory already holds results for ``model`` made
                with a different configuration (and ``overwrite`` is false).
        """
        h = config_hash(config)
        d = self.model_dir(model)
        path = d / "config.json"
        if overwrite and d.exists():
            shutil.rmtree(d)
        if path.exists():
            try:
                old = json.loads(path.read_text())
                if not isinstance(old, dict):
                    raise ValueError("not a JSON object")
            except (ValueError, UnicodeDecodeError) as e:
                raise ResumeError(
                    f"out: {path} is corrupt ({type(e).__name__}: {e}), so the stored results "
                    f"of model {model!r} cannot be matched to this run; pass overwrite "
                    "(--overwrite) or choose another output directory"
                ) from None
            if old.get("hash") != h:
                oc = old.get("config", {})
                diff = sorted(k for k in set(oc) | set(config) if oc.get(k) != config.get(k))
                details = "; ".join(
                    f"{k}: stored {oc.get(k)!r}, now {config.get(k)!r}" for k in diff[:6]
                )
                raise ResumeError(
                    f"out: {self.root} holds results of model {model!r} from a different run "
                    f"configuration ({details}); pass overwrite (--overwrite) "
                    "or choose another output directory"
                )
            return h
        rec = {"schema": _SCHEMA_VERSION, "model": model, "hash": h, "config": config}
        atomic_write(path, json.dumps(rec, indent=1, sort_keys=True, default=str))
        return h

    # --- records --------------------------------------------------------------------
    def _path(self, model: str, kind: str, key: str) -> Path:
        return self.model_dir(model) / kind / f"{_slug(key)}.json"

    def _read(self, path: Path, kind: str) -> dict:
        """A record file parsed and checked, or :class:`CorruptRecordError`."""
        try:
            rec = json.loads(path.read_bytes().decode("utf-8"))
        except (ValueError, UnicodeDecodeError) as e:
            raise CorruptRecordError(
                f"{path}: not a complete record ({type(e).__name__}: {e})"
            ) from None
        if not isinstance(rec, dict):
            raise CorruptRecordError(f"{path}: not a record (a JSON {type(rec).__name__})")
        missing = [k for k in _REQUIRED.get(kind, ()) if k not in rec]
        if not missing and kind == "cell" and not isinstance(rec["row"], dict):
            missing = ["row"]
        if missing:
            raise CorruptRecordError(f"{path}: not a complete record (no {missing[0]!r})")
        return rec

    def _set_aside(self, path: Path, error: CorruptRecordError) -> None:
        aside = path.with_name(path.name + ".corrupt")
        try:
            os.replace(path, aside)
            where = f"moved to {aside.name}"
        except OSError:
            where = "left in place"
        warnings.warn(
            f"{error}; it is ignored ({where}) and that result will be recomputed",
            RuntimeWarning,
            stacklevel=3,
        )

    def has(self, model: str, kind: str, key: str) -> bool:
        """Whether a usable record exists. A corrupt one is set aside with a warning
        (``<name>.json.corrupt``) and counts as missing, so it is recomputed."""
        path = self._path(model, kind, key)
        if not path.exists():
            return False
        try:
            self._read(path, kind)
        except CorruptRecordError as e:
            self._set_aside(path, e)
            return False
        return True

    def save(self, model: str, kind: str, key: str, record: dict) -> None:
        atomic_write(self._path(model, kind, key), json.dumps(record, separators=(",", ":")))

    def load(self, model: str, kind: str, key: str) -> dict:
        """A record; raises :class:`CorruptRecordError` (typed, one line) if it is corrupt."""
        return self._read(self._path(model, kind, key), kind)

    # --- array records (chunks: per-image records of many cells) --------------------------
    def _apath(self, model: str, kind: str, key: str) -> Path:
        return self.model_dir(model) / kind / f"{_slug(key)}.npz"

    def has_arrays(self, model: str, kind: str, key: str) -> bool:
        return self._apath(model, kind, key).exists()

    def save_arrays(self, model: str, kind: str, key: str, arrays: dict) -> None:
        """Write a dict of numpy arrays as one ``.npz``, atomically (no pickled objects)."""
        import numpy as np

        buf = io.BytesIO()
        np.savez(buf, **arrays)
        atomic_write(self._apath(model, kind, key), buf.getvalue())

    def load_arrays(
        self,
        model: str,
        kind: str,
        key: str,
        *,
        names: Sequence[str] | None = None,
        prefix: str | None = None,
    ) -> dict:
        """The arrays of one ``.npz`` record (only ``names``, or those starting with
        ``prefix``, when given: the others are not read)."""
        import numpy as np

        with np.load(self._apath(model, kind, key), allow_pickle=False) as z:
            keep = [
                k
                for k in z.files
                if (names is None or k in names) and (prefix is None or k.startswith(prefix))
            ]
            return {k: z[k] for k in keep}

    def array_keys(self, model: str, kind: str) -> list[str]:
        d = self.model_dir(model) / kind
        return sorted(p.stem for p in d.glob("*.npz")) if d.exists() else []

    def records(self, model: str, kind: str) -> list[dict]:
        """Every usable record of a kind; corrupt ones are set aside with a warning."""
        d = self.model_dir(model) / kind
        if not d.exists():
            return []
        out = []
        for p in sorted(d.glob("*.json")):
            try:
                out.append(self._read(p, kind))
            except CorruptRecordError as e:
                self._set_aside(p, e)
        return out

    # --- order of tables ------------------------------------------------------------------
    def set_order(self, models: Sequence[str], corruptions: Sequence[str]) -> None:
        """Remember the order of models and corruptions for tables (merged with any stored)."""
        old = self.order()
        ms = list(old["models"]) + [m for m in models if m not in old["models"]]
        cs = list(old["corruptions"]) + [c for c in corruptions if c not in old["corruptions"]]
        new = {"schema": _SCHEMA_VERSION, "models": ms, "corruptions": cs}
        if new != {"schema": _SCHEMA_VERSION, **old}:
            atomic_write(self.root / "run.json", json.dumps(new, indent=1))

    def order(self) -> dict:
        p = self.root / "run.json"
        if p.exists():
            try:
                d = json.loads(p.read_text())
                if not isinstance(d, dict):
                    raise ValueError("not a JSON object")
                return {"models": d.get("models", []), "corruptions": d.get("corruptions", [])}
            except (ValueError, UnicodeDecodeError) as e:
                warnings.warn(
                    f"{p}: corrupt ({type(e).__name__}: {e}); the order of tables is rebuilt",
                    RuntimeWarning,
                    stacklevel=2,
                )
                p.unlink(missing_ok=True)
        return {"models": [], "corruptions": []}

    def models(self) -> list[str]:
        """Models with records, in run order."""
        stored = []
        d = self.root / "records"
        if d.exists():
            for p in sorted(d.iterdir()):
                if (p / "config.json").exists():
                    try:
                        stored.append(json.loads((p / "config.json").read_text())["model"])
                    except (ValueError, UnicodeDecodeError, KeyError, TypeError) as e:
                        warnings.warn(
                            f"{p / 'config.json'}: corrupt ({type(e).__name__}); "
                            "the results of this model are left out",
                            RuntimeWarning,
                            stacklevel=2,
                        )
        first = [m for m in self.order()["models"] if m in stored]
        return first + [m for m in stored if m not in first]

    def rows(self, models: Iterable[str] | None = None) -> list[dict]:
        """Cell rows of the given (default: all) models in a deterministic order:
        model run order, ``clean`` first, corruptions in run order, severity ascending."""
        models = self.models() if models is None else list(models)
        corr = self.order()["corruptions"]
        rank = {c: i for i, c in enumerate(corr)}
        out = []
        for mi, m in enumerate(models):
            rows = [r["row"] for r in self.records(m, "cell")]
            rows.sort(
                key=lambda r: (
                    r["corruption"] != "clean",
                    rank.get(r["corruption"], len(rank)),
                    r["corruption"],
                    float(r["severity"]),
                )
            )
            out.extend((mi, r) for r in rows)
        return [r for _, r in out]

    def write_cells_csv(
        self, models: Iterable[str] | None = None, columns: Sequence[str] | None = None
    ) -> Path:
        """(Re)write ``cells.csv`` from the records, atomically (``columns``: default
        :data:`CELL_COLUMNS`, the classification task's)."""
        columns = CELL_COLUMNS if columns is None else tuple(columns)
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(columns)
        for r in self.rows(models):
            w.writerow([_fmt(r.get(c)) for c in columns])
        path = self.root / "cells.csv"
        atomic_write(path, buf.getvalue())
        return path


def read_cells_csv(path: str | os.PathLike) -> list[dict]:
    """Rows of a ``cells.csv`` with numbers parsed (empty fields become ``None``)."""
    ints = {"n", "correct", "top5_correct", "seed"}
    floats = {
        "severity",
        "accuracy",
        "accuracy_low",
        "accuracy_high",
        "top5_accuracy",
        "top5_low",
        "top5_high",
        "flip_rate",
    }
    out = []
    with open(path, newline="") as f:
        for r in csv.DictReader(f):
            row = {}
            for k, v in r.items():
                if v == "" or v is None:
                    row[k] = None
                elif k in ints:
                    row[k] = int(v)
                elif k in floats:
                    row[k] = float(v)
                else:
                    row[k] = v
            out.append(row)
    return out
