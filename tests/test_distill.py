"""Similarity distillation across Matryoshka dims, checked against a loop over pairs."""

import itertools

import pytest
import torch
import torch.nn.functional as F
from sentence_transformers import SentenceTransformer
from sentence_transformers.sentence_transformer import losses

from mrlkit.data.types import DataKind
from mrlkit.errors import ConfigError
from mrlkit.training.distill import SimilarityDistillLoss, similarity_gap
from mrlkit.training.losses import build_loss


def _reference_gap(emb, dims, weights):
    """The same quantity pair by pair, with plain cosine similarities."""
    n, full = emb.shape
    total = 0.0
    for dim, weight in zip(dims, weights, strict=True):
        if dim >= full:
            continue
        gaps = [
            abs(
                F.cosine_similarity(emb[i, :dim], emb[j, :dim], dim=0)
                - F.cosine_similarity(emb[i], emb[j], dim=0)
            )
            for i, j in itertools.permutations(range(n), 2)
        ]
        total += weight * float(sum(gaps)) / len(gaps)
    return total


def test_similarity_gap_matches_pairwise_reference():
    emb = torch.randn(7, 16, generator=torch.Generator().manual_seed(0))
    dims, weights = [16, 8, 4], [1.0, 2.0, 3.0]
    assert similarity_gap(emb, dims, weights).item() == pytest.approx(
        _reference_gap(emb, dims, weights), rel=1e-5
    )


def test_similarity_gap_is_zero_when_the_prefix_holds_everything():
    emb = torch.zeros(5, 16)
    emb[:, :4] = torch.randn(5, 4, generator=torch.Generator().manual_seed(1))  # dims 4..15 are zero
    assert similarity_gap(emb, [16, 8, 4], [1.0, 1.0, 1.0]).item() == pytest.approx(0.0, abs=1e-6)
    assert similarity_gap(emb, [16], [1.0]).item() == 0.0  # only the teacher: nothing to distil
    assert similarity_gap(emb[:1], [16, 4], [1.0, 1.0]).item() == 0.0  # one text: no pairs


def test_teacher_is_held_fixed():
    """The gradient reaches only the truncated prefix: the dims beyond it get none."""
    emb = torch.randn(6, 16, generator=torch.Generator().manual_seed(2)).requires_grad_()
    similarity_gap(emb, [16, 4], [1.0, 1.0]).backward()
    assert emb.grad[:, :4].abs().sum() > 0
    assert torch.equal(emb.grad[:, 4:], torch.zeros(6, 12))


def _features(model, texts):
    return dict(model.tokenize(texts))


def test_loss_adds_the_gap_to_matryoshka_loss_and_restores_forward(tiny_model_path):
    model = SentenceTransformer(tiny_model_path, device="cpu")
    model.eval()  # no dropout: the two computations below see the same embeddings
    dims, weights = [64, 32, 16], [1.0, 1.0, 4.0]
    loss = build_loss(model, "auto", DataKind.SCORED, dims, weights=weights, distill_weight=2.5)
    assert isinstance(loss, SimilarityDistillLoss)
    assert isinstance(loss.loss, losses.MatryoshkaLoss)
    a, b = ["a cat sat", "the sun is up", "rain today"], ["a dog sat", "it is sunny", "dry weather"]
    feats = [_features(model, a), _features(model, b)]
    labels = torch.tensor([0.8, 0.9, 0.1])
    value = loss(feats, labels)
    assert "forward" not in vars(model)  # the capture hook is gone, and nothing is left in its place
    matryoshka = losses.MatryoshkaLoss(model, losses.CoSENTLoss(model), dims, weights)(feats, labels)
    emb = torch.cat([model(_features(model, t))["sentence_embedding"] for t in (a, b)])
    expected = matryoshka + 2.5 * similarity_gap(emb, dims, weights)
    assert value.item() == pytest.approx(expected.item(), rel=1e-5)
    value.backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())
    assert loss.get_config_dict()["similarity_distill_weight"] == 2.5
    assert "2407.20243" in loss.citation


@pytest.mark.parametrize(
    ("kind", "data", "matryoshka"),
    [
        ("cached-mnrl", DataKind.PAIRS, "1d"),
        ("auto", DataKind.PAIRS, "2d"),
        ("auto", DataKind.SCORED, "none"),
    ],
)
def test_distillation_needs_1d_and_a_plain_loss(tiny_model_path, kind, data, matryoshka):
    model = SentenceTransformer(tiny_model_path, device="cpu")
    with pytest.raises(ConfigError, match="similarity_distill_weight works with matryoshka: 1d"):
        build_loss(model, kind, data, [64, 32], matryoshka=matryoshka, distill_weight=1.0)
