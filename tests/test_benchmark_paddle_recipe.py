"""benchmarks/paddle_recipe.py: its pure helpers against hand-computed cases."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import paddle_recipe  # noqa: E402

RELEVANT = {"q1": {"a"}, "q2": {"b", "c"}, "q3": {"d"}}
RUNS = {"q1": ["x", "a", "y"], "q2": ["c", "x", "b"]}  # q3 has no run: it scores 0


def test_recall_at_k_matches_a_hand_computed_case():
    got = paddle_recipe.recall_table(RUNS, RELEVANT, ks=[1, 2, 3])
    # q1 finds its one document at rank 2, q2 one of two at rank 1 and the other at rank 3, q3 nothing
    assert got["recall@1"] == pytest.approx((0 + 1 / 2 + 0) / 3)
    assert got["recall@2"] == pytest.approx((1 + 1 / 2 + 0) / 3)
    assert got["recall@3"] == pytest.approx((1 + 1 + 0) / 3)


def _recall(values: dict[str, list[float]]) -> dict:
    """``{arm: [r@1 at 256, r@5 at 256, r@1 at 64, r@5 at 64]}`` in the results file's nesting."""
    return {
        arm: {
            "hnsw": {"256": {"recall@1": v[0], "recall@5": v[1]}, "64": {"recall@1": v[2], "recall@5": v[3]}}
        }
        for arm, v in values.items()
    }


def test_the_winner_has_the_higher_mean_recall_over_dims_and_k():
    recall = _recall({"margin_0.2": [0.40, 0.70, 0.30, 0.60], "mnrl": [0.42, 0.60, 0.20, 0.50]})
    verdict = paddle_recipe.pick_winner(recall, ["margin_0.2", "mnrl"])
    assert verdict["mean_recall"] == {"margin_0.2": 0.5, "mnrl": 0.43}
    assert verdict["diff_points"] == pytest.approx(7.0)
    assert verdict["winner"] == "margin_0.2"
    assert verdict["cells_won"] == {"margin_0.2": 3, "mnrl": 1} and verdict["cells"] == 4


def test_a_difference_under_half_a_point_is_a_tie():
    recall = _recall({"margin_0.2": [0.500, 0.5, 0.5, 0.5], "mnrl": [0.508, 0.5, 0.5, 0.5]})
    verdict = paddle_recipe.pick_winner(recall, ["margin_0.2", "mnrl"])
    assert verdict["diff_points"] == pytest.approx(-0.2)
    assert verdict["winner"] == "tie" and verdict["cells_won"] == {"margin_0.2": 0, "mnrl": 1}


def test_the_smoke_test_subset_is_a_beir_folder_mrlkit_reads_back(tmp_path):
    from mrlkit.data import load_eval_set

    corpus = {"a": "alpha text", "b": "beta text", "c": "gamma text", "d": "delta text"}
    queries = {"q1": "first?", "q2": "second?", "q3": "third?", "q9": "not judged"}
    folder = paddle_recipe.write_beir(queries, corpus, RELEVANT, tmp_path / "subset")
    back = load_eval_set(str(folder), split="test")
    assert back.corpus == corpus
    assert back.relevant == RELEVANT and set(back.queries) == {"q1", "q2", "q3"}
