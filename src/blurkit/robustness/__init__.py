"""How robust is a model to blur: critical blur per image and adversarial blur kernels."""

from .attack import *  # noqa: F403
from .attack import __all__ as _attack
from .critical import *  # noqa: F403
from .critical import __all__ as _critical

__all__ = [*_critical, *_attack]

# evaluation grid, benchmark metrics, result store, torchrun helpers (evaluation engine)
from ..data.datasets import shard_indices  # noqa: E402  (the one sharding rule)
from .config import EvalConfig  # noqa: E402
from .distributed import DistContext, init_distributed  # noqa: E402
from .embedding import EmbeddingTask, embedding_critical_blur  # noqa: E402  (registers "embedding")
from .engine import EvaluationResult, evaluate_model, merge_results  # noqa: E402
from .metrics import *  # noqa: E402, F403
from .metrics import __all__ as _metrics  # noqa: E402
from .seeds import image_seeds, spread_positions  # noqa: E402
from .store import ResultStore, ResumeError, read_cells_csv  # noqa: E402
from .summary import summarize  # noqa: E402
from .tasks import ClassificationTask, Task, get_task, list_tasks, register_task  # noqa: E402

__all__ += [
    *_metrics,
    "evaluate_model",
    "merge_results",
    "EvalConfig",
    "EvaluationResult",
    "Task",
    "ClassificationTask",
    "EmbeddingTask",
    "embedding_critical_blur",
    "register_task",
    "get_task",
    "list_tasks",
    "image_seeds",
    "spread_positions",
    "summarize",
    "ResultStore",
    "ResumeError",
    "read_cells_csv",
    "DistContext",
    "init_distributed",
    "shard_indices",
]
