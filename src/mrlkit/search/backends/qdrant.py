"""The Qdrant backend: the same index in a Qdrant collection, searched through Qdrant's Query API.

``export_to_qdrant`` copies a built mrlkit index (its model, ids, texts and vectors stay the reference)
into a collection with two named dense vectors, ``short`` (the leading ``shortlist_dim`` dims,
re-normalised, with Qdrant's binary or scalar int8 quantisation) and ``full`` (every dim, on disk),
plus ``bm25`` sparse vectors (term-frequency weights, ``Modifier.IDF`` so Qdrant computes the IDF) when
the index has a BM25 part, ``sparse`` vectors (a learned sparse encoder's document weights, dot product)
when it has a sparse part (``mrlkit index sparse``), and the ids and texts as payload. Point ids are
the index's global row numbers. The target (a local folder, run by qdrant-edge, Qdrant's engine
in-process, or by qdrant-client's local mode; or a server URL) is recorded as the index's ``qdrant``
component, so ``QdrantIndex(Index.open(path))`` finds it again.

Search: ``exact`` scores ``full`` exactly; ``funnel`` prefetches ``limit=k'`` on ``short`` and rescores
with ``full``; ``sparse`` scores the ``sparse`` vectors; ``hybrid`` prefetches each retriever (that dense
stage, ``sparse``, ``bm25``) and fuses them on the server with Qdrant's RRF or DBSF.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from mrlkit.errors import ConfigError
from mrlkit.search.backends.engines import ClientEngine, EdgeEngine, QuerySpec, Sparse
from mrlkit.search.config import SearchMode
from mrlkit.search.quantise import truncate

if TYPE_CHECKING:
    import scipy.sparse as sp

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


def _row(matrix: sp.csr_matrix, row: int) -> Sparse:
    start, end = matrix.indptr[row], matrix.indptr[row + 1]
    return matrix.indices[start:end].tolist(), matrix.data[start:end].tolist()


def _learned_docs(index: Index) -> sp.csr_matrix | None:
    """The index's learned sparse document vectors (``None`` without a sparse part).

    Raises:
        ConfigError: The sparse part does not cover documents added since it was built.
    """
    import scipy.sparse as sp

    from mrlkit.search.components import component_folder
    from mrlkit.search.sparse import FILE, NAME

    folder = component_folder(index.path, index.manifest, NAME)
    if folder is None:
        return None
    entry = index.manifest.components[NAME]
    if int(entry["rows"]) != index.manifest.rows:
        raise ConfigError(
            f"the sparse part of {index.path} covers {entry['rows']} of {index.manifest.rows} rows; refresh "
            f"it first: mrlkit index sparse {index.path} --model {entry['model']}"
        )
    return sp.load_npz(folder / FILE).tocsr()


def export_to_qdrant(
    index: Index, target: QdrantTarget, batch_size: int = 256, overwrite: bool = False
) -> int:
    """Write the live rows of ``index`` (and its BM25 and learned sparse vectors, if any) into ``target``.

    Returns:
        The number of points written.

    Raises:
        ConfigError: The collection (or folder) exists and ``overwrite`` is off, or a stale sparse part.
    """
    from mrlkit.search.bm25 import BM25Config
    from mrlkit.search.components import publish
    from mrlkit.search.tokenize import make_tokenizer

    bm25_entry = index.manifest.components.get("bm25")
    learned = _learned_docs(index)
    names = ["bm25"] * bool(bm25_entry) + ["sparse"] * (learned is not None)
    engine = target.open()
    try:
        short_dim = index.manifest.shortlist_dim
        engine.create(index.manifest.dim, short_dim, index.config.quantization, names, overwrite)
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
                sparse: dict[str, Sparse] = {}
                if tokenize is not None and bm25 is not None:
                    tokens = tokenize([texts[i]])[0]
                    sparse["bm25"] = _sparse(_doc_weights(tokens, avgdl, bm25.k1, bm25.b))
                if learned is not None:
                    sparse["sparse"] = _row(learned, int(row))
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
        "sparse_vectors": names,
        "sparse_model": index.manifest.components["sparse"]["model"] if learned is not None else None,
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
        self.vectors: list[str] = entry.get(
            "sparse_vectors", ["bm25"] * ("bm25" in index.manifest.components)
        )
        self.sparse_model: str | None = entry.get("sparse_model")
        self._sparse_encoder: Any = None
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
        retrievers: list[str] | str | None = None,
    ) -> list[list[Hit]]:
        """Top ``k`` hits per query, computed by Qdrant (``fusion``, ``weights``, ``retrievers``: hybrid).

        Raises:
            ConfigError: ``k`` <= 0, or the copy lacks (or holds stale) sparse vectors asked for.
        """
        from mrlkit.search.index import Hit, _mode

        chosen = _mode(mode)
        if chosen is SearchMode.HNSW:
            chosen = SearchMode.FUNNEL  # Qdrant's own HNSW answers the shortlist stage
        queries = [queries] if isinstance(queries, str) else list(queries)
        if k <= 0:
            raise ConfigError(f"k must be > 0, got {k}")
        if not queries:
            return []
        settings = None
        if chosen is SearchMode.HYBRID:
            from mrlkit.search.hybrid import FusionSettings

            settings = FusionSettings.for_index(
                self.index, method=fusion, weights=weights, retrievers=retrievers
            )
        arms = settings.retrievers if settings else ["sparse" if chosen is SearchMode.SPARSE else "dense"]
        vectors = (
            self.index.encoder.encode(queries, batch_size=self.index.config.batch_size, query=True)
            if "dense" in arms
            else np.zeros((len(queries), self.index.manifest.dim), np.float32)
        )
        learned = self._learned_queries(queries) if "sparse" in arms else None
        kp = self.index.resolve_k_prime(k, k_prime)
        specs = []
        for i, text in enumerate(queries):
            spec = self._spec(vectors[i], k, kp, chosen)
            if learned is not None:
                spec.sparse["sparse"] = learned[i]
            if "bm25" in arms:
                spec.sparse["bm25"] = self._bm25_query(text)
            if settings is not None:
                spec.arms = settings.retrievers
                spec.candidates = max(k, settings.candidates)
                # the dense stage shortlists as many candidates as the built-in hybrid search does
                spec.k_prime = self.index.resolve_k_prime(spec.candidates, k_prime)
                spec.fusion = settings.method.value
                # Qdrant's RRF term is 1 / (k + rank - 1) with ranks from 1; mrlkit's 1 / (k + rank)
                spec.rrf_k = settings.rrf_k + 1
                spec.weights = settings.weights
            specs.append(spec)
        return [
            [
                Hit(payload["id"], score, rank, payload.get("text"))
                for rank, (payload, score) in enumerate(answer, 1)
            ]
            for answer in self.engine.query(specs)
        ]

    def _spec(self, vector: np.ndarray, k: int, k_prime: int, mode: SearchMode) -> QuerySpec:
        full = vector.astype(np.float32)
        short = truncate(full[None, :], self.index.manifest.shortlist_dim)[0]
        return QuerySpec(mode.value, full.tolist(), short.tolist(), k, k_prime)

    def _learned_queries(self, queries: list[str]) -> list[Sparse]:
        """The queries' learned sparse vectors, from the model that wrote the Qdrant copy's ``sparse``."""
        from mrlkit.evaluation.explain import load_sparse_encoder
        from mrlkit.search.sparse import NAME, encode_sparse

        entry = self.index.manifest.components.get(NAME)
        if "sparse" not in self.vectors or entry is None:
            raise ConfigError(
                f"the Qdrant copy of {self.index.path} has no learned sparse vectors; add them with: "
                f"mrlkit index sparse {self.index.path} --model splade-tiny (it rewrites the Qdrant copy)"
            )
        if entry["model"] != self.sparse_model:
            raise ConfigError(
                f"the Qdrant copy's sparse vectors come from {self.sparse_model}, the index's from "
                f"{entry['model']}; rewrite it: mrlkit index sparse {self.index.path} "
                f"--model {entry['model']}"
            )
        if self._sparse_encoder is None:
            self._sparse_encoder = load_sparse_encoder(entry["model"])
        matrix = encode_sparse(self._sparse_encoder, queries, query=True)
        return [_row(matrix, i) for i in range(len(queries))]

    def _bm25_query(self, text: str) -> Sparse:
        from mrlkit.search.bm25 import BM25Config
        from mrlkit.search.tokenize import make_tokenizer

        entry = self.index.manifest.components.get("bm25")
        if not entry or "bm25" not in self.vectors:
            raise ConfigError(
                f"index {self.index.path} (or its Qdrant copy) has no BM25 part; add one, then export to "
                "Qdrant again"
            )
        tokens = make_tokenizer(BM25Config(**entry["config"]).tokenizer_settings())([text])[0]
        return _sparse(dict(Counter(tokens)))  # a repeated query word counts twice, as in bm25s
