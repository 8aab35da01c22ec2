"""Cut the quickstart sample (a small BEIR folder) out of SciFact.

Usage: python scripts/make_quickstart_sample.py ../shared/datasets/scifact src/mrlkit/samples/scifact-mini

Takes the first N_TRAIN train queries and N_TEST test queries (file order, so the cut is
reproducible), every document they judge, and random distractor documents (seeded) up to N_DOCS.
"""

from __future__ import annotations

import csv
import json
import random
import sys
from pathlib import Path

N_TRAIN, N_TEST, N_DOCS, SEED = 200, 100, 600, 13


def read_qrels(path: Path) -> list[tuple[str, str, str]]:
    with path.open() as f:
        rows = list(csv.reader(f, delimiter="\t"))
    return [tuple(r) for r in rows[1:]]  # type: ignore[misc]


def main(src: Path, dst: Path) -> None:
    qrels = {split: read_qrels(src / "qrels" / f"{split}.tsv") for split in ("train", "test")}
    keep_q: dict[str, list[str]] = {}
    for split, n in (("train", N_TRAIN), ("test", N_TEST)):
        order: list[str] = []
        for qid, _, _ in qrels[split]:
            if qid not in order:
                order.append(qid)
        keep_q[split] = order[:n]
    docs_needed = {d for split in qrels for q, d, _ in qrels[split] if q in keep_q[split]}
    corpus = [json.loads(line) for line in (src / "corpus.jsonl").open()]
    others = [d["_id"] for d in corpus if d["_id"] not in docs_needed]
    random.Random(SEED).shuffle(others)
    docs_needed |= set(others[: max(0, N_DOCS - len(docs_needed))])
    (dst / "qrels").mkdir(parents=True, exist_ok=True)
    with (dst / "corpus.jsonl").open("w") as f:
        for d in corpus:
            if d["_id"] in docs_needed:
                f.write(json.dumps({"_id": d["_id"], "title": d["title"], "text": d["text"]}) + "\n")
    all_q = {q for qs in keep_q.values() for q in qs}
    with (dst / "queries.jsonl").open("w") as f:
        for line in (src / "queries.jsonl").open():
            q = json.loads(line)
            if q["_id"] in all_q:
                f.write(json.dumps({"_id": q["_id"], "text": q["text"]}) + "\n")
    for split, rows in qrels.items():
        with (dst / "qrels" / f"{split}.tsv").open("w") as f:
            f.write("query-id\tcorpus-id\tscore\n")
            for q, d, s in rows:
                if q in keep_q[split]:
                    f.write(f"{q}\t{d}\t{s}\n")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
