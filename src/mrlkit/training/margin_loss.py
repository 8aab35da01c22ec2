"""In-batch negatives with an additive margin on the positive pair (AM-softmax over MNRL).

The semantic-index recipe of PaddleNLP subtracts a margin from each anchor's similarity to its own
positive before the scaled softmax over the batch (``margin 0.2``, ``scale 30``): the positive must
beat every in-batch negative by at least the margin before its loss term goes quiet. This is
sentence-transformers' ``MultipleNegativesRankingLoss`` with one change, the similarity function, so
``MatryoshkaLoss`` wraps it like any other loss and ``margin=0`` is MNRL exactly.
"""

from __future__ import annotations

from typing import Any

import torch
from sentence_transformers import SentenceTransformer
from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss
from sentence_transformers.util import cos_sim

from mrlkit.errors import ConfigError

MAX_MARGIN = 2.0  # cosines lie in [-1, 1]: a margin of 2 or more can never be met


def check_margin(margin: float) -> None:
    """Refuse a margin outside ``[0, 2)``."""
    if not 0.0 <= margin < MAX_MARGIN:
        raise ConfigError(
            f"margin must be in [0, {MAX_MARGIN:g}) (a cosine margin; 0: off), got {margin!r}; "
            "the PaddleNLP recipe uses --margin 0.2 --scale 30"
        )


class MarginMNRLoss(MultipleNegativesRankingLoss):
    """``MultipleNegativesRankingLoss`` whose positive cosine is lowered by ``margin`` before scaling.

    For anchor ``i`` with candidates ``j`` (in-batch positives, then any hard negatives), the loss is
    ``-log softmax_j(scale * (cos(a_i, c_j) - margin * [j == i]))[i]``, averaged over the batch.

    Args:
        model: The model being trained.
        margin: Subtracted from each positive pair's cosine, in ``[0, 2)``; 0 gives plain MNRL.
        scale: Multiplies the similarities (1 / temperature).
    """

    def __init__(self, model: SentenceTransformer, margin: float = 0.2, scale: float = 20.0) -> None:
        check_margin(margin)
        super().__init__(model, scale=scale, similarity_fct=self.margin_cos_sim)
        self.margin = margin

    def margin_cos_sim(self, anchors: torch.Tensor, candidates: torch.Tensor) -> torch.Tensor:
        """Cosine similarities with ``margin`` taken off the diagonal (anchor i, its positive i)."""
        scores = cos_sim(anchors, candidates)
        if self.margin == 0.0:
            return scores
        positives = torch.eye(scores.size(0), scores.size(1), device=scores.device, dtype=scores.dtype)
        return scores - self.margin * positives

    def get_config_dict(self) -> dict[str, Any]:
        """MNRL's settings plus the margin (shown in the model card)."""
        return {**super().get_config_dict(), "margin": self.margin}
