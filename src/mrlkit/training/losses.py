"""Build the training loss: a sentence-transformers base loss wrapped in a Matryoshka modifier."""

from __future__ import annotations

from collections.abc import Sequence

from sentence_transformers import SentenceTransformer
from sentence_transformers.sentence_transformer import losses
from torch import nn

from mrlkit.config import LossKind, MatryoshkaMode, check_distill
from mrlkit.data.types import DataKind
from mrlkit.errors import ConfigError
from mrlkit.training.distill import SimilarityDistillLoss
from mrlkit.training.margin_loss import MarginMNRLoss, check_margin


def resolve_loss_kind(loss: LossKind | str, data_kind: DataKind) -> LossKind:
    """Pick the base loss for ``auto`` and check it fits the data layout."""
    loss = LossKind(loss)
    scored = data_kind is DataKind.SCORED
    if loss is LossKind.AUTO:
        return LossKind.COSENT if scored else LossKind.MNRL
    if scored and loss is not LossKind.COSENT:
        raise ConfigError(
            f"loss {loss.value!r} needs anchor/positive pairs, but the data is scored pairs; "
            "use --loss cosent"
        )
    if not scored and loss is LossKind.COSENT:
        raise ConfigError(
            "loss 'cosent' needs scored pairs (sentence1, sentence2, score); use --loss mnrl for pairs"
        )
    return loss


def build_loss(
    model: SentenceTransformer,
    loss: LossKind | str,
    data_kind: DataKind,
    dims: Sequence[int],
    *,
    matryoshka: MatryoshkaMode | str = MatryoshkaMode.MRL,
    weights: Sequence[float] | None = None,
    mini_batch_size: int = 16,
    distill_weight: float = 0.0,
    margin: float = 0.0,
    scale: float = 20.0,
) -> nn.Module:
    """Compose the loss for a run.

    Args:
        model: The model being trained.
        loss: Base loss kind (``auto`` resolves from ``data_kind``).
        data_kind: Layout of the training data.
        dims: Matryoshka dims, descending.
        matryoshka: ``1d`` wraps in ``MatryoshkaLoss``, ``2d`` in ``Matryoshka2dLoss``, ``none`` not at all.
        weights: Optional per-dim weights.
        mini_batch_size: Mini-batch size for ``CachedMultipleNegativesRankingLoss``.
        distill_weight: Weight of the similarity distillation across dims (``1d`` and a non-cached
            base loss only; 0: off). See :mod:`mrlkit.training.distill`.
        margin: Cosine margin taken off each positive pair (``mnrl`` only; 0: off). See
            :mod:`mrlkit.training.margin_loss`.
        scale: Similarity scale (1 / temperature) of the base loss.
    """
    kind = resolve_loss_kind(loss, data_kind)
    check_margin(margin)
    if margin and kind is not LossKind.MNRL:
        raise ConfigError(
            f"margin works with the mnrl loss (in-batch negatives), not with loss {kind.value!r}; "
            "use --loss mnrl or set --margin 0"
        )
    if scale <= 0:
        raise ConfigError(f"scale must be > 0 (1 / temperature; MNRL's default is 20), got {scale!r}")
    base: nn.Module
    if kind is LossKind.MNRL:
        base = (
            MarginMNRLoss(model, margin, scale)
            if margin
            else losses.MultipleNegativesRankingLoss(model, scale)
        )
    elif kind is LossKind.CACHED_MNRL:
        base = losses.CachedMultipleNegativesRankingLoss(model, scale=scale, mini_batch_size=mini_batch_size)
    else:
        base = losses.CoSENTLoss(model, scale=scale)
    if weights is not None and len(weights) != len(dims):
        raise ConfigError(
            f"matryoshka_weights has {len(weights)} values for {len(dims)} dims; give one weight per dim"
        )
    mode = MatryoshkaMode(matryoshka)
    check_distill(distill_weight, mode, kind)
    if mode is MatryoshkaMode.NONE:
        return base
    if mode is MatryoshkaMode.MRL_2D:
        return losses.Matryoshka2dLoss(
            model, base, list(dims), matryoshka_weights=None if weights is None else list(weights)
        )
    mrl = losses.MatryoshkaLoss(
        model, base, list(dims), matryoshka_weights=None if weights is None else list(weights)
    )
    return SimilarityDistillLoss(model, mrl, distill_weight) if distill_weight else mrl
