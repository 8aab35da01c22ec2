"""The data steps of :func:`~mrlkit.training.finetune.finetune`: load, pick the test set, mine, account.

Which set does what: the dev set (``eval_data``, dev qrels, or a held-out share of the anchors) picks
the best checkpoint and the adaptor's best epoch; the test set (``test_data``, test qrels, or another
held-out share) is what the report scores. Only when there is no test set does the report score the
dev set, and then it says so (``scored_on_selection_set``).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from mrlkit.data import load_data, load_eval_set, mine_negatives
from mrlkit.data.accounting import data_accounting, text_cells, truncation_stats
from mrlkit.data.types import DataKind, EvalSet, IRSet, STSSet, TrainingData
from mrlkit.errors import DataError
from mrlkit.evaluation import build_evaluator

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

    from mrlkit.config import FinetuneConfig
    from mrlkit.evaluation.base import MatryoshkaEvaluator

logger = logging.getLogger(__name__)


def load_training_data(config: FinetuneConfig) -> TrainingData:
    """Load ``config.data`` split as the config asks, with ``eval_data`` and ``max_train_rows`` applied.

    A single file is split three ways (train / dev / test) unless ``test_data`` is given (then two:
    train / dev) or ``eval_data`` is given (then not at all: every row trains).

    Raises:
        DataError: The data or the eval file is invalid, or too small to split.

    """
    data = load_data(
        config.data,
        kind=config.kind,
        columns=config.columns or None,
        eval_fraction=config.eval_fraction,
        test_fraction=0.0 if config.test_data is not None else config.test_fraction,
        seed=config.seed,
        dedupe=config.dedupe,
        score_range=(config.score_range[0], config.score_range[1]),
        split=config.eval_data is None,
    )
    if config.eval_data is not None:
        data.eval = load_eval_file(config, config.eval_data, data.kind, "eval_data")
        data.stats["eval_source"] = str(config.eval_data)
    if config.max_train_rows is not None and len(data.train) > config.max_train_rows:
        data.stats["rows_cut_by_max_train_rows"] = len(data.train) - config.max_train_rows
        data.train = data.train.shuffle(seed=config.seed).select(range(config.max_train_rows))
    return data


def load_eval_file(config: FinetuneConfig, path: str, kind: DataKind, field: str) -> EvalSet:
    """Load ``eval_data``/``test_data``: STS pairs for any training data, retrieval data unless it is scored.

    With the default ``score_range`` an STS file's scale is read from the file (Spearman ignores it).

    Raises:
        DataError: The file is invalid, or holds retrieval data while the training data is scored pairs.

    """
    lo_hi = (config.score_range[0], config.score_range[1])
    eval_set = load_eval_set(
        path, columns=config.columns or None, score_range=None if lo_hi == (0.0, 1.0) else lo_hi
    )
    if kind is DataKind.SCORED and not isinstance(eval_set, STSSet):
        raise DataError(
            f"{field} holds retrieval data but the training data is {kind.value}",
            path=path,
            fix=f"Give {field} scored pairs (sentence1, sentence2, score), like the training data",
        )
    return eval_set


def test_set_of(config: FinetuneConfig, data: TrainingData) -> tuple[EvalSet | None, str]:
    """The set the report scores and where it came from (also put in ``data.stats["test_source"]``).

    ``test_data`` if given, else the data's own test set, else the dev set (scores then biased upwards).
    """
    test: EvalSet | None
    if config.test_data is not None:
        test, source = load_eval_file(config, config.test_data, data.kind, "test_data"), str(config.test_data)
    elif data.test is not None and data.test is not data.eval:
        test, source = data.test, str(data.stats.get("test_source"))
    else:
        test, source = data.eval, f"the dev set ({data.stats.get('eval_source')})"
    data.stats["test_source"] = source
    return test, source


def mine_if_asked(config: FinetuneConfig, data: TrainingData, model: SentenceTransformer) -> TrainingData:
    """Mine ``config.hard_negatives`` negatives per pair with ``model``, or return ``data`` unchanged."""
    if config.hard_negatives <= 0:
        return data
    return mine_negatives(
        data,
        model,
        num_negatives=config.hard_negatives,
        range_min=config.hard_negatives_range[0],
        range_max=config.hard_negatives_range[1],
        relative_margin=config.hard_negatives_margin,
        layout=config.hard_negatives_layout,
        mode=config.hard_negatives_mode,
        batch_size=config.eval_batch_size,
    )


def label_if_asked(config: FinetuneConfig, data: TrainingData) -> TrainingData:
    """Add ``config.teacher``'s scores as each row's label (MarginMSE distillation), or return ``data``."""
    if config.teacher is None:
        return data
    from mrlkit.training.teacher import add_teacher_scores

    return add_teacher_scores(data, config.teacher, batch_size=config.eval_batch_size, source=config.data)


def account(data: TrainingData, model: SentenceTransformer) -> dict[str, Any]:
    """:func:`~mrlkit.data.accounting.data_accounting` of the rows about to train, truncation included."""
    tokenizer = getattr(model, "tokenizer", None)
    max_length = model.max_seq_length
    truncation = None
    if tokenizer is not None and max_length:
        truncation = truncation_stats(tokenizer, text_cells(data), max_length)
    return data_accounting(data, truncation)


def dev_evaluator(
    config: FinetuneConfig, data: TrainingData, dims: list[int], primary_dim: int, sparse: bool = False
) -> MatryoshkaEvaluator | None:
    """The per-epoch dev evaluator that picks the best checkpoint (``None`` without a dev set or when off).

    ``eval_corpus_size`` caps a retrieval dev corpus (every relevant doc plus a seeded sample).
    """
    if data.eval is None or not config.eval_every_epoch:
        return None
    dev = data.eval
    if isinstance(dev, IRSet) and config.eval_corpus_size is not None:
        dev = dev.subsample_corpus(config.eval_corpus_size, seed=config.seed)
    return build_evaluator(
        dev,
        dims,
        name="dev",
        batch_size=config.eval_batch_size,
        primary_dim=primary_dim,
        primary_metric=config.best_metric,
        sparse=sparse,
    )
