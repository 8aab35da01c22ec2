"""benchmarks/rerank_weight.py on the BEIR fixture with the tiny model as first stage and cross-encoder."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
BEIR = Path(__file__).parent / "fixtures" / "data" / "beir"
sys.path.insert(0, str(BENCH))


def test_rerank_weight_quick(tmp_path, tiny_model_path, monkeypatch):
    import _common
    import rerank_weight
    from sentence_transformers import CrossEncoder

    monkeypatch.setattr(_common, "RESULTS", tmp_path / "results")
    CrossEncoder(tiny_model_path, num_labels=1, max_length=64).save_pretrained(str(tmp_path / "ce"))
    args = ["--data", str(BEIR), "--reranker", str(tmp_path / "ce"), "--first-stage-model", tiny_model_path]
    payload = rerank_weight.main([*args, "--first-stage-k", "5", "--name", "t"])
    saved = json.loads((tmp_path / "results" / "t.json").read_text())
    assert saved["test"] == payload["test"] and set(payload["test"]) == {"first_stage", "reranker", "mixed"}
    assert payload["queries"] == {"test": 2, "dev": 2}  # q4 and q5 (test qrels); 2 of 6 train queries
    grid = payload["dev_grid"]
    assert [row["weight"] for row in grid] == pytest.approx([1 - i / 10 for i in range(11)])
    best = max(row["ndcg@10"] for row in grid)
    assert payload["weight"] == max(row["weight"] for row in grid if row["ndcg@10"] == best)
    for row in payload["test"].values():
        assert 0.0 <= row["ndcg@10"] <= 1.0 and 0.0 <= row["mrr@10"] <= 1.0
    if payload["weight"] == 1.0:  # the mix at weight 1 is the reranker alone
        assert payload["test"]["mixed"] == payload["test"]["reranker"]
