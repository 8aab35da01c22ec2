"""Sparse encoders for ``finetune --model-type splade | inference-free-splade | csr``: model and loss.

Wraps sentence-transformers' ``sparse_encoder`` package: SPLADE is an MLM head with ``SpladePooling``
trained with ``SpladeLoss`` (FLOPS regularisers on queries and documents, their weights warmed up by
the trainer's ``SpladeRegularizerWeightSchedulerCallback``); inference-free SPLADE routes queries to a
``SparseStaticEmbedding`` (one learnt weight per vocabulary token, no transformer at query time) and
documents to the MLM + ``SpladePooling``; CSR puts a ``SparseAutoEncoder`` (top-k latents) on a dense
model and trains it with ``CSRLoss``. :func:`~mrlkit.training.finetune.finetune` calls these and keeps
its one training loop.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

from datasets import Dataset
from torch import nn

from mrlkit.config import FinetuneConfig, LossKind, ModelType
from mrlkit.config.finetune import loss_scale
from mrlkit.data.types import LABEL_COLUMNS, DataKind, TrainingData
from mrlkit.errors import ConfigError
from mrlkit.models.resolve import DEFAULT_MODEL, DEFAULT_SPARSE_MODEL, resolve_model

logger = logging.getLogger(__name__)

SPARSE_MODULES = ("SpladePooling", "SparseStaticEmbedding", "SparseAutoEncoder")


def is_sparse(config: FinetuneConfig) -> bool:
    """Whether the run trains a sparse encoder."""
    return config.model_type is not ModelType.DENSE


def base_model_name(config: FinetuneConfig) -> str:
    """The model to start from: SPLADE types left on the dense default start from SPLADE-tiny."""
    splade = config.model_type in (ModelType.SPLADE, ModelType.INFERENCE_FREE_SPLADE)
    if splade and config.model == DEFAULT_MODEL:
        logger.info("model_type %s: starting from %s", config.model_type.value, DEFAULT_SPARSE_MODEL)
        return DEFAULT_SPARSE_MODEL
    return config.model


def saved_modules(path: Path) -> list[str]:
    """Class names in a saved model's ``modules.json`` (and a Router's ``router_config.json``); [] if none."""
    names: list[str] = []
    for file in ("modules.json", "router_config.json"):
        if (path / file).is_file():
            names.append(json.dumps(json.loads((path / file).read_text(encoding="utf-8"))))
    return [name for name in (*SPARSE_MODULES, "Router", "Pooling") if any(name in text for text in names)]


def is_mlm(path: Path) -> bool:
    """Whether a Hugging Face model folder has a masked-language-model head (``*ForMaskedLM``)."""
    config_file = path / "config.json"
    if not config_file.is_file():
        return False
    architectures = json.loads(config_file.read_text(encoding="utf-8")).get("architectures") or []
    return any(str(a).endswith("ForMaskedLM") for a in architectures)


def load_sparse_model(config: FinetuneConfig) -> Any:  # noqa: ANN401 - SparseEncoder, imported lazily
    """Build the model ``config.model_type`` asks for, from a base or from a saved sparse model.

    Raises:
        ConfigError: A dense model given to a SPLADE type (no MLM head), or a CSR k the latent cannot hold.
    """
    from sentence_transformers import SentenceTransformer, SparseEncoder
    from sentence_transformers.sparse_encoder.modules import Router, SparseAutoEncoder, SparseStaticEmbedding

    name = base_model_name(config)
    path = Path(resolve_model(name))
    found = saved_modules(path) if path.is_dir() else []
    if any(m in found for m in SPARSE_MODULES):  # a saved sparse model (e.g. mrlkit's own output): go on
        return _check_saved_kind(config, SparseEncoder(str(path)), found, name)
    if config.model_type is ModelType.CSR:
        dense = SentenceTransformer(str(path))
        dim = dense.get_embedding_dimension()
        hidden = config.csr_hidden_dim or 4 * int(dim or 0)
        if config.csr_k > hidden:
            raise ConfigError(
                f"csr_k {config.csr_k} is larger than the CSR hidden size {hidden}; use --csr-k <= {hidden}"
            )
        sae = SparseAutoEncoder(
            input_dim=int(dim or 0), hidden_dim=hidden, k=config.csr_k, k_aux=config.csr_k_aux
        )
        return SparseEncoder(modules=[*dense, sae])
    if not path.is_dir() or "Pooling" in found or not is_mlm(path):
        raise ConfigError(
            f"model {name!r} has no masked-language-model head (config.json architectures *ForMaskedLM), "
            f"which --model-type {config.model_type.value} needs to weight the vocabulary; use a SPLADE or "
            f"MLM model (default: splade-tiny) or --model-type csr for a dense model"
        )
    splade = SparseEncoder(str(path))
    if config.model_type is ModelType.SPLADE:
        return splade
    transformer, pooling = splade[0], splade[1]
    static = SparseStaticEmbedding(tokenizer=splade.tokenizer, frozen=False)
    router = Router.for_query_document(query_modules=[static], document_modules=[transformer, pooling])
    return SparseEncoder(modules=[router], similarity_fn_name="dot")


def _check_saved_kind(config: FinetuneConfig, model: Any, found: list[str], name: str) -> Any:  # noqa: ANN401
    want = {
        ModelType.SPLADE: "SpladePooling",
        ModelType.INFERENCE_FREE_SPLADE: "SparseStaticEmbedding",
        ModelType.CSR: "SparseAutoEncoder",
    }[config.model_type]
    if want not in found:
        raise ConfigError(
            f"model {name!r} is a saved sparse model without {want}, which --model-type "
            f"{config.model_type.value} needs; pick the model type it was trained as"
        )
    return model


def loss_kind_of(config: FinetuneConfig, data_kind: DataKind) -> LossKind:
    """Sparse losses: in-batch negatives for pairs/triplets, CoSENT for scored pairs."""
    if config.loss is LossKind.CACHED_MNRL:
        raise ConfigError(
            f"loss cached-mnrl is not available for --model-type {config.model_type.value}; use --loss mnrl"
        )
    scored = data_kind is DataKind.SCORED
    if config.loss is LossKind.AUTO:
        return LossKind.COSENT if scored else LossKind.MNRL
    if scored != (config.loss is LossKind.COSENT):
        raise ConfigError(
            f"loss {config.loss.value!r} does not fit {data_kind.value} data; use --loss "
            f"{'cosent' if scored else 'mnrl'}"
        )
    return config.loss


def build_sparse_loss(model: Any, config: FinetuneConfig, loss_kind: LossKind) -> nn.Module:  # noqa: ANN401
    """SpladeLoss (SPLADE types) or CSRLoss (CSR) around a sparse MNRL, CoSENT or (teacher) MarginMSE loss."""
    from sentence_transformers.sparse_encoder import losses

    if config.teacher is not None:
        if loss_kind is LossKind.COSENT:
            raise ConfigError(
                "teacher needs (query, positive, negative) rows to score, but the data is scored pairs; "
                "drop --teacher or give pairs or triplets"
            )
        base: nn.Module = losses.SparseMarginMSELoss(model)  # on the teacher's scores (training/teacher.py)
    elif loss_kind is LossKind.COSENT:
        base = losses.SparseCoSENTLoss(model, scale=loss_scale(config))
    else:
        base = losses.SparseMultipleNegativesRankingLoss(model, scale=loss_scale(config, sparse_mnrl=True))
    if config.model_type is ModelType.CSR:
        return losses.CSRLoss(model, loss=base)
    inference_free = config.model_type is ModelType.INFERENCE_FREE_SPLADE
    query_weight = config.query_regularizer_weight
    return losses.SpladeLoss(
        model,
        loss=base,
        document_regularizer_weight=config.document_regularizer_weight,
        query_regularizer_weight=None if inference_free or loss_kind is LossKind.COSENT else query_weight,
        use_document_regularizer_only=loss_kind is LossKind.COSENT,  # scored pairs: both sides are texts
    )


def router_mapping(config: FinetuneConfig, train: Dataset, source: str) -> dict[str, str]:
    """Column -> route for inference-free SPLADE: the user's mapping, or the first column to queries.

    Raises:
        ConfigError: A mapped column that the training data does not have.
    """
    columns = [c for c in train.column_names if c not in LABEL_COLUMNS]
    if not config.router_mapping:
        return {c: ("query" if i == 0 else "document") for i, c in enumerate(columns)}
    missing = sorted(set(config.router_mapping) - set(columns))
    if missing:
        raise ConfigError(
            f"router_mapping names column(s) {missing} that {source} does not have; its columns are "
            f"{columns} (e.g. --router-mapping {columns[0]}=query)"
        )
    return {c: config.router_mapping.get(c, "document") for c in columns}


def sparse_training_extras(config: FinetuneConfig, train: Dataset, model: nn.Module) -> dict[str, Any]:
    """Extra ``SparseEncoderTrainingArguments`` of the run (router mapping, static-embedding or CSR rate)."""
    if config.model_type is ModelType.CSR and config.csr_learning_rate is not None:
        return {"learning_rate_mapping": _autoencoder_rates(model, config.csr_learning_rate)}
    if config.model_type is not ModelType.INFERENCE_FREE_SPLADE:
        return {}
    from sentence_transformers.sparse_encoder.modules import SparseStaticEmbedding

    names = [n for n, m in model.named_modules() if isinstance(m, SparseStaticEmbedding)]
    return {
        "router_mapping": router_mapping(config, train, config.data),
        "learning_rate_mapping": {
            rf"(^|\.){re.escape(n)}\.weight$": config.static_learning_rate for n in names
        },
    }


def sparse_trainer_setup(
    config: FinetuneConfig,
    plan: Any,
    lr_mapping: dict[str, float] | None,
    callbacks: list[Any] | None,  # noqa: ANN401
) -> tuple[Any, dict[str, Any], dict[str, float] | None, list[Any]]:
    """Trainer class, extra training arguments, learning-rate mapping and callbacks of a sparse run."""
    from sentence_transformers import SparseEncoderTrainer, SparseEncoderTrainingArguments

    extras = {
        "args_cls": SparseEncoderTrainingArguments,
        **sparse_training_extras(config, plan.data.train, plan.model),
    }
    lr_mapping = {**(lr_mapping or {}), **extras.pop("learning_rate_mapping", {})} or None
    return (
        SparseEncoderTrainer,
        extras,
        lr_mapping,
        [*(callbacks or []), *sparse_callbacks(config, plan.loss)],
    )


def sparse_callbacks(config: FinetuneConfig, loss: nn.Module) -> list[Any]:
    """The FLOPS weight warm-up of SPLADE types (quadratic, over ``regularizer_warmup_ratio`` of steps)."""
    from sentence_transformers.sparse_encoder.callbacks.splade_callbacks import (
        SpladeRegularizerWeightSchedulerCallback,
    )
    from sentence_transformers.sparse_encoder.losses import SpladeLoss

    if not isinstance(loss, SpladeLoss):
        return []
    return [SpladeRegularizerWeightSchedulerCallback(loss, warmup_ratio=config.regularizer_warmup_ratio)]


def sparse_dims(config: FinetuneConfig, model_dim: int) -> list[int]:
    """Caps on active dims the report scores: SPLADE, no cap (the vocabulary size); CSR, around k.

    CSR's default is 4k, 2k, k, k/2, k/4 (e.g. 128/64/32/16/8 for k=32) within its latent size, so its
    table reads like the Matryoshka per-dim table. ``--dims`` overrides either.
    """
    from mrlkit.training.dims import validate_dims

    if config.dims is not None:
        return validate_dims(config.dims, model_dim)
    if config.model_type is not ModelType.CSR:
        return [model_dim]
    k = config.csr_k
    return sorted({d for d in (4 * k, 2 * k, k, k // 2, k // 4) if 0 < d <= model_dim}, reverse=True)


def primary_k(config: FinetuneConfig, dims: list[int]) -> int:
    """The k whose score picks the best checkpoint: ``best_dim``, else CSR's k, else the largest."""
    if config.best_dim is not None:
        if config.best_dim not in dims:
            raise ConfigError(
                f"best_dim {config.best_dim} is not one of the scored k {dims}; pick one of them"
            )
        return config.best_dim
    if config.model_type is ModelType.CSR and config.csr_k in dims:
        return config.csr_k
    return dims[0]


