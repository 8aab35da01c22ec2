"""Two Qdrant engines behind one small interface: qdrant-client and qdrant-edge.

qdrant-client talks to a server URL or runs its pure-Python local mode; qdrant-edge runs Qdrant's own
engine in-process over a folder (``--qdrant-path``).

Both take the same point tuples and :class:`QuerySpec` and return ``(payload, score)`` lists. Sparse
named vectors: ``bm25`` (term frequencies; Qdrant applies the IDF, ``Modifier.IDF``) and ``sparse`` (a
learned sparse encoder's weights, scored by plain dot product).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mrlkit.errors import ConfigError, require
from mrlkit.search.config import Quantization

Sparse = tuple[list[int], list[float]]
PointTuple = tuple[
    int, list[float], list[float], dict[str, Sparse], dict[str, Any]
]  # id, short, full, sparse vectors by name (bm25, sparse), payload
IDF_VECTORS = ("bm25",)  # sparse named vectors whose weights Qdrant multiplies by the IDF


@dataclass
class QuerySpec:
    """One query: ``kind`` exact | funnel | sparse | hybrid, its vectors, limits and (hybrid) fusion.

    ``sparse`` holds the query's sparse vectors by name; ``arms`` the hybrid's retrievers in fusion
    (``weights``) order: ``dense`` (the funnel) and sparse vector names.
    """

    kind: str
    full: list[float]
    short: list[float]
    k: int
    k_prime: int
    candidates: int = 100
    sparse: dict[str, Sparse] = field(default_factory=dict)
    arms: list[str] = field(default_factory=lambda: ["dense", "bm25"])
    fusion: str = "rrf"
    rrf_k: int = 60
    weights: list[float] | None = None


class ClientEngine:
    """qdrant-client: ``url`` (+ ``api_key``) for a server, ``path`` for its local mode."""

    def __init__(self, collection: str, path: str | None, url: str | None, api_key: str | None) -> None:
        require("qdrant_client", "qdrant", "the Qdrant backend")
        from qdrant_client import QdrantClient, models

        self.m = models
        self.collection = collection
        self.client = QdrantClient(path=path) if path is not None else QdrantClient(url=url, api_key=api_key)

    def create(
        self, dim: int, short_dim: int, quantization: Quantization, sparse: Sequence[str], overwrite: bool
    ) -> None:
        """Create the collection with the ``sparse`` named vectors (dropping one only with ``overwrite``)."""
        m = self.m
        if self.client.collection_exists(self.collection):
            if not overwrite:
                raise ConfigError(
                    f"Qdrant collection {self.collection!r} exists; pass --overwrite to replace it"
                )
            self.client.delete_collection(self.collection)
        quant: Any = None
        if quantization is Quantization.BINARY:
            quant = m.BinaryQuantization(binary=m.BinaryQuantizationConfig(always_ram=True))
        elif quantization is Quantization.INT8:
            quant = m.ScalarQuantization(
                scalar=m.ScalarQuantizationConfig(type=m.ScalarType.INT8, always_ram=True)
            )
        self.client.create_collection(
            self.collection,
            vectors_config={
                "short": m.VectorParams(
                    size=short_dim, distance=m.Distance.COSINE, quantization_config=quant
                ),
                "full": m.VectorParams(size=dim, distance=m.Distance.COSINE, on_disk=True),
            },
            sparse_vectors_config={
                name: m.SparseVectorParams(modifier=m.Modifier.IDF if name in IDF_VECTORS else None)
                for name in sparse
            }
            or None,
        )

    def upsert(self, points: list[PointTuple]) -> None:
        """Write points (id, short, full, sparse vectors, payload)."""
        m = self.m
        structs = []
        for pid, short, full, sparse, payload in points:
            vector: dict[str, Any] = {"short": short, "full": full}
            for name, (indices, values) in sparse.items():
                vector[name] = m.SparseVector(indices=indices, values=values)
            structs.append(m.PointStruct(id=pid, vector=vector, payload=payload))
        self.client.upsert(self.collection, points=structs, wait=True)

    def query(self, specs: list[QuerySpec]) -> list[list[tuple[dict[str, Any], float]]]:
        """Answer a batch of queries."""
        answers = self.client.query_batch_points(self.collection, requests=[self._request(s) for s in specs])
        return [[(p.payload or {}, float(p.score)) for p in a.points] for a in answers]

    def _request(self, s: QuerySpec) -> Any:  # noqa: ANN401
        m = self.m
        if s.kind == "exact":
            return m.QueryRequest(
                query=s.full, using="full", limit=s.k, params=m.SearchParams(exact=True), with_payload=True
            )
        if s.kind == "sparse":
            return m.QueryRequest(
                query=self._sparse(s, "sparse"), using="sparse", limit=s.k, with_payload=True
            )
        stage = m.Prefetch(query=s.short, using="short", limit=s.k_prime)
        if s.kind == "funnel":
            return m.QueryRequest(prefetch=[stage], query=s.full, using="full", limit=s.k, with_payload=True)
        stage.limit = max(s.k_prime, s.candidates)
        arms = [
            m.Prefetch(prefetch=[stage], query=s.full, using="full", limit=s.candidates)
            if arm == "dense"
            else m.Prefetch(query=self._sparse(s, arm), using=arm, limit=s.candidates)
            for arm in s.arms
        ]
        if s.fusion == "rrf":
            fusion: Any = m.RrfQuery(rrf=m.Rrf(k=s.rrf_k, weights=s.weights))
        else:
            fusion = m.FusionQuery(fusion=m.Fusion.DBSF)
        return m.QueryRequest(prefetch=arms, query=fusion, limit=s.k, with_payload=True)

    def _sparse(self, s: QuerySpec, name: str) -> Any:  # noqa: ANN401
        indices, values = s.sparse[name]
        return self.m.SparseVector(indices=indices, values=values)

    def close(self) -> None:
        """Release the client (and the local-mode folder lock)."""
        self.client.close()


class EdgeEngine:
    """qdrant-edge: Qdrant's engine in-process over a shard folder (one collection per folder)."""

    def __init__(self, path: str) -> None:
        require("qdrant_edge", "qdrant", "the embedded Qdrant engine (qdrant-edge-py)")
        import qdrant_edge as qe

        self.qe = qe
        self.path = Path(path)
        self.shard: Any = qe.EdgeShard.load(str(self.path)) if (self.path / "edge.json").is_file() else None

    def create(
        self, dim: int, short_dim: int, quantization: Quantization, sparse: Sequence[str], overwrite: bool
    ) -> None:
        """Create the shard folder with the ``sparse`` named vectors (replace one only with ``overwrite``)."""
        import shutil

        qe = self.qe
        if self.path.exists() and any(self.path.iterdir()):
            if not overwrite:
                raise ConfigError(f"Qdrant folder {self.path} is not empty; pass --overwrite to replace it")
            if self.shard is not None:
                self.shard.close()
            shutil.rmtree(self.path)
        quant: Any = None
        if quantization is Quantization.BINARY:
            quant = qe.BinaryQuantizationConfig(always_ram=True)
        elif quantization is Quantization.INT8:
            quant = qe.ScalarQuantizationConfig(type=qe.ScalarType.Int8, always_ram=True)
        config = qe.EdgeConfig(
            vectors={
                "short": qe.EdgeVectorParams(
                    size=short_dim, distance=qe.Distance.Cosine, quantization_config=quant
                ),
                "full": qe.EdgeVectorParams(size=dim, distance=qe.Distance.Cosine),
            },
            sparse_vectors={
                name: qe.EdgeSparseVectorParams(modifier=qe.Modifier.Idf if name in IDF_VECTORS else None)
                for name in sparse
            }
            or None,
        )
        self.path.mkdir(parents=True, exist_ok=True)
        self.shard = qe.EdgeShard.create(str(self.path), config)
        (self.path / "edge.json").write_text('{"engine": "qdrant-edge"}\n', encoding="utf-8")

    def upsert(self, points: list[PointTuple]) -> None:
        """Write points (id, short, full, sparse vectors, payload)."""
        qe = self.qe
        out = []
        for pid, short, full, sparse, payload in points:
            vector: dict[str, Any] = {"short": short, "full": full}
            for name, (indices, values) in sparse.items():
                vector[name] = qe.SparseVector(indices, values)
            out.append(qe.Point(pid, vector, payload))
        self.shard.update(qe.UpdateOperation.upsert_points(out))

    def query(self, specs: list[QuerySpec]) -> list[list[tuple[dict[str, Any], float]]]:
        """Answer a batch of queries."""
        if self.shard is None:
            raise ConfigError(f"no Qdrant shard in {self.path}; write one with --backend qdrant")
        answers = self.shard.query_batch(self.qe.QueryBatchRequest([self._request(s) for s in specs]))
        return [[(p.payload or {}, float(p.score)) for p in a] for a in answers]

    def _request(self, s: QuerySpec) -> Any:  # noqa: ANN401
        qe = self.qe
        if s.kind == "exact":
            return qe.QueryRequest(
                limit=s.k,
                query=qe.Query.Nearest(s.full, using="full"),
                params=qe.SearchParams(exact=True),
                with_payload=True,
            )
        if s.kind == "sparse":
            return qe.QueryRequest(limit=s.k, query=self._sparse(s, "sparse"), with_payload=True)
        stage = qe.Prefetch(limit=s.k_prime, query=qe.Query.Nearest(s.short, using="short"))
        if s.kind == "funnel":
            return qe.QueryRequest(
                limit=s.k, prefetches=[stage], query=qe.Query.Nearest(s.full, using="full"), with_payload=True
            )
        stage = qe.Prefetch(
            limit=max(s.k_prime, s.candidates), query=qe.Query.Nearest(s.short, using="short")
        )
        arms = [
            qe.Prefetch(limit=s.candidates, prefetches=[stage], query=qe.Query.Nearest(s.full, using="full"))
            if arm == "dense"
            else qe.Prefetch(limit=s.candidates, query=self._sparse(s, arm))
            for arm in s.arms
        ]
        fusion = qe.Fusion.Rrf(k=s.rrf_k, weights=s.weights) if s.fusion == "rrf" else qe.Fusion.Dbsf()
        return qe.QueryRequest(limit=s.k, prefetches=arms, query=fusion, with_payload=True)

    def _sparse(self, s: QuerySpec, name: str) -> Any:  # noqa: ANN401
        indices, values = s.sparse[name]
        return self.qe.Query.Nearest(self.qe.SparseVector(indices, values), using=name)

    def close(self) -> None:
        """Flush and close the shard."""
        if self.shard is not None:
            self.shard.flush()
            self.shard.close()
            self.shard = None
