"""Find the smallest k' (and HNSW ef) whose results reach a recall@k target against exact search.

Sample queries are the user's (texts, encoded with the index's model, or vectors) or, when none are
given, up to ``sample`` live corpus vectors picked with a fixed seed ("pseudo-queries"); a pseudo-query's
own row is removed from both result lists, so it cannot inflate the recall. Recall grows with k' (a
larger shortlist cut contains the smaller one), so k' is found by doubling, then bisection; ef likewise.
The result is stored in the manifest (``tuned``) and used by every later search that does not pass k'.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from mrlkit.errors import ConfigError
from mrlkit.search.storage import commit, read_manifest, write_lock

if TYPE_CHECKING:
    from mrlkit.search.index import Index

logger = logging.getLogger(__name__)


def _without_self(rows: np.ndarray, own: np.ndarray | None, k: int) -> np.ndarray:
    if own is None:
        return rows[:, :k]
    out = np.full((len(rows), k), -1, dtype=np.int64)
    for i, (found, me) in enumerate(zip(rows, own, strict=True)):
        kept = found[(found != me) & (found >= 0)][:k]
        out[i, : len(kept)] = kept
    return out


def recall_at_k(found: np.ndarray, truth: np.ndarray) -> float:
    """Mean share of each query's true top-k rows (``-1`` ignored) that ``found`` contains."""
    shares = []
    for f, t in zip(found, truth, strict=True):
        t = t[t >= 0]
        if len(t):
            shares.append(len(np.intersect1d(f[f >= 0], t)) / len(t))
    return float(np.mean(shares)) if shares else 1.0


def smallest(check: Callable[[int], float], start: int, limit: int, target: float) -> tuple[int, float]:
    """Smallest value in ``[start, limit]`` with ``check(value) >= target``, and its score.

    Doubling, then bisection; returns ``limit`` and its score when no value reaches the target.
    """
    value, score = start, check(start)
    low = start - 1
    while score < target and value < limit:
        low, value = value, min(limit, value * 2)
        score = check(value)
    if score < target:
        return value, score
    while value - low > 1:
        mid = (low + value) // 2
        mid_score = check(mid)
        if mid_score >= target:
            value, score = mid, mid_score
        else:
            low = mid
    return value, score


def _sample_queries(
    index: Index, queries: Sequence[str] | np.ndarray | None, sample: int, seed: int
) -> tuple[np.ndarray, np.ndarray | None, str]:
    if queries is None:
        live = np.arange(index.manifest.rows) if index.alive is None else np.flatnonzero(index.alive)
        rows = np.sort(np.random.default_rng(seed).choice(live, size=min(sample, len(live)), replace=False))
        return index.full.gather(rows), rows, f"{len(rows)} corpus vectors as pseudo-queries (seed {seed})"
    if isinstance(queries, np.ndarray):
        return queries.astype(np.float32), None, f"{len(queries)} query vectors"
    texts = list(queries)[:sample] if len(queries) > sample else list(queries)
    if not texts:
        raise ConfigError("tune got an empty query list; pass queries or None for pseudo-queries")
    return index.encoder.encode(texts, query=True), None, f"{len(texts)} user queries"


def tune_index(
    index: Index,
    queries_or_vectors: Sequence[str] | np.ndarray | None = None,
    recall: float = 0.99,
    k: int = 10,
    sample: int = 200,
    seed: int = 0,
    max_ef: int = 4096,
) -> dict[str, Any]:
    """Measure recall@k against exact search and store the smallest k' (and ef) that reach ``recall``.

    Returns:
        The stored ``tuned`` entry: k, target, k_prime, its recall, ef and its recall (with a graph).

    Raises:
        ConfigError: ``recall`` outside (0, 1] or ``k`` <= 0.
    """
    if not 0.0 < recall <= 1.0:
        raise ConfigError(f"recall must be in (0, 1], got {recall}")
    if k <= 0:
        raise ConfigError(f"k must be > 0, got {k}")
    k = min(k, len(index) - 1 if queries_or_vectors is None else len(index))
    q, own, source = _sample_queries(index, queries_or_vectors, sample, seed)
    extra = 0 if own is None else 1
    truth = _without_self(index.search_vectors(q, k + extra, mode="exact")[0], own, k)

    def funnel(kp: int) -> float:
        found = index.search_vectors(q, k + extra, mode="funnel", k_prime=kp + extra)[0]
        return recall_at_k(_without_self(found, own, k), truth)

    start = time.perf_counter()
    k_prime, got = smallest(funnel, k, index.manifest.rows, recall)
    tuned: dict[str, Any] = {"k": k, "recall_target": recall, "k_prime": k_prime, "recall": round(got, 4)}
    if index.graphs is not None:

        def hnsw(ef: int) -> float:
            found = index.search_vectors(q, k + extra, mode="hnsw", k_prime=k_prime + extra, ef=ef)[0]
            return recall_at_k(_without_self(found, own, k), truth)

        ef, ef_recall = smallest(hnsw, k_prime + extra, max(max_ef, k_prime + extra), recall)
        tuned.update(ef=ef, hnsw_recall=round(ef_recall, 4))
        if ef_recall < recall:
            logger.warning(
                "HNSW reached recall@%d %.4f < %.4f at ef=%d; use mode funnel", k, ef_recall, recall, ef
            )
    if got < recall:
        logger.warning("funnel reached recall@%d %.4f < %.4f even at k'=%d", k, got, recall, k_prime)
    tuned.update(queries=source, seconds=round(time.perf_counter() - start, 2))
    with write_lock(index.path):
        manifest = read_manifest(index.path)
        manifest.tuned = tuned
        commit(index.path, manifest)
    index._load()  # noqa: SLF001
    return tuned
