"""Benchmark 3: STS Benchmark, CoSENT with vs without MatryoshkaLoss from the same base model.

Usage:
    python benchmarks/sts_retention.py --data ../shared/datasets/stsbenchmark [--epochs 4]
        [--adaptor orthogonal [--adaptor-distill 20]] [--distill W] [--resume]

Trains on sts-train (a 10% dev split carved from it, or with ``--dev sts-dev`` the official dev
file, picks the best epoch), reports Spearman on sts-test at 384..32 dims and the retention at 32
dims (8.3% of 384). Target: Matryoshka retention >= 98.5% at 32 dims and above the standard model's.
``--score-on dev`` scores on sts-dev instead of sts-test: that is how a recipe is chosen (issue #22:
choose on dev, judge once on test; ``select_recipe.py`` reads such runs).
``--adaptor`` (with ``--adaptor-distill``, the similarity distillation) applies to the Matryoshka
model only: the standard model stays plain CoSENT, the reference for what truncation costs.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from _common import (
    add_overwrite_argument,
    add_shared_arguments,
    check_writable,
    command_line,
    console,
    shared_settings,
    table,
    write_result,
)

from mrlkit import FinetuneConfig, finetune
from mrlkit.training.finetune import machine_info

DIMS = [384, 256, 128, 64, 32]


def convert(src: Path, dst: Path) -> None:
    """STSb CSV (7 tab-separated fields, no header, some rows with 2 extra) -> scored-pairs TSV."""
    with src.open(encoding="utf-8") as f, dst.open("w", encoding="utf-8") as out:
        out.write("sentence1\tsentence2\tscore\n")  # the TSV reader takes quotes literally: no escaping
        for line in f:
            fields = line.rstrip("\n").split("\t")
            out.write(f"{fields[5]}\t{fields[6]}\t{fields[4]}\n")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, help="folder with sts-train.csv and sts-test.csv")
    p.add_argument("--model", default="sentence-transformers/all-MiniLM-L6-v2")
    p.add_argument("--output-dir", default="runs/sts_retention")
    p.add_argument("--weights", default=None, help="Matryoshka loss weight per dim, e.g. 1,1,1,2,4")
    p.add_argument("--epochs", type=float, default=4)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--lr", type=float, default=2e-5)
    p.add_argument(
        "--dev",
        default="split",
        choices=["split", "sts-dev"],
        help="what picks the best epoch: 10%% of sts-train, or sts-dev.csv (then all of train trains)",
    )
    p.add_argument(
        "--score-on",
        default="test",
        choices=["test", "dev"],
        help="what the report scores: sts-test (the headline) or sts-dev (to choose a recipe)",
    )
    p.add_argument("--seed", type=int, default=42, help="seed of the dev split, the sampler and training")
    p.add_argument("--rotate", default="none", choices=["none", "pca", "identity"], help="rotation layer")
    p.add_argument("--rotate-lr", type=float, default=None, help="the rotation's own learning rate")
    p.add_argument(
        "--distill",
        type=float,
        default=0.0,
        help="similarity_distill_weight of the Matryoshka model (0: off)",
    )
    add_shared_arguments(p, " (the matryoshka model only; the standard one stays plain)")
    p.add_argument("--resume", action="store_true", help="resume both models from --output-dir's checkpoints")
    p.add_argument(
        "--models",
        default="matryoshka,standard",
        help="which models to train; a matryoshka-only probe skips the standard one (no target check)",
    )
    p.add_argument("--name", default="sts_retention", help="results file name (e.g. sts_retention_probe)")
    add_overwrite_argument(p)
    args = p.parse_args()
    if args.score_on == "dev" and args.dev == "sts-dev":
        raise SystemExit(
            "error: --score-on dev scores on sts-dev, so it cannot also pick the epoch; use --dev split"
        )
    check_writable(args.name, args.overwrite)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

    tmp = Path(tempfile.mkdtemp(prefix="stsb-"))
    scored = args.score_on  # the file the report scores: sts-test, or sts-dev when choosing a recipe
    for split in sorted({"train", scored, *(["dev"] if args.dev == "sts-dev" else [])}):
        convert(Path(args.data) / f"sts-{split}.csv", tmp / f"{split}.tsv")
    results: dict[str, dict[str, float]] = {}
    meta: dict[str, dict] = {}
    wanted = args.models.split(",")
    for name, mode in (("matryoshka", "1d"), ("standard", "none")):
        if name not in wanted:
            continue
        config = FinetuneConfig.load(
            None,
            data=str(tmp / "train.tsv"),
            test_data=str(tmp / f"{scored}.tsv"),
            eval_data=str(tmp / "dev.tsv") if args.dev == "sts-dev" else None,
            model=args.model,
            output_dir=f"{args.output_dir}/{name}",
            dims=DIMS,
            matryoshka=mode,
            loss="cosent",
            score_range=[0.0, 5.0],
            epochs=args.epochs,
            matryoshka_weights=args.weights,
            batch_size=args.batch_size,
            learning_rate=args.lr,
            seed=args.seed,
            best_dim=32,
            best_metric="spearman",
            rotate=args.rotate,
            rotate_learning_rate=args.rotate_lr,
            similarity_distill_weight=args.distill if mode == "1d" else 0.0,
            **shared_settings(args, adaptor=mode == "1d"),
            resume=args.resume,
        )
        report = finetune(config).report
        results[name] = {str(d): report.tuned[d]["spearman"] for d in DIMS}
        results.setdefault("base", {str(d): report.base[d]["spearman"] for d in DIMS})
        meta[name] = {
            "best_checkpoint": report.meta.get("best_checkpoint"),
            "train_seconds": report.meta.get("train_seconds"),
            "adaptor": report.meta.get("adaptor"),
        }
    retention = {k: 100 * v["32"] / v["384"] for k, v in results.items()}
    names = [n for n in ("base", "standard", "matryoshka") if n in results]
    rows: list[list] = [[d, *(results[n][str(d)] for n in names)] for d in DIMS]
    rows.append(["retention@32", *(f"{retention[n]:.2f}%" for n in names)])
    console.print(table(f"STSb {scored} Spearman", ["dim", *names], rows))
    checks: dict[str, float | bool] = {f"{n}_retention_32": round(retention[n], 2) for n in names}
    checks["targets_met"] = (
        "standard" in retention
        and "matryoshka" in retention
        and retention["matryoshka"] >= 98.5
        and retention["matryoshka"] > retention["standard"]
    )
    console.print(checks)
    write_result(
        args.name,
        {
            **results,
            "retention_32": {k: round(v, 3) for k, v in retention.items()},
            "checks": checks,
            "scored_on": f"sts-{scored}",
            "runs": meta,
            "settings": {k: v for k, v in vars(args).items() if k not in ("name", "overwrite")},
            "machine": machine_info(),
            "command": command_line(),
        },
        overwrite=args.overwrite,
    )


if __name__ == "__main__":
    main()
