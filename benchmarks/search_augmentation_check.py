"""Does search_speed.py's augmentation make search as hard as real sentences would? A check at small scale.

Takes the first ``2n`` real sentence vectors (benchmarks/_vectors.py) and compares the real ``2n`` set with
the first ``n`` real vectors grown to ``2n`` by reflected copies (``_vectors.augment``, both axes), on the
real held-out queries: how deep in a shortlist's ranking the exact top 10 lie (the k' a funnel needs for
recall@10 >= target: the pooled rank quantile, Hamming ties counted half), the efSearch a faiss HNSW over
the full vectors needs, the cosine of the 10th neighbour, and the share of the top 10 that are real rows.
A realistic augmentation gives the figures of the real set; a k' below the real one means the copies are
easier distractors than real sentences. The k' of the first ``n`` real vectors alone, doubled, is the
conservative bracket of search_speed.py.

    python benchmarks/search_augmentation_check.py           # n = 24,576: 49,152 real vectors needed
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np
from _common import add_overwrite_argument, check_writable, console, table, write_result
from _search_bench import EF_GRID, exact_topk, set_threads, tune
from _vectors import CHUNK, augment, corpus_texts, encode_cached, query_texts

K = 10
SHORTLISTS = ("binary:64", "binary:128", "float:64", "float:128")


def shortlist_scores(corpus: np.ndarray, queries: np.ndarray, spec: str) -> np.ndarray:
    """(nq, n) shortlist scores as mrlkit's shortlists rank: the inner product with the re-normalised
    prefix (float), or minus the Hamming distance between the prefixes' sign bits (binary)."""
    kind, dim = spec.split(":")
    c, q = corpus[:, : int(dim)], queries[:, : int(dim)]
    if kind == "float":
        return q @ (c / np.linalg.norm(c, axis=1, keepdims=True)).T
    qb, cb = (q > 0).astype(np.float32), (c > 0).astype(np.float32)
    return -(qb @ (1 - cb).T + (1 - qb) @ cb.T)


def needed_k_prime(scores: np.ndarray, truth: np.ndarray, target: float) -> int:
    """Smallest k' whose shortlist cut holds ``target`` of all (query, true neighbour) pairs.

    A neighbour's rank is the number of rows scored strictly higher plus half the other rows tied with it.
    """
    ranks = []
    for s, t in zip(scores, truth, strict=True):
        for row in t[t >= 0]:
            ahead = np.count_nonzero(s > s[row])
            ties = np.count_nonzero(s == s[row]) - 1
            ranks.append(ahead + ties / 2)
    return int(np.ceil(np.quantile(np.asarray(ranks), target))) + 1


def hnsw_ef(corpus: np.ndarray, queries: np.ndarray, truth: np.ndarray, target: float) -> int:
    """efSearch a faiss IndexHNSWFlat (M=32, efConstruction=40) over ``corpus`` needs for ``target``."""
    import faiss

    index = faiss.IndexHNSWFlat(corpus.shape[1], 32, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = 40
    index.add(corpus)

    def make(ef: int) -> Any:
        index.hnsw.efSearch = ef
        return lambda q: index.search(q, K)[1]

    return tune(make, EF_GRID, queries, truth, target)[0]


def describe(corpus: np.ndarray, n_real: int, queries: np.ndarray, args: argparse.Namespace) -> dict:
    scores, truth = exact_scores(corpus, queries)
    row: dict[str, Any] = {
        "n": len(corpus),
        "n_real": n_real,
        "cos_1st": round(float(scores[:, 0].mean()), 4),
        "cos_10th": round(float(scores[:, -1].mean()), 4),
        "top10_real_share": round(float(np.mean(truth < n_real)), 4),
    }
    for spec in SHORTLISTS:
        row[f"k_prime {spec}"] = needed_k_prime(shortlist_scores(corpus, queries, spec), truth, args.recall)
    row["hnsw_full_ef"] = hnsw_ef(corpus, queries, truth, args.recall)
    console.print(row)
    return row


def exact_scores(corpus: np.ndarray, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    rows = exact_topk(corpus, queries, K)
    return np.take_along_axis(queries @ corpus.T, rows, axis=1), rows


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=24576, help="real vectors grown to 2n (2n real ones are needed)")
    p.add_argument("--queries", type=int, default=310)
    p.add_argument("--recall", type=float, default=0.99)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--model", default="sentence-transformers/all-MiniLM-L6-v2")
    p.add_argument("--name", default="search_augmentation_check")
    add_overwrite_argument(p)
    args = p.parse_args(argv)
    check_writable(args.name, args.overwrite)
    set_threads(args.threads)
    console.width = max(console.width, 140)
    whole_chunks = -(-2 * args.n // CHUNK) * CHUNK  # reuse the cached chunks of search_speed.py
    real = encode_cached(args.model, corpus_texts()[:whole_chunks], "corpus")[: 2 * args.n]
    queries = encode_cached(args.model, query_texts(), "queries")
    queries = queries[np.random.default_rng(0).permutation(len(queries))[: args.queries]]
    res: dict[str, Any] = {"recall": args.recall, "queries": len(queries)}
    res[f"real {2 * args.n}"] = describe(real, 2 * args.n, queries, args)
    res[f"real {args.n}"] = describe(real[: args.n], args.n, queries, args)
    for axes in ("pca", "dims"):
        grown, _ = augment(real[: args.n], 2 * args.n, axes=axes)
        res[f"real {args.n} + {axes} copies"] = describe(grown, args.n, queries, args)
    cols = ["corpus", "cos 1st", "cos 10th", "top-10 real share", *(f"k' {s}" for s in SHORTLISTS), "HNSW ef"]
    rows = [
        [name, r["cos_1st"], r["cos_10th"], r["top10_real_share"], *(r[f"k_prime {s}"] for s in SHORTLISTS)]
        + [r["hnsw_full_ef"]]
        for name, r in res.items()
        if isinstance(r, dict)
    ]
    console.print(
        table(f"Augmentation check: recall@{K} >= {args.recall}, {len(queries)} queries", cols, rows)
    )
    write_result(args.name, res, overwrite=args.overwrite)
    return res


if __name__ == "__main__":
    main()
