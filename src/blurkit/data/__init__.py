"""Dataset readers: ImageFolder trees, tar archives read in place, CIFAR-10 batches, the bundled sample.

``open_dataset("sample")`` is the 1,000-image CIFAR-10 test sample shipped with
the package (the first 100 test images of each class, original JPEG bytes);
``make_loader`` batches any of them deterministically, sharded across ranks.
"""

from .archive import decode_archive_uint8, index_archive
from .datasets import (
    SAMPLE_PATH,
    CifarBatchesDataset,
    CsvImageDataset,
    ImageFolderDataset,
    TarImageDataset,
    make_loader,
    open_dataset,
    shard_indices,
)

__all__ = [
    "SAMPLE_PATH",
    "CifarBatchesDataset",
    "CsvImageDataset",
    "ImageFolderDataset",
    "TarImageDataset",
    "decode_archive_uint8",
    "index_archive",
    "make_loader",
    "open_dataset",
    "shard_indices",
]
