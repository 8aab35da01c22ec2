"""Rerank the top N hits of any search mode with a sentence-transformers ``CrossEncoder``.

>>> reranker = Reranker("my-reranker")                                    # doctest: +SKIP
>>> reranker.rerank(["do statins lower cholesterol?"], index.search(queries, k=100), k=10)  # doctest: +SKIP
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from mrlkit.errors import ConfigError

if TYPE_CHECKING:
    from sentence_transformers import CrossEncoder

    from mrlkit.search.index import Hit

DEFAULT_TOP_N = 100


class Reranker:
    """A cross-encoder that re-scores (query, text) pairs; hub ids resolve offline like embedding models.

    Args:
        model: Hub id, local folder, or a loaded ``CrossEncoder``.
        batch_size: Pairs scored per forward pass.
        max_length: Truncate each pair to this many tokens (default: the model's).
        device: ``"cpu"``, ``"cuda"``, ... (default: sentence-transformers' choice).
    """

    def __init__(
        self,
        model: str | CrossEncoder,
        batch_size: int = 32,
        max_length: int | None = None,
        device: str | None = None,
    ) -> None:
        if batch_size <= 0:
            raise ConfigError(f"reranker batch_size must be > 0, got {batch_size}")
        if isinstance(model, str):
            from sentence_transformers import CrossEncoder

            from mrlkit.models.resolve import resolve_model

            self.name = model
            self.model = CrossEncoder(resolve_model(model), max_length=max_length, device=device)
        else:
            self.name = type(model).__name__
            self.model = model
        self.batch_size = batch_size
        self._lock = threading.Lock()  # torch modules are not safe to call from several threads at once

    def score(self, query: str, texts: Sequence[str]) -> list[float]:
        """Cross-encoder score of each (query, text) pair, higher is more relevant."""
        if not texts:
            return []
        pairs = [(query, text) for text in texts]
        with self._lock:
            scores = self.model.predict(pairs, batch_size=self.batch_size, show_progress_bar=False)
        return [float(s) for s in scores]

    def rerank(
        self,
        queries: Sequence[str],
        hits: Sequence[Sequence[Hit]],
        k: int | None = None,
        top_n: int = DEFAULT_TOP_N,
    ) -> list[list[Hit]]:
        """Re-score each query's first ``top_n`` hits and return the best ``k`` (default: all of them).

        The returned hits carry the cross-encoder score and their new 1-based rank; hits past ``top_n``
        are dropped (their first-stage scores are not comparable with the cross-encoder's).

        Raises:
            ConfigError: ``top_n`` or ``k`` <= 0, a count mismatch, or a hit without its text (build the
                index with stored texts).
        """
        if top_n <= 0 or (k is not None and k <= 0):
            raise ConfigError(f"rerank top_n and k must be > 0, got top_n={top_n}, k={k}")
        if len(queries) != len(hits):
            raise ConfigError(f"rerank got {len(queries)} queries but {len(hits)} hit lists")
        out = []
        for query, query_hits in zip(queries, hits, strict=True):
            head = list(query_hits)[:top_n]
            missing = [h.id for h in head if h.text is None]
            if missing:
                raise ConfigError(
                    f"cannot rerank hit {missing[0]!r}: the index stores no texts; rebuild it with "
                    "store_texts on (the default)"
                )
            scores = self.score(query, [h.text or "" for h in head])
            order = sorted(range(len(head)), key=lambda i: -scores[i])[: k or len(head)]
            out.append([replace(head[i], score=scores[i], rank=r) for r, i in enumerate(order, 1)])
        return out
