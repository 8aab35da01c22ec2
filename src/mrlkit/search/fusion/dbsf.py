"""Distribution-based score fusion (DBSF), as Qdrant computes it, optionally weighted.

Each run's scores are mapped to ``(s - (mean - 3 std)) / (6 std)`` (sample standard deviation), so that
the bulk of every run lands in [0, 1] whatever the retriever's scale (cosine, BM25); a run with one
result or with all scores equal maps them to 0.5. The fused score is the weighted sum of a document's
normalised scores over the runs that retrieved it.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from typing import TypeVar

from mrlkit.search.fusion.common import check_weights, sort_scores

K = TypeVar("K", bound=Hashable)


def normalise(scores: Mapping[K, float]) -> dict[K, float]:
    """Map one run's scores with mean +- 3 sample standard deviations to 0 and 1 (not clipped)."""
    values = list(scores.values())
    n = len(values)
    if n == 0:
        return {}
    if n == 1:
        return dict.fromkeys(scores, 0.5)
    mean = sum(values) / n
    variance = sum((v - mean) ** 2 for v in values) / (n - 1)
    if variance == 0:
        return dict.fromkeys(scores, 0.5)
    std = math.sqrt(variance)
    low = mean - 3 * std
    return {doc: (s - low) / (6 * std) for doc, s in scores.items()}


def dbsf(runs: Sequence[Mapping[K, float]], weights: Sequence[float] | None = None) -> dict[K, float]:
    """Fuse the result lists of one query by normalised, weighted score sum.

    Args:
        runs: One mapping per retriever, document id -> score (higher is better).
        weights: One non-negative multiplier per run (default: all 1).

    Returns:
        Document id -> fused score, best first.

    Raises:
        ConfigError: The weights do not match the runs.
    """
    ws = check_weights(weights, len(runs))
    fused: dict[K, float] = {}
    for run, weight in zip(runs, ws, strict=True):
        for doc, score in normalise(run).items():
            fused[doc] = fused.get(doc, 0.0) + weight * score
    return sort_scores(fused)
