"""Margin loss (hand-computed, margin 0 == MNRL) and the --output-dim projection head."""

import json
import math

import pytest
import torch
from conftest import FIXTURES
from sentence_transformers import SentenceTransformer
from sentence_transformers.sentence_transformer.losses import MatryoshkaLoss, MultipleNegativesRankingLoss

from mrlkit import FinetuneConfig, finetune
from mrlkit.data.types import DataKind
from mrlkit.errors import ConfigError
from mrlkit.training.losses import build_loss
from mrlkit.training.margin_loss import MarginMNRLoss
from mrlkit.training.projection import add_projection


def test_margin_loss_matches_a_hand_computed_value(tiny_model_path):
    model = SentenceTransformer(tiny_model_path, device="cpu")
    anchors = torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    positives = torch.tensor([[1.0, 0.0], [0.6, 0.8]], dtype=torch.float64)
    # cosines: a0.p0 = 1, a0.p1 = 0.6, a1.p0 = 0, a1.p1 = 0.8; margin 0.2 off the diagonal, scale 20
    # row 0 logits [16, 12] -> log(1 + e^-4); row 1 logits [0, 12] -> log(1 + e^-12)
    expected = (math.log(1 + math.exp(-4)) + math.log(1 + math.exp(-12))) / 2
    loss = MarginMNRLoss(model, margin=0.2, scale=20.0)
    value = loss.compute_loss_from_embeddings([anchors, positives], labels=None)
    assert value.item() == pytest.approx(expected, rel=1e-9)
    # scale 30 (temperature 0.05): row 0 logits [24, 18], row 1 [0, 18]
    loss30 = MarginMNRLoss(model, margin=0.2, scale=30.0)
    expected30 = (math.log(1 + math.exp(-6)) + math.log(1 + math.exp(-18))) / 2
    assert loss30.compute_loss_from_embeddings([anchors, positives], None).item() == pytest.approx(
        expected30, rel=1e-9
    )


def test_margin_zero_is_mnrl_exactly_with_hard_negatives(tiny_model_path):
    model = SentenceTransformer(tiny_model_path, device="cpu")
    torch.manual_seed(0)
    base = [torch.randn(4, 8) for _ in range(3)]  # anchors, positives, one hard negative each

    def run(loss):
        embs = [b.clone().requires_grad_(True) for b in base]
        value = loss.compute_loss_from_embeddings(embs, None)
        value.backward()
        return value.detach(), [e.grad for e in embs]

    v0, g0 = run(MarginMNRLoss(model, margin=0.0, scale=20.0))
    v1, g1 = run(MultipleNegativesRankingLoss(model, scale=20.0))
    assert torch.equal(v0, v1)
    for a, b in zip(g0, g1, strict=True):
        assert torch.equal(a, b)
    # and a margin raises the loss: the positive must win by more
    vm, _ = run(MarginMNRLoss(model, margin=0.2, scale=20.0))
    assert vm > v1


def test_build_loss_wraps_the_margin_loss_in_matryoshka(tiny_model_path):
    model = SentenceTransformer(tiny_model_path, device="cpu")
    loss = build_loss(model, "mnrl", DataKind.PAIRS, [64, 32], margin=0.2, scale=30.0)
    assert isinstance(loss, MatryoshkaLoss)
    assert isinstance(loss.loss, MarginMNRLoss)
    assert (loss.loss.margin, loss.loss.scale) == (0.2, 30.0)
    with pytest.raises(ConfigError, match="margin works with the mnrl loss"):
        build_loss(model, "cached-mnrl", DataKind.PAIRS, [64], margin=0.2)


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"margin": -0.1}, r"margin must be in \[0, 2\)"),
        ({"margin": 2.0}, r"margin must be in \[0, 2\)"),
        ({"margin": 0.2, "loss": "cached-mnrl"}, "margin works with the mnrl loss"),
        ({"output_dim": 0}, "output_dim must be a positive"),
        ({"output_dim": 48, "dims": [64, 32]}, r"dims \[64\] are larger than output_dim 48"),
        ({"scale": 0}, "scale must be > 0"),
    ],
)
def test_bad_margin_and_output_dim_are_refused(overrides, match):
    with pytest.raises(ConfigError, match=match):
        FinetuneConfig.load(None, data="x.jsonl", **overrides)


def test_add_projection_changes_the_dim_and_keeps_normalize(tiny_model_path):
    model = SentenceTransformer(tiny_model_path, device="cpu")
    rng = torch.get_rng_state()
    add_projection(model, 48, "tanh", seed=1)
    assert torch.equal(rng, torch.get_rng_state())  # the global RNG is untouched
    assert model.get_embedding_dimension() == 48
    assert type(list(model)[-1]).__name__ == "Normalize"
    emb = model.encode(["hello"], convert_to_tensor=True)
    assert emb.shape == (1, 48) and emb.norm().item() == pytest.approx(1.0, abs=1e-5)


def test_finetune_with_output_dim_and_margin_saves_a_reloadable_model(tiny_model_path, tmp_path):
    config = FinetuneConfig.load(
        None,
        data=str(FIXTURES / "data" / "pairs.jsonl"),
        model=tiny_model_path,
        output_dir=str(tmp_path / "out"),
        epochs=1,
        batch_size=8,
        learning_rate=1e-3,
        output_dim=48,
        margin=0.2,
        scale=30,
        evaluate_base=False,
    )
    result = finetune(config)
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["dims"] == [48, 32]  # the dims default follows output_dim: 48, then powers of 2 to 32
    assert result.report.meta["margin"] == 0.2 and result.report.meta["output_dim"] == 48
    model = SentenceTransformer(str(result.model_path), device="cpu")
    assert model.get_embedding_dimension() == 48
    full = model.encode(["a query"], convert_to_tensor=True)
    small = SentenceTransformer(str(result.model_path), truncate_dim=32, device="cpu").encode(
        ["a query"], convert_to_tensor=True
    )
    torch.testing.assert_close(small[0], full[0, :32])
