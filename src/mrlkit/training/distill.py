"""Similarity distillation across Matryoshka dims: truncated embeddings learn the full dim's geometry.

MatryoshkaLoss trains each truncated dim on the labels alone, so a 32-dim prefix learns only the few
pairs a batch labels. The pairwise similarity loss of the Matryoshka-Adaptor (Yoon et al., 2024,
arXiv:2407.20243) also asks each truncated dim to reproduce the full embedding's cosine similarity
for *every* pair of texts in the batch. The full-dim similarities are the teacher and are held fixed
(detached), so the term moves the truncated dims towards the full one, not the other way round. It
is computed from the embeddings MatryoshkaLoss already has (no extra forward pass).

mrlkit adds it in two places: to the adaptor's loss (``adaptor_distill_weight``; under the orthogonal
adaptor full-dim similarities cannot change at all, as in the paper) and to the encoder's
(``similarity_distill_weight``). benchmarks/README.md has what each did on STSb and SciFact.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from sentence_transformers import SentenceTransformer
from sentence_transformers.sentence_transformer.losses import MatryoshkaLoss
from torch import Tensor, nn


def similarity_gap(embeddings: Tensor, dims: Sequence[int], weights: Sequence[float]) -> Tensor:
    """Weighted mean absolute gap between each truncated dim's and the full dim's pair similarities.

    Args:
        embeddings: ``(n, full_dim)`` embeddings of every text in the batch.
        dims: Truncation dims; those not below ``full_dim`` are skipped (they are the teacher).
        weights: One weight per dim.

    Returns:
        ``sum_d weights[d] * mean_{i != j} |cos_d(i, j) - cos_full(i, j)|``, a scalar.
    """
    n, full = embeddings.shape
    total = embeddings.new_zeros(())
    if n < 2:
        return total
    off_diagonal = ~torch.eye(n, dtype=torch.bool, device=embeddings.device)
    unit = F.normalize(embeddings, dim=-1)
    teacher = (unit @ unit.T).detach()[off_diagonal]
    for dim, weight in zip(dims, weights, strict=True):
        if dim >= full:
            continue
        part = F.normalize(embeddings[:, :dim], dim=-1)
        total = total + weight * (part @ part.T)[off_diagonal].sub(teacher).abs().mean()
    return total


class SimilarityDistillLoss(nn.Module):
    """``MatryoshkaLoss`` plus ``weight`` times :func:`similarity_gap` over the same batch's embeddings."""

    def __init__(self, model: SentenceTransformer, loss: MatryoshkaLoss, weight: float) -> None:
        """Wrap ``loss`` (a MatryoshkaLoss over a non-cached base loss) for ``model``."""
        super().__init__()
        self.model = model
        self.loss = loss
        self.weight = weight

    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor) -> Tensor:
        """The Matryoshka loss, then the distillation term on the full embeddings it computed."""
        captured: list[Tensor] = []
        original = self.model.forward
        own = "forward" in vars(self.model)  # set on the instance by an outer wrapper, or the class's

        def capture(features: dict[str, Tensor], **kwargs: Any) -> dict[str, Tensor]:  # noqa: ANN401
            out = original(features, **kwargs)
            captured.append(out["sentence_embedding"])  # before MatryoshkaLoss truncates it in place
            return out

        self.model.forward = capture  # type: ignore[method-assign,assignment]
        try:
            loss = self.loss(sentence_features, labels)
        finally:
            if own:
                self.model.forward = original  # type: ignore[method-assign]
            else:  # leave no bound method on the instance (it would hold a reference to the model)
                del self.model.forward
        gap = similarity_gap(torch.cat(captured), self.loss.matryoshka_dims, self.loss.matryoshka_weights)
        return loss + self.weight * gap

    def get_config_dict(self) -> dict[str, object]:
        """What the model card records about the loss."""
        return {**self.loss.get_config_dict(), "similarity_distill_weight": self.weight}

    @property
    def citation(self) -> str:
        """The Matryoshka-Adaptor paper, whose pairwise loss this is (shown on the model card)."""
        return """
@article{yoon2024matryoshka,
    title={Matryoshka-Adaptor: Unsupervised and Supervised Tuning for Smaller Embedding Dimensions},
    author={Yoon, Jinsung and Sinha, Raj and Arik, Sercan O and Pfister, Tomas},
    journal={arXiv preprint arXiv:2407.20243},
    year={2024}
}
"""
