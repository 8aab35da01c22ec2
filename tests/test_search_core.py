"""Search on synthetic vectors: funnel vs exact, quantisation vs numpy, HNSW recall, k' tuning."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("faiss")

from mrlkit.errors import ConfigError, DataError  # noqa: E402
from mrlkit.search import Index, IndexConfig, tune_index  # noqa: E402
from mrlkit.search.quantise import int8_decode, int8_encode, int8_ranges, pack_bits, truncate  # noqa: E402


def clustered(n: int, dim: int = 96, seed: int = 0) -> np.ndarray:
    """Unit vectors whose leading dims carry most of the signal, like a Matryoshka model's."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((40, dim)).astype(np.float32)
    x = centres[rng.integers(0, 40, n)] + 0.5 * rng.standard_normal((n, dim)).astype(np.float32)
    x *= np.linspace(2.0, 0.5, dim, dtype=np.float32)  # decaying scale: the prefix matters most
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def ids_for(n: int, prefix: str = "doc") -> list[str]:
    return [f"{prefix}-{i}" for i in range(n)]


@pytest.fixture(scope="module")
def vectors() -> np.ndarray:
    return clustered(600)


def brute_force(corpus: np.ndarray, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    scores = queries @ corpus.T
    rows = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return rows, np.take_along_axis(scores, rows, axis=1)


@pytest.mark.parametrize("shard_rows", [None, 100])  # 100: the shortlist is cut into shards
@pytest.mark.parametrize("quantization", ["float", "int8", "binary"])
def test_funnel_with_all_candidates_equals_exact(tmp_path, vectors, quantization, shard_rows, monkeypatch):
    if shard_rows:
        monkeypatch.setattr("mrlkit.search.funnel.SHARD_MIN_ROWS", shard_rows)
        monkeypatch.setattr("faiss.omp_get_max_threads", lambda: 4)
    cfg = IndexConfig(shortlist_dim=32, quantization=quantization, full_dtype="fp32", chunk_size=128)
    idx = Index.from_vectors(tmp_path / "idx", ids_for(len(vectors)), vectors, config=cfg)
    queries = clustered(20, seed=1)
    exact_rows, exact_scores = idx.search_vectors(queries, k=10, mode="exact")
    rows, scores = idx.search_vectors(queries, k=10, mode="funnel", k_prime=len(vectors))
    np.testing.assert_array_equal(rows, exact_rows)
    np.testing.assert_allclose(scores, exact_scores, atol=1e-6)
    assert idx.shortlist.n_shards == (4 if shard_rows else 1)


def test_exact_matches_numpy_brute_force(tmp_path, vectors):
    idx = Index.from_vectors(
        tmp_path / "idx", ids_for(len(vectors)), vectors, config=IndexConfig(full_dtype="fp32")
    )
    queries = clustered(15, seed=2)
    rows, scores = idx.search_vectors(queries, k=7, mode="exact")
    ref_rows, ref_scores = brute_force(vectors, queries, 7)
    np.testing.assert_array_equal(rows, ref_rows)
    np.testing.assert_allclose(scores, ref_scores, atol=1e-5)


def test_fp16_full_vectors_score_within_half_precision(tmp_path, vectors):
    idx = Index.from_vectors(
        tmp_path / "idx", ids_for(len(vectors)), vectors, config=IndexConfig(full_dtype="fp16")
    )
    queries = clustered(5, seed=3)
    _, scores = idx.search_vectors(queries, k=5, mode="exact")
    _, ref_scores = brute_force(vectors, queries, 5)
    np.testing.assert_allclose(scores, ref_scores, atol=2e-3)


def test_int8_codes_match_numpy_reference(vectors):
    short = truncate(vectors, 32)
    ranges = int8_ranges(short)
    codes = int8_encode(short, ranges)
    vmin, vdiff = short.min(axis=0), short.max(axis=0) - short.min(axis=0)
    expected = np.clip(np.floor((short - vmin) / vdiff * 255), 0, 255).astype(np.uint8)
    np.testing.assert_array_equal(codes, expected)
    decoded = int8_decode(codes, ranges)
    assert np.abs(decoded - short).max() <= vdiff.max() / 255 + 1e-6  # within one bucket


def test_int8_shortlist_scores_are_asymmetric_inner_products(tmp_path, vectors):
    """faiss scans the stored codes; its scores equal float query · decoded codes in numpy."""
    cfg = IndexConfig(shortlist_dim=32, quantization="int8")
    idx = Index.from_vectors(tmp_path / "idx", ids_for(len(vectors)), vectors, config=cfg)
    queries = clustered(6, seed=4)
    scores, rows = idx.shortlist.search(queries, 20)
    ranges = np.asarray(idx.manifest.calibration["shortlist"], dtype=np.float32)
    decoded = int8_decode(int8_encode(truncate(vectors, 32), ranges), ranges)
    ref = truncate(queries, 32) @ decoded.T
    np.testing.assert_allclose(scores, np.take_along_axis(ref, rows, axis=1), atol=1e-4)
    np.testing.assert_allclose(scores[:, 0], ref.max(axis=1), atol=1e-4)


def test_binary_shortlist_is_hamming_on_packed_signs(tmp_path, vectors):
    cfg = IndexConfig(shortlist_dim=64, quantization="binary")
    idx = Index.from_vectors(tmp_path / "idx", ids_for(len(vectors)), vectors, config=cfg)
    queries = clustered(4, seed=5)
    scores, rows = idx.shortlist.search(queries, 10)
    bits = np.unpackbits(pack_bits(truncate(vectors, 64)), axis=1)
    qbits = np.unpackbits(pack_bits(truncate(queries, 64)), axis=1)
    hamming = (qbits[:, None, :] != bits[None, :, :]).sum(axis=2)
    np.testing.assert_array_equal(scores, 64 - 2 * np.take_along_axis(hamming, rows, axis=1))
    np.testing.assert_array_equal(np.sort(hamming, axis=1)[:, :10], (64 - scores) / 2)


@pytest.mark.parametrize(
    ("quantization", "dim", "floor", "backend"),
    [
        ("float", 32, 0.95, "faiss"),
        ("int8", 32, 0.95, "faiss"),
        ("binary", 64, 0.75, "faiss"),
        ("int8", 32, 0.95, "usearch"),
        ("binary", 64, 0.75, "usearch"),
    ],
)
def test_funnel_and_hnsw_recall_against_exact(tmp_path, quantization, dim, floor, backend):
    """On these synthetic vectors sign bits lose more than int8 (floors measured: 0.996, 0.996, 0.83)."""
    if backend == "usearch":
        pytest.importorskip("usearch")
    corpus = clustered(2000, seed=6)
    cfg = IndexConfig(
        shortlist_dim=dim, quantization=quantization, hnsw=True, hnsw_m=16, hnsw_backend=backend
    )
    Index.from_vectors(tmp_path / "idx", ids_for(len(corpus)), corpus, config=cfg)
    idx = Index.open(tmp_path / "idx")  # the graph as saved in the segment
    queries = clustered(50, seed=7)
    truth, _ = idx.search_vectors(queries, k=10, mode="exact")
    recall = {}
    for mode in ("funnel", "hnsw"):
        rows, _ = idx.search_vectors(queries, k=10, mode=mode, k_prime=400, ef=400)
        recall[mode] = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(rows, truth, strict=True)])
    assert recall["funnel"] >= floor, recall
    assert recall["hnsw"] >= recall["funnel"] - 0.03, recall  # the graph loses little against a full scan


