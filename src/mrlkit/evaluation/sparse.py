"""Retrieval metrics of a sparse encoder at each cap on active dims, plus sparsity and bytes per vector.

The per-k table of a sparse model reads like the per-dim table of a Matryoshka model: the "dim" column is
``k``, the most active (non-zero) dims a vector keeps (``max_active_dims`` of sentence-transformers'
``SparseEncoder.encode``; the largest key, the model's dimension, means no cap). Each k is scored with
sentence-transformers' :class:`SparseInformationRetrievalEvaluator`, so the metrics are the same
definitions as the dense report's; each row also gets the mean active dims of queries and documents and
the bytes a document vector takes stored as (int32 index, float32 value) pairs.
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, Any, cast

from mrlkit.errors import ConfigError
from mrlkit.evaluation.ir import MatryoshkaIREvaluator

if TYPE_CHECKING:
    from sentence_transformers import SparseEncoder

BYTES_PER_ACTIVE_DIM = 8  # int32 vocabulary/latent index + float32 weight
SPARSITY_METRICS = ("active_dims_query", "active_dims_doc", "bytes_per_vector")


def bytes_per_vector(active_dims: float) -> float:
    """Bytes of a sparse vector with ``active_dims`` non-zeros stored as (int32, float32) pairs."""
    return BYTES_PER_ACTIVE_DIM * active_dims


class SparseIREvaluator(MatryoshkaIREvaluator):
    """Retrieval metrics and sparsity of a ``SparseEncoder`` at each k; usable as the trainer's evaluator.

    Takes the same arguments as :class:`~mrlkit.evaluation.ir.MatryoshkaIREvaluator`; ``dims`` are the
    caps on active dims (largest first). Keys returned by ``__call__`` are ``{name}_dim{k}_{metric}``.
    """

    @property
    def description(self) -> str:
        """Task name shown in the model card."""
        return "Sparse Information Retrieval"

    def evaluate_dims(self, model: SparseEncoder) -> dict[int, dict[str, float]]:  # type: ignore[override]
        """Score ``model`` at every k.

        Args:
            model: The sparse encoder to evaluate.

        Returns:
            ``{k: {metric: value}}``: the IR metrics, then ``active_dims_query``, ``active_dims_doc``
            and ``bytes_per_vector`` (of documents).

        """
        full = self.check_model_dim(model)
        results: dict[int, dict[str, float]] = {}
        for k in self.dims:
            evaluator = self._sparse_evaluator(None if k == full else k)
            evaluator.sparsity_stats = {"query": defaultdict(list), "corpus": defaultdict(list)}
            evaluator.count_vectors, evaluator.count_lengths = {}, {"query": [], "corpus": []}
            evaluator.score_functions = {model.similarity_fn_name: model.similarity}  # what __call__ sets
            scores = cast("dict[str, Any]", evaluator.compute_all_metrics(model))
            row = self._flatten(scores[next(iter(scores))])
            stats = evaluator.sparsity_stats
            query = _mean(stats["query"]["active_dims"], evaluator.count_lengths["query"])
            doc = _mean(stats["corpus"]["active_dims"], evaluator.count_lengths["corpus"])
            row.update(
                {
                    "active_dims_query": query,
                    "active_dims_doc": doc,
                    "bytes_per_vector": bytes_per_vector(doc),
                }
            )
            results[k] = row
        return results

    def check_model_dim(self, model: SparseEncoder) -> int:  # type: ignore[override]
        """Raise if a k exceeds the model's sparse dimension (vocabulary or CSR latent); return it.

        Raises:
            ConfigError: Naming the dimension and the k that exceed it.
        """
        full = sparse_dimension(model)
        too_big = [k for k in self.dims if k > full]
        if too_big:
            raise ConfigError(f"k {too_big} exceed the model's sparse dimension {full}; use k <= {full}")
        return full

    def _sparse_evaluator(self, max_active_dims: int | None) -> Any:  # noqa: ANN401
        from sentence_transformers.sparse_encoder.evaluation import SparseInformationRetrievalEvaluator

        key = (max_active_dims or 0, "sparse")
        if key not in self._evaluators:
            self._evaluators[key] = SparseInformationRetrievalEvaluator(
                **self.evaluator_kwargs(), max_active_dims=max_active_dims
            )
        return self._evaluators[key]


def sparse_dimension(model: SparseEncoder) -> int:
    """Width of the model's sparse vectors (vocabulary size for SPLADE, latent size for CSR).

    ``get_embedding_dimension`` is not reliable here (a fresh ``SpladePooling`` reports the transformer's
    hidden size until it has seen a batch), so one short text is encoded and its width read.
    """
    return int(model.encode_document(["a"], convert_to_sparse_tensor=True, show_progress_bar=False).shape[-1])


def _mean(values: list[float], lengths: list[int]) -> float:
    """Mean over all vectors of per-batch means weighted by batch length."""
    if not values:
        return 0.0
    if len(lengths) != len(values) or not sum(lengths):
        return float(sum(values) / len(values))
    return float(sum(v * n for v, n in zip(values, lengths, strict=True)) / sum(lengths))
