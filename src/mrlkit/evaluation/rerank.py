"""Score a reranker on a first stage's top k: nDCG@10 and MRR@10 (trec_eval's definitions), and the weight.

A sample is one query with the first stage's top ``k`` (exact dense search): ids, texts and cosine scores,
and the relevant ids. Positives the first stage missed stay in the ideal ranking, so reranking cannot
score them and every row of a report is comparable (first stage, untrained, trained, mixed).

The weight of the cross-encoder in ``mix_scores`` is picked on a dev set's samples from a 0.1 grid.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from mrlkit.search.metrics import mean_metric
from mrlkit.search.rerank import mix_scores

if TYPE_CHECKING:
    from sentence_transformers import CrossEncoder

    from mrlkit.data.types import IRSet

METRICS = ("ndcg@10", "mrr@10")
WEIGHTS = tuple(round(1.0 - i / 10, 1) for i in range(11))  # 1.0 first: ties keep the reranker's share


def first_stage_samples(
    sets: Sequence[IRSet], model_name: str, k: int, batch_size: int = 64
) -> list[list[dict[str, Any]]]:
    """Exact dense top ``k`` of every query of each set, as samples: one list per set.

    A sample holds ``qid``, ``query``, ``doc_ids``, ``documents``, ``first_scores`` and ``relevant``; a
    corpus shared by several sets is encoded once.
    """
    from sentence_transformers import SentenceTransformer, util

    from mrlkit.models.resolve import resolve_model

    model = SentenceTransformer(resolve_model(model_name))
    encoded: dict[int, tuple[list[str], Any]] = {}
    out = []
    for ir in sets:
        if id(ir.corpus) not in encoded:
            ids = list(ir.corpus)
            texts = [ir.corpus[d] for d in ids]
            encoded[id(ir.corpus)] = (ids, model.encode(texts, batch_size=batch_size, convert_to_tensor=True))
        doc_ids, docs = encoded[id(ir.corpus)]
        qids = [q for q in ir.relevant if q in ir.queries]
        queries = model.encode([ir.queries[q] for q in qids], batch_size=batch_size, convert_to_tensor=True)
        hits = util.semantic_search(queries, docs, top_k=min(k, len(doc_ids)))
        samples = []
        for qid, query_hits in zip(qids, hits, strict=True):
            top = [doc_ids[int(h["corpus_id"])] for h in query_hits]
            samples.append(
                {
                    "qid": qid,
                    "query": ir.queries[qid],
                    "doc_ids": top,
                    "documents": [ir.corpus[d] for d in top],
                    "first_scores": [float(h["score"]) for h in query_hits],
                    "relevant": dict.fromkeys((d for d in ir.relevant[qid] if d in ir.corpus), 1),
                }
            )
        out.append(samples)
    return out


def cross_scores(model: CrossEncoder, samples: list[dict[str, Any]], batch_size: int) -> list[np.ndarray]:
    """The cross-encoder's raw logits of each sample's (query, document) pairs, with a progress bar."""
    import torch

    pairs = [(s["query"], doc) for s in samples for doc in s["documents"]]
    if not pairs:
        return [np.zeros(0) for _ in samples]
    flat = model.predict(
        pairs, batch_size=batch_size, show_progress_bar=True, activation_fn=torch.nn.Identity()
    )
    flat = np.asarray(flat, dtype=np.float64).reshape(-1)
    out, start = [], 0
    for s in samples:
        out.append(flat[start : start + len(s["documents"])])
        start += len(s["documents"])
    return out


def ranking_metrics(samples: list[dict[str, Any]], scores: Sequence[Sequence[float]]) -> dict[str, float]:
    """nDCG@10 and MRR@10 of each sample's documents sorted by ``scores`` (stable for ties)."""
    ranked = {}
    for sample, sample_scores in zip(samples, scores, strict=True):
        order = np.argsort(-np.asarray(sample_scores, dtype=np.float64), kind="stable")
        ranked[sample["qid"]] = [sample["doc_ids"][i] for i in order]
    qrels = {s["qid"]: s["relevant"] for s in samples}
    return {m: round(mean_metric(ranked, qrels, m), 6) for m in METRICS}


def mixed(samples: list[dict[str, Any]], cross: list[np.ndarray], weight: float) -> list[np.ndarray]:
    """Each sample's :func:`mix_scores` of its cross-encoder and first-stage scores."""
    return [mix_scores(c, s["first_scores"], weight) for s, c in zip(samples, cross, strict=True)]


def tune_weight(
    samples: list[dict[str, Any]], cross: list[np.ndarray]
) -> tuple[float, list[dict[str, float]]]:
    """The weight in :data:`WEIGHTS` with the best nDCG@10 on ``samples`` (ties: the larger), and the grid."""
    grid = [{"weight": w, **ranking_metrics(samples, mixed(samples, cross, w))} for w in WEIGHTS]
    best = max(grid, key=lambda row: row["ndcg@10"])  # max keeps the first of equals: the larger weight
    return best["weight"], grid
