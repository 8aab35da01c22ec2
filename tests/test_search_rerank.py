"""Reranking with a CrossEncoder and `train-reranker` on the tiny random BERT (a few steps)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from mrlkit.errors import ConfigError
from mrlkit.search.index import Hit
from mrlkit.search.rerank import Reranker
from mrlkit.training.reranker import (
    RerankerConfig,
    _metrics_table,
    balance_weight,
    labelled_pairs,
    rerank_metrics,
    train_reranker,
)

BEIR = Path(__file__).parent / "fixtures" / "data" / "beir"


@pytest.fixture(scope="module")
def tiny_cross_encoder(tiny_model_path):
    from sentence_transformers import CrossEncoder

    torch.manual_seed(0)
    return CrossEncoder(tiny_model_path, num_labels=1, max_length=64)


def test_rerank_orders_by_cross_encoder_score(tiny_cross_encoder):
    hits = [
        Hit(f"d{i}", 1.0 - i / 10, i + 1, text)
        for i, text in enumerate(["cats purr", "dogs bark", "tax law"])
    ]
    reranker = Reranker(tiny_cross_encoder)
    expected = reranker.score("cat sounds", [h.text for h in hits])
    [out] = reranker.rerank(["cat sounds"], [hits], k=2, top_n=3)
    order = sorted(range(3), key=lambda i: -expected[i])[:2]
    assert [h.id for h in out] == [f"d{i}" for i in order]
    assert [h.rank for h in out] == [1, 2]
    assert out[0].score == pytest.approx(expected[order[0]])


def test_rerank_refuses_hits_without_text(tiny_cross_encoder):
    with pytest.raises(ConfigError, match="stores no texts"):
        Reranker(tiny_cross_encoder).rerank(["q"], [[Hit("d1", 0.5, 1, None)]])
    with pytest.raises(ConfigError, match="top_n and k must be > 0"):
        Reranker(tiny_cross_encoder).rerank(["q"], [[]], top_n=0)


def test_labelled_pairs_from_triplets_and_scores():
    from datasets import Dataset

    triplets = Dataset.from_dict({"anchor": ["q", "q"], "positive": ["p", "p"], "negative": ["n1", "n2"]})
    out = labelled_pairs(triplets)
    assert list(zip(out["passage"], out["label"], strict=True)) == [("p", 1.0), ("n1", 0.0), ("n2", 0.0)]
    scored = Dataset.from_dict({"sentence1": ["a"], "sentence2": ["b"], "score": [0.25]})
    assert labelled_pairs(scored)["label"] == [0.25]


def test_rerank_metrics_keep_first_stage_and_reranked_apart(tiny_cross_encoder, monkeypatch):
    """First stage ranks the positive 3rd; a reranker that puts it 1st scores 1.0 (trec-style by hand)."""
    samples = [{"query": "q", "positive": ["pos"], "documents": ["n1", "n2", "pos", "n3"]}]

    def predict(pairs, **_):
        return np.array([1.0 if text == "pos" else 0.0 for _, text in pairs])

    monkeypatch.setattr(tiny_cross_encoder, "predict", predict)
    got = rerank_metrics(tiny_cross_encoder, samples, batch_size=4)
    assert got["ndcg@10"] == pytest.approx(1.0) and got["mrr@10"] == pytest.approx(1.0)
    assert got["base_ndcg@10"] == pytest.approx(1 / np.log2(4))  # rank 3: 1 / log2(3 + 1), ideal 1
    assert got["base_mrr@10"] == pytest.approx(1 / 3) and got["base_map"] == pytest.approx(1 / 3)
    table = _metrics_table(got, got)
    assert table["first_stage"]["ndcg@10"] == pytest.approx(0.5) and table["tuned_reranker"]["ndcg@10"] == 1.0


def test_positive_weight_balances_the_pairs_and_bad_values_are_refused():
    assert balance_weight({"positive_pairs": 760, "training_pairs": 2742}) == pytest.approx(1982 / 760)
    assert balance_weight({"positive_pairs": 0, "training_pairs": 5}) == 5.0  # no positive: no division by 0
    with pytest.raises(ConfigError, match="pos_weight must be > 0"):
        RerankerConfig(data="x", pos_weight=0)
    with pytest.raises(ConfigError, match=r"warmup_ratio must be in \[0, 1\)"):
        RerankerConfig(data="x", warmup_ratio=1.0)


def test_train_reranker_few_steps(tmp_path, tiny_model_path, tiny_cross_encoder):
    cfg = RerankerConfig(
        data=str(BEIR),
        output_dir=str(tmp_path / "rr"),
        model=tiny_model_path,
        first_stage_model=tiny_model_path,
        num_negatives=1,
        mining_margin=0,
        max_steps=3,
        batch_size=4,
        learning_rate=1e-3,
        max_length=64,
    )
    result = train_reranker(cfg)
    report = json.loads((tmp_path / "rr" / "report.json").read_text())
    assert set(report["metrics"]) == {"first_stage", "base_reranker", "tuned_reranker"}
    assert 0.0 <= report["metrics"]["tuned_reranker"]["ndcg@10"] <= 1.0
    assert report["meta"]["steps"] == 3
    pairs = report["meta"]["data"]
    assert report["meta"]["pos_weight"] == pytest.approx(
        (pairs["training_pairs"] - pairs["positive_pairs"]) / pairs["positive_pairs"]
    )
    assert report["meta"]["train_loss"] > 0
    assert "| tuned_reranker |" in (tmp_path / "rr" / "report.md").read_text()
    from sentence_transformers import CrossEncoder

    tuned = CrossEncoder(str(result.model_path)).state_dict()
    start = tiny_cross_encoder.state_dict()
    body = [k for k in start if "classifier" not in k and k in tuned and start[k].dtype.is_floating_point]
    assert body, "no shared weights to compare"
    assert any(not torch.equal(start[k], tuned[k]) for k in body)
    with pytest.raises(ConfigError, match="--overwrite"):
        train_reranker(cfg)


def test_train_reranker_cli_bad_input_exits_2(tmp_path):
    from typer.testing import CliRunner

    from mrlkit.cli.app import app

    result = CliRunner().invoke(app, ["train-reranker", "--data", str(tmp_path / "missing.jsonl")])
    assert result.exit_code == 2
    assert "missing.jsonl" in result.output
    result = CliRunner().invoke(app, ["train-reranker", "--data", str(BEIR), "--batch-size", "0"])
    assert result.exit_code == 2
    assert "batch_size must be > 0" in result.output


def test_search_cli_reranks_with_a_saved_cross_encoder(tmp_path, tiny_model_path, tiny_cross_encoder):
    from typer.testing import CliRunner

    from mrlkit.cli.app import app
    from mrlkit.search import Index, IndexConfig

    fixture = Path(__file__).parent / "fixtures" / "search"
    Index.build(tmp_path / "idx", fixture, model=tiny_model_path, config=IndexConfig(shortlist_dim=32))
    tiny_cross_encoder.save_pretrained(str(tmp_path / "ce"))
    query = "what causes a volcano to erupt"
    args = ["search", str(tmp_path / "idx"), query, "--json", "-k", "3", "--rerank", str(tmp_path / "ce")]
    result = CliRunner().invoke(app, [*args, "--rerank-top-n", "5"])
    assert result.exit_code == 0, result.output
    hits = [json.loads(line) for line in result.output.splitlines()]
    first = Index.open(tmp_path / "idx").search([query], k=5)[0]
    expected = Reranker(tiny_cross_encoder).score(query, [h.text for h in first])
    order = sorted(range(5), key=lambda i: -expected[i])[:3]
    assert [h["id"] for h in hits] == [first[i].id for i in order]


def test_negatives_from_an_mrlkit_index(tmp_path, tiny_model_path):
    from mrlkit.data import load_data
    from mrlkit.search import Index, IndexConfig
    from mrlkit.training.reranker import index_negatives

    Index.build(tmp_path / "idx", BEIR, model=tiny_model_path, config=IndexConfig(shortlist_dim=32))
    data = load_data(BEIR)
    mined = index_negatives(data, str(tmp_path / "idx"), num_negatives=2)
    rows = list(mined.train)
    assert rows and set(mined.train.column_names) == {"anchor", "positive", "negative"}
    pairs = {(r["anchor"], r["positive"]) for r in data.train}
    assert {(r["anchor"], r["positive"]) for r in rows} == pairs
    positives = {r["positive"] for r in data.train}
    for row in rows:
        same_anchor = {r["positive"] for r in data.train if r["anchor"] == row["anchor"]}
        assert row["negative"] not in same_anchor
    assert len(rows) <= 2 * len(pairs) and positives
