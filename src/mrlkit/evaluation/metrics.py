"""Metric names mrlkit reports at every dimension, and their labels in tables and plots.

Names are lower case and match the keys of sentence-transformers' evaluators without the score function
(``ndcg@10`` rather than ``cosine_ndcg@10``), so they read the same in the report, the logs and the JSON.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import Enum

from mrlkit.errors import ConfigError


class Task(str, Enum):
    """Kind of evaluation set: retrieval (:class:`~mrlkit.data.types.IRSet`) or similarity (``STSSet``)."""

    IR = "ir"
    STS = "sts"


IR_MAIN_METRIC = "ndcg@10"
STS_MAIN_METRIC = "spearman"
MAIN_METRIC: dict[Task, str] = {Task.IR: IR_MAIN_METRIC, Task.STS: STS_MAIN_METRIC}

#: Cut-offs of ``recall@k``; ``precision@k`` is reported for those up to :data:`PRECISION_MAX_K`.
DEFAULT_K_VALUES: tuple[int, ...] = (1, 5, 10, 20, 50, 100)
PRECISION_MAX_K = 10
ACCURACY_K: tuple[int, ...] = (1, 10)
NDCG_K = 10
MRR_K = 10
MAP_K = 100

STS_METRICS: tuple[str, ...] = ("spearman", "pearson")

_LABELS = {
    "ndcg": "nDCG",
    "mrr": "MRR",
    "map": "MAP",
    "recall": "Recall",
    "precision": "P",
    "accuracy": "Acc",
    "spearman": "Spearman",
    "pearson": "Pearson",
}


def check_k_values(k_values: Sequence[int]) -> list[int]:
    """Validate recall/precision cut-offs and return them sorted without duplicates.

    Args:
        k_values: Cut-offs such as ``(1, 5, 10, 20, 50, 100)``.

    Returns:
        The sorted, de-duplicated cut-offs.

    Raises:
        ConfigError: If the list is empty or holds a value that is not a positive integer.

    """
    ks = list(k_values)
    if not ks:
        raise ConfigError(f"k_values is empty; use e.g. {list(DEFAULT_K_VALUES)}")
    for k in ks:
        if isinstance(k, bool) or not isinstance(k, int) or k <= 0:
            raise ConfigError(f"k value {k!r} is not a positive integer; use e.g. {list(DEFAULT_K_VALUES)}")
    return sorted(set(ks))


def ir_metric_names(k_values: Sequence[int] = DEFAULT_K_VALUES) -> tuple[str, ...]:
    """Names of the retrieval metrics, in report order.

    Args:
        k_values: Cut-offs of ``recall@k``; ``precision@k`` is kept for ``k <= 10`` only, as precision at
            deep cut-offs mostly reflects how many documents are relevant.

    Returns:
        ``ndcg@10, mrr@10, map@100, recall@k..., precision@k..., accuracy@1, accuracy@10``.

    """
    ks = check_k_values(k_values)
    return (
        f"ndcg@{NDCG_K}",
        f"mrr@{MRR_K}",
        f"map@{MAP_K}",
        *(f"recall@{k}" for k in ks),
        *(f"precision@{k}" for k in ks if k <= PRECISION_MAX_K),
        *(f"accuracy@{k}" for k in ACCURACY_K),
    )


IR_METRICS: tuple[str, ...] = ir_metric_names()


def metric_label(metric: str) -> str:
    """Human label of a metric name: ``ndcg@10`` -> ``nDCG@10``, ``spearman`` -> ``Spearman``.

    Args:
        metric: A metric name as reported by the evaluators.

    Returns:
        The label used in tables and plots (the name itself when unknown).

    """
    base, _, k = metric.partition("@")
    label = _LABELS.get(base, base)
    return f"{label}@{k}" if k else label