def test_tune_stores_a_k_prime_that_meets_the_recall(tmp_path):
    corpus = clustered(1500, seed=8)
    cfg = IndexConfig(shortlist_dim=16, quantization="binary")
    idx = Index.from_vectors(tmp_path / "idx", ids_for(len(corpus)), corpus, config=cfg)
    queries = clustered(40, seed=9)
    tuned = tune_index(idx, queries, recall=0.95, k=10)
    reopened = Index.open(tmp_path / "idx")
    assert reopened.manifest.tuned["k_prime"] == tuned["k_prime"] < len(corpus)
    truth, _ = reopened.search_vectors(queries, k=10, mode="exact")
    found, _ = reopened.search_vectors(queries, k=10)  # no k': the tuned one
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(found, truth, strict=True)])
    assert recall >= 0.95
    smaller, _ = reopened.search_vectors(queries, k=10, k_prime=tuned["k_prime"] - 1)
    assert np.mean([len(set(a) & set(b)) / 10 for a, b in zip(smaller, truth, strict=True)]) < 0.95


def test_tune_with_pseudo_queries_on_a_graph(tmp_path):
    corpus = clustered(800, seed=10)
    cfg = IndexConfig(shortlist_dim=32, quantization="int8", hnsw=True, hnsw_m=16)
    idx = Index.from_vectors(tmp_path / "idx", ids_for(len(corpus)), corpus, config=cfg)
    tuned = tune_index(idx, recall=0.98, k=5, sample=50)
    assert tuned["recall"] >= 0.98 and tuned["ef"] >= tuned["k_prime"]
    assert "pseudo-queries" in tuned["queries"]


