"""Image classification datasets: ImageFolder trees, tar archives, CIFAR-10 batches, the sample.

Every dataset yields ``(image, label, index)`` with ``image`` a ``(3, S, S)``
float tensor in ``[0, 1]`` (after the model's geometric ``preprocess``, before
any blur), so evaluation code can blur in pixel space and report per-image
results by ``index``.

Labels follow ``classes``: by default the sorted folder names; when the caller
passes a class list (e.g. a model's 1000 ImageNet synsets), each folder maps to
its index *in that list*, so a folder tree holding only some classes is still
scored against the model's full output.

Folders are walked by :func:`blurkit.io.walk_image_files`: symlinked folders are
followed, symlink loops and broken links are listed in ``dataset.skipped`` (and
warned about), and so are empty class folders (which are not classes).

Unreadable files are never fatal: files whose header does not parse are
listed in ``dataset.skipped`` as ``(path, reason)`` when the dataset opens and
left out; a file that fails later, when fully decoded, is added to
``skipped`` then and its item comes back as ``None``, which
:func:`make_loader`'s collate drops.
"""

from __future__ import annotations

import io
import os
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from .._assets import asset_path
from .._checks import ParameterError, check_allocation
from ..io import _link_problem, display_path, pil_to_tensor, walk_image_files
from ._safe_pickle import safe_load_pickle
from .archive import IMAGE_EXTENSIONS, index_archive, is_archive

__all__ = [
    "ImageDataset",
    "ImageFolderDataset",
    "TarImageDataset",
    "CifarBatchesDataset",
    "CsvImageDataset",
    "open_dataset",
    "make_loader",
    "shard_indices",
    "SAMPLE_PATH",
]

#: the bundled CIFAR-10 sample archive
SAMPLE_PATH = asset_path("cifar10-sample.tar.gz")

Preprocess = Callable[[object], torch.Tensor]


def _class_map(folders: Sequence[str], classes: Sequence[str] | None, source: str):
    """(classes, {folder: label}) for the folders present."""
    present = sorted(set(folders))
    if classes is None:
        return present, {c: i for i, c in enumerate(present)}
    classes = list(classes)
    lut = {c: i for i, c in enumerate(classes)}
    unknown = [f for f in present if f not in lut]
    if unknown:
        raise ParameterError(
            f"classes: the folders {unknown[:5]}{'...' if len(unknown) > 5 else ''} of {source} "
            f"are not in the given class list ({len(classes)} classes, e.g. {classes[:3]})"
        )
    return classes, lut


class ImageDataset(Dataset):
    """Base class: encoded images read by key, decoded with PIL, then ``preprocess``.

    Subclasses fill ``self.keys`` (display paths), ``self.labels`` and
    implement ``_read(i) -> bytes``.
    """

    def __init__(self, preprocess: Preprocess | None, source: str) -> None:
        self.preprocess = preprocess or pil_to_tensor
        self.source = source
        self.keys: list[str] = []
        self.labels: list[int] = []
        self.classes: list[str] = []
        self.skipped: list[tuple[str, str]] = []

    def __len__(self) -> int:
        return len(self.keys)

    def _read(self, i: int) -> bytes:  # pragma: no cover - abstract
        raise NotImplementedError

    def _verify(self) -> None:
        """Drop items whose header PIL cannot parse, recording them in ``skipped``."""
        from PIL import Image

        keep = []
        before = len(self.skipped)
        for i in range(len(self.keys)):
            try:
                with Image.open(io.BytesIO(self._read(i))) as im:
                    im.size  # noqa: B018 - the header is parsed on open
                keep.append(i)
            except Exception as e:  # any unreadable file is reported, not fatal
                self.skipped.append((self.keys[i], f"{type(e).__name__}: {e}"))
        if len(keep) != len(self.keys):
            self._subset(keep)
            warnings.warn(
                f"{self.source}: skipped {len(self.skipped) - before} unreadable file(s), "
                f"e.g. {self.skipped[before][0]} (see dataset.skipped)",
                stacklevel=3,
            )

    def _subset(self, keep: list[int]) -> None:
        self.keys = [self.keys[i] for i in keep]
        self.labels = [self.labels[i] for i in keep]

    def __getitem__(self, i: int):
        from PIL import Image

        try:
            with Image.open(io.BytesIO(self._read(i))) as im:
                im.load()
                x = self.preprocess(im)
        except Exception as e:  # truncated or corrupt data found only when decoding
            self.skipped.append((self.keys[i], f"{type(e).__name__}: {e}"))
            return None
        return x, self.labels[i], i

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.source!r}, {len(self)} images, "
            f"{len(self.classes)} classes, {len(self.skipped)} skipped)"
        )


