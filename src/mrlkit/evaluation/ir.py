"""Retrieval metrics at every Matryoshka dim, from one encoding of the corpus.

Wraps sentence-transformers' :class:`InformationRetrievalEvaluator` (one per dim, ``truncate_dim=dim``);
the only change is that the corpus is encoded once at the largest dim and sliced for the smaller ones,
which gives the same numbers as encoding it again with ``truncate_dim`` (truncation is a slice of the
same forward pass) at a fraction of the cost on a CPU.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

from sentence_transformers import SimilarityFunction

from mrlkit.data.types import IRSet
from mrlkit.errors import DataError
from mrlkit.evaluation._compat import InformationRetrievalEvaluator
from mrlkit.evaluation.base import MatryoshkaEvaluator, scoring_similarity
from mrlkit.evaluation.metrics import (
    ACCURACY_K,
    DEFAULT_K_VALUES,
    IR_MAIN_METRIC,
    MAP_K,
    MRR_K,
    NDCG_K,
    Task,
    check_k_values,
    ir_metric_names,
)

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.base.modality_types import SingleInput
    from torch import Tensor

logger = logging.getLogger(__name__)


class MatryoshkaIREvaluator(MatryoshkaEvaluator):
    """Retrieval metrics of a model at each truncated dim; usable as ``evaluator=`` of the trainer.

    Metrics per dim (names as returned by :meth:`evaluate_dims`): ``ndcg@10, mrr@10, map@100,
    recall@k`` for each of ``k_values``, ``precision@k`` for those ``k <= 10``, ``accuracy@1, accuracy@10``.
    They are sentence-transformers' definitions, which agree with trec_eval (``ndcg_cut.10``, ``recip_rank``
    on the top 10, ``map_cut.100``, ``recall.k``, ``P.k``, ``success.k``) with two caveats: ``map@100``
    divides by ``min(100, |relevant|)`` where trec_eval divides by ``|relevant|`` (they differ only for
    queries with more than 100 relevant documents), and tied scores are ranked by ascending document id.

    Queries are encoded with ``model.encode_query`` and documents with ``model.encode_document`` (so the
    model's query/document prompts apply). Truncated vectors are compared with cosine similarity for
    models whose similarity is cosine or dot, see :func:`mrlkit.evaluation.base.scoring_similarity`.

    Args:
        ir: Queries, corpus and relevant document ids. Queries without relevant documents are skipped.
        dims: Dims to score, e.g. ``[384, 256, 128, 64, 32]``; none may exceed the model's dimension.
        name: Prefix of the keys returned by ``__call__`` (``{name}_dim{d}_{metric}``).
        batch_size: Encoding batch size.
        show_progress_bar: Show encoding progress bars.
        primary_dim: Dim of the metric used for model selection; 128 if evaluated, else the middle dim.
        primary_metric: Metric used for model selection.
        k_values: Cut-offs of ``recall@k`` (and of ``precision@k`` up to 10).
        corpus_chunk_size: Documents scored against the queries at a time.
        write_csv: Append a CSV row per call to ``output_path`` (as sentence-transformers' evaluators do).

    Raises:
        DataError: If no query has a relevant document, or the corpus is empty.
        ConfigError: For bad dims, k values, ``primary_dim`` or ``primary_metric``.

    """

    task = Task.IR.value

    def __init__(
        self,
        ir: IRSet,
        dims: Sequence[int],
        *,
        name: str = "eval",
        batch_size: int = 32,
        show_progress_bar: bool = False,
        primary_dim: int | None = None,
        primary_metric: str = IR_MAIN_METRIC,
        k_values: Sequence[int] = DEFAULT_K_VALUES,
        corpus_chunk_size: int = 50_000,
        write_csv: bool = True,
    ) -> None:
        _check_ir_set(ir)
        self.ir = ir
        self.k_values = check_k_values(k_values)
        self.metric_names = ir_metric_names(self.k_values)
        self.corpus_chunk_size = corpus_chunk_size
        super().__init__(
            dims,
            name=name,
            batch_size=batch_size,
            show_progress_bar=show_progress_bar,
            primary_dim=primary_dim,
            primary_metric=primary_metric,
            write_csv=write_csv,
        )
        self._evaluators: dict[tuple[int, str], InformationRetrievalEvaluator] = {}

    @property
    def description(self) -> str:
        """Task name shown in the model card."""
        return "Matryoshka Information Retrieval"

    def texts(self) -> list[str]:
        """The queries, then the corpus."""
        return [*self.ir.queries.values(), *self.ir.corpus.values()]

    def evaluator_for(self, dim: int, similarity: str) -> InformationRetrievalEvaluator:
        """Return the wrapped sentence-transformers evaluator for one dim (built once, then reused).

        Args:
            dim: Truncation dim.
            similarity: Similarity function name, see :func:`~mrlkit.evaluation.base.scoring_similarity`.

        Returns:
            An ``InformationRetrievalEvaluator`` with ``truncate_dim=dim`` and mrlkit's metric cut-offs.

        """
        key = (dim, similarity)
        if key not in self._evaluators:
            # The evaluator only reads these (it copies them into lists), but types them as invariant dicts
            # of any model input; shallow copies typed that way hold the same texts in the same order.
            self._evaluators[key] = InformationRetrievalEvaluator(
                **self.evaluator_kwargs(),
                truncate_dim=dim,
                score_functions={similarity: SimilarityFunction.to_similarity_fn(similarity)},
            )
        return self._evaluators[key]

    def evaluator_kwargs(self) -> dict[str, Any]:
        """Arguments every wrapped sentence-transformers IR evaluator (dense or sparse) shares.

        The data, mrlkit's metric cut-offs and the batching: one place, so the dense and the sparse
        report compute the same metrics.
        """
        queries: dict[str, SingleInput] = dict(self.ir.queries)
        corpus: dict[str, SingleInput] = dict(self.ir.corpus)
        return {
            "queries": queries,
            "corpus": corpus,
            "relevant_docs": self.ir.relevant,
            "corpus_chunk_size": self.corpus_chunk_size,
            "mrr_at_k": [MRR_K],
            "ndcg_at_k": [NDCG_K],
            "accuracy_at_k": list(ACCURACY_K),
            "precision_recall_at_k": self.k_values,
            "map_at_k": [MAP_K],
            "show_progress_bar": self.show_progress_bar,
            "batch_size": self.batch_size,
            "name": self.name,
            "write_csv": False,
        }

    def encode_corpus(self, model: SentenceTransformer) -> Tensor:
        """Encode the corpus once at the largest evaluated dim, in the wrapped evaluators' order.

        Args:
            model: The model to encode with.

        Returns:
            A ``(len(corpus), max(dims))`` tensor on the model's device.

        """
        return model.encode_document(
            list(self.ir.corpus.values()),
            batch_size=self.batch_size,
            show_progress_bar=self.show_progress_bar,
            convert_to_tensor=True,
            truncate_dim=self.dims[0],
        )

    def evaluate_dims(self, model: SentenceTransformer) -> dict[int, dict[str, float]]:
        """Score ``model`` at every dim.

        Args:
            model: The model to evaluate.

        Returns:
            ``{dim: {metric: value}}``, dims largest first, metrics in :attr:`metric_names` order.

        """
        self.check_model_dim(model)
        similarity = scoring_similarity(model)
        corpus_embeddings = self.encode_corpus(model)
        results: dict[int, dict[str, float]] = {}
        for dim in self.dims:
            evaluator = self.evaluator_for(dim, similarity)
            # compute_all_metrics is annotated ``dict[str, float]`` but returns, per score function name,
            # ``{"ndcg@k": {10: value}, ...}``.
            scores = cast(
                "dict[str, dict[str, dict[int, float]]]",
                evaluator.compute_all_metrics(model, corpus_embeddings=corpus_embeddings[:, :dim]),
            )
            results[dim] = self._flatten(scores[similarity])
        return results

    def _flatten(self, scores: Mapping[str, Mapping[int, float]]) -> dict[str, float]:
        """Turn ``{"ndcg@k": {10: v}}`` into ``{"ndcg@10": v}``, keeping :attr:`metric_names` only."""
        flat = {
            metric.replace("@k", f"@{k}"): float(value)
            for metric, values in scores.items()
            for k, value in values.items()
        }
        return {metric: flat[metric] for metric in self.metric_names}

    def get_config_dict(self) -> dict[str, Any]:
        """Return the configuration shown in the model card.

        Returns:
            The evaluated dims, the primary dim and the recall cut-offs.

        """
        return {**super().get_config_dict(), "k_values": self.k_values}


def _check_ir_set(ir: IRSet) -> None:
    """Reject sets that cannot be scored and warn about relevant ids missing from the corpus."""
    if not ir.corpus:
        raise DataError(f"IR set '{ir.name}' has an empty corpus", fix="Give at least one document.")
    evaluable = [qid for qid in ir.queries if ir.relevant.get(qid)]
    if not evaluable:
        raise DataError(
            f"IR set '{ir.name}' has no query with a relevant document ({len(ir.queries)} queries, "
            f"{len(ir.relevant)} qrels entries)",
            fix="Check that the qrels use the same query ids as the queries.",
        )
    missing = sum(1 for qid in evaluable for doc_id in ir.relevant[qid] if doc_id not in ir.corpus)
    if missing:
        logger.warning(
            "IR set '%s': %d relevant document ids are not in the corpus; they count as misses.",
            ir.name,
            missing,
        )
