"""benchmarks/hybrid_quality.py on the 20-document fixture with the tiny model and a tiny cross-encoder:
the result keys, and dense and reranked nDCG@10 against trec_eval on lists computed here."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

pytrec_eval = pytest.importorskip("pytrec_eval")

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
FIXTURE = Path(__file__).parent / "fixtures" / "search"
sys.path.insert(0, str(BENCH))


@pytest.fixture
def beir(tmp_path):
    """The fixture as a BEIR folder named scifact, its test qrels doubling as train qrels (the dev split)."""
    folder = tmp_path / "scifact"
    shutil.copytree(FIXTURE, folder)
    shutil.copy(folder / "qrels" / "test.tsv", folder / "qrels" / "train.tsv")
    return folder


def _trec_ndcg10(run: dict[str, list[str]], qrels: dict[str, dict[str, int]]) -> float:
    runs = {q: {doc: float(len(ids) - i) for i, doc in enumerate(ids)} for q, ids in run.items()}
    per_query = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut.10"}).evaluate(runs)
    return float(np.mean([m["ndcg_cut_10"] for m in per_query.values()]))


def test_hybrid_quality_quick(tmp_path, beir, tiny_model_path, monkeypatch):
    import _common
    import hybrid_quality
    from sentence_transformers import CrossEncoder, SentenceTransformer

    from mrlkit.data.beir import read_corpus, read_queries
    from mrlkit.search import Index

    monkeypatch.setattr(_common, "RESULTS", tmp_path / "results")
    monkeypatch.setattr(sys, "argv", ["benchmarks/hybrid_quality.py"])
    cross = CrossEncoder(tiny_model_path, num_labels=1, max_length=64)
    cross.save_pretrained(str(tmp_path / "ce" / "model"))
    top_n = 5
    payload = hybrid_quality.main(
        [
            "--data", str(beir), "--model", f"tiny={tiny_model_path}", "--index-root", str(tmp_path / "idx"),
            "--reranker", str(tmp_path / "ce" / "model"), "--rerank-top-n", str(top_n), "--name", "t",
        ]
    )  # fmt: skip
    saved = json.loads((tmp_path / "results" / "t.json").read_text())
    assert saved["scifact"] == payload["scifact"] == saved["by_model"]["tiny"]["scifact"]
    for system in ("bm25", "dense", "hybrid", "hybrid+rerank", "dense_funnel+rerank", "hybrid_rrf"):
        assert set(saved["scifact"][system]) == {"ndcg@10", "recall@100"}, system
    tuned = saved["fusion_tuned_on"]["tiny"]
    assert tuned["queries"] == 2 and "dev split" in tuned["qrels"]  # 2 of the 5 train queries
    assert saved["reranker"]["top_n"] == top_n and saved["reranker"]["pairs_scored"] > 0
    info = saved["runs"]["tiny"]["scifact"]
    assert (
        info["k_prime_tuned"]["k"] == 19 and info["k_prime_tuned"]["recall"] >= 0.99
    )  # --tune-k 100, 20 docs

    # reference: exact dense search in numpy, then the cross-encoder's order of its top_n, by trec_eval
    corpus, queries = read_corpus(beir / "corpus.jsonl"), read_queries(beir / "queries.jsonl")
    qrels = {q: {d: 1} for q, d, _ in (line.split("\t") for line in _lines(beir / "qrels" / "test.tsv"))}
    model = SentenceTransformer(tiny_model_path, device="cpu")
    idx = Index.open(tmp_path / "idx" / "scifact-tiny")  # its stored (fp16) vectors: no rounding ties
    ids = [idx.ids[r] for r in range(len(idx))]
    docs = idx.full.gather(np.arange(len(idx))).astype(np.float32)
    assert np.allclose(docs, model.encode([corpus[d] for d in ids], normalize_embeddings=True), atol=2e-3)
    qids = list(qrels)
    qv = model.encode([queries[q] for q in qids], normalize_embeddings=True)
    dense = {
        q: [ids[i] for i in np.argsort(-(docs @ v), kind="stable")] for q, v in zip(qids, qv, strict=True)
    }
    assert saved["scifact"]["dense"]["ndcg@10"] == pytest.approx(_trec_ndcg10(dense, qrels), abs=1e-4)
    reranked = {}
    for q, ranked in dense.items():
        head = ranked[:top_n]
        order = np.argsort(-cross.predict([(queries[q], corpus[d]) for d in head]), kind="stable")
        reranked[q] = [head[i] for i in order] + ranked[top_n:]
    assert saved["scifact"]["dense+rerank"]["ndcg@10"] == pytest.approx(
        _trec_ndcg10(reranked, qrels), abs=1e-4
    )


def _lines(path: Path) -> list[str]:
    return [line for line in path.read_text(encoding="utf-8").splitlines()[1:] if line.strip()]


def test_hybrid_quality_rerank_weight_zero_keeps_each_first_stage(
    tmp_path, beir, tiny_model_path, monkeypatch
):
    """Weight 0: the reranked lists are the systems' own, so every +rerank score equals its system's."""
    import _common
    import hybrid_quality
    from sentence_transformers import CrossEncoder

    monkeypatch.setattr(_common, "RESULTS", tmp_path / "results")
    CrossEncoder(tiny_model_path, num_labels=1, max_length=64).save_pretrained(str(tmp_path / "ce"))
    payload = hybrid_quality.main(
        [
            "--data", str(beir), "--model", f"tiny={tiny_model_path}", "--index-root", str(tmp_path / "idx"),
            "--reranker", str(tmp_path / "ce"), "--rerank-top-n", "5", "--rerank-weight", "0", "--name", "t",
        ]
    )  # fmt: skip
    assert payload["reranker"]["weight"] == 0.0 and payload["reranker"]["weight_from"] == "--rerank-weight"
    for system in ("bm25", "dense_exact", "dense_funnel", "hybrid_rrf", "hybrid_weighted"):
        assert payload["scifact"][f"{system}+rerank"] == payload["scifact"][system], system
