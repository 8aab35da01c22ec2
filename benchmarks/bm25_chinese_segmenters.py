"""Which BM25 segmenter finds Chinese paraphrases: word regex, character bigrams or jieba?

Chinese STS-B (validation split): every pair scored >= 4 (near paraphrases) is a query (sentence 1)
with one relevant document (its sentence 2); the corpus is every distinct sentence 2 of the split.
BM25 (Lucene, k1 1.5, b 0.75, Chinese stop words) is built inside an mrlkit index per segmenter;
recall@10 and nDCG@10 over the queries.

    python benchmarks/bm25_chinese_segmenters.py --data ../shared/datasets/chinese_stsb
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import add_overwrite_argument, command_line, console, table, write_result

from mrlkit.search import Index, IndexConfig
from mrlkit.search.bm25 import BM25Config, BM25Searcher, build_bm25
from mrlkit.search.metrics import mean_metric


def load(path: Path, min_score: float) -> tuple[list[str], dict[str, str], dict[str, dict[str, int]]]:
    docs: dict[str, str] = {}
    queries: dict[str, str] = {}
    qrels: dict[str, dict[str, int]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        s1, s2, score = line.split("\t")[:3]
        doc_id = docs.setdefault(s2, f"d{len(docs)}")
        if float(score) >= min_score and s1 != s2:
            qid = f"q{len(queries)}"
            queries[qid] = s1
            qrels[qid] = {doc_id: 1}
    return list(docs), queries, qrels


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--min-score", type=float, default=4.0)
    p.add_argument("--name", default="bm25_chinese_segmenters")
    add_overwrite_argument(p)
    args = p.parse_args()
    texts, queries, qrels = load(args.data / "STS-B.valid.data", args.min_score)
    ids = [f"d{i}" for i in range(len(texts))]
    rows = []
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        vectors = np.random.default_rng(0).normal(size=(len(texts), 8)).astype(np.float32)
        cfg = IndexConfig(shortlist_dim=8, quantization="float")
        idx = Index.from_vectors(Path(tmp) / "idx", ids, vectors, config=cfg, texts=texts)
        for segmenter in ("word", "bigram", "jieba"):
            start = time.perf_counter()
            build_bm25(idx, BM25Config(language="zh", segmenter=segmenter))
            searcher = BM25Searcher.load(idx)
            found, _ = searcher.search([queries[q] for q in qrels], k=10)
            seconds = time.perf_counter() - start
            ranked = {q: [ids[r] for r in row if r >= 0] for q, row in zip(qrels, found, strict=True)}
            recall = mean_metric(ranked, qrels, "recall@10")
            ndcg = mean_metric(ranked, qrels, "ndcg@10")
            results[segmenter] = {"recall@10": recall, "ndcg@10": ndcg, "seconds": round(seconds, 2)}
            rows.append([segmenter, f"{recall:.4f}", f"{ndcg:.4f}", f"{seconds:.1f}"])
    console.print(
        table(
            f"BM25 on Chinese STS-B valid ({len(qrels)} queries, {len(texts)} docs)",
            ["segmenter", "recall@10", "nDCG@10", "build+search s"],
            rows,
        )
    )
    console.print(f"reproduce: {command_line()}")
    payload = {
        "queries": len(qrels),
        "documents": len(texts),
        "min_score": args.min_score,
        "results": results,
    }
    write_result(args.name, payload, overwrite=args.overwrite)


if __name__ == "__main__":
    main()
