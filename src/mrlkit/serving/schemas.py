"""Request and response bodies of the search service (pydantic: wrong types are a 422, never a 500)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Mode = Literal["exact", "funnel", "hnsw", "hybrid", "sparse"]
Retriever = Literal["dense", "sparse", "bm25"]
Fusion = Literal["rrf", "dbsf"]


class SearchRequest(BaseModel):
    """``query`` (one) or ``queries`` (a batch); limits are checked against the server's settings."""

    model_config = ConfigDict(extra="forbid")

    query: str | None = Field(None, description="One query (or use `queries`).")
    queries: list[str] | None = Field(None, description="A batch of queries.")
    k: int = Field(10, ge=1, description="Hits per query.")
    mode: Mode = Field(
        "funnel",
        description="exact, funnel, hnsw, hybrid, or sparse (the index's learned sparse vectors, written "
        "by mrlkit index sparse).",
    )
    rerank: bool = Field(
        False, description="Rerank the first stage's top `rerank_top_n` with the server's cross-encoder."
    )
    rerank_top_n: int | None = Field(
        None, ge=1, description="First-stage hits scored by the reranker (default: 100, at most max_k)."
    )
    fusion: Fusion | None = Field(
        None, description="Hybrid only: rrf or dbsf (default: the index's tuned one)."
    )
    retrievers: list[Retriever] | None = Field(
        None,
        description='Hybrid only: the result lists to fuse, e.g. ["dense", "sparse", "bm25"] '
        "(default: dense and bm25).",
    )
    weights: list[float] | None = Field(
        None, description="Hybrid only: one weight per retriever, in the retrievers' order."
    )


class HitOut(BaseModel):
    """One result."""

    id: str
    score: float
    rank: int
    text: str | None = None


class SearchResponse(BaseModel):
    """Hits per query, in request order."""

    results: list[list[HitOut]]
    mode: str
    took_ms: float


class EmbedRequest(BaseModel):
    """Texts to embed; ``dim`` keeps the leading Matryoshka dims (re-normalised)."""

    model_config = ConfigDict(extra="forbid")

    texts: list[str] = Field(..., description="Texts to embed.")
    dim: int | None = Field(None, ge=1, description="Leading dims to keep (default: all).")
    query: bool = Field(
        False, description="Encode as queries (the model's query prompt) rather than documents."
    )


class EmbedResponse(BaseModel):
    """One unit-length vector per text."""

    embeddings: list[list[float]]
    dim: int


class Health(BaseModel):
    """Liveness: the index is loaded."""

    status: Literal["ok"]
    vectors: int
