"""The Matryoshka adaptor: trained on cached vectors through sentence-transformers, folded into the model."""

import json

import pytest
import torch
from conftest import FIXTURES
from sentence_transformers import SentenceTransformer
from sentence_transformers.sentence_transformer.modules import Dense, Normalize

from mrlkit import FinetuneConfig, finetune
from mrlkit.config import Adaptor, LossKind
from mrlkit.data import load_data
from mrlkit.data.types import DataKind
from mrlkit.errors import ConfigError
from mrlkit.evaluation import build_evaluator
from mrlkit.training.adaptor import CachedEmbeddings, fold_into, train_adaptor
from mrlkit.training.distill import similarity_gap
from mrlkit.training.rotation import add_rotation

PAIRS = FIXTURES / "data" / "pairs.jsonl"


def _encode(model, texts):
    return model.encode(texts, convert_to_tensor=True, batch_size=16)


def test_cached_embeddings_stand_in_for_the_encoder(tiny_model_path):
    model = SentenceTransformer(tiny_model_path, device="cpu")
    texts = ["first text", "second text", "third"]
    vectors = _encode(model, texts)
    proxy = SentenceTransformer(modules=[CachedEmbeddings(texts, vectors), Normalize()], device="cpu")
    # the stand-in returns exactly the model's vectors, truncated like the model's
    torch.testing.assert_close(proxy.encode(texts[::-1], convert_to_tensor=True), vectors.flip(0))
    assert proxy.encode(texts, truncate_dim=16).shape == (3, 16)
    with pytest.raises(KeyError, match="not encoded"):
        proxy.encode(["never seen"])


