"""nDCG@k, recall@k and MRR@k of ranked id lists against graded qrels (trec_eval's definitions)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence


def ndcg_at_k(ranked: Sequence[str], relevance: Mapping[str, int], k: int = 10) -> float:
    """nDCG@k with gain = relevance grade and a log2(rank + 1) discount, as trec_eval's ``ndcg_cut``.

    Grades <= 0 count as not relevant; a query without relevant documents scores 0.
    """
    dcg = sum(
        relevance.get(doc, 0) / math.log2(rank + 1)
        for rank, doc in enumerate(ranked[:k], start=1)
        if relevance.get(doc, 0) > 0
    )
    ideal = sorted((g for g in relevance.values() if g > 0), reverse=True)[:k]
    idcg = sum(g / math.log2(rank + 1) for rank, g in enumerate(ideal, start=1))
    return dcg / idcg if idcg > 0 else 0.0


def recall_at_k(ranked: Sequence[str], relevance: Mapping[str, int], k: int = 100) -> float:
    """Share of the relevant documents (grade > 0) found in the top ``k``."""
    relevant = {doc for doc, grade in relevance.items() if grade > 0}
    if not relevant:
        return 0.0
    return len(relevant.intersection(ranked[:k])) / len(relevant)


def mrr_at_k(ranked: Sequence[str], relevance: Mapping[str, int], k: int = 10) -> float:
    """1 / rank of the first relevant document (grade > 0) in the top ``k``, 0 if there is none."""
    for rank, doc in enumerate(ranked[:k], start=1):
        if relevance.get(doc, 0) > 0:
            return 1.0 / rank
    return 0.0


def mean_metric(
    runs: Mapping[str, Sequence[str]], qrels: Mapping[str, Mapping[str, int]], metric: str = "ndcg@10"
) -> float:
    """Mean of ``ndcg@K``, ``recall@K`` or ``mrr@K`` over the queries of ``qrels`` (no run: 0)."""
    name, _, cut = metric.partition("@")
    fn = {"ndcg": ndcg_at_k, "recall": recall_at_k, "mrr": mrr_at_k}[name]
    k = int(cut)
    if not qrels:
        return 0.0
    return sum(fn(runs.get(q, []), rel, k) for q, rel in qrels.items()) / len(qrels)
