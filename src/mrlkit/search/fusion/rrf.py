"""Reciprocal rank fusion (Cormack, Clarke and Büttcher, SIGIR 2009), optionally weighted.

``score(d) = sum_i w_i / (k + rank_i(d))`` over the runs that retrieved ``d``, with ranks starting at 1
(as in ranx and the paper). A document absent from a run gets nothing from it.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import TypeVar

from mrlkit.search.fusion.common import check_weights, ranked, sort_scores

K = TypeVar("K", bound=Hashable)

DEFAULT_K = 60


def rrf(
    runs: Sequence[Mapping[K, float]], k: int = DEFAULT_K, weights: Sequence[float] | None = None
) -> dict[K, float]:
    """Fuse the result lists of one query by reciprocal rank.

    Args:
        runs: One mapping per retriever, document id -> score (higher is better); only the order is used.
        k: The rank constant; larger values flatten the difference between top and lower ranks.
        weights: One non-negative multiplier per run (default: all 1).

    Returns:
        Document id -> fused score, best first.

    Raises:
        ConfigError: ``k`` is negative or the weights do not match the runs.
    """
    from mrlkit.errors import ConfigError

    if k < 0:
        raise ConfigError(f"the RRF constant k must be >= 0, got {k}")
    ws = check_weights(weights, len(runs))
    fused: dict[K, float] = {}
    for run, weight in zip(runs, ws, strict=True):
        for rank, doc in enumerate(ranked(run), start=1):
            fused[doc] = fused.get(doc, 0.0) + weight / (k + rank)
    return sort_scores(fused)
