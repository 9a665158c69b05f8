"""Build the CIFAR-10 sample bundled with blurkit (``blurkit.data.open_dataset("sample")``).

    python scripts/make_cifar_sample.py [--per-class 100]

Takes the first ``--per-class`` images of every class of the shared test set
(``../shared/data/cifar10/cifar10-test.tar.gz``, members sorted by path, so the
choice is deterministic) and stores their ORIGINAL JPEG bytes, unchanged, in one
gzip-compressed tar, ``src/blurkit/assets/cifar10-sample.tar.gz``, laid out as an
ImageFolder tree ``<class>/<NNNN>.jpg``. Keeping the bytes avoids a second JPEG
generation; gzip mostly removes the tar headers' overhead.
"""

from __future__ import annotations

import argparse
import io
import sys
import tarfile
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from blurkit.data.archive import index_archive  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "--source", type=Path, default=ROOT.parent / "shared/data/cifar10/cifar10-test.tar.gz"
    )
    ap.add_argument("--out", type=Path, default=ROOT / "src/blurkit/assets/cifar10-sample.tar.gz")
    ap.add_argument("--per-class", type=int, default=100)
    args = ap.parse_args()

    idx = index_archive(args.source)
    chosen: dict[str, list[int]] = defaultdict(list)
    for i, folder in enumerate(idx.folders):  # members are sorted by path
        if len(chosen[folder]) < args.per_class:
            chosen[folder].append(i)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    # fixed mtime/owner and gzip mtime 0: the same input gives the same bytes
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tf:
        for folder in sorted(chosen):
            for i in chosen[folder]:
                data = idx.read(i)
                info = tarfile.TarInfo(f"{folder}/{Path(idx.members[i]).name}")
                info.size, info.mtime, info.mode = len(data), 0, 0o644
                tf.addfile(info, io.BytesIO(data))
    import gzip

    with open(args.out, "wb") as f, gzip.GzipFile(fileobj=f, mode="wb", mtime=0) as gz:
        gz.write(buf.getvalue())
    n = sum(len(v) for v in chosen.values())
    print(
        f"wrote {args.out}: {n} images, {len(chosen)} classes, {args.out.stat().st_size / 1e6:.2f} MB"
    )


if __name__ == "__main__":
    main()
