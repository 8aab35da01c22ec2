"""The Qdrant backend: the same index in a Qdrant collection, searched through Qdrant's Query API.

``export_to_qdrant`` copies a built mrlkit index (its model, ids, texts and vectors stay the reference)
into a collection with two named dense vectors, ``short`` (the leading ``shortlist_dim`` dims,
re-normalised, with Qdrant's binary or scalar int8 quantisation) and ``full`` (every dim, on disk),
plus ``bm25`` sparse vectors (term-frequency weights, ``Modifier.IDF`` so Qdrant computes the IDF) and
the ids and texts as payload. Point ids are the index's global row numbers. The target (a local path,
``:memory:`` or a server URL) is recorded as the index's ``qdrant`` component, so
``QdrantIndex(Index.open(path))`` finds it again.

Search: ``exact`` scores ``full`` exactly; ``funnel`` prefetches ``limit=k'`` on ``short`` and rescores
with ``full``; ``hybrid`` fuses that dense stage and the sparse BM25 stage with Qdrant's RRF or DBSF.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from mrlkit.errors import ConfigError, require
from mrlkit.search.config import Quantization, SearchMode
from mrlkit.search.quantise import truncate

if TYPE_CHECKING:
    from mrlkit.search.index import Hit, Index

COMPONENT = "qdrant"


@dataclass
class QdrantTarget:
    """Where the collection lives: ``path`` (embedded: a folder) or ``url`` (a server, with ``api_key``)."""

    path: str | None = None
    url: str | None = None
    api_key: str | None = None
    collection: str = "mrlkit"

    def __post_init__(self) -> None:
        """Exactly one of path and url."""
        if (self.path is None) == (self.url is None):
            raise ConfigError("give exactly one of --qdrant-path and --qdrant-url")

    def client(self) -> Any:  # noqa: ANN401
        """A ``QdrantClient`` for this target."""
        require("qdrant_client", "qdrant", "the Qdrant backend")
        from qdrant_client import QdrantClient

        if self.path is not None:
            return (
                QdrantClient(location=":memory:") if self.path == ":memory:" else QdrantClient(path=self.path)
            )
        return QdrantClient(url=self.url, api_key=self.api_key)


def token_id(token: str) -> int:
    """A stable 31-bit id for a BM25 token (no vocabulary to store or ship)."""
    return int.from_bytes(hashlib.blake2b(token.encode(), digest_size=4).digest(), "little") & 0x7FFFFFFF


def _sparse(tokens: list[str], weights: dict[str, float]) -> Any:  # noqa: ANN401
    from qdrant_client import models

    ids: dict[int, float] = {}
    for token in set(tokens):
        ids[token_id(token)] = ids.get(token_id(token), 0.0) + weights[token]
    return models.SparseVector(indices=list(ids), values=list(ids.values()))


def _doc_weights(tokens: list[str], avgdl: float, k1: float, b: float) -> dict[str, float]:
    counts = Counter(tokens)
    norm = k1 * (1 - b + b * len(tokens) / avgdl)
    return {t: c * (k1 + 1) / (c + norm) for t, c in counts.items()}


def _quantization(kind: Quantization) -> Any:  # noqa: ANN401
    from qdrant_client import models

    if kind is Quantization.BINARY:
        return models.BinaryQuantization(binary=models.BinaryQuantizationConfig(always_ram=True))
    if kind is Quantization.INT8:
        return models.ScalarQuantization(
            scalar=models.ScalarQuantizationConfig(type=models.ScalarType.INT8, always_ram=True)
        )
    return None


def export_to_qdrant(
    index: Index, target: QdrantTarget, batch_size: int = 256, overwrite: bool = False
) -> int:
    """Write the live rows of ``index`` (and its BM25 settings, if any) into ``target``'s collection.

    Returns:
        The number of points written.

    Raises:
        ConfigError: The collection exists and ``overwrite`` is off.
    """
    from qdrant_client import models

    from mrlkit.search.bm25 import BM25Config
    from mrlkit.search.components import publish
    from mrlkit.search.tokenize import make_tokenizer

    client = target.client()
    if client.collection_exists(target.collection):
        if not overwrite:
            raise ConfigError(
                f"Qdrant collection {target.collection!r} exists; pass --overwrite to replace it"
            )
        client.delete_collection(target.collection)
    cfg, short_dim = index.config, index.manifest.shortlist_dim
    bm25_entry = index.manifest.components.get("bm25")
    client.create_collection(
        target.collection,
        vectors_config={
            "short": models.VectorParams(
                size=short_dim,
                distance=models.Distance.COSINE,
                quantization_config=_quantization(cfg.quantization),
            ),
            "full": models.VectorParams(
                size=index.manifest.dim, distance=models.Distance.COSINE, on_disk=True
            ),
        },
        sparse_vectors_config={"bm25": models.SparseVectorParams(modifier=models.Modifier.IDF)}
        if bm25_entry
        else None,
    )
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
            vector: dict[str, Any] = {"short": short[i].tolist(), "full": full[i].tolist()}
            if tokenize is not None and bm25 is not None:
                tokens = tokenize([texts[i]])[0]
                vector["bm25"] = _sparse(tokens, _doc_weights(tokens, avgdl, bm25.k1, bm25.b))
            payload = {"id": index.ids[int(row)], "text": texts[i]}
            points.append(models.PointStruct(id=int(row), vector=vector, payload=payload))
        client.upsert(target.collection, points=points, wait=True)
    entry = {"path": target.path, "url": target.url, "collection": target.collection, "points": len(rows)}
    publish(index.path, COMPONENT, entry)
    index._load()
    client.close()
    return len(rows)


class QdrantIndex:
    """Search an mrlkit index's Qdrant copy with the built-in index's ``search`` signature."""

    def __init__(self, index: Index, api_key: str | None = None, client: Any = None) -> None:  # noqa: ANN401
        entry = index.manifest.components.get(COMPONENT)
        if not entry:
            raise ConfigError(
                f"index {index.path} has no Qdrant copy; write one: mrlkit index build ... --backend qdrant"
            )
        self.index = index
        self.target = QdrantTarget(entry["path"], entry["url"], api_key, entry["collection"])
        self.client = client or self.target.client()

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
        requests = [
            self._request(q, v, k, kp, chosen, fusion, weights) for q, v in zip(queries, vectors, strict=True)
        ]
        answers = self.client.query_batch_points(self.target.collection, requests=requests)
        return [
            [
                Hit(p.payload["id"], float(p.score), rank, p.payload.get("text"))
                for rank, p in enumerate(a.points, 1)
            ]
            for a in answers
        ]

    def _request(
        self,
        text: str,
        vector: np.ndarray,
        k: int,
        k_prime: int,
        mode: SearchMode,
        fusion: str | None,
        weights: list[float] | None,
    ) -> Any:  # noqa: ANN401
        from qdrant_client import models

        full = vector.astype(np.float32).tolist()
        short = truncate(vector[None, :].astype(np.float32), self.index.manifest.shortlist_dim)[0].tolist()
        exact = models.SearchParams(exact=True)
        if mode is SearchMode.EXACT:
            return models.QueryRequest(query=full, using="full", limit=k, params=exact, with_payload=True)
        stage = models.Prefetch(query=short, using="short", limit=k_prime)
        if mode is SearchMode.FUNNEL:
            return models.QueryRequest(prefetch=[stage], query=full, using="full", limit=k, with_payload=True)
        from mrlkit.search.hybrid import FusionSettings

        settings = FusionSettings.for_index(self.index, method=fusion, weights=weights)
        n = max(k, settings.candidates)
        stage.limit = max(k_prime, n)
        dense = models.Prefetch(prefetch=[stage], query=full, using="full", limit=n)
        lexical = models.Prefetch(query=self._bm25_query(text), using="bm25", limit=n)
        if settings.method.value == "rrf":
            query: Any = models.RrfQuery(rrf=models.Rrf(k=settings.rrf_k, weights=settings.weights))
        else:  # Qdrant's DBSF takes no weights
            query = models.FusionQuery(fusion=models.Fusion.DBSF)
        return models.QueryRequest(prefetch=[dense, lexical], query=query, limit=k, with_payload=True)

    def _bm25_query(self, text: str) -> Any:  # noqa: ANN401
        from mrlkit.search.bm25 import BM25Config
        from mrlkit.search.tokenize import make_tokenizer

        entry = self.index.manifest.components.get("bm25")
        if not entry:
            raise ConfigError(
                f"index {self.index.path} has no BM25 part; add one, then export to Qdrant again"
            )
        tokens = make_tokenizer(BM25Config(**entry["config"]).tokenizer_settings())([text])[0]
        return _sparse(tokens, dict.fromkeys(tokens, 1.0))
