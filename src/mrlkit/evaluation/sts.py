"""Semantic-similarity correlations at every Matryoshka dim, from one encoding of the sentence pairs.

Computes what sentence-transformers' :class:`EmbeddingSimilarityEvaluator` computes with
``truncate_dim=dim`` (its pairwise similarity, then ``scipy.stats`` Spearman and Pearson against the gold
scores), but encodes both sides once at the largest dim and slices: that evaluator cannot take
precomputed embeddings. Equality with it is checked in ``tests/test_eval_sts.py``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
from scipy.stats import pearsonr, spearmanr
from sentence_transformers import SimilarityFunction

from mrlkit.data.types import STSSet
from mrlkit.errors import DataError
from mrlkit.evaluation.base import MatryoshkaEvaluator, scoring_similarity
from mrlkit.evaluation.metrics import STS_MAIN_METRIC, STS_METRICS, Task

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer


class MatryoshkaSTSEvaluator(MatryoshkaEvaluator):
    """Spearman and Pearson correlations of a model at each truncated dim; usable as ``evaluator=``.

    Metrics per dim: ``spearman`` and ``pearson`` (correlations in [-1, 1], not multiplied by 100) between
    the gold scores and the similarity of the truncated embeddings (cosine for cosine or dot models, see
    :func:`mrlkit.evaluation.base.scoring_similarity`).

    Args:
        sts: Sentence pairs with gold scores.
        dims: Dims to score, e.g. ``[384, 256, 128, 64, 32]``; none may exceed the model's dimension.
        name: Prefix of the keys returned by ``__call__`` (``{name}_dim{d}_{metric}``).
        batch_size: Encoding batch size.
        show_progress_bar: Show encoding progress bars.
        primary_dim: Dim of the metric used for model selection; 128 if evaluated, else the middle dim.
        primary_metric: ``"spearman"`` or ``"pearson"``.
        write_csv: Append a CSV row per call to ``output_path``.

    Raises:
        DataError: If the three lists differ in length or hold fewer than two pairs.
        ConfigError: For bad dims, ``primary_dim`` or ``primary_metric``.

    """

    task = Task.STS.value
    metric_names = STS_METRICS

    def __init__(
        self,
        sts: STSSet,
        dims: Sequence[int],
        *,
        name: str = "eval",
        batch_size: int = 32,
        show_progress_bar: bool = False,
        primary_dim: int | None = None,
        primary_metric: str = STS_MAIN_METRIC,
        write_csv: bool = True,
    ) -> None:
        _check_sts_set(sts)
        self.sts = sts
        super().__init__(
            dims,
            name=name,
            batch_size=batch_size,
            show_progress_bar=show_progress_bar,
            primary_dim=primary_dim,
            primary_metric=primary_metric,
            write_csv=write_csv,
        )

    @property
    def description(self) -> str:
        """Task name shown in the model card."""
        return "Matryoshka Semantic Similarity"

    def texts(self) -> list[str]:
        """Both sides of every pair."""
        return [*self.sts.sentences1, *self.sts.sentences2]

    def encode_pairs(self, model: SentenceTransformer) -> tuple[np.ndarray, np.ndarray]:
        """Encode both sides once at the largest evaluated dim, as ``EmbeddingSimilarityEvaluator`` does.

        Args:
            model: The model to encode with.

        Returns:
            Two ``(len(sts), max(dims))`` arrays.

        """
        return self._encode(model, self.sts.sentences1), self._encode(model, self.sts.sentences2)

    def _encode(self, model: SentenceTransformer, sentences: list[str]) -> np.ndarray:
        return model.encode(
            sentences,
            batch_size=self.batch_size,
            show_progress_bar=self.show_progress_bar,
            convert_to_numpy=True,
            truncate_dim=self.dims[0],
        )

    def evaluate_dims(self, model: SentenceTransformer) -> dict[int, dict[str, float]]:
        """Score ``model`` at every dim.

        Args:
            model: The model to evaluate.

        Returns:
            ``{dim: {"spearman": value, "pearson": value}}``, dims largest first.

        """
        self.check_model_dim(model)
        pairwise = SimilarityFunction.to_similarity_pairwise_fn(scoring_similarity(model))
        embeddings1, embeddings2 = self.encode_pairs(model)
        gold = self.sts.scores
        results: dict[int, dict[str, float]] = {}
        for dim in self.dims:
            scores = pairwise(embeddings1[:, :dim], embeddings2[:, :dim]).detach().cpu().numpy()
            results[dim] = {
                "spearman": float(spearmanr(gold, scores)[0]),
                "pearson": float(pearsonr(gold, scores)[0]),
            }
        return results


def _check_sts_set(sts: STSSet) -> None:
    """Reject pair lists of different lengths or too short to correlate."""
    sizes = (len(sts.sentences1), len(sts.sentences2), len(sts.scores))
    if len(set(sizes)) != 1:
        raise DataError(
            f"STS set '{sts.name}' has {sizes[0]} first sentences, {sizes[1]} second sentences and "
            f"{sizes[2]} scores",
            fix="Give one score per sentence pair.",
        )
    if sizes[0] < 2:
        raise DataError(
            f"STS set '{sts.name}' has {sizes[0]} pair(s); a correlation needs at least 2",
            fix="Add more scored pairs.",
        )
