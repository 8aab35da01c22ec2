"""benchmarks/sparse_scifact.py's pure helpers: bytes per vector, equal-storage truncation, top-k, caps,
RRF, targets, the table and the plot (hand-computed references; no model is loaded)."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from _sparse_bench import (  # noqa: E402
    COLUMNS,
    dense_bytes,
    dense_top_k,
    equal_bytes_dim,
    fuse_rrf,
    keep_top_k,
    mean_active,
    plot,
    reuse_state,
    scores_of,
    sparse_bytes,
    subset_beir,
    summary_rows,
    targets,
    truncate_normalise,
)

SCIFACT = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "scifact"


def test_bytes_per_vector_arithmetic():
    assert dense_bytes(384) == 1536 and dense_bytes(64) == 256
    assert sparse_bytes(32) == 256 and sparse_bytes(181.5) == 1452.0
    assert dense_bytes(equal_bytes_dim(sparse_bytes(32), 384)) == sparse_bytes(32)  # CSR k = 32 <-> 64 dims


@pytest.mark.parametrize(
    ("nbytes", "full", "dim"),
    [
        (256, 384, 64),  # CSR k = 32
        (64, 384, 16),  # CSR k = 8
        (1448, 384, 362),  # SPLADE, 181 active dims
        (1450, 384, 362),  # floor: 362.5 dims do not fit
        (4000, 384, 384),  # more bytes than the full vector: the full vector
        (3, 384, 1),  # less than one dim: one dim, never zero
    ],
)
def test_equal_bytes_truncation_choice(nbytes, full, dim):
    assert equal_bytes_dim(nbytes, full) == dim
    assert dense_bytes(dim) <= max(nbytes, dense_bytes(1))


def test_equal_bytes_refuses_nonsense():
    with pytest.raises(ValueError, match="must be > 0"):
        equal_bytes_dim(0, 384)


def test_keep_top_k_keeps_the_largest_magnitudes():
    m = sp.csr_matrix(np.array([[0.1, 0.5, 0.0, 0.3, 0.9], [0.2, 0.0, 0.0, 0.0, 0.0]], dtype=np.float32))
    top = keep_top_k(m, 2).toarray()
    np.testing.assert_allclose(top, [[0.0, 0.5, 0.0, 0.0, 0.9], [0.2, 0.0, 0.0, 0.0, 0.0]])
    assert mean_active(keep_top_k(m, 2)) == 1.5 and mean_active(m) == 2.5
    assert m.nnz == 5  # the input is not changed


def test_truncated_dense_search_is_exact_cosine():
    rng = np.random.default_rng(0)
    docs, queries = rng.normal(size=(50, 8)), rng.normal(size=(3, 8))
    d, q = truncate_normalise(docs, 4), truncate_normalise(queries, 4)
    assert np.linalg.norm(d, axis=1) == pytest.approx(1.0)
    rows, scores = dense_top_k(d, q, 5)
    cos = (queries[:, :4] @ docs[:, :4].T) / np.outer(
        np.linalg.norm(queries[:, :4], axis=1), np.linalg.norm(docs[:, :4], axis=1)
    )
    assert rows.tolist() == np.argsort(-cos, axis=1)[:, :5].tolist()
    assert scores == pytest.approx(np.sort(cos, axis=1)[:, ::-1][:, :5], abs=1e-5)


def test_rrf_and_scores_by_hand():
    dense = {"q": {"a": 0.9, "b": 0.8, "c": 0.1}}
    sparse = {"q": {"b": 5.0, "c": 4.0}}
    fused = fuse_rrf([dense, sparse], k=60)["q"]
    assert list(fused) == ["b", "c", "a"]  # c: ranks 3 and 2 beat a: rank 1 in one list only
    assert fused["b"] == pytest.approx(1 / 62 + 1 / 61) and fused["c"] == pytest.approx(1 / 63 + 1 / 62)
    assert fused["a"] == pytest.approx(1 / 61)
    got = scores_of({"q": fused}, {"q": {"a": 1}})
    assert got["mrr@10"] == round(1 / 3, 4) and got["recall@100"] == 1.0
    assert got["ndcg@10"] == pytest.approx(round(1 / math.log2(4), 4))


def _results(tuned=0.60, base=0.52, hybrid=0.66):
    sparse = {"ndcg@10": base, "mrr@10": 0.5, "recall@100": 0.8, "active_dims_query": 20.0,
              "active_dims_doc": 100.0, "bytes_per_vector": 800.0, "docs_per_second": 50.0,
              "query_encode_ms": 2.0, "search_qps": 900.0,
              "equal_bytes_dense": {"dim": 200, "bytes_per_vector": 800, "ndcg@10": 0.61}}  # fmt: skip
    return {
        "splade": {"base": sparse, "tuned": {**sparse, "ndcg@10": tuned}},
        "inference_free": {"tuned": {**sparse, "ndcg@10": 0.55}},
        "csr": {f"k{k}": {**sparse, "ndcg@10": 0.5, "bytes_per_vector": 8.0 * k} for k in (8, 32)},
        "bm25": {"ndcg@10": 0.63, "mrr@10": 0.6, "recall@100": 0.9, "search_qps": 400.0},
        "dense": {
            "ndcg@10": 0.64,
            "mrr@10": 0.6,
            "recall@100": 0.9,
            "dim": 384,
            "bytes_per_vector": 1536,
            "docs_per_second": 40.0,
            "query_encode_ms": 5.0,
            "search_qps": 800.0,
            "truncated": {"64": {"ndcg@10": 0.55, "bytes_per_vector": 256}},
        },  # fmt: skip
        "hybrid": {"dense+splade_tuned": {"ndcg@10": hybrid, "mrr@10": 0.6, "recall@100": 0.9}},
        "hybrid_dense_sparse": {"ndcg@10": hybrid},
    }


def test_targets():
    met = targets(_results())
    assert met["splade_tuned_minus_base_ndcg_points"] == 8.0 and met["splade_target_met"]
    assert met["best_single_system"] == "dense"
    assert met["hybrid_dense_sparse_minus_best_single_points"] == 2.0 and met["hybrid_target_met"]
    missed = targets(_results(tuned=0.56, hybrid=0.65))
    assert not missed["splade_target_met"] and not missed["hybrid_target_met"]


def test_table_rows_and_plot(tmp_path):
    results = _results()
    rows = summary_rows(results)
    assert all(len(r) == len(COLUMNS) for r in rows)
    assert [r[0] for r in rows] == [
        "SPLADE-tiny base", "SPLADE-tiny tuned", "inference-free tuned", "CSR k8", "CSR k32",
        "dense full", "BM25", "RRF dense+splade_tuned",
    ]  # fmt: skip
    assert rows[0][7] == "0.6100 @200d"
    png = plot(results, tmp_path / "p.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.skipif(not SCIFACT.is_dir(), reason="needs ../shared/datasets/scifact")
def test_subset_keeps_every_judged_document(tmp_path):
    out = subset_beir(SCIFACT, tmp_path / "small", corpus_size=120, test_queries=10)
    ids = [json.loads(line)["_id"] for line in (out / "corpus.jsonl").read_text().splitlines()]
    assert len(ids) == 120 == len(set(ids))
    test = [line.split("\t") for line in (out / "qrels" / "test.tsv").read_text().splitlines()[1:]]
    train = [line.split("\t") for line in (out / "qrels" / "train.tsv").read_text().splitlines()[1:]]
    assert len({q for q, _, _ in test}) == 10
    assert {d for _, d, _ in test + train} <= set(ids)  # every kept judgment points into the corpus
    assert train  # some train pairs survive the cap
    assert subset_beir(SCIFACT, tmp_path / "same", None, None) == SCIFACT


def test_reuse_loads_a_model_resumes_a_checkpoint_else_trains(tmp_path):
    assert reuse_state(tmp_path / "missing") == "train"
    (tmp_path / "checkpoints" / "checkpoint-42").mkdir(parents=True)
    assert reuse_state(tmp_path) == "resume"
    (tmp_path / "model").mkdir()
    assert reuse_state(tmp_path) == "resume"  # a model folder without modules.json is half-written
    (tmp_path / "model" / "modules.json").write_text("[]")
    assert reuse_state(tmp_path) == "load"
