"""Reranking with a CrossEncoder and `train-reranker` on the tiny random BERT (a few steps)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from mrlkit.errors import ConfigError
from mrlkit.search.index import Hit
from mrlkit.search.rerank import SETTINGS_FILE, Reranker, mix_scores
from mrlkit.training.reranker import (
    RerankerConfig,
    _metrics_table,
    balance_weight,
    labelled_pairs,
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


def _sample(qid, docs, first, relevant):
    return {
        "qid": qid,
        "query": qid,
        "doc_ids": docs,
        "documents": docs,
        "first_scores": first,
        "relevant": dict.fromkeys(relevant, 1),
    }


def test_metrics_table_rows_by_hand():
    """First stage ranks the positive 3rd and misses a second one; the reranker puts the found one 1st."""
    samples = [_sample("q", ["n1", "n2", "pos", "n3"], [0.9, 0.8, 0.7, 0.6], ["pos", "missed"])]
    reranked = [np.array([0.0, 0.0, 5.0, 0.0])]
    table = _metrics_table(samples, None, reranked, weight=1.0)
    idcg = 1 + 1 / np.log2(3)  # two relevant documents: the missed one stays in the ideal ranking
    assert table["first_stage"]["ndcg@10"] == pytest.approx((1 / np.log2(4)) / idcg, abs=1e-6)
    assert table["first_stage"]["mrr@10"] == pytest.approx(1 / 3, abs=1e-6)
    assert table["tuned_reranker"] == {"ndcg@10": pytest.approx(1 / idcg, abs=1e-6), "mrr@10": 1.0}
    assert "base_reranker" not in table  # not scored (--no-evaluate-base)
    assert table["tuned_reranker_mixed"]["weight"] == 1.0
    assert table["tuned_reranker_mixed"]["ndcg@10"] == table["tuned_reranker"]["ndcg@10"]


def test_ranking_metrics_match_trec_eval():
    pytrec_eval = pytest.importorskip("pytrec_eval")
    from mrlkit.evaluation.rerank import ranking_metrics

    rng = np.random.default_rng(0)
    samples, scores, run, qrels = [], [], {}, {}
    for q in range(6):
        docs = [f"d{q}_{i}" for i in range(15)]
        relevant = list(rng.choice(docs + ["missed"], size=3, replace=False))
        s = rng.normal(size=15)
        samples.append(_sample(f"q{q}", docs, list(rng.normal(size=15)), relevant))
        scores.append(s)
        run[f"q{q}"] = {d: float(v) for d, v in zip(docs, s, strict=True)}
        qrels[f"q{q}"] = dict.fromkeys(relevant, 1)
    got = ranking_metrics(samples, scores)
    ref = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut.10", "recip_rank"}).evaluate(run)
    assert got["ndcg@10"] == pytest.approx(np.mean([m["ndcg_cut_10"] for m in ref.values()]), abs=1e-6)
    # trec_eval's recip_rank has no cut; the first relevant document of each run is in its top 10 here
    first_ranks = [
        next(i for i, d in enumerate(sorted(run[q], key=lambda d: -run[q][d]), 1) if d in qrels[q])
        for q in run
    ]
    if max(first_ranks) <= 10:
        assert got["mrr@10"] == pytest.approx(np.mean([m["recip_rank"] for m in ref.values()]), abs=1e-6)
    else:
        assert got["mrr@10"] == pytest.approx(np.mean([1 / r if r <= 10 else 0 for r in first_ranks]))


def test_mix_scores_by_hand():
    cross, first = [2.0, 0.0, 1.0], [0.5, 0.9, 0.1]
    assert list(mix_scores(cross, first, 1.0)) == cross  # the reranker alone keeps its raw scores
    z = lambda x: (np.array(x) - np.mean(x)) / np.std(x)  # noqa: E731
    assert np.allclose(mix_scores(cross, first, 0.3), 0.3 * z(cross) + 0.7 * z(first))
    assert list(np.argsort(-mix_scores(cross, first, 0.0))) == [1, 0, 2]  # weight 0: the first stage's order
    assert list(mix_scores([1.0], [3.0], 0.5)) == [0.0]  # one hit: no spread, no NaN


def test_tune_weight_picks_the_best_and_keeps_the_larger_on_ties():
    from mrlkit.evaluation.rerank import WEIGHTS, tune_weight

    # the first stage has the positive 1st; the reranker puts it last: only small weights keep it 1st
    samples = [_sample("q", ["pos", "a", "b"], [0.9, 0.5, 0.1], ["pos"])]
    weight, grid = tune_weight(samples, [np.array([0.0, 2.0, 1.0])])
    assert [row["weight"] for row in grid] == list(WEIGHTS) and len(grid) == 11
    best = max(row["ndcg@10"] for row in grid)
    assert weight == max(row["weight"] for row in grid if row["ndcg@10"] == best) and 0 < weight < 1
    weight, _ = tune_weight(samples, [np.array([3.0, 2.0, 1.0])])  # both agree: every weight ties
    assert weight == 1.0


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
    rows = report["metrics"]
    assert set(rows) == {"first_stage", "base_reranker", "tuned_reranker", "tuned_reranker_mixed"}
    assert 0.0 <= rows["tuned_reranker"]["ndcg@10"] <= 1.0
    tuned = report["meta"]["rerank_weight"]
    assert len(tuned["dev_grid"]) == 11 and "dev split, 2 queries" in tuned["tuned_on"]
    best = max(row["ndcg@10"] for row in tuned["dev_grid"])
    assert tuned["weight"] == max(r["weight"] for r in tuned["dev_grid"] if r["ndcg@10"] == best)
    assert rows["tuned_reranker_mixed"]["weight"] == tuned["weight"]
    stored = json.loads((result.model_path / SETTINGS_FILE).read_text())
    assert stored["weight"] == tuned["weight"] and Reranker(str(result.model_path)).weight == tuned["weight"]
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


def test_rerank_mixes_logits_with_first_stage_scores(tiny_cross_encoder):
    texts = ["cats purr", "dogs bark", "tax law", "volcanoes erupt"]
    hits = [
        Hit(f"d{i}", score, i + 1, t)
        for i, (score, t) in enumerate(zip([0.9, 0.7, 0.6, 0.2], texts, strict=True))
    ]
    reranker = Reranker(tiny_cross_encoder, weight=0.4)
    logits = np.array(reranker.score("cat sounds", texts, raw=True))
    probs = np.array(reranker.score("cat sounds", texts))
    assert np.allclose(probs, 1 / (1 + np.exp(-logits)), atol=1e-5)  # raw: before the sigmoid
    [out] = reranker.rerank(["cat sounds"], [hits], top_n=4)
    z = lambda x: (x - x.mean()) / x.std()  # noqa: E731
    expected = 0.4 * z(logits) + 0.6 * z(np.array([0.9, 0.7, 0.6, 0.2]))
    order = np.argsort(-expected, kind="stable")
    assert [h.id for h in out] == [f"d{i}" for i in order]
    assert [h.score for h in out] == pytest.approx(list(expected[order]), abs=1e-5)
    [first] = Reranker(tiny_cross_encoder, weight=0.0).rerank(["cat sounds"], [hits])
    assert [h.id for h in first] == ["d0", "d1", "d2", "d3"]  # weight 0: the first stage's order


def test_stored_weight_is_read_and_bad_weights_are_refused(tmp_path, tiny_cross_encoder):
    folder = tmp_path / "ce"
    tiny_cross_encoder.save_pretrained(str(folder))
    assert Reranker(str(folder)).weight == 1.0  # nothing stored: the reranker alone
    (folder / SETTINGS_FILE).write_text(json.dumps({"weight": 0.3}))
    assert Reranker(str(folder)).weight == 0.3
    assert Reranker(str(folder), weight=0.8).weight == 0.8  # an explicit weight wins
    with pytest.raises(ConfigError, match=r"rerank weight must be in \[0, 1\].*1.5"):
        Reranker(tiny_cross_encoder, weight=1.5)
    (folder / SETTINGS_FILE).write_text("{not json")
    with pytest.raises(ConfigError, match=f"{SETTINGS_FILE}: unreadable reranker settings"):
        Reranker(str(folder))
    from mrlkit.serving.config import ServeConfig

    with pytest.raises(ConfigError, match="rerank weight must be in"):
        ServeConfig(index="x", rerank_weight=-0.1)


def test_search_cli_rerank_weight(tmp_path, tiny_model_path, tiny_cross_encoder):
    from typer.testing import CliRunner

    from mrlkit.cli.app import app
    from mrlkit.search import Index, IndexConfig

    fixture = Path(__file__).parent / "fixtures" / "search"
    Index.build(tmp_path / "idx", fixture, model=tiny_model_path, config=IndexConfig(shortlist_dim=32))
    tiny_cross_encoder.save_pretrained(str(tmp_path / "ce"))
    query = "what causes a volcano to erupt"
    args = ["search", str(tmp_path / "idx"), query, "--json", "-k", "4", "--rerank", str(tmp_path / "ce")]
    result = CliRunner().invoke(app, [*args, "--rerank-top-n", "6", "--rerank-weight", "0"])
    assert result.exit_code == 0, result.output
    first = Index.open(tmp_path / "idx").search([query], k=4)[0]
    assert [json.loads(line)["id"] for line in result.output.splitlines()] == [h.id for h in first]
    result = CliRunner().invoke(app, [*args, "--rerank-weight", "2"])
    assert result.exit_code == 2 and "rerank weight must be in [0, 1]" in result.output
