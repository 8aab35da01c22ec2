"""Carve a recipe-selection set out of a BEIR folder's *train* queries, so recipes are chosen on dev.

Issue #22 (item 3): a recipe (learning rate, weights, batch size, adaptor epochs...) must be chosen on
data that the final report never scores, then frozen and judged once on test. This script writes a
BEIR folder whose ``qrels/train.tsv`` holds the train queries minus a seeded share, and whose
``qrels/test.tsv`` holds that share (the "selection" queries, taken from train qrels). Run a
benchmark on the new folder and its "test" scores are selection-set scores; the real test qrels are
not copied, so they cannot be looked at by accident.

Usage:
    python benchmarks/make_selection_split.py --data ../shared/datasets/scifact \
        --out runs/scifact_selection [--fraction 0.15] [--seed 7]

Then, for each candidate recipe, ``python benchmarks/finetune_scifact.py --data runs/scifact_selection
... --name selection/<recipe>``, pick with ``benchmarks/select_recipe.py``, and only then run the
chosen recipe on the real folder over several seeds.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path


def selection_queries(query_ids: list[str], fraction: float, seed: int) -> set[str]:
    """The query ids whose seeded hash falls below ``fraction`` (at least one, never all)."""
    unique = sorted(set(query_ids))

    def h(q: str) -> float:
        digest = hashlib.blake2b(f"select\x1f{seed}\x1f{q}".encode(), digest_size=8).digest()
        return int.from_bytes(digest, "big") / 2.0**64

    ranked = sorted(unique, key=h)
    chosen = {q for q in unique if h(q) < fraction} or {ranked[0]}
    if len(chosen) == len(unique):
        chosen.discard(ranked[-1])
    return chosen


def read_qrels(path: Path) -> tuple[list[str], list[list[str]]]:
    """Header and rows of a BEIR qrels TSV."""
    with path.open(encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f, delimiter="\t"))
    return rows[0], rows[1:]


def write_split(data: Path, out: Path, fraction: float, seed: int) -> dict[str, int]:
    """Write the selection folder atomically (a temp sibling renamed into place); return its counts."""
    header, rows = read_qrels(data / "qrels" / "train.tsv")
    chosen = selection_queries([r[0] for r in rows], fraction, seed)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    (tmp / "qrels").mkdir()
    for name in ("corpus.jsonl", "queries.jsonl"):
        os.symlink((data / name).resolve(), tmp / name)
    for name, keep in (("train.tsv", False), ("test.tsv", True)):
        with (tmp / "qrels" / name).open("w", encoding="utf-8", newline="") as f:
            w = csv.writer(f, delimiter="\t", lineterminator="\n")
            w.writerow(header)
            w.writerows(r for r in rows if (r[0] in chosen) == keep)
    counts = {
        "train_queries": len({r[0] for r in rows} - chosen),
        "selection_queries": len(chosen),
        "selection_judgments": sum(r[0] in chosen for r in rows),
    }
    (tmp / "SELECTION.json").write_text(
        json.dumps({"source": str(data), "fraction": fraction, "seed": seed, **counts}, indent=1) + "\n"
    )
    if out.exists():
        shutil.rmtree(out)
    os.replace(tmp, out)
    return counts


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, type=Path, help="BEIR folder with qrels/train.tsv")
    p.add_argument("--out", required=True, type=Path, help="folder to write (replaced if it exists)")
    p.add_argument("--fraction", type=float, default=0.15, help="share of train queries held out")
    p.add_argument("--seed", type=int, default=7, help="seed of the selection split (not the training seed)")
    args = p.parse_args()
    if not 0.0 < args.fraction < 1.0:
        raise SystemExit(f"error: --fraction must be between 0 and 1, got {args.fraction}")
    if not (args.data / "qrels" / "train.tsv").is_file():
        raise SystemExit(f"error: {args.data}/qrels/train.tsv not found; pass a BEIR folder with train qrels")
    counts = write_split(args.data, args.out, args.fraction, args.seed)
    print(f"wrote {args.out}: {counts}")


if __name__ == "__main__":
    main()
