"""Distil a cross-encoder into a sparse model: teacher scores as MarginMSE labels.

With ``teacher`` set, every training row (query, positive, negative(s)) gets the cross-encoder's raw
scores ``[s(q, pos), s(q, neg_1), ...]`` as its label, and the sparse model learns the margins
``s(q, pos) - s(q, neg_i)`` with sentence-transformers' ``SparseMarginMSELoss`` inside ``SpladeLoss`` or
``CSRLoss`` (Hofstätter et al., 2020; the way the strongest SPLADE models are trained). The teacher
can be any ``CrossEncoder``, e.g. the one ``mrlkit train-reranker`` writes.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from mrlkit.data.types import negative_columns
from mrlkit.errors import DataError

if TYPE_CHECKING:
    from mrlkit.data.types import TrainingData


def add_teacher_scores(
    data: TrainingData, teacher: str, *, batch_size: int = 32, source: str = ""
) -> TrainingData:
    """Label each (anchor, positive, negative...) row with the teacher's raw scores.

    Raises:
        DataError: The rows have no negatives to score a margin against.
    """
    import torch

    from mrlkit.search.rerank import Reranker

    train = data.train
    negatives = negative_columns(train.column_names)
    if not negatives or "anchor" not in train.column_names or "positive" not in train.column_names:
        raise DataError(
            f"teacher needs (query, positive, negative) rows, got columns {train.column_names}",
            path=source or None,
            fix="Add --hard-negatives N to mine negatives, or give triplets",
        )
    columns = ["positive", *negatives]
    pairs = [(row["anchor"], row[c]) for row in train for c in columns]
    model = Reranker(teacher, batch_size=batch_size).model
    scores = model.predict(  # raw logits: a sigmoid would squash the margins the student learns
        pairs, batch_size=batch_size, activation_fn=torch.nn.Identity(), show_progress_bar=True
    )
    width = len(columns)
    labels = [[float(s) for s in scores[i : i + width]] for i in range(0, len(pairs), width)]
    labelled = train.remove_columns([c for c in ("label", "score") if c in train.column_names])
    labelled = labelled.add_column("label", labels)
    margins = [row[0] - s for row in labels for s in row[1:]]
    stats = dict(data.stats)
    stats["teacher"] = {
        "model": teacher,
        "pairs_scored": len(pairs),
        "mean_margin": round(sum(margins) / len(margins), 4),
        "negatives_above_positive": sum(m < 0 for m in margins),
    }
    return dataclasses.replace(data, train=labelled, stats=stats)
