"""One call to score a model on an evaluation set at every dim."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from mrlkit.data.types import IRSet, STSSet
from mrlkit.errors import ConfigError
from mrlkit.evaluation.base import MatryoshkaEvaluator
from mrlkit.evaluation.ir import MatryoshkaIREvaluator
from mrlkit.evaluation.metrics import IR_MAIN_METRIC, STS_MAIN_METRIC
from mrlkit.evaluation.sparse import SparseIREvaluator
from mrlkit.evaluation.sts import MatryoshkaSTSEvaluator

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer


def build_evaluator(
    eval_set: IRSet | STSSet,
    dims: Sequence[int],
    *,
    name: str = "eval",
    batch_size: int = 32,
    show_progress_bar: bool = False,
    primary_dim: int | None = None,
    primary_metric: str | None = None,
    sparse: bool = False,
) -> MatryoshkaEvaluator:
    """Build the Matryoshka evaluator that fits ``eval_set`` (retrieval or similarity).

    Args:
        eval_set: An :class:`~mrlkit.data.types.IRSet` or :class:`~mrlkit.data.types.STSSet`.
        dims: Dims to score.
        name: Prefix of the keys returned when called by the trainer.
        batch_size: Encoding batch size.
        show_progress_bar: Show encoding progress bars.
        primary_dim: Dim used for model selection (default: 128 if evaluated, else the middle dim).
        primary_metric: Metric used for model selection (default: ndcg@10 for retrieval, spearman for STS).
        sparse: The model is a ``SparseEncoder``: dims are caps on active dims, and rows gain sparsity
            (:class:`~mrlkit.evaluation.sparse.SparseIREvaluator`; retrieval sets only).

    Returns:
        A :class:`MatryoshkaIREvaluator` or :class:`MatryoshkaSTSEvaluator` with its default main metric.

    Raises:
        ConfigError: If ``eval_set`` is neither an ``IRSet`` nor an ``STSSet``, or is an ``STSSet`` for a
            sparse model.

    """
    evaluator_cls: type[MatryoshkaIREvaluator] | type[MatryoshkaSTSEvaluator]
    if sparse and not isinstance(eval_set, IRSet):
        raise ConfigError(
            "sparse models are scored on retrieval sets (queries, corpus, qrels); pass --test-data and "
            "--eval-data as a BEIR folder or pairs/triplets (a scored-pairs set cannot score them yet)"
        )
    if sparse:
        evaluator_cls, default_metric = SparseIREvaluator, IR_MAIN_METRIC
    elif isinstance(eval_set, IRSet):
        evaluator_cls, default_metric = MatryoshkaIREvaluator, IR_MAIN_METRIC
    elif isinstance(eval_set, STSSet):
        evaluator_cls, default_metric = MatryoshkaSTSEvaluator, STS_MAIN_METRIC
    else:
        raise ConfigError(f"cannot evaluate a {type(eval_set).__name__}; pass an IRSet or an STSSet")
    return evaluator_cls(
        eval_set,  # type: ignore[arg-type]  # matched to the class just above
        dims,
        name=name,
        batch_size=batch_size,
        show_progress_bar=show_progress_bar,
        primary_dim=primary_dim,
        primary_metric=default_metric if primary_metric is None else primary_metric,
    )


def evaluate_model(
    model: SentenceTransformer,
    eval_set: IRSet | STSSet,
    dims: Sequence[int],
    *,
    batch_size: int = 32,
    show_progress_bar: bool = True,
    sparse: bool = False,
) -> dict[int, dict[str, float]]:
    """Score ``model`` on ``eval_set`` at every dim.

    Args:
        model: The model to evaluate.
        eval_set: An :class:`~mrlkit.data.types.IRSet` or :class:`~mrlkit.data.types.STSSet`.
        dims: Dims to score; none may exceed the model's dimension.
        batch_size: Encoding batch size.
        show_progress_bar: Show encoding progress bars.
        sparse: The model is a ``SparseEncoder`` (see :func:`build_evaluator`).

    Returns:
        ``{dim: {metric: value}}``, dims largest first; metric names as in
        :data:`mrlkit.evaluation.metrics.IR_METRICS` or :data:`~mrlkit.evaluation.metrics.STS_METRICS`.

    """
    evaluator = build_evaluator(
        eval_set, dims, batch_size=batch_size, show_progress_bar=show_progress_bar, sparse=sparse
    )
    return evaluator.evaluate_dims(model)
