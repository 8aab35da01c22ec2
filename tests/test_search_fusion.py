"""Fusion functions against hand-computed scores (as ranx tests them), and against ranx when installed."""

from __future__ import annotations

import math

import pytest

from mrlkit.errors import ConfigError
from mrlkit.search.fusion import dbsf, fuse, rrf

DENSE = {"a": 0.9, "b": 0.8, "c": 0.1}
BM25 = {"b": 12.0, "d": 7.0, "a": 1.0}


def test_rrf_hand_computed():
    fused = rrf([DENSE, BM25], k=60)
    assert fused == pytest.approx({"a": 1 / 61 + 1 / 63, "b": 1 / 62 + 1 / 61, "c": 1 / 63, "d": 1 / 62})
    assert list(fused) == ["b", "a", "d", "c"]


def test_rrf_weights_and_k():
    fused = rrf([DENSE, BM25], k=1, weights=[2.0, 0.5])
    assert fused["a"] == pytest.approx(2 / 2 + 0.5 / 4)
    assert fused["d"] == pytest.approx(0.5 / 3)
    assert list(fused)[0] == "a"


def test_rrf_uses_ranks_not_scores():
    assert rrf([{"x": 1000.0, "y": 1.0}]) == rrf([{"x": 0.2, "y": 0.1}])


def test_dbsf_hand_computed():
    # dense: mean 0.6, sample std sqrt(((.3)^2 + (.2)^2 + (.5)^2) / 2) = sqrt(0.19)
    s1 = math.sqrt(0.19)
    # bm25: mean 20/3, deviations 16/3, 1/3, -17/3
    s2 = math.sqrt(((16 / 3) ** 2 + (1 / 3) ** 2 + (17 / 3) ** 2) / 2)

    def norm(x, mean, std):
        return (x - (mean - 3 * std)) / (6 * std)

    fused = dbsf([DENSE, BM25], weights=[1.0, 0.5])
    assert fused["a"] == pytest.approx(norm(0.9, 0.6, s1) + 0.5 * norm(1.0, 20 / 3, s2))
    assert fused["b"] == pytest.approx(norm(0.8, 0.6, s1) + 0.5 * norm(12.0, 20 / 3, s2))
    assert fused["c"] == pytest.approx(norm(0.1, 0.6, s1))
    assert fused["d"] == pytest.approx(0.5 * norm(7.0, 20 / 3, s2))
    assert list(fused) == sorted(fused, key=lambda d: -fused[d])


def test_dbsf_matches_qdrant_client_local_fusion():
    models = pytest.importorskip("qdrant_client.http.models")
    from qdrant_client.hybrid.fusion import distribution_based_score_fusion

    def points(run):
        return [models.ScoredPoint(id=i, version=0, score=s) for i, s in enumerate(run.values())]

    theirs = distribution_based_score_fusion([points(DENSE), points(BM25)], limit=10)
    mapped = {}
    for p in theirs:  # qdrant merges by point id: give equal docs equal ids
        mapped[p.id] = p.score
    ours = dbsf([dict(enumerate(DENSE.values())), dict(enumerate(BM25.values()))])
    assert ours == pytest.approx(mapped)


def test_degenerate_runs_map_to_half():
    assert dbsf([{"a": 3.0}]) == {"a": 0.5}
    assert dbsf([{"a": 1.0, "b": 1.0}, {}]) == {"a": 0.5, "b": 0.5}


def test_bad_weights_and_method():
    with pytest.raises(ConfigError, match="2 result list"):
        rrf([DENSE, BM25], weights=[1.0])
    with pytest.raises(ConfigError, match=">= 0"):
        dbsf([DENSE], weights=[-1.0])
    with pytest.raises(ConfigError, match="fusion must be one of rrf, dbsf"):
        fuse([DENSE], method="max")


@pytest.mark.slow  # ranx compiles numba kernels on first use: minutes on a 2-core machine
def test_rrf_matches_ranx():
    ranx = pytest.importorskip("ranx")
    run1 = ranx.Run({"q": DENSE})
    run2 = ranx.Run({"q": BM25})
    theirs = ranx.fuse([run1, run2], method="rrf", params={"k": 60}).to_dict()["q"]
    assert rrf([DENSE, BM25]) == pytest.approx(theirs)
