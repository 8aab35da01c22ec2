"""MatryoshkaIREvaluator against trec_eval and against sentence-transformers' own evaluator, per dim."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mrlkit.data.types import IRSet
from mrlkit.errors import ConfigError, DataError
from mrlkit.evaluation import IR_METRICS, MatryoshkaIREvaluator, evaluate_model
from mrlkit.evaluation.base import scoring_similarity

DIMS = (384, 128, 32, 8)

QUERIES = {
    "q1": "How do I reset my router password?",
    "q2": "Which foods are rich in vitamin C?",
    "q3": "When did the Berlin Wall fall?",
    "q4": "How to bake sourdough bread at home",
    "q5": "What are the symptoms of dehydration?",
    "q6": "Best way to learn Python programming",
    "q7": "A query without any judged document is skipped",
}
CORPUS = {
    "d01": "Hold the reset button on the back of the router for ten seconds to restore the default password.",
    "d02": "The default admin password of most home routers is printed on a sticker underneath the device.",
    "d03": "Updating your router firmware fixes security holes and can improve Wi-Fi speed.",
    "d04": "A mesh network uses several access points to cover a large house with Wi-Fi.",
    "d05": "Oranges, lemons and grapefruit are classic sources of vitamin C.",
    "d06": "Red peppers and broccoli contain even more vitamin C per gram than oranges.",
    "d07": "One kiwi fruit provides roughly the daily requirement of ascorbic acid.",
    "d08": "Vitamin D is produced in the skin when it is exposed to sunlight.",
    "d09": "Iron from spinach is absorbed better when eaten together with citrus fruit.",
    "d10": "The Berlin Wall was opened on 9 November 1989, after weeks of mass protests in East Germany.",
    "d11": "Berlin is the capital of Germany and famous for its museums and nightlife.",
    "d12": "The Great Wall of China stretches for thousands of kilometres across northern China.",
    "d13": "Mix flour, water and a sourdough starter, let the dough rise overnight, then bake it hot.",
    "d14": "A sourdough starter is a fermented mixture of flour and water that leavens bread naturally.",
    "d15": "Bread machines knead, proof and bake a loaf automatically.",
    "d16": "Sour cream is used in many Eastern European soups and sauces.",
    "d17": "Baking soda reacts with acids to make cakes rise quickly.",
    "d18": "Thirst, dark urine, dizziness and a dry mouth are common signs of dehydration.",
    "d19": "Severe fluid loss can cause confusion, a rapid heartbeat and fainting.",
    "d20": "Dehydrated fruit is a lightweight snack for hiking trips.",
    "d21": "Drinking water before meals may help with weight control.",
    "d22": "Beginners learn Python fastest by writing small programs daily and reading other people's code.",
    "d23": "Free interactive courses and the official tutorial are good places to start learning Python.",
    "d24": "Practising coding exercises helps newcomers master programming concepts.",
    "d25": "Pythons are large non-venomous snakes that kill their prey by constriction.",
    "d26": "JavaScript runs in every web browser and powers interactive websites.",
    "d27": "Learning a foreign language takes consistent daily practice.",
    "d28": "The stock market fell sharply after the central bank raised interest rates.",
    "d29": "Tennis players use a racket to hit a ball over the net.",
    "d30": "A router forwards data packets between computer networks.",
}
RELEVANT = {
    "q1": {"d01", "d02"},
    "q2": {"d05", "d06", "d07"},
    "q3": {"d10"},
    "q4": {"d13", "d14"},
    "q5": {"d18", "d19"},
    "q6": {"d22", "d23", "d24"},
}

# trec_eval measure (as pytrec_eval names it) behind each mrlkit metric. MRR@10 is trec_eval's
# recip_rank on the run cut to its top 10 (see _reference). MAP@100: sentence-transformers divides by
# min(100, |relevant|) and trec_eval's map_cut.100 by |relevant|; these agree here as no query has more
# than 100 relevant documents.
TREC_MEASURES = {
    "ndcg@10": "ndcg_cut_10",
    "map@100": "map_cut_100",
    **{f"recall@{k}": f"recall_{k}" for k in (1, 5, 10, 20, 50, 100)},
    **{f"precision@{k}": f"P_{k}" for k in (1, 5, 10)},
    "accuracy@1": "success_1",
    "accuracy@10": "success_10",
}


@pytest.fixture(scope="module")
def ir_set() -> IRSet:
    return IRSet(queries=QUERIES, corpus=CORPUS, relevant=RELEVANT, name="toy")


@pytest.fixture(scope="module")
def results(minilm, ir_set) -> dict[int, dict[str, float]]:
    return MatryoshkaIREvaluator(ir_set, DIMS).evaluate_dims(minilm)


def _mean(per_query: dict[str, dict[str, float]], measure: str) -> float:
    return float(np.mean([values[measure] for values in per_query.values()]))


def _reference(model, ir: IRSet, dim: int) -> dict[str, float]:
    """Rank the corpus with plain torch cosine similarity and score the run with trec_eval."""
    pytrec_eval = pytest.importorskip("pytrec_eval")  # only this cross-check needs it (mrlkit[dev])
    qids = [qid for qid in ir.queries if ir.relevant.get(qid)]
    doc_ids = list(ir.corpus)
    queries = model.encode([ir.queries[qid] for qid in qids], convert_to_tensor=True)[:, :dim]
    docs = model.encode([ir.corpus[doc_id] for doc_id in doc_ids], convert_to_tensor=True)[:, :dim]
    scores = F.normalize(queries, dim=-1) @ F.normalize(docs, dim=-1).T
    values, indices = torch.topk(scores, k=min(100, len(doc_ids)), dim=1)
    run = {
        qid: {doc_ids[i]: float(s) for s, i in zip(values[row].tolist(), indices[row].tolist(), strict=True)}
        for row, qid in enumerate(qids)
    }
    for qid, ranking in run.items():  # no ties, so the tie-breaking conventions of the two tools don't matter
        assert len(set(ranking.values())) == len(ranking), qid
    qrels = {qid: dict.fromkeys(ir.relevant[qid], 1) for qid in qids}
    measures = {"ndcg_cut.10", "map_cut.100", "recall.1,5,10,20,50,100", "P.1,5,10", "success.1,10"}
    full = pytrec_eval.RelevanceEvaluator(qrels, measures).evaluate(run)
    top10 = {qid: dict(list(ranking.items())[:10]) for qid, ranking in run.items()}  # topk is sorted
    mrr = pytrec_eval.RelevanceEvaluator(qrels, {"recip_rank"}).evaluate(top10)
    reference = {metric: _mean(full, measure) for metric, measure in TREC_MEASURES.items()}
    reference["mrr@10"] = _mean(mrr, "recip_rank")
    return reference


def test_metric_names_and_dims(results):
    assert list(results) == list(DIMS)
    for row in results.values():
        assert tuple(row) == IR_METRICS
    assert IR_METRICS == (
        "ndcg@10",
        "mrr@10",
        "map@100",
        "recall@1",
        "recall@5",
        "recall@10",
        "recall@20",
        "recall@50",
        "recall@100",
        "precision@1",
        "precision@5",
        "precision@10",
        "accuracy@1",
        "accuracy@10",
    )


@pytest.mark.parametrize("dim", DIMS)
def test_matches_trec_eval(minilm, ir_set, results, dim):
    reference = _reference(minilm, ir_set, dim)
    assert set(reference) == set(IR_METRICS)
    for metric in IR_METRICS:
        assert results[dim][metric] == pytest.approx(reference[metric], abs=1e-6), metric


def test_cross_check_is_not_trivial(results):
    # The smallest dim must make mistakes, or the comparison above would only check perfect rankings.
    assert results[8]["ndcg@10"] < results[384]["ndcg@10"] <= 1.0
    assert results[8]["map@100"] < 1.0


@pytest.mark.parametrize("dim", DIMS)
def test_encode_once_matches_sentence_transformers_evaluator(minilm, ir_set, results, dim):
    from sentence_transformers.sentence_transformer.evaluation import InformationRetrievalEvaluator

    direct = InformationRetrievalEvaluator(
        queries=ir_set.queries,
        corpus=ir_set.corpus,
        relevant_docs=ir_set.relevant,
        mrr_at_k=[10],
        ndcg_at_k=[10],
        accuracy_at_k=[1, 10],
        precision_recall_at_k=[1, 5, 10, 20, 50, 100],
        map_at_k=[100],
        truncate_dim=dim,
        write_csv=False,
    )(minilm)
    for metric in IR_METRICS:
        assert results[dim][metric] == pytest.approx(direct[f"cosine_{metric}"], abs=1e-9), metric


def test_call_keys_and_primary_metric(minilm, ir_set, results, tmp_path):
    evaluator = MatryoshkaIREvaluator(ir_set, DIMS, name="eval")
    metrics = evaluator(minilm, output_path=str(tmp_path), epoch=1, steps=10)
    assert set(metrics) == {f"eval_dim{d}_{m}" for d in DIMS for m in IR_METRICS}
    assert metrics["eval_dim32_recall@10"] == pytest.approx(results[32]["recall@10"])
    assert evaluator.primary_metric == "eval_dim128_ndcg@10"
    assert evaluator.best_model_metric == "eval_dim128_ndcg@10"
    assert (tmp_path / evaluator.csv_file).read_text().startswith("epoch,steps,eval_dim384_ndcg@10")


@pytest.mark.parametrize(
    ("name", "primary", "best"),
    [
        ("eval", "eval_dim128_ndcg@10", "eval_dim128_ndcg@10"),
        ("dev", "dev_dim128_ndcg@10", "eval_dev_dim128_ndcg@10"),
        ("", "dim128_ndcg@10", "eval_dim128_ndcg@10"),
    ],
)
def test_best_model_metric_follows_trainer_prefix(ir_set, name, primary, best):
    evaluator = MatryoshkaIREvaluator(ir_set, DIMS, name=name)
    assert evaluator.primary_metric == primary
    assert evaluator.best_model_metric == best


def test_primary_dim_and_metric_choice(ir_set):
    assert MatryoshkaIREvaluator(ir_set, [384, 64, 32]).primary_dim == 64  # middle dim without 128
    assert MatryoshkaIREvaluator(ir_set, [384, 256, 64, 32]).primary_dim == 64  # lower middle
    evaluator = MatryoshkaIREvaluator(ir_set, DIMS, primary_dim=32, primary_metric="recall@10", name="dev")
    assert evaluator.best_model_metric == "eval_dev_dim32_recall@10"


def test_trainer_reads_best_model_metric(tiny_model_path, ir_set, tmp_path):
    from sentence_transformers import (
        SentenceTransformer,
        SentenceTransformerTrainer,
        SentenceTransformerTrainingArguments,
    )

    model = SentenceTransformer(tiny_model_path, device="cpu")
    evaluator = MatryoshkaIREvaluator(ir_set, [64, 16], name="dev")
    args = SentenceTransformerTrainingArguments(output_dir=str(tmp_path), report_to="none", use_cpu=True)
    trainer = SentenceTransformerTrainer(model=model, args=args, evaluator=evaluator)
    logged = trainer.evaluate()
    assert evaluator.best_model_metric in logged
    assert evaluator.best_model_metric == "eval_dev_dim16_ndcg@10"


def test_validation_errors(minilm, ir_set):
    with pytest.raises(ConfigError, match="dims is empty"):
        MatryoshkaIREvaluator(ir_set, [])
    with pytest.raises(ConfigError, match=r"dim 0 is not a positive integer"):
        MatryoshkaIREvaluator(ir_set, [384, 0])
    with pytest.raises(ConfigError, match=r"primary_dim 100 is not among the evaluated dims"):
        MatryoshkaIREvaluator(ir_set, DIMS, primary_dim=100)
    with pytest.raises(ConfigError, match=r"primary_metric 'ndcg@5' is not reported"):
        MatryoshkaIREvaluator(ir_set, DIMS, primary_metric="ndcg@5")
    with pytest.raises(DataError, match="has no query with a relevant document"):
        MatryoshkaIREvaluator(IRSet(QUERIES, CORPUS, {"x": {"d01"}}), DIMS)
    with pytest.raises(ConfigError, match=r"dims \[512\] exceed the model's embedding dimension 384"):
        evaluate_model(minilm, ir_set, [512, 128], show_progress_bar=False)


def test_dot_models_are_scored_with_cosine():
    assert scoring_similarity(SimpleNamespace(similarity_fn_name="dot")) == "cosine"
    assert scoring_similarity(SimpleNamespace(similarity_fn_name="cosine")) == "cosine"
    assert scoring_similarity(SimpleNamespace(similarity_fn_name="euclidean")) == "euclidean"
