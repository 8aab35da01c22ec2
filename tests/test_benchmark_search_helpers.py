"""Pure helpers of the search speed benchmark, checked against hand computation and numpy references:
the reflected-copy augmentation (isometry, norms, prefix norms, moments), recall@k, the realism summary,
and the report's ratios, headline row and targets."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from _search_bench import latency_summary, recall_at_k  # noqa: E402
from _vectors import augment, realism, reflect, reflection  # noqa: E402

PREFIXES = (32, 64, 128, 384)


def _anisotropic(n: int, dim: int = 384, seed: int = 0) -> np.ndarray:
    """Unit vectors with a common mean direction (norm about 0.2) and a decaying spectrum (effective
    dimension about 200), like MiniLM sentence embeddings (0.18 and 119)."""
    rng = np.random.default_rng(seed)
    mixing = np.linalg.qr(rng.standard_normal((dim, dim)))[0]
    x = (rng.standard_normal((n, dim)) / np.arange(1, dim + 1) ** 0.25) @ mixing.T
    x = x / np.linalg.norm(x, axis=1, keepdims=True) + 0.2 * mixing[:, 0]
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def _prefix_norms(x: np.ndarray) -> np.ndarray:
    return np.stack([np.linalg.norm(x[:, :d], axis=1) for d in PREFIXES], axis=1)


def test_dims_copies_keep_every_norm_prefix_norm_and_inner_product():
    real = _anisotropic(200)
    out, info = augment(real, 700, seed=1, axes="dims")
    assert out.shape == (700, 384) and info["n_synthetic"] == 500 and info["copies"] == 3
    np.testing.assert_array_equal(out[:200], real)  # the real rows come first, unchanged
    for lo in range(200, 700, 200):
        copy = out[lo : lo + 200]
        source = real[: len(copy)]  # the last copy is cut at n_total
        np.testing.assert_array_equal(_prefix_norms(copy), _prefix_norms(source))  # exactly
        np.testing.assert_allclose(copy @ copy.T, source @ source.T, atol=1e-5)  # an isometry
        assert np.all(np.abs(copy) == np.abs(source))  # sign flips, nothing else


def test_pca_reflection_is_an_isometry_with_the_real_mean_and_covariance():
    real = _anisotropic(1000)
    centre, basis = reflection(real, "pca")
    np.testing.assert_allclose(basis.T @ basis, np.eye(384), atol=1e-10)
    signs = np.random.default_rng(3).choice([-1.0, 1.0], size=384)
    copy = reflect(real, centre, basis, signs, normalise=False).astype(np.float64)
    r64 = real.astype(np.float64)
    d_real = np.linalg.norm(r64[:50, None] - r64[None, :50], axis=-1)
    d_copy = np.linalg.norm(copy[:50, None] - copy[None, :50], axis=-1)
    np.testing.assert_allclose(d_copy, d_real, atol=1e-5)
    np.testing.assert_allclose(copy.mean(0), r64.mean(0), atol=1e-6)
    np.testing.assert_allclose(np.cov(copy.T), np.cov(r64.T), atol=1e-6)
    # so every Matryoshka prefix keeps its mean squared norm
    np.testing.assert_allclose(
        (_prefix_norms(copy) ** 2).mean(0), (_prefix_norms(r64) ** 2).mean(0), rtol=1e-4
    )


def test_pca_copies_are_unit_far_from_their_sources_and_look_real_to_queries():
    data = _anisotropic(3000)
    real, queries = data[:2000], data[2000:]
    out, info = augment(real, 6000, seed=0, axes="pca")
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    own = np.einsum("ij,ij->i", out[2000:4000], real)
    assert own.mean() < 0.35 and own.max() < 0.8  # no copy is a near-duplicate of its source
    nearest_real = (out[2000:2500] @ real.T).max(axis=1)
    assert nearest_real.max() < 0.8
    # a query's similarity to the copies has the real mean and spread (per-dim flips shrink the spread)
    real_cos, copy_cos = queries @ real.T, queries @ out[2000:].T
    assert copy_cos.mean() == pytest.approx(real_cos.mean(), abs=0.01)
    assert copy_cos.std() == pytest.approx(real_cos.std(), rel=0.05)
    dims, _ = augment(real, 6000, seed=0, axes="dims")
    assert (queries @ dims[2000:].T).std() < 0.9 * real_cos.std()
    assert info["axes"] == "pca" and info["real_mean_norm"] > 0


def test_augment_below_the_real_count_only_cuts_and_bad_axes_are_refused():
    real = _anisotropic(50)
    out, info = augment(real, 30)
    np.testing.assert_array_equal(out, real[:30])
    assert info == {"n_real": 30, "n_synthetic": 0, "copies": 0}
    with pytest.raises(ValueError, match="axes must be one of"):
        reflection(real, "random")


def test_recall_at_k_by_hand():
    found = np.array([[0, 1, 2], [5, -1, 7], [9, 9, 9]])
    truth = np.array([[0, 1, 3], [5, 6, 7], [1, 2, 3]])
    assert recall_at_k(found, truth) == pytest.approx((2 / 3 + 2 / 3 + 0) / 3)
    # -1 in the truth (fewer than k rows exist) is not counted; -1 in found never matches
    assert recall_at_k(np.array([[4, -1]]), np.array([[4, -1]])) == 1.0
    assert recall_at_k(np.array([[-1, -1]]), np.array([[3, -1]])) == 0.0


def test_realism_by_hand():
    corpus = np.eye(4, dtype=np.float32)[[0, 1, 2, 3, 0, 1]]
    truth = np.array([[0, 4, -1], [5, 2, 3]])  # 3 of the 5 valid rows are real (< 4)
    out = realism(corpus, 4, np.array([[1.0, 0, 0, 0]], np.float32), truth)
    assert out["top10_real_share"] == 0.6
    assert out["top10_real_share_if_as_dense"] == round(4 / 6, 4)
    assert out["cosine_real"] == {"mean": 0.25, "std": round(float(np.std([1, 0, 0, 0])), 4)}
    assert out["cosine_copies"]["mean"] == 0.5


def test_latency_summary():
    out = latency_summary(np.array([1.0, 2.0, 3.0, 4.0, 100.0]))
    assert out["latency_ms_mean"] == 22.0 and out["latency_ms_p50"] == 3.0
    assert out["latency_ms_p99"] == pytest.approx(np.percentile([1, 2, 3, 4, 100], 99), abs=1e-3)


def _row(qps: float, recall: float, **extra: object) -> dict:
    return {
        "qps": qps,
        "qps_cpu": qps,
        "batch64_qps": 10 * qps,
        "batch64_qps_cpu": 10 * qps,
        "recall@10": recall,
        "build_s": 1.0,
        "build_cpu_s": 1.0,
        **extra,
    }


def test_ratios_headline_and_targets_by_hand():
    from _speed_report import add_ratios, best_alternative, headline, targets

    res = {
        "exact_numpy": _row(4.0, 1.0),
        "exact_faiss": _row(5.0, 1.0),
        "hnsw_full": _row(100.0, 0.991, build_s=50.0),
        "usearch_f32": _row(400.0, 0.95),  # faster but below the recall target: not the best alternative
        "ivf_flat": _row(50.0, 0.999),
        "funnel_configs": [
            _row(120.0, 0.992, config="binary:64", ram_bytes_per_vector=8, build_s=2.0),
            _row(300.0, 0.98, config="binary:32", ram_bytes_per_vector=4, build_s=2.0),
            _row(200.0, 0.999, config="float:64", ram_bytes_per_vector=256, build_s=2.0),
        ],
    }
    res["funnel_configs"][0]["k_prime_upper"] = _row(60.0, 0.999, k_prime=500)
    assert best_alternative(res, "qps", 0.99) == "hnsw_full"
    assert best_alternative(res, "qps", 0.9999) == "ivf_flat"  # none reaches it: the best recall
    add_ratios(res, 0.99)
    assert res["exact"]["method"] == "exact_faiss"
    f = res["funnel_configs"][0]
    assert f["qps_ratio_vs_exact"] == 24.0 and f["batch64_qps_ratio_vs_exact"] == 24.0
    assert f["qps_ratio_vs_best_alternative"] == 1.2 and f["qps_best_alternative"] == "hnsw_full"
    assert f["k_prime_upper"]["qps_ratio_vs_exact"] == 12.0
    assert res["usearch_f32"]["qps_ratio_vs_exact"] == 80.0
    res["funnel"] = headline(res["funnel_configs"], 0.99, 128)
    assert res["funnel"]["config"] == "binary:64"  # float:64 is faster but over 128 B/vector
    checks = targets(res, 0.99)
    assert checks["funnel_20x_exact_at_recall"]["met"] is True
    assert checks["funnel_20x_exact_at_recall"]["at_conservative_k_prime"]["qps_ratio_vs_exact"] == 12.0
    assert checks["shortlist_ram_le_128B"]["met"] is True
    assert checks["funnel_vs_hnsw_full"] == {
        "qps_ratio": 1.2,
        "build_speedup": 25.0,
        "recall@10": [0.992, 0.991],
        "met": True,
    }


def test_parse_scale():
    from search_speed import parse_scale

    assert parse_scale("1M") == 1_000_000 and parse_scale("20k") == 20_000
    assert parse_scale("250000") == 250_000 and parse_scale("1e6") == 1_000_000
    import argparse

    with pytest.raises(argparse.ArgumentTypeError, match="bad --scale"):
        parse_scale("lots")


def test_a_funnel_whose_real_k_prime_is_too_large_is_skipped_before_the_full_build(tmp_path):
    pytest.importorskip("faiss")
    from _speed_funnel import run_funnel
    from search_speed import parse_args

    corpus = _anisotropic(400)
    queries = _anisotropic(40, seed=1)
    truth = np.argsort(-(queries @ corpus.T), axis=1)[:, :10]
    data = {"tune": queries, "truth_tune": truth}
    args = parse_args(["--work-dir", str(tmp_path), "--max-k-prime-share", "0.01", "--tune-recall", "0.99"])
    row = run_funnel("binary:32", corpus, 200, data, args)
    assert set(row) == {"config", "skipped", "k_prime_real_only"}
    assert row["k_prime_real_only"] > 0.01 * 200 and "--max-k-prime-share" in row["skipped"]
    assert not (tmp_path / "binary-32").exists()  # the full-scale index was never built
