import pytest
from sentence_transformers.sentence_transformer import losses

from mrlkit.config import LossKind
from mrlkit.data.types import DataKind
from mrlkit.errors import ConfigError
from mrlkit.training.dims import default_dims, validate_dims
from mrlkit.training.losses import build_loss, resolve_loss_kind


def test_default_dims():
    assert default_dims(384) == [384, 256, 128, 64, 32]
    assert default_dims(768) == [768, 512, 256, 128, 64, 32]
    assert default_dims(1024) == [1024, 512, 256, 128, 64, 32]
    assert validate_dims(None, 384) == [384, 256, 128, 64, 32]


@pytest.mark.parametrize(
    ("dims", "match"),
    [
        ([], "dims is empty"),
        ([384, 0], "dim 0 is not a positive integer"),
        ([384, -32], "dim -32 is not a positive integer"),
        ([512, 256], "dim 512 is larger than the model's embedding dimension 384"),
        ([64, 128], "not strictly descending; use e.g. --dims 128,64"),
        ([128, 128], "not strictly descending"),
        ([128, 64.5], "dim 64.5 is not a positive integer"),
    ],
)
def test_bad_dims(dims, match):
    with pytest.raises(ConfigError, match=match):
        validate_dims(dims, 384)


def test_loss_resolution():
    assert resolve_loss_kind("auto", DataKind.PAIRS) is LossKind.MNRL
    assert resolve_loss_kind("auto", DataKind.SCORED) is LossKind.COSENT
    with pytest.raises(ConfigError, match="use --loss cosent"):
        resolve_loss_kind("mnrl", DataKind.SCORED)
    with pytest.raises(ConfigError, match="needs scored pairs"):
        resolve_loss_kind("cosent", DataKind.TRIPLETS)


def test_build_loss_wraps_in_matryoshka(tiny_model_path):
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(tiny_model_path, device="cpu")
    loss = build_loss(model, "auto", DataKind.PAIRS, [64, 32])
    assert isinstance(loss, losses.MatryoshkaLoss)
    assert isinstance(loss.loss, losses.MultipleNegativesRankingLoss)
    assert list(loss.matryoshka_dims) == [64, 32]
    cached = build_loss(model, "cached-mnrl", DataKind.PAIRS, [64, 32], mini_batch_size=4)
    assert isinstance(cached.loss, losses.CachedMultipleNegativesRankingLoss)
    assert cached.loss.mini_batch_size == 4
    two_d = build_loss(model, "auto", DataKind.TRIPLETS, [64, 32], matryoshka="2d")
    assert isinstance(two_d, losses.Matryoshka2dLoss)
    plain = build_loss(model, "auto", DataKind.SCORED, [64, 32], matryoshka="none")
    assert isinstance(plain, losses.CoSENTLoss)
    with pytest.raises(ConfigError, match="1 values for 2 dims"):
        build_loss(model, "auto", DataKind.PAIRS, [64, 32], weights=[1.0])
