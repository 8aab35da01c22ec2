"""Hybrid retrieval quality: BM25, dense exact/funnel, RRF and weighted hybrid, each + a reranker.

For each model (``--model LABEL=MODEL``, e.g. the base MiniLM and the model ``mrlkit finetune`` tuned)
and each BEIR folder (``--data``: SciFact, Vaswani), builds or reuses an mrlkit index with BM25 under
``--index-root`` and scores every system on the folder's test qrels (nDCG@10, Recall@100).

The weighted hybrid's fusion (method and weights) is tuned per model with ``tune_fusion`` on the dev
split of ``--dev-data``'s train qrels (default: the first folder with ``qrels/train.tsv``; the 10% of its
train queries, seed 42, that ``mrlkit finetune`` and ``mrlkit train-reranker`` hold out), never on
test, and applied unchanged to every folder. With ``--reranker`` (a cross-encoder trained by
``mrlkit train-reranker`` on SciFact train), each system's top ``--rerank-top-n`` is reranked too, by
the reranker's score mixed with the system's own at the weight train-reranker tuned on its dev split
(``--rerank-weight`` to override; 1: the reranker alone).
The top-level ``<dataset>`` keys of the result hold the ``--headline`` model's systems.

    python benchmarks/hybrid_quality.py --data ../shared/datasets/scifact --name hybrid_quality_base
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from _common import add_overwrite_argument, check_writable, console, table, write_result
from _hybrid_arms import CachedReranker, dev_split, open_or_build, reranker_report, scores, system_runs

from mrlkit.models.resolve import DEFAULT_MODEL
from mrlkit.search.hybrid import FusionSettings
from mrlkit.search.tune_fusion import read_dev_set, tune_fusion

SINGLE = ("bm25", "dense_exact", "dense_funnel")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", type=Path, action="append", required=True, help="BEIR folder (repeatable)")
    p.add_argument(
        "--model",
        action="append",
        default=None,
        help=f"LABEL=MODEL or MODEL (repeatable; default: base={DEFAULT_MODEL})",
    )
    p.add_argument("--index-root", type=Path, default=Path("runs") / "hybrid")
    p.add_argument("--index", type=Path, default=None, help="index folder (one --data and one --model only)")
    p.add_argument(
        "--dev-data", type=Path, default=None, help="BEIR folder whose train qrels' dev split tunes"
    )
    p.add_argument("--dev-fraction", type=float, default=0.1, help="share of train queries in the dev split")
    p.add_argument("--seed", type=int, default=42, help="seed of the dev split")
    p.add_argument(
        "--tune-k",
        type=int,
        default=100,
        help="tune each index's k' to recall@K 0.99 on corpus pseudo-queries (K: the fusion's 100 "
        "candidates; 0: the untuned default k')",
    )
    p.add_argument("--reranker", default=None, help="cross-encoder (e.g. mrlkit train-reranker's model/)")
    p.add_argument("--rerank-top-n", type=int, default=100)
    p.add_argument("--rerank-batch-size", type=int, default=32)
    p.add_argument(
        "--rerank-weight",
        type=float,
        default=None,
        help="reranker's share of the score, 0-1 (default: the weight stored with it, else 1)",
    )
    p.add_argument("--headline", default=None, help="model label of the top-level keys (default: the last)")
    p.add_argument("--name", default="hybrid_quality")
    add_overwrite_argument(p)
    args = p.parse_args(argv)
    args.models = dict(_label(m) for m in (args.model or [f"base={DEFAULT_MODEL}"]))
    args.headline = args.headline or list(args.models)[-1]
    if args.headline not in args.models:
        p.error(f"--headline {args.headline} is not a --model label ({', '.join(args.models)})")
    if args.index is not None and (len(args.data) > 1 or len(args.models) > 1):
        p.error("--index names one index: give one --data and one --model, or use --index-root")
    if args.dev_data is None:
        args.dev_data = next((d for d in args.data if (d / "qrels" / "train.tsv").is_file()), None)
    if args.dev_data is None:
        p.error("no --data folder has qrels/train.tsv to tune the weighted hybrid on: pass --dev-data")
    return args


def _label(text: str) -> tuple[str, str]:
    """``LABEL=MODEL``, or a label made up: base for the default model, else the folder's name."""
    label, sep, model = text.partition("=")
    if sep:
        return label, model
    path = Path(text)
    return (
        "base" if text == DEFAULT_MODEL else path.parent.name if path.name == "model" else path.name
    ), text


def index_path(args: argparse.Namespace, data: Path, label: str) -> Path:
    if args.index is not None:
        return args.index
    return args.index_root / (data.name if label == "base" else f"{data.name}-{label}")


def dev_set(args: argparse.Namespace) -> tuple[dict[str, str], dict[str, dict[str, int]], str]:
    """The dev split of ``--dev-data``'s train qrels: query texts, qrels and where they came from."""
    return dev_split(args.dev_data, args.dev_fraction, args.seed)


