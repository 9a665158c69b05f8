"""A restricted unpickler for the CIFAR "python version" batches.

The CIFAR-10/100 python batches are pickles of a dict of bytes keys, a uint8
numpy array (``data``), lists of ints (``labels``) and lists of bytes
(``filenames``, ``label_names``). A plain ``pickle.load`` on such a file runs
whatever callable the file names, so a hostile "batch" executes code. This
unpickler resolves only the few globals those files need -- numpy's array and
dtype reconstruction and, for pickles written by Python 3 under protocol 2, the
latin-1 bytes codec -- and raises :class:`~blurkit._checks.UnsafeFileError` for
any other global *before* it is called.
"""

from __future__ import annotations

import io
import pickle

from .._checks import ParameterError, UnsafeFileError

__all__ = ["safe_load_pickle", "ALLOWED_GLOBALS"]


def _latin1_encode(text, encoding="latin1", *rest):
    """``_codecs.encode`` as protocol-2 pickles of ``bytes`` use it: str -> latin-1 bytes only."""
    if rest or not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise UnsafeFileError(
            f"pickle: _codecs.encode is only allowed as (str, 'latin1'), got {encoding!r}"
        )
    return text.encode("latin1")


def _numpy_globals() -> dict[tuple[str, str], object]:
    import numpy as np

    try:
        from numpy._core.multiarray import _reconstruct
        from numpy._core.numeric import _frombuffer
    except ImportError:  # numpy < 2
        from numpy.core.multiarray import _reconstruct
        from numpy.core.numeric import _frombuffer
    out: dict[tuple[str, str], object] = {
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
    }
    for core in ("numpy.core", "numpy._core"):
        out[(f"{core}.multiarray", "_reconstruct")] = _reconstruct
        out[(f"{core}.numeric", "_frombuffer")] = _frombuffer
    return out


#: (module, name) pairs a CIFAR batch may name; everything else is refused
ALLOWED_GLOBALS = (
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"),
    ("_codecs", "encode"),
    ("builtins", "dict"),
    ("builtins", "list"),
)


class _Restricted(pickle.Unpickler):
    def __init__(self, file, source: str) -> None:
        super().__init__(file, encoding="bytes")
        self.source = source
        self._allowed = {**_numpy_globals(), ("_codecs", "encode"): _latin1_encode}
        self._allowed[("builtins", "dict")] = dict
        self._allowed[("builtins", "list")] = list

    def find_class(self, module: str, name: str):
        obj = self._allowed.get((module, name))
        if obj is None:
            raise UnsafeFileError(
                f"{self.source}: refused to load: the pickle names {module}.{name}, which a "
                "CIFAR batch never needs (only numpy arrays, lists, dicts and bytes are "
                "allowed; loading it could run code)"
            )
        return obj

    def persistent_load(self, pid):
        raise UnsafeFileError(f"{self.source}: refused to load: the pickle has persistent ids")


def safe_load_pickle(data: bytes, source: str):
    """Unpickle ``data`` (a CIFAR batch) allowing only :data:`ALLOWED_GLOBALS`.

    Raises:
        UnsafeFileError: the pickle names any other global (nothing in it has run).
        ParameterError: the bytes are not a readable pickle.
    """
    try:
        return _Restricted(io.BytesIO(data), source).load()
    except UnsafeFileError:
        raise
    except Exception as e:  # truncated or malformed pickle, bad numpy state, ...
        raise ParameterError(
            f"{source}: not a readable CIFAR batch ({type(e).__name__}: {e})"
        ) from e
