"""``FinetuneConfig``: every setting of ``mrlkit finetune``, with its default, type and one-line help."""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

import yaml

from mrlkit.config.checks import check_distill, check_projection_and_margin, check_sparse
from mrlkit.config.enums import (
    Activation,
    Adaptor,
    LossKind,
    MatryoshkaMode,
    ModelType,
    Panel,
    Precision,
    ReportTo,
    Rotation,
    _help,
)
from mrlkit.config.parsing import _enum, _read_yaml, parse_value
from mrlkit.data.types import DataKind, HardNegativesMode, NegativeLayout
from mrlkit.errors import ConfigError
from mrlkit.models.resolve import DEFAULT_MODEL


@dataclass
class FinetuneConfig:
    """Settings for one fine-tuning run.

    ``mrlkit finetune --help`` shows each field's one-line help, grouped by panel;
    docs/finetuning-options.md explains each field and the benchmarks behind it.
    """

    data: str = _help("Training data: a JSONL/CSV/TSV/Parquet file or a BEIR folder.", Panel.DATA, default="")
    model: str = _help("Base model: a hub id or a local directory.", Panel.MODEL, default=DEFAULT_MODEL)
    model_type: ModelType = _help(
        "dense, or a sparse encoder: splade, inference-free-splade, csr (docs/sparse.md).",
        Panel.SPARSE,
        default=ModelType.DENSE,
    )
    query_regularizer_weight: float = _help(
        "SPLADE: FLOPS weight on query vectors (inference-free: 0).", Panel.SPARSE, default=5e-5
    )
    document_regularizer_weight: float = _help(
        "SPLADE: FLOPS weight on document vectors.", Panel.SPARSE, default=3e-5
    )
    regularizer_warmup_ratio: float = _help(
        "SPLADE: share of steps over which the FLOPS weights rise from 0.", Panel.SPARSE, default=1 / 3
    )
    static_learning_rate: float = _help(
        "Inference-free SPLADE: learning rate of the static query weights.", Panel.SPARSE, default=1e-3
    )
    router_mapping: dict[str, str] = _help(
        "Inference-free SPLADE: column=query|document (default: first column query).",
        Panel.SPARSE,
        default_factory=dict,
    )
    csr_k: int = _help("CSR: active dims per vector during training.", Panel.SPARSE, default=32)
    csr_k_aux: int = _help("CSR: dims of the auxiliary (dead latent) loss.", Panel.SPARSE, default=512)
    csr_hidden_dim: int | None = _help(
        "CSR: latent size (default: 4 x the dense model's dim).", Panel.SPARSE, default=None
    )
    csr_learning_rate: float | None = _help(
        "CSR: learning rate of the autoencoder (default: --learning-rate).", Panel.SPARSE, default=None
    )
    teacher: str | None = _help(
        "Sparse types: a cross-encoder whose scores the model learns (MarginMSE; needs negatives).",
        Panel.SPARSE,
        default=None,
    )
    output_dir: str = _help(
        "Where the model, checkpoints, report and metrics.jsonl go.", Panel.OUTPUT, default="mrlkit-output"
    )
    kind: DataKind | None = _help(
        "Data layout (default: detected from the columns).", Panel.DATA, default=None
    )
    columns: dict[str, str] = _help(
        "Your column names for the canonical ones, e.g. anchor=question.", Panel.DATA, default_factory=dict
    )
    dims: list[int] | None = _help(
        "Matryoshka dims, descending (default: model dim, then powers of 2 to 32).", Panel.MODEL, default=None
    )
    loss: LossKind = _help(
        "Base loss (auto: cosent for scored pairs, else mnrl).", Panel.TRAINING, default=LossKind.AUTO
    )
    matryoshka: MatryoshkaMode = _help(
        "Loss over dims (1d), dims and layers (2d), or full dim only (none).",
        Panel.MODEL,
        default=MatryoshkaMode.MRL,
    )
    matryoshka_weights: list[float] | None = _help(
        "Loss weight per dim (default: all 1).", Panel.MODEL, default=None
    )
    output_dim: int | None = _help(
        "Add a trainable projection to N dims after pooling (dims default: N, then powers of 2 to 32).",
        Panel.MODEL,
        default=None,
    )
    output_activation: Activation = _help(
        "Activation of the output_dim projection.", Panel.MODEL, default=Activation.IDENTITY
    )
    margin: float = _help(
        "Cosine margin off each positive pair in mnrl (PaddleNLP: 0.2; 0: off).", Panel.TRAINING, default=0.0
    )
    scale: float | None = _help(
        "Similarity scale of the loss, 1/temperature (default 20; sparse mnrl: 1; PaddleNLP: 30).",
        Panel.TRAINING,
        default=None,
    )
    similarity_distill_weight: float = _help(
        "Weight of similarity distillation across dims (0: off).", Panel.TRAINING, default=0.0
    )
    mini_batch_size: int = _help(
        "Mini-batch of cached-mnrl (memory use, not the result).", Panel.TRAINING, default=16
    )
    epochs: float = _help(
        "Encoder epochs (0 with an adaptor: train only the adaptor).", Panel.TRAINING, default=1.0
    )
    batch_size: int = _help("Training batch size (in-batch negatives + 1).", Panel.TRAINING, default=32)
    learning_rate: float = _help("Peak learning rate.", Panel.TRAINING, default=2e-5)
    warmup_ratio: float = _help("Fraction of steps for linear warm-up.", Panel.TRAINING, default=0.1)
    scheduler: str = _help(
        "Learning-rate schedule after warm-up (transformers name).", Panel.TRAINING, default="cosine"
    )
    weight_decay: float = _help("AdamW weight decay.", Panel.TRAINING, default=0.01)
    gradient_accumulation_steps: int = _help("Optimizer step every N batches.", Panel.TRAINING, default=1)
    seed: int = _help("Random seed of the split, shuffling and initialisation.", Panel.TRAINING, default=42)
    max_seq_length: int | None = _help(
        "Truncate inputs to N tokens (default: the model's).", Panel.MODEL, default=None
    )
    test_data: str | None = _help(
        "File or BEIR folder for the final report (default: test split).", Panel.EVALUATION, default=None
    )
    eval_data: str | None = _help(
        "File or BEIR folder scored each epoch (default: dev split).", Panel.EVALUATION, default=None
    )
    eval_every_epoch: bool = _help(
        "Score the dev set every epoch (keeps the best checkpoint).", Panel.EVALUATION, default=True
    )
    eval_fraction: float = _help(
        "Share of anchors held out as dev when there is no dev set.", Panel.EVALUATION, default=0.1
    )
    test_fraction: float = _help(
        "Share of anchors held out as test when there is no test set (0: report on dev).",
        Panel.EVALUATION,
        default=0.1,
    )
    dedupe: bool = _help("Drop exact duplicate rows.", Panel.DATA, default=True)
    score_range: list[float] = _help(
        "Range LO,HI of scored pairs' scores, mapped to [0, 1].",
        Panel.DATA,
        default_factory=lambda: [0.0, 1.0],
    )
    hard_negatives: int = _help(
        "Hard negatives mined per pair with the base model (0: off).", Panel.DATA, default=0
    )
    hard_negatives_range: list[int] = _help(
        "Candidate ranks MIN,MAX to mine negatives from.", Panel.DATA, default_factory=lambda: [10, 50]
    )
    hard_negatives_margin: float = _help(
        "A mined negative scores at least this fraction below its positive.", Panel.DATA, default=0.05
    )
    hard_negatives_layout: NegativeLayout = _help(
        "A row per mined negative, or one row holding all of them.",
        Panel.DATA,
        default=NegativeLayout.TRIPLET,
    )
    hard_negatives_mode: HardNegativesMode = _help(
        "Keep your data's negatives and add mined ones, or replace them.",
        Panel.DATA,
        default=HardNegativesMode.ADD,
    )
    rotate: Rotation = _help(
        "Rotate the embeddings before training (pca: principal axes first).",
        Panel.ADAPTOR,
        default=Rotation.NONE,
    )
    rotate_samples: int = _help(
        "Training texts encoded to fit the rotation (at most).", Panel.ADAPTOR, default=4096
    )
    rotate_learning_rate: float | None = _help(
        "Learning rate of the rotation layer (default: learning_rate).", Panel.ADAPTOR, default=None
    )
    freeze_encoder: bool = _help(
        "Train only the rotation layer (needs rotate).", Panel.ADAPTOR, default=False
    )
    adaptor: Adaptor = _help(
        "Square layer trained after fine-tuning on frozen embeddings.", Panel.ADAPTOR, default=Adaptor.NONE
    )
    adaptor_epochs: int = _help("Adaptor epochs (its dev score picks the best).", Panel.ADAPTOR, default=20)
    adaptor_learning_rate: float = _help("Learning rate of the adaptor.", Panel.ADAPTOR, default=1e-3)
    adaptor_distill_weight: float = _help(
        "Similarity distillation weight of the adaptor (0: off).", Panel.ADAPTOR, default=0.0
    )
    eval_corpus_size: int | None = _help(
        "Cap on the dev corpus scored each epoch (the report uses all).", Panel.EVALUATION, default=None
    )
    max_train_rows: int | None = _help(
        "Use at most N training rows (after shuffling).", Panel.DATA, default=None
    )
    best_dim: int | None = _help(
        "Dim whose metric picks the best checkpoint (default: 128).", Panel.EVALUATION, default=None
    )
    best_metric: str | None = _help(
        "Metric that picks the best checkpoint (default: ndcg@10 or spearman).",
        Panel.EVALUATION,
        default=None,
    )
    load_best_model: bool = _help(
        "Keep the best epoch's checkpoint rather than the last.", Panel.EVALUATION, default=True
    )
    eval_batch_size: int = _help("Batch size for encoding during evaluation.", Panel.EVALUATION, default=64)
    evaluate_base: bool = _help(
        "Also evaluate the base model (base-vs-tuned report).", Panel.EVALUATION, default=True
    )
    precision: Precision = _help(
        "Precision (auto: bf16 on a capable GPU, else fp32).", Panel.TRAINING, default=Precision.AUTO
    )
    save_total_limit: int = _help("Checkpoints kept on disk.", Panel.OUTPUT, default=2)
    logging_steps: int = _help("Log the loss every N steps.", Panel.OUTPUT, default=10)
    report_to: ReportTo = _help(
        "Also log to tensorboard or wandb (installed separately).", Panel.OUTPUT, default="none"
    )
    resume: bool = _help("Resume from the last checkpoint in output_dir.", Panel.TRAINING, default=False)
    cpu_kernels: bool = _help(
        "CPU only: mrlkit's dropout kernels instead of PyTorch's.", Panel.TRAINING, default=False
    )
    mmap_threshold_mb: int = _help(
        "CPU, Linux: glibc mmap threshold in MB (0: glibc's default).", Panel.TRAINING, default=0
    )

    def __post_init__(self) -> None:
        """Coerce strings from YAML/CLI into enums and validate ranges."""
        self.loss = _enum(LossKind, self.loss, "loss")
        self.matryoshka = _enum(MatryoshkaMode, self.matryoshka, "matryoshka")
        self.precision = _enum(Precision, self.precision, "precision")
        self.output_activation = _enum(Activation, self.output_activation, "output_activation")
        self.rotate = _enum(Rotation, self.rotate, "rotate")
        self.adaptor = _enum(Adaptor, self.adaptor, "adaptor")
        self.report_to = _enum(ReportTo, self.report_to, "report_to")
        self.hard_negatives_layout = _enum(
            NegativeLayout, self.hard_negatives_layout, "hard_negatives_layout"
        )
        self.hard_negatives_mode = _enum(HardNegativesMode, self.hard_negatives_mode, "hard_negatives_mode")
        if self.kind is not None:
            self.kind = _enum(DataKind, self.kind, "kind")
        self.model_type = _enum(ModelType, self.model_type, "model_type")
        check_sparse(self)
        if self.epochs < 0 or (self.epochs == 0 and self.adaptor is Adaptor.NONE):
            raise ConfigError(
                f"epochs must be > 0, got {self.epochs!r} (0 is allowed with an adaptor: "
                "--epochs 0 --adaptor orthogonal trains only the adaptor on the frozen model)"
            )
        for name in (
            "batch_size",
            "learning_rate",
            "mini_batch_size",
            "gradient_accumulation_steps",
            "eval_batch_size",
            "logging_steps",
            "rotate_samples",
            "adaptor_epochs",
            "adaptor_learning_rate",
        ):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be > 0, got {getattr(self, name)!r}")
        if not 0.0 <= self.warmup_ratio < 1.0:
            raise ConfigError(f"warmup_ratio must be in [0, 1), got {self.warmup_ratio!r}")
        if not 0.0 < self.eval_fraction < 1.0:
            raise ConfigError(f"eval_fraction must be in (0, 1), got {self.eval_fraction!r}")
        if not (0.0 <= self.test_fraction < 1.0 and self.eval_fraction + self.test_fraction < 1.0):
            raise ConfigError(
                f"test_fraction must be in [0, 1) with eval_fraction + test_fraction < 1, got "
                f"{self.test_fraction!r} (eval_fraction {self.eval_fraction!r})"
            )
        for name in ("similarity_distill_weight", "adaptor_distill_weight"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0 (0: off), got {getattr(self, name)!r}")
        check_distill(self.similarity_distill_weight, self.matryoshka, self.loss)
        check_projection_and_margin(self)
        if self.adaptor_distill_weight and self.adaptor is Adaptor.NONE:
            raise ConfigError(
                "adaptor_distill_weight acts on the adaptor; add adaptor: orthogonal (--adaptor orthogonal) "
                "or use similarity_distill_weight for the encoder"
            )
        if self.mmap_threshold_mb < 0:
            raise ConfigError(f"mmap_threshold_mb must be >= 0 (0: off), got {self.mmap_threshold_mb!r}")
        if self.hard_negatives < 0:
            raise ConfigError(f"hard_negatives must be >= 0, got {self.hard_negatives!r}")
        lo_hi = self.hard_negatives_range  # checked here so a bad range fails before the base evaluation
        if len(lo_hi) != 2 or lo_hi[0] < 0 or lo_hi[1] - lo_hi[0] < max(1, self.hard_negatives):
            raise ConfigError(
                f"hard_negatives_range must be MIN,MAX with 0 <= MIN < MAX and MAX - MIN >= hard_negatives "
                f"({self.hard_negatives}), got {lo_hi!r}"
            )
        if not 0.0 <= self.hard_negatives_margin < 1.0:
            raise ConfigError(f"hard_negatives_margin must be in [0, 1), got {self.hard_negatives_margin!r}")
        if self.rotate_learning_rate is not None and self.rotate_learning_rate <= 0:
            raise ConfigError(f"rotate_learning_rate must be > 0, got {self.rotate_learning_rate!r}")
        if (self.freeze_encoder or self.rotate_learning_rate is not None) and self.rotate is Rotation.NONE:
            raise ConfigError(
                "freeze_encoder and rotate_learning_rate act on the rotation layer; "
                "add rotate: pca or identity (--rotate pca)"
            )
        if self.epochs == 0 and (self.freeze_encoder or self.rotate_learning_rate is not None or self.resume):
            raise ConfigError(
                "freeze_encoder, rotate_learning_rate and resume act on the encoder's training, which "
                "epochs: 0 skips (only the adaptor trains); drop them or set epochs > 0"
            )
        if self.eval_corpus_size is not None and self.eval_corpus_size <= 0:
            raise ConfigError(f"eval_corpus_size must be > 0 (or unset), got {self.eval_corpus_size!r}")
        if len(self.score_range) != 2 or self.score_range[0] >= self.score_range[1]:
            raise ConfigError(f"score_range must be two numbers LO,HI with LO < HI, got {self.score_range!r}")

    @classmethod
    def fields_help(cls) -> dict[str, str]:
        """Map each field name to its help text."""
        return {f.name: f.metadata.get("help", "") for f in dataclasses.fields(cls)}

    @classmethod
    def load(
        cls,
        yaml_path: str | Path | None = None,
        *,
        recipe: str | None = None,
        **overrides: Any,  # noqa: ANN401
    ) -> FinetuneConfig:
        """Build a config from an optional recipe, then a YAML file, then explicit overrides (CLI flags).

        Each later source wins: recipe < YAML file < overrides. Overrides whose value is ``None`` are
        ignored, so unset CLI flags keep the YAML, recipe or default value.

        Args:
            yaml_path: A YAML file of ``setting: value`` lines (``--config``).
            recipe: The name of a shipped recipe (``mrlkit recipes`` lists them).
            **overrides: Settings given as flags or keyword arguments.

        Raises:
            ConfigError: On an unknown recipe, an unreadable YAML file, an unknown key or a bad value.
        """
        values: dict[str, Any] = {}
        if recipe is not None:
            from mrlkit.recipes import recipe_values

            values.update(recipe_values(recipe))
        if yaml_path is not None:
            values.update(_read_yaml(Path(yaml_path)))
        values.update({k: v for k, v in overrides.items() if v is not None})
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            sources = ([f"recipe {recipe}"] if recipe else []) + ([str(yaml_path)] if yaml_path else [])
            where = f" in {' or '.join(sources)}" if sources else ""
            raise ConfigError(f"unknown setting(s) {unknown}{where}; valid settings: {sorted(known)}")
        hints = typing.get_type_hints(cls)
        coerced = {k: parse_value(k, v, hints[k]) for k, v in values.items()}
        return cls(**coerced)

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON/YAML form (enums as their values)."""
        out = dataclasses.asdict(self)
        return {k: (v.value if isinstance(v, Enum) else v) for k, v in out.items()}

    def save(self, path: str | Path) -> None:
        """Write the config as YAML (what ``--config`` reads back)."""
        Path(path).write_text(yaml.safe_dump(self.to_dict(), sort_keys=False), encoding="utf-8")


DENSE_SCALE = 20.0  # sentence-transformers' MNRL and CoSENT default
SPARSE_MNRL_SCALE = 1.0  # sentence-transformers' SparseMultipleNegativesRankingLoss default (dot product)


def loss_scale(config: FinetuneConfig, *, sparse_mnrl: bool = False) -> float:
    """The loss's similarity scale: ``config.scale`` when set, else the default of the loss it scales."""
    if config.scale is not None:
        return config.scale
    return SPARSE_MNRL_SCALE if sparse_mnrl else DENSE_SCALE
