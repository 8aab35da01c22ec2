"""Shared machinery of the Matryoshka evaluators: dims, metric keys, the primary metric and logging."""

from __future__ import annotations

import csv
import logging
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from mrlkit.errors import ConfigError
from mrlkit.evaluation._compat import SentenceEvaluator

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

logger = logging.getLogger(__name__)

PREFERRED_PRIMARY_DIM = 128
TRAINER_PREFIX = "eval"


def check_dims(dims: Sequence[int]) -> list[int]:
    """Validate evaluation dims and return them descending without duplicates (``[384, 128, 64]``).

    Args:
        dims: Dims to score, in any order.

    Returns:
        The dims, largest first (the convention of ``mrlkit.training``).

    Raises:
        ConfigError: If ``dims`` is empty or holds a value that is not a positive integer.

    """
    values = list(dims)
    if not values:
        raise ConfigError("dims is empty; give the dims to evaluate, e.g. [384, 256, 128, 64, 32]")
    for d in values:
        if isinstance(d, bool) or not isinstance(d, int) or d <= 0:
            raise ConfigError(f"dim {d!r} is not a positive integer; give dims such as [384, 128, 64]")
    return sorted(set(values), reverse=True)


def choose_primary_dim(dims: Sequence[int], primary_dim: int | None) -> int:
    """Pick the dim whose score selects the best checkpoint: ``primary_dim``, 128, or the middle dim.

    Args:
        dims: Validated dims (any order).
        primary_dim: Dim asked for, or ``None`` for the default.

    Returns:
        ``primary_dim`` if given; 128 if it is among ``dims``; otherwise the middle of the sorted dims
        (the smaller of the two middles for an even count, as small dims are the point of Matryoshka).

    Raises:
        ConfigError: If ``primary_dim`` is not one of ``dims``.

    """
    ordered = sorted(dims)
    if primary_dim is not None:
        if primary_dim not in ordered:
            raise ConfigError(
                f"primary_dim {primary_dim} is not among the evaluated dims {ordered}; pick one of them"
            )
        return primary_dim
    if PREFERRED_PRIMARY_DIM in ordered:
        return PREFERRED_PRIMARY_DIM
    return ordered[(len(ordered) - 1) // 2]


def scoring_similarity(model: SentenceTransformer) -> str:
    """Similarity used to compare truncated embeddings of ``model``.

    Truncating a unit vector leaves a vector shorter than 1, and prefixes of different texts have different
    lengths. Cosine similarity divides those lengths out; a dot product would not. So models whose
    similarity is ``cosine`` **or** ``dot`` are scored with cosine at every dim, which equals re-normalising
    the truncated embeddings and taking their dot product (what a deployment that truncates does).
    Models declaring ``euclidean`` or ``manhattan`` keep their own function on the raw truncated vectors.

    Args:
        model: The model being evaluated.

    Returns:
        A :class:`~sentence_transformers.SimilarityFunction` value: ``"cosine"``, ``"euclidean"`` or
        ``"manhattan"``.

    """
    name = str(model.similarity_fn_name)
    return "cosine" if name in ("cosine", "dot") else name


class MatryoshkaEvaluator(SentenceEvaluator):
    """Base of the per-dimension evaluators: subclasses implement :meth:`evaluate_dims`.

    ``__call__`` flattens the per-dim results to ``{name}_dim{d}_{metric}`` keys, which is what
    :class:`~sentence_transformers.SentenceTransformerTrainer` logs (with an ``eval_`` prefix, see
    :attr:`best_model_metric`).
    """

    task: str = ""
    metric_names: tuple[str, ...] = ()

    def __init__(
        self,
        dims: Sequence[int],
        *,
        name: str,
        batch_size: int,
        show_progress_bar: bool,
        primary_dim: int | None,
        primary_metric: str,
        write_csv: bool,
    ) -> None:
        super().__init__()
        self.dims = check_dims(dims)
        if batch_size <= 0:
            raise ConfigError(f"batch_size {batch_size} must be a positive integer, e.g. 32")
        if primary_metric not in self.metric_names:
            raise ConfigError(
                f"primary_metric {primary_metric!r} is not reported; "
                f"choose one of {', '.join(self.metric_names)}"
            )
        self.name = name
        self.batch_size = batch_size
        self.show_progress_bar = show_progress_bar
        self.write_csv = write_csv
        self.primary_dim = choose_primary_dim(self.dims, primary_dim)
        self.primary_metric_name = primary_metric
        self.primary_metric = self.metric_key(self.primary_dim, primary_metric)
        self.greater_is_better = True
        self.csv_file = f"matryoshka_{self.task}_{name or 'eval'}_results.csv"

    def texts(self) -> list[str]:
        """Every text this evaluator encodes (the Matryoshka adaptor encodes them once, up front)."""
        raise NotImplementedError

    def evaluate_dims(self, model: SentenceTransformer) -> dict[int, dict[str, float]]:
        """Score ``model`` at every dim.

        Args:
            model: The model to evaluate.

        Returns:
            ``{dim: {metric: value}}`` with dims as in :attr:`dims` and metrics as in :attr:`metric_names`.

        """
        raise NotImplementedError(f"{type(self).__name__} must implement evaluate_dims")

    def metric_key(self, dim: int, metric: str) -> str:
        """Key of one value in the output of ``__call__``: ``{name}_dim{dim}_{metric}``.

        Args:
            dim: An evaluated dim.
            metric: A metric name, e.g. ``"ndcg@10"``.

        Returns:
            The key, without the name prefix when the evaluator's name is empty.

        """
        key = f"dim{dim}_{metric}"
        return f"{self.name}_{key}" if self.name else key

    @property
    def best_model_metric(self) -> str:
        """Value to pass as ``metric_for_best_model`` to ``SentenceTransformerTrainingArguments``.

        The trainer prefixes every evaluator key that does not already start with ``eval_`` with ``eval_``
        (so name ``"eval"`` gives ``eval_dim128_ndcg@10`` and name ``"dev"`` gives
        ``eval_dev_dim128_ndcg@10``); transformers then looks the metric up under that exact key.
        Use it together with ``greater_is_better=True`` and ``load_best_model_at_end=True``.
        """
        prefix = f"{TRAINER_PREFIX}_"
        return self.primary_metric if self.primary_metric.startswith(prefix) else prefix + self.primary_metric

    # BaseEvaluator.__call__ takes any BaseModel; like sentence-transformers' own SentenceTransformer
    # evaluators (e.g. InformationRetrievalEvaluator), this one needs a SentenceTransformer, which is what
    # SentenceTransformerTrainer passes, so it deliberately narrows the argument.
    def __call__(  # type: ignore[override]
        self,
        model: SentenceTransformer,
        output_path: str | None = None,
        epoch: int = -1,
        steps: int = -1,
    ) -> dict[str, float]:
        """Score ``model`` at every dim and return flat ``{name}_dim{d}_{metric}`` keys.

        Args:
            model: The model to evaluate.
            output_path: Folder to append a CSV row of the results to (skipped when ``None``).
            epoch: Training epoch, -1 outside training.
            steps: Training step, -1 outside training.

        Returns:
            One float per (dim, metric); :attr:`primary_metric` names the one used for model selection.

        """
        results = self.evaluate_dims(model)
        flat = {f"dim{dim}_{metric}": value for dim, row in results.items() for metric, value in row.items()}
        metrics = self.prefix_name_to_metrics(flat, self.name)
        summary = ", ".join(f"{d}: {results[d][self.primary_metric_name]:.4f}" for d in self.dims)
        logger.info("%s %s by dim (%s)", self.name, self.primary_metric_name, summary)
        if output_path is not None and self.write_csv:
            self._append_csv(output_path, metrics, epoch, steps)
        self.store_metrics_in_model_card_data(model, metrics, epoch, steps)
        return metrics

    def _append_csv(self, output_path: str, metrics: dict[str, float], epoch: int, steps: int) -> None:
        os.makedirs(output_path, exist_ok=True)
        path = os.path.join(output_path, self.csv_file)
        is_new = not os.path.isfile(path)
        with open(path, "a", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            if is_new:
                writer.writerow(["epoch", "steps", *metrics])
            writer.writerow([epoch, steps, *metrics.values()])

    def check_model_dim(self, model: SentenceTransformer) -> None:
        """Raise if the model's embeddings are shorter than the largest evaluated dim.

        Args:
            model: The model about to be evaluated.

        Raises:
            ConfigError: Naming the model's dimension and the dims that exceed it.

        """
        get_dim = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        model_dim = get_dim()
        if model_dim is not None and self.dims[0] > model_dim:
            too_big = [d for d in self.dims if d > model_dim]
            raise ConfigError(
                f"dims {too_big} exceed the model's embedding dimension {model_dim}; use dims <= {model_dim}"
            )

    def get_config_dict(self) -> dict[str, Any]:
        """Return the configuration shown in the model card.

        Returns:
            The evaluated dims and the primary dim.

        """
        return {"dims": self.dims, "primary_dim": self.primary_dim}