class _FileImageDataset(ImageDataset):
    """An :class:`ImageDataset` whose keys are image files on disk, read whole."""

    def _read(self, i: int) -> bytes:
        with open(self.keys[i], "rb") as f:
            return f.read()


class ImageFolderDataset(_FileImageDataset):
    """``root/<class>/**/<image>`` (torchvision's ImageFolder layout), sorted by path; a flat
    folder of images without class folders gives label-free items (label ``-1``)."""

    def __init__(
        self,
        root: str | os.PathLike,
        classes: Sequence[str] | None = None,
        preprocess: Preprocess | None = None,
        verify: bool = True,
    ) -> None:
        super().__init__(preprocess, str(root))

        root = Path(root)
        files: list[Path] = []
        empty: list[str] = []
        issues: list[tuple[str, str]] = []
        for d in sorted(root.iterdir()):
            if d.name.startswith("."):
                continue
            if not d.is_dir():
                if d.is_symlink():  # a class folder that is a broken or looping link
                    issues.append((display_path(d), _link_problem(d)))
                continue
            n_issues = len(issues)
            found = walk_image_files(d, skip_hidden=True, issues=issues, inside=[root])
            if len(issues) > n_issues and issues[n_issues][0] == display_path(d):
                continue  # the class folder itself loops back (e.g. a link to the root)
            if not found:
                empty.append(d.name)
            files.extend(found)
        issues += [
            (display_path(root / e), "empty class folder: no image files, so not a class")
            for e in empty
        ]
        if issues:
            self.skipped.extend(issues)
            what = []
            if empty:
                what.append(
                    f"{len(empty)} empty class folder(s) ({', '.join(map(repr, empty[:5]))}"
                    + (", ..." if len(empty) > 5 else "")
                    + "): the labels count only the non-empty folders"
                )
            if len(issues) > len(empty):
                first = issues[0]
                what.append(
                    f"{len(issues) - len(empty)} path(s) not walked, e.g. {first[0]}: {first[1]}"
                )
            warnings.warn(
                f"{display_path(root)}: " + "; ".join(what) + " (see dataset.skipped)",
                stacklevel=2,
            )
        files = sorted(files)
        flat = [] if files else walk_image_files(root, skip_hidden=True, issues=[], recursive=False)
        if flat:
            # a flat folder of images, no class folders: label-free (-1), for tasks that
            # need no labels (``task="embedding"``); classification refuses it
            self.classes, self.keys, self.labels = [], [str(p) for p in flat], [-1] * len(flat)
            if verify:
                self._verify()
            return
        folders = [p.relative_to(root).parts[0] for p in files]
        self.classes, lut = _class_map(folders, classes, str(root))
        self.keys = [str(p) for p in files]
        self.labels = [lut[f] for f in folders]
        if verify:
            self._verify()


