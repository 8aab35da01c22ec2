"""Hybrid retrieval quality on a BEIR folder: BM25, dense exact/funnel, RRF hybrid, tuned hybrid.

Builds (or reuses) an mrlkit index with BM25 over the corpus, scores every system on the test qrels
(nDCG@10, Recall@100), and tunes the weighted hybrid on the *train* qrels (never on test):

    python benchmarks/hybrid_quality.py --data ../shared/datasets/scifact --name hybrid_quality_base
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from _common import add_overwrite_argument, check_writable, console, table, write_result

from mrlkit.search import Index, IndexConfig
from mrlkit.search.bm25 import BM25Config, BM25Searcher, build_bm25
from mrlkit.search.hybrid import FusionSettings, fuse_runs, retrieve_runs
from mrlkit.search.metrics import mean_metric
from mrlkit.search.tune_fusion import read_dev_set, tune_fusion

METRICS = ("ndcg@10", "recall@100")


def scores(ranked: dict[str, list[str]], qrels: dict) -> dict[str, float]:
    return {m: round(mean_metric(ranked, qrels, m), 4) for m in METRICS}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument(
        "--data", type=Path, required=True, help="BEIR folder with qrels/train.tsv and qrels/test.tsv"
    )
    p.add_argument("--model", default=None, help="embedding model (default: MiniLM)")
    p.add_argument("--index", type=Path, default=None, help="index folder (default: runs/hybrid/<data name>)")
    p.add_argument("--name", default="hybrid_quality")
    add_overwrite_argument(p)
    args = p.parse_args()
    check_writable(args.name, args.overwrite)
    path = args.index or Path("runs") / "hybrid" / args.data.name
    start = time.perf_counter()
    if (path / "manifest.json").is_file():
        idx = Index.open(path)
    else:
        idx = Index.build(
            path, args.data, model=args.model, config=IndexConfig(shortlist_dim=64, quantization="binary")
        )
    if "bm25" not in idx.manifest.components:
        build_bm25(idx, BM25Config(language="en"))
    build_seconds = time.perf_counter() - start
    queries, qrels = read_dev_set(idx, args.data / "queries.jsonl", args.data / "qrels" / "test.tsv")
    qids = list(qrels)
    texts = [queries[q] for q in qids]
    results: dict[str, dict[str, float]] = {}
    rows_k = 100
    bm25_rows, _ = BM25Searcher.load(idx).search(texts, rows_k, idx.alive)
    results["bm25"] = scores(
        {q: [idx.ids[r] for r in row if r >= 0] for q, row in zip(qids, bm25_rows, strict=True)}, qrels
    )
    for mode in ("exact", "funnel"):
        hits = idx.search(texts, k=rows_k, mode=mode)
        results[f"dense_{mode}"] = scores(
            {q: [h.id for h in hs] for q, hs in zip(qids, hits, strict=True)}, qrels
        )
    dev_queries, dev_qrels = read_dev_set(idx, args.data / "queries.jsonl", args.data / "qrels" / "train.tsv")
    tuned = tune_fusion(idx, dev_queries, dev_qrels, "ndcg@10", save=False)
    settings_rrf = FusionSettings()
    settings_tuned = FusionSettings(**tuned["settings"])
    runs = retrieve_runs(idx, texts, settings_rrf)
    for label, settings in (("hybrid_rrf", settings_rrf), ("hybrid_tuned", settings_tuned)):
        fused = fuse_runs(runs, settings, rows_k)
        results[label] = scores(
            {q: [idx.ids[r] for r, _ in top] for q, top in zip(qids, fused, strict=True)}, qrels
        )
    results["dense"] = results["dense_exact"]
    results["hybrid"] = results["hybrid_tuned"]
    single = max(results["bm25"]["ndcg@10"], results["dense_exact"]["ndcg@10"])
    rows = [
        [name, f"{m['ndcg@10']:.4f}", f"{m['recall@100']:.4f}"]
        for name, m in results.items()
        if name not in ("dense", "hybrid")
    ]
    console.print(
        table(
            f"{args.data.name} test ({len(qids)} queries), model {idx.manifest.model.get('name')}",
            ["system", "nDCG@10", "Recall@100"],
            rows,
        )
    )
    console.print(
        f"tuned on train qrels ({tuned['queries']} queries): "
        f"{tuned['settings']['method']} weights {tuned['settings']['weights']}"
    )
    console.print(
        f"hybrid - best single system: {results['hybrid']['ndcg@10'] - single:+.4f} nDCG@10 (target +0.02)"
    )
    payload = {
        args.data.name: results,
        "model": idx.manifest.model.get("name"),
        "index": {
            "shortlist_dim": idx.manifest.shortlist_dim,
            "quantization": idx.config.quantization.value,
            "build_seconds": round(build_seconds, 1),
        },
        "fusion_tuned_on": {
            "qrels": "train",
            "queries": tuned["queries"],
            "settings": tuned["settings"],
            "dev_ndcg@10": tuned["score"],
            "dev_rrf_equal_ndcg@10": tuned["baseline"],
        },
        "hybrid_minus_best_single_ndcg@10": round(results["hybrid"]["ndcg@10"] - single, 4),
        "reranker": "not run: no cross-encoder was trained on SciFact train for this run",
    }
    write_result(args.name, payload, overwrite=args.overwrite)


if __name__ == "__main__":
    main()
