"""The choices of :class:`~mrlkit.config.FinetuneConfig` (enums) and its field helper."""

from __future__ import annotations

from dataclasses import field
from enum import Enum
from typing import Any


class LossKind(str, Enum):
    """Base loss wrapped by the Matryoshka modifier. ``auto``: CoSENT for scored pairs, else MNRL."""

    AUTO = "auto"
    MNRL = "mnrl"  # MultipleNegativesRankingLoss: in-batch negatives
    CACHED_MNRL = "cached-mnrl"  # CachedMultipleNegativesRankingLoss: large batches in little memory
    COSENT = "cosent"  # CoSENTLoss for scored pairs


class MatryoshkaMode(str, Enum):
    """How the base loss is applied across dimensions (and layers)."""

    MRL = "1d"  # MatryoshkaLoss over dims
    MRL_2D = "2d"  # Matryoshka2dLoss: dims and fewer layers
    NONE = "none"  # plain loss at full dimension (the baseline Matryoshka is compared against)


class Rotation(str, Enum):
    """Orthogonal rotation added before training so that the leading dims carry the most signal."""

    NONE = "none"
    PCA = "pca"  # principal axes of the training texts' embeddings, largest first
    IDENTITY = "identity"  # the same trainable layer, starting as the identity (no change at start)


class Adaptor(str, Enum):
    """A square layer trained after fine-tuning on the model's frozen, cached embeddings."""

    NONE = "none"
    ORTHOGONAL = "orthogonal"  # a rotation: full-dim similarities unchanged, truncated dims improve
    LINEAR = "linear"  # any matrix, starting as the identity: every dim may change


class Precision(str, Enum):
    """Training precision. ``auto``: bf16 + tf32 on a GPU that supports them, fp32 on CPU."""

    AUTO = "auto"
    FP32 = "fp32"
    BF16 = "bf16"
    FP16 = "fp16"


class ReportTo(str, Enum):
    """Experiment tracker the trainer also logs to (the console line and metrics.jsonl are always written)."""

    NONE = "none"
    TENSORBOARD = "tensorboard"  # pip install "mrlkit[tensorboard]"
    WANDB = "wandb"  # pip install wandb


class Activation(str, Enum):
    """Activation of the ``output_dim`` projection head."""

    IDENTITY = "identity"  # a plain linear map
    TANH = "tanh"  # as BERT's pooler and PaddleNLP's semantic-index head


class ModelType(str, Enum):
    """What is trained: a dense Matryoshka model or one of sentence-transformers' sparse encoders."""

    DENSE = "dense"  # SentenceTransformer, Matryoshka loss over dims
    SPLADE = "splade"  # MLM head + SpladePooling, SpladeLoss (FLOPS regularisers)
    INFERENCE_FREE_SPLADE = "inference-free-splade"  # static query weights, MLM + SpladePooling documents
    CSR = "csr"  # SparseAutoEncoder (top-k) on a dense model, CSRLoss


class Panel(str, Enum):
    """The group a setting is listed under in ``mrlkit finetune --help``."""

    DATA = "Data"
    MODEL = "Model and dims"
    TRAINING = "Training"
    ADAPTOR = "Adaptor and rotation"
    EVALUATION = "Evaluation"
    OUTPUT = "Output"
    SPARSE = "Sparse models"


def _help(text: str, panel: Panel | None = None, **kwargs: Any) -> Any:  # noqa: ANN401
    """A field with its one-line CLI help and help panel; explanations: docs/finetuning-options.md."""
    return field(metadata={"help": text, "panel": panel}, **kwargs)
