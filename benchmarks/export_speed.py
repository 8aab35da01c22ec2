"""CPU encode throughput and quality of ONNX exports: torch fp32 vs ONNX fp32 vs ONNX int8 (dynamic).

Usage:
    python benchmarks/export_speed.py --data ../shared/datasets/scifact [--docs 500] [--repeats 3]
        [--eval-corpus-size N]

Exports the model once (``mrlkit export --onnx --int8``: fp32 + dynamic int8), then encodes the same
SciFact passages with torch fp32, ONNX fp32 and ONNX int8 in one process, interleaved round by round
(so load on the machine hits every variant alike), at batch 1 and batch 32; reports the median
docs/second of each and the ratios to torch. Quality: the export's parity report (cosine to torch on
sample texts, nDCG@10 per dim on SciFact test, torch vs ONNX). Target (issue #20): int8 >= 3x torch
fp32 with an nDCG@10 drop <= 1 point.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch
from _common import add_overwrite_argument, check_writable, command_line, console, table, write_result
from sentence_transformers import SentenceTransformer

from mrlkit.data import load_eval_set
from mrlkit.export import export_onnx, load_onnx_model
from mrlkit.models.resolve import resolve_model


def passages(data: Path, n: int) -> list[str]:
    """The first ``n`` SciFact abstracts (title + text, as the evaluation encodes them)."""
    texts = []
    with (data / "corpus.jsonl").open(encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line)
            texts.append(f"{row.get('title', '')} {row['text']}".strip())
            if len(texts) == n:
                break
    return texts


def docs_per_second(model: SentenceTransformer, texts: list[str], batch_size: int) -> float:
    start = time.perf_counter()
    model.encode(texts, batch_size=batch_size, show_progress_bar=False, convert_to_numpy=True)
    return len(texts) / (time.perf_counter() - start)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, help="SciFact BEIR folder")
    p.add_argument("--model", default="sentence-transformers/all-MiniLM-L6-v2")
    p.add_argument("--docs", type=int, default=500, help="passages encoded per timing round")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--batch-sizes", default="1,32")
    p.add_argument("--eval-corpus-size", type=int, default=None, help="cap the SciFact test corpus")
    p.add_argument("--dims", default="384,64")
    p.add_argument(
        "--int8-exclude",
        default="ffn-out",
        choices=["ffn-out", "none"],
        help="MatMuls kept fp32 in the int8 graph (mrlkit export --int8-exclude)",
    )
    p.add_argument("--output-dir", default="runs/export_speed")
    p.add_argument("--name", default="export_speed")
    add_overwrite_argument(p)
    args = p.parse_args()
    check_writable(args.name, args.overwrite)
    data = Path(args.data)
    dims = [int(d) for d in args.dims.split(",")]
    eval_set = load_eval_set(str(data), split="test")
    if args.eval_corpus_size:
        eval_set = eval_set.subsample_corpus(args.eval_corpus_size)
    start = time.perf_counter()
    result = export_onnx(
        args.model,
        args.output_dir,
        int8=True,
        eval_data=eval_set,
        dims=dims,
        overwrite=True,
        int8_exclude=args.int8_exclude,
    )
    export_seconds = time.perf_counter() - start
    models = {
        "torch fp32": SentenceTransformer(resolve_model(args.model), device="cpu"),
        "onnx fp32": load_onnx_model(result.output_dir, "fp32"),
        "onnx int8": load_onnx_model(result.output_dir, "int8"),
    }
    texts = passages(data, args.docs)
    speed: dict[str, dict[str, float]] = {}
    for batch_size in [int(b) for b in args.batch_sizes.split(",")]:
        runs: dict[str, list[float]] = {name: [] for name in models}
        for model in models.values():  # warm-up
            docs_per_second(model, texts[:8], batch_size)
        for _ in range(args.repeats):
            for name, model in models.items():
                runs[name].append(docs_per_second(model, texts, batch_size))
        speed[str(batch_size)] = {name: statistics.median(v) for name, v in runs.items()}
    parity = {v.variant: v for v in result.parity.variants}
    torch_ndcg = {d: result.parity.torch_metrics[d]["ndcg@10"] for d in dims}
    rows = []
    for b, s in speed.items():
        rows.append(
            [f"batch {b}"]
            + [s[n] for n in models]
            + [s["onnx fp32"] / s["torch fp32"], s["onnx int8"] / s["torch fp32"]]
        )
    console.print(table("docs/second (median)", ["", *models, "fp32 ratio", "int8 ratio"], rows))
    big = max(speed, key=int)
    payload = {
        "benchmark": "export_speed",
        "command": command_line(),
        "model": args.model,
        "docs": len(texts),
        "repeats": args.repeats,
        "export_seconds": round(export_seconds, 1),
        "int8_exclude": args.int8_exclude,
        "threads": torch.get_num_threads(),
        "docs_per_second": speed,
        "fp32_speed_ratio": speed[big]["onnx fp32"] / speed[big]["torch fp32"],
        "int8_speed_ratio": speed[big]["onnx int8"] / speed[big]["torch fp32"],
        "speed_ratio_batch": int(big),
        "int8_min_cosine": parity["int8"].min_cosine,
        "int8_mean_cosine": parity["int8"].mean_cosine,
        "fp32_min_cosine": parity["fp32"].min_cosine,
        "ndcg@10": {
            str(d): {"torch": torch_ndcg[d], **{v: parity[v].metrics[d]["ndcg@10"] for v in parity}}
            for d in dims
        },
        "int8_ndcg_drop_points": {
            str(d): 100 * (torch_ndcg[d] - parity["int8"].metrics[d]["ndcg@10"]) for d in dims
        },
        "eval_set": {"name": eval_set.name, "queries": len(eval_set), "corpus": len(eval_set.corpus)},
        "target": "int8 >= 3x torch fp32, nDCG@10 drop <= 1 point",
    }
    write_result(args.name, payload, overwrite=args.overwrite)


if __name__ == "__main__":
    main()
