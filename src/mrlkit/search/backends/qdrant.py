"""The Qdrant backend: the same index in a Qdrant collection, searched through Qdrant's Query API.

``export_to_qdrant`` copies a built mrlkit index (its model, ids, texts and vectors stay the reference)
into a collection with two named dense vectors, ``short`` (the leading ``shortlist_dim`` dims,
re-normalised, with Qdrant's binary or scalar int8 quantisation) and ``full`` (every dim, on disk),
plus ``bm25`` sparse vectors (term-frequency weights, ``Modifier.IDF`` so Qdrant computes the IDF) and
the ids and texts as payload. Point ids are the index's global row numbers. The target (a local folder,
run by qdrant-edge, Qdrant's engine in-process, or by qdrant-client's local mode; or a server URL) is
recorded as the index's ``qdrant`` component, so ``QdrantIndex(Index.open(path))`` finds it again.

Search: ``exact`` scores ``full`` exactly; ``funnel`` prefetches ``limit=k'`` on ``short`` and rescores
with ``full``; ``hybrid`` fuses that dense stage and the sparse BM25 stage with Qdrant's RRF or DBSF.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from mrlkit.errors import ConfigError
from mrlkit.search.backends.engines import ClientEngine, EdgeEngine, QuerySpec, Sparse
from mrlkit.search.config import SearchMode
from mrlkit.search.quantise import truncate

if TYPE_CHECKING:
    from mrlkit.search.index import Hit, Index

COMPONENT = "qdrant"


@dataclass
class QdrantTarget:
    """Where the collection lives: ``path`` (embedded: a folder) or ``url`` (a server, with ``api_key``).

    ``engine`` runs a ``path``: ``edge`` (qdrant-edge, Qdrant's engine in-process) or ``client``
    (qdrant-client's pure-Python local mode). A ``url`` always uses qdrant-client.
    """

    path: str | None = None
    url: str | None = None
    api_key: str | None = None
    collection: str = "mrlkit"
    engine: str = "edge"

    def __post_init__(self) -> None:
        """Exactly one of path and url; a known engine."""
        if (self.path is None) == (self.url is None):
            raise ConfigError("give exactly one of --qdrant-path and --qdrant-url")
        if self.engine not in ("edge", "client"):
            raise ConfigError(f"qdrant engine must be edge or client, got {self.engine!r}")

    def open(self) -> ClientEngine | EdgeEngine:
        """Connect to (or open) the target."""
        if self.path is not None and self.engine == "edge":
            return EdgeEngine(self.path)
        return ClientEngine(self.collection, self.path, self.url, self.api_key)


def token_id(token: str) -> int:
    """A stable 31-bit id for a BM25 token (no vocabulary to store or ship)."""
    return int.from_bytes(hashlib.blake2b(token.encode(), digest_size=4).digest(), "little") & 0x7FFFFFFF


def _sparse(weights: dict[str, float]) -> Sparse:
    ids: dict[int, float] = {}
    for token, weight in weights.items():
        ids[token_id(token)] = ids.get(token_id(token), 0.0) + weight
    return list(ids), list(ids.values())


def _doc_weights(tokens: list[str], avgdl: float, k1: float, b: float) -> dict[str, float]:
    counts = Counter(tokens)
    norm = k1 * (1 - b + b * len(tokens) / avgdl)
    return {t: c * (k1 + 1) / (c + norm) for t, c in counts.items()}


def export_to_qdrant(
    index: Index, target: QdrantTarget, batch_size: int = 256, overwrite: bool = False
) -> int:
    """Write the live rows of ``index`` (and its BM25 settings, if any) into ``target``.

    Returns:
        The number of points written.

    Raises:
        ConfigError: The collection (or folder) exists and ``overwrite`` is off.
    """
    from mrlkit.search.bm25 import BM25Config
    from mrlkit.search.components import publish
    from mrlkit.search.tokenize import make_tokenizer

    bm25_entry = index.manifest.components.get("bm25")
    engine = target.open()
    try:
        short_dim = index.manifest.shortlist_dim
        engine.create(index.manifest.dim, short_dim, index.config.quantization, bool(bm25_entry), overwrite)
        rows = np.array(
            [r for r in range(index.manifest.rows) if index.alive is None or index.alive[r]], dtype=np.int64
        )
        bm25 = BM25Config(**bm25_entry["config"]) if bm25_entry else None
        tokenize = make_tokenizer(bm25.tokenizer_settings()) if bm25 else None
        avgdl = 1.0
        if tokenize is not None:
            lengths = [len(t) for t in tokenize([index.text(int(r)) or "" for r in rows])]
            avgdl = max(float(np.mean(lengths)) if lengths else 1.0, 1.0)
        for start in range(0, len(rows), batch_size):
            part = rows[start : start + batch_size]
            full = index.full.gather(part).astype(np.float32)
            short = truncate(full, short_dim)
            texts = [index.text(int(r)) or "" for r in part]
            points = []
            for i, row in enumerate(part):
                sparse = None
                if tokenize is not None and bm25 is not None:
                    tokens = tokenize([texts[i]])[0]
                    sparse = _sparse(_doc_weights(tokens, avgdl, bm25.k1, bm25.b))
                payload = {"id": index.ids[int(row)], "text": texts[i]}
                points.append((int(row), short[i].tolist(), full[i].tolist(), sparse, payload))
            engine.upsert(points)
    finally:
        engine.close()
    entry = {
        "path": target.path,
        "url": target.url,
        "collection": target.collection,
        "engine": target.engine if target.path is not None else "client",
        "points": len(rows),
    }
    publish(index.path, COMPONENT, entry)
    index._load()
    return len(rows)


class QdrantIndex:
    """Search an mrlkit index's Qdrant copy with the built-in index's ``search`` signature."""

    def __init__(self, index: Index, api_key: str | None = None) -> None:
        entry = index.manifest.components.get(COMPONENT)
        if not entry:
            raise ConfigError(
                f"index {index.path} has no Qdrant copy; write one: mrlkit index build ... --backend qdrant"
            )
        self.index = index
        engine = entry.get("engine", "client")
        self.target = QdrantTarget(entry["path"], entry["url"], api_key, entry["collection"], engine)
        self.engine = self.target.open()

    def close(self) -> None:
        """Release the engine (a local folder is locked while open)."""
        self.engine.close()

    def search(
        self,
        queries: list[str] | str,
        k: int = 10,
        mode: SearchMode | str = SearchMode.FUNNEL,
        k_prime: int | None = None,
        fusion: str | None = None,
        weights: list[float] | None = None,
    ) -> list[list[Hit]]:
        """Top ``k`` hits per query, computed by Qdrant (``fusion``/``weights`` for ``hybrid``)."""
        from mrlkit.search.index import Hit, _mode

        chosen = _mode(mode)
        if chosen is SearchMode.HNSW:
            chosen = SearchMode.FUNNEL  # Qdrant's own HNSW answers the shortlist stage
        queries = [queries] if isinstance(queries, str) else list(queries)
        if k <= 0:
            raise ConfigError(f"k must be > 0, got {k}")
        if not queries:
            return []
        vectors = self.index.encoder.encode(queries, batch_size=self.index.config.batch_size, query=True)
        kp = self.index.resolve_k_prime(k, k_prime)
        specs = [
            self._spec(q, v, k, kp, chosen, fusion, weights) for q, v in zip(queries, vectors, strict=True)
        ]
        return [
            [
                Hit(payload["id"], score, rank, payload.get("text"))
                for rank, (payload, score) in enumerate(answer, 1)
            ]
            for answer in self.engine.query(specs)
        ]

    def _spec(
        self,
        text: str,
        vector: np.ndarray,
        k: int,
        k_prime: int,
        mode: SearchMode,
        fusion: str | None,
        weights: list[float] | None,
    ) -> QuerySpec:
        full = vector.astype(np.float32)
        short = truncate(full[None, :], self.index.manifest.shortlist_dim)[0]
        spec = QuerySpec(mode.value, full.tolist(), short.tolist(), k, k_prime)
        if mode is SearchMode.HYBRID:
            from mrlkit.search.hybrid import FusionSettings

            settings = FusionSettings.for_index(self.index, method=fusion, weights=weights)
            spec.candidates = max(k, settings.candidates)
            spec.sparse = self._bm25_query(text)
            spec.fusion = settings.method.value
            spec.rrf_k = settings.rrf_k
            spec.weights = settings.weights
        return spec

    def _bm25_query(self, text: str) -> Sparse:
        from mrlkit.search.bm25 import BM25Config
        from mrlkit.search.tokenize import make_tokenizer

        entry = self.index.manifest.components.get("bm25")
        if not entry:
            raise ConfigError(
                f"index {self.index.path} has no BM25 part; add one, then export to Qdrant again"
            )
        tokens = make_tokenizer(BM25Config(**entry["config"]).tokenizer_settings())([text])[0]
        return _sparse(dict.fromkeys(tokens, 1.0))
