"""MatryoshkaSTSEvaluator gives EmbeddingSimilarityEvaluator(truncate_dim=d)'s numbers at every dim."""

from __future__ import annotations

import pytest

from mrlkit.data.types import STSSet
from mrlkit.errors import DataError
from mrlkit.evaluation import MatryoshkaSTSEvaluator, build_evaluator, evaluate_model

DIMS = (384, 128, 32, 8)

PAIRS = [
    ("A man is playing a guitar.", "A person plays an acoustic guitar.", 0.92),
    ("A woman is slicing an onion.", "Someone is cutting an onion.", 0.88),
    ("The cat sleeps on the sofa.", "A kitten is napping on the couch.", 0.85),
    ("Two dogs run across the field.", "Dogs are running on the grass.", 0.80),
    ("The stock market fell today.", "Share prices dropped sharply.", 0.75),
    ("A child is riding a bicycle.", "A boy is cycling down the street.", 0.70),
    ("He is reading a newspaper.", "A man reads a book in the park.", 0.45),
    ("The train arrives at noon.", "The bus leaves in the morning.", 0.30),
    ("She is cooking pasta.", "A woman is playing tennis.", 0.10),
    ("The sun is shining brightly.", "Quantum computers use qubits.", 0.02),
    ("A plane is taking off.", "An airplane departs from the runway.", 0.90),
    ("The baby is crying loudly.", "The stock exchange opened late.", 0.05),
]


@pytest.fixture(scope="module")
def sts_set() -> STSSet:
    s1, s2, scores = (list(column) for column in zip(*PAIRS, strict=True))
    return STSSet(sentences1=s1, sentences2=s2, scores=scores, name="toy-sts")


@pytest.fixture(scope="module")
def results(minilm, sts_set) -> dict[int, dict[str, float]]:
    return MatryoshkaSTSEvaluator(sts_set, DIMS, batch_size=16).evaluate_dims(minilm)


@pytest.mark.parametrize("dim", DIMS)
def test_matches_embedding_similarity_evaluator(minilm, sts_set, results, dim):
    from sentence_transformers.sentence_transformer.evaluation import EmbeddingSimilarityEvaluator

    direct = EmbeddingSimilarityEvaluator(
        sts_set.sentences1,
        sts_set.sentences2,
        sts_set.scores,
        batch_size=16,
        truncate_dim=dim,
        write_csv=False,
    )(minilm)
    assert results[dim] == {
        "spearman": pytest.approx(direct["spearman_cosine"], abs=1e-9),
        "pearson": pytest.approx(direct["pearson_cosine"], abs=1e-9),
    }
    assert list(results[dim]) == ["spearman", "pearson"]
    assert -1.0 <= results[dim]["spearman"] <= 1.0  # a correlation, not multiplied by 100


def test_call_keys_and_best_model_metric(minilm, sts_set, results):
    evaluator = MatryoshkaSTSEvaluator(sts_set, DIMS, name="sts-dev", batch_size=16)
    metrics = evaluator(minilm)
    assert set(metrics) == {f"sts-dev_dim{d}_{m}" for d in DIMS for m in ("spearman", "pearson")}
    assert metrics["sts-dev_dim8_pearson"] == pytest.approx(results[8]["pearson"])
    assert evaluator.primary_metric == "sts-dev_dim128_spearman"
    assert evaluator.best_model_metric == "eval_sts-dev_dim128_spearman"


def test_evaluate_model_dispatches_on_the_set_type(minilm, sts_set, results):
    assert isinstance(build_evaluator(sts_set, DIMS), MatryoshkaSTSEvaluator)
    got = evaluate_model(minilm, sts_set, [32, 384], batch_size=16, show_progress_bar=False)
    assert list(got) == [384, 32]
    assert got[32]["spearman"] == pytest.approx(results[32]["spearman"], abs=1e-9)


def test_bad_sets_are_rejected():
    with pytest.raises(DataError, match="has 2 first sentences, 1 second sentences and 2 scores"):
        MatryoshkaSTSEvaluator(STSSet(["a", "b"], ["c"], [0.1, 0.2]), DIMS)
    with pytest.raises(DataError, match="a correlation needs at least 2"):
        MatryoshkaSTSEvaluator(STSSet(["a"], ["b"], [0.5]), DIMS)
