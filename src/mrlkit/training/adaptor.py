"""Matryoshka adaptor: one square layer trained on frozen, cached embeddings, then folded into the model.

A transformer step on a CPU takes seconds, so fine-tuning stops long before the small dims have
converged. The adaptor encodes every training and dev text *once* with the model, then trains a
``dim x dim`` layer on those vectors with the run's own loss (``MatryoshkaLoss`` over in-batch
negatives or CoSENT, the same dims and weights) through sentence-transformers itself: a
:class:`CachedEmbeddings` input module stands in for the transformer, so losses, batch sampler and
evaluator are the library's. Each epoch takes well under a second, and the epoch with the best dev
score is kept. The layer is then multiplied into the model's rotation layer (or inserted before its
``Normalize``), so the saved model is still a plain ``SentenceTransformer`` that loads with
``truncate_dim``.

``orthogonal`` keeps the layer a rotation (torch's orthogonal parametrisation): every full-dim
similarity is unchanged and only the truncated dims move. ``linear`` lets it be any matrix, starting
as the identity, so full-dim scores change too.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import torch
from rich.progress import track
from sentence_transformers import SentenceTransformer
from sentence_transformers.base.modules.input_module import InputModule
from sentence_transformers.base.sampler import NoDuplicatesBatchSampler
from sentence_transformers.sentence_transformer.modules import Dense, Normalize
from torch.nn.utils import parametrizations, parametrize
from torch.utils.data import BatchSampler, RandomSampler

from mrlkit.config import Adaptor, LossKind
from mrlkit.data.types import LABEL_COLUMNS, DataKind
from mrlkit.errors import ConfigError
from mrlkit.training.losses import build_loss
from mrlkit.training.rotation import add_rotation, output_slot, square_layer

if TYPE_CHECKING:
    from datasets import Dataset

    from mrlkit.evaluation.base import MatryoshkaEvaluator

logger = logging.getLogger(__name__)


class CachedEmbeddings(InputModule):
    """An input module that looks each text up in a table of embeddings computed beforehand.

    It lets sentence-transformers' losses and evaluators run on frozen model outputs. It exists only
    while an adaptor trains and is never saved.

    Args:
        texts: The texts, in the table's row order.
        embeddings: A ``(len(texts), dim)`` tensor of their embeddings.
    """

    def __init__(self, texts: Sequence[str], embeddings: torch.Tensor) -> None:
        super().__init__()
        self.index = {t: i for i, t in enumerate(texts)}
        self.register_buffer("table", embeddings)

    def preprocess(self, inputs: Sequence[Any], prompt: str | None = None, **kwargs: Any) -> dict[str, Any]:  # noqa: ANN401
        """Map texts to their rows in the table."""
        texts = [f"{prompt}{t}" if prompt else t for t in inputs]
        missing = next((t for t in texts if t not in self.index), None)
        if missing is not None:
            raise KeyError(f"text not encoded for the adaptor: {str(missing)[:80]!r}")
        return {"text_index": torch.tensor([self.index[t] for t in texts], dtype=torch.long)}

    def forward(self, features: dict[str, Any], **kwargs: Any) -> dict[str, Any]:  # noqa: ANN401
        """Return the cached vectors as ``sentence_embedding``."""
        table: torch.Tensor = self.table  # type: ignore[assignment]
        features["sentence_embedding"] = table[features["text_index"].to(table.device)]
        return features

    def get_embedding_dimension(self) -> int:
        """Width of the cached vectors."""
        return int(self.table.shape[1])  # type: ignore[union-attr]

    def save(self, output_path: str, *args: Any, **kwargs: Any) -> None:  # noqa: ANN401
        """Not saved: the adaptor is folded into the real model instead."""
        raise NotImplementedError("CachedEmbeddings is a training-time stand-in and is never saved")


def train_adaptor(
    model: SentenceTransformer,
    train: Dataset,
    *,
    mode: Adaptor,
    loss_kind: LossKind,
    data_kind: DataKind,
    dims: Sequence[int],
    weights: Sequence[float] | None = None,
    distill_weight: float = 0.0,
    evaluator: MatryoshkaEvaluator | None = None,
    epochs: int = 20,
    learning_rate: float = 1e-3,
    batch_size: int = 32,
    seed: int = 42,
    encode_batch_size: int = 64,
) -> dict[str, Any]:
    """Train a Matryoshka adaptor on ``model``'s frozen embeddings and fold it into ``model`` in place.

    Args:
        model: The (fine-tuned) model; its weights are not trained, only extended by the adaptor.
        train: Training rows in canonical columns (a ``score`` column is the CoSENT label).
        mode: ``orthogonal`` (full-dim similarities kept) or ``linear``.
        loss_kind: The run's base loss (cached MNRL trains as plain MNRL: the vectors are already cached).
        data_kind: Layout of ``train``.
        dims: Matryoshka dims, descending.
        weights: Per-dim loss weights.
        distill_weight: Weight of the similarity distillation term (see :mod:`mrlkit.training.distill`).
        evaluator: Dev evaluator; its primary metric picks the best epoch (without it: the last epoch).
        epochs: Passes over the training rows.
        learning_rate: AdamW learning rate of the layer.
        batch_size: Rows per step (the in-batch negatives).
        seed: Seed of the batch order.
        encode_batch_size: Batch size for the one encoding pass.

    Returns:
        What happened, for the report: mode, epochs, best epoch, dev score per epoch, seconds, texts encoded.
    """
    if mode is Adaptor.NONE:
        raise ConfigError("train_adaptor needs adaptor: orthogonal or linear")
    if model.prompts and any(model.prompts.values()):
        raise ConfigError("the adaptor does not support models with prompts yet; set adaptor: none")
    start = time.perf_counter()
    columns = [c for c in train.column_names if c not in LABEL_COLUMNS]
    label_column = next((c for c in LABEL_COLUMNS if c in train.column_names), None)
    dev_texts = evaluator.texts() if evaluator is not None else []
    texts = sorted({t for c in columns for t in train[c]} | set(dev_texts))
    vectors = model.encode(
        texts, batch_size=encode_batch_size, convert_to_tensor=True, show_progress_bar=True
    ).detach()
    dim = vectors.shape[1]
    dense = square_layer(dim, device=vectors.device)  # starts as the identity
    if mode is Adaptor.ORTHOGONAL:
        parametrizations.orthogonal(dense.linear)
    modules: list[torch.nn.Module] = [CachedEmbeddings(texts, vectors.float()), dense]
    if output_slot(model) < len(model._modules):  # the model normalises its output: so does the proxy
        modules.append(Normalize())
    proxy = SentenceTransformer(modules=modules, device=str(vectors.device))
    proxy.similarity_fn_name = model.similarity_fn_name
    base_kind = LossKind.MNRL if loss_kind is LossKind.CACHED_MNRL else loss_kind
    loss = build_loss(proxy, base_kind, data_kind, dims, weights=weights, distill_weight=distill_weight)
    sampler: Iterable[list[int]]
    if base_kind is LossKind.MNRL:  # in-batch negatives: no text twice in a batch, as the trainer does
        sampler = NoDuplicatesBatchSampler(  # without a generator the sampler ignores seed
            train,
            batch_size=batch_size,
            drop_last=False,
            valid_label_columns=list(LABEL_COLUMNS),
            generator=torch.Generator(),
            seed=seed,
        )
    else:
        order = RandomSampler(range(len(train)), generator=torch.Generator().manual_seed(seed))
        sampler = BatchSampler(order, batch_size=batch_size, drop_last=False)
    optimizer = torch.optim.AdamW(dense.parameters(), lr=learning_rate, weight_decay=0.0)
    history: list[float] = []
    if evaluator is not None:  # epoch 0, the identity: kept if no epoch beats it
        history.append(_dev_score(proxy, evaluator))
    best_state, best_epoch = copy.deepcopy(dense.state_dict()), 0
    for epoch in track(range(epochs), description=f"Training the {mode.value} adaptor"):
        if isinstance(sampler, NoDuplicatesBatchSampler):
            sampler.set_epoch(epoch)
        proxy.train()
        for batch in sampler:
            rows = train[batch]
            features = [proxy.preprocess(rows[c]) for c in columns]
            labels = None
            if label_column is not None:
                labels = torch.tensor(rows[label_column], dtype=torch.float, device=vectors.device)
            with parametrize.cached():
                value = loss(features, labels)
            optimizer.zero_grad()
            value.backward()
            optimizer.step()
        if evaluator is None:
            best_state, best_epoch = copy.deepcopy(dense.state_dict()), epoch + 1
            continue
        score = _dev_score(proxy, evaluator)
        history.append(score)
        if score > max(history[:-1]):
            best_state, best_epoch = copy.deepcopy(dense.state_dict()), epoch + 1
    dense.load_state_dict(best_state)
    fold_into(model, dense.linear.weight.detach().float())
    logger.info("adaptor (%s): kept epoch %d of %d", mode.value, best_epoch, epochs)
    return {
        "mode": mode.value,
        "epochs": epochs,
        "learning_rate": learning_rate,
        "distill_weight": distill_weight,
        "best_epoch": best_epoch,
        "dev_metric": None if evaluator is None else evaluator.best_model_metric,
        "dev_scores": history,  # [0] is the model before the adaptor
        "texts_encoded": len(texts),
        "seconds": round(time.perf_counter() - start, 1),
    }


def _dev_score(proxy: SentenceTransformer, evaluator: MatryoshkaEvaluator) -> float:
    """The evaluator's model-selection metric for the adaptor as it stands."""
    proxy.eval()
    with torch.no_grad(), parametrize.cached():
        scores = evaluator.evaluate_dims(proxy)
    return round(float(scores[evaluator.primary_dim][evaluator.primary_metric_name]), 6)


def fold_into(model: SentenceTransformer, matrix: torch.Tensor) -> None:
    """Apply ``matrix`` to ``model``'s output: multiply it into the rotation layer, or insert one.

    The rotation layer is the square, bias-free, identity-activation ``Dense`` just before ``Normalize``
    (what ``rotate: pca`` adds); then the model keeps one layer, ``W <- matrix @ W``.
    """
    at = output_slot(model)
    last = list(model._modules.values())[at - 1] if at > 0 else None
    if (
        matrix.shape[0] == matrix.shape[1]
        and isinstance(last, Dense)
        and last.linear.bias is None
        and isinstance(last.activation_function, torch.nn.Identity)
        and tuple(last.linear.weight.shape) == tuple(matrix.shape)
    ):
        weight = last.linear.weight
        with torch.no_grad():
            weight.copy_(matrix.to(weight.device, weight.dtype) @ weight)
        return
    add_rotation(model, matrix.cpu().numpy())
