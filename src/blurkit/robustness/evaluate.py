"""The old home of the evaluation grid, kept so that old imports keep working.

``from blurkit.robustness.evaluate import evaluate`` still gives the evaluation
function. The code now lives by concern: :mod:`~blurkit.robustness.engine`
(the streaming engine, :func:`~blurkit.robustness.engine.evaluate_model`,
shard merging), :mod:`~blurkit.robustness.config` (:class:`EvalConfig`),
:mod:`~blurkit.robustness.tasks` (task adapters), :mod:`~blurkit.robustness.seeds`,
:mod:`~blurkit.robustness.examples` and :mod:`~blurkit.robustness.summary`.
The function is ``blurkit.evaluate`` and ``blurkit.robustness.evaluate_model``;
``blurkit.robustness.evaluate`` names this module, not the function.
"""

from __future__ import annotations

from .engine import (
    CRITICAL_FAMILIES,
    EvaluationResult,
    evaluate_model,
    merge_results,
    resolve_corruptions,
)
from .examples import impulse_response
from .seeds import image_seeds, spread_positions
from .summary import summarize

#: the evaluation function under its old name
evaluate = evaluate_model

__all__ = [
    "EvaluationResult",
    "evaluate",
    "image_seeds",
    "summarize",
    "resolve_corruptions",
    "impulse_response",
    "merge_results",
    "spread_positions",
    "CRITICAL_FAMILIES",
]