class CsvImageDataset(_FileImageDataset):
    """A CSV / TSV file list: one ``path,label`` line per image, with a header or not.

    The delimiter is a tab for ``.tsv`` files and a comma otherwise. A first row
    whose path does not end in an image extension is a header (e.g. ``path,label``). Relative paths are resolved against the
    folder of the list. Labels are class names (mapped through ``classes``, or the
    sorted distinct names) or, when every label is an integer (and not a name in
    ``classes``), class indices used as they are.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        classes: Sequence[str] | None = None,
        preprocess: Preprocess | None = None,
        verify: bool = True,
    ) -> None:
        import csv

        super().__init__(preprocess, str(path))
        path = Path(path)
        delim = "\t" if path.suffix.lower() == ".tsv" else ","
        with open(path, newline="", encoding="utf-8") as f:
            rows = [r for r in csv.reader(f, delimiter=delim) if r and any(v.strip() for v in r)]
        if rows and Path(rows[0][0].strip()).suffix.lower() not in IMAGE_EXTENSIONS:
            rows = rows[1:]  # a header
        bad = [i for i, r in enumerate(rows) if len(r) < 2 or not r[0].strip()]
        if bad:
            raise ParameterError(
                f"source: {str(path)!r} line {bad[0] + 1}: expected 'path{delim}label', "
                f"got {delim.join(rows[bad[0]])!r}"
            )
        if not rows:
            raise ParameterError(f"source: {str(path)!r} lists no images")
        base = path.parent
        files = [Path(r[0].strip()) for r in rows]
        self.keys = [str(p if p.is_absolute() else base / p) for p in files]
        names = [r[1].strip() for r in rows]
        numeric = all(n.isdigit() for n in names)
        if numeric and (classes is None or not set(names) <= set(classes)):
            self.labels = [int(n) for n in names]
            self.classes = (
                list(classes) if classes else [str(i) for i in range(max(self.labels) + 1)]
            )
        else:
            self.classes, lut = _class_map(names, classes, str(path))
            self.labels = [lut[n] for n in names]
        if verify:
            self._verify()

    def _verify(self) -> None:
        missing = [k for k in self.keys if not os.path.isfile(k)]
        if missing:
            keep = [i for i, k in enumerate(self.keys) if os.path.isfile(k)]
            self.skipped += [(k, "FileNotFoundError: no such file") for k in missing]
            self._subset(keep)
            warnings.warn(
                f"{self.source}: skipped {len(missing)} missing file(s), e.g. {missing[0]} "
                "(see dataset.skipped)",
                stacklevel=3,
            )
        super()._verify()


class TarImageDataset(ImageDataset):
    """An ImageFolder tree inside a ``.tar`` / ``.tar.gz``, read without unpacking.

    The class folder of a member is its parent directory, so both
    ``train/cat/0001.jpg`` and ``cat/0001.jpg`` layouts work.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        classes: Sequence[str] | None = None,
        preprocess: Preprocess | None = None,
        verify: bool = True,
    ) -> None:
        super().__init__(preprocess, str(path))
        try:
            self.index = index_archive(path)
        except ParameterError:
            raise
        except Exception as e:
            raise ParameterError(f"source: could not read the archive {str(path)!r}: {e}") from e
        self.skipped.extend(self.index.skipped)  # members over the size cap, never read
        if self.index.skipped:
            warnings.warn(
                f"{path}: skipped {len(self.index.skipped)} member(s) over the size cap, e.g. "
                f"{self.index.skipped[0][0]} (see dataset.skipped)",
                stacklevel=2,
            )
        self._pos = list(range(len(self.index.members)))
        self.classes, lut = _class_map(self.index.folders, classes, str(path))
        self.keys = [f"{path}::{m}" for m in self.index.members]
        self.labels = [lut[f] for f in self.index.folders]
        self._handle = None
        self._pid = None
        if verify:
            self._verify()

    def _subset(self, keep: list[int]) -> None:
        super()._subset(keep)
        self._pos = [self._pos[i] for i in keep]

    def _read(self, i: int) -> bytes:
        if self.index.payload is not None:
            return self.index.payload[self._pos[i]]
        if self._handle is None or self._pid != os.getpid():  # one handle per worker
            self._handle, self._pid = open(self.index.path, "rb"), os.getpid()  # noqa: SIM115
        return self.index.read(self._pos[i], self._handle)

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_handle"] = None
        return state


def _read_bytes(path: Path) -> bytes:

    check_allocation(f"source ({path.name})", path.stat().st_size, itemsize=1)
    return path.read_bytes()


