"""Chinese end to end: train on zh_stsb_bge_triplets, report Spearman on Chinese STS-B test per dim.

Usage:
    python benchmarks/chinese_zh_stsb.py --data ../shared/datasets [--max-train-rows 300] [--epochs 1]

The pipeline check of issue #20: ``finetune`` reads the {query, pos[], neg[]} JSONL and the
headerless, 0-5 scored ``STS-B.test.data`` with no flags beyond the paths. The default model is the
packaged all-MiniLM-L6-v2, an English model whose tokenizer splits Chinese into single characters,
so its numbers say the pipeline runs, not what a Chinese model reaches (use BAAI/bge-small-zh-v1.5
for real work: docs/chinese.md).

The triplets are built from Chinese STS-B *train*; STS-B repeats some sentences across its splits, so
the script also scores the test pairs in which neither sentence occurs in the training file
("unseen" rows), and records how many test sentences the training file holds.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from _common import add_overwrite_argument, check_writable, command_line, console, table, write_result
from sentence_transformers import SentenceTransformer

from mrlkit import FinetuneConfig, finetune
from mrlkit.data import load_eval_set
from mrlkit.evaluation import evaluate_model

TRAIN = "zh_stsb_bge_triplets/bge_finetune_data.jsonl"
TEST = "chinese_stsb/STS-B.test.data"


def training_texts(path: Path) -> set[str]:
    """Every query, positive and negative of the training file."""
    texts: set[str] = set()
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line)
            texts.add(row["query"])
            texts.update(row["pos"])
            texts.update(row["neg"])
    return texts


def write_unseen(test: Path, seen: set[str], out: Path) -> tuple[int, int, int]:
    """Copy the test pairs with neither sentence in ``seen``; return (kept, total, test sentences seen)."""
    rows = [line.rstrip("\n").split("\t") for line in test.open(encoding="utf-8") if line.strip()]
    kept = [r for r in rows if r[0] not in seen and r[1] not in seen]
    out.write_text("".join("\t".join(r) + "\n" for r in kept), encoding="utf-8")
    sentences = {s for r in rows for s in r[:2]}
    return len(kept), len(rows), len(sentences & seen)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, help="the shared datasets folder (../shared/datasets)")
    p.add_argument("--model", default="sentence-transformers/all-MiniLM-L6-v2")
    p.add_argument("--max-train-rows", type=int, default=300)
    p.add_argument("--epochs", type=float, default=1)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--eval-corpus-size", type=int, default=1000, help="dev corpus cap scored each epoch")
    p.add_argument("--output-dir", default="runs/chinese_zh_stsb")
    p.add_argument("--name", default="chinese_zh_stsb_minilm")
    add_overwrite_argument(p)
    args = p.parse_args()
    check_writable(args.name, args.overwrite)
    data = Path(args.data)
    train, test = data / TRAIN, data / TEST
    config = FinetuneConfig.load(
        None,
        data=str(train),
        test_data=str(test),
        model=args.model,
        output_dir=args.output_dir,
        max_train_rows=args.max_train_rows,
        epochs=args.epochs,
        batch_size=args.batch_size,
        eval_corpus_size=args.eval_corpus_size,
    )
    result = finetune(config)
    report = result.report
    dims = report.dims
    with tempfile.TemporaryDirectory() as tmp:
        unseen_path = Path(tmp) / "STS-B.test-unseen.data"
        kept, total, seen_sentences = write_unseen(test, training_texts(train), unseen_path)
        unseen = load_eval_set(unseen_path, score_range=None)
        from mrlkit.models.resolve import resolve_model

        base_unseen = evaluate_model(SentenceTransformer(resolve_model(args.model)), unseen, dims)
        tuned_unseen = evaluate_model(SentenceTransformer(str(result.model_path)), unseen, dims)
    rows = [
        [
            d,
            report.base[d]["spearman"],
            report.tuned[d]["spearman"],
            base_unseen[d]["spearman"],
            tuned_unseen[d]["spearman"],
        ]
        for d in dims
    ]
    console.print(
        table(
            "Chinese STS-B test, Spearman (MiniLM: CJK split into characters)",
            ["dim", "base", "tuned", "base (unseen rows)", "tuned (unseen rows)"],
            rows,
        )
    )
    write_result(
        args.name,
        {
            "benchmark": "chinese_zh_stsb",
            "command": command_line(),
            "model": args.model,
            "model_note": "English MiniLM; its tokenizer splits Chinese into characters, so quality is poor",
            "train": TRAIN,
            "test": TEST,
            "train_rows": report.meta["train_rows"],
            "epochs": args.epochs,
            "train_seconds": report.meta["train_seconds"],
            "dims": dims,
            "spearman": {str(d): {"base": r[1], "tuned": r[2]} for d, r in zip(dims, rows, strict=True)},
            "unseen_rows": {
                "pairs": kept,
                "of": total,
                "test_sentences_in_training_file": seen_sentences,
                "spearman": {str(d): {"base": r[3], "tuned": r[4]} for d, r in zip(dims, rows, strict=True)},
            },
        },
        overwrite=args.overwrite,
    )


if __name__ == "__main__":
    main()
