"""Hybrid search: the result lists of dense (exact or funnel), learned sparse and BM25 retrieval, fused.

``retrievers`` picks the lists (default dense and BM25; ``sparse`` needs the index's sparse part from
``mrlkit index sparse``). Settings come from the call, else from those ``mrlkit tune-fusion`` stored in
the index (when they were tuned for the same retrievers), else RRF (k = 60) with equal weights. Each
retriever contributes its top ``candidates`` rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from mrlkit.errors import ConfigError
from mrlkit.search.bm25 import BM25Searcher
from mrlkit.search.config import SearchMode
from mrlkit.search.fusion import FusionMethod, fuse
from mrlkit.search.fusion.rrf import DEFAULT_K

if TYPE_CHECKING:
    from mrlkit.search.index import Hit, Index

FUSION = "fusion"  # manifest component holding tuned settings
RETRIEVERS = ("dense", "sparse", "bm25")  # what hybrid search can fuse
DEFAULT_RETRIEVERS = ("dense", "bm25")
Runs = list[list[dict[int, float]]]  # per query, per retriever: row -> score


def check_retrievers(retrievers: Sequence[str] | str) -> list[str]:
    """Parse ``"dense,sparse"`` or a list into known, distinct retriever names (order kept).

    Raises:
        ConfigError: Empty, unknown or repeated names.
    """
    names = [r.strip() for r in retrievers.split(",")] if isinstance(retrievers, str) else list(retrievers)
    if not names or any(r not in RETRIEVERS for r in names) or len(set(names)) != len(names):
        raise ConfigError(
            f"retrievers must be distinct names among {', '.join(RETRIEVERS)}, got {names}; "
            "e.g. --retrievers dense,sparse,bm25"
        )
    return names


@dataclass
class FusionSettings:
    """How a hybrid search fuses its retrievers (``weights``: one per retriever, in ``retrievers`` order)."""

    method: FusionMethod = FusionMethod.RRF
    weights: list[float] | None = None  # None: equal weights
    rrf_k: int = DEFAULT_K
    dense_mode: SearchMode = SearchMode.FUNNEL
    candidates: int = 100
    retrievers: list[str] = field(default_factory=lambda: list(DEFAULT_RETRIEVERS))

    def __post_init__(self) -> None:
        """Coerce enums and check values."""
        from mrlkit.config import _enum
        from mrlkit.search.fusion.common import check_weights

        self.method = _enum(FusionMethod, self.method, "fusion")
        self.dense_mode = _enum(SearchMode, self.dense_mode, "dense_mode")
        if self.dense_mode in (SearchMode.HYBRID, SearchMode.SPARSE):
            raise ConfigError(f"dense_mode must be exact, funnel or hnsw, got {self.dense_mode.value}")
        self.retrievers = check_retrievers(self.retrievers)
        self.weights = check_weights(self.weights, len(self.retrievers))
        if self.candidates <= 0 or self.rrf_k < 0:
            raise ConfigError(f"candidates must be > 0 and rrf_k >= 0, got {self.candidates}, {self.rrf_k}")

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form."""
        out = asdict(self)
        out.update(method=self.method.value, dense_mode=self.dense_mode.value)
        return out

    @classmethod
    def for_index(cls, index: Index, **overrides: Any) -> FusionSettings:  # noqa: ANN401
        """Tuned settings of ``index`` (if any), then ``overrides`` that are not ``None``.

        Settings tuned for other retrievers than ``overrides["retrievers"]`` are not used.
        """
        stored = dict(index.manifest.components.get(FUSION, {}).get("settings", {}))
        wanted = overrides.get("retrievers")
        if wanted is not None:
            wanted = check_retrievers(wanted)
            if wanted != list(stored.get("retrievers", DEFAULT_RETRIEVERS)):
                stored = {}
            overrides["retrievers"] = wanted
        stored.update({k: v for k, v in overrides.items() if v is not None})
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in stored.items() if k in known})


def bm25_for(index: Index) -> BM25Searcher:
    """The index's BM25 searcher, loaded once per opened index and reloaded after the index changes."""
    cached = index.__dict__.get("_hybrid_bm25")
    stamp = (index.manifest.updated, index.manifest.rows)
    if cached is None or cached[0] != stamp:
        cached = (stamp, BM25Searcher.load(index))
        index.__dict__["_hybrid_bm25"] = cached
    return cached[1]


def retrieve_runs(
    index: Index,
    queries: Sequence[str],
    settings: FusionSettings,
    k_prime: int | None = None,
    ef: int | None = None,
    vectors: np.ndarray | None = None,
) -> Runs:
    """Each query's top ``settings.candidates`` rows and scores from each retriever (``settings`` order)."""
    n = settings.candidates
    lists: list[tuple[np.ndarray, np.ndarray]] = []
    for name in settings.retrievers:
        if name == "dense":
            if vectors is None:
                vectors = index.encoder.encode(list(queries), batch_size=index.config.batch_size, query=True)
            # k_prime None: the index's tuned (or default) k' for k = n, never fewer than n; forcing k' = n
            # here cut the funnel's shortlist to the candidate count (SciFact base: dense arm 0.53 nDCG@10)
            lists.append(index.search_vectors(vectors, k=n, mode=settings.dense_mode, k_prime=k_prime, ef=ef))
        elif name == "sparse":
            from mrlkit.search.sparse import SparseSearcher

            lists.append(SparseSearcher.load(index).search(list(queries), n, index.alive))
        else:
            lists.append(bm25_for(index).search(list(queries), n, index.alive))
    return [
        [
            {int(r): float(s) for r, s in zip(rows[i], scores[i], strict=True) if r >= 0}
            for rows, scores in lists
        ]
        for i in range(len(queries))
    ]


def fuse_runs(runs: Runs, settings: FusionSettings, k: int) -> list[list[tuple[int, float]]]:
    """Fused top ``k`` (row, score) per query."""
    out = []
    for query_runs in runs:
        fused = fuse(query_runs, settings.method, settings.weights, settings.rrf_k)
        out.append(list(fused.items())[:k])
    return out


def hybrid_search(
    index: Index,
    queries: Sequence[str],
    k: int = 10,
    fusion: FusionMethod | str | None = None,
    weights: Sequence[float] | None = None,
    dense_mode: SearchMode | str | None = None,
    candidates: int | None = None,
    k_prime: int | None = None,
    ef: int | None = None,
    retrievers: Sequence[str] | str | None = None,
    vectors: np.ndarray | None = None,
) -> list[list[Hit]]:
    """Fuse the hits of ``retrievers`` (default dense and BM25); the score is the fused score, not a cosine.

    ``vectors``: the queries' embeddings when they are already computed; default: encode ``queries``.

    Raises:
        ConfigError: A missing (or stale) BM25 or sparse part, bad fusion settings, or ``k`` <= 0.
    """
    from mrlkit.search.index import Hit

    if k <= 0:
        raise ConfigError(f"k must be > 0, got {k}")
    settings = FusionSettings.for_index(
        index,
        method=fusion,
        weights=list(weights) if weights is not None else None,
        dense_mode=dense_mode,
        candidates=max(candidates or 0, k) if candidates else None,
        retrievers=retrievers,
    )
    if settings.candidates < k:
        settings.candidates = k
    if not queries:
        return []
    runs = retrieve_runs(index, queries, settings, k_prime, ef, vectors)
    return [
        [Hit(index.ids[row], score, rank, index.text(row)) for rank, (row, score) in enumerate(top, 1)]
        for top in fuse_runs(runs, settings, k)
    ]
