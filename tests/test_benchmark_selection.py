"""benchmarks/make_selection_split.py and select_recipe.py: recipes are chosen on held-out train queries."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import make_selection_split  # noqa: E402
import select_recipe  # noqa: E402


def _beir(root: Path, n_queries: int) -> Path:
    (root / "qrels").mkdir(parents=True)
    (root / "corpus.jsonl").write_text('{"_id": "d0", "text": "x"}\n')
    (root / "queries.jsonl").write_text('{"_id": "q0", "text": "y"}\n')
    rows = [("query-id", "corpus-id", "score")]
    rows += [(f"q{i}", f"d{j}", "1") for i in range(n_queries) for j in range(1 + i % 2)]
    with (root / "qrels" / "train.tsv").open("w", newline="") as f:
        csv.writer(f, delimiter="\t", lineterminator="\n").writerows(rows)
    (root / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nSECRET\td0\t1\n")
    return root


def _qids(path: Path) -> list[str]:
    with path.open() as f:
        return [r[0] for r in list(csv.reader(f, delimiter="\t"))[1:]]


def test_selection_split_is_disjoint_seeded_and_never_copies_test(tmp_path):
    data = _beir(tmp_path / "beir", 200)
    counts = make_selection_split.write_split(data, tmp_path / "sel", 0.15, seed=7)
    train, held = _qids(tmp_path / "sel/qrels/train.tsv"), _qids(tmp_path / "sel/qrels/test.tsv")
    assert not set(train) & set(held)
    assert set(train) | set(held) == {f"q{i}" for i in range(200)}
    assert "SECRET" not in held  # the real test qrels are not copied
    assert counts == {
        "train_queries": len(set(train)),
        "selection_queries": len(set(held)),
        "selection_judgments": len(held),
    }
    assert 15 <= len(set(held)) <= 45  # about 15% of 200 queries
    again = make_selection_split.selection_queries([f"q{i}" for i in range(200)], 0.15, 7)
    assert again == set(held)
    assert make_selection_split.selection_queries([f"q{i}" for i in range(200)], 0.15, 8) != again


def _run(tuned32: float, tuned64: float, seconds: float) -> dict:
    base = {d: {"ndcg@10": v} for d, v in {"384": 0.64, "128": 0.60, "64": 0.48, "32": 0.34}.items()}
    tuned = {d: {"ndcg@10": v} for d, v in {"384": 0.70, "128": 0.70, "64": tuned64, "32": tuned32}.items()}
    return {"base": base, "tuned": tuned, "train_seconds": seconds}


def test_selection_rule_counts_targets_then_small_dims_then_cost():
    # 32-dim retention: 0.68 / 0.70 = 97.1% (met) against 0.66 / 0.70 = 94.3% (missed)
    assert select_recipe.score(_run(0.68, 0.70, 100))[0] == 3
    assert select_recipe.score(_run(0.66, 0.72, 100))[0] == 2
    assert select_recipe.score(_run(0.68, 0.70, 100)) > select_recipe.score(_run(0.66, 0.72, 10))
    # same targets met: the higher mean of 64 and 32 wins, then the cheaper run
    assert select_recipe.score(_run(0.69, 0.71, 100)) > select_recipe.score(_run(0.68, 0.71, 1))
    assert select_recipe.score(_run(0.68, 0.70, 10)) > select_recipe.score(_run(0.68, 0.70, 100))


def _sts(mat32: float, std32: float, mat64: float = 0.84, seconds: float = 10.0) -> dict:
    mat = {"384": 0.85, "256": 0.85, "128": 0.85, "64": mat64, "32": mat32}
    std = {"384": 0.86, "256": 0.86, "128": 0.85, "64": 0.84, "32": std32}
    return {"matryoshka": mat, "standard": std, "runs": {"matryoshka": {"train_seconds": seconds}}}


def test_sts_selection_rule_counts_targets_then_small_dims_then_cost():
    # 0.84 / 0.85 = 98.8% (>= 98.5, met) and above the standard's 0.82 / 0.86 = 95.3%: both met
    assert select_recipe.score_sts(_sts(0.84, 0.82))[0] == 2
    # 0.83 / 0.85 = 97.6%: below 98.5 but above the standard's 95.3%
    assert select_recipe.score_sts(_sts(0.83, 0.82))[0] == 1
    # 0.83 / 0.85 = 97.6% against the standard's 0.85 / 0.86 = 98.8%: neither
    assert select_recipe.score_sts(_sts(0.83, 0.85))[0] == 0
    assert select_recipe.score_sts(_sts(0.84, 0.82, mat64=0.80)) > select_recipe.score_sts(
        _sts(0.83, 0.82, 0.85)
    )
    assert select_recipe.score_sts(_sts(0.84, 0.82, seconds=5)) > select_recipe.score_sts(_sts(0.84, 0.82))


def test_selection_refuses_runs_scored_on_test(tmp_path, monkeypatch):
    import json

    import pytest

    run = {**_sts(0.84, 0.82), "scored_on": "sts-test"}
    f = tmp_path / "probe.json"
    f.write_text(json.dumps(run))
    monkeypatch.setattr(sys, "argv", ["select_recipe.py", str(f), "--name", "unused"])
    with pytest.raises(SystemExit, match="--score-on dev"):
        select_recipe.main()
