"""PCA rotation: orthogonal, full-dim similarities unchanged, leading dims carry the most variance."""

import json

import numpy as np
import pytest
import torch
from conftest import FIXTURES
from sentence_transformers import SentenceTransformer
from sentence_transformers.sentence_transformer.modules import Dense, Normalize

from mrlkit import FinetuneConfig, finetune
from mrlkit.data.types import IRSet
from mrlkit.errors import ConfigError
from mrlkit.training.rotation import add_pca_rotation, add_rotation, pca_rotation, sample_texts

TEXTS = [
    "how do vaccines train the immune system",
    "antibodies bind to antigens on pathogens",
    "the stock market fell sharply on friday",
    "interest rates were raised by the central bank",
    "a recipe for sourdough bread with rye flour",
    "bake the loaf at a high temperature",
    "the striker scored twice in the final",
    "the goalkeeper saved a penalty",
]


def test_pca_rotation_is_orthogonal_and_orders_variance():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 16)) * np.linspace(0.1, 3.0, 16)  # variance grows with the column
    r = pca_rotation(x)
    np.testing.assert_allclose(r @ r.T, np.eye(16), atol=1e-5)
    energy = ((x @ r.T) ** 2).sum(axis=0)
    assert np.all(np.diff(energy) <= 1e-6)  # largest second moment first
    # fewer samples than dims: still a full orthogonal basis
    r_small = pca_rotation(x[:5])
    np.testing.assert_allclose(r_small @ r_small.T, np.eye(16), atol=1e-5)
    with pytest.raises(ConfigError):
        pca_rotation(np.zeros((0, 4)))


def test_sample_texts_unique_seeded_and_capped():
    cols = [["b", "a", "a", " "], ["c", "b"]]
    assert sample_texts(cols, 10) == ["a", "b", "c"]
    assert sample_texts(cols, 2, seed=1) == sample_texts(cols, 2, seed=1)
    assert len(sample_texts(cols, 2)) == 2


def test_rotation_keeps_full_dim_similarity_and_helps_truncation(minilm_path, tmp_path):
    model = SentenceTransformer(minilm_path, device="cpu")
    before = model.encode(TEXTS, convert_to_tensor=True)
    add_pca_rotation(model, TEXTS, batch_size=8)
    assert isinstance(list(model)[-2], Dense) and isinstance(list(model)[-1], Normalize)
    after = model.encode(TEXTS, convert_to_tensor=True)
    # the rotation is orthogonal: every full-dim cosine is the same
    torch.testing.assert_close(after @ after.T, before @ before.T, atol=1e-5, rtol=1e-5)
    # the first 4 dims hold more of the texts' energy than the unrotated first 4 dims
    assert (after[:, :4] ** 2).sum() > (before[:, :4] ** 2).sum()
    # saved and reloaded with truncate_dim, like any sentence-transformers model
    model.save(str(tmp_path / "rotated"))
    reloaded = SentenceTransformer(str(tmp_path / "rotated"), truncate_dim=8, device="cpu")
    torch.testing.assert_close(
        reloaded.encode(TEXTS, convert_to_tensor=True), after[:, :8], atol=1e-5, rtol=0
    )


def test_identity_rotation_changes_nothing_until_trained(minilm_path):
    model = SentenceTransformer(minilm_path, device="cpu")
    before = model.encode(TEXTS, convert_to_tensor=True)
    name = add_rotation(model, np.eye(384, dtype=np.float32))
    torch.testing.assert_close(model.encode(TEXTS, convert_to_tensor=True), before, atol=1e-6, rtol=0)
    assert model[int(name)].linear.weight.requires_grad  # a trainable layer, not a fixed transform
    with pytest.raises(ConfigError, match="384x384"):
        add_rotation(model, np.eye(8, dtype=np.float32))


def test_finetune_with_rotation(tiny_model_path, tmp_path):
    cfg = FinetuneConfig.load(
        None,
        data=str(FIXTURES / "data" / "pairs.jsonl"),
        model=tiny_model_path,
        output_dir=str(tmp_path / "out"),
        epochs=1,
        batch_size=8,
        eval_batch_size=16,
        rotate="pca",
        eval_corpus_size=5,
    )
    result = finetune(cfg)
    modules = json.loads((result.model_path / "modules.json").read_text())
    assert [m["type"].rsplit(".", 1)[-1] for m in modules] == ["Transformer", "Pooling", "Dense", "Normalize"]
    assert result.report.meta["rotate"] == "pca"
    with pytest.raises(ConfigError, match="rotate must be one of"):
        FinetuneConfig.load(None, data="x", rotate="svd")
    with pytest.raises(ConfigError, match="eval_corpus_size"):
        FinetuneConfig.load(None, data="x", eval_corpus_size=0)


def test_subsample_corpus_keeps_relevant_docs():
    corpus = {f"d{i}": f"text {i}" for i in range(50)}
    ir = IRSet(queries={"q1": "a", "q2": "b"}, corpus=corpus, relevant={"q1": {"d3"}, "q2": {"d40", "d41"}})
    small = ir.subsample_corpus(10, seed=0)
    assert len(small.corpus) == 10 and {"d3", "d40", "d41"} <= set(small.corpus)
    assert small.subsample_corpus(10) is small
    assert ir.subsample_corpus(10, seed=0).corpus == small.corpus  # seeded
    assert set(ir.subsample_corpus(2).corpus) == {"d3", "d40", "d41"}  # relevant docs are never dropped


@pytest.mark.parametrize("rotate", ["pca", "identity"])
def test_freeze_encoder_trains_only_the_rotation(tiny_model_path, tmp_path, rotate):
    cfg = FinetuneConfig.load(
        None,
        data=str(FIXTURES / "data" / "pairs.jsonl"),
        model=tiny_model_path,
        output_dir=str(tmp_path / "out"),
        epochs=1,
        batch_size=8,
        eval_batch_size=16,
        rotate=rotate,
        freeze_encoder=True,
        rotate_learning_rate=1e-2,
        load_best_model=False,
    )
    result = finetune(cfg)
    base = SentenceTransformer(tiny_model_path, device="cpu")
    tuned = SentenceTransformer(str(result.model_path), device="cpu")
    pairs = zip(base[0].named_parameters(), tuned[0].named_parameters(), strict=True)
    for (name, p_base), (_, p_tuned) in pairs:
        torch.testing.assert_close(p_tuned, p_base, msg=name)  # the transformer is untouched
    w = tuned[2].linear.weight.detach()
    assert not torch.allclose(w @ w.T, torch.eye(64), atol=1e-4)  # the rotation moved off orthogonal
    assert result.report.meta["freeze_encoder"] is True
    assert result.report.meta["rotate"] == rotate
    with pytest.raises(ConfigError, match="rotate: pca"):
        FinetuneConfig.load(None, data="x", freeze_encoder=True)