def _read_cifar_batch(path: Path) -> tuple[np.ndarray, list[int]]:
    """``(images (N, 3, 32, 32) uint8, labels)`` of one batch, through the restricted unpickler."""

    d = safe_load_pickle(_read_bytes(path), str(path))
    if not isinstance(d, dict) or b"data" not in d:
        raise ParameterError(f"source: {path} is not a CIFAR batch (no b'data' entry)")
    data = d[b"data"]
    if (
        not isinstance(data, np.ndarray)
        or data.dtype != np.uint8
        or data.ndim != 2
        or (data.shape[1] != 3072)
    ):
        got = (
            f"shape {data.shape} and dtype {data.dtype}"
            if isinstance(data, np.ndarray)
            else type(data).__name__
        )
        raise ParameterError(f"source: {path}: expected data of shape (N, 3072) uint8, got {got}")
    raw = d.get(b"labels", d.get(b"fine_labels"))
    if not isinstance(raw, (list, np.ndarray)) or len(raw) != len(data):
        n = len(raw) if isinstance(raw, (list, np.ndarray)) else type(raw).__name__
        raise ParameterError(f"source: {path}: expected {len(data)} labels, got {n}")
    labels = []
    for v in raw:
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)) or v < 0:
            raise ParameterError(f"source: {path}: labels must be non-negative ints, got {v!r}")
        labels.append(int(v))
    return data.reshape(-1, 3, 32, 32), labels


def _read_cifar_meta(path: Path) -> list[str]:

    meta = safe_load_pickle(_read_bytes(path), str(path))
    names = meta.get(b"label_names") if isinstance(meta, dict) else None
    if not isinstance(names, list) or not all(isinstance(n, (bytes, str)) for n in names):
        raise ParameterError(f"source: {path}: expected a b'label_names' list of names")
    try:
        return [n.decode() if isinstance(n, bytes) else n for n in names]
    except UnicodeDecodeError as e:
        raise ParameterError(f"source: {path}: a label name is not UTF-8 ({e})") from e


class CifarBatchesDataset(Dataset):
    """CIFAR-10 "python version" batches (``data_batch_1..5``, ``test_batch``, ``batches.meta``).

    Args:
        root: the ``cifar-10-batches-py`` folder (or its parent), or one batch file.
        split: ``"test"`` (``test_batch``) or ``"train"`` (``data_batch_*``).
    """

    def __init__(
        self,
        root: str | os.PathLike,
        split: str = "test",
        classes: Sequence[str] | None = None,
        preprocess: Preprocess | None = None,
    ) -> None:
        root = Path(root)
        if root.is_dir() and (root / "cifar-10-batches-py").is_dir():
            root = root / "cifar-10-batches-py"
        if root.is_file():
            files, meta_dir = [root], root.parent
        else:
            if split not in ("test", "train"):
                raise ParameterError(f"split: expected 'test' or 'train', got {split!r}")
            pattern = "test_batch*" if split == "test" else "data_batch_*"
            files, meta_dir = sorted(root.glob(pattern)), root
        if not files:
            raise ParameterError(f"source: no CIFAR batch files in {str(root)!r}")
        data, labels = [], []
        for f in files:
            x, y = _read_cifar_batch(f)
            data.append(x)
            labels.extend(y)
        self.images = torch.from_numpy(np.concatenate(data))
        names = None
        if (meta_dir / "batches.meta").is_file():
            names = _read_cifar_meta(meta_dir / "batches.meta")
        if labels and names is not None and max(labels) >= len(names):
            raise ParameterError(
                f"source: CIFAR label {max(labels)} is out of range for the "
                f"{len(names)} names in {meta_dir / 'batches.meta'}"
            )
        names = names or [str(i) for i in range(max(labels, default=-1) + 1)]
        if classes is not None:
            classes = list(classes)
            lut = {c: i for i, c in enumerate(classes)}
            missing = [n for n in names if n not in lut]
            if missing:
                raise ParameterError(f"classes: CIFAR classes {missing} are not in the given list")
            labels = [lut[names[v]] for v in labels]
            names = classes
        self.labels, self.classes = labels, names
        self.preprocess = preprocess
        self.source = str(root)
        self.skipped: list[tuple[str, str]] = []

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int):
        x = self.images[i]
        if self.preprocess is not None:
            from PIL import Image

            x = self.preprocess(Image.fromarray(x.permute(1, 2, 0).numpy()))
        else:
            x = x.float() / 255.0
        return x, self.labels[i], i

    def __repr__(self) -> str:
        return f"CifarBatchesDataset({self.source!r}, {len(self)} images)"


