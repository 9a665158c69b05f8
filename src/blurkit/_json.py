"""The JSON rule: how every JSON file and every ``--format json`` output blurkit writes is made.

One rule for ``summary.json``, ``study.json``, ``attack_summary.json``, the stored
critical-blur records and the JSON the CLI prints:

- the output is strict JSON (``allow_nan=False``): any reader (``jq``, JavaScript,
  pandas) parses it;
- a non-finite number (NaN, ``inf``, ``-inf``) is written as ``null``. Where a quantity
  can be infinite by definition (a critical blur never reached within the bracket, the
  PSNR of identical images), the document that holds it says what ``null`` means there,
  and the readers in blurkit (the report, the summaries) turn it back into ``inf``;
- tensors and numpy arrays become (nested) lists, numpy scalars Python numbers, booleans
  stay booleans, mappings get string keys, dataclasses become mappings of their fields,
  and anything else its ``str()``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

__all__ = ["to_jsonable", "dumps"]


def to_jsonable(v: Any) -> Any:
    """``v`` as plain JSON data, by the JSON rule (module docstring).

    >>> to_jsonable({"a": float("inf"), "b": [1.5, float("nan")], 3: torch.tensor([True])})
    {'a': None, 'b': [1.5, None], '3': [True]}
    """
    if isinstance(v, torch.Tensor):
        v = v.detach().cpu().tolist()
    elif isinstance(v, np.ndarray):
        v = v.tolist()
    if isinstance(v, Mapping):
        return {str(k): to_jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [to_jsonable(x) for x in v]
    if hasattr(v, "__dataclass_fields__") and not isinstance(v, type):
        return {k: to_jsonable(getattr(v, k)) for k in v.__dataclass_fields__}
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (float, np.floating)):
        v = float(v)
        return v if math.isfinite(v) else None
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, str) or v is None:
        return v
    return str(v)


def dumps(obj: Any, **kwargs) -> str:
    """``json.dumps`` of :func:`to_jsonable` ``(obj)``, strict (``allow_nan=False``);
    ``kwargs`` (``indent``, ``sort_keys``, ``separators``) are passed on.

    >>> dumps({"median": float("inf")})
    '{"median": null}'
    """
    return json.dumps(to_jsonable(obj), allow_nan=False, **kwargs)
