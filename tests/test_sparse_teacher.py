"""Distilling a cross-encoder into sparse models (``--teacher``): labels, loss, bad input."""

from __future__ import annotations

import pytest
import torch
from conftest import FIXTURES

from mrlkit import FinetuneConfig, finetune
from mrlkit.data import load_data
from mrlkit.data.accounting import summary_lines
from mrlkit.data.types import negative_columns
from mrlkit.errors import ConfigError, DataError
from mrlkit.training.teacher import add_teacher_scores

PAIRS = str(FIXTURES / "data" / "pairs.jsonl")
TRIPLETS = FIXTURES / "data" / "triplets.csv"


@pytest.fixture(scope="module")
def teacher_path(tmp_path_factory, tiny_model_path) -> str:
    """A tiny random cross-encoder, saved like the one ``train-reranker`` writes."""
    from sentence_transformers import CrossEncoder

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("teacher") / "model"
    CrossEncoder(tiny_model_path, num_labels=1, max_length=64).save(str(path))
    return str(path)


def _config(tmp_path, **kw) -> FinetuneConfig:
    settings = {
        "data": PAIRS,
        "output_dir": str(tmp_path / "out"),
        "epochs": 1,
        "batch_size": 8,
        "eval_batch_size": 16,
        "logging_steps": 1,
        "learning_rate": 1e-3,
    }
    settings.update(kw)
    return FinetuneConfig.load(None, **settings)


def test_labels_are_the_teachers_raw_scores(teacher_path):
    from sentence_transformers import CrossEncoder

    data = load_data(TRIPLETS, split=False)
    labelled = add_teacher_scores(data, teacher_path, batch_size=4)
    reference = CrossEncoder(teacher_path)
    rows = data.train.to_list()
    expected = reference.predict(
        [(r["anchor"], r[c]) for r in rows for c in ("positive", "negative")],
        activation_fn=torch.nn.Identity(),  # logits, not the sigmoid predict applies by default
    )
    got = [x for label in labelled.train["label"] for x in label]
    assert got == pytest.approx([float(x) for x in expected], abs=1e-5)
    assert labelled.train.column_names == [*data.train.column_names, "label"]
    stats = labelled.stats["teacher"]
    assert stats["pairs_scored"] == 2 * len(rows)
    margins = [a - b for a, b in labelled.train["label"]]
    assert stats["mean_margin"] == pytest.approx(sum(margins) / len(margins), abs=1e-4)
    assert stats["negatives_above_positive"] == sum(m < 0 for m in margins)


def test_n_tuple_rows_get_one_score_per_text():
    from datasets import Dataset

    rows = Dataset.from_dict(
        {
            "anchor": ["q"],
            "positive": ["p"],
            "negative_2": ["n2"],
            "negative_10": ["n10"],
            "negative_1": ["n1"],
        }
    )
    assert negative_columns(rows.column_names) == ["negative_1", "negative_2", "negative_10"]
    assert negative_columns(Dataset.from_dict({"anchor": ["q"], "positive": ["p"]}).column_names) == []


def test_pairs_without_negatives_are_refused_before_anything_is_written(
    tmp_path, teacher_path, tiny_model_path
):
    config = _config(
        tmp_path, model=tiny_model_path, model_type="csr", csr_k=8, csr_k_aux=16, teacher=teacher_path
    )
    with pytest.raises(
        DataError, match=r"pairs.jsonl: teacher needs \(query, positive, negative\) rows.*--hard-negatives"
    ):
        finetune(config)
    assert not (tmp_path / "out" / "model").exists()


def test_teacher_is_for_sparse_models_and_replaces_the_loss(tmp_path, teacher_path):
    with pytest.raises(ConfigError, match="not a dense one"):
        _config(tmp_path, teacher=teacher_path)
    with pytest.raises(ConfigError, match="replaces loss 'cosent'"):
        _config(tmp_path, model_type="csr", loss="cosent", teacher=teacher_path)
    with pytest.raises(ConfigError, match="teacher is empty"):
        _config(tmp_path, model_type="csr", teacher=" ")


@pytest.mark.slow  # a short CSR run on the tiny BERT, with mining and teacher scoring
def test_csr_learns_the_teachers_margins(tmp_path, teacher_path, tiny_model_path):
    result = finetune(
        _config(
            tmp_path,
            model=tiny_model_path,
            model_type="csr",
            csr_k=8,
            csr_k_aux=16,
            teacher=teacher_path,
            hard_negatives=1,
            hard_negatives_range=[1, 8],
            evaluate_base=False,
        )
    )
    meta = result.report.meta
    assert meta["loss"] == "CSRLoss(SparseMarginMSELoss)"
    assert meta["teacher"]["model"] == teacher_path
    assert meta["teacher"]["pairs_scored"] == 2 * meta["train_rows"]  # one positive, one mined negative
    assert result.train_metrics["train_loss"] > 0
    assert any(
        line.startswith(f"teacher {teacher_path} scored ") for line in summary_lines(meta["data_accounting"])
    )