def open_dataset(
    source: str | os.PathLike,
    classes: Sequence[str] | None = None,
    preprocess: Preprocess | None = None,
    **kwargs,
):
    """Open an image classification dataset.

    Args:
        source: ``"sample"`` (the bundled 1,000-image CIFAR-10 test sample, 100
            per class), an ImageFolder directory, a ``.tar``/``.tar.gz`` archive
            of one, a CIFAR-10 python-batches directory (or batch file), or a
            ``.csv`` / ``.tsv`` file list of ``path,label`` lines
            (:class:`CsvImageDataset`).
        classes: class list the folder names map into (e.g. a model's
            ``classes``); default: the sorted folder names.
        preprocess: PIL image -> ``(3, S, S)`` tensor (e.g. ``model.preprocess``);
            default: convert to a tensor, no resize.
        **kwargs: ``split`` for CIFAR batches; ``verify=False`` skips the header
            check at open time.

    Returns:
        A map-style dataset of ``(image, label, index)`` with ``.classes`` and
        ``.skipped``.

    Example:
        >>> ds = open_dataset("sample")
        >>> len(ds), ds.classes[:2], ds[0][0].shape
        (1000, ['airplane', 'automobile'], torch.Size([3, 32, 32]))
    """
    if isinstance(source, str) and source == "sample":
        if classes is None:
            from ..models.cifar import CIFAR10_CLASSES

            classes = CIFAR10_CLASSES
        return TarImageDataset(SAMPLE_PATH, classes, preprocess, **kwargs)
    path = Path(source)
    if not path.exists():
        raise ParameterError(
            "source: expected 'sample', a folder, a .tar/.tar.gz archive, CIFAR batches or a "
            f".csv/.tsv file list; "
            f"{str(source)!r} does not exist"
        )
    if path.is_file() and is_archive(path):
        return TarImageDataset(path, classes, preprocess, **kwargs)
    if path.is_file() and path.suffix.lower() in (".csv", ".tsv"):
        return CsvImageDataset(path, classes, preprocess, **kwargs)
    cifar_dir = path / "cifar-10-batches-py" if (path / "cifar-10-batches-py").is_dir() else path
    if (path.is_file() and path.name.startswith(("data_batch", "test_batch"))) or (
        path.is_dir() and any(cifar_dir.glob("*_batch*")) and (cifar_dir / "batches.meta").exists()
    ):
        return CifarBatchesDataset(path, classes=classes, preprocess=preprocess, **kwargs)
    if path.is_dir():
        return ImageFolderDataset(path, classes, preprocess, **kwargs)
    raise ParameterError(f"source: {str(source)!r} is not a folder, tar archive or CIFAR batch")


def shard_indices(n: int, shard: tuple[int, int] = (0, 1)) -> list[int]:
    """Indices of shard ``rank`` of ``world``: ``rank, rank + world, ...`` (a partition, no padding).

    >>> shard_indices(7, (1, 3))
    [1, 4]
    """
    rank, world = shard
    if not (isinstance(world, int) and world >= 1 and isinstance(rank, int) and 0 <= rank < world):
        raise ParameterError(f"shard: expected (rank, world) with 0 <= rank < world, got {shard!r}")
    return list(range(rank, n, world))


def _collate(items):
    items = [it for it in items if it is not None]
    if not items:
        return None
    xs, ys, idx = zip(*items, strict=True)
    return torch.stack(xs), torch.tensor(ys, dtype=torch.long), torch.tensor(idx, dtype=torch.long)


def make_loader(
    dataset, batch_size: int = 100, shard: tuple[int, int] = (0, 1), num_workers: int = 0
) -> DataLoader:
    """A deterministic loader: indices in order, strided across ``shard=(rank, world)``.

    Batches are ``(images (B,3,S,S), labels (B,), indices (B,))``; items that
    failed to decode are dropped (and listed in ``dataset.skipped`` when
    ``num_workers=0``; a batch left empty comes back as ``None``). The shards
    of all ranks partition the dataset exactly (no padding, no duplicates), so
    results gathered by index are complete.
    """
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ParameterError(f"batch_size: expected a positive int, got {batch_size!r}")
    idx = shard_indices(len(dataset), shard)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=idx,
        shuffle=False,
        num_workers=num_workers,
        collate_fn=_collate,
    )
