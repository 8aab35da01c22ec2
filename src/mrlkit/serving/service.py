"""The FastAPI app: ``POST /search``, ``POST /embed``, ``GET /health``, ``GET /index``, docs at ``/docs``.

The index is opened once per process. Query and text encoding goes through an
:class:`~mrlkit.serving.batching.EncodeBatcher` (concurrent requests share one encoder call; its one
worker thread is the only one that touches the encoder); a lock serialises the rest of the calls into
the index (its lazily loaded parts are not thread-safe), so concurrent requests share it safely. With
``batching`` off, each request encodes under the lock itself.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import numpy as np

from mrlkit.errors import MrlkitError
from mrlkit.serving.batching import EncodeBatcher, ShuttingDown
from mrlkit.serving.config import CONFIG_ENV, ServeConfig
from mrlkit.serving.schemas import (
    EmbedRequest,
    EmbedResponse,
    Health,
    HitOut,
    SearchRequest,
    SearchResponse,
)


class Service:
    """The loaded index (and reranker) plus the request limits."""

    def __init__(self, config: ServeConfig) -> None:
        from mrlkit.search import Index

        self.config = config
        self.index = Index.open(config.index, model=config.model, model_backend=config.model_backend)
        try:
            _ = self.index.encoder  # load (and fingerprint-check) the model now, not on the first request
        except MrlkitError:
            pass  # an index built from vectors: /search and /embed answer 400 with the reason
        self.lock = threading.Lock()
        self._reranker: Any = None
        self.batcher: EncodeBatcher | None = None
        if config.batching:
            self.batcher = EncodeBatcher(self._encode_now, config.batch_max_texts, config.batch_wait_ms)

    def _encode_now(self, texts: list[str], query: bool) -> np.ndarray:
        return self.index.encoder.encode(texts, batch_size=self.index.config.batch_size, query=query)

    def encode(self, texts: list[str], query: bool) -> np.ndarray:
        """Unit-length embeddings of ``texts``, batched with concurrent requests when batching is on."""
        if self.batcher is not None:
            return self.batcher.encode(texts, query)
        with self.lock:
            return self._encode_now(texts, query)

    def close(self) -> None:
        """Stop the batcher's worker thread (requests already taken are answered first)."""
        if self.batcher is not None:
            self.batcher.close()

    def reranker(self) -> Any:  # noqa: ANN401
        """The cross-encoder, loaded on the first rerank request."""
        if self.config.rerank_model is None:
            raise MrlkitError("this server has no reranker; start it with --rerank-model MODEL")
        if self._reranker is None:
            from mrlkit.search.rerank import Reranker

            self._reranker = Reranker(self.config.rerank_model, weight=self.config.rerank_weight)
        return self._reranker

    def check_texts(self, texts: list[str], what: str) -> None:
        """Refuse empty batches, blank or over-long texts, and batches over the limit."""
        cfg = self.config
        if not texts:
            raise _Unprocessable(f"no {what} given")
        if len(texts) > cfg.max_batch:
            raise _Unprocessable(f"{len(texts)} {what} in one request; the limit is {cfg.max_batch}")
        for i, text in enumerate(texts):
            if not text.strip():
                raise _Unprocessable(f"{what}[{i}] is empty")
            if len(text) > cfg.max_text_chars:
                raise _Unprocessable(
                    f"{what}[{i}] has {len(text)} characters; the limit is {cfg.max_text_chars}"
                )

    def search(self, req: SearchRequest) -> SearchResponse:
        """Answer one /search request."""
        if (req.query is None) == (req.queries is None):
            raise _Unprocessable("give exactly one of 'query' and 'queries'")
        queries = [req.query] if req.query is not None else list(req.queries or [])
        self.check_texts(queries, "queries")
        top_n = req.rerank_top_n or min(100, self.config.max_k)
        if req.k > self.config.max_k or top_n > self.config.max_k:
            raise _Unprocessable(f"k and rerank_top_n must be <= {self.config.max_k}")
        start = time.perf_counter()
        first = max(req.k, top_n) if req.rerank else req.k
        if req.retrievers is not None and req.mode != "hybrid":
            raise _Unprocessable(f"retrievers are fused by mode hybrid only, got mode {req.mode}")
        dense = req.mode != "sparse" and (req.retrievers is None or "dense" in req.retrievers)
        vectors = self.encode(queries, query=True) if dense else None
        with self.lock:
            hits = self.index.search(
                queries,
                k=first,
                mode=req.mode,
                fusion=req.fusion,
                weights=req.weights,
                retrievers=req.retrievers,
                vectors=vectors,
            )
            if req.rerank:
                hits = self.reranker().rerank(queries, hits, k=req.k, top_n=top_n)
        results = [
            [HitOut(id=h.id, score=h.score, rank=h.rank, text=h.text) for h in q[: req.k]] for q in hits
        ]
        return SearchResponse(results=results, mode=req.mode, took_ms=(time.perf_counter() - start) * 1000)

    def embed(self, req: EmbedRequest) -> EmbedResponse:
        """Answer one /embed request."""
        self.check_texts(req.texts, "texts")
        full = self.index.manifest.dim
        dim = req.dim or full
        if dim > full:
            raise _Unprocessable(f"dim {dim} is larger than the model's {full}")
        vectors = self.encode(list(req.texts), query=req.query)[:, :dim]
        vectors = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        return EmbedResponse(embeddings=vectors.astype(float).tolist(), dim=dim)


