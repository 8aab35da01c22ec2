"""Pick a fusion method by name and apply it to every query of a batch."""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from enum import Enum
from typing import TypeVar

from mrlkit.search.fusion.dbsf import dbsf
from mrlkit.search.fusion.rrf import DEFAULT_K, rrf

K = TypeVar("K", bound=Hashable)


class FusionMethod(str, Enum):
    """rrf: reciprocal rank fusion (ranks only); dbsf: distribution-based score fusion (scores)."""

    RRF = "rrf"
    DBSF = "dbsf"


def fuse(
    runs: Sequence[Mapping[K, float]],
    method: FusionMethod | str = FusionMethod.RRF,
    weights: Sequence[float] | None = None,
    k: int = DEFAULT_K,
) -> dict[K, float]:
    """Fuse one query's result lists with ``method`` (``k`` is used by RRF only).

    Raises:
        ConfigError: Unknown method, or weights that do not fit the runs.
    """
    from mrlkit.config import _enum

    chosen = _enum(FusionMethod, method, "fusion")
    if chosen is FusionMethod.RRF:
        return rrf(runs, k=k, weights=weights)
    return dbsf(runs, weights=weights)


def fuse_batch(
    runs_per_query: Sequence[Sequence[Mapping[K, float]]],
    method: FusionMethod | str = FusionMethod.RRF,
    weights: Sequence[float] | None = None,
    k: int = DEFAULT_K,
) -> list[dict[K, float]]:
    """:func:`fuse` for each query of a batch."""
    return [fuse(runs, method, weights, k) for runs in runs_per_query]