def plan_sparse(
    config: FinetuneConfig, data: TrainingData
) -> tuple[Any, list[int], LossKind, nn.Module, Any]:
    """Model, scored k, loss kind, loss and dev evaluator of a sparse run, checked before anything is written.

    Raises:
        ConfigError: A bad setting for the model type (see :func:`load_sparse_model`, :func:`router_mapping`).
    """
    from mrlkit.evaluation.sparse import sparse_dimension
    from mrlkit.training.data_setup import dev_evaluator

    loss_kind = loss_kind_of(config, data.kind)
    if config.model_type is ModelType.INFERENCE_FREE_SPLADE:
        router_mapping(config, data.train, config.data)  # a bad column fails before the model loads
    model = load_sparse_model(config)
    if config.max_seq_length is not None:
        model.max_seq_length = config.max_seq_length
    dims = sparse_dims(config, sparse_dimension(model))
    loss = build_sparse_loss(model, config, loss_kind)
    evaluator = dev_evaluator(config, data, dims, primary_k(config, dims), sparse=True)
    return model, dims, loss_kind, loss, evaluator


def sparse_loss_name(config: FinetuneConfig, loss: nn.Module) -> str:
    """The loss as the report names it, e.g. ``SpladeLoss(SparseMultipleNegativesRankingLoss)``."""
    inner = getattr(loss, "loss", None)
    return f"{type(loss).__name__}({type(inner).__name__})" if inner is not None else type(loss).__name__