class _Unprocessable(MrlkitError):
    """A request within the schema but over a limit or inconsistent: HTTP 422 with the reason."""


def create_app(config: ServeConfig) -> Any:  # noqa: ANN401 - a FastAPI app (fastapi is optional)
    """Build the service app for ``config`` (opens the index now, so a bad index fails at start-up).

    Raises:
        MissingExtraError: fastapi is not installed.
        DataError: The index cannot be opened.
    """
    from mrlkit.errors import require

    require("fastapi", "serve", "mrlkit serve")
    from fastapi import FastAPI, Request
    from fastapi.responses import JSONResponse

    from mrlkit import __version__
    from mrlkit.serving.middleware import Guard

    service = Service(config)

    @asynccontextmanager
    async def lifespan(_: Any) -> AsyncIterator[None]:  # noqa: ANN401
        yield
        service.close()  # graceful shutdown: uvicorn has let the requests in flight finish

    app = FastAPI(
        title="mrlkit search",
        version=__version__,
        description="Matryoshka search over one index.",
        lifespan=lifespan,
    )
    app.state.service = service

    @app.exception_handler(_Unprocessable)
    async def unprocessable(_: Request, exc: _Unprocessable) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=422)

    @app.exception_handler(ShuttingDown)
    async def shutting_down(_: Request, exc: ShuttingDown) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=503)

    @app.exception_handler(MrlkitError)
    async def bad_request(_: Request, exc: MrlkitError) -> JSONResponse:
        return JSONResponse({"detail": " ".join(str(exc).split())}, status_code=400)

    @app.post("/search", response_model=SearchResponse)
    def search(req: SearchRequest) -> SearchResponse:
        """Search with one query or a batch."""
        return service.search(req)

    @app.post("/embed", response_model=EmbedResponse)
    def embed(req: EmbedRequest) -> EmbedResponse:
        """Embed texts with the index's model (optionally truncated to ``dim`` leading dims)."""
        return service.embed(req)

    @app.get("/health", response_model=Health)
    def health() -> Health:
        """Liveness and the number of searchable vectors."""
        return Health(status="ok", vectors=len(service.index))

    app.get("/healthz", response_model=Health, include_in_schema=False)(health)

    @app.get("/index")
    def index_info() -> dict[str, Any]:
        """The index's manifest, sizes on disk and memory estimate."""
        return service.index.info()

    app.get("/info", include_in_schema=False)(index_info)
    app.add_middleware(Guard, api_key=config.api_key, max_body_bytes=config.max_body_bytes)
    return app


def app_from_env() -> Any:  # noqa: ANN401
    """App factory for uvicorn worker processes: the settings come as JSON in ``$MRLKIT_SERVE_CONFIG``."""
    return create_app(ServeConfig(**json.loads(os.environ[CONFIG_ENV])))