def test_fold_into_multiplies_the_rotation_or_inserts_one(tiny_model_path):
    texts = ["a query about cells", "a document about proteins"]
    torch.manual_seed(0)
    matrix = torch.linalg.qr(torch.randn(64, 64))[0]
    plain = SentenceTransformer(tiny_model_path, device="cpu")
    expected = torch.nn.functional.normalize(_encode(plain, texts) @ matrix.T, dim=-1)
    fold_into(plain, matrix)  # no rotation yet: one is inserted before Normalize
    assert isinstance(list(plain._modules.values())[-2], Dense)
    assert isinstance(list(plain._modules.values())[-1], Normalize)
    torch.testing.assert_close(_encode(plain, texts), expected, atol=1e-5, rtol=1e-5)
    rotated = SentenceTransformer(tiny_model_path, device="cpu")
    add_rotation(rotated)  # the identity
    n_modules = len(rotated._modules)
    fold_into(rotated, matrix)  # multiplied into the existing layer: no new module
    assert len(rotated._modules) == n_modules
    torch.testing.assert_close(_encode(rotated, texts), expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize(
    ("mode", "distill"), [(Adaptor.ORTHOGONAL, 0.0), (Adaptor.LINEAR, 0.0), (Adaptor.ORTHOGONAL, 5.0)]
)
def test_train_adaptor_improves_dev_and_keeps_its_promise(tiny_model_path, mode, distill):
    data = load_data(PAIRS)
    model = SentenceTransformer(tiny_model_path, device="cpu")
    evaluator = build_evaluator(data.eval, [64, 32], name="dev", primary_dim=32)
    probe = ["a query about cells", "another text entirely", "third one"]
    before = _encode(model, probe)
    summary = train_adaptor(
        model,
        data.train,
        mode=mode,
        loss_kind=LossKind.MNRL,
        data_kind=DataKind.PAIRS,
        dims=[64, 32],
        distill_weight=distill,
        evaluator=evaluator,
        epochs=15,
        learning_rate=1e-2,
        batch_size=8,
    )
    history = summary["dev_scores"]
    assert summary["distill_weight"] == distill
    assert len(history) == 16  # the identity, then every epoch
    assert summary["best_epoch"] > 0 and max(history) > history[0]  # training beat the untouched model
    # the folded-in model scores on dev what the adaptor scored at its best epoch
    kept = evaluator.evaluate_dims(model)[32]["ndcg@10"]
    assert kept == pytest.approx(history[summary["best_epoch"]], abs=1e-4)
    after = _encode(model, probe)
    if mode is Adaptor.ORTHOGONAL:  # a rotation: every full-dim similarity is unchanged
        torch.testing.assert_close(after @ after.T, before @ before.T, atol=1e-5, rtol=1e-5)
    else:
        assert not torch.allclose(after @ after.T, before @ before.T, atol=1e-4)


def test_adaptor_without_dev_keeps_the_last_epoch_and_scored_pairs_train(tiny_model_path):
    data = load_data(FIXTURES / "data" / "scored.tsv", score_range=(0, 5), split=False)
    model = SentenceTransformer(tiny_model_path, device="cpu")
    summary = train_adaptor(
        model,
        data.train,
        mode=Adaptor.LINEAR,
        loss_kind=LossKind.COSENT,
        data_kind=DataKind.SCORED,
        dims=[64, 32],
        epochs=3,
        batch_size=8,
    )
    assert summary["best_epoch"] == 3 and summary["dev_scores"] == []


def test_adaptor_batch_order_follows_its_seed_not_the_global_rng(tiny_model_path):
    data = load_data(PAIRS, split=False)

    def weight(seed: int, global_seed: int) -> torch.Tensor:
        model = SentenceTransformer(tiny_model_path, device="cpu")
        torch.manual_seed(global_seed)  # whatever ran before the adaptor
        kwargs = {"loss_kind": LossKind.MNRL, "data_kind": DataKind.PAIRS, "dims": [64, 32], "epochs": 2}
        train_adaptor(model, data.train, mode=Adaptor.LINEAR, batch_size=4, seed=seed, **kwargs)
        dense = next(m for m in model if isinstance(m, Dense))
        return dense.linear.weight.detach().clone()

    first = weight(seed=7, global_seed=0)
    assert torch.equal(first, weight(seed=7, global_seed=12345))
    assert not torch.allclose(first, weight(seed=8, global_seed=0))


def test_finetune_with_adaptor_reports_it_and_saves_a_loadable_model(tiny_model_path, tmp_path):
    cfg = FinetuneConfig.load(
        None,
        data=str(PAIRS),
        model=tiny_model_path,
        output_dir=str(tmp_path / "out"),
        epochs=1,
        batch_size=8,
        eval_batch_size=16,
        rotate="identity",
        adaptor="orthogonal",
        adaptor_epochs=4,
        adaptor_distill_weight=2.0,
    )
    result = finetune(cfg)
    adaptor = result.report.meta["adaptor"]
    assert adaptor["mode"] == "orthogonal" and len(adaptor["dev_scores"]) == 5
    assert adaptor["distill_weight"] == 2.0
    assert json.loads((tmp_path / "out" / "report.json").read_text())["meta"]["adaptor"]["epochs"] == 4
    model = SentenceTransformer(str(result.model_path), truncate_dim=32, device="cpu")
    assert model.encode(["a query"]).shape == (1, 32)
    # the adaptor was multiplied into the rotation layer: still one Dense
    assert sum(isinstance(m, Dense) for m in model._modules.values()) == 1


def test_distilling_adaptor_brings_truncated_similarities_to_the_full_ones(tiny_model_path):
    """The orthogonal adaptor trained on the distillation term alone (no labels' pull) shrinks the gap."""
    data = load_data(PAIRS)
    model = SentenceTransformer(tiny_model_path, device="cpu")
    texts = list(dict.fromkeys([*data.train["anchor"], *data.train["positive"]]))[:48]
    before = similarity_gap(_encode(model, texts), [64, 32, 16], [1.0, 1.0, 1.0])
    train_adaptor(
        model,
        data.train,
        mode=Adaptor.ORTHOGONAL,
        loss_kind=LossKind.MNRL,
        data_kind=DataKind.PAIRS,
        dims=[64, 32, 16],
        weights=[1e-6, 1e-6, 1e-6],  # the labels barely count: the distillation term drives the layer
        distill_weight=1e6,
        epochs=10,
        learning_rate=1e-2,
        batch_size=8,
    )
    after = similarity_gap(_encode(model, texts), [64, 32, 16], [1.0, 1.0, 1.0])
    assert after < 0.8 * before


def test_adaptor_settings_are_checked():
    with pytest.raises(ConfigError, match="adaptor"):
        FinetuneConfig(data="x", adaptor="sideways")
    with pytest.raises(ConfigError, match="adaptor_epochs"):
        FinetuneConfig(data="x", adaptor_epochs=0)
    with pytest.raises(
        ConfigError, match="adaptor_distill_weight acts on the adaptor; add adaptor: orthogonal"
    ):
        FinetuneConfig(data="x", adaptor_distill_weight=1.0)
    with pytest.raises(ConfigError, match=r"adaptor_distill_weight must be >= 0 \(0: off\), got -1"):
        FinetuneConfig(data="x", adaptor="orthogonal", adaptor_distill_weight=-1)


def test_epochs_zero_trains_only_the_adaptor(tiny_model_path, tmp_path):
    base = SentenceTransformer(tiny_model_path, device="cpu")
    cfg = FinetuneConfig.load(
        None,
        data=str(PAIRS),
        model=tiny_model_path,
        output_dir=str(tmp_path / "out"),
        epochs=0,
        batch_size=8,
        eval_batch_size=16,
        adaptor="orthogonal",
        adaptor_epochs=3,
    )
    result = finetune(cfg)
    meta = result.report.meta
    assert meta["train_seconds"] == 0 and meta["best_checkpoint"] is None
    assert not (tmp_path / "out" / "checkpoints").exists()  # the trainer never ran
    tuned = SentenceTransformer(str(result.model_path), device="cpu")
    # the transformer's weights are the base model's: only the adaptor layer was added
    for (name, a), (_, b) in zip(base[0].named_parameters(), tuned[0].named_parameters(), strict=True):
        torch.testing.assert_close(a, b, msg=name)
    assert any(isinstance(m, Dense) for m in tuned._modules.values())
    # an orthogonal adaptor on the frozen model leaves the full-dim scores exactly as the base model's
    assert result.report.tuned[64]["ndcg@10"] == pytest.approx(result.report.base[64]["ndcg@10"], abs=1e-6)


def test_epochs_zero_needs_an_adaptor():
    with pytest.raises(ConfigError, match="0 is allowed with an adaptor"):
        FinetuneConfig(data="x", epochs=0)
    with pytest.raises(ConfigError, match="epochs must be > 0"):
        FinetuneConfig(data="x", epochs=-1, adaptor="linear")
    for flag in ({"resume": True}, {"rotate": "pca", "rotate_learning_rate": 1e-3}):
        with pytest.raises(ConfigError, match="epochs: 0 skips"):
            FinetuneConfig(data="x", epochs=0, adaptor="linear", **flag)


def test_evaluators_list_every_text_they_encode():
    ir = load_data(PAIRS).eval
    ir_texts = build_evaluator(ir, [64, 32]).texts()
    assert set(ir_texts) == set(ir.queries.values()) | set(ir.corpus.values())
    sts = load_data(FIXTURES / "data" / "scored.tsv", score_range=(0, 5)).eval
    assert build_evaluator(sts, [64, 32]).texts() == [*sts.sentences1, *sts.sentences2]
