"""``mrlkit finetune``: Matryoshka fine-tuning with in-batch negatives, evaluated per dimension."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from sentence_transformers import SentenceTransformer, SentenceTransformerTrainer
from transformers import TrainerCallback

from mrlkit.config import Adaptor, FinetuneConfig, LossKind, Rotation
from mrlkit.config.finetune import loss_scale
from mrlkit.data.accounting import summary_lines
from mrlkit.data.types import DataKind, EvalSet, IRSet, STSSet, TrainingData
from mrlkit.errors import ConfigError
from mrlkit.evaluation import Report, build_evaluator, evaluate_model
from mrlkit.evaluation.base import MatryoshkaEvaluator
from mrlkit.models.resolve import resolve_model
from mrlkit.training.adaptor import train_adaptor
from mrlkit.training.args import check_precision, check_report_to, training_arguments
from mrlkit.training.cpu_kernels import cpu_training_kernels, kernels_apply
from mrlkit.training.data_setup import (
    account,
    dev_evaluator,
    label_if_asked,
    load_training_data,
    mine_if_asked,
    test_set_of,
)
from mrlkit.training.dims import validate_dims
from mrlkit.training.distributed import init_distributed, is_main_process, on_main_then_share
from mrlkit.training.losses import build_loss, resolve_loss_kind
from mrlkit.training.memory import cap_mmap_threshold
from mrlkit.training.progress import install_training_output
from mrlkit.training.projection import add_projection
from mrlkit.training.rotation import add_pca_rotation, add_rotation, freeze_all_but, training_texts
from mrlkit.training.run_info import machine_info, peak_gpu_memory_mb, peak_memory_mb
from mrlkit.training.sparse import (
    base_model_name,
    is_sparse,
    mining_model,
    plan_sparse,
    sparse_loss_name,
    sparse_trainer_setup,
)

logger = logging.getLogger(__name__)


@dataclass
class FinetuneResult:
    """What a run produced: the saved model's directory, the report and where everything is.

    In a multi-process run (torchrun, accelerate launch) only the main process saves the model and the
    report; on the other processes ``report`` is ``None``.
    """

    model_path: Path
    report: Report | None
    output_dir: Path
    train_metrics: dict[str, Any]


def _pick_best_dim(config: FinetuneConfig, dims: list[int]) -> int:
    if config.best_dim is not None:
        if config.best_dim not in dims:
            raise ConfigError(
                f"best_dim {config.best_dim} is not one of the trained dims {dims}; pick one of them"
            )
        return config.best_dim
    return 128 if 128 in dims else dims[len(dims) // 2]


def _evaluate_base(
    config: FinetuneConfig, model: SentenceTransformer, test: EvalSet, dims: list[int], out: Path
) -> dict[int, dict[str, float]]:
    """Evaluate the untouched base model once; cached in the output dir so ``--resume`` skips it."""
    cache = out / "base_metrics.json"
    key = {
        "model": config.model,
        "data": str(Path(config.test_data or config.data).resolve()),
        "max_seq_length": config.max_seq_length,
        "dims": dims,
        "n": len(test),
        "split": [config.seed, config.eval_fraction, config.test_fraction],
    }
    if config.eval_data is not None and config.test_data is None:  # the test set may be the eval file
        key["eval_data"] = str(Path(config.eval_data).resolve())
    if cache.is_file():
        saved = json.loads(cache.read_text())
        if saved.get("key") == key:
            return {int(d): m for d, m in saved["metrics"].items()}
    if is_sparse(config):
        key["model_type"] = config.model_type.value
    metrics = evaluate_model(model, test, dims, batch_size=config.eval_batch_size, sparse=is_sparse(config))
    cache.write_text(json.dumps({"key": key, "metrics": {str(d): m for d, m in metrics.items()}}, indent=1))
    return metrics


@dataclass
class _Plan:
    """Everything a run needs, built and validated before anything is written."""

    data: TrainingData
    test_set: EvalSet | None
    test_source: str
    model: SentenceTransformer
    dims: list[int]
    loss_kind: LossKind
    loss: torch.nn.Module
    evaluator: MatryoshkaEvaluator | None


def _plan(config: FinetuneConfig) -> _Plan:
    check_precision(config.precision)
    check_report_to(config.report_to)
    data = load_training_data(config)
    test_set, test_source = test_set_of(config, data)
    if is_sparse(config):  # a SparseEncoder: its own model, k instead of dims, SpladeLoss or CSRLoss
        if test_set is not None and not isinstance(test_set, IRSet):
            build_evaluator(test_set, [1], sparse=True)  # raises: sparse models are scored on retrieval sets
        return _Plan(data, test_set, test_source, *plan_sparse(config, data))
    model = SentenceTransformer(resolve_model(config.model))
    if config.max_seq_length is not None:
        model.max_seq_length = config.max_seq_length
    if config.output_dim is not None:  # the base row of the report then includes the untrained head
        add_projection(model, config.output_dim, config.output_activation, seed=config.seed)
    model_dim = model.get_embedding_dimension()
    if model_dim is None:
        raise ConfigError(
            f"model {config.model!r} has no fixed embedding dimension; use a dense embedding model"
        )
    dims = validate_dims(config.dims, model_dim)
    loss_kind = resolve_loss_kind(config.loss, data.kind)
    loss = build_loss(
        model,
        loss_kind,
        data.kind,
        dims,
        matryoshka=config.matryoshka,
        weights=config.matryoshka_weights,
        mini_batch_size=config.mini_batch_size,
        distill_weight=config.similarity_distill_weight,
        margin=config.margin,
        scale=loss_scale(config),
    )
    evaluator = dev_evaluator(config, data, dims, _pick_best_dim(config, dims))
    return _Plan(data, test_set, test_source, model, dims, loss_kind, loss, evaluator)


def _rotate(config: FinetuneConfig, plan: _Plan) -> dict[str, float] | None:
    """Insert the rotation layer if asked; return the learning-rate mapping that gives it its own rate."""
    if config.rotate is Rotation.NONE:
        return None
    if config.rotate is Rotation.PCA:
        texts = training_texts(plan.data.train, config.rotate_samples, seed=config.seed)
        name = add_pca_rotation(plan.model, texts, batch_size=config.eval_batch_size, show_progress_bar=True)
    else:
        name = add_rotation(plan.model)  # starts as the identity
    if config.freeze_encoder:
        freeze_all_but(plan.model, name)
    if config.rotate_learning_rate is None:
        return None
    return {rf"(^|\.){name}\.linear\.weight$": config.rotate_learning_rate}


def _train_encoder(
    config: FinetuneConfig,
    plan: _Plan,
    out: Path,
    best_metric: str | None,
    lr_mapping: dict[str, float] | None,
    callbacks: list[TrainerCallback] | None,
) -> tuple[dict[str, Any], float, str | None]:
    """Train the model with sentence-transformers' trainer; return its metrics, seconds and best checkpoint.

    ``epochs: 0`` (allowed only with an adaptor) trains nothing here: the adaptor alone adapts the model.
    """
    if config.epochs == 0:
        return {}, 0.0, None
    trainer_cls: Any = SentenceTransformerTrainer
    extras: dict[str, Any] = {}
    if is_sparse(config):  # SparseEncoderTrainer, its arguments, router mapping, FLOPS warm-up
        trainer_cls, extras, lr_mapping, callbacks = sparse_trainer_setup(config, plan, lr_mapping, callbacks)
    trainer = trainer_cls(
        model=plan.model,
        args=training_arguments(
            config, out / "checkpoints", plan.loss_kind, best_metric, lr_mapping, **extras
        ),
        train_dataset=plan.data.train,
        loss=plan.loss,
        evaluator=plan.evaluator,
        callbacks=callbacks,
    )
    evaluator = plan.evaluator
    install_training_output(
        trainer,
        out / "metrics.jsonl",
        metric=evaluator.primary_metric_name if evaluator is not None else None,
        primary_dim=evaluator.primary_dim if evaluator is not None else None,
        best_key=best_metric,
        fresh=not config.resume,
    )
    cap_mmap_threshold(config.mmap_threshold_mb)
    train_start = time.perf_counter()
    with cpu_training_kernels(plan.model, enabled=config.cpu_kernels):
        train_output = trainer.train(resume_from_checkpoint=True if config.resume else None)
    train_seconds = time.perf_counter() - train_start
    return dict(train_output.metrics), train_seconds, trainer.state.best_model_checkpoint


def _adapt(config: FinetuneConfig, plan: _Plan) -> dict[str, Any] | None:
    """Train and fold in the Matryoshka adaptor if asked; return its summary for the report."""
    if config.adaptor is Adaptor.NONE:
        return None
    evaluator = None  # the whole dev set: its texts are encoded once, so eval_corpus_size is not needed
    if plan.evaluator is not None and plan.data.eval is not None:
        evaluator = build_evaluator(
            plan.data.eval,
            plan.dims,
            name="adaptor-dev",
            batch_size=config.eval_batch_size,
            primary_dim=plan.evaluator.primary_dim,
            primary_metric=plan.evaluator.primary_metric_name,
        )
    return train_adaptor(
        plan.model,
        plan.data.train,
        mode=config.adaptor,
        loss_kind=plan.loss_kind,
        data_kind=plan.data.kind,
        dims=plan.dims,
        weights=config.matryoshka_weights,
        distill_weight=config.adaptor_distill_weight,
        evaluator=evaluator,
        epochs=config.adaptor_epochs,
        learning_rate=config.adaptor_learning_rate,
        batch_size=config.batch_size,
        seed=config.seed,
        encode_batch_size=config.eval_batch_size,
    )


def finetune(
    config: FinetuneConfig,
    *,
    on_base_done: Callable[[dict[int, dict[str, float]]], None] | None = None,
    callbacks: list[TrainerCallback] | None = None,
    on_data_ready: Callable[[list[str]], None] | None = None,
) -> FinetuneResult:
    """Fine-tune ``config.model`` on ``config.data`` and write model, checkpoints and report.

    Everything that can fail on bad input (data, dims, loss choice, eval sets) is checked before
    anything is written to ``config.output_dir``.

    Args:
        config: The run's settings.
        on_base_done: Optional callback receiving the base model's per-dim metrics (the CLI prints them).
        callbacks: Extra ``transformers.TrainerCallback`` objects (benchmarks use one to time training).
        on_data_ready: Optional callback receiving the data summary lines (rows read, dropped, held out,
            mined, truncated, trained) just before training; the CLI prints them. They are logged too.

    Returns:
        A :class:`FinetuneResult`; the report is also saved as report.md/json/png in the output dir.
    """
    start = time.perf_counter()
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    init_distributed()  # several processes: only the main one evaluates the base, mines, prints and saves
    main = is_main_process()
    plan = _plan(config)
    out = Path(config.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    if main:
        config.save(out / "config.yaml")
    base_metrics: dict[int, dict[str, float]] = {}
    if main and config.evaluate_base and plan.test_set is not None:
        base_metrics = _evaluate_base(config, plan.model, plan.test_set, plan.dims, out)
        if on_base_done is not None:
            on_base_done(base_metrics)
    lr_mapping = _rotate(config, plan)
    data = plan.data
    plan.data = on_main_then_share(  # mined negatives, then the teacher's scores; same rows on every rank
        lambda: label_if_asked(config, mine_if_asked(config, data, mining_model(config, plan.model)))
    )
    accounting = account(plan.data, plan.model)
    for line in summary_lines(accounting):
        logger.info("data: %s", line)
    if main and on_data_ready is not None:
        on_data_ready(summary_lines(accounting))

    best_metric = plan.evaluator.best_model_metric if plan.evaluator is not None else None
    train_metrics, train_seconds, best_checkpoint = _train_encoder(
        config, plan, out, best_metric, lr_mapping, callbacks
    )
    if not main:  # the main process trains the adaptor and writes the model and the report
        return FinetuneResult(out / "model", report=None, output_dir=out, train_metrics=train_metrics)
    adaptor = _adapt(config, plan)
    model_path = out / "model"
    plan.model.model_card_data.add_tags(
        ["mrlkit", config.model_type.value if is_sparse(config) else "matryoshka"]
    )
    plan.model.save(str(model_path))
    tuned_metrics: dict[int, dict[str, float]] = {}
    if plan.test_set is not None:
        tuned_metrics = evaluate_model(
            plan.model, plan.test_set, plan.dims, batch_size=config.eval_batch_size, sparse=is_sparse(config)
        )
    meta = _run_meta(
        config, plan, best_checkpoint, best_metric, train_metrics, train_seconds, start, model_path
    )
    meta["adaptor"] = adaptor
    meta["data_accounting"] = accounting
    if not base_metrics:  # base not evaluated: a single-model report of the tuned model
        base_metrics, tuned_report = tuned_metrics, None
        meta["note"] = "evaluate_base was off: the only scores are the tuned model's"
        meta["scores_of"] = "tuned"  # the report's single column is the tuned model, not the base
    else:
        tuned_report = tuned_metrics
    report = Report(
        task="sts" if isinstance(plan.test_set, STSSet) or plan.data.kind is DataKind.SCORED else "ir",
        dims=plan.dims,
        base=base_metrics,
        tuned=tuned_report,
        meta=meta,
    )
    report.save(out)
    return FinetuneResult(model_path=model_path, report=report, output_dir=out, train_metrics=train_metrics)


def _run_meta(
    config: FinetuneConfig,
    plan: _Plan,
    best_checkpoint: str | None,
    best_metric: str | None,
    train_metrics: dict[str, Any],
    train_seconds: float,
    start: float,
    model_path: Path,
) -> dict[str, Any]:
    """The run details shown under the report's tables."""
    return {
        "base_model": base_model_name(config),  # SPLADE on the dense default starts from SPLADE-tiny
        "tuned_model": str(model_path),
        "data": config.data,
        "data_kind": plan.data.kind.value,
        "train_rows": len(plan.data.train),
        "hard_negatives": plan.data.stats.get("mining"),
        "eval_source": plan.data.stats.get("eval_source"),
        "test_set": getattr(plan.test_set, "name", "test"),
        "test_source": plan.test_source,
        # the dev set picked the checkpoint (and adaptor epoch) and is also what the report scores
        "scored_on_selection_set": plan.test_set is not None
        and plan.test_set is plan.data.eval
        and plan.evaluator is not None,
        "test_size": len(plan.test_set) if plan.test_set is not None else 0,
        "model_type": config.model_type.value,
        "loss": sparse_loss_name(config, plan.loss)
        if is_sparse(config)
        else f"{config.matryoshka.value}-matryoshka({plan.loss_kind.value})"
        + (
            f" + {config.similarity_distill_weight:g} x similarity distillation"
            if config.similarity_distill_weight
            else ""
        ),
        "margin": config.margin or None,
        "teacher": plan.data.stats.get("teacher"),
        "scale": None  # MarginMSE on the teacher's scores has no scale
        if config.teacher
        else loss_scale(config, sparse_mnrl=is_sparse(config) and plan.loss_kind is LossKind.MNRL),
        "output_dim": config.output_dim,
        "rotate": config.rotate.value,
        "freeze_encoder": config.freeze_encoder,
        "epochs": config.epochs,
        "batch_size": config.batch_size,
        "learning_rate": config.learning_rate,
        "cpu_kernels": kernels_apply(config.cpu_kernels) and config.epochs > 0,  # whether they ran
        "best_checkpoint": best_checkpoint,
        "best_model_metric": best_metric,
        "train_seconds": round(train_seconds, 1),
        "train_samples_per_second": train_metrics.get("train_samples_per_second"),
        "total_seconds": round(time.perf_counter() - start, 1),
        "peak_rss_mb": round(peak_memory_mb(), 1),
        "peak_gpu_memory_mb": None if (gpu := peak_gpu_memory_mb()) is None else round(gpu, 1),
        "machine": machine_info(),
    }
