"""What the PCA rotation alone does to an untouched model: score per dim before and after rotating.

Usage:
    python benchmarks/rotation_base.py --data ../shared/datasets/scifact --name rotation_base_scifact
    python benchmarks/rotation_base.py --data ../shared/datasets/stsbenchmark --name rotation_base_stsb

The rotation is fitted exactly as ``mrlkit finetune --rotate pca`` fits it: on (a seeded sample of at
most 4,096 of) the training texts that finetune would train on. No training happens; full-dim scores
must come out unchanged (the rotation is orthogonal), truncated dims change.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from _common import add_overwrite_argument, check_writable, command_line, console, table, write_result
from sentence_transformers import SentenceTransformer
from sts_retention import convert

from mrlkit.data import load_data, load_eval_set
from mrlkit.evaluation import evaluate_model
from mrlkit.models import resolve_model
from mrlkit.training.finetune import machine_info
from mrlkit.training.rotation import add_pca_rotation, training_texts

DIMS = [384, 256, 128, 64, 32]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, help="training data (file or BEIR folder) the rotation is fit on")
    p.add_argument("--test-data", default=None, help="evaluation data (default: the data's test set)")
    p.add_argument("--score-range", default="0,1", help="score range of scored pairs, e.g. 0,5")
    p.add_argument("--model", default="sentence-transformers/all-MiniLM-L6-v2")
    p.add_argument("--max-seq-length", type=int, default=256)
    p.add_argument("--samples", type=int, default=4096)
    p.add_argument("--name", default="rotation_base")
    add_overwrite_argument(p)
    args = p.parse_args()
    check_writable(args.name, args.overwrite)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

    lo, hi = (float(x) for x in args.score_range.split(","))
    if (Path(args.data) / "sts-train.csv").is_file():  # the STS Benchmark folder: train -> test, scores 0-5
        tmp = Path(tempfile.mkdtemp(prefix="stsb-"))
        for split in ("train", "test"):
            convert(Path(args.data) / f"sts-{split}.csv", tmp / f"{split}.tsv")
        args.data, args.test_data, (lo, hi) = str(tmp / "train.tsv"), str(tmp / "test.tsv"), (0.0, 5.0)
    data = load_data(args.data, score_range=(lo, hi))
    test = load_eval_set(args.test_data, score_range=(lo, hi)) if args.test_data else data.test
    if test is None:
        raise SystemExit(f"{args.data} has no test set; pass --test-data")
    model = SentenceTransformer(resolve_model(args.model))
    model.max_seq_length = args.max_seq_length
    before = evaluate_model(model, test, DIMS)
    texts = training_texts(data.train, args.samples)
    add_pca_rotation(model, texts, show_progress_bar=True)
    after = evaluate_model(model, test, DIMS)
    metric = "ndcg@10" if "ndcg@10" in before[DIMS[0]] else "spearman"
    rows = [[d, before[d][metric], after[d][metric]] for d in DIMS]
    console.print(table(f"{metric} of the untouched model", ["dim", "as is", "PCA-rotated"], rows))
    write_result(
        args.name,
        {
            "metric": metric,
            "as_is": {str(d): before[d][metric] for d in DIMS},
            "pca_rotated": {str(d): after[d][metric] for d in DIMS},
            "fit_texts": len(texts),
            "machine": machine_info(),
            "command": command_line(),
        },
        overwrite=args.overwrite,
    )


if __name__ == "__main__":
    main()
