"""Hybrid search (dense + BM25 fused), fusion tuning on dev qrels, and nDCG against pytrec_eval."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mrlkit.errors import ConfigError
from mrlkit.search import Index, IndexConfig
from mrlkit.search.bm25 import BM25Config, build_bm25
from mrlkit.search.fusion import rrf
from mrlkit.search.hybrid import FusionSettings, retrieve_runs
from mrlkit.search.metrics import ndcg_at_k, recall_at_k
from mrlkit.search.tune_fusion import read_dev_set, tune_fusion

FIXTURE = Path(__file__).parent / "fixtures" / "search"


@pytest.fixture(scope="module")
def hybrid_index(tmp_path_factory, tiny_model_path):
    path = tmp_path_factory.mktemp("hybrid") / "idx"
    cfg = IndexConfig(shortlist_dim=32, quantization="float", full_dtype="fp32")
    idx = Index.build(path, FIXTURE, model=tiny_model_path, config=cfg)
    build_bm25(idx, BM25Config(language="en"))
    return idx


def test_hybrid_is_rrf_of_dense_and_bm25(hybrid_index):
    query = "why does the sea level go up and down every day"
    hits = hybrid_index.search([query], k=5, mode="hybrid")[0]
    [[dense, lexical]] = retrieve_runs(hybrid_index, [query], FusionSettings())
    expected = list(rrf([dense, lexical], k=60).items())[:5]
    assert [h.id for h in hits] == [hybrid_index.ids[row] for row, _ in expected]
    assert [h.score for h in hits] == pytest.approx([s for _, s in expected])
    assert [h.rank for h in hits] == [1, 2, 3, 4, 5]
    assert all(h.text for h in hits)


def test_dense_arm_keeps_the_index_k_prime(hybrid_index, monkeypatch):
    # the dense arm must not force k' down to the candidate count: the index resolves its own k'
    calls = []
    original = hybrid_index.search_vectors

    def spy(vectors, **kwargs):
        calls.append(kwargs)
        return original(vectors, **kwargs)

    monkeypatch.setattr(hybrid_index, "search_vectors", spy)
    retrieve_runs(hybrid_index, ["tides"], FusionSettings(candidates=3, dense_mode="funnel"))
    funnel = FusionSettings(dense_mode="funnel").dense_mode
    assert calls == [{"k": 3, "mode": funnel, "k_prime": None, "ef": None}]
    assert hybrid_index.resolve_k_prime(3) > 3  # so the funnel rescored more than the 3 candidates


def test_weights_select_one_retriever(hybrid_index):
    query = "how do bees tell each other where flowers are"
    bm25_only = hybrid_index.search([query], k=3, mode="hybrid", fusion="dbsf", weights=[0, 1])[0]
    dense_only = hybrid_index.search([query], k=3, mode="hybrid", fusion="rrf", weights=[1, 0])[0]
    exact = hybrid_index.search([query], k=3, mode="funnel")[0]
    assert [h.id for h in dense_only] == [h.id for h in exact]
    assert bm25_only[0].id == "d07"  # the document sharing "bees" and "flowers"


def test_hybrid_errors(tmp_path, hybrid_index, tiny_model_path):
    with pytest.raises(ConfigError, match="fusion must be one of rrf, dbsf"):
        hybrid_index.search(["x"], mode="hybrid", fusion="sum")
    with pytest.raises(ConfigError, match="2 result list"):
        hybrid_index.search(["x"], mode="hybrid", weights=[1, 1, 1])
    with pytest.raises(ConfigError, match="use search"):
        hybrid_index.search_vectors([[0.0] * 64], mode="hybrid")
    plain = Index.build(
        tmp_path / "plain", FIXTURE, model=tiny_model_path, config=IndexConfig(shortlist_dim=32)
    )
    with pytest.raises(ConfigError, match="no BM25 part"):
        plain.search(["x"], mode="hybrid")


def test_tune_fusion_stores_the_best_setting(tmp_path, tiny_model_path):
    path = tmp_path / "idx"
    cfg = IndexConfig(shortlist_dim=32, quantization="float")
    idx = Index.build(path, FIXTURE, model=tiny_model_path, config=cfg)
    build_bm25(idx)
    queries, qrels = read_dev_set(idx, FIXTURE / "queries.jsonl", FIXTURE / "qrels" / "test.tsv")
    result = tune_fusion(idx, queries, qrels, metric="ndcg@10")
    scores = [row["ndcg@10"] for row in result["grid"]]
    assert len(scores) == 22 and result["score"] == pytest.approx(max(scores), abs=1e-6)
    assert result["score"] >= result["baseline"]
    stored = Index.open(path).manifest.components["fusion"]
    assert stored["settings"] == result["settings"]
    reopened = Index.open(path)
    assert FusionSettings.for_index(reopened).weights == result["settings"]["weights"]
    with pytest.raises(ConfigError, match="metric must look like"):
        tune_fusion(idx, queries, qrels, metric="map")


def test_metrics_match_trec_eval():
    pytrec_eval = pytest.importorskip("pytrec_eval")
    qrels = {"q1": {"a": 2, "b": 1, "c": 0, "z": 1}, "q2": {"x": 1}}
    run = {"q1": ["c", "b", "d", "a"], "q2": ["y", "w"]}
    scored = {q: {d: float(len(ids) - i) for i, d in enumerate(ids)} for q, ids in run.items()}
    ev = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut.10", "recall.100"}).evaluate(scored)
    for q in qrels:
        assert ndcg_at_k(run[q], qrels[q], 10) == pytest.approx(ev[q]["ndcg_cut_10"])
        assert recall_at_k(run[q], qrels[q], 100) == pytest.approx(ev[q]["recall_100"])


def test_fixture_qrels_parse(hybrid_index):
    queries, qrels = read_dev_set(hybrid_index, FIXTURE / "queries.jsonl", FIXTURE / "qrels" / "test.tsv")
    assert set(queries) == set(qrels) and json.dumps(qrels)


def test_cli_bm25_hybrid_search_and_tune(tmp_path, tiny_model_path):
    from typer.testing import CliRunner

    from mrlkit.cli.app import app

    runner = CliRunner()
    idx = tmp_path / "idx"
    args = ["index", "build", str(FIXTURE), str(idx), "--model", tiny_model_path, "--shortlist-dim", "32"]
    result = runner.invoke(app, [*args, "--bm25"])
    assert result.exit_code == 0, result.output
    assert "bm25" in json.loads((idx / "manifest.json").read_text())["components"]
    query = "what causes a volcano to erupt"
    result = runner.invoke(app, ["search", str(idx), query, "--mode", "hybrid", "--json", "-k", "3"])
    assert result.exit_code == 0, result.output
    hits = [json.loads(line) for line in result.output.splitlines()]
    assert [h["rank"] for h in hits] == [1, 2, 3]
    result = runner.invoke(app, ["search", str(idx), query, "--mode", "hybrid", "--weights", "1,2,3"])
    assert result.exit_code == 2 and "2 result list" in result.output
    queries, qrels = str(FIXTURE / "queries.jsonl"), str(FIXTURE / "qrels" / "test.tsv")
    result = runner.invoke(app, ["tune-fusion", str(idx), "--queries", queries, "--qrels", qrels])
    assert result.exit_code == 0, result.output
    assert "stored in" in result.output
    result = runner.invoke(app, ["index", "bm25", str(idx), "--language", "xx"])
    assert result.exit_code == 2 and "language must be one of" in result.output
