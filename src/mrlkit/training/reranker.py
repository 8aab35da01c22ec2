"""Train a cross-encoder reranker on the same data ``finetune`` reads, and report base vs tuned.

The report reranks the first-stage top ``first_stage_k`` (exact dense search with ``first_stage_model``)
of every test query and gives nDCG@10 and MRR@10 (trec_eval's definitions; positives the first stage
missed count as misses) of the first stage, of the untrained reranker, of the trained one, and of the
trained one mixed with the first stage at the weight tuned on the dev split (stored with the model, see
:mod:`mrlkit.search.rerank`).
"""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mrlkit.errors import ConfigError, DataError

if TYPE_CHECKING:
    from datasets import Dataset
    from sentence_transformers import CrossEncoder

    from mrlkit.data.types import TrainingData


def _help(text: str, **kwargs: Any) -> Any:
    return field(metadata={"help": text}, **kwargs)


@dataclass
class RerankerConfig:
    """Settings of ``mrlkit train-reranker``."""

    data: str = _help("Training data: a file or a BEIR folder (same formats as finetune).", default="")
    output_dir: str = _help("Where the model and report.md/json go.", default="mrlkit-reranker")
    model: str = _help(
        "Cross-encoder to start from; an embedding model (the default MiniLM) gets a fresh 1-label head.",
        default="sentence-transformers/all-MiniLM-L6-v2",
    )
    first_stage_model: str = _help(
        "Embedding model of the first stage that the report reranks (exact search).",
        default="sentence-transformers/all-MiniLM-L6-v2",
    )
    first_stage_k: int = _help("Hits of the first stage reranked in the report.", default=100)
    negatives_index: str | None = _help(
        "Mine negatives from this mrlkit index's top hits (default: mine_hard_negatives over the data).",
        default=None,
    )
    num_negatives: int = _help(
        "Hard negatives mined per (query, positive) pair (data without negatives).", default=3
    )
    mining_margin: float = _help(
        "A mined negative must score this fraction below the positive (0: no check).", default=0.05
    )
    epochs: float = _help("Training epochs.", default=3.0)
    batch_size: int = _help("Training batch size (pairs).", default=16)
    learning_rate: float = _help("Peak learning rate.", default=5e-5)
    warmup_ratio: float = _help("Share of the steps over which the rate rises from 0.", default=0.1)
    pos_weight: float | None = _help(
        "Weight of positive pairs in the loss (default: negatives per positive, so both count alike).",
        default=None,
    )
    max_steps: int = _help("Stop after this many steps (-1: run the epochs).", default=-1)
    max_length: int = _help("Tokens per (query, passage) pair.", default=256)
    seed: int = _help("Seed of training and data splits.", default=42)
    evaluate_base: bool = _help(
        "Also score the untrained reranker on the test queries (as long as scoring the trained one).",
        default=True,
    )
    overwrite: bool = _help("Replace an existing output folder's model and report.", default=False)

    def __post_init__(self) -> None:
        """Check ranges."""
        for name in ("first_stage_k", "num_negatives", "batch_size", "max_length"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be > 0, got {getattr(self, name)!r}")
        if not 0.0 <= self.warmup_ratio < 1.0:
            raise ConfigError(f"warmup_ratio must be in [0, 1), got {self.warmup_ratio!r}")
        if self.pos_weight is not None and self.pos_weight <= 0:
            raise ConfigError(f"pos_weight must be > 0 (or unset), got {self.pos_weight!r}")
        if self.epochs <= 0 or self.learning_rate <= 0:
            raise ConfigError(
                f"epochs and learning_rate must be > 0, got {self.epochs}, {self.learning_rate}"
            )


@dataclass
class RerankerResult:
    """What :func:`train_reranker` produced: the model folder, the metrics and the report paths."""

    model_path: Path
    output_dir: Path
    metrics: dict[str, dict[str, float]]
    meta: dict[str, Any]


def labelled_pairs(train: Dataset) -> Dataset:
    """Turn training rows into (query, passage, label) rows for binary cross-entropy.

    Retrieval rows give ``(anchor, positive, 1)`` once per distinct pair and ``(anchor, negative, 0)``
    per negative column; scored rows keep their [0, 1] score as a soft label.
    """
    from datasets import Dataset

    from mrlkit.data.types import negative_columns

    columns = train.column_names
    if "score" in columns:
        return Dataset.from_dict(
            {"query": train["sentence1"], "passage": train["sentence2"], "label": train["score"]}
        )
    negatives = negative_columns(columns)
    seen: set[tuple[str, str]] = set()
    rows: dict[str, list[Any]] = {"query": [], "passage": [], "label": []}
    for row in train:
        for col, label in [("positive", 1.0)] + [(c, 0.0) for c in negatives]:
            pair = (row["anchor"], row[col])
            if pair[1] and pair not in seen:
                seen.add(pair)
                rows["query"].append(pair[0])
                rows["passage"].append(pair[1])
                rows["label"].append(label)
    return Dataset.from_dict(rows)


def _load_cross_encoder(name: str, max_length: int) -> CrossEncoder:
    from sentence_transformers import CrossEncoder

    from mrlkit.models.resolve import resolve_model

    return CrossEncoder(resolve_model(name), num_labels=1, max_length=max_length)


def index_negatives(data: TrainingData, index_path: str, num_negatives: int, skip: int = 0) -> TrainingData:
    """Add a ``negative`` row per hit of an mrlkit index's exact search that is not a positive of the anchor.

    For each anchor, the first ``num_negatives`` hits after the top ``skip`` whose text is none of the
    anchor's positives become negatives (one triplet row each).
    """
    import dataclasses

    from datasets import Dataset

    from mrlkit.search import Index

    index = Index.open(index_path)
    positives: dict[str, set[str]] = {}
    for row in data.train:
        positives.setdefault(row["anchor"], set()).add(row["positive"])
    anchors = list(positives)
    hits = index.search(
        anchors, k=skip + num_negatives + max(len(p) for p in positives.values()), mode="exact"
    )
    rows: dict[str, list[str]] = {"anchor": [], "positive": [], "negative": []}
    for anchor, anchor_hits in zip(anchors, hits, strict=True):
        negatives = [h.text for h in anchor_hits[skip:] if h.text and h.text not in positives[anchor]]
        for negative in negatives[:num_negatives]:
            for positive in sorted(positives[anchor]):
                rows["anchor"].append(anchor)
                rows["positive"].append(positive)
                rows["negative"].append(negative)
    return dataclasses.replace(data, train=Dataset.from_dict(rows))


def _training_rows(cfg: RerankerConfig, data: TrainingData) -> tuple[Dataset, dict[str, Any]]:
    from mrlkit.data.types import DataKind, negative_columns

    info: dict[str, Any] = {"negatives": "from the data"}
    columns = data.train.column_names
    needs_negatives = data.kind is not DataKind.SCORED and not negative_columns(columns)
    if needs_negatives and cfg.negatives_index:
        data = index_negatives(data, cfg.negatives_index, cfg.num_negatives)
        info = {"negatives": f"top hits of index {cfg.negatives_index}", "rows_after_mining": len(data.train)}
    elif needs_negatives:
        from sentence_transformers import SentenceTransformer

        from mrlkit.data.mining import mine_negatives
        from mrlkit.models.resolve import resolve_model

        miner = SentenceTransformer(resolve_model(cfg.first_stage_model))
        rows = len(data.train)
        data = mine_negatives(
            data,
            miner,
            num_negatives=cfg.num_negatives,
            range_min=0,
            range_max=50,
            relative_margin=cfg.mining_margin or None,
        )
        info = {
            "negatives": "mined (mine_hard_negatives)",
            "pairs": rows,
            "rows_after_mining": len(data.train),
        }
    pairs = labelled_pairs(data.train)
    if len(pairs) == 0:
        raise DataError("no training pairs left after mining negatives", path=cfg.data, fix="Add more rows")
    info["training_pairs"] = len(pairs)
    info["positive_pairs"] = int(sum(1 for v in pairs["label"] if v >= 0.5))
    return pairs, info


def balance_weight(info: dict[str, Any]) -> float:
    """Negatives per positive among the training pairs: the positive weight that makes both count alike.

    Without it, on a few thousand pairs with 3 negatives each, the head can settle on the share of
    positives (a constant score, useless for ranking) before it learns relevance.
    """
    positives, total = info["positive_pairs"], info["training_pairs"]
    return max(total - positives, 1) / max(positives, 1)


def train_reranker(cfg: RerankerConfig) -> RerankerResult:
    """Train a cross-encoder on ``cfg.data`` and write ``model/``, ``report.md`` and ``report.json``.

    Raises:
        ConfigError: No data, or an existing output folder without ``overwrite``.
        DataError: Bad training data (see :func:`mrlkit.data.load_data`).
    """
    import torch
    from sentence_transformers.cross_encoder import CrossEncoderTrainer, CrossEncoderTrainingArguments
    from sentence_transformers.cross_encoder.losses import BinaryCrossEntropyLoss

    from mrlkit.data import load_data
    from mrlkit.data.types import IRSet
    from mrlkit.evaluation.rerank import cross_scores, first_stage_samples, tune_weight
    from mrlkit.training.finetune import machine_info

    if not cfg.data:
        raise ConfigError("no training data given; pass --data FILE_OR_BEIR_DIR")
    out = Path(cfg.output_dir)
    if (out / "model").exists() and not cfg.overwrite:
        raise ConfigError(f"{out / 'model'} exists; pass --overwrite to replace it, or another --output-dir")
    started = time.time()
    data = load_data(cfg.data, seed=cfg.seed)
    test = data.test if isinstance(data.test, IRSet) else None
    dev = data.eval if isinstance(data.eval, IRSet) and test is not None else None
    pairs, info = _training_rows(cfg, data)
    model = _load_cross_encoder(cfg.model, cfg.max_length)
    sets = [ir for ir in (test, dev) if ir is not None]
    found = first_stage_samples(sets, cfg.first_stage_model, cfg.first_stage_k) if sets else []
    samples, dev_samples = (found + [[], []])[:2]  # test, then dev (if any)
    base = cross_scores(model, samples, cfg.batch_size) if samples and cfg.evaluate_base else None
    out.mkdir(parents=True, exist_ok=True)
    args = CrossEncoderTrainingArguments(
        output_dir=str(out / "checkpoints"),
        num_train_epochs=cfg.epochs,
        max_steps=cfg.max_steps,
        per_device_train_batch_size=cfg.batch_size,
        learning_rate=cfg.learning_rate,
        warmup_ratio=cfg.warmup_ratio,
        seed=cfg.seed,
        save_strategy="no",
        logging_steps=10,
        logging_first_step=True,
        report_to="none",
        dataloader_pin_memory=False,
    )
    pos_weight = cfg.pos_weight or balance_weight(info)
    loss = BinaryCrossEntropyLoss(model, pos_weight=torch.tensor(pos_weight))
    trainer = CrossEncoderTrainer(model=model, args=args, train_dataset=pairs, loss=loss)
    train_output = trainer.train()
    weight, grid = 1.0, []
    if dev_samples:
        weight, grid = tune_weight(dev_samples, cross_scores(model, dev_samples, cfg.batch_size))
    settings = {
        "weight": weight,
        "first_stage_model": cfg.first_stage_model,
        "tuned_on": f"dev split, {len(dev_samples)} queries, top {cfg.first_stage_k}" if grid else None,
    }
    tuned = cross_scores(model, samples, cfg.batch_size) if samples else []
    model_path = _save_atomic(model, out / "model", settings)
    shutil.rmtree(out / "checkpoints", ignore_errors=True)
    metrics = _metrics_table(samples, base, tuned, weight)
    meta = {
        "config": asdict(cfg),
        "data": {"source": data.source, "kind": data.kind.value, **info},
        "test_queries": len(samples),
        "pos_weight": pos_weight,
        "rerank_weight": {**settings, "dev_grid": grid},
        "train_loss": float(train_output.training_loss),
        "steps": int(train_output.global_step),
        "seconds": round(time.time() - started, 1),
        "machine": machine_info(),
    }
    _write_reports(out, metrics, meta)
    return RerankerResult(model_path, out, metrics, meta)


def _metrics_table(
    samples: list[dict[str, Any]], base: list | None, tuned: list, weight: float
) -> dict[str, dict[str, float]]:
    """Rows first_stage, base_reranker (if scored), tuned_reranker, tuned_reranker_mixed (at ``weight``)."""
    from mrlkit.evaluation.rerank import mixed, ranking_metrics

    if not samples:
        return {}
    table = {"first_stage": ranking_metrics(samples, [s["first_scores"] for s in samples])}
    if base is not None:
        table["base_reranker"] = ranking_metrics(samples, base)
    table["tuned_reranker"] = ranking_metrics(samples, tuned)
    table["tuned_reranker_mixed"] = {
        "weight": weight,
        **ranking_metrics(samples, mixed(samples, tuned, weight)),
    }
    return table


def _save_atomic(model: CrossEncoder, target: Path, settings: dict[str, Any]) -> Path:
    from mrlkit.search.rerank import SETTINGS_FILE

    tmp = target.with_name(f".tmp-{target.name}-{uuid.uuid4().hex[:8]}")
    model.save_pretrained(str(tmp))
    (tmp / SETTINGS_FILE).write_text(json.dumps(settings, indent=1) + "\n", encoding="utf-8")
    old = target.with_name(f".old-{target.name}-{uuid.uuid4().hex[:8]}")
    if target.exists():
        os.replace(target, old)
    os.replace(tmp, target)
    shutil.rmtree(old, ignore_errors=True)
    return target


def _write_reports(out: Path, metrics: dict[str, dict[str, float]], meta: dict[str, Any]) -> None:
    from mrlkit.search.storage import write_json_atomic

    write_json_atomic(out / "report.json", {"metrics": metrics, "meta": meta})
    lines = ["# Reranker report", ""]
    if metrics:
        k = meta["config"]["first_stage_k"]
        tuned_on = meta["rerank_weight"]["tuned_on"] or "no dev split: the reranker alone"
        lines += [
            f"Rerank of the first-stage top {k} (exact search with {meta['config']['first_stage_model']}) "
            f"on {meta['test_queries']} test queries; nDCG@10 and MRR@10 as trec_eval. The mixed row "
            f"scores weight x reranker + (1 - weight) x first stage (z-scored), weight "
            f"{meta['rerank_weight']['weight']} ({tuned_on}); `mrlkit search --rerank` uses it.",
            "",
            "| ranking | nDCG@10 | MRR@10 |",
            "|---|---|---|",
        ]
        for name, row in metrics.items():
            lines.append(f"| {name} | {row['ndcg@10']:.4f} | {row['mrr@10']:.4f} |")
    else:
        lines.append("No retrieval test set in the data (scored pairs): no reranking metrics.")
    lines += ["", "```json", json.dumps(meta, indent=1, default=str), "```", ""]
    tmp = out / f"report.md.tmp-{uuid.uuid4().hex[:8]}"
    tmp.write_text("\n".join(lines), encoding="utf-8")
    os.replace(tmp, out / "report.md")
