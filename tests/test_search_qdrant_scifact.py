"""The Qdrant backend returns the built-in index's top 10 for all 300 SciFact test queries.

Slow (``-m slow``) and skipped without ``../shared/datasets/scifact``. To fit a few minutes on a 2-core
CPU the corpus is a subset: every document judged for a test query (283) plus the first 1,000 others
of ``corpus.jsonl`` (1,283 documents), encoded with the packaged MiniLM. The index keeps a float
shortlist and fp32 full vectors, so that both engines compute the same candidates and cosines: with a
binary or int8 shortlist each engine quantises in its own way (Qdrant rescores its own quantised
vectors), and the funnel stages are no longer the same computation.

"Same top 10" allows for ties: the scores must agree rank by rank within ``TOL``, the documents that
score above the 10th place's tie group must be the same, and a document in both lists must have the
same score in both. RRF gives exact ties often (rank 3 of one list alone scores as rank 3 of the other).

Hybrid also meets ties one step earlier: BM25 gives equal scores to documents with the same term
counts and length, and bm25s and Qdrant order such ties each their own way, so a tied document can
take another rank into RRF. A hybrid top 10 that differs is accepted only when that explains it:
Qdrant's BM25 list must be our BM25 ranking up to the order of tied scores, and fusing our dense list
with Qdrant's BM25 order must give Qdrant's top 10. At most ``TIE_EXPLAINED`` queries may need that.

Measured on the 2-core CPU (``nice -n 10 python -m pytest -m slow tests/test_search_qdrant_scifact.py``):
3.8 minutes with the machine otherwise idle (6 minutes of CPU time; 1.9 minutes build the index and
the local-mode copy), more than 40 minutes beside a training run that held both cores, since
``nice -n 10`` leaves the test only what that run does not use.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

pytest.importorskip("qdrant_client")

from mrlkit.search import Index, IndexConfig  # noqa: E402
from mrlkit.search.backends.qdrant import QdrantIndex, QdrantTarget, export_to_qdrant  # noqa: E402
from mrlkit.search.bm25 import BM25Config, BM25Searcher, build_bm25  # noqa: E402
from mrlkit.search.fusion import fuse  # noqa: E402
from mrlkit.search.hybrid import FusionSettings, retrieve_runs  # noqa: E402

SCIFACT = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "scifact"
OTHERS = 1000
TOL = 1e-4
TIE_EXPLAINED = 15  # of 300 queries per hybrid setting (1 was needed when this was written)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not SCIFACT.is_dir(), reason=f"SciFact not found at {SCIFACT}"),
]


def _subset() -> tuple[list[tuple[str, str]], list[str]]:
    """(id, title + text) of the judged documents plus the first OTHERS others; the test queries."""
    lines = (SCIFACT / "qrels" / "test.tsv").read_text(encoding="utf-8").splitlines()[1:]
    qrels = [line.split("\t") for line in lines if line.strip()]
    judged, query_ids = {doc for _, doc, _ in qrels}, list(dict.fromkeys(q for q, _, _ in qrels))
    docs, others = [], 0
    with (SCIFACT / "corpus.jsonl").open(encoding="utf-8") as f:
        for line in f:
            record = json.loads(line)
            if record["_id"] in judged or others < OTHERS:
                others += record["_id"] not in judged
                docs.append((record["_id"], f"{record.get('title', '')} {record['text']}".strip()))
    texts = {}
    with (SCIFACT / "queries.jsonl").open(encoding="utf-8") as f:
        for line in f:
            record = json.loads(line)
            texts[record["_id"]] = record["text"]
    return docs, [texts[q] for q in query_ids]


@pytest.fixture(scope="module")
def scifact(tmp_path_factory, minilm_path):
    docs, queries = _subset()
    root = tmp_path_factory.mktemp("qdrant_scifact")
    cfg = IndexConfig(shortlist_dim=64, quantization="float", full_dtype="fp32")
    idx = Index.build(root / "idx", docs, model=minilm_path, config=cfg)
    build_bm25(idx, BM25Config(language="en"))
    assert len(idx) == len(docs) == 283 + OTHERS and len(queries) == 300
    vectors = idx.encoder.encode(queries, batch_size=64, query=True)  # once, for every built-in search
    return root, idx, queries, vectors


@pytest.fixture(scope="module", params=["client", "edge"])
def engines(request, scifact):
    if request.param == "edge":
        pytest.importorskip("qdrant_edge")
    root, idx, queries, vectors = scifact
    export_to_qdrant(idx, QdrantTarget(path=str(root / request.param), engine=request.param), overwrite=True)
    qdrant = QdrantIndex(Index.open(root / "idx"))
    yield idx, qdrant, queries, vectors
    qdrant.close()


def assert_same_top(ours: list, theirs: list, where: str) -> None:
    """Same hits up to ties (see the module docstring)."""
    a, b = [(h.id, h.score) for h in ours], [(h.id, h.score) for h in theirs]
    assert len(a) == len(b), where
    assert [s for _, s in a] == pytest.approx([s for _, s in b], abs=TOL), where
    cut = min(a[-1][1], b[-1][1]) + TOL
    assert {i for i, s in a if s > cut} == {i for i, s in b if s > cut}, where
    scores_b = dict(b)
    for doc, score in a:
        if doc in scores_b:
            assert score == pytest.approx(scores_b[doc], abs=TOL), f"{where}: {doc}"


@pytest.mark.parametrize(
    ("mode", "options"),
    [("exact", {}), ("funnel", {"k_prime": 100}), ("funnel", {})],  # {}: the index's default k'
)
def test_same_top_10_on_scifact_test_queries(engines, mode, options):
    idx, qdrant, queries, vectors = engines
    ours = idx.search(queries, k=10, mode=mode, vectors=vectors, **options)
    theirs = qdrant.search(queries, k=10, mode=mode, **options)
    assert len(ours) == len(theirs) == 300
    for i, (a, b) in enumerate(zip(ours, theirs, strict=True)):
        assert_same_top(a, b, f"{qdrant.target.engine} {mode} {options} query {i} {queries[i]!r}")


@pytest.mark.parametrize("fusion", ["rrf", "dbsf"])  # rrf: k = 60, equal weights
def test_same_hybrid_top_10_up_to_bm25_ties(engines, fusion):
    idx, qdrant, queries, vectors = engines
    ours = idx.search(queries, k=10, mode="hybrid", fusion=fusion, vectors=vectors)
    theirs = qdrant.search(queries, k=10, mode="hybrid", fusion=fusion)
    explained = 0
    for i, (a, b) in enumerate(zip(ours, theirs, strict=True)):
        where = f"{qdrant.target.engine} hybrid {fusion} query {i} {queries[i]!r}"
        try:
            assert_same_top(a, b, where)
        except AssertionError:
            assert_explained_by_bm25_ties(idx, qdrant, queries[i], vectors[i : i + 1], fusion, b, where)
            explained += 1
    assert explained <= TIE_EXPLAINED


def assert_explained_by_bm25_ties(idx, qdrant, query, vector, fusion, theirs, where) -> None:
    """Qdrant's BM25 list orders tied scores differently, and our fusion of that order is its answer."""
    settings = FusionSettings.for_index(idx, method=fusion)
    dense = retrieve_runs(idx, [query], settings, vectors=vector)[0][0]
    rows, values = BM25Searcher.load(idx).search([query], len(idx), idx.alive)
    bm25 = {int(r): float(v) for r, v in zip(rows[0], values[0], strict=True) if r >= 0}
    listed = qdrant.search([query], k=settings.candidates, mode="hybrid", retrievers=["bm25"])[0]
    order = [idx.id_rows()[h.id] for h in listed]
    got = [bm25[r] for r in order]
    assert all(a >= b - TOL for a, b in zip(got, got[1:], strict=False)), f"{where}: BM25 order"
    left_out = max((v for r, v in bm25.items() if r not in set(order)), default=0.0)
    assert left_out <= got[-1] + TOL, f"{where}: Qdrant's BM25 list leaves out a higher score"
    runs = [dense, {r: bm25[r] for r in order}]  # RRF ranks ties in the order a run lists them
    fused = list(fuse(runs, settings.method, settings.weights, settings.rrf_k).items())[:10]
    reference = [SimpleNamespace(id=idx.ids[r], score=score) for r, score in fused]
    assert_same_top(reference, theirs, f"{where} (with Qdrant's BM25 tie order)")