def test_search_arguments(tmp_path, vectors):
    idx = Index.from_vectors(tmp_path / "idx", ids_for(len(vectors)), vectors)
    with pytest.raises(ConfigError, match="k must be > 0"):
        idx.search_vectors(vectors[:2], k=0)
    rows, scores = idx.search_vectors(vectors[:2], k=10_000, mode="exact")  # clamped to the corpus size
    assert rows.shape == (2, len(vectors)) and (rows >= 0).all()
    rows, _ = idx.search_vectors(np.zeros((0, vectors.shape[1]), np.float32), k=5)
    assert rows.shape == (0, 5)
    assert idx.search([], k=5) == []
    with pytest.raises(DataError, match="shape"):
        idx.search_vectors(vectors[:2, :10], k=5)
    with pytest.raises(ConfigError, match="mode must be one of"):
        idx.search_vectors(vectors[:2], mode="fast")
    with pytest.raises(ConfigError, match="no HNSW graph"):
        idx.search_vectors(vectors[:2], mode="hnsw")
    with pytest.raises(ConfigError, match="built from vectors without a model"):
        idx.search(["a query"])


@pytest.mark.parametrize("quantization", ["float", "int8", "binary"])
def test_sharded_shortlist_scores_like_one_index(tmp_path, vectors, quantization):
    """Shards cut across segments, scanned in parallel: every row keeps its global number and score."""
    from mrlkit.search.funnel import Shortlist
    from mrlkit.search.storage import segment_path

    cfg = IndexConfig(shortlist_dim=32, quantization=quantization)
    idx = Index.from_vectors(tmp_path / "idx", ids_for(400), vectors[:400], config=cfg)
    idx.add(vectors[400:], ids=ids_for(200, "more"))  # a second segment: shard bounds fall inside segments
    idx.search_vectors(vectors[:1], k=1)  # open the parts
    folders = [segment_path(tmp_path / "idx", s) for s in idx.manifest.segments]  # manifest order
    codes = [np.load(f / "short.npy") for f in folders]
    assert sum(len(c) for c in codes) == 600
    ranges = idx.shortlist.ranges
    one = Shortlist(codes, 32, idx.shortlist.kind, ranges, shards=1)
    three = Shortlist(codes, 32, idx.shortlist.kind, ranges, shards=3)
    assert three.n_shards == 3 and three.ntotal == 600 and three.code_size == one.code_size
    queries = clustered(8, seed=6)
    s1, r1 = one.search(queries, 50)
    s3, r3 = three.search(queries, 50)
    np.testing.assert_allclose(s3, s1, atol=1e-5)  # the same top scores, best first
    # each row the shards return carries that row's own score in the one-index scan of every row
    s_all, r_all = one.search(queries, 600)
    for q in range(len(queries)):
        own = dict(zip(r_all[q].tolist(), s_all[q].tolist(), strict=True))
        np.testing.assert_allclose([own[r] for r in r3[q]], s3[q], atol=1e-5)
    s_big, r_big = three.search(queries[:2], 10_000)  # k beyond the rows: every row once
    assert sorted(r_big[0].tolist()) == list(range(600))


def test_rescore_einsum_and_matmul_paths_agree(tmp_path, vectors, monkeypatch):
    """Small rescore blocks use numpy's einsum, large ones BLAS matmul: the same rows and scores."""
    cfg = IndexConfig(shortlist_dim=32, quantization="int8", full_dtype="fp32")
    idx = Index.from_vectors(tmp_path / "idx", ids_for(len(vectors)), vectors, config=cfg)
    queries = clustered(12, seed=7)
    small = idx.search_vectors(queries, k=10, mode="funnel", k_prime=200)
    monkeypatch.setattr("mrlkit.search.funnel.EINSUM_MAX_VALUES", 0)  # every block through matmul
    large = idx.search_vectors(queries, k=10, mode="funnel", k_prime=200)
    np.testing.assert_array_equal(small[0], large[0])
    np.testing.assert_allclose(small[1], large[1], atol=1e-6)
    np.testing.assert_allclose(small[1], np.take_along_axis(queries @ vectors.T, small[0], axis=1), atol=1e-6)
