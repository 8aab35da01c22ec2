"""Loading BEIR folders for training and for evaluation."""

from __future__ import annotations

from pathlib import Path

from mrlkit.data import DataKind, IRSet, load_data, load_eval_set

FIXTURES = Path(__file__).parent / "fixtures" / "data"


def test_beir_without_dev_splits_train_queries() -> None:
    data = load_data(FIXTURES / "beir")
    assert data.kind == DataKind.BEIR
    assert data.train.column_names == ["anchor", "positive"]
    assert isinstance(data.eval, IRSet) and isinstance(data.test, IRSet)
    # 5 relevant train pairs (q1-doc7 has score 0) over 4 queries; >= 1 query held out for eval
    assert 1 <= len(data.eval) <= 3
    assert len(data.train) + sum(len(d) for d in data.eval.relevant.values()) == 5
    assert not set(data.eval.queries.values()) & set(data.train["anchor"])
    assert len(data.eval.corpus) == 8
    assert data.test.relevant == {"q4": {"doc4"}, "q5": {"doc5", "doc7"}}
    assert data.test.queries == {
        "q4": "How do plants make food?",
        "q5": "What is the boiling point of water?",
    }
    assert data.stats["test"] == {"queries": 2, "corpus": 8, "judgments": 3}


def test_beir_doc_text_is_title_plus_text() -> None:
    evaluation = load_eval_set(FIXTURES / "beir")
    assert evaluation.corpus["doc0"].startswith("Title 0 Place the egg")
    assert evaluation.corpus["doc1"] == "Paris is the capital and largest city of France."


def test_beir_with_dev_uses_it_for_eval() -> None:
    data = load_data(FIXTURES / "beir_dev")
    assert len(data.train) == 5
    assert data.eval.relevant == {"q4": {"doc4"}}
    assert data.stats["eval_source"] == "qrels/dev.tsv"
    assert len(data.test) == 2
    pairs = set(zip(data.train["anchor"], data.train["positive"], strict=True))
    assert (
        "How do I boil an egg?",
        "Title 6 Hamlet is a tragedy written by William Shakespeare around 1600.",
    ) in pairs


def test_beir_split_is_deterministic() -> None:
    first = load_data(FIXTURES / "beir", seed=3)
    second = load_data(FIXTURES / "beir", seed=3)
    assert first.eval.relevant == second.eval.relevant
    assert first.train["anchor"] == second.train["anchor"]


def test_load_eval_set_beir_split_needs_no_train(tmp_path: Path) -> None:
    import shutil

    root = tmp_path / "beir"
    shutil.copytree(FIXTURES / "beir", root)
    (root / "qrels" / "train.tsv").unlink()
    evaluation = load_eval_set(root, split="test")
    assert evaluation.relevant == {"q4": {"doc4"}, "q5": {"doc5", "doc7"}}
    assert set(evaluation.queries) == {"q4", "q5"}


def test_beir_max_rows() -> None:
    data = load_data(FIXTURES / "beir_dev", max_rows=2)
    assert len(data.train) == 2


def test_no_split_trains_on_every_pair() -> None:
    """``split=False`` (finetune with its own eval_data): no train query is held out, test qrels stay."""
    data = load_data(FIXTURES / "beir", split=False)
    assert len(data.train) == 5  # every relevant train pair
    assert data.eval is None
    assert isinstance(data.test, IRSet) and data.test.relevant == {"q4": {"doc4"}, "q5": {"doc5", "doc7"}}
    # a dev qrels file is not used either: the caller brings its own eval set
    with_dev = load_data(FIXTURES / "beir_dev", split=False)
    assert with_dev.eval is None and with_dev.stats["eval_source"] == "none (no split)"
