"""Dense + learned sparse (+ BM25) fusion with weights tuned on dev, against plain RRF, on BEIR test.

Opens an mrlkit index with dense vectors and BM25 (e.g. the one ``sparse_scifact.py`` builds under
``runs/sparse_scifact/<name>/index``), adds the sparse part with ``--sparse-model`` if it has none,
then for each retriever set picks the fusion (RRF or DBSF, and weights) with ``tune_fusion`` on the
dev split of the folder's train qrels (the 10%, seed 42, that ``mrlkit finetune`` holds out), never
on test, and scores on the test qrels: each retriever alone, RRF at equal weights, the dev-tuned
fusion. The target of issue #19: dense + sparse >= the best single system + 2 nDCG@10 points.

    python benchmarks/sparse_fusion.py --data ../shared/datasets/scifact \
        --index runs/sparse_scifact/sparse_scifact_hn2/index --dense-model runs/scifact_default/model \
        --sparse-model runs/sparse_scifact/sparse_scifact_hn2/splade/model --name sparse_fusion_hn2
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from _common import add_overwrite_argument, check_writable, command_line, console, table, write_result
from _hybrid_arms import dev_split

RETRIEVER_SETS = (("dense", "sparse"), ("dense", "sparse", "bm25"), ("dense", "bm25"))
TARGET_POINTS = 2.0


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, required=True, help="BEIR folder (qrels/train.tsv and test.tsv)")
    p.add_argument("--index", type=Path, required=True, help="mrlkit index of the folder's corpus, with BM25")
    p.add_argument("--dense-model", required=True, help="the model the index's dense vectors came from")
    p.add_argument("--sparse-model", default=None, help="sparse encoder to add if the index has none")
    p.add_argument("--dev-fraction", type=float, default=0.1)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--candidates", type=int, default=100, help="hits taken from each retriever")
    p.add_argument("--name", default="sparse_fusion")
    add_overwrite_argument(p)
    return p.parse_args()


def fusion_target(fused: float, singles: dict[str, float]) -> dict[str, Any]:
    """``fused`` against the best single system of the run (every retriever alone), in nDCG@10
    points, and whether it is >= +2."""
    if not singles:
        raise ValueError("no single-retriever score to compare with")
    best = max(singles, key=singles.__getitem__)
    gain = round(100 * (fused - singles[best]), 2)
    return {
        "best_single": best,
        "gain_points": gain,
        "target_points": TARGET_POINTS,
        "met": gain >= TARGET_POINTS,
    }


def fused_ndcg(idx: Any, runs: Any, settings: Any, qids: list[str], qrels: dict) -> float:  # noqa: ANN401
    """nDCG@10 of one fusion setting over already retrieved lists, to 4 decimals."""
    from mrlkit.search.tune_fusion import fusion_score

    return round(fusion_score(idx, runs, settings, qids, qrels, "ndcg@10"), 4)


def main() -> None:
    from mrlkit.search import Index
    from mrlkit.search.config import SearchMode
    from mrlkit.search.hybrid import FusionSettings, retrieve_runs
    from mrlkit.search.sparse import build_sparse
    from mrlkit.search.tune_fusion import read_dev_set, tune_fusion

    args = parse_args()
    check_writable(args.name, args.overwrite)
    idx = Index.open(args.index, model=args.dense_model)
    if "sparse" not in idx.manifest.components:
        if not args.sparse_model:
            raise SystemExit(f"error: {args.index} has no sparse part; pass --sparse-model")
        console.print(f"adding sparse vectors from {args.sparse_model}")
        build_sparse(idx, args.sparse_model)  # publishes the part and reloads the index
    dev_queries, dev_qrels, _ = dev_split(args.data, args.dev_fraction, args.seed)
    queries, qrels = read_dev_set(idx, args.data / "queries.jsonl", args.data / "qrels" / "test.tsv")
    qids = list(qrels)
    texts = [queries[q] for q in qids]
    exact = SearchMode.EXACT
    results: dict[str, Any] = {}
    singles: dict[str, float] = {}  # each retriever alone, scored once from the first set that has it
    for names in RETRIEVER_SETS:
        tuned = tune_fusion(idx, dev_queries, dev_qrels, dense_mode="exact", save=False, retrievers=names)
        equal = FusionSettings(dense_mode=exact, candidates=args.candidates, retrievers=list(names))
        picked = FusionSettings(**{**tuned["settings"], "candidates": args.candidates})
        runs = retrieve_runs(idx, texts, equal)
        row: dict[str, Any] = {
            "dev_pick": tuned["settings"],
            "dev_ndcg@10_pick": round(tuned["score"], 4),
            "dev_ndcg@10_rrf_equal": round(tuned["baseline"], 4),
            "rrf_equal": fused_ndcg(idx, runs, equal, qids, qrels),
            "dev_tuned": fused_ndcg(idx, runs, picked, qids, qrels),
        }
        for i, one in enumerate(names):
            if one not in singles:  # its list is already in ``runs``: the i-th of each query's lists
                alone = FusionSettings(dense_mode=exact, candidates=args.candidates, retrievers=[one])
                singles[one] = fused_ndcg(idx, [[lists[i]] for lists in runs], alone, qids, qrels)
            row[f"alone_{one}"] = singles[one]
        results["+".join(names)] = row
    for row in results.values():
        row["target"] = fusion_target(row["dev_tuned"], singles)
        row["target_rrf_equal"] = fusion_target(row["rrf_equal"], singles)
    rows = [
        [k, r["rrf_equal"], r["dev_tuned"], f"{r['dev_pick']['method']} {r['dev_pick']['weights']}",
         r["target"]["best_single"], r["target"]["gain_points"]]
        for k, r in results.items()
    ]  # fmt: skip
    columns = ["retrievers", "RRF equal", "dev-tuned", "dev pick", "best single", "tuned - best (pts)"]
    console.print(table(f"{args.data.name} test nDCG@10, {len(qids)} queries", columns, rows))
    target = results["dense+sparse"]["target"]
    verdict = "met" if target["met"] else "NOT met"
    console.print(f"hybrid dense + sparse >= best single + {TARGET_POINTS:g}: {verdict} {target}")
    write_result(
        args.name,
        {
            **results,
            "hybrid_target": target,
            "data": {"test_queries": len(qids), "dev_queries": len(dev_qrels), "source": str(args.data)},
            "index": str(args.index),
            "dense_model": args.dense_model,
            "sparse_model": idx.manifest.components["sparse"].get("model"),
            "settings": {k: str(v) for k, v in vars(args).items() if k not in ("name", "overwrite")},
            "command": command_line(),
        },
        overwrite=args.overwrite,
    )


if __name__ == "__main__":
    main()