def evaluate(
    args: argparse.Namespace, label: str, data: Path, weighted: FusionSettings, rerank: CachedReranker | None
) -> tuple[dict[str, dict[str, float]], dict[str, Any]]:
    """Every system (and its reranked list) of one model on one folder's test qrels."""
    idx, built = open_or_build(index_path(args, data, label), data, args.models[label], args.tune_k)
    queries, qrels = read_dev_set(idx, data / "queries.jsonl", data / "qrels" / "test.tsv")
    qids = list(qrels)
    start = time.perf_counter()
    runs = system_runs(idx, [queries[q] for q in qids], weighted)
    ranked = {
        name: {q: [r for r, _ in top] for q, top in zip(qids, tops, strict=True)}
        for name, tops in runs.items()
    }
    first = {
        name: {q: [s for _, s in top] for q, top in zip(qids, tops, strict=True)}
        for name, tops in runs.items()
    }
    results = {
        name: scores({q: [idx.ids[r] for r in rows] for q, rows in by_q.items()}, qrels)
        for name, by_q in ranked.items()
    }
    seconds = {"index": round(built, 1), "first_stage": round(time.perf_counter() - start, 1)}
    if rerank is not None:
        start = time.perf_counter()
        rerank.prefetch(data.name, idx, queries, ranked)
        for name, by_q in list(ranked.items()):
            reranked = {
                q: rerank.rerank(data.name, q, [idx.ids[r] for r in rows], first[name][q])
                for q, rows in by_q.items()
            }
            results[f"{name}+rerank"] = scores(reranked, qrels)
        seconds["rerank"] = round(time.perf_counter() - start, 1)
    info = {
        "queries": len(qids),
        "index": str(idx.path),
        "docs": len(idx),
        "k_prime_tuned": idx.manifest.tuned,  # None: the untuned default k' (--tune-k 0)
        "seconds": seconds,
    }
    return results, info


def show(label: str, data: Path, results: dict[str, dict[str, float]], queries: int) -> float:
    """Print one table; return hybrid (weighted) minus the best single system, in nDCG@10."""
    rows = []
    for name in (*SINGLE, "hybrid_rrf", "hybrid_weighted"):
        m, r = results[name], results.get(f"{name}+rerank")
        rows.append(
            [name, f"{m['ndcg@10']:.4f}", f"{m['recall@100']:.4f}", f"{r['ndcg@10']:.4f}" if r else "-"]
        )
    console.print(
        table(
            f"{data.name} test ({queries} queries), model {label}",
            ["system", "nDCG@10", "Recall@100", "nDCG@10 reranked"],
            rows,
        )
    )
    gain = results["hybrid_weighted"]["ndcg@10"] - max(results[s]["ndcg@10"] for s in SINGLE)
    console.print(f"hybrid (weighted) - best single system: {gain:+.4f} nDCG@10 (target +0.02)")
    return round(gain, 4)


def with_aliases(results: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
    """``dense`` = dense exact, ``hybrid`` = weighted hybrid, and their ``+rerank`` twins."""
    out = dict(results)
    for alias, name in (("dense", "dense_exact"), ("hybrid", "hybrid_weighted")):
        out[alias] = results[name]
        if f"{name}+rerank" in results:
            out[f"{alias}+rerank"] = results[f"{name}+rerank"]
    return out


def _weight_source(args: argparse.Namespace) -> str:
    from mrlkit.search.rerank import stored_weight

    if args.rerank_weight is not None:
        return "--rerank-weight"
    if stored_weight(args.reranker) is not None:
        return "tuned by mrlkit train-reranker on its dev split, stored with the model"
    return "default (no weight stored with the model): the reranker alone"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    check_writable(args.name, args.overwrite)
    dev_queries, dev_qrels, dev_source = dev_set(args)
    rerank = (
        CachedReranker(args.reranker, args.rerank_top_n, args.rerank_batch_size, args.rerank_weight)
        if args.reranker
        else None
    )
    by_model: dict[str, dict[str, Any]] = {}
    tuned_on: dict[str, Any] = {}
    runs_info: dict[str, Any] = {}
    gains: dict[str, dict[str, float]] = {}
    for label, model in args.models.items():
        dev_idx, _ = open_or_build(index_path(args, args.dev_data, label), args.dev_data, model, args.tune_k)
        tuned = tune_fusion(dev_idx, dev_queries, dev_qrels, "ndcg@10", save=False)
        weighted = FusionSettings(**tuned["settings"])
        tuned_on[label] = {
            "data": str(args.dev_data),
            "qrels": f"train, dev split ({dev_source})",
            "queries": tuned["queries"],
            "settings": tuned["settings"],
            "dev_ndcg@10": round(tuned["score"], 4),
            "dev_rrf_equal_ndcg@10": round(tuned["baseline"], 4),
        }
        settings = tuned["settings"]
        console.print(
            f"[{label}] fusion tuned on {tuned['queries']} dev queries: "
            f"{settings['method']} weights {settings['weights']}"
        )
        for data in args.data:
            results, info = evaluate(args, label, data, weighted, rerank)
            by_model.setdefault(label, {})[data.name] = with_aliases(results)
            runs_info.setdefault(label, {})[data.name] = info
            gains.setdefault(label, {})[data.name] = show(label, data, results, info["queries"])
    payload: dict[str, Any] = {data.name: by_model[args.headline][data.name] for data in args.data}
    payload.update(
        headline_model=args.headline,
        models=args.models,
        by_model=by_model,
        runs=runs_info,
        fusion_tuned_on=tuned_on,
        hybrid_minus_best_single_ndcg10=gains,
        reranker=(
            {
                "model": args.reranker,
                "top_n": args.rerank_top_n,
                "weight": rerank.weight,
                "weight_from": _weight_source(args),
                "pairs_scored": rerank.scored,
                **reranker_report(args.reranker),
            }
            if rerank
            else "not run: pass --reranker MODEL (mrlkit train-reranker)"
        ),
    )
    write_result(args.name, payload, overwrite=args.overwrite)
    return payload


if __name__ == "__main__":
    main()
