"""benchmarks/sparse_fusion.py: the target arithmetic (hand-computed), and its fusion scoring against
mrlkit's own RRF on a hand-made pair of result lists."""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from sparse_fusion import fused_ndcg, fusion_target  # noqa: E402

from mrlkit.search.hybrid import FusionSettings  # noqa: E402


def test_target_against_the_best_single_system():
    singles = {"dense": 0.6529, "sparse": 0.6759}
    assert fusion_target(0.7213, singles) == {
        "best_single": "sparse",
        "gain_points": 4.54,
        "target_points": 2.0,
        "met": True,
    }
    singles["bm25"] = 0.6883  # the best single system of the run, even when it is not fused
    assert fusion_target(0.7045, singles) == {
        "best_single": "bm25",
        "gain_points": 1.62,
        "target_points": 2.0,
        "met": False,
    }
    assert fusion_target(0.7083, singles)["met"]  # exactly +2 meets it


def test_target_needs_a_single_score():
    with pytest.raises(ValueError, match="no single-retriever"):
        fusion_target(0.7, {})


def test_fused_ndcg_by_hand():
    # two retrievers over docs a, b, c; one query whose only relevant doc is c.
    # dense ranks a, c; sparse ranks c, b. RRF (k 60): c = 1/62 + 1/61 beats a = 1/61 and b = 1/62.
    idx = SimpleNamespace(ids=["a", "b", "c"])
    runs = [[{0: 0.9, 2: 0.8}, {2: 5.0, 1: 4.0}]]  # per query, per retriever: row -> score
    settings = FusionSettings(dense_mode="exact", retrievers=["dense", "sparse"])
    assert fused_ndcg(idx, runs, settings, ["q"], {"q": {"c": 1}}) == 1.0
    # dense alone ranks c second: nDCG@10 = 1 / log2(3)
    alone = FusionSettings(dense_mode="exact", retrievers=["dense"])
    assert fused_ndcg(idx, [[runs[0][0]]], alone, ["q"], {"q": {"c": 1}}) == round(1 / 1.5849625, 4)
