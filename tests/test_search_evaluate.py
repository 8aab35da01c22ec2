"""evaluate_search's metrics against pytrec_eval on a hand-made run."""

from __future__ import annotations

import pytest

from mrlkit.search.evaluate import mrr_at_k, quality


def test_quality_matches_trec_eval():
    pytrec_eval = pytest.importorskip("pytrec_eval")
    qrels = {"q1": {"a": 1, "c": 2}, "q2": {"x": 1}, "q3": {"m": 1, "n": 1, "o": 0}}
    runs = {"q1": ["b", "a", "c", "d"], "q2": ["y", "z"], "q3": ["n", "p", "m"]}
    ours = quality(runs, qrels)
    run = {q: {doc: float(len(docs) - i) for i, doc in enumerate(docs)} for q, docs in runs.items()}
    evaluator = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut.10", "recip_rank", "recall.1,5,10"})
    ref = evaluator.evaluate(run)
    mean = lambda key: sum(r[key] for r in ref.values()) / len(ref)  # noqa: E731
    assert ours["ndcg@10"] == pytest.approx(mean("ndcg_cut_10"))
    assert ours["mrr@10"] == pytest.approx(mean("recip_rank"))
    for k in (1, 5, 10):
        assert ours[f"recall@{k}"] == pytest.approx(mean(f"recall_{k}"))
    assert mrr_at_k(["b", "a"], {"a": 1}, k=1) == 0.0
