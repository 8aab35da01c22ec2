"""Rerank the top N hits of any search mode with a sentence-transformers ``CrossEncoder``.

The reranked score is ``weight * z(cross-encoder score) + (1 - weight) * z(first-stage score)``, each
z-scored over the query's top N: weight 1 ranks by the cross-encoder alone; a smaller weight keeps some
of the first stage, which helps when the reranker was trained on little data. ``mrlkit train-reranker``
tunes the weight on its dev split and stores it next to the model (``mrlkit_reranker.json``), where a
:class:`Reranker` finds it.

>>> reranker = Reranker("my-reranker")                                    # doctest: +SKIP
>>> reranker.rerank(["do statins lower cholesterol?"], index.search(queries, k=100), k=10)  # doctest: +SKIP
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from mrlkit.errors import ConfigError

if TYPE_CHECKING:
    from sentence_transformers import CrossEncoder

    from mrlkit.search.index import Hit

DEFAULT_TOP_N = 100
SETTINGS_FILE = "mrlkit_reranker.json"  # written into the model folder by ``mrlkit train-reranker``


def mix_scores(cross: Sequence[float], first: Sequence[float], weight: float) -> np.ndarray:
    """``weight * z(cross) + (1 - weight) * z(first)``, z-scored over the given hits (one query's).

    Weight 1 returns the cross-encoder scores unchanged, so pure reranking keeps its raw scores.
    """
    cross_arr = np.asarray(cross, dtype=np.float64)
    if weight >= 1.0:
        return cross_arr
    first_arr = np.asarray(first, dtype=np.float64)

    def z(x: np.ndarray) -> np.ndarray:
        return (x - x.mean()) / x.std() if x.size and x.std() > 0 else np.zeros_like(x)

    return weight * z(cross_arr) + (1.0 - weight) * z(first_arr)


def check_weight(weight: float) -> float:
    """``weight`` if it lies in [0, 1], else a ConfigError naming the value."""
    if not 0.0 <= weight <= 1.0:
        raise ConfigError(f"rerank weight must be in [0, 1] (1: the reranker alone), got {weight!r}")
    return float(weight)


def stored_weight(model: str) -> float | None:
    """The weight ``mrlkit train-reranker`` tuned for the model folder ``model``, if it stored one."""
    path = Path(model) / SETTINGS_FILE
    if not path.is_file():
        return None
    try:
        weight = json.loads(path.read_text(encoding="utf-8"))["weight"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"{path}: unreadable reranker settings ({exc}); delete it or retrain") from exc
    return check_weight(weight)


class Reranker:
    """A cross-encoder that re-scores (query, text) pairs; hub ids resolve offline like embedding models.

    Args:
        model: Hub id, local folder, or a loaded ``CrossEncoder``.
        batch_size: Pairs scored per forward pass.
        max_length: Truncate each pair to this many tokens (default: the model's).
        device: ``"cpu"``, ``"cuda"``, ... (default: sentence-transformers' choice).
        weight: Share of the cross-encoder in the reranked score, in [0, 1] (default: the weight
            ``mrlkit train-reranker`` stored with the model, else 1: the cross-encoder alone).
    """

    def __init__(
        self,
        model: str | CrossEncoder,
        batch_size: int = 32,
        max_length: int | None = None,
        device: str | None = None,
        weight: float | None = None,
    ) -> None:
        if batch_size <= 0:
            raise ConfigError(f"reranker batch_size must be > 0, got {batch_size}")
        if weight is not None:
            check_weight(weight)
        if isinstance(model, str):
            from sentence_transformers import CrossEncoder

            from mrlkit.models.resolve import resolve_model

            self.name = model
            local = resolve_model(model)
            self.model = CrossEncoder(local, max_length=max_length, device=device)
            if weight is None:
                weight = stored_weight(local)
        else:
            self.name = type(model).__name__
            self.model = model
        self.weight = 1.0 if weight is None else check_weight(weight)
        self.batch_size = batch_size
        self._lock = threading.Lock()  # torch modules are not safe to call from several threads at once

    def score(self, query: str, texts: Sequence[str], raw: bool = False) -> list[float]:
        """Cross-encoder score of each (query, text) pair, higher is more relevant.

        ``raw`` returns the logits, before the model's activation (a sigmoid for a 1-label head), which
        is what :func:`mix_scores` mixes: the sigmoid squashes the differences among the top hits.
        """
        if not texts:
            return []
        pairs = [(query, text) for text in texts]
        extra = {}
        if raw:
            import torch

            extra["activation_fn"] = torch.nn.Identity()
        with self._lock:
            scores = self.model.predict(pairs, batch_size=self.batch_size, show_progress_bar=False, **extra)
        return [float(s) for s in scores]

    def rerank(
        self,
        queries: Sequence[str],
        hits: Sequence[Sequence[Hit]],
        k: int | None = None,
        top_n: int = DEFAULT_TOP_N,
    ) -> list[list[Hit]]:
        """Re-score each query's first ``top_n`` hits and return the best ``k`` (default: all of them).

        The returned hits carry the reranked score (see :func:`mix_scores`; with weight 1, the
        cross-encoder's) and their new 1-based rank; hits past ``top_n`` are dropped (their first-stage
        scores are not comparable with the reranked ones).

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
            cross = self.score(query, [h.text or "" for h in head], raw=self.weight < 1.0)
            scores = [float(x) for x in mix_scores(cross, [h.score for h in head], self.weight)]
            order = sorted(range(len(head)), key=lambda i: -scores[i])[: k or len(head)]
            out.append([replace(head[i], score=scores[i], rank=r) for r, i in enumerate(order, 1)])
        return out
