"""Benchmark (issue #20): PaddleNLP's semantic-index recipe on mrlkit, margin 0.2 against plain MNRL.

PaddleNLP's in-batch-negatives recipe (application/neural_search/recall/in_batch_negative) trains with
an additive margin of 0.2 on each positive pair's cosine and scale 30, projects the pooled embedding to
``output_emb_size`` 256, and scores Recall@1/5/10/20/50 through an hnswlib index (M 100, ef 100, top
50). Here both arms train all-MiniLM-L6-v2 plus a 256-d projection (``output_dim``) with Matryoshka
over 256/128/64 on SciFact train, with the same seed, split, schedule and projection init; they differ
only in the margin: 0.2, or 0 (plain MNRL, which the margin loss equals exactly at 0). Both are scored
on the SciFact test queries at each dim through the mrlkit index: ``hnsw`` (a faiss graph over the
dim's vectors, M 100, efConstruction 100, ef 100, the graph's top 50 taken as they are) and ``exact``
(brute force). The base model (no projection, its first 256/128/64 dims) is scored the same way.

Recall@k is trec_eval's: the share of a query's relevant documents in its top k, averaged over the
queries; with one relevant document per query (PaddleNLP's data) it is their hit rate.

Usage:
    python benchmarks/paddle_recipe.py --data ../shared/datasets/scifact [--epochs 3] [--name paddle_recipe]
    smoke: add --max-train-rows 32 --epochs 0.1 --corpus-limit 500 --name paddle_recipe_smoke
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from _common import add_overwrite_argument, check_writable, command_line, console, table, write_result

ARMS = {"margin_0.2": 0.2, "mnrl": 0.0}  # arm name -> margin
DIMS = [256, 128, 64]
RECALL_K = [1, 5, 10, 20, 50]
MODES = ["hnsw", "exact"]
TIE_POINTS = 0.5  # mean Recall differences below this many points are reported as a tie


def recall_table(
    runs: Mapping[str, Sequence[str]], relevant: Mapping[str, set[str]], ks: Sequence[int] = RECALL_K
) -> dict[str, float]:
    """Mean Recall@k over the queries of ``relevant`` (a query without a run scores 0), per k."""
    from mrlkit.search.metrics import mean_metric

    qrels = {q: {doc: 1 for doc in docs} for q, docs in relevant.items()}
    return {f"recall@{k}": mean_metric(runs, qrels, f"recall@{k}") for k in ks}


def pick_winner(
    recall: Mapping[str, Mapping[str, Mapping[str, Mapping[str, float]]]],
    arms: Sequence[str],
    mode: str = "hnsw",
    tie_points: float = TIE_POINTS,
) -> dict[str, Any]:
    """Which of two arms has the higher mean Recall@k over every dim and k in ``mode``.

    ``recall[arm][mode][dim][metric]``; the answer holds each arm's mean, the difference in points
    (first arm minus second), how many (dim, k) cells each arm wins, and ``winner``: an arm's name, or
    ``"tie"`` when the means differ by less than ``tie_points``.
    """
    first, second = arms
    cells = [(d, m) for d in recall[first][mode] for m in recall[first][mode][d]]
    means = {a: float(np.mean([recall[a][mode][d][m] for d, m in cells])) for a in arms}
    diff = 100 * (means[first] - means[second])
    won = {
        first: sum(recall[first][mode][d][m] > recall[second][mode][d][m] for d, m in cells),
        second: sum(recall[second][mode][d][m] > recall[first][mode][d][m] for d, m in cells),
    }
    winner = "tie" if abs(diff) < tie_points else (first if diff > 0 else second)
    return {
        "mode": mode,
        "winner": winner,
        "mean_recall": {a: round(v, 4) for a, v in means.items()},
        "diff_points": round(diff, 2),
        "cells_won": won,
        "cells": len(cells),
    }


def write_beir(
    queries: Mapping[str, str], corpus: Mapping[str, str], relevant: Mapping[str, set[str]], folder: Path
) -> Path:
    """Write a BEIR folder (corpus.jsonl, queries.jsonl, qrels/test.tsv) holding the judged queries only."""
    (folder / "qrels").mkdir(parents=True, exist_ok=True)
    with open(folder / "corpus.jsonl", "w", encoding="utf-8") as f:
        for doc_id, text in corpus.items():
            f.write(json.dumps({"_id": doc_id, "title": "", "text": text}, ensure_ascii=False) + "\n")
    with open(folder / "queries.jsonl", "w", encoding="utf-8") as f:
        for q in relevant:
            f.write(json.dumps({"_id": q, "text": queries[q]}, ensure_ascii=False) + "\n")
    lines = ["query-id\tcorpus-id\tscore"] + [
        f"{q}\t{d}\t1" for q, docs in relevant.items() for d in sorted(docs)
    ]
    (folder / "qrels" / "test.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


def encode(encoder: Any, texts: list[str], query: bool, what: str, batch_size: int = 64) -> np.ndarray:  # noqa: ANN401
    """Unit vectors of ``texts`` through an mrlkit ``Encoder`` (prompts applied), with a progress bar."""
    from tqdm.auto import tqdm

    chunk = 2 * batch_size
    parts = [
        encoder.encode(texts[i : i + chunk], batch_size=batch_size, query=query)
        for i in tqdm(range(0, len(texts), chunk), desc=f"encode {what}", unit="chunk")
    ]
    return np.vstack(parts)


def score_model(model: str, name: str, ir_set: Any, work: Path, args: argparse.Namespace) -> dict[str, Any]:  # noqa: ANN401
    """Recall@k per mode and dim of ``model`` on ``ir_set``, through one mrlkit index per dim."""
    from mrlkit.search import Index, IndexConfig
    from mrlkit.search.encode import Encoder
    from mrlkit.search.quantise import truncate

    doc_ids = list(ir_set.corpus)
    query_ids = list(ir_set.relevant)
    encoder = Encoder(model, max_seq_length=args.max_seq_length)
    # a rerun (e.g. after a crash) reuses the vectors of the same weights on the same texts
    cache = work / f"vectors-{name}-{encoder.fingerprint()['weights']}-{len(doc_ids)}-{len(query_ids)}.npz"
    if cache.is_file():
        saved = np.load(cache)
        docs, queries = saved["docs"], saved["queries"]
    else:
        batch = args.encode_batch_size
        docs = encode(encoder, [ir_set.corpus[d] for d in doc_ids], False, f"{name} corpus", batch)
        queries = encode(encoder, [ir_set.queries[q] for q in query_ids], True, f"{name} queries", batch)
        np.savez(cache.with_suffix(".tmp.npz"), docs=docs, queries=queries)
        os.replace(cache.with_suffix(".tmp.npz"), cache)
    k = max(RECALL_K)
    out: dict[str, Any] = {mode: {} for mode in MODES}
    for dim in DIMS:
        config = IndexConfig(
            shortlist_dim=dim,
            quantization="float",
            full_dtype="fp32",
            hnsw=True,
            hnsw_m=args.hnsw_m,
            hnsw_ef_construction=args.hnsw_ef,
        )
        index = Index.from_vectors(
            work / f"{name}-{dim}.idx", doc_ids, truncate(docs, dim), config, overwrite=True
        )
        for mode in MODES:
            rows, _ = index.search_vectors(truncate(queries, dim), k=k, mode=mode, k_prime=k, ef=args.hnsw_ef)
            runs = {q: [index.ids[r] for r in row if r >= 0] for q, row in zip(query_ids, rows, strict=True)}
            out[mode][str(dim)] = recall_table(runs, ir_set.relevant)
    return out


def train_arm(
    args: argparse.Namespace, arm: str, margin: float, test_data: str | None
) -> tuple[str, dict[str, Any]]:
    """Fine-tune one arm; return its model folder and what its run reported."""
    from mrlkit import FinetuneConfig, finetune

    config = FinetuneConfig.load(
        None,
        data=args.data,
        model=args.model,
        output_dir=str(Path(args.output_dir) / arm),
        dims=DIMS,
        output_dim=DIMS[0],
        margin=margin,
        scale=args.scale,
        loss="mnrl",
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.lr,
        max_seq_length=args.max_seq_length,
        eval_fraction=args.eval_fraction,
        eval_corpus_size=args.eval_corpus_size,
        max_train_rows=args.max_train_rows,
        seed=args.seed,
        test_data=test_data,
        evaluate_base=False,
        resume=args.resume,
    )
    result = finetune(config)
    report = result.report
    tuned = report.tuned or report.base  # evaluate_base off: the tuned scores are the report's only ones
    run = {
        "margin": margin,
        "ndcg@10_finetune_report": {str(d): round(tuned[d]["ndcg@10"], 4) for d in DIMS},
        "best_checkpoint": report.meta.get("best_checkpoint"),
        "train_seconds": report.meta.get("train_seconds"),
        "model_path": str(result.model_path),
    }
    return str(result.model_path), run


def print_tables(recall: Mapping[str, Any]) -> None:
    """One table per mode: a row per model and dim, a column per Recall@k."""
    for mode in MODES:
        rows = [
            [f"{model} {dim}"] + [recall[model][mode][str(dim)][f"recall@{k}"] for k in RECALL_K]
            for model in recall
            for dim in DIMS
        ]
        console.print(
            table(
                f"SciFact test, {mode} search: Recall@k", ["model dim"] + [f"R@{k}" for k in RECALL_K], rows
            )
        )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, help="SciFact BEIR folder (corpus.jsonl, queries.jsonl, qrels/)")
    p.add_argument("--model", default="sentence-transformers/all-MiniLM-L6-v2")
    p.add_argument("--output-dir", default="runs/paddle_recipe", help="models and indexes go here")
    p.add_argument("--epochs", type=float, default=3)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=5e-5)
    p.add_argument("--scale", type=float, default=30.0, help="1/temperature (PaddleNLP: 30)")
    p.add_argument("--max-seq-length", type=int, default=256)
    p.add_argument("--eval-fraction", type=float, default=0.1, help="train queries held out as dev")
    p.add_argument("--eval-corpus-size", type=int, default=1000, help="cap on the dev corpus per epoch")
    p.add_argument("--max-train-rows", type=int, default=None, help="smoke runs: train on N rows")
    p.add_argument(
        "--corpus-limit", type=int, default=None, help="smoke runs: test corpus of N docs (relevant kept)"
    )
    p.add_argument("--hnsw-m", type=int, default=100, help="HNSW M (PaddleNLP: 100)")
    p.add_argument("--hnsw-ef", type=int, default=100, help="HNSW efConstruction and ef (PaddleNLP: 100)")
    p.add_argument("--encode-batch-size", type=int, default=64)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--resume", action="store_true", help="resume each arm from its last checkpoint")
    p.add_argument("--name", default="paddle_recipe", help="results file name")
    add_overwrite_argument(p)
    args = p.parse_args()
    check_writable(args.name, args.overwrite)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

    from mrlkit.data import load_eval_set
    from mrlkit.training.run_info import machine_info

    work = Path(args.output_dir)
    work.mkdir(parents=True, exist_ok=True)
    ir_set = load_eval_set(args.data, split="test")
    test_data = None
    if args.corpus_limit is not None:
        ir_set = ir_set.subsample_corpus(args.corpus_limit, seed=args.seed)
        test_data = str(write_beir(ir_set.queries, ir_set.corpus, ir_set.relevant, work / "test_subset"))
    recall: dict[str, Any] = {"base": score_model(args.model, "base", ir_set, work, args)}
    runs = {}
    for arm, margin in ARMS.items():
        model_path, runs[arm] = train_arm(args, arm, margin, test_data)
        recall[arm] = score_model(model_path, arm, ir_set, work, args)
    print_tables(recall)
    verdicts = {mode: pick_winner(recall, list(ARMS), mode) for mode in MODES}
    for mode, v in verdicts.items():
        console.print(
            f"{mode}: winner {v['winner']} (mean Recall@1..50 over 256/128/64: "
            + ", ".join(f"{a} {m:.4f}" for a, m in v["mean_recall"].items())
            + f"; {v['diff_points']:+.2f} points; cells won {v['cells_won']} of {v['cells']})"
        )
    write_result(
        args.name,
        {
            "recall": recall,
            "winner": verdicts,
            "runs": runs,
            "queries": len(ir_set.relevant),
            "corpus": len(ir_set.corpus),
            "settings": {k: v for k, v in vars(args).items() if k not in ("name", "overwrite")},
            "machine": machine_info(),
            "command": command_line(),
        },
        overwrite=args.overwrite,
    )


if __name__ == "__main__":
    main()
