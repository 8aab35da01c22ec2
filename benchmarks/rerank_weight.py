"""Reranker alone vs mixed with the first stage: the weight tuned on dev, then scored once on test.

For a trained cross-encoder (``--reranker``, e.g. ``mrlkit train-reranker``'s ``model/``) and a BEIR
folder (``--data``), takes the exact dense top ``--first-stage-k`` of ``--first-stage-model`` for the
test queries and for the dev split of the train queries (``--dev-fraction``, ``--seed``: the split
``mrlkit train-reranker`` holds out, so the reranker never trained on it), picks the weight of
``mix_scores`` on dev from the 0.1 grid, and prints nDCG@10 / MRR@10 on test of the first stage, the
reranker alone and the mix, the same numbers ``train-reranker``'s report gives for a model it trains.

    python benchmarks/rerank_weight.py --data runs/scifact_selection \
        --reranker runs/explore/reranker_sel_v2/model --first-stage-k 20 --name rerank_weight_selection
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from _common import add_overwrite_argument, check_writable, console, table, write_result

from mrlkit.models.resolve import DEFAULT_MODEL


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", type=Path, required=True, help="BEIR folder with train and test qrels")
    p.add_argument("--reranker", required=True, help="cross-encoder folder or hub id")
    p.add_argument("--first-stage-model", default=DEFAULT_MODEL)
    p.add_argument("--first-stage-k", type=int, default=100)
    p.add_argument("--dev-fraction", type=float, default=0.1, help="share of train queries in the dev split")
    p.add_argument("--seed", type=int, default=42, help="seed of the dev split")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--name", default="rerank_weight")
    add_overwrite_argument(p)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    from sentence_transformers import CrossEncoder

    from mrlkit.data import load_data
    from mrlkit.data.types import IRSet
    from mrlkit.evaluation.rerank import (
        cross_scores,
        first_stage_samples,
        mixed,
        ranking_metrics,
        tune_weight,
    )
    from mrlkit.models.resolve import resolve_model

    args = parse_args(argv)
    check_writable(args.name, args.overwrite)
    start = time.perf_counter()
    data = load_data(args.data, eval_fraction=args.dev_fraction, seed=args.seed)
    if not isinstance(data.test, IRSet) or not isinstance(data.eval, IRSet):
        raise SystemExit(f"{args.data}: needs a BEIR folder with train and test qrels")
    test, dev = first_stage_samples([data.test, data.eval], args.first_stage_model, args.first_stage_k)
    model = CrossEncoder(resolve_model(args.reranker))
    weight, grid = tune_weight(dev, cross_scores(model, dev, args.batch_size))
    cross = cross_scores(model, test, args.batch_size)
    rows = {
        "first_stage": ranking_metrics(test, [s["first_scores"] for s in test]),
        "reranker": ranking_metrics(test, cross),
        "mixed": ranking_metrics(test, mixed(test, cross, weight)),
    }
    console.print(
        table(
            f"{args.data.name} test ({len(test)} queries), top {args.first_stage_k}, weight {weight} "
            f"(tuned on {len(dev)} dev queries)",
            ["ranking", "nDCG@10", "MRR@10"],
            [[name, f"{m['ndcg@10']:.4f}", f"{m['mrr@10']:.4f}"] for name, m in rows.items()],
        )
    )
    payload = {
        "test": rows,
        "weight": weight,
        "dev_grid": grid,
        "queries": {"test": len(test), "dev": len(dev)},
        "data": str(args.data),
        "reranker": args.reranker,
        "first_stage": {"model": args.first_stage_model, "k": args.first_stage_k},
        "seconds": round(time.perf_counter() - start, 1),
    }
    write_result(args.name, payload, overwrite=args.overwrite)
    return payload


if __name__ == "__main__":
    main()
