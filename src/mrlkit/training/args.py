"""Map a :class:`~mrlkit.config.FinetuneConfig` onto sentence-transformers' training arguments."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import torch
from sentence_transformers import SentenceTransformerTrainingArguments
from sentence_transformers.base.sampler import BatchSamplers

from mrlkit.config import FinetuneConfig, LossKind, Precision, ReportTo
from mrlkit.errors import ConfigError, MissingExtraError, require
from mrlkit.training.distributed import cpu_processes


def check_precision(precision: Precision | str) -> None:
    """Refuse bf16/fp16 where the trainer cannot run them, before anything is written.

    transformers rejects ``bf16`` without a bf16-capable GPU only when the training arguments are
    built, after the output directory exists; ``fp16`` mixed precision needs CUDA.
    """
    precision = Precision(precision)
    cuda = torch.cuda.is_available()
    if precision is Precision.BF16 and not (cuda and torch.cuda.is_bf16_supported()):
        raise ConfigError(
            "precision 'bf16' needs a CUDA GPU with bf16 support and none was found; "
            "use --precision auto (bf16 on such a GPU, fp32 elsewhere) or fp32"
        )
    if precision is Precision.FP16 and not cuda:
        raise ConfigError(
            "precision 'fp16' needs a CUDA GPU and none was found; use --precision auto or fp32"
        )


def check_report_to(report_to: ReportTo | str) -> None:
    """Refuse a tracker whose package is missing before anything is written (the trainer fails later).

    Raises:
        MissingExtraError: With the install command.
    """
    report_to = ReportTo(report_to)
    if report_to is ReportTo.TENSORBOARD:
        require("tensorboard", "tensorboard", "--report-to tensorboard")
    elif report_to is ReportTo.WANDB and importlib.util.find_spec("wandb") is None:
        raise MissingExtraError(
            "--report-to wandb needs the optional package 'wandb'. Install it with: pip install wandb"
        )


def precision_flags(precision: Precision | str) -> dict[str, Any]:
    """``bf16``/``fp16``/``tf32`` flags for the trainer; ``auto`` uses bf16 + tf32 on a capable GPU.

    Raises :class:`ConfigError` (via :func:`check_precision`) for a precision this machine cannot run.
    """
    precision = Precision(precision)
    check_precision(precision)
    cuda = torch.cuda.is_available()
    if precision is Precision.AUTO:
        bf16 = cuda and torch.cuda.is_bf16_supported()
        return {"bf16": bf16, "fp16": False, "tf32": cuda and torch.cuda.get_device_capability()[0] >= 8}
    return {"bf16": precision is Precision.BF16, "fp16": precision is Precision.FP16, "tf32": False}


def _warmup(ratio: float) -> dict[str, Any]:
    """Transformers 5 reads a float ``warmup_steps`` < 1 as a ratio and deprecates ``warmup_ratio``."""
    import transformers

    if int(transformers.__version__.split(".")[0]) >= 5:
        return {"warmup_steps": ratio}
    return {"warmup_ratio": ratio}


def training_arguments(
    config: FinetuneConfig,
    checkpoint_dir: Path,
    loss_kind: LossKind,
    best_model_metric: str | None,
    learning_rate_mapping: dict[str, float] | None = None,
    args_cls: type[SentenceTransformerTrainingArguments] = SentenceTransformerTrainingArguments,
    **extra: Any,  # noqa: ANN401
) -> SentenceTransformerTrainingArguments:
    """Build the trainer's arguments: epoch-wise evaluation and checkpoints, best-checkpoint selection.

    Args:
        config: The run's settings.
        checkpoint_dir: Where checkpoints go (``--resume`` looks here).
        loss_kind: The resolved base loss; in-batch-negative losses get the NO_DUPLICATES sampler.
        best_model_metric: Evaluator metric that picks the best checkpoint, or ``None`` without an eval set.
        learning_rate_mapping: Parameter-name regex -> learning rate, for parts trained at their own rate.
        args_cls: The arguments class (``SparseEncoderTrainingArguments`` for sparse encoders).
        **extra: More arguments of ``args_cls`` (a sparse run's ``router_mapping``, its own rate mapping).
    """
    in_batch = loss_kind in (LossKind.MNRL, LossKind.CACHED_MNRL)
    has_eval = best_model_metric is not None
    kwargs: dict[str, Any] = {**_warmup(config.warmup_ratio), **precision_flags(config.precision)}
    if learning_rate_mapping:
        kwargs["learning_rate_mapping"] = learning_rate_mapping
    kwargs.update(extra)
    return args_cls(
        output_dir=str(checkpoint_dir),
        num_train_epochs=config.epochs,
        per_device_train_batch_size=config.batch_size,
        per_device_eval_batch_size=config.eval_batch_size,
        gradient_accumulation_steps=config.gradient_accumulation_steps,
        learning_rate=config.learning_rate,
        lr_scheduler_type=config.scheduler,
        weight_decay=config.weight_decay,
        seed=config.seed,
        data_seed=config.seed,
        batch_sampler=BatchSamplers.NO_DUPLICATES if in_batch else BatchSamplers.BATCH_SAMPLER,
        eval_strategy="epoch" if has_eval else "no",
        save_strategy="epoch",
        save_total_limit=config.save_total_limit,
        load_best_model_at_end=has_eval and config.load_best_model,
        metric_for_best_model=best_model_metric if has_eval else None,
        greater_is_better=True,
        logging_steps=config.logging_steps,
        logging_first_step=True,
        report_to=config.report_to.value,
        use_cpu=cpu_processes(),  # torchrun on a machine without GPUs: DDP over gloo
        dataloader_drop_last=False,
        dataloader_pin_memory=torch.cuda.is_available(),
        **kwargs,
    )
