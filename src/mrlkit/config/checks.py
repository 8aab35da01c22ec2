"""Cross-field checks of :class:`~mrlkit.config.FinetuneConfig` (each raises one clear ConfigError)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mrlkit.config.enums import Adaptor, LossKind, MatryoshkaMode, ModelType, Rotation
from mrlkit.errors import ConfigError

if TYPE_CHECKING:
    from mrlkit.config.finetune import FinetuneConfig


def check_projection_and_margin(config: FinetuneConfig) -> None:
    """Refuse a non-positive output_dim, dims above it, a margin outside [0, 2) or one on a non-mnrl loss."""
    if config.output_dim is not None:
        if config.output_dim <= 0:
            raise ConfigError(f"output_dim must be a positive number of dims, got {config.output_dim!r}")
        too_big = [d for d in config.dims or [] if d > config.output_dim]
        if too_big:
            raise ConfigError(
                f"dims {too_big} are larger than output_dim {config.output_dim}; use dims <= "
                f"{config.output_dim} or leave dims unset (default: {config.output_dim}, then powers of 2)"
            )
    if not 0.0 <= config.margin < 2.0:
        raise ConfigError(f"margin must be in [0, 2) (a cosine margin; 0: off), got {config.margin!r}")
    if config.margin and config.loss not in (LossKind.AUTO, LossKind.MNRL):
        raise ConfigError(
            f"margin works with the mnrl loss, not with loss {config.loss.value!r}; "
            "use --loss mnrl or --margin 0"
        )
    if config.scale is not None and config.scale <= 0:
        raise ConfigError(f"scale must be > 0 (1/temperature; default 20), got {config.scale!r}")


def check_sparse(config: FinetuneConfig) -> None:
    """Refuse negative regulariser weights, bad CSR sizes and routes other than query/document."""
    for name in ("query_regularizer_weight", "document_regularizer_weight"):
        if getattr(config, name) < 0:
            raise ConfigError(f"{name} must be >= 0 (0: no FLOPS regulariser), got {getattr(config, name)!r}")
    if not 0.0 < config.regularizer_warmup_ratio <= 1.0:
        raise ConfigError(
            f"regularizer_warmup_ratio must be in (0, 1], got {config.regularizer_warmup_ratio!r}"
        )
    if config.static_learning_rate <= 0:
        raise ConfigError(f"static_learning_rate must be > 0, got {config.static_learning_rate!r}")
    if config.csr_learning_rate is not None and config.csr_learning_rate <= 0:
        raise ConfigError(f"csr_learning_rate must be > 0, got {config.csr_learning_rate!r}")
    for name in ("csr_k", "csr_k_aux"):
        if getattr(config, name) <= 0:
            raise ConfigError(f"{name} must be > 0, got {getattr(config, name)!r}")
    hidden = config.csr_hidden_dim
    if hidden is not None and (hidden <= 0 or config.csr_k > hidden):
        raise ConfigError(
            f"csr_k {config.csr_k} must be <= csr_hidden_dim {hidden} (the active dims are a subset of the "
            f"latent); lower --csr-k or raise --csr-hidden-dim"
        )
    bad = {c: r for c, r in config.router_mapping.items() if r not in ("query", "document")}
    if bad:
        raise ConfigError(f"router_mapping routes must be query or document, got {bad}; e.g. anchor=query")
    sparse_only = config.router_mapping and config.model_type is not ModelType.INFERENCE_FREE_SPLADE
    if sparse_only:
        raise ConfigError(
            "router_mapping is for --model-type inference-free-splade; drop it or set that type"
        )
    check_teacher(config)
    if config.model_type is not ModelType.DENSE and (
        config.adaptor is not Adaptor.NONE or config.rotate is not Rotation.NONE or config.output_dim
    ):
        raise ConfigError(
            f"adaptor, rotate and output_dim act on dense Matryoshka models, not --model-type "
            f"{config.model_type.value}; drop them"
        )


def check_teacher(config: FinetuneConfig) -> None:
    """A teacher distils into sparse models only, and replaces the in-batch-negatives loss."""
    if config.teacher is None:
        return
    if not config.teacher.strip():
        raise ConfigError("teacher is empty; give a cross-encoder's hub id or local folder, or drop it")
    if config.model_type is ModelType.DENSE:
        raise ConfigError(
            "teacher distils a cross-encoder into a sparse model (--model-type splade, "
            "inference-free-splade or csr), not a dense one; drop --teacher or set --model-type"
        )
    if config.loss not in (LossKind.AUTO, LossKind.MNRL):
        raise ConfigError(
            f"teacher trains with MarginMSE on the teacher's scores, which replaces loss "
            f"{config.loss.value!r}; drop --loss (or use --loss mnrl)"
        )


def check_distill(weight: float, matryoshka: MatryoshkaMode, loss: LossKind) -> None:
    """Similarity distillation rides on 1d MatryoshkaLoss over a non-cached loss: refuse anything else."""
    if weight and (matryoshka is not MatryoshkaMode.MRL or loss is LossKind.CACHED_MNRL):
        raise ConfigError(
            f"similarity_distill_weight works with matryoshka: 1d and the mnrl or cosent loss, not with "
            f"matryoshka: {matryoshka.value} and loss: {loss.value}; set it to 0 or change them"
        )