class DenseView:
    """A sparse encoder seen as a dense one, for sentence-transformers' ``mine_hard_negatives``.

    The miner asks for numpy, normalised embeddings (keywords a ``SparseEncoder`` refuses); this view
    encodes with the sparse model and hands back its vectors densified, unnormalised, so candidates are
    ranked by the model's own dot-product score. Memory: rows x vocabulary floats (SciFact's 5,183
    documents x 30,522 tokens: about 630 MB).
    """

    def __init__(self, model: Any) -> None:  # noqa: ANN401
        self._model = model

    def __getattr__(self, name: str) -> Any:  # noqa: ANN401
        return getattr(self._model, name)

    def _encode(self, encode: Any, texts: Any, **kwargs: Any) -> Any:  # noqa: ANN401
        for key in ("normalize_embeddings", "convert_to_numpy", "pool"):
            kwargs.pop(key, None)
        out = encode(texts, convert_to_sparse_tensor=True, **kwargs)
        return out.to_dense().float().cpu().numpy()

    def encode_query(self, texts: Any, **kwargs: Any) -> Any:  # noqa: ANN401
        """Query vectors, dense numpy."""
        return self._encode(self._model.encode_query, texts, **kwargs)

    def encode_document(self, texts: Any, **kwargs: Any) -> Any:  # noqa: ANN401
        """Document vectors, dense numpy."""
        return self._encode(self._model.encode_document, texts, **kwargs)


def mining_model(config: FinetuneConfig, model: Any) -> Any:  # noqa: ANN401
    """The model hard negatives are mined with: the model itself, or its :class:`DenseView` if sparse."""
    return DenseView(model) if is_sparse(config) else model


def _autoencoder_rates(model: nn.Module, rate: float) -> dict[str, float]:
    """``learning_rate_mapping`` entries giving each SparseAutoEncoder parameter ``rate``.

    CSR's autoencoder starts from random weights under a pretrained encoder: on a small dataset it needs
    a higher rate than the encoder's fine-tuning rate. One anchored pattern per parameter, so no encoder
    parameter (``...layer.3.attention...``) can match.
    """
    from sentence_transformers.sparse_encoder.modules import SparseAutoEncoder

    return {
        rf"(^|\.){re.escape(f'{name}.{param}')}$": rate
        for name, module in model.named_modules()
        if isinstance(module, SparseAutoEncoder)
        for param, _ in module.named_parameters()
    }
